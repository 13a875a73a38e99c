"""Live payment event stream (Pix received/sent, card settlements) -> raw_eventos_pagamento, exactly
once, in micro-batches.

    settings.py  base URL, token, batch size (MIRANTE_EVENTOS_PAGAMENTO_*)
    client.py    one page of JSON lines after an offset (`GET <url>/v1/eventos?desde=&limite=`)
    parse.py     a line -> a typed row or a quarantine reason; offsets must be dense
    raw.py       the tables and the ONE transaction of a batch: events + quarantine + offset
    ingestor.py  a run: batches from the stored offset until caught up (`ingest()`)

Why not dlt here: the offset must be committed in the same transaction as the events it
describes. dlt keeps a source's cursor in its state, which the load step writes to
`_dlt_pipeline_state` as one more load job, and commits each load job on its own: a run killed
between them leaves events loaded behind an offset that did not move (loaded
twice by the next run: merge would hide it only with a key, and quarantine rows have none), or an
offset that moved past events never committed. See the README, "Live payment stream".
"""

from .client import EventosRecusados
from .ingestor import Resultado, ingest
from .parse import EventosError, EventosLacunaError
from .raw import EventosConcorrencia
from .settings import DATASET, DOMAIN, PIPELINE_NAME, STREAM, EventosSettings, read_settings

__all__ = [
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
    "STREAM",
    "read_settings",
    "EventosSettings",
    "ingest",
    "Resultado",
    "EventosError",
    "EventosLacunaError",
    "EventosRecusados",
    "EventosConcorrencia",
]
