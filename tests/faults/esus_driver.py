"""A daily e-SUS pull in a process of its own, killed (SIGKILL, like kill -9) at a chosen point or
paused there for the test to restart the database: the drills of tests/faults/test_esus_drills.py.

    python tests/faults/esus_driver.py POINT MARKER ID [ID ...]

POINT
    extract   in the middle of the extraction (the 5th table read of the first municipality)
    handover  everything extracted, nothing published yet (the step that would be dlt's normalize)
    load      the first batch committed, the second in the middle of its transaction (after its
              first COPY): the "after at least one load file committed" point
    restart   pause in the middle of the first batch's transaction; write "paused" to MARKER and
              wait for MARKER + ".go", then carry on (the test stops and starts the server meanwhile)
Batches of one municipality, so that "load" has a committed batch behind it. Before dying the
driver writes the point to MARKER: a drill whose kill never happened fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import drill_points  # the driver's own folder is on sys.path


def main() -> int:
    point, marker, ids = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    from mirante import db
    from mirante.emulators import pec
    from mirante.loaders.esus import extract, publish, pull
    from mirante.loaders.esus.registry import Municipio

    def die(stage: str) -> None:
        drill_points.die(marker, stage)

    calls = {"copy_out": 0, "publish": 0, "copy_in": 0}
    copy_out, publish_batch, copy_in = extract._copy_out, pull.publish, publish._copy_in

    def counted_copy_out(conn, query):
        calls["copy_out"] += 1
        if point == "extract" and calls["copy_out"] == 5:
            die("extract")
        return copy_out(conn, query)

    def counted_publish(*args, **kwargs):
        calls["publish"] += 1
        if point == "handover":
            die("handover")
        return publish_batch(*args, **kwargs)

    def counted_copy_in(conn, target, columns, data):
        calls["copy_in"] += 1
        rows = copy_in(conn, target, columns, data)
        if point == "load" and calls["publish"] == 2:
            die("load")
        if point == "restart" and calls["copy_in"] == 1:
            drill_points.pause(marker)
        return rows

    extract._copy_out = counted_copy_out
    pull.publish = counted_publish
    publish._copy_in = counted_copy_in

    srv = db.server()
    municipios = [
        Municipio(i, i, "", f"postgresql://{pec.SOURCE_ROLE}@127.0.0.1:{srv.port}/{pec.database_name(i)}")
        for i in ids
    ]
    results = pull.pull_many(
        municipios,
        srv,
        batch_size=1,
        workers=1,
        backoff_seconds=1.0,
        max_attempts=6,
        run_id=os.environ.get("DRILL_RUN_ID"),
    )
    marker.write_text("finished " + " ".join(f"{i}:{r.status}" for i, r in sorted(results.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
