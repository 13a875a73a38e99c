"""dbt-score rules of the Mirante dbt project (`make lint`; configured in pyproject.toml
[tool.dbt-score], which loads this package as a rule namespace)."""
