"""Constants of the IBGE Localidades source."""

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
