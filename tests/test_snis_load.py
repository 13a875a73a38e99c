"""SNIS loader against the real PostgreSQL: idempotent merge, overlap, quarantine, failed files."""

import psycopg
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from mirante.loaders.snis import LOADER_FILE_FORMAT, snis_source
from mirante.loaders.snis.parser import load_layout
from mirante.pipelines import make_pipeline

from .helpers import SNIS_FULL, SNIS_SAMPLE, snis_text, write_export


def load(server, directory, files=None):
    pipeline = make_pipeline("snis_test", "raw_snis", server)
    return pipeline.run(
        snis_source(directory=str(directory), files=files), loader_file_format=LOADER_FILE_FORMAT
    )


def q(server, sql, *params):
    with psycopg.connect(server.url("transformer")) as conn:
        return conn.execute(sql, params).fetchall()


def fingerprint(server):
    return q(
        server,
        "select count(*), sum(ag001), sum(in055), count(distinct codigo_prestador) "
        "from raw_snis.agua_esgoto_agregado",
    )[0]


@pytest.mark.integration
def test_reload_and_overlapping_sample_create_no_duplicates(raw_snis, tmp_path):
    load(raw_snis, SNIS_FULL.parent, [SNIS_FULL.name])
    first = fingerprint(raw_snis)
    assert first[0] == 1871 and first[3] == 1871
    load(raw_snis, SNIS_FULL.parent, [SNIS_FULL.name])
    load(raw_snis, SNIS_SAMPLE.parent, [SNIS_SAMPLE.name])
    assert fingerprint(raw_snis) == first
    # the sample's rows are the same providers: they now point at the sample file, values unchanged
    assert q(
        raw_snis, "select count(*) from raw_snis.agua_esgoto_agregado where _file_name = %s", SNIS_SAMPLE.name
    ) == [(31,)]
    assert q(
        raw_snis,
        "select count(*) from raw_snis.agua_esgoto_agregado where _dlt_load_id is null "
        "or _line_number is null",
    ) == [(0,)]
    full = q(
        raw_snis,
        "select count(*) filter (where status = 'ok'), count(*) from raw_snis.reconciliacao "
        "where arquivo = %s",
        SNIS_FULL.name,
    )
    assert full == [(139, 139)]
    assert q(raw_snis, "select count(*) from raw_snis.arquivos") == [(2,)]


@pytest.mark.integration
def test_malformed_rows_are_quarantined_and_the_rest_loads(raw_snis, tmp_path):
    lines = snis_text(SNIS_SAMPLE).split("\n")
    fields = lines[5].split(";")
    fields[40] = "abc"
    lines[5] = ";".join(fields)
    lines[8] = ";".join(lines[8].split(";")[:50])
    write_export(tmp_path / "agregado_2021_al.csv", "\n".join(lines))
    load(raw_snis, tmp_path)
    assert fingerprint(raw_snis)[0] == 29
    rows = q(
        raw_snis, "select arquivo, linha, coluna, valor_bruto, motivo from raw_snis.quarentena order by linha"
    )
    column_40 = [name for name, _ in load_layout().values()][40]
    assert [(r[1], r[2], r[3]) for r in rows] == [(6, column_40, "abc"), (9, "", None)]
    assert rows[0][0] == "agregado_2021_al.csv" and "not a number" in rows[0][4]
    assert "wrong column count" in rows[1][4]
    # reloading the same file replaces its quarantine rows instead of adding to them
    load(raw_snis, tmp_path)
    assert q(raw_snis, "select count(*) from raw_snis.quarentena") == [(2,)]


@pytest.mark.integration
def test_unparseable_file_fails_naming_it_and_loses_nothing(raw_snis, tmp_path):
    write_export(tmp_path / "agregado_2021_al.csv", snis_text(SNIS_SAMPLE))
    load(raw_snis, tmp_path)
    before = fingerprint(raw_snis)
    truncated = snis_text(SNIS_FULL)
    (tmp_path / "agregado_2021_zz_truncated.csv").write_bytes(
        truncated[: len(truncated) // 3].encode("utf-16-le")
    )
    with pytest.raises(PipelineStepFailed, match="agregado_2021_zz_truncated.csv.*truncated"):
        load(raw_snis, tmp_path)
    assert fingerprint(raw_snis) == before
    # fixed file: the rerun loads everything, once
    (tmp_path / "agregado_2021_zz_truncated.csv").unlink()
    write_export(tmp_path / "agregado_2021_full.csv", snis_text(SNIS_FULL))
    load(raw_snis, tmp_path)
    assert fingerprint(raw_snis)[0] == 1871


@pytest.mark.integration
def test_file_failing_mid_stream_loads_nothing_and_each_file_is_read_once(raw_snis, tmp_path, monkeypatch):
    import collections

    from mirante.loaders.snis import parser

    write_export(tmp_path / "agregado_2021_al.csv", snis_text(SNIS_SAMPLE))
    load(raw_snis, tmp_path)
    before = fingerprint(raw_snis)
    files_before = q(raw_snis, "select arquivo, sha256 from raw_snis.arquivos order by arquivo")
    # a UTF-8 copy of the full export whose bytes stop decoding at line 1,500: by then batches of
    # its rows have been handed to dlt
    text = snis_text(SNIS_FULL).replace("\r\n", "\n")
    data = bytearray(text.encode("utf-8"))
    at = len("\n".join(text.split("\n")[:1500]).encode("utf-8")) + 5
    data[at] = 0xFF
    (tmp_path / "agregado_2021_full.csv").write_bytes(bytes(data))
    monkeypatch.setattr(parser, "_READ_BYTES", 65536)
    handed = collections.Counter()
    batches = parser.ExportStream.batches

    def counted(self):
        for table in batches(self):
            handed[self.path.name] += table.num_rows
            yield table

    monkeypatch.setattr(parser.ExportStream, "batches", counted)
    pipeline = make_pipeline("snis_test", "raw_snis", raw_snis)
    with pytest.raises(PipelineStepFailed, match="agregado_2021_full.csv: not valid utf-8 text at byte"):
        pipeline.run(
            snis_source(directory=str(tmp_path), chunk_lines=100), loader_file_format=LOADER_FILE_FORMAT
        )
    assert handed["agregado_2021_full.csv"] >= 1000  # rows of the bad file were already extracted
    assert fingerprint(raw_snis) == before
    assert q(raw_snis, "select arquivo, sha256 from raw_snis.arquivos order by arquivo") == files_before
    assert not pipeline.list_extracted_load_packages() and not pipeline.list_normalized_load_packages()
    # the fixed file: the rerun loads it once, and reads every file once (the quarantine,
    # reconciliation and file tables wait for the rows instead of reading the files again)
    (tmp_path / "agregado_2021_full.csv").write_bytes(text.encode("utf-8"))
    handed.clear()
    pipeline.run(snis_source(directory=str(tmp_path), chunk_lines=100), loader_file_format=LOADER_FILE_FORMAT)
    assert handed == {"agregado_2021_al.csv": 31, "agregado_2021_full.csv": 1871}
    assert fingerprint(raw_snis)[0] == 1871
    assert q(
        raw_snis,
        "select count(*) filter (where status = 'ok'), count(*) from raw_snis.reconciliacao "
        "where arquivo = 'agregado_2021_full.csv'",
    ) == [(139, 139)]
    import hashlib

    assert q(
        raw_snis,
        "select sha256, linhas_lidas, linhas_carregadas from raw_snis.arquivos "
        "where arquivo = 'agregado_2021_full.csv'",
    ) == [(hashlib.sha256(text.encode("utf-8")).hexdigest(), 1871, 1871)]
