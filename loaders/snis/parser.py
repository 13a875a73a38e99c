"""Parser of SNIS 'agregado' exports (water and sewage, one row per service provider and year).

Real format: UTF-16LE without BOM (UTF-8 and Latin-1 copies accepted), ';' separator, decimal
comma with '.' thousands separator, 6-digit municipality code, a trailing ';' on data rows, and a
last line 'TOTAL da AMOSTRA:' with the column totals.

A malformed row never stops the file: it goes to quarantine with its line, column, raw value and
reason. A file that cannot be parsed at all raises `SnisFormatError` naming the file: unknown
encoding or header, truncated (no footer), unusable footer or year when it is opened, before any row
is handed to the loader; bytes that stop decoding in the middle when the stream reaches them.

Files are streamed (`open_export` -> `ExportStream.batches()`): memory is bounded by a few batches
of CHUNK_LINES lines, whatever the size of the file (a 1,000,000-row export needed 6.8 GB when it
was parsed whole).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .settings import (
    CHUNK_LINES,
    COLUMNS_FILE,
    DECIMAL_TYPE,
    FOOTER_MARKER,
    KEY_COLUMNS,
    UF_CODES,
)

_CODE_RE = re.compile(r"^\s*([A-Z]{1,3}\d{2,3}[A-Z]?)\s+-\s+")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d{1,2})?$")
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


class SnisFormatError(ValueError):
    """The file cannot be parsed at all; nothing of it is loaded."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"SNIS export {Path(path).name}: {reason}")
        self.path = str(path)


def load_layout() -> dict[str, tuple[str, str]]:
    """Known columns: header label -> (column name, kind) from columns.csv (the drift reference)."""
    with COLUMNS_FILE.open(encoding="utf-8", newline="") as fh:
        return {row["label"]: (row["column"], row["kind"]) for row in csv.DictReader(fh)}


