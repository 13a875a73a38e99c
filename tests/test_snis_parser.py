"""SNIS export parser: real file, encodings, quarantine rules and unparseable files (no server)."""

import hashlib
from decimal import Decimal

import pytest

from mirante.loaders.snis import parser
from mirante.loaders.snis.parser import SnisFormatError, detect_encoding, parse_export

from .helpers import SNIS_FULL, SNIS_SAMPLE, snis_text, write_export


def _lines():
    return snis_text().split("\r\n") if "\r\n" in snis_text() else snis_text().split("\n")


def _corrupt(tmp_path, line_no: int, col: int, value: str, name="agregado_2021.csv"):
    """Copy of the real export with field `col` of line `line_no` (1-based) replaced."""
    lines = _lines()
    fields = lines[line_no - 1].split(";")
    raw = fields[col]
    fields[col] = value
    lines[line_no - 1] = ";".join(fields)
    return write_export(tmp_path / name, "\n".join(lines)), raw


def test_real_export_parses_whole_and_reconciles_exactly():
    p = parse_export(SNIS_FULL)
    assert p.encoding == "utf-16-le"
    assert p.ano == 2021
    assert p.rows_loaded == 1871 and p.quarantine == []
    assert len(p.columns) == 229 and len(p.decimal_columns) == 219
    assert p.new_columns == [] and p.missing_columns == []
    rec = p.reconciliation()
    assert len(rec) == 139
    assert all(r["status"] == "ok" and r["diferenca"] == 0 for r in rec)
    ag001 = next(r for r in rec if r["coluna"] == "ag001")
    assert ag001["valor_rodape"] == Decimal("176972501")


def test_values_are_exact_decimals_with_line_numbers():
    p = parse_export(SNIS_FULL)
    first = p.chunks[0].slice(0, 1).to_pylist()[0]
    assert first["codigo_municipio"] == "120013" and first["_line_number"] == 2
    assert first["g06a"] == Decimal("4609.00")  # '4.609' with '.' as thousands separator
    assert first["in055"] is None or isinstance(first["in055"], Decimal)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16-le", "utf-16", "utf-8-sig"])
def test_same_layout_in_other_encodings(tmp_path, encoding):
    path = write_export(tmp_path / "agregado_2021.csv", snis_text(SNIS_SAMPLE), encoding)
    p = parse_export(path)
    assert p.encoding == encoding
    assert p.rows_loaded == 31
    assert (
        p.chunks[0]["municipio"].to_pylist()[0]
        == parse_export(SNIS_SAMPLE).chunks[0]["municipio"].to_pylist()[0]
    )


def test_detect_encoding():
    assert detect_encoding("Código;x".encode("utf-16-le")) == "utf-16-le"
    assert detect_encoding("Código;x".encode()) == "utf-8"
    assert detect_encoding("Código;x".encode("latin-1")) == "latin-1"


def test_non_numeric_value_is_quarantined_and_the_rest_loads(tmp_path):
    path, _ = _corrupt(tmp_path, 10, 40, "12a,5")
    p = parse_export(path)
    assert p.rows_loaded == 1870
    [q] = p.quarantine
    assert (q.linha, q.coluna, q.valor_bruto) == (10, p.columns[40], "12a,5")
    assert "not a number" in q.motivo
    assert q.linha_bruta.split(";")[40] == "12a,5"


def test_wrong_column_count_is_quarantined(tmp_path):
    lines = _lines()
    lines[4] = ";".join(lines[4].split(";")[:100])
    p = parse_export(write_export(tmp_path / "agregado_2021.csv", "\n".join(lines)))
    assert p.rows_loaded == 1870
    [q] = p.quarantine
    assert q.linha == 5 and q.coluna is None and "wrong column count: 100 instead of 229" in q.motivo


@pytest.mark.parametrize(
    "value, reason",
    [
        ("12345", "invalid municipality code"),
        ("990013", "invalid municipality code"),
        ("12001A", "invalid municipality code"),
    ],
)
def test_invalid_municipality_code_is_quarantined(tmp_path, value, reason):
    path, _ = _corrupt(tmp_path, 3, 0, value)
    p = parse_export(path)
    assert [(q.linha, q.coluna, q.valor_bruto) for q in p.quarantine] == [(3, "codigo_municipio", value)]
    assert reason in p.quarantine[0].motivo
    assert p.rows_loaded == 1870


def test_year_other_than_the_files_is_quarantined(tmp_path):
    path, _ = _corrupt(tmp_path, 7, 3, "2020")
    p = parse_export(path)
    assert [(q.linha, q.coluna, q.valor_bruto) for q in p.quarantine] == [(7, "ano_referencia", "2020")]
    assert "not the file's year 2021" in p.quarantine[0].motivo


