"""Static data of the PEC source emulator (`emulators/pec/`): the schema of the emulated e-SUS APS
PEC tables and the fictitious-but-plausible vocabularies the generator draws from.

Nothing here is real personal data: names are drawn from lists of common Brazilian first names and
surnames, documents (CNS, CPF, NIS, CNES, INE) are generated at random with valid check digits.
Real public codes are used where they are public vocabularies: CBO occupations, CID-10, CIAP-2 and
SIGTAP procedure codes. Codes of PEC dimensions that the emulator does not create (tipo de ficha,
turno, faixa etária, local de atendimento, ...) are small plausible integers, not official ids.
"""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# schema: the tables of the PEC column list (docs/pec-schema.md), verbatim ("name type", in
# column order; "PK" = primary key, "(FK)" = references a dimension, no constraint as in the real
# PEC, whose facts are loaded by an ETL).

SCHEMA_COLUMNS: dict[str, str] = {
    # 61 columns
    "tb_fat_atendimento_individual": (
        "co_seq_fat_atd_ind bigint PK, co_dim_municipio bigint(FK), co_dim_tipo_ficha bigint(FK), "
        "co_dim_profissional_1 bigint(FK), co_dim_profissional_2 bigint(FK), co_dim_cbo_1 "
        "bigint(FK), co_dim_cbo_2 bigint(FK), co_dim_unidade_saude_1 bigint(FK), "
        "co_dim_unidade_saude_2 bigint(FK), co_dim_equipe_1 bigint(FK), co_dim_equipe_2 bigint(FK), "
        "co_dim_tempo bigint(FK), co_dim_racionalidade_saude bigint(FK), nu_uuid_ficha varchar(92), "
        "nu_atendimento integer, nu_cns varchar(15), dt_nascimento date, co_dim_faixa_etaria "
        "bigint(FK), co_dim_sexo bigint(FK), co_dim_turno bigint(FK), co_dim_local_atendimento "
        "bigint(FK), co_dim_tipo_atendimento bigint(FK), nu_peso double precision, nu_altura double "
        "precision, nu_perimetro_cefalico double precision, st_vacinacao_em_dia integer, "
        "co_dim_aleitamento bigint(FK), co_dim_tempo_dum bigint(FK), st_gravidez_planejada integer, "
        "nu_idade_gestacional_semanas integer, nu_gestas_previas integer, nu_partos integer, "
        "co_dim_modalidade_ad bigint(FK), st_ficou_em_observacao integer, "
        "st_nasf_avaliacao_diagnostico integer, st_nasf_proce_clin_terapeutico integer, "
        "st_nasf_prescricao_terapeutica integer, st_conduta_consulta_agendada integer, "
        "st_conduta_cuidd_conti_program integer, st_conduta_agendamento_grupos integer, "
        "st_conduta_agendamento_nasf integer, st_conduta_alta_episodio integer, "
        "st_encaminhamento_interno_dia integer, st_encaminhamento_serv_special integer, "
        "st_encaminhamento_caps integer, st_encaminhamento_intern_hospi integer, "
        "st_encaminhamento_urgencia integer, st_encaminhamento_servico_ad integer, "
        "st_encaminhamento_intersetoria integer, ds_filtro_cids varchar(4000), ds_filtro_ciaps "
        "varchar(4000), ds_filtro_proced_avaliados varchar(4000), ds_filtro_proced_solicitados "
        "varchar(4000), nu_prontuario varchar(65), nu_uuid_dado_transp varchar(92), "
        "co_dim_tipo_origem_dado_transp bigint(FK), co_dim_cds_tipo_origem bigint(FK), "
        "co_fat_cidadao_pec bigint(FK), dt_inicial_atendimento timestamp, dt_final_atendimento "
        "timestamp, nu_cpf_cidadao varchar(11)"
    ),
    # 15 columns
    "tb_fat_cidadao_pec": (
        "co_seq_fat_cidadao_pec bigint PK, co_cidadao bigint, nu_cns varchar(15), no_cidadao "
        "varchar(500), no_social_cidadao varchar(500), co_dim_tempo_nascimento bigint, co_dim_sexo "
        "bigint(FK), co_dim_identidade_genero bigint(FK), nu_telefone_celular varchar(100), "
        "st_faleceu integer, st_lookup_etl integer, st_deletar integer, nu_cpf_cidadao varchar(11), "
        "co_dim_unidade_saude_vinc bigint(FK), co_dim_equipe_vinc bigint(FK)"
    ),
    # 34 columns
    "tb_fat_vacinacao": (
        "co_seq_fat_vacinacao bigint PK, co_dim_tipo_ficha bigint(FK), co_dim_municipio bigint(FK), "
        "co_dim_profissional bigint(FK), co_dim_cbo bigint(FK), co_dim_unidade_saude bigint(FK), "
        "co_dim_equipe bigint(FK), co_dim_tempo bigint(FK), co_dim_faixa_etaria bigint(FK), "
        "nu_uuid_ficha varchar(92), co_dim_turno bigint(FK), nu_atendimento integer, nu_prontuario "
        "varchar(30), nu_cns varchar(15), dt_nascimento date, co_dim_sexo bigint(FK), "
        "co_dim_local_atendimento bigint(FK), co_dim_tipo_origem_dado_transp bigint(FK), "
        "st_viajante integer, st_comunicante_hanseniase integer, st_gestante integer, st_puerpera "
        "integer, ds_filtro_imunobiologico varchar(4000), ds_filtro_estrategia_vacinacao "
        "varchar(4000), ds_filtro_dose_imunobiologico varchar(4000), ds_filtro_lote varchar(4000), "
        "ds_filtro_fabricante varchar(4000), nu_uuid_dado_transp varchar(92), "
        "co_dim_cds_tipo_origem bigint(FK), co_fat_cidadao_pec bigint(FK), dt_inicial_atendimento "
        "timestamp, dt_final_atendimento timestamp, nu_cpf_cidadao varchar(11), "
        "ds_filtro_grupo_atendimento varchar(4000)"
    ),
    # 22 columns
    "tb_fat_vacinacao_vacina": (
        "co_seq_fat_vacinacao_vacina bigint PK, co_fat_vacinacao bigint, co_dim_tipo_ficha "
        "bigint(FK), co_dim_municipio bigint(FK), co_dim_profissional bigint(FK), co_dim_cbo "
        "bigint(FK), co_dim_unidade_saude bigint(FK), co_dim_equipe bigint(FK), co_dim_tempo "
        "bigint(FK), nu_uuid_ficha varchar(92), nu_atendimento integer, co_dim_imunobiologico "
        "bigint(FK), co_dim_estrategia_vacinacao bigint(FK), co_dim_dose_imunobiologico bigint(FK), "
        "no_lote varchar(255), no_fabricante varchar(255), nu_uuid_dado_transp varchar(92), "
        "co_dim_tipo_origem_dado_transp bigint(FK), co_dim_cds_tipo_origem bigint(FK), "
        "co_dim_grupo_atendimento bigint(FK), st_registro_anterior integer, "
        "co_dim_tempo_vacina_aplicada bigint(FK)"
    ),
    # 72 columns
    "tb_fat_visita_domiciliar": (
        "co_seq_fat_visita_domiciliar bigint PK, nu_uuid_ficha varchar(92), co_dim_tipo_ficha "
        "bigint(FK), co_dim_municipio bigint(FK), co_dim_profissional bigint(FK), co_dim_cbo "
        "bigint(FK), co_dim_unidade_saude bigint(FK), co_dim_equipe bigint(FK), co_dim_tempo "
        "bigint(FK), co_dim_tipo_imovel bigint(FK), co_dim_turno bigint(FK), co_dim_sexo "
        "bigint(FK), nu_micro_area varchar(3), nu_peso double precision, nu_altura double "
        "precision, nu_cns varchar(15), dt_nascimento date, co_dim_faixa_etaria bigint(FK), "
        "st_visita_compartilhada integer, st_mot_vis_cad_att integer, st_mot_vis_visita_periodica "
        "integer, st_mot_vis_busca_ativa integer, st_mot_vis_acompanhamento integer, "
        "st_mot_vis_egresso_internacao integer, st_mot_vis_ctrl_ambnte_vetor integer, "
        "st_mot_vis_convte_atvidd_cltva integer, st_mot_vis_orintacao_prevncao integer, "
        "st_mot_vis_outros integer, st_busca_ativa_consulta integer, st_busca_ativa_exame integer, "
        "st_busca_ativa_vacina integer, st_busca_ativa_bolsa_familia integer, st_acomp_gestante "
        "integer, st_acomp_puerpera integer, st_acomp_recem_nascido integer, st_acomp_crianca "
        "integer, st_acomp_pessoa_desnutricao integer, st_acomp_pessoa_reabil_deficie integer, "
        "st_acomp_pessoa_hipertensao integer, st_acomp_pessoa_diabetes integer, "
        "st_acomp_pessoa_asma integer, st_acomp_pessoa_dpoc_enfisema integer, "
        "st_acomp_pessoa_cancer integer, st_acomp_pessoa_doenca_cronica integer, "
        "st_acomp_pessoa_hanseniase integer, st_acomp_pessoa_tuberculose integer, "
        "st_acomp_sintomaticos_respirat integer, st_acomp_tabagista integer, "
        "st_acomp_domiciliados_acamados integer, st_acomp_condi_vulnerab_social integer, "
        "st_acomp_condi_bolsa_familia integer, st_acomp_saude_mental integer, "
        "st_acomp_usuario_alcool integer, st_acomp_usuario_outras_drogra integer, "
        "st_ctrl_amb_vet_acao_educativa integer, st_ctrl_amb_vet_imovel_foco integer, "
        "st_ctrl_amb_vet_acao_mecanica integer, st_ctrl_amb_vet_tratamnt_focal integer, "
        "co_dim_desfecho_visita bigint(FK), nu_uuid_dado_transp varchar(92), nu_prontuario "
        "varchar(65), co_dim_tipo_origem_dado_transp bigint(FK), co_dim_cds_tipo_origem bigint(FK), "
        "co_fat_cidadao_pec bigint(FK), nu_cpf_cidadao varchar(11), co_dim_tipo_glicemia "
        "bigint(FK), nu_medicao_pressao_arterial varchar(20), nu_medicao_temperatura varchar(20), "
        "nu_medicao_glicemia varchar(20), nu_latitude double precision, nu_longitude double "
        "precision, co_uuid_origem_fcd varchar(44)"
    ),
    # 6 columns
    "tb_dim_tempo": (
        "co_seq_dim_tempo bigint PK, dt_registro date, nu_dia smallint, nu_mes smallint, nu_ano "
        "integer, ds_dia_semana varchar(100)"
    ),
    # 6 columns
    "tb_dim_municipio": (
        "co_seq_dim_municipio bigint PK, no_municipio varchar(500), co_ibge varchar(10), co_dim_uf "
        "bigint(FK), st_registro_valido integer, ds_filtro varchar(255)"
    ),
    # 6 columns
    "tb_dim_uf": (
        "co_seq_dim_uf bigint PK, no_identificador varchar(10), no_uf varchar(500), sg_uf "
        "varchar(10), co_dim_pais bigint(FK), ds_filtro varchar(255)"
    ),
    # 6 columns
    "tb_dim_unidade_saude": (
        "co_seq_dim_unidade_saude bigint PK, nu_cnes varchar(20), no_unidade_saude varchar(500), "
        "no_bairro varchar(500), st_registro_valido integer, ds_filtro varchar(255)"
    ),
    # 5 columns
    "tb_dim_equipe": (
        "co_seq_dim_equipe bigint PK, nu_ine varchar(20), no_equipe varchar(255), "
        "st_registro_valido integer, ds_filtro varchar(255)"
    ),
    # 5 columns
    "tb_dim_profissional": (
        "co_seq_dim_profissional bigint PK, nu_cns varchar(15), no_profissional varchar(255), "
        "st_registro_valido integer, ds_filtro varchar(255)"
    ),
    # 5 columns
    "tb_dim_cbo": (
        "co_seq_dim_cbo bigint PK, nu_cbo varchar(20), no_cbo varchar(500), st_registro_valido "
        "integer, ds_filtro varchar(255)"
    ),
    # 134 columns
    "tb_fat_cad_individual": (
        "co_seq_fat_cad_individual bigint PK, nu_uuid_ficha varchar(92), nu_uuid_ficha_origem "
        "varchar(92), st_recusa_cadastro integer, nu_cns varchar(15), dt_nascimento date, "
        "st_desconhece_mae integer, co_dim_profissional bigint(FK), co_dim_tipo_ficha bigint(FK), "
        "co_dim_municipio bigint(FK), co_dim_unidade_saude bigint(FK), co_dim_equipe bigint(FK), "
        "co_dim_tempo bigint(FK), co_dim_tempo_validade bigint(FK), co_dim_tempo_validade_recusa "
        "bigint(FK), co_dim_sexo bigint(FK), co_dim_raca_cor bigint(FK), co_dim_nacionalidade "
        "bigint(FK), co_dim_pais_nascimento bigint(FK), co_dim_municipio_cidadao bigint(FK), "
        "nu_cns_responsavel varchar(15), st_responsavel_familiar integer, st_frequenta_creche "
        "integer, st_frequenta_cuidador integer, st_participa_grupo_comunitario integer, "
        "st_plano_saude_privado integer, st_comunidade_tradicional integer, st_deficiencia integer, "
        "st_defi_auditiva integer, st_defi_intelectual_cognitiva integer, st_defi_outra integer, "
        "st_defi_visual integer, st_defi_fisica integer, st_gestante integer, "
        "st_doenca_respiratoria integer, st_doenca_respira_asma integer, "
        "st_doenca_respira_dpoc_enfisem integer, st_doenca_respira_outra integer, "
        "st_doenca_respira_n_sabe integer, st_fumante integer, st_alcool integer, st_outra_droga "
        "integer, st_hipertensao_arterial integer, st_diabete integer, st_avc integer, st_infarto "
        "integer, st_hanseniase integer, st_tuberculose integer, st_cancer integer, "
        "st_internacao_12 integer, st_tratamento_psiquiatra integer, st_acamado integer, "
        "st_domiciliado integer, st_usa_planta_medicinal integer, st_doenca_cardiaca integer, "
        "st_doenca_card_insuficiencia integer, st_doenca_card_outro integer, st_doenca_card_n_sabe "
        "integer, st_problema_rins integer, st_problema_rins_insuficiencia integer, "
        "st_problema_rins_outro integer, st_problema_rins_nao_sabe integer, st_pic integer, "
        "st_morador_rua integer, st_recebe_beneficio integer, st_referencia_familiar integer, "
        "co_dim_frequencia_alimentacao bigint(FK), st_orig_alimen_restaurante_pop integer, "
        "st_orig_alimen_doacao_reli integer, st_orig_alimen_doacao_rest integer, "
        "st_orig_alimen_doacao_popular integer, st_orig_alimen_outros integer, "
        "st_acompanhado_instituicao integer, st_visita_familiar_frequente integer, "
        "st_higiene_pessoal_acesso integer, st_hig_pess_banho integer, st_hig_pess_sanitario "
        "integer, st_hig_pess_higiene_bucal integer, st_hig_pess_outros integer, "
        "co_dim_tipo_parentesco bigint(FK), co_dim_cbo bigint(FK), co_dim_tipo_escolaridade "
        "bigint(FK), co_dim_situacao_trabalho bigint(FK), co_dim_tipo_orientacao_sexual bigint(FK), "
        "co_dim_tipo_saida_cadastro bigint(FK), co_dim_tipo_condicao_peso bigint(FK), "
        "co_dim_tempo_morador_rua bigint(FK), co_dim_etnia bigint(FK), co_dim_cbo_cidadao "
        "bigint(FK), co_dim_identidade_genero bigint(FK), co_dim_faixa_etaria bigint(FK), "
        "st_desconhece_pai integer, st_informar_orientacao_sexual integer, "
        "st_informar_identidade_genero integer, dt_naturalizacao date, dt_entrada_brasil date, "
        "dt_obito date, st_respons_crianca_adulto_resp integer, st_respons_crianca_outra_crian "
        "integer, st_respons_crianca_adolescente integer, st_respons_crianca_sozinha integer, "
        "st_respons_crianca_creche integer, st_respons_crianca_outro integer, nu_micro_area "
        "varchar(3), st_processo_linha_tempo integer, st_processo_cidadao integer, no_nome "
        "varchar(500), no_nome_social varchar(500), no_nome_mae varchar(500), no_nome_pai "
        "varchar(500), nu_nis varchar(32), nu_portaria_naturalizacao varchar(65), nu_celular "
        "varchar(33), no_email varchar(500), nu_obito_do varchar(32), no_maternidade_referencia "
        "varchar(500), no_causa_internacao12 varchar(500), no_plantas_medicinais varchar(500), "
        "no_outra_condicao1 varchar(500), no_outra_condicao2 varchar(500), no_outra_condicao3 "
        "varchar(500), no_acompanhado_instituicao varchar(500), no_visita_familiar_parentesco "
        "varchar(500), nu_uuid_dado_transp varchar(92), co_dim_tipo_origem_dado_transp bigint(FK), "
        "co_dim_cds_tipo_origem bigint(FK), st_gerado_automaticamente integer, st_ficha_inativa "
        "integer, co_fat_cidadao_pec bigint(FK), co_fat_cidadao_pec_responsvl bigint(FK), "
        "st_proc_operacionais integer, nu_cpf_cidadao varchar(11), nu_cpf_responsavel varchar(11), "
        "co_dim_povo_comunidad_trad bigint(FK)"
    ),
}

