"""``python -m cli`` runs the taskledger command line (through the local server when it can)."""

from cli._client import main

main()
