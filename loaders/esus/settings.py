"""Tables pulled from each municipal e-SUS APS PEC database (column names as in the PEC).

Only the columns the marts need plus the keys: names, phone numbers and other personal fields are
never selected. CNS and CPF are pulled because staging replaces them with a keyed hash (a person
must be counted and joined across tables); raw_esus is readable by the transformer role only.
"""

from dataclasses import dataclass
from pathlib import Path

DATASET = "raw_esus"
#: name of its run locks and Dagster pool (`esus`); not a dlt pipeline (loaders/esus/__init__.py)
PIPELINE_NAME = "esus"
DOMAIN = "atencao_primaria"
REGISTRY_FILE = Path(__file__).with_name("municipios.toml")

#: fact tables: incremental on their sequence key (co_seq_*, increasing with insertion in the PEC)
FACTS: dict[str, list[str]] = {
    "tb_fat_atendimento_individual": [
        "co_seq_fat_atd_ind",
        "co_dim_tempo",
        "co_dim_unidade_saude_1",
        "co_dim_equipe_1",
        "co_dim_cbo_1",
        "co_dim_profissional_1",
        "co_dim_tipo_atendimento",
        "co_dim_local_atendimento",
        "co_dim_sexo",
        "co_dim_faixa_etaria",
        "co_fat_cidadao_pec",
        "nu_cns",
        "nu_cpf_cidadao",
        "dt_inicial_atendimento",
    ],
    "tb_fat_vacinacao": [
        "co_seq_fat_vacinacao",
        "co_dim_tempo",
        "co_dim_unidade_saude",
        "co_dim_equipe",
        "co_dim_cbo",
        "co_fat_cidadao_pec",
        "nu_cns",
        "nu_cpf_cidadao",
        "dt_inicial_atendimento",
    ],
    "tb_fat_vacinacao_vacina": [
        "co_seq_fat_vacinacao_vacina",
        "co_fat_vacinacao",
        "co_dim_tempo",
        "co_dim_imunobiologico",
        "co_dim_dose_imunobiologico",
        "co_dim_unidade_saude",
        "co_dim_equipe",
    ],
    "tb_fat_visita_domiciliar": [
        "co_seq_fat_visita_domiciliar",
        "co_dim_tempo",
        "co_dim_unidade_saude",
        "co_dim_equipe",
        "co_dim_cbo",
        "co_dim_profissional",
        "co_dim_desfecho_visita",
        "co_dim_tipo_imovel",
        "co_fat_cidadao_pec",
        "nu_cns",
        "nu_cpf_cidadao",
    ],
    "tb_fat_cidadao_pec": [
        "co_seq_fat_cidadao_pec",
        "co_cidadao",
        "nu_cns",
        "nu_cpf_cidadao",
        "co_dim_sexo",
        "co_dim_tempo_nascimento",
        "st_faleceu",
        "co_dim_unidade_saude_vinc",
        "co_dim_equipe_vinc",
    ],
    "tb_fat_cad_individual": [
        "co_seq_fat_cad_individual",
        "co_dim_tempo",
        "co_dim_unidade_saude",
        "co_dim_equipe",
        "co_dim_sexo",
        "co_fat_cidadao_pec",
        "nu_cns",
        "nu_cpf_cidadao",
        "st_ficha_inativa",
        "st_recusa_cadastro",
    ],
}

#: dimensions: small, pulled whole on every run and merged
DIMENSIONS: dict[str, list[str]] = {
    "tb_dim_tempo": ["co_seq_dim_tempo", "dt_registro", "nu_dia", "nu_mes", "nu_ano"],
    "tb_dim_municipio": ["co_seq_dim_municipio", "co_ibge", "no_municipio"],
    "tb_dim_unidade_saude": ["co_seq_dim_unidade_saude", "nu_cnes", "no_unidade_saude"],
    "tb_dim_equipe": ["co_seq_dim_equipe", "nu_ine", "no_equipe"],
    "tb_dim_cbo": ["co_seq_dim_cbo", "nu_cbo", "no_cbo"],
    "tb_dim_imunobiologico": ["co_seq_dim_imunobiologico", "sg_imunobiologico", "no_imunobiologico"],
}

TABLES = {**FACTS, **DIMENSIONS}


def primary_key(table: str) -> str:
    """The PEC's sequence key: the first column listed."""
    return TABLES[table][0]


#: default number of municipalities extracted at once
DEFAULT_CONCURRENCY = 4
#: municipalities extracted, then published in ONE transaction (every table, cursor and run-log row), at a time
BATCH_SIZE = 100
#: keys per bucket when a diverging table is compared with its source bucket by bucket
BUCKET_SIZE = 10_000
#: hash partitions of each raw fact table (PARTITION BY HASH (id_municipio)): see loaders/esus/particoes.py
#: and docs/scale.md, "Partitioned raw facts"; changing it needs a new migration, not just a new value
PARTITIONS = 16


@dataclass(frozen=True)
class EsusSettings:
    """What an e-SUS run reads from mirante.config (passwords are read per municipality, at use)."""

    registry_file: Path
    #: municipalities pulled at once, and e-SUS runs at once
    concurrency: int
    #: `dagster/max_runtime` of the pull job
    max_runtime_s: int


def read_settings() -> EsusSettings:
    from mirante import config

    return EsusSettings(
        registry_file=config.esus_registry_file(REGISTRY_FILE),
        concurrency=config.esus_concurrency(DEFAULT_CONCURRENCY),
        max_runtime_s=config.esus_max_runtime(),
    )