#: dimensions the facts reference that the documentation does not list (minimal columns, same style)
EXTRA_DIMENSIONS: dict[str, str] = {
    "tb_dim_imunobiologico": (
        "co_seq_dim_imunobiologico bigint PK, nu_identificador varchar(20), "
        "sg_imunobiologico varchar(100), no_imunobiologico varchar(500)"
    ),
    "tb_dim_dose_imunobiologico": (
        "co_seq_dim_dose_imunobiologico bigint PK, no_dose_imunobiologico varchar(500)"
    ),
    "tb_dim_sexo": "co_seq_dim_sexo bigint PK, ds_sexo varchar(100)",
    "tb_dim_desfecho_visita": "co_seq_dim_desfecho_visita bigint PK, ds_desfecho_visita varchar(100)",
}

#: fact tables whose primary key comes from a sequence (seq_<table>), increasing with insertion
FACT_TABLES = (
    "tb_fat_cidadao_pec",
    "tb_fat_cad_individual",
    "tb_fat_atendimento_individual",
    "tb_fat_vacinacao",
    "tb_fat_vacinacao_vacina",
    "tb_fat_visita_domiciliar",
)

# --------------------------------------------------------------------------------------------
# municipalities: the fixed selection behind `create --n N`

#: the 27 capitals by 2022 census population (IBGE codes), then every other municipality by code
CAPITAIS_POR_POPULACAO = (
    "3550308",  # São Paulo
    "3304557",  # Rio de Janeiro
    "5300108",  # Brasília
    "2304400",  # Fortaleza
    "2927408",  # Salvador
    "3106200",  # Belo Horizonte
    "1302603",  # Manaus
    "4106902",  # Curitiba
    "2611606",  # Recife
    "5208707",  # Goiânia
    "4314902",  # Porto Alegre
    "1501402",  # Belém
    "2111300",  # São Luís
    "2704302",  # Maceió
    "5002704",  # Campo Grande
    "2211001",  # Teresina
    "2507507",  # João Pessoa
    "2408102",  # Natal
    "5103403",  # Cuiabá
    "2800308",  # Aracaju
    "4205407",  # Florianópolis
    "1100205",  # Porto Velho
    "1600303",  # Macapá
    "1400100",  # Boa Vista
    "1200401",  # Rio Branco
    "3205309",  # Vitória
    "1721000",  # Palmas
)

