"""The generator: citizens and each day's facts (care, vaccinations, home visits, registrations,
deaths), deterministic for a seed; `generate` makes every row of a new database without one.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from mirante.emulators.pec import data as D
from mirante.emulators.pec.documents import _gerar_nis, gerar_cns, gerar_cpf
from mirante.emulators.pec.mundo import (
    Mundo,
    Profissional,
    _dimension_rows,
    _nome_pessoa,
    _tempo_key,
    _tempo_row,
    build_world,
)
from mirante.emulators.pec.reference import _check_id, _sem_acento, default_per_day, default_seed
from mirante.emulators.pec.schema import _COLUMN_SETS, _FLAG_COLUMNS, COLUMN_NAMES, FACT_TABLES, LOAD_ORDER


@dataclass(slots=True)
class Cidadao:
    id: int
    co_cidadao: int
    nome: str
    sexo: int
    nascimento: date
    cns: str | None
    cpf: str | None
    telefone: str | None
    unidade: int
    equipe: int
    uuid_cad: str | None = None
    #: key of the citizen's active cadastro individual (a new one inactivates it)
    cad_ativo: int | None = None


def _idade(nascimento: date, dia: date) -> int:
    return dia.year - nascimento.year - ((dia.month, dia.day) < (nascimento.month, nascimento.day))


def _idade_meses(nascimento: date, dia: date) -> int:
    return (dia.year - nascimento.year) * 12 + dia.month - nascimento.month - (dia.day < nascimento.day)


def _faixa(idade: int) -> int:
    return sum(1 for lim in D.FAIXAS_ETARIAS if idade >= lim)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _weighted(rng: random.Random, items: Sequence[tuple]) -> tuple:
    """One of (value..., weight) tuples, by weight (the last element)."""
    return rng.choices(items, weights=[it[-1] for it in items])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _flag(rng: random.Random, p: float) -> int:
    return 1 if rng.random() < p else 0


def _day_rng(seed: int, dia: date, batch: int = 0) -> random.Random:
    return random.Random(f"{seed}/dia/{dia.isoformat()}/{batch}")


@lru_cache(maxsize=4096)
def _lote(seed: int, sigla: str, ano: int, trimestre: int, fabricantes: tuple[str, ...]) -> tuple[str, str]:
    """Lot number and manufacturer in use for a vaccine in a municipality in a quarter."""
    rng = random.Random(f"{seed}/lote/{sigla}/{ano}/{trimestre}")
    letras = "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2))
    return f"{letras}{rng.randrange(1000, 9999)}", rng.choice(fabricantes)


@dataclass(frozen=True)
class Perfil:
    """What stays the same across a citizen's registrations."""

    sexo: int
    nome: str
    nome_mae: str
    nome_pai: str
    desconhece_pai: bool
    nis: str | None
    email: bool
    raca: int
    escolaridade: int
    trabalho: int


@lru_cache(maxsize=8192)
def _perfil(seed: int, cid: int) -> Perfil:
    r = random.Random(f"{seed}/perfil/{cid}")
    sexo = D.FEMININO if r.random() < 0.51 else D.MASCULINO
    mae, pai = r.sample(D.SOBRENOMES, 2), r.sample(D.SOBRENOMES, 2)
    nome = _nome_pessoa(r, sexo, [mae[-1], pai[-1]] if r.random() < 0.7 else [mae[-1]])
    return Perfil(
        sexo=sexo,
        nome=nome,
        nome_mae=_nome_pessoa(r, D.FEMININO, mae),
        nome_pai=_nome_pessoa(r, D.MASCULINO, pai),
        desconhece_pai=r.random() < 0.1,
        nis=_gerar_nis(r) if r.random() < 0.6 else None,
        email=r.random() < 0.2,
        raca=_weighted(r, D.RACAS_COR)[0],
        escolaridade=r.choice(D.ESCOLARIDADES),
        trabalho=_weighted(r, D.SITUACOES_TRABALHO)[0],
    )


