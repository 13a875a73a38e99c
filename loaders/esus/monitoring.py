"""What the e-SUS tables say about each municipality's deliveries: the latest day with records
(lateness) and the latest day's volume against the days before. The loader owns these tables, so the
statistics live beside it; Dagster's `atraso` and `volume` checks (orchestration/defs/
atencao_primaria.py) only judge them."""

from __future__ import annotations

from datetime import date

import psycopg

from .settings import DATASET, FACTS

#: the fact whose daily volume is watched: individual care records
MAIN_FACT = "tb_fat_atendimento_individual"
#: the latest day's care records may differ from the mean of the 7 days before by this fraction
VOLUME_THRESHOLD = 0.5


def _to_date(key: int | None) -> date | None:
    return date(key // 10000, key // 100 % 100, key % 100) if key else None


def lateness_and_volume(srv, ids: list[str], today: date | None = None) -> dict[str, dict]:
    """Per municipality: latest day with any PEC record and its lag, and the latest day's care
    records against the mean of the 7 days with records before (set-based: one query each)."""
    today = today or date.today()
    dated = [t for t, cols in FACTS.items() if "co_dim_tempo" in cols]
    latest_sql = " union all ".join(
        f"select max(co_dim_tempo) from {DATASET}.{t} where id_municipio = m.id" for t in dated
    )
    with psycopg.connect(srv.url("transformer")) as conn:
        latest = dict(
            conn.execute(
                f"select m.id, (select max(x) from ({latest_sql}) as u(x)) from unnest(%s::text[]) as m(id)",
                (ids,),
            ).fetchall()
        )
        days: dict[str, list[int]] = {i: [] for i in ids}
        for ident, n in conn.execute(
            f"""select id_municipio, n from (
                        select id_municipio, co_dim_tempo, count(*) as n,
                               row_number() over (partition by id_municipio order by co_dim_tempo desc) as rn
                        from {DATASET}.{MAIN_FACT} where id_municipio = any(%s)
                        group by 1, 2) as q
                    where rn <= 8 order by id_municipio, rn""",
            (ids,),
        ):
            days[ident].append(n)
    out = {}
    for ident in ids:
        last = _to_date(latest.get(ident))
        counts = days[ident]
        previous = counts[1:]
        mean = sum(previous) / len(previous) if previous else None
        # small municipalities count a handful of records a day: allow the Poisson noise (3 sigma)
        tolerance = max(VOLUME_THRESHOLD * mean, 3 * mean**0.5) if mean else 0
        out[ident] = {
            "ultimo_dia": last,
            "dias_de_atraso": (today - last).days if last else None,
            "registros_ultimo_dia": counts[0] if counts else 0,
            "media_7_dias": mean,
            "variacao": (counts[0] - mean) / mean if mean else None,
            "volume_ok": mean is not None and abs(counts[0] - mean) <= tolerance,
        }
    return out