# --------------------------------------------------------------------------------------------
# dimensions

DIAS_SEMANA = (
    "Segunda-feira",
    "Terça-feira",
    "Quarta-feira",
    "Quinta-feira",
    "Sexta-feira",
    "Sábado",
    "Domingo",
)

SEXOS = ((1, "Masculino"), (2, "Feminino"), (3, "Indeterminado"), (4, "Não informado"))
MASCULINO, FEMININO = 1, 2

DESFECHOS_VISITA = ((1, "Visita realizada"), (2, "Visita recusada"), (3, "Ausente"))
REALIZADA, RECUSADA, AUSENTE = 1, 2, 3

#: (code, title) of the occupations of a family-health team (CBO 2002)
CBOS = (
    ("225142", "Médico da estratégia de saúde da família"),
    ("223565", "Enfermeiro da estratégia de saúde da família"),
    ("322245", "Técnico de enfermagem de saúde da família"),
    ("515105", "Agente comunitário de saúde"),
    ("223293", "Cirurgião-dentista da estratégia de saúde da família"),
    ("322430", "Auxiliar em saúde bucal da estratégia de saúde da família"),
)
MEDICO, ENFERMEIRO, TECNICO, ACS, DENTISTA, ASB = (c for c, _ in CBOS)

#: doses (tb_dim_dose_imunobiologico), ids 1..n in this order
DOSES = (
    "1ª Dose",
    "2ª Dose",
    "3ª Dose",
    "Reforço",
    "1º Reforço",
    "2º Reforço",
    "Dose única",
    "Dose",
    "Dose inicial",
)

