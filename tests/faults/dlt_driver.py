"""One run of a dlt loader (SNIS, IBGE, CRM, ERP, BCB or the finance history files) in a process of its own, killed (SIGKILL, like
kill -9) inside a chosen dlt step, or paused there for the test to restart the database: the drills
of tests/faults/test_dlt_drills.py.

    python tests/faults/dlt_driver.py LOADER POINT MARKER

LOADER  snis | ibge | crm | erp | bcb | arquivos_financeiros: the loader's own entry point (`LOADER.load()` of its package,
        settling a killed run's packages first), pipeline DRILL_PIPELINE; sources
        from the environment (DRILL_SNIS_DIR, MIRANTE_IBGE_BASE_URL, MIRANTE_CRM_*, MIRANTE_ERP_*,
        MIRANTE_BCB_BASE_URL, MIRANTE_ARQUIVOS_FINANCEIROS_DIR)
POINT
    extract   the 2nd data item dlt writes while extracting (nothing committed, nothing in a package)
    normalize every load file of the package written by dlt's normalize worker, package not committed
    load      the 2nd load job completed (load files are small: DATA_WRITER__FILE_MAX_ITEMS=200, so
              each table spans several files), others still to run: "after at least one load file
              committed"; MARKER says how many jobs were left
    restart   pause at the 1st completed load job: write "paused" to MARKER, wait for MARKER + ".go"
              (the test stops and starts the server meanwhile), then carry on
    none      no fault (a normal run)
Before dying the driver writes the point to MARKER: a drill whose kill never happened fails. At the
end it writes "finished ok" or "finished <error type>" (exit 0 or 1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import drill_points  # the driver's own folder is on sys.path

#: small load files: every table of the drills spans several, so a kill can fall between two
os.environ["DATA_WRITER__FILE_MAX_ITEMS"] = "200"


def run_loader(loader: str, pipeline_name: str):
    from mirante.loaders import dlt_loaders

    if loader == "snis":
        from mirante.loaders.snis import read_settings

        settings = read_settings(os.environ["DRILL_SNIS_DIR"])
        return dlt_loaders()["snis"].load(settings, pipeline_name=pipeline_name)
    return dlt_loaders()[loader].load(pipeline_name=pipeline_name)


def main() -> int:
    loader, point, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    from dlt.common.storages.data_item_storage import DataItemStorage
    from dlt.common.storages.load_package import PackageStorage
    from dlt.normalize import normalize

    def die(stage: str) -> None:
        drill_points.die(marker, stage)

    write_data_item, w_normalize_files, complete_job = (
        DataItemStorage.write_data_item,
        normalize.w_normalize_files,
        PackageStorage.complete_job,
    )
    calls = {"items": 0, "completed": 0}

    def counted_write(self, *args, **kwargs):
        calls["items"] += 1
        if point == "extract" and calls["items"] == 2:
            die("extract")
        return write_data_item(self, *args, **kwargs)

    def normalize_then_die(*args, **kwargs):
        result = w_normalize_files(*args, **kwargs)
        if point == "normalize":
            die("normalize")
        return result

    def counted_complete(self, load_id, file_name):
        out = complete_job(self, load_id, file_name)
        calls["completed"] += 1
        if point in ("load", "restart") and calls["completed"] == (2 if point == "load" else 1):
            jobs = self.get_load_package_jobs(load_id)
            left = len(jobs["new_jobs"]) + len(jobs["started_jobs"])
            done = len(jobs["completed_jobs"])
            if point == "load":
                die(f"load {done} completed {left} left")
            drill_points.pause(marker)
        return out

    DataItemStorage.write_data_item = counted_write
    normalize.w_normalize_files = normalize_then_die
    PackageStorage.complete_job = counted_complete

    try:
        run_loader(loader, os.environ["DRILL_PIPELINE"])
    except Exception as exc:  # the test reads the outcome from the marker
        marker.write_text(f"finished {type(exc).__name__}: {exc}"[:2000])
        return 1
    marker.write_text("finished ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