def column_name(label: str, layout: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """Column name and kind of a header label; unknown SNIS codes are decimals named by code."""
    if label in layout:
        return layout[label]
    m = _CODE_RE.match(label)
    if m:
        return m.group(1).lower(), "decimal"
    slug = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", slug).strip("_")[:63] or "coluna_sem_nome", "text"


def detect_encoding(head: bytes) -> str:
    """UTF-16 (by BOM or by the zero bytes of ASCII text), else UTF-8 if it decodes, else Latin-1."""
    if head.startswith(b"\xff\xfe"):
        return "utf-16"
    if head.startswith(b"\xfe\xff"):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    sample = head[:4096]
    if len(sample) >= 4:
        odd_zeros = sample[1::2].count(0) / (len(sample) // 2)
        even_zeros = sample[0::2].count(0) / (len(sample) // 2)
        if odd_zeros > 0.3:
            return "utf-16-le"
        if even_zeros > 0.3:
            return "utf-16-be"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a multi-byte sequence cut at the end of the sample is still UTF-8
        if exc.start >= len(head) - 3:
            return "utf-8"
        return "latin-1"


@dataclass
class Quarantined:
    arquivo: str
    linha: int
    coluna: str | None
    valor_bruto: str | None
    motivo: str
    linha_bruta: str


@dataclass
class ParsedExport:
    """What is known of one export: layout and footer when opened; quarantine, column sums, counts and
    sha256 once its stream has ended; `chunks` (the accepted rows) only filled by `parse_export`."""

    path: Path
    encoding: str
    sha256: str
    ano: int
    columns: list[str]
    decimal_columns: list[str]
    new_columns: list[str]
    missing_columns: list[str]
    footer: dict[str, Decimal | None]
    chunks: list[pa.Table] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)
    sums: dict[str, Decimal] = field(default_factory=dict)
    rows_loaded: int = 0
    lines_read: int = 0

    @property
    def name(self) -> str:
        return self.path.name

    def reconciliation(self) -> list[dict]:
        """Footer total against the sum of the loaded rows, for every column with a footer value."""
        out = []
        for col in self.decimal_columns:
            expected = self.footer.get(col)
            if expected is None:
                continue
            loaded = self.sums.get(col, Decimal(0))
            out.append(
                {
                    "arquivo": self.name,
                    "ano": self.ano,
                    "coluna": col,
                    "valor_rodape": expected,
                    "soma_carregada": loaded,
                    "diferenca": loaded - expected,
                    "linhas_carregadas": self.rows_loaded,
                    "linhas_quarentena": len({q.linha for q in self.quarantine}),
                    "status": "ok" if loaded == expected else "divergente",
                }
            )
        return out


def _parse_number(raw: str) -> Decimal | None:
    cleaned = raw.strip().replace(".", "").replace(",", ".")
    if cleaned in ("", "---"):
        return None
    if not _NUMBER_RE.match(cleaned):
        raise ValueError(raw)
    return Decimal(cleaned)


def _number_reason(raw: str) -> str:
    cleaned = raw.strip().replace(".", "").replace(",", ".")
    if re.match(r"^-?\d+\.\d{3,}$", cleaned):
        return "more than 2 decimal places (SNIS exports carry 2)"
    return "not a number in a numeric column"


#: bytes read at a time while streaming a file (decoded and split into lines as they come)
_READ_BYTES = 1 << 23
#: bytes at the start used to guess the encoding, and at the end searched for the footer line
_HEAD_BYTES = 65536
_TAIL_BYTES = 1 << 20
#: data lines looked at to guess the reference year when the file name has none
_YEAR_SAMPLE_LINES = 1000
_BLANK = b"\x00\r\n\t "


def _tail_codec(encoding: str) -> str:
    """Codec for a slice of the file that does not start at its first byte (no BOM there)."""
    return {"utf-8-sig": "utf-8"}.get(encoding, encoding)


def _footer_line(path: Path, encoding: str, size: int) -> str | None:
    """The last non-blank line of the file, read from its end (None when there is no such line
    wholly inside the last megabyte)."""
    with path.open("rb") as fh:
        start = max(0, size - _TAIL_BYTES)
        if encoding.startswith("utf-16"):
            start -= start % 2  # the text starts at an even byte (with or without a BOM)
        fh.seek(start)
        tail = fh.read()
    if encoding == "utf-16":  # with a BOM: its byte order decides
        with path.open("rb") as fh:
            codec = "utf-16-le" if fh.read(2) == b"\xff\xfe" else "utf-16-be"
    else:
        codec = _tail_codec(encoding)
    text = tail.decode(codec, errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or (len(lines) == 1 and start > 0):  # the line may begin before the slice
        return None
    return lines[-1]


class _Lines:
    """The lines of a file, decoded as they are read (bounded memory), with the file's sha256.

    `next_block()` returns the next complete lines (newlines of any kind removed), [] at the end.
    A byte sequence that is not valid in the encoding raises SnisFormatError naming the file."""

    def __init__(self, path: Path, encoding: str):
        self.path, self.encoding = path, encoding
        self._fh = path.open("rb")
        self._hash = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._carry = ""
        self._offset = 0
        self._done = False

    def next_block(self) -> list[str]:
        while not self._done:
            data = self._fh.read(_READ_BYTES)
            final = not data
            self._hash.update(data)
            try:
                text = self._decoder.decode(data, final=final)
            except UnicodeDecodeError as exc:
                self.close()
                raise SnisFormatError(
                    self.path,
                    f"not valid {self.encoding} text at byte {self._offset + exc.start} (wrong encoding?)",
                ) from exc
            self._offset += len(data)
            text = self._carry + text
            if final:
                self._done = True
                self.close()
                self._carry = ""
                return text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if text else []
            # the unterminated last line, and a last '\r' that may be half of a '\r\n', wait
            # for the next read
            held_cr = "\r" if text.endswith("\r") else ""
            text = (text[:-1] if held_cr else text).replace("\r\n", "\n").replace("\r", "\n")
            cut = text.rfind("\n")
            if cut < 0:
                self._carry = text + held_cr
                continue
            self._carry = text[cut + 1 :] + held_cr
            return text[:cut].split("\n")
        return []

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        self._fh.close()


class ExportStream:
    """One export, checked as a whole file before any row is read, then parsed in Arrow batches.

    Opening it checks what can make the whole file unusable (empty, unknown encoding or header,
    truncated: no footer at its end, footer not numeric, no reference year) by reading only its
    first lines and its last megabyte. `batches()` then reads the file once, yielding typed Arrow
    tables of at most `chunk_lines` lines; quarantine, column sums and the sha256 grow as it goes
    and are complete in `summary` when the generator ends. A byte sequence invalid in the file's
    encoding can only be found on the way and raises SnisFormatError then: the loader discards
    everything extracted in that run (nothing of the file reaches raw)."""

    def __init__(self, path: str | Path, chunk_lines: int = CHUNK_LINES):
        self.path = path = Path(path)
        self.chunk_lines = chunk_lines
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
        if not head.strip(_BLANK) and size <= _HEAD_BYTES:
            raise SnisFormatError(path, "file is empty")
        encoding = detect_encoding(head)
        self._lines = _Lines(path, encoding)
        try:
            self._check(path, encoding, size)
        except BaseException:
            self._lines.close()
            raise
        self.complete = False

    def _check(self, path: Path, encoding: str, size: int) -> None:
        # the header and enough data lines to guess the year (kept, and parsed first)
        pending: list[str] = []
        while len(pending) <= _YEAR_SAMPLE_LINES + 2:
            block = self._lines.next_block()
            if not block:
                break
            pending.extend(block)
        self._pending = pending
        layout = load_layout()
        header = next(csv.reader([pending[0]], delimiter=";")) if pending else []
        if header and header[-1] == "":
            header = header[:-1]
        names = [column_name(label, layout) for label in header]
        columns = [n for n, _ in names]
        missing_keys = [k for k in KEY_COLUMNS if k not in columns]
        if missing_keys:
            raise SnisFormatError(
                path,
                f"header not recognised as a SNIS 'agregado' export (decoded as {encoding}; "
                f"missing {', '.join(missing_keys)}): wrong encoding, wrong file or no header",
            )
        if len(set(columns)) != len(columns):
            raise SnisFormatError(path, "header has duplicate columns")
        footer_line = _footer_line(path, encoding, size)
        if footer_line is None or not footer_line.startswith(FOOTER_MARKER):
            raise SnisFormatError(path, f"no '{FOOTER_MARKER}' footer line: the file is truncated")
        footer_fields = footer_line.split(";")
        footer: dict[str, Decimal | None] = {}
        for i, (col, kind) in enumerate(names):
            if kind != "decimal" or i >= len(footer_fields):
                continue
            try:
                footer[col] = _parse_number(footer_fields[i])
            except ValueError as e:
                raise SnisFormatError(
                    path, f"footer value {footer_fields[i]!r} of {col} is not a number"
                ) from e
        self._footer_line = footer_line
        year = _file_year(path, pending, footer_line)
        known = {n for n, _ in layout.values()}
        self.names = names
        self.summary = ParsedExport(
            path=path,
            encoding=encoding,
            sha256="",
            ano=year,
            columns=columns,
            decimal_columns=[n for n, k in names if k == "decimal"],
            new_columns=[c for c in columns if c not in known],
            missing_columns=[n for n, _ in layout.values() if n not in columns],
            footer=footer,
        )

    def _data_line_chunks(self) -> Iterator[tuple[int, list[str]]]:
        """(first line number, data lines) in chunks; the footer (last non-blank line) held back."""
        buf, first_no, n = self._pending[1:], 2, self.chunk_lines
        self._pending = []
        while True:
            while len(buf) > n and any(ln.strip() for ln in buf[n:]):
                yield first_no, buf[:n]
                del buf[:n]
                first_no += n
            block = self._lines.next_block()
            if not block:
                break
            buf.extend(block)
        while buf and not buf[-1].strip():
            buf.pop()
        if not buf or buf[-1] != self._footer_line:
            raise SnisFormatError(self.path, "the file changed while it was read (footer differs)")
        buf.pop()
        for start in range(0, len(buf), n):
            yield first_no + start, buf[start : start + n]

    def batches(self) -> Iterator[pa.Table]:
        """Typed Arrow tables of the accepted rows, in file order (each yielded once)."""
        parsed = self.summary
        sums = {c: Decimal(0) for c in parsed.decimal_columns}
        seen_keys: set[str] = set()
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                for first_no, lines in self._data_line_chunks():
                    parsed.lines_read += len(lines)
                    table = _parse_chunk(parsed, lines, first_no, self.names, seen_keys, pool)
                    del lines
                    if table.num_rows:
                        for c in parsed.decimal_columns:
                            s = pc.sum(table[c]).as_py()
                            if s is not None:
                                sums[c] += s
                        parsed.rows_loaded += table.num_rows
                        yield table
        finally:
            self._lines.close()
        parsed.sums = sums
        parsed.sha256 = self._lines.sha256
        self.complete = True


def open_export(path: str | Path, chunk_lines: int = CHUNK_LINES) -> ExportStream:
    """Check one export as a whole file (raises SnisFormatError if it is unusable) and return the
    stream of its rows."""
    return ExportStream(path, chunk_lines)


def parse_export(path: str | Path, chunk_lines: int = CHUNK_LINES) -> ParsedExport:
    """Parse one export completely, every accepted row kept in `chunks` (tests, small files; the
    loader streams with `open_export`)."""
    stream = open_export(path, chunk_lines)
    chunks = list(stream.batches())
    stream.summary.chunks = chunks
    return stream.summary


def _file_year(path: Path, lines: list[str], footer_line: str) -> int:
    m = _YEAR_IN_NAME.search(path.name)
    if m:
        return int(m.group(1))
    years: dict[str, int] = {}
    for line in lines[1 : _YEAR_SAMPLE_LINES + 1]:
        if line == footer_line:
            break
        f = line.split(";")
        if len(f) > 3:
            years[f[3]] = years.get(f[3], 0) + 1
    best = max(years, key=years.get) if years else ""
    if not best.isdigit():
        raise SnisFormatError(path, "cannot tell the reference year (none in the name or the rows)")
    return int(best)


def _parse_chunk(
    parsed: ParsedExport,
    lines: list[str],
    first_line_no: int,
    names: list[tuple[str, str]],
    seen_keys: set,
    pool: ThreadPoolExecutor,
) -> pa.Table:
    """Parse a block of data lines into a typed Arrow table; bad rows go to quarantine."""
    ncols = len(names)
    arr = pa.array(lines, pa.string())
    semis = pc.count_substring(arr, ";").to_numpy(zero_copy_only=False)
    # data rows end with ';' in the real export (one more separator than columns); accept both
    trailing = pc.ends_with(arr, ";").to_numpy(zero_copy_only=False)
    fields = semis + 1 - trailing
    good_mask = fields == ncols
    for i in np.flatnonzero(~good_mask):
        line = lines[i]
        if line.strip():
            parsed.quarantine.append(
                Quarantined(
                    parsed.name,
                    first_line_no + int(i),
                    None,
                    None,
                    f"wrong column count: {int(fields[i])} instead of {ncols}",
                    line,
                )
            )
    good_idx = np.flatnonzero(good_mask)
    if not len(good_idx):
        return pa.table({})
    good_no = (good_idx + first_line_no).tolist()
    # rows end with ';' in the real export: give every good row that ending and a newline, then
    # parse the concatenated buffer (no per-row Python)
    missing_end = np.flatnonzero(good_mask & (trailing == 0))
    if len(missing_end):
        lines = list(lines)
        for i in missing_end:
            lines[i] += ";"
        arr = pa.array(lines, pa.string())
    body = pc.binary_join_element_wise(arr.filter(pa.array(good_mask)), "\n", "")
    del arr
    offsets = np.frombuffer(body.buffers()[1], dtype=np.int32)
    data = body.buffers()[2][int(offsets[body.offset]) : int(offsets[body.offset + len(body)])]
    del offsets
    col_names = [n for n, _ in names]
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=col_names + ["_fim"], block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=";", quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in col_names},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
            include_columns=col_names,
        ),
    )
    del body, data  # memory: only the string table and the typed one from here on
    typed, bad = _typed(table, names, pool)
    table = table.select(list(KEY_COLUMNS))  # the rules below read only the key columns
    # whole-row rules: key columns
    mun = table["codigo_municipio"]
    ok_code = pc.and_(
        pc.fill_null(pc.match_substring_regex(mun, r"^\d{6}$"), False),
        pc.is_in(pc.utf8_slice_codeunits(mun, 0, 2), value_set=pa.array(UF_CODES)),
    )
    bad_code = pc.invert(pc.fill_null(ok_code, False))
    bad_year = pc.invert(pc.fill_null(pc.equal(table["ano_referencia"], pa.scalar(str(parsed.ano))), False))
    bad_prest = pc.is_null(table["codigo_prestador"])
    rules = [
        ("codigo_municipio", bad_code, "invalid municipality code (6 digits of a valid UF expected)"),
        ("ano_referencia", bad_year, f"year is not the file's year {parsed.ano}"),
        ("codigo_prestador", bad_prest, "missing provider code (part of the key)"),
    ]
    for col, mask, reason in rules:
        for idx in pc.indices_nonzero(mask).to_pylist():
            bad.setdefault(idx, []).append((col, table[col][idx].as_py(), reason))
    for idx, p in enumerate(table["codigo_prestador"].to_pylist()):
        if idx in bad or p is None:
            continue
        if p in seen_keys:
            bad.setdefault(idx, []).append(
                ("codigo_prestador", p, "duplicate provider code in the file (key repeated)")
            )
        else:
            seen_keys.add(p)

    row_text = None
    for idx in sorted(bad):
        for col, raw, reason in bad[idx]:
            if row_text is None or row_text[0] != idx:
                row_text = (idx, lines[good_idx[idx]])
            parsed.quarantine.append(Quarantined(parsed.name, good_no[idx], col, raw, reason, row_text[1]))
    typed = typed.append_column("_file_name", pa.array([parsed.name] * typed.num_rows, pa.string()))
    typed = typed.append_column("_line_number", pa.array(good_no, pa.int64()))
    if bad:
        keep = np.ones(typed.num_rows, dtype=bool)
        keep[list(bad)] = False
        typed = typed.filter(pa.array(keep))
    return typed