#: vaccines (tb_dim_imunobiologico, ids 1..n in this order): acronym, name, an identifier in the
#: style of the SI-PNI codes (illustrative, not guaranteed official), manufacturers
VACINAS = (
    ("BCG", "Vacina BCG", "15", ("FUNDACAO ATAULPHO DE PAIVA", "SERUM INSTITUTE OF INDIA")),
    ("HB", "Vacina hepatite B (recombinante)", "9", ("INSTITUTO BUTANTAN", "SERUM INSTITUTE OF INDIA")),
    (
        "Penta",
        "Vacina adsorvida difteria, tétano, pertussis, hepatite B (recombinante) e "
        "Haemophilus influenzae B (conjugada) - Pentavalente",
        "42",
        ("SERUM INSTITUTE OF INDIA", "BIOLOGICAL E"),
    ),
    (
        "VIP",
        "Vacina poliomielite 1, 2 e 3 (inativada) - VIP",
        "22",
        ("SANOFI PASTEUR", "SERUM INSTITUTE OF INDIA"),
    ),
    (
        "VPC10",
        "Vacina pneumocócica 10-valente (conjugada) - Pneumocócica 10V",
        "26",
        ("FIOCRUZ/BIO-MANGUINHOS",),
    ),
    ("VRH", "Vacina rotavírus humano G1P1[8] (atenuada) - Rotavírus", "17", ("FIOCRUZ/BIO-MANGUINHOS",)),
    (
        "MenC",
        "Vacina meningocócica C (conjugada) - Meningocócica C",
        "27",
        ("FUNED", "FIOCRUZ/BIO-MANGUINHOS"),
    ),
    ("FA", "Vacina febre amarela (atenuada)", "21", ("FIOCRUZ/BIO-MANGUINHOS",)),
    (
        "SCR",
        "Vacina sarampo, caxumba, rubéola - Tríplice Viral",
        "24",
        ("FIOCRUZ/BIO-MANGUINHOS", "SERUM INSTITUTE OF INDIA"),
    ),
    (
        "DTP",
        "Vacina adsorvida difteria, tétano e pertussis - DTP",
        "46",
        ("SERUM INSTITUTE OF INDIA", "INSTITUTO BUTANTAN"),
    ),
    (
        "INF",
        "Vacina influenza trivalente (fragmentada, inativada) - Influenza",
        "33",
        ("INSTITUTO BUTANTAN",),
    ),
    ("COVID-19", "Vacina COVID-19 - RNAm (Comirnaty)", "87", ("PFIZER",)),
    (
        "dT",
        "Vacina adsorvida difteria e tétano adulto - dT",
        "25",
        ("SERUM INSTITUTE OF INDIA", "INSTITUTO BUTANTAN"),
    ),
    (
        "HPV4",
        "Vacina papilomavírus humano 6, 11, 16 e 18 (recombinante) - HPV4",
        "67",
        ("INSTITUTO BUTANTAN", "MSD"),
    ),
    ("HA", "Vacina hepatite A (inativada) - Hepatite A", "88", ("MSD",)),
    ("VZ", "Vacina varicela (atenuada)", "23", ("MSD", "GSK")),
)

