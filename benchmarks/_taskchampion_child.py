"""TaskChampion's side of ``bench_long_lived``: run by an interpreter that imports it.

Self-contained (it may run inside another root, see ``bench_long_lived``):
argv is ``tasks updates creates``; prints ``{"update": [s, ...], "create": [...]}``.
The list is made in one commit (not timed); then each op is its own
``commit_operations`` on an on-disk replica (SQLite), as the ledger's are
each their own fsynced append. Updates go over the list the ledger's way
(``n * step``), so both touch the same spread of tasks.
"""

import json
import shutil
import sys
import tempfile
import time
import uuid

import taskchampion as tc  # type: ignore[import-not-found]


def timed(fn, count):  # type: ignore[no-untyped-def]
    out = []
    for n in range(count):
        began = time.perf_counter()
        fn(n)
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    tasks, updates, creates = (int(a) for a in sys.argv[1:4])
    root = tempfile.mkdtemp(prefix="tl-tc-")
    try:
        replica = tc.Replica.new_on_disk(root, True)
        ops = tc.Operations()
        uuids = []
        for n in range(tasks):
            task_uuid = str(uuid.uuid4())
            replica.create_task(task_uuid, ops).set_description(f"task {n}", ops)
            uuids.append(task_uuid)
        replica.commit_operations(ops)
        step = max(1, tasks // 997)

        def update(n: int) -> None:
            ops = tc.Operations()
            task = replica.get_task(uuids[(n * step) % tasks])
            task.set_value("n", str(n), ops)
            replica.commit_operations(ops)

        def create(n: int) -> None:
            ops = tc.Operations()
            replica.create_task(str(uuid.uuid4()), ops).set_description(f"new {n}", ops)
            replica.commit_operations(ops)

        print(json.dumps({"update": timed(update, updates), "create": timed(create, creates)}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


main()
