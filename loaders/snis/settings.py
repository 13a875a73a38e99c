"""Constants and settings of the SNIS 'agregado' source.

MIRANTE_SNIS_DIR  the folder of the exports (default: the reference data's snis/ folder, or
                  MIRANTE_HOME/snis/current when a publication URL is set)
MIRANTE_SNIS_PUBLICACAO_URL / _TOKEN, MIRANTE_SNIS_RAW_ZONE
                  the publication the poller (publicacao.py) fetches exports from into that folder
                  (unset URL: no poller); all read by mirante.config
"""

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .publicacao import PublicationSettings

#: canonical layout of the export (column, header label, kind): the reference for schema drift
COLUMNS_FILE = Path(__file__).with_name("columns.csv")
#: first field of the totals line closing every export
FOOTER_MARKER = "TOTAL da AMOSTRA:"
#: columns without which a file is not a SNIS 'agregado' export
KEY_COLUMNS = ("codigo_municipio", "ano_referencia", "codigo_prestador")
#: grain of the raw table: one row per service provider and reference year
PRIMARY_KEY = ("ano_referencia", "codigo_prestador")
#: SNIS values carry two decimal places; sums stay exact
DECIMAL_TYPE = pa.decimal128(38, 2)
#: lines read, parsed and handed to dlt at a time: the loader's memory is bounded by a few such
#: batches whatever the size of the file. Parsing a 100,000-line export: peak RSS 630 MB with
#: 25,000 lines (~90 MB of typed Arrow each), 865 MB with 50,000, at the same speed
CHUNK_LINES = 25_000
#: IBGE codes of the 27 UFs: the first two digits of a valid municipality code
UF_CODES = [
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "21",
    "22",
    "23",
    "24",
    "25",
    "26",
    "27",
    "28",
    "29",
    "31",
    "32",
    "33",
    "35",
    "41",
    "42",
    "43",
    "50",
    "51",
    "52",
    "53",
]
#: Postgres schema (= dlt dataset = dbt source) the loader writes
DATASET = "raw_snis"
PIPELINE_NAME = "snis"
DOMAIN = "saneamento"
#: dlt file format for the load: Arrow chunks -> uncompressed CSV -> COPY. Measured against parquet
#: (loaded through ADBC) on the 229-column export: csv 10.6 s vs parquet 13.9 s for 100k rows
#: (bench/bench_snis.py has the full comparison with raw COPY).
LOADER_FILE_FORMAT = "csv"
#: a killed run's pending dlt packages are resumed (mirante.pipelines.settle_pending): a run may
#: read only some files (the sensor asks for the new ones), so the next run need not re-read the
#: files of the killed one; the package is whole (it exists once extraction finished) and merges
#: on the grain (per file for quarentena/reconciliacao), so loading it creates no duplicate. A
#: package whose load began is dropped whatever this says (settle_pending): rerun the killed run
PENDING_PACKAGES = "resume"


@dataclass(frozen=True)
class SnisSettings:
    directory: Path
    #: the publication polled into `directory` (None: the folder is filled by hand)
    publication: PublicationSettings | None = None

    def source_kwargs(self) -> dict[str, str]:
        return {"directory": str(self.directory)}


def read_settings(
    directory: str | Path | None = None, publicacao_url: str | None = None, raw_zone: str | None = None
) -> SnisSettings:
    """The exports' folder: the argument, else MIRANTE_SNIS_DIR (mirante.config.snis_dir); the
    publication (URL, token, raw zone) from mirante.config unless given (the token never is: a
    secret comes from the environment or .dlt/secrets.toml only)."""
    from mirante import config

    url = (publicacao_url or "").rstrip("/") or config.snis_publication_url()
    folder = Path(directory) if directory else config.snis_dir(publication=bool(url))
    publication = None
    if url:
        publication = PublicationSettings(
            url=url,
            current_dir=folder,
            raw_zone=raw_zone or config.snis_raw_zone(),
            token=config.snis_publication_token(),
        )
    return SnisSettings(directory=folder, publication=publication)