class Gerador:
    """Makes the rows of one municipality, day after day, continuing given sequence values."""

    def __init__(
        self, mundo: Mundo, cidadaos: Iterable[Cidadao] = (), next_ids: dict[str, int] | None = None
    ):
        self.w = mundo
        self.cidadaos: list[Cidadao] = list(cidadaos)
        self.cns_usados = {c.cns for c in self.cidadaos if c.cns} | {p.cns for p in mundo.profissionais}
        self.cpf_usados = {c.cpf for c in self.cidadaos if c.cpf}
        self.next_ids = {t: 1 for t in FACT_TABLES} | (next_ids or {})
        self.rows: dict[str, list[tuple]] = {t: [] for t in FACT_TABLES}
        #: position of each row made here, by key: a later change rewrites it in place
        self._pos: dict[str, dict[int, int]] = {t: {} for t in FACT_TABLES}
        #: changes to rows already in the database: (table, key, {column: value})
        self.updates: list[tuple[str, int, dict]] = []
        self.tempo: set[int] = set()
        self._cnes = {e.id: mundo.unidades[e.unidade].cnes for e in mundo.equipes.values()}

    # -- helpers ------------------------------------------------------------------------------

    def _id(self, table: str) -> int:
        i = self.next_ids[table]
        self.next_ids[table] = i + 1
        return i

    def _row(self, table: str, values: dict) -> None:
        if not _COLUMN_SETS[table].issuperset(values):
            raise KeyError(f"{table}: unknown columns {set(values) - _COLUMN_SETS[table]}")
        self._pos[table][values[COLUMN_NAMES[table][0]]] = len(self.rows[table])
        self.rows[table].append(tuple(map(values.get, COLUMN_NAMES[table])))

    def _update(self, table: str, key: int, **values) -> None:
        """Change a row in place, as the PEC does (a ficha inactivated, a death recorded): made
        here, it is rewritten; already in the database, the change is kept for add_day to apply."""
        pos = self._pos[table].get(key)
        if pos is None:
            self.updates.append((table, key, values))
            return
        row = list(self.rows[table][pos])
        for column, value in values.items():
            row[COLUMN_NAMES[table].index(column)] = value
        self.rows[table][pos] = tuple(row)

    def _base(self, table: str, flags: int | None = 0) -> dict:
        return dict.fromkeys(_FLAG_COLUMNS[table], flags)

    def _ficha(self, rng: random.Random, equipe: int) -> str:
        return f"{self._cnes[equipe]}-{_uuid(rng)}"

    def _tk(self, d: date) -> int:
        k = _tempo_key(d)
        self.tempo.add(k)
        return k

    def _acs(self, c: Cidadao) -> Profissional:
        acs = self.w.equipes[c.equipe].acs
        return acs[c.id % len(acs)]

    # -- citizens -----------------------------------------------------------------------------

    def novo_cidadao(self, rng: random.Random, dia: date, recem_nascido: bool = False) -> Cidadao:
        cid = self._id("tb_fat_cidadao_pec")
        perfil = _perfil(self.w.seed, cid)
        sexo, nome = perfil.sexo, perfil.nome
        if recem_nascido:
            nascimento = dia - timedelta(days=rng.randrange(0, 45))
        else:
            lo, hi, _ = _weighted(rng, D.PIRAMIDE_ETARIA)
            nascimento = dia - timedelta(days=rng.randrange(lo * 365, (hi + 1) * 365))
        cns = None
        if recem_nascido or rng.random() < 0.96:
            while (cns := gerar_cns(rng, provisorio=rng.random() < 0.25)) in self.cns_usados:
                pass
            self.cns_usados.add(cns)
        cpf = None
        if (not recem_nascido and rng.random() < 0.85) or (recem_nascido and rng.random() < 0.5):
            regiao = self.w.regiao_cpf if rng.random() < 0.85 else None
            while (cpf := gerar_cpf(rng, regiao)) in self.cpf_usados:
                pass
            self.cpf_usados.add(cpf)
        telefone = None
        if _idade(nascimento, dia) >= 14 and rng.random() < 0.8:
            telefone = (
                f"({self.w.ddd}) 9{rng.randint(6, 9)}{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
            )
        equipe = self.w.equipes[rng.choice(list(self.w.equipes))]
        c = Cidadao(
            cid,
            self.w.offset_cidadao + cid,
            nome,
            sexo,
            nascimento,
            cns,
            cpf,
            telefone,
            equipe.unidade,
            equipe.id,
        )
        self.tempo.add(_tempo_key(nascimento))
        self._row(
            "tb_fat_cidadao_pec",
            {
                "co_seq_fat_cidadao_pec": cid,
                "co_cidadao": c.co_cidadao,
                "nu_cns": cns,
                "no_cidadao": nome,
                "no_social_cidadao": None,
                "co_dim_tempo_nascimento": _tempo_key(nascimento),
                "co_dim_sexo": sexo,
                "co_dim_identidade_genero": None,
                "nu_telefone_celular": telefone,
                "st_faleceu": 0,
                "st_lookup_etl": 0,
                "st_deletar": 0,
                "nu_cpf_cidadao": cpf,
                "co_dim_unidade_saude_vinc": c.unidade,
                "co_dim_equipe_vinc": c.equipe,
            },
        )
        self.cidadaos.append(c)
        self.cad_individual(rng, dia, c)
        return c

    def _responsavel(self, rng: random.Random, c: Cidadao, dia: date) -> Cidadao | None:
        adultos = [
            a
            for a in self.cidadaos
            if a.equipe == c.equipe
            and a.sexo == D.FEMININO
            and 18 <= _idade(a.nascimento, dia) <= 50
            and a is not c
        ]
        return rng.choice(adultos) if adultos else None

    def cad_individual(self, rng: random.Random, dia: date, c: Cidadao) -> None:
        """A cadastro individual (first one or an update) filled by the citizen's ACS."""
        perfil = _perfil(self.w.seed, c.id)
        idade = _idade(c.nascimento, dia)
        adulto, idoso = idade >= 18, idade >= 60
        acs = self._acs(c)
        cad_id = self._id("tb_fat_cad_individual")
        uuid_ficha = self._ficha(rng, c.equipe)
        if c.uuid_cad is None:
            c.uuid_cad = uuid_ficha
        if c.cad_ativo is not None:  # the update supersedes the citizen's previous ficha
            self._update("tb_fat_cad_individual", c.cad_ativo, st_ficha_inativa=1)
        c.cad_ativo = cad_id
        resp = self._responsavel(rng, c, dia) if idade < 18 else None
        hipertensao = _flag(rng, 0.38 if idade >= 60 else 0.2 if idade >= 40 else 0.03 if adulto else 0)
        deficiencia = _flag(rng, 0.05)
        respiratoria = _flag(rng, 0.05)
        cardiaca = _flag(rng, 0.08 if idade >= 50 else 0.01)
        rins = _flag(rng, 0.02)
        gestante = _flag(rng, 0.05) if c.sexo == D.FEMININO and 15 <= idade <= 45 else 0
        internacao = _flag(rng, 0.05)
        planta = _flag(rng, 0.08)
        defi = rng.choice(
            (
                "st_defi_auditiva",
                "st_defi_intelectual_cognitiva",
                "st_defi_outra",
                "st_defi_visual",
                "st_defi_fisica",
            )
        )
        v = self._base("tb_fat_cad_individual")
        # fields of the street-population block and of children's care stay NULL when not applicable
        for col in (
            "st_recebe_beneficio",
            "st_referencia_familiar",
            "st_orig_alimen_restaurante_pop",
            "st_orig_alimen_doacao_reli",
            "st_orig_alimen_doacao_rest",
            "st_orig_alimen_doacao_popular",
            "st_orig_alimen_outros",
            "st_acompanhado_instituicao",
            "st_visita_familiar_frequente",
            "st_higiene_pessoal_acesso",
            "st_hig_pess_banho",
            "st_hig_pess_sanitario",
            "st_hig_pess_higiene_bucal",
            "st_hig_pess_outros",
        ):
            v[col] = None
        crianca = {
            "st_respons_crianca_adulto_resp",
            "st_respons_crianca_outra_crian",
            "st_respons_crianca_adolescente",
            "st_respons_crianca_sozinha",
            "st_respons_crianca_creche",
            "st_respons_crianca_outro",
        }
        for col in crianca:
            v[col] = None
        if idade < 10:
            v.update(dict.fromkeys(crianca, 0))
            v["st_respons_crianca_adulto_resp" if rng.random() < 0.85 else "st_respons_crianca_creche"] = 1
        v.update(
            {
                "co_seq_fat_cad_individual": cad_id,
                "nu_uuid_ficha": uuid_ficha,
                "nu_uuid_ficha_origem": c.uuid_cad,
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_profissional": acs.id,
                "co_dim_tipo_ficha": D.TIPO_FICHA["cad_individual"],
                "co_dim_municipio": self.w.co_dim_municipio,
                "co_dim_unidade_saude": c.unidade,
                "co_dim_equipe": c.equipe,
                "co_dim_tempo": self._tk(dia),
                "co_dim_sexo": c.sexo,
                "co_dim_raca_cor": perfil.raca,
                "co_dim_nacionalidade": 1,
                "co_dim_pais_nascimento": 1,
                "co_dim_municipio_cidadao": self.w.co_dim_municipio,
                "nu_cns_responsavel": resp.cns if resp else None,
                "st_responsavel_familiar": _flag(rng, 0.4) if adulto else 0,
                "st_frequenta_creche": _flag(rng, 0.35) if idade <= 5 else 0,
                "st_participa_grupo_comunitario": _flag(rng, 0.05),
                "st_plano_saude_privado": _flag(rng, 0.2),
                "st_comunidade_tradicional": _flag(rng, 0.01),
                "st_deficiencia": deficiencia,
                defi: deficiencia,
                "st_gestante": gestante,
                "st_doenca_respiratoria": respiratoria,
                "st_doenca_respira_asma": respiratoria,
                "st_fumante": _flag(rng, 0.1) if adulto else 0,
                "st_alcool": _flag(rng, 0.06) if adulto else 0,
                "st_outra_droga": _flag(rng, 0.01) if adulto else 0,
                "st_hipertensao_arterial": hipertensao,
                "st_diabete": _flag(rng, 0.16 if idade >= 60 else 0.07 if idade >= 40 else 0.01),
                "st_avc": _flag(rng, 0.02) if idoso else 0,
                "st_infarto": _flag(rng, 0.02) if idoso else 0,
                "st_tuberculose": _flag(rng, 0.001),
                "st_cancer": _flag(rng, 0.01 + 0.02 * idoso),
                "st_internacao_12": internacao,
                "st_tratamento_psiquiatra": _flag(rng, 0.03),
                "st_acamado": _flag(rng, 0.02) if idoso else 0,
                "st_domiciliado": _flag(rng, 0.04) if idoso else 0,
                "st_usa_planta_medicinal": planta,
                "st_doenca_cardiaca": cardiaca,
                "st_doenca_card_insuficiencia": cardiaca,
                "st_problema_rins": rins,
                "st_problema_rins_insuficiencia": rins,
                "co_dim_tipo_parentesco": D.PARENTESCO_FILHO
                if idade < 18
                else rng.choice(D.PARENTESCOS_ADULTO),
                "co_dim_cbo": self.w.cbo_ids[D.ACS],
                "co_dim_tipo_escolaridade": perfil.escolaridade if idade >= 4 else None,
                "co_dim_situacao_trabalho": perfil.trabalho if idade >= 16 else None,
                "co_dim_tipo_condicao_peso": rng.choice((1, 2, 2, 2, 3)),
                "co_dim_faixa_etaria": _faixa(idade),
                "st_desconhece_pai": int(perfil.desconhece_pai),
                "st_informar_orientacao_sexual": 0,
                "st_informar_identidade_genero": 0,
                "nu_micro_area": acs.micro_area,
                "st_processo_linha_tempo": 1,
                "st_processo_cidadao": 1,
                "no_nome": c.nome,
                "no_nome_mae": perfil.nome_mae,
                "no_nome_pai": None if perfil.desconhece_pai else perfil.nome_pai,
                "nu_nis": perfil.nis,
                "nu_celular": c.telefone,
                "no_email": (
                    f"{_sem_acento(c.nome.split()[0]).lower()}.{_sem_acento(c.nome.split()[-1]).lower()}"
                    f"{c.id}@exemplo.com.br"
                )
                if perfil.email and adulto
                else None,
                "no_maternidade_referencia": "MATERNIDADE MUNICIPAL" if gestante else None,
                "no_causa_internacao12": rng.choice(D.CAUSAS_INTERNACAO) if internacao else None,
                "no_plantas_medicinais": rng.choice(D.PLANTAS_MEDICINAIS) if planta else None,
                "nu_uuid_dado_transp": uuid_ficha,
                "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_APP_TERRITORIO,
                "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_APP_TERRITORIO,
                "st_gerado_automaticamente": 0,
                "st_ficha_inativa": 0,
                "co_fat_cidadao_pec": c.id,
                "co_fat_cidadao_pec_responsvl": resp.id if resp else None,
                "st_proc_operacionais": 0,
                "nu_cpf_cidadao": c.cpf,
                "nu_cpf_responsavel": resp.cpf if resp else None,
            }
        )
        self._row("tb_fat_cad_individual", v)

    # -- facts --------------------------------------------------------------------------------

    def _antropometria(self, rng: random.Random, c: Cidadao, dia: date) -> tuple[float, float, float | None]:
        meses = _idade_meses(c.nascimento, dia)
        if meses < 12:
            peso, altura = 3.3 + 0.6 * meses + rng.gauss(0, 0.5), 50 + 2.2 * meses + rng.gauss(0, 1.5)
        elif meses < 18 * 12:
            anos = meses / 12
            peso, altura = 2.3 * anos + 8 + rng.gauss(0, 2), 6 * anos + 77 + rng.gauss(0, 4)
            altura = min(altura, 185)
        elif c.sexo == D.MASCULINO:
            peso, altura = rng.gauss(78, 14), rng.gauss(172, 7)
        else:
            peso, altura = rng.gauss(68, 13), rng.gauss(160, 6.5)
        perimetro = round(35 + 0.9 * meses + rng.gauss(0, 1), 1) if meses < 24 else None
        return round(max(peso, 2.0), 1), round(max(altura, 45.0), 1), perimetro

    def _horarios(self, rng: random.Random, dia: date, n: int) -> list[datetime]:
        sabado = dia.weekday() == 5
        inicio, minutos = (8 * 60, 4 * 60) if sabado else (7 * 60, 10 * 60)
        meia_noite = datetime(dia.year, dia.month, dia.day)
        return sorted(meia_noite + timedelta(minutes=inicio + rng.randrange(minutos)) for _ in range(n))

    @staticmethod
    def _turno(t: datetime) -> int:
        return D.TURNO_MANHA if t.hour < 12 else D.TURNO_TARDE if t.hour < 18 else D.TURNO_NOITE

    def atendimento(self, rng: random.Random, inicio: datetime, c: Cidadao) -> None:
        dia = inicio.date()
        eq = self.w.equipes[c.equipe]
        medico = rng.random() < 0.6
        prof = (eq.medicos if medico else eq.enfermeiros)[0]
        idade = _idade(c.nascimento, dia)
        motivos = D.MOTIVOS_CRIANCA if idade < 12 else D.MOTIVOS_ADULTO
        escolhidos = {_weighted(rng, motivos)[:2] for _ in range(1 + (rng.random() < 0.25))}
        gestante = c.sexo == D.FEMININO and 15 <= idade <= 45 and rng.random() < 0.08
        v = self._base("tb_fat_atendimento_individual")
        if gestante:
            escolhidos = {D.CID_PRE_NATAL}
            semanas = rng.randrange(6, 40)
            dum = dia - timedelta(days=semanas * 7 + rng.randrange(7))
            v.update(
                {
                    "co_dim_tempo_dum": self._tk(dum),
                    "st_gravidez_planejada": _flag(rng, 0.45),
                    "nu_idade_gestacional_semanas": semanas,
                    "nu_gestas_previas": rng.choice((0, 0, 1, 1, 2, 3)),
                    "nu_partos": 0,
                }
            )
            v["nu_partos"] = min(v["nu_gestas_previas"], rng.randrange(3))
        else:
            v.update(
                {
                    "st_gravidez_planejada": None,
                    "nu_idade_gestacional_semanas": None,
                    "nu_gestas_previas": None,
                    "nu_partos": None,
                }
            )
        cids = "|" + "|".join(sorted(c_ for c_, _ in escolhidos)) + "|"
        ciaps = "|" + "|".join(sorted(ci for _, ci in escolhidos)) + "|"
        procs = [D.PROC_CONSULTA_MEDICA if medico else D.PROC_CONSULTA_NIVEL_SUPERIOR]
        if idade >= 18 and rng.random() < 0.6:
            procs.append(D.PROC_AFERICAO_PA)
        cronico = any(ci in ("K86", "T90", "T93") for _, ci in escolhidos)
        if cronico and rng.random() < 0.4:
            procs.append(D.PROC_GLICEMIA_CAPILAR)
        solicitados = (
            rng.sample(D.EXAMES_SOLICITADOS, rng.randint(1, 3))
            if (cronico or gestante) and rng.random() < 0.5
            else []
        )
        conduta = rng.choices(
            (
                "st_conduta_alta_episodio",
                "st_conduta_cuidd_conti_program",
                "st_conduta_consulta_agendada",
                "st_encaminhamento_serv_special",
                "st_conduta_agendamento_grupos",
                "st_conduta_agendamento_nasf",
                "st_encaminhamento_urgencia",
                "st_encaminhamento_caps",
                "st_encaminhamento_intern_hospi",
                "st_encaminhamento_interno_dia",
            ),
            weights=(40, 28, 14, 8, 3, 2, 1, 1, 0.5, 2.5),
        )[0]
        peso = altura = perimetro = None
        if rng.random() < 0.7 or idade < 2:
            peso, altura, perimetro = self._antropometria(rng, c, dia)
        fim = inicio + timedelta(minutes=rng.randint(8, 40))
        v.update(
            {
                "co_seq_fat_atd_ind": self._id("tb_fat_atendimento_individual"),
                "co_dim_municipio": self.w.co_dim_municipio,
                "co_dim_tipo_ficha": D.TIPO_FICHA["atendimento_individual"],
                "co_dim_profissional_1": prof.id,
                "co_dim_cbo_1": self.w.cbo_ids[prof.cbo],
                "co_dim_unidade_saude_1": c.unidade,
                "co_dim_equipe_1": c.equipe,
                "co_dim_tempo": self._tk(dia),
                "co_dim_racionalidade_saude": None,
                "nu_uuid_ficha": self._ficha(rng, c.equipe),
                "nu_atendimento": 1,
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_faixa_etaria": _faixa(idade),
                "co_dim_sexo": c.sexo,
                "co_dim_turno": self._turno(inicio),
                "co_dim_local_atendimento": D.LOCAL_DOMICILIO if rng.random() < 0.04 else D.LOCAL_UBS,
                "co_dim_tipo_atendimento": _weighted(rng, D.TIPOS_ATENDIMENTO)[0],
                "nu_peso": peso,
                "nu_altura": altura,
                "nu_perimetro_cefalico": perimetro,
                "st_vacinacao_em_dia": _flag(rng, 0.85) if idade < 10 else None,
                "co_dim_aleitamento": rng.randint(1, 4) if idade < 2 else None,
                "st_ficou_em_observacao": _flag(rng, 0.02),
                conduta: 1,
                "ds_filtro_cids": cids if medico else None,
                "ds_filtro_ciaps": ciaps if (not medico or rng.random() < 0.3) else None,
                "ds_filtro_proced_avaliados": "|" + "|".join(procs) + "|",
                "ds_filtro_proced_solicitados": "|" + "|".join(solicitados) + "|" if solicitados else None,
                "nu_prontuario": str(c.co_cidadao),
                "nu_uuid_dado_transp": None,
                "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_PEC,
                "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_PEC,
                "co_fat_cidadao_pec": c.id,
                "dt_inicial_atendimento": inicio,
                "dt_final_atendimento": fim,
                "nu_cpf_cidadao": c.cpf,
            }
        )
        for col in (
            "st_nasf_avaliacao_diagnostico",
            "st_nasf_proce_clin_terapeutico",
            "st_nasf_prescricao_terapeutica",
        ):
            v[col] = None
        v["nu_uuid_dado_transp"] = v["nu_uuid_ficha"]
        self._row("tb_fat_atendimento_individual", v)

    def _doses(self, rng: random.Random, c: Cidadao, dia: date) -> list[tuple[str, str, int]]:
        """(vaccine, dose, strategy) given at one visit, by age and season."""
        meses = _idade_meses(c.nascimento, dia)
        campanha = 4 <= dia.month <= 7 and meses >= 6
        if campanha and rng.random() < (0.35 if meses < 60 else 0.6):
            doses = [("INF", "Dose", D.ESTRATEGIA_CAMPANHA)]
            if meses >= 60 and rng.random() < 0.2:
                doses.append(("COVID-19", "Reforço", D.ESTRATEGIA_CAMPANHA))
            return doses
        if meses < 60:
            slot = [doses for m, doses in D.CALENDARIO_CRIANCA if m <= meses][-1]
            return [(v, d, D.ESTRATEGIA_ROTINA) for v, d in slot]
        anos = meses // 12
        elegiveis = [(v, d) for v, d, lo, hi in D.VACINAS_ADOLESCENTE_ADULTO if lo <= anos <= hi]
        escolhidas = rng.sample(elegiveis, min(len(elegiveis), 1 + (rng.random() < 0.25)))
        return [(v, d, D.ESTRATEGIA_ROTINA) for v, d in escolhidas]

    def vacinacao(self, rng: random.Random, inicio: datetime, c: Cidadao) -> None:
        dia = inicio.date()
        eq = self.w.equipes[c.equipe]
        prof = (eq.tecnicos if rng.random() < 0.7 else eq.enfermeiros)[0]
        idade = _idade(c.nascimento, dia)
        doses = self._doses(rng, c, dia)
        vac_id = self._id("tb_fat_vacinacao")
        uuid_ficha = self._ficha(rng, c.equipe)
        tk = self._tk(dia)
        gestante = _flag(rng, 0.06) if c.sexo == D.FEMININO and 15 <= idade <= 45 else 0
        comum = {
            "co_dim_tipo_ficha": D.TIPO_FICHA["vacinacao"],
            "co_dim_municipio": self.w.co_dim_municipio,
            "co_dim_profissional": prof.id,
            "co_dim_cbo": self.w.cbo_ids[prof.cbo],
            "co_dim_unidade_saude": c.unidade,
            "co_dim_equipe": c.equipe,
            "co_dim_tempo": tk,
            "nu_uuid_ficha": uuid_ficha,
            "nu_atendimento": 1,
            "nu_uuid_dado_transp": uuid_ficha,
            "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_PEC,
            "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_PEC,
        }
        lotes = []
        for sigla, dose, estrategia in doses:
            fabricantes = next(v[3] for v in D.VACINAS if v[0] == sigla)
            lote, fabricante = _lote(self.w.seed, sigla, dia.year, (dia.month - 1) // 3, fabricantes)
            lotes.append((lote, fabricante))
            self._row(
                "tb_fat_vacinacao_vacina",
                comum
                | {
                    "co_seq_fat_vacinacao_vacina": self._id("tb_fat_vacinacao_vacina"),
                    "co_fat_vacinacao": vac_id,
                    "co_dim_imunobiologico": self.w.vacina_ids[sigla],
                    "co_dim_estrategia_vacinacao": estrategia,
                    "co_dim_dose_imunobiologico": self.w.dose_ids[dose],
                    "no_lote": lote,
                    "no_fabricante": fabricante,
                    "co_dim_grupo_atendimento": None,
                    "st_registro_anterior": 0,
                    "co_dim_tempo_vacina_aplicada": tk,
                },
            )

        def filtro(values: Iterable[object]) -> str:
            return "|" + "|".join(dict.fromkeys(str(x) for x in values)) + "|"

        self._row(
            "tb_fat_vacinacao",
            comum
            | {
                "co_seq_fat_vacinacao": vac_id,
                "co_dim_faixa_etaria": _faixa(idade),
                "co_dim_turno": self._turno(inicio),
                "nu_prontuario": str(c.co_cidadao),
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_sexo": c.sexo,
                "co_dim_local_atendimento": D.LOCAL_UBS,
                "st_viajante": _flag(rng, 0.01),
                "st_comunicante_hanseniase": 0,
                "st_gestante": gestante,
                "st_puerpera": 0,
                "ds_filtro_imunobiologico": filtro(self.w.vacina_ids[s] for s, _, _ in doses),
                "ds_filtro_estrategia_vacinacao": filtro(e for _, _, e in doses),
                "ds_filtro_dose_imunobiologico": filtro(self.w.dose_ids[d] for _, d, _ in doses),
                "ds_filtro_lote": filtro(lote for lote, _ in lotes),
                "ds_filtro_fabricante": filtro(f for _, f in lotes),
                "co_fat_cidadao_pec": c.id,
                "dt_inicial_atendimento": inicio,
                "dt_final_atendimento": inicio + timedelta(minutes=rng.randint(4, 15)),
                "nu_cpf_cidadao": c.cpf,
                "ds_filtro_grupo_atendimento": None,
            },
        )

    def visita(self, rng: random.Random, dia: date, c: Cidadao) -> None:
        acs = self._acs(c)
        idade = _idade(c.nascimento, dia)
        desfecho = rng.choices((D.REALIZADA, D.RECUSADA, D.AUSENTE), weights=(90, 3, 7))[0]
        v = self._base("tb_fat_visita_domiciliar")
        peso = altura = None
        pressao = glicemia = None
        if desfecho == D.REALIZADA:
            motivo = rng.choices(
                (
                    "st_mot_vis_visita_periodica",
                    "st_mot_vis_cad_att",
                    "st_mot_vis_busca_ativa",
                    "st_mot_vis_acompanhamento",
                    "st_mot_vis_ctrl_ambnte_vetor",
                    "st_mot_vis_orintacao_prevncao",
                    "st_mot_vis_egresso_internacao",
                    "st_mot_vis_outros",
                ),
                weights=(45, 10, 10, 25, 4, 3, 1, 2),
            )[0]
            v[motivo] = 1
            if motivo == "st_mot_vis_busca_ativa":
                v[
                    rng.choice(
                        (
                            "st_busca_ativa_consulta",
                            "st_busca_ativa_exame",
                            "st_busca_ativa_vacina",
                            "st_busca_ativa_bolsa_familia",
                        )
                    )
                ] = 1
            elif motivo == "st_mot_vis_acompanhamento":
                if idade < 2:
                    v["st_acomp_recem_nascido" if idade == 0 else "st_acomp_crianca"] = 1
                    if rng.random() < 0.3:
                        peso, altura, _ = self._antropometria(rng, c, dia)
                elif idade < 12:
                    v["st_acomp_crianca"] = 1
                elif idade >= 40:
                    v[
                        rng.choice(
                            (
                                "st_acomp_pessoa_hipertensao",
                                "st_acomp_pessoa_hipertensao",
                                "st_acomp_pessoa_diabetes",
                                "st_acomp_pessoa_doenca_cronica",
                                "st_acomp_domiciliados_acamados",
                            )
                        )
                    ] = 1
                else:
                    v[
                        rng.choice(
                            (
                                "st_acomp_condi_bolsa_familia",
                                "st_acomp_saude_mental",
                                "st_acomp_tabagista",
                                "st_acomp_condi_vulnerab_social",
                            )
                        )
                    ] = 1
            elif motivo == "st_mot_vis_ctrl_ambnte_vetor":
                v[
                    rng.choice(
                        (
                            "st_ctrl_amb_vet_acao_educativa",
                            "st_ctrl_amb_vet_imovel_foco",
                            "st_ctrl_amb_vet_acao_mecanica",
                            "st_ctrl_amb_vet_tratamnt_focal",
                        )
                    )
                ] = 1
            if idade >= 40 and rng.random() < 0.15:
                pressao = f"{rng.randrange(110, 165, 5)}/{rng.randrange(70, 100, 5)}"
            if idade >= 40 and rng.random() < 0.05:
                glicemia = str(rng.randrange(80, 220))
        uuid_ficha = self._ficha(rng, c.equipe)
        v.update(
            {
                "co_seq_fat_visita_domiciliar": self._id("tb_fat_visita_domiciliar"),
                "nu_uuid_ficha": uuid_ficha,
                "co_dim_tipo_ficha": D.TIPO_FICHA["visita_domiciliar"],
                "co_dim_municipio": self.w.co_dim_municipio,
                "co_dim_profissional": acs.id,
                "co_dim_cbo": self.w.cbo_ids[D.ACS],
                "co_dim_unidade_saude": c.unidade,
                "co_dim_equipe": c.equipe,
                "co_dim_tempo": self._tk(dia),
                "co_dim_tipo_imovel": D.TIPO_IMOVEL_DOMICILIO,
                "co_dim_turno": D.TURNO_MANHA if rng.random() < 0.6 else D.TURNO_TARDE,
                "co_dim_sexo": c.sexo,
                "nu_micro_area": acs.micro_area,
                "nu_peso": peso,
                "nu_altura": altura,
                "nu_cns": c.cns,
                "dt_nascimento": c.nascimento,
                "co_dim_faixa_etaria": _faixa(idade),
                "st_visita_compartilhada": _flag(rng, 0.03),
                "co_dim_desfecho_visita": desfecho,
                "nu_uuid_dado_transp": uuid_ficha,
                "nu_prontuario": None,
                "co_dim_tipo_origem_dado_transp": D.TIPO_ORIGEM_APP_TERRITORIO,
                "co_dim_cds_tipo_origem": D.TIPO_ORIGEM_APP_TERRITORIO,
                "co_fat_cidadao_pec": c.id,
                "nu_cpf_cidadao": c.cpf,
                "co_dim_tipo_glicemia": 1 if glicemia else None,
                "nu_medicao_pressao_arterial": pressao,
                "nu_medicao_temperatura": None,
                "nu_medicao_glicemia": glicemia,
                "nu_latitude": round(self.w.lat + rng.uniform(-0.02, 0.02), 6),
                "nu_longitude": round(self.w.lon + rng.uniform(-0.02, 0.02), 6),
                "co_uuid_origem_fcd": None,
            }
        )
        self._row("tb_fat_visita_domiciliar", v)

    # -- days ---------------------------------------------------------------------------------

    def populacao_inicial(self, rng: random.Random, dia: date, n: int) -> None:
        for _ in range(n):
            self.novo_cidadao(rng, dia)

    def dia(self, rng: random.Random, dia: date, per_day: float) -> None:
        """One day's records: new citizens and re-registrations, then care, vaccination and visits."""
        self.tempo.add(_tempo_key(dia))
        fator = (1.0, 1.0, 1.0, 1.0, 1.0, 0.12, 0.0)[dia.weekday()]
        lam = per_day * fator
        for _ in range(_poisson(rng, 0.12 * lam)):
            self.novo_cidadao(rng, dia, recem_nascido=rng.random() < 0.4)
        nascidos = [c for c in self.cidadaos if c.nascimento <= dia]  # backfilled days: born by then
        if not nascidos:
            return
        for _ in range(_poisson(rng, 0.05 * lam)):
            self.cad_individual(rng, dia, rng.choice(nascidos))
        for inicio in self._horarios(rng, dia, _poisson(rng, lam)):
            self.atendimento(rng, inicio, rng.choice(nascidos))
        limite = dia - timedelta(days=7 * 365)
        criancas = [c for c in nascidos if c.nascimento > limite]
        for inicio in self._horarios(rng, dia, _poisson(rng, lam)):
            c = rng.choice(criancas) if criancas and rng.random() < 0.55 else rng.choice(nascidos)
            self.vacinacao(rng, inicio, c)
        for _ in range(_poisson(rng, lam)):
            self.visita(rng, dia, rng.choice(nascidos))
        self.obitos(dia, nascidos)

    def obitos(self, dia: date, vivos: list[Cidadao]) -> None:
        """Deaths of the day (about 4% a year at 60 and over, 0.2% below): st_faleceu turns 1 on
        the citizen's row, which is how the PEC records them; the citizen gets no more records.
        A random stream of its own, so the day's other records stay what they were."""
        rng = random.Random(f"{self.w.seed}/obito/{dia.isoformat()}")
        idosos = [c for c in vivos if _idade(c.nascimento, dia) >= 60]
        mortos: dict[int, Cidadao] = {}
        for grupo, taxa in ((idosos, TAXA_OBITO_IDOSO), (vivos, TAXA_OBITO)):
            for _ in range(_poisson(rng, taxa * len(grupo)) if grupo else 0):
                c = rng.choice(grupo)
                mortos[c.id] = c
        for ident in sorted(mortos):
            self._update("tb_fat_cidadao_pec", ident, st_faleceu=1)
            self.cidadaos.remove(mortos[ident])


#: daily probability of death: 60 and over (about 4% a year), everyone (about 0.2% a year)
TAXA_OBITO_IDOSO = 0.04 / 365
TAXA_OBITO = 0.002 / 365


def initial_population(mundo: Mundo, per_day: float) -> int:
    return int(70 * per_day) + random.Random(f"{mundo.seed}/populacao").randrange(60)


def generate(
    id_municipio: str,
    *,
    days: int = 730,
    end: date | None = None,
    per_day: float | None = None,
    seed: int | None = None,
) -> tuple[dict[str, list[tuple]], dict]:
    """All rows of a new PEC database (no database involved): {table: rows}, and the metadata."""
    id_municipio = _check_id(id_municipio)
    if days < 1:
        raise ValueError("days must be >= 1")
    end = end or date.today() - timedelta(days=1)
    seed = default_seed(id_municipio) if seed is None else int(seed)
    per_day = default_per_day(id_municipio) if per_day is None else per_day
    mundo = build_world(id_municipio, seed)
    start = end - timedelta(days=days - 1)
    g = Gerador(mundo)
    g.populacao_inicial(random.Random(f"{seed}/inicial"), start, initial_population(mundo, per_day))
    for i in range(days):
        d = start + timedelta(days=i)
        g.dia(_day_rng(seed, d), d, per_day)
    rows = _dimension_rows(mundo)
    rows["tb_dim_tempo"] = [_tempo_row(k) for k in sorted(g.tempo)]
    rows.update(g.rows)
    meta = {"seed": seed, "per_day": per_day, "start": start.isoformat(), "end": end.isoformat()}
    return {t: rows[t] for t in LOAD_ORDER}, meta
