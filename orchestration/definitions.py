"""The one Definitions of Mirante: every domain module merged, resources bound in one place.

`dagster dev -m mirante.orchestration.definitions` shows it; `mirante run` executes it.
"""

from dagster import AssetSelection, Definitions, define_asset_job

from mirante.orchestration.defs import saneamento, transform
from mirante.orchestration.resources import resources

#: the main job: every asset of every domain (what `make run` materializes)
all_assets = define_asset_job("mirante_all", selection=AssetSelection.all(),
                              description="Every asset of every domain, sources to marts.")

defs = Definitions.merge(
    saneamento.defs,
    transform.defs,
    Definitions(jobs=[all_assets], resources=resources()),
)
