"""One run of the payment stream ingester in a process of its own, killed (SIGKILL, like kill -9) in
its 2nd micro-batch at a chosen stage: the exactly-once drill of tests/test_eventos_pagamento.py.

    python tests/faults/eventos_driver.py POINT MARKER

POINT
    fetch    the batch's events fetched from the stream, nothing written
    insert   events, quarantine and the new offset written, the transaction not committed
    commit   the transaction committed, the run not finished
    none     no fault (a normal run)
The stream and the batch size come from the environment (MIRANTE_EVENTOS_PAGAMENTO_*), the
warehouse from MIRANTE_HOME / MIRANTE_DB. Before dying the driver writes the point to MARKER (a
drill whose kill never happened fails); a run that ends writes "finished <batches> <last offset>".
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import drill_points  # the driver's own folder is on sys.path


def main() -> int:
    point, marker = sys.argv[1], Path(sys.argv[2])
    from mirante.loaders.eventos_pagamento import client, ingest, raw

    def second_call_dies(module, name: str, stage: str) -> None:
        original, calls = getattr(module, name), [0]

        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            out = original(*args, **kwargs)
            calls[0] += 1
            if calls[0] == 2:
                drill_points.die(marker, stage)
            return out

        setattr(module, name, wrapped)

    target = {"fetch": (client, "fetch"), "insert": (raw, "_write"), "commit": (raw, "publish")}.get(point)
    if target:
        second_call_dies(*target, point)
    result = ingest()
    marker.write_text(f"finished {len(result.lotes)} {result.ate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