#: childhood calendar (simplified Calendário Nacional de Vacinação): age in months -> (vaccine, dose)
CALENDARIO_CRIANCA = (
    (0, (("BCG", "Dose única"), ("HB", "Dose"))),
    (2, (("Penta", "1ª Dose"), ("VIP", "1ª Dose"), ("VPC10", "1ª Dose"), ("VRH", "1ª Dose"))),
    (3, (("MenC", "1ª Dose"),)),
    (4, (("Penta", "2ª Dose"), ("VIP", "2ª Dose"), ("VPC10", "2ª Dose"), ("VRH", "2ª Dose"))),
    (5, (("MenC", "2ª Dose"),)),
    (6, (("Penta", "3ª Dose"), ("VIP", "3ª Dose"))),
    (9, (("FA", "Dose inicial"),)),
    (12, (("VPC10", "Reforço"), ("MenC", "Reforço"), ("SCR", "1ª Dose"))),
    (15, (("DTP", "1º Reforço"), ("VIP", "Reforço"), ("HA", "Dose única"), ("SCR", "2ª Dose"))),
    (48, (("DTP", "2º Reforço"), ("FA", "Reforço"), ("VZ", "2ª Dose"))),
)

#: vaccines outside the childhood calendar: (vaccine, dose, min age, max age) in years
VACINAS_ADOLESCENTE_ADULTO = (
    ("HPV4", "Dose única", 9, 14),
    ("dT", "Reforço", 15, 110),
    ("HB", "1ª Dose", 15, 110),
    ("HB", "2ª Dose", 15, 110),
    ("HB", "3ª Dose", 15, 110),
    ("SCR", "1ª Dose", 15, 59),
    ("FA", "Dose única", 15, 59),
    ("COVID-19", "Reforço", 5, 110),
)