def test_quarantined_row_shows_in_reconciliation(tmp_path):
    col = parse_export(SNIS_SAMPLE).columns.index("ag001")
    line_no, raw = next(
        (i + 1, line.split(";")[col])
        for i, line in enumerate(_lines()[1:-1], start=1)
        if line.split(";")[col] not in ("", "0")
    )
    value = Decimal(raw.replace(".", "").replace(",", "."))
    path, _ = _corrupt(tmp_path, line_no, col, "n/d")
    rec = {r["coluna"]: r for r in parse_export(path).reconciliation()}
    assert rec["ag001"]["status"] == "divergente"
    assert rec["ag001"]["diferenca"] == -value
    assert rec["ag001"]["linhas_quarentena"] == 1


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda t: t.encode("utf-16-le")[: len(t.encode("utf-16-le")) // 2], "truncated"),
        (lambda t: "\n".join(t.split("\n")[1:]).encode("utf-16-le"), "header not recognised"),
        (lambda t: t.encode("cp037"), "header not recognised"),  # EBCDIC: a wrong encoding
        (lambda t: b"", "empty"),
    ],
)
def test_unparseable_file_fails_with_the_file_name(tmp_path, mangle, message):
    path = tmp_path / "agregado_2021_broken.csv"
    path.write_bytes(mangle(snis_text(SNIS_SAMPLE)))
    with pytest.raises(SnisFormatError, match=message) as err:
        parse_export(path)
    assert "agregado_2021_broken.csv" in str(err.value)


def _summary(p):
    return (
        p.rows_loaded,
        p.lines_read,
        p.sha256,
        p.sums,
        [(q.linha, q.coluna, q.valor_bruto, q.motivo) for q in p.quarantine],
    )


def test_small_batches_and_small_reads_give_the_same_result(tmp_path, monkeypatch):
    # a duplicate provider code far from the first one (another batch), a non-number, CRLF endings
    lines = _lines()
    dup = lines[1500].split(";")
    dup[4] = lines[3].split(";")[4]
    lines[1500] = ";".join(dup)
    bad = lines[20].split(";")
    bad[40] = "x"
    lines[20] = ";".join(bad)
    path = write_export(tmp_path / "agregado_2021.csv", "\r\n".join(lines) + "\r\n")
    whole = parse_export(path, chunk_lines=10_000)
    # reads of 4,099 bytes split lines, UTF-16 code units and '\r\n' pairs at every place
    monkeypatch.setattr(parser, "_READ_BYTES", 4099)
    small = parse_export(path, chunk_lines=97)
    assert len(small.chunks) > 10
    assert _summary(small) == _summary(whole)
    assert small.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert whole.rows_loaded == 1869 and whole.lines_read == 1871
    assert [(q.linha, q.coluna) for q in whole.quarantine] == [
        (21, whole.columns[40]),
        (1501, "codigo_prestador"),
    ]
    assert "duplicate provider code" in whole.quarantine[1].motivo

    def rows(p):
        return [
            (r["_line_number"], r["codigo_prestador"], r["ag001"])
            for c in p.chunks
            for r in c.select(["_line_number", "codigo_prestador", "ag001"]).to_pylist()
        ]

    assert rows(small) == rows(whole)
    assert rows(whole)[:2] == [
        (2, rows(whole)[0][1], rows(whole)[0][2]),
        (3, rows(whole)[1][1], rows(whole)[1][2]),
    ]


def test_whole_file_checks_read_only_the_head_and_the_tail(tmp_path):
    # a truncated ~56,000-line file (115 MB) is rejected when opened, before any row is parsed
    lines = [ln for ln in _lines() if ln.strip()]
    path = tmp_path / "agregado_2021_big.csv"
    with path.open("wb") as fh:
        fh.write((lines[0] + "\n").encode("utf-16-le"))
        for k in range(30):
            block = []
            for line in lines[1:-1]:
                f = line.split(";")
                f[4] = f"{k + 1}{f[4]}"  # a provider code of its own in every copy
                block.append(";".join(f))
            fh.write(("\n".join(block) + "\n").encode("utf-16-le"))
    with pytest.raises(SnisFormatError, match="agregado_2021_big.csv: no 'TOTAL da AMOSTRA:' footer line"):
        parser.open_export(path)
    with path.open("ab") as fh:
        fh.write((lines[-1] + "\n").encode("utf-16-le"))
    stream = parser.open_export(path, chunk_lines=20_000)
    assert stream._lines._offset < path.stat().st_size / 5
    assert stream.summary.ano == 2021 and stream.summary.rows_loaded == 0
    sizes = [b.num_rows for b in stream.batches()]
    assert sizes == [20_000, 20_000, 30 * 1871 - 40_000]
    assert stream.complete and stream.summary.lines_read == 30 * 1871


def test_bytes_that_stop_decoding_mid_file_fail_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setattr(parser, "_READ_BYTES", 65536)  # as if the file were larger than a read
    lines = [ln for ln in _lines() if ln.strip()]
    data = bytearray("\n".join(lines).encode("utf-8"))
    at = len("\n".join(lines[:1500]).encode("utf-8")) + 5  # far past the bytes read to open it
    data[at] = 0xFF
    path = tmp_path / "agregado_2021_utf8.csv"
    path.write_bytes(bytes(data))
    stream = parser.open_export(path, chunk_lines=100)
    assert stream.summary.encoding == "utf-8"
    batches = stream.batches()
    assert next(batches).num_rows == 100
    with pytest.raises(SnisFormatError, match=f"agregado_2021_utf8.csv: not valid utf-8 text at byte {at}"):
        list(batches)
    assert not stream.complete
