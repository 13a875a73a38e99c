"""The company's operational ledger (customers, accounts, receivables, payables, payments) ->
Postgres schema raw_razao by change data capture (domain `financas`).

    cdc.py       one micro-batch: snapshot on the first run, then drain the replication slot
                 (pgoutput over psycopg2's LogicalReplicationConnection) up to the source's
                 current WAL position, rows + state in one raw transaction, feedback after it
    pgoutput.py  the decoder of the logical replication messages
    raw.py       the changelog tables, the state table (_estado_cdc), the events (_eventos_cdc)
    settings.py  where the source is, the slot and the publication

Why not dlt here: exactly once needs the raw rows and the confirmed LSN in ONE transaction, and the
slot confirmed only after that commit (a dlt load commits its files on its own, and its state
elsewhere). See docs/cdc.md for the guarantees, the slot's bound and the operator's playbook.
"""

from .cdc import CaptureResult, capture, retained_wal, slot_info
from .settings import DATASET, DOMAIN, PIPELINE_NAME, TABLES, RazaoSettings, read_settings

__all__ = [
    "DATASET",
    "DOMAIN",
    "PIPELINE_NAME",
    "TABLES",
    "CaptureResult",
    "RazaoSettings",
    "capture",
    "read_settings",
    "retained_wal",
    "slot_info",
]