ESTRATEGIA_ROTINA, ESTRATEGIA_CAMPANHA = 1, 2

# --------------------------------------------------------------------------------------------
# clinical vocabularies (real public codes)

#: (CID-10 without dot, CIAP-2, weight) of frequent primary-care reasons for an adult visit
MOTIVOS_ADULTO = (
    ("I10", "K86", 18),
    ("E119", "T90", 9),
    ("Z000", "A30", 12),
    ("J069", "R74", 8),
    ("M545", "L03", 6),
    ("F411", "P74", 4),
    ("K297", "D07", 3),
    ("N390", "U71", 3),
    ("R51", "N01", 3),
    ("E785", "T93", 3),
    ("J459", "R96", 2),
    ("B349", "A77", 3),
    ("Z304", "W14", 3),
    ("L309", "S88", 2),
    ("E669", "T82", 2),
    ("F329", "P76", 2),
)
MOTIVOS_CRIANCA = (
    ("Z001", "A98", 20),
    ("J069", "R74", 10),
    ("A09", "D11", 5),
    ("B349", "A77", 5),
    ("J459", "R96", 2),
    ("L209", "S87", 2),
    ("H669", "H71", 3),
    ("B86", "S72", 1),
)
CID_PRE_NATAL = ("Z348", "W78")

