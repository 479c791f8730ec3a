"""``python -m cli`` runs the taskledger command line."""

from cli._main import main

main()
