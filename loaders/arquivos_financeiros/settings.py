"""Constants and settings of the finance history files source (bank statements and past invoices).

MIRANTE_ARQUIVOS_FINANCEIROS_DIR  the folder of the files (or `dir` under [sources.arquivos_financeiros]
                                  in .dlt/secrets.toml); default MIRANTE_HOME/arquivos_financeiros,
                                  read by mirante.config.arquivos_financeiros_dir
"""

from dataclasses import dataclass
from pathlib import Path

DATASET = "raw_arquivos_financeiros"
PIPELINE_NAME = "arquivos_financeiros"
DOMAIN = "financas"

#: how Brazilian banks export statements: ';' separated, decimal comma, Latin-1
STATEMENT_ENCODING = "latin-1"
STATEMENT_DELIMITER = ";"
#: file kinds by extension: statements are CSV, invoices JSON arrays
KIND_BY_SUFFIX = {".csv": "extrato", ".json": "faturas"}
#: the grain of both row tables is (arquivo, linha) and a load replaces the rows of the files it
#: reads (merge key `arquivo`, delete-insert): reloading a file adds nothing, a file replaced under
#: the same name replaces its rows. Staging keeps one row per statement line / invoice across files
STATEMENT_KEY = ("arquivo", "linha")
INVOICE_KEY = ("arquivo", "linha")
#: a killed run's pending dlt packages are resumed (mirante.pipelines.settle_pending): a run may read
#: only the files the sensor asked for, and the package replaces its files' rows whole, so loading
#: it creates no duplicate; a package whose load began is dropped whatever this says
PENDING_PACKAGES = "resume"


@dataclass(frozen=True)
class ArquivosFinanceirosSettings:
    directory: Path

    def source_kwargs(self) -> dict[str, str]:
        return {"directory": str(self.directory)}


def read_settings(directory: str | Path | None = None) -> ArquivosFinanceirosSettings:
    """The files' folder: the argument, else mirante.config.arquivos_financeiros_dir()."""
    from mirante import config

    return ArquivosFinanceirosSettings(
        directory=Path(directory) if directory else config.arquivos_financeiros_dir()
    )
