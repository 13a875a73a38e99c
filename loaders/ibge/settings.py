"""Constants and settings of the IBGE Localidades source.

MIRANTE_IBGE_BASE_URL  (or base_url under [sources.ibge] in .dlt/secrets.toml) the API's root;
                       default: the live API. The offline world points it at the emulator.
"""

from dataclasses import dataclass

from mirante import config

DATASET = "raw_ibge"
PIPELINE_NAME = "ibge"
DOMAIN = "saneamento"

#: live API; the offline emulator (mirante.emulators.ibge) serves the same paths
BASE_URL = "https://servicodados.ibge.gov.br/api/v1/localidades"

#: endpoints under BASE_URL, each one JSON array (no pagination); also the raw table names
RESOURCES = ("regioes", "estados", "municipios")


#: deepest nested object: municipio > microrregiao > mesorregiao > UF > regiao. Four levels are
#: flattened into `__` columns; the payloads hold no lists, so no child tables are made
MAX_TABLE_NESTING = 4

#: a killed run's pending dlt packages are dropped (mirante.pipelines.settle_pending): every run
#: reads the three endpoints whole and merges on `id`, so the next run brings everything the
#: package had, newer; loading the old package first would only cost time
PENDING_PACKAGES = "drop"


@dataclass(frozen=True)
class IbgeSettings:
    base_url: str

    def source_kwargs(self) -> dict[str, str]:
        return {"base_url": self.base_url}


def read_settings(base_url: str | None = None) -> IbgeSettings:
    """The API root: the argument, else MIRANTE_IBGE_BASE_URL / [sources.ibge], else the live API."""
    return IbgeSettings(base_url=base_url or config.source_setting("ibge", "base_url") or BASE_URL)
