"""Offline emulator of the e-SUS APS PEC databases: one PostgreSQL database per municipality.

Every Brazilian municipality on e-SUS APS runs the PEC on its own PostgreSQL database, all with the
same schema. This module creates N such databases (`pec_<ibge code>`) on the project's server with
the real table and column names/types (those of the PEC column list, docs/pec-schema.md, plus four
small dimensions the facts need), fills them with fictitious but plausible records over a window of
days, and appends each new day's records. The loader treats them exactly as remote PEC databases:
one connection string per municipality, read through the login role `pec_leitura`.

    from mirante import db
    from mirante.emulators import pec
    srv = db.setup()
    pec.create_many(srv, ["2704302", "2700300"], password)       # 730 days ending yesterday
    pec.add_day(srv, "2704302", date.today())                     # the day's new records
    pec.connection_url(srv, "2704302", password)                  # what the loader gets

    python -m mirante.emulators.pec create --n 5                  # the 5 most populous capitals
    python -m mirante.emulators.pec create --ids 2704302,2700300 --days 365
    python -m mirante.emulators.pec add-day --date 2025-02-01     # every existing pec_ database
    python -m mirante.emulators.pec list | drop --all | drop --ids 2704302
    (the role's password: MIRANTE_ESUS_PASSWORD or `[esus] senha` in .dlt/secrets.toml, the one the
    loader reads (mirante.config.esus_password); required by `create`)

Selection of `--n N`: the 27 capitals by population (Censo 2022), then every other municipality of
`shared/data/reference/municipios.csv` in IBGE-code order.

How the data is made:
* The schema is created once in a template database (`pec_template`, rebuilt when the DDL changes);
  each municipality is `CREATE DATABASE pec_<id> TEMPLATE pec_template`, then filled with COPY.
* Dimensions: tb_dim_tempo (key yyyymmdd) for every day of the window plus the birth/DUM dates the
  facts reference; the municipality and the 27 UFs; 2-5 health units (random 7-digit CNES), 1-2
  family-health teams each (10-digit INE) with a doctor, a nurse, a nursing technician and 2-4
  community agents (ACS, one per micro-area), some with a dentist; CBO, vaccines, doses, sexes,
  visit outcomes.
* Citizens (tb_fat_cidadao_pec + tb_fat_cad_individual): names from lists of common Brazilian
  names (stored in upper case), CNS valid by the official check-digit algorithm
  (definitive 1/2 and provisional 7/8/9), CPF with valid check digits (9th digit = the UF's fiscal
  region), mobile phones "(DD) 9XXXX-XXXX" with the municipality's DDD. A few have no CNS or no CPF.
* Per day: individual care (tb_fat_atendimento_individual), vaccinations (tb_fat_vacinacao, one row
  per visit, and tb_fat_vacinacao_vacina, one row per dose, following a simplified national
  calendar) and ACS home visits (tb_fat_visita_domiciliar), plus a few new citizens and
  re-registrations. Counts are Poisson draws with mean `per_day` per kind on working days, ~12% of
  that on Saturdays, none on Sundays. Default `per_day`: 3 for the 5 most populous capitals, 2 for
  the other capitals, 0.8-1.3 elsewhere, i.e. ~2,300-3,800 fact rows over two years for most
  municipalities (~7,000-10,000 for capitals). co_seq_* come from one sequence per fact table
  (seq_<table>) and grow with insertion order (and time of day within a day).
* Access: the role `pec_leitura` (password given by the caller, set again on every create) has
  CONNECT on each pec_<id> database (PUBLIC has none), USAGE on `public` and SELECT on its tables,
  nothing else (no sequences, no TEMP), and `default_transaction_read_only = on`.
* Cost: ~0.2-0.3 s and ~10 MB per database (mostly the catalog every PostgreSQL database has);
  650 databases took 2.6 min on 2 cores, `add-day` for all of them 15 s.
* Rows change in place as in the PEC: a new cadastro individual of a citizen sets st_ficha_inativa
  = 1 on the previous one, and deaths (about 4% a year at 60 and over) set st_faleceu = 1 on the
  citizen's tb_fat_cidadao_pec row. `update_rows` changes any column of chosen rows (a corrected
  CBO), and `pending_day` writes a day's records in a transaction left open while other records
  commit with higher keys (an out-of-order commit; a past day makes it a late ficha too).
* Everything is deterministic for a given seed (default: derived from the IBGE code). A day's
  records depend on (seed, day, records already on that day): `create(days=N, end=E)` followed by
  `add_day(E + 1)` gives the same rows as `create(days=N + 1, end=E + 1)`, and calling `add_day`
  again for a day that already has records adds another, different batch.

The parts (this package offers all their names, as the single module pec.py did):
    data.py       the static data: table specs and the vocabularies the generator draws from
    schema.py     the tables' columns, load order and DDL
    documents.py  CNS, CPF and NIS with valid check digits
    reference.py  municipalities and states, the `--n` selection, per-municipality defaults
    mundo.py      a municipality's units, teams and professionals; the dimension rows
    generator.py  citizens and each day's facts (Gerador, generate)
    database.py   the role, the template, the pec_<id> databases and what changes them
    cli.py        the command line (python -m mirante.emulators.pec)
"""

from __future__ import annotations

from mirante.emulators.pec.cli import main
from mirante.emulators.pec.database import (
    DB_PREFIX,
    SOURCE_ROLE,
    TEMPLATE_DB,
    add_day,
    connection_url,
    create_many,
    create_municipio,
    database_name,
    drop_all,
    drop_municipio,
    ensure_source_role,
    ensure_template,
    list_municipios,
    pending_day,
    update_rows,
)
from mirante.emulators.pec.documents import cns_valido, cpf_valido, gerar_cns, gerar_cpf
from mirante.emulators.pec.generator import (
    TAXA_OBITO,
    TAXA_OBITO_IDOSO,
    Cidadao,
    Gerador,
    Perfil,
    generate,
    initial_population,
)
from mirante.emulators.pec.mundo import Equipe, Mundo, Profissional, Unidade, _tempo_key, build_world
from mirante.emulators.pec.reference import default_per_day, default_seed, selection
from mirante.emulators.pec.schema import (
    COLUMN_NAMES,
    FACT_TABLES,
    LOAD_ORDER,
    TABLES,
    Column,
    _pk,
    ddl,
    parse_columns,
)

#: every name of the former single module pec.py, now defined in the modules above
__all__ = [
    "COLUMN_NAMES",
    "Cidadao",
    "Column",
    "DB_PREFIX",
    "Equipe",
    "FACT_TABLES",
    "Gerador",
    "LOAD_ORDER",
    "Mundo",
    "Perfil",
    "Profissional",
    "SOURCE_ROLE",
    "TABLES",
    "TAXA_OBITO",
    "TAXA_OBITO_IDOSO",
    "TEMPLATE_DB",
    "Unidade",
    "add_day",
    "build_world",
    "cns_valido",
    "connection_url",
    "cpf_valido",
    "create_many",
    "create_municipio",
    "database_name",
    "ddl",
    "default_per_day",
    "default_seed",
    "drop_all",
    "drop_municipio",
    "ensure_source_role",
    "ensure_template",
    "generate",
    "gerar_cns",
    "gerar_cpf",
    "initial_population",
    "list_municipios",
    "main",
    "parse_columns",
    "pending_day",
    "selection",
    "update_rows",
    "_pk",
    "_tempo_key",
]