#: SIGTAP procedures: consulta médica / de nível superior em atenção básica, aferição de PA,
#: glicemia capilar, antropometria, visita domiciliar
PROC_CONSULTA_MEDICA = "0301010064"
PROC_CONSULTA_NIVEL_SUPERIOR = "0301010030"
PROC_AFERICAO_PA = "0101040024"
PROC_GLICEMIA_CAPILAR = "0214010015"
PROC_ANTROPOMETRIA = "0101040083"

# --------------------------------------------------------------------------------------------
# names

NOMES_FEMININOS = (
    "Maria",
    "Ana",
    "Francisca",
    "Antônia",
    "Adriana",
    "Juliana",
    "Márcia",
    "Fernanda",
    "Patrícia",
    "Aline",
    "Sandra",
    "Camila",
    "Amanda",
    "Bruna",
    "Jéssica",
    "Letícia",
    "Júlia",
    "Luciana",
    "Vanessa",
    "Mariana",
    "Gabriela",
    "Vera",
    "Vitória",
    "Larissa",
    "Cláudia",
    "Beatriz",
    "Rita",
    "Luana",
    "Sônia",
    "Renata",
    "Eliane",
    "Josefa",
    "Raimunda",
    "Débora",
    "Helena",
    "Alice",
    "Laura",
    "Valentina",
    "Sophia",
    "Isabela",
    "Manuela",
    "Cecília",
    "Lívia",
    "Heloísa",
    "Lorena",
    "Rafaela",
    "Tatiane",
    "Simone",
    "Daniela",
    "Carolina",
    "Natália",
    "Priscila",
    "Cristiane",
    "Kátia",
    "Regina",
    "Terezinha",
    "Luzia",
    "Aparecida",
    "Rosângela",
    "Eduarda",
)
NOMES_MASCULINOS = (
    "José",
    "João",
    "Antônio",
    "Francisco",
    "Carlos",
    "Paulo",
    "Pedro",
    "Lucas",
    "Luiz",
    "Marcos",
    "Luis",
    "Gabriel",
    "Rafael",
    "Daniel",
    "Marcelo",
    "Bruno",
    "Eduardo",
    "Felipe",
    "Raimundo",
    "Rodrigo",
    "Manoel",
    "Mateus",
    "André",
    "Fernando",
    "Fábio",
    "Leonardo",
    "Gustavo",
    "Guilherme",
    "Leandro",
    "Tiago",
    "Anderson",
    "Ricardo",
    "Márcio",
    "Jorge",
    "Sebastião",
    "Alexandre",
    "Roberto",
    "Edson",
    "Diego",
    "Vitor",
    "Sérgio",
    "Cláudio",
    "Matheus",
    "Thiago",
    "Geraldo",
    "Adriano",
    "Luciano",
    "Júlio",
    "Renato",
    "Miguel",
    "Arthur",
    "Heitor",
    "Davi",
    "Bernardo",
    "Samuel",
    "Enzo",
    "Benjamin",
    "Théo",
    "Henrique",
    "Joaquim",
)
SEGUNDOS_NOMES_FEMININOS = (
    "Aparecida",
    "de Fátima",
    "das Graças",
    "José",
    "Eduarda",
    "Clara",
    "Luiza",
    "Vitória",
    "Cristina",
    "Helena",
    "Júlia",
    "Beatriz",
)
SEGUNDOS_NOMES_MASCULINOS = (
    "Carlos",
    "Henrique",
    "Eduardo",
    "Augusto",
    "Gabriel",
    "Miguel",
    "Lucas",
    "Antônio",
    "Paulo",
    "Vinícius",
    "Felipe",
    "Luiz",
)
SOBRENOMES = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Pinto",
    "Moura",
    "Cavalcanti",
    "Monteiro",
    "Batista",
    "Correia",
    "Barros",
    "Campos",
    "Cunha",
    "Farias",
    "Melo",
    "Castro",
    "Bezerra",
    "Nogueira",
    "Sousa",
    "Reis",
    "Xavier",
    "Pires",
    "Conceição",
    "Borges",
    "Miranda",
    "Brito",
    "Macedo",
    "Tavares",
)
PARTICULAS = ("da", "de", "dos", "do")

