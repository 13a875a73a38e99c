"""A ledger capture (loaders/razao) in a process of its own, killed (SIGKILL, like kill -9) at a
chosen point: the drills of tests/test_razao.py.

    python tests/faults/razao_driver.py POINT MARKER SOURCE_DB SLOT TARGET_DB

POINT
    snapshot_copied  in the middle of the first snapshot (after its first table's copy)
    decoded          a micro-batch decoded and written, its raw transaction not committed (the
                     second batch: one committed batch is behind it)
    committed        a micro-batch committed in raw, the slot not told yet (no feedback sent)
Micro-batches of 25 changes. Before dying the driver writes the point to MARKER: a drill whose
kill never happened fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import drill_points  # the driver's own folder is on sys.path


def main() -> int:
    point, marker, source_db, slot, target_db = sys.argv[1], Path(sys.argv[2]), *sys.argv[3:6]
    from mirante import db
    from mirante.loaders.razao import cdc, read_settings

    seen: dict[str, int] = {}
    nth = {"snapshot_copied": 1, "decoded": 2, "committed": 1}

    def stage(name: str) -> None:
        seen[name] = seen.get(name, 0) + 1
        if name == point and seen[name] == nth[point]:
            drill_points.die(marker, point)

    cdc.STAGE = stage
    srv = db.running_server()
    settings = read_settings(srv, database=source_db, slot=slot, target_database=target_db)
    result = cdc.capture(settings, srv, batch_changes=25)
    marker.write_text(f"finished {result.transactions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