def _decimal_column(arr: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[int]]:
    """Exact decimals of a numeric column and the row indices whose value is not a number."""
    cleaned = pc.replace_substring(pc.replace_substring(arr, ".", ""), ",", ".")
    try:
        return pc.cast(cleaned, DECIMAL_TYPE), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.fill_null(pc.match_substring_regex(cleaned, _NUMBER_RE.pattern), True)
        nulled = pc.if_else(ok, cleaned, pa.scalar(None, pa.string()))
        return pc.cast(nulled, DECIMAL_TYPE), pc.indices_nonzero(pc.invert(ok)).to_pylist()


def _typed(
    table: pa.Table, names: list[tuple[str, str]], pool: ThreadPoolExecutor
) -> tuple[pa.Table, dict[int, list]]:
    """Typed table (exact decimals, integer year) and the bad values: {row: [(column, raw, reason)]}."""
    bad: dict[int, list] = {}

    def cast(item):
        col, kind = item
        arr = table[col]
        if kind == "decimal":
            return _decimal_column(arr)
        if kind == "integer":
            ok = pc.fill_null(pc.match_substring_regex(arr, r"^\d{4}$"), True)
            nulled = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
            return pc.cast(nulled, pa.int64()), pc.indices_nonzero(pc.invert(ok)).to_pylist()
        return arr, []

    arrays = []
    for (col, kind), (arr, idxs) in zip(names, pool.map(cast, names), strict=False):
        arrays.append(arr)
        for idx in idxs:
            raw = table[col][idx].as_py()
            reason = _number_reason(raw) if kind == "decimal" else "not a 4-digit year"
            bad.setdefault(idx, []).append((col, raw, reason))
    return pa.table(arrays, names=[n for n, _ in names]), bad
