"""What a drill driver does at its chosen point: die there like kill -9, or pause there until the
test has restarted the database. Shared by esus_driver.py and dlt_driver.py (run as scripts, so
this module is imported from their own folder)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def die(marker: Path, stage: str) -> None:
    """Write where the process dies (a drill whose kill never happened fails), then SIGKILL it."""
    marker.write_text(stage)
    os.kill(os.getpid(), signal.SIGKILL)


def pause(marker: Path) -> None:
    """Write "paused" to the marker and wait for the marker's ".go" file."""
    marker.write_text("paused")
    go = Path(str(marker) + ".go")
    while not go.exists():
        time.sleep(0.05)