BAIRROS = (
    "Centro",
    "Jardim América",
    "Vila Nova",
    "São José",
    "Santa Luzia",
    "Boa Vista",
    "Nossa Senhora Aparecida",
    "Planalto",
    "Bela Vista",
    "Alto Alegre",
    "Jardim das Flores",
    "Industrial",
    "São Francisco",
    "Santo Antônio",
    "Cidade Nova",
    "Primavera",
    "Esperança",
    "Novo Horizonte",
    "Conjunto Habitacional",
    "Parque das Árvores",
    "Vila Operária",
    "Jardim Europa",
    "Bom Jesus",
    "Santa Rita",
    "Redenção",
    "Monte Castelo",
    "Santa Cruz",
    "Vila Rica",
)
PREFIXOS_UNIDADE = ("UBS", "USF", "UNIDADE BASICA DE SAUDE", "UNIDADE DE SAUDE DA FAMILIA", "CENTRO DE SAUDE")

PLANTAS_MEDICINAIS = ("BOLDO", "CAPIM-SANTO", "ERVA-CIDREIRA", "CAMOMILA", "HORTELA", "BABOSA")
CAUSAS_INTERNACAO = (
    "PNEUMONIA",
    "CIRURGIA ELETIVA",
    "CRISE HIPERTENSIVA",
    "FRATURA",
    "INFECCAO URINARIA",
    "DENGUE",
)

#: the particle that usually precedes a surname ("Maria DA Silva", "José DOS Santos")
PARTICULA_SOBRENOME = {
    "Silva": "da",
    "Santos": "dos",
    "Souza": "de",
    "Sousa": "de",
    "Oliveira": "de",
    "Nascimento": "do",
    "Conceição": "da",
    "Costa": "da",
    "Cunha": "da",
    "Rocha": "da",
    "Paula": "de",
    "Jesus": "de",
}

#: SIGTAP laboratory exams requested in chronic-disease follow-up: glicose, colesterol total,
#: hemograma, EAS (urina tipo 1), creatinina
EXAMES_SOLICITADOS = ("0202010473", "0202010295", "0202020380", "0202050017", "0202010317")

# --------------------------------------------------------------------------------------------
# codes of PEC dimensions that the emulator does not create (plausible, not official ids)

TIPO_FICHA = {"cad_individual": 2, "atendimento_individual": 4, "visita_domiciliar": 8, "vacinacao": 14}
TIPO_ORIGEM_PEC, TIPO_ORIGEM_CDS_OFFLINE, TIPO_ORIGEM_APP_TERRITORIO = 1, 2, 3
TURNO_MANHA, TURNO_TARDE, TURNO_NOITE = 1, 2, 3
LOCAL_UBS, LOCAL_DOMICILIO = 1, 4
#: tipo de atendimento: consulta agendada programada / cuidado continuado, consulta agendada,
#: demanda espontânea (consulta no dia), atendimento de urgência
TIPOS_ATENDIMENTO = ((1, 35), (2, 30), (4, 30), (5, 5))
#: raça/cor: branca, preta, parda, amarela, indígena (weights ~ Censo 2022)
RACAS_COR = ((1, 43.5), (2, 10.2), (3, 45.3), (4, 0.4), (5, 0.6))
#: escolaridade (1 = creche ... 15 = superior) and situação no mercado de trabalho codes
ESCOLARIDADES = tuple(range(1, 16))
SITUACOES_TRABALHO = ((1, 30), (2, 12), (3, 10), (4, 8), (5, 15), (6, 20), (7, 5))
#: tipo de parentesco com o responsável familiar: cônjuge, filho(a), pai/mãe, neto(a), outro
PARENTESCO_FILHO, PARENTESCOS_ADULTO = 3, (2, 4, 5, 9)
TIPO_IMOVEL_DOMICILIO = 1
#: faixa etária: lower bounds (years) of the bands, code = position + 1
FAIXAS_ETARIAS = (0, 1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80)
#: age pyramid for registered people: (min age, max age, weight), roughly Censo 2022
PIRAMIDE_ETARIA = (
    (0, 4, 6.0),
    (5, 14, 13.0),
    (15, 29, 22.0),
    (30, 44, 23.0),
    (45, 59, 19.0),
    (60, 74, 12.0),
    (75, 95, 5.0),
)
#: Receita Federal fiscal region (9th CPF digit) of each UF
REGIAO_FISCAL_CPF = {
    "RS": 0,
    "DF": 1,
    "GO": 1,
    "MS": 1,
    "MT": 1,
    "TO": 1,
    "AC": 2,
    "AM": 2,
    "AP": 2,
    "PA": 2,
    "RO": 2,
    "RR": 2,
    "CE": 3,
    "MA": 3,
    "PI": 3,
    "AL": 4,
    "PB": 4,
    "PE": 4,
    "RN": 4,
    "BA": 5,
    "SE": 5,
    "MG": 6,
    "ES": 7,
    "RJ": 7,
    "SP": 8,
    "PR": 9,
    "SC": 9,
}
