"""Race simulation tooling: the naive shared-files model, racing processes, shrinking.

It uses the ``ledger`` library like any front end, to show -- reproducibly,
with real concurrent processes -- what Claude Code's shared JSON files lose
and what the ledger keeps (``taskledger simulate``, ``taskledger demo``).
"""

from __future__ import annotations

from ._naive import NaiveStore as NaiveStore
from ._naive import change as change
from ._simulate import SimOp as SimOp
from ._simulate import Simulation as Simulation
from ._simulate import StoreReport as StoreReport
from ._simulate import make_script as make_script
from ._simulate import run_ledger as run_ledger
from ._simulate import run_naive as run_naive
from ._simulate import simulate as simulate
from ._simulate import worker_main as worker_main

__all__ = [
    "NaiveStore",
    "SimOp",
    "Simulation",
    "StoreReport",
    "change",
    "make_script",
    "run_ledger",
    "run_naive",
    "simulate",
    "worker_main",
]
