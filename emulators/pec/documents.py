"""Brazilian documents with valid check digits: CNS (definitive and provisional), CPF and NIS, to
make fictitious citizens and to tell a real-looking number from garbage.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence


def _cns_definitivo(pis: str) -> str:
    """The definitive CNS of an 11-digit PIS (official algorithm of the Cartão Nacional de Saúde)."""
    soma = sum(int(d) * (15 - i) for i, d in enumerate(pis))
    dv = 11 - soma % 11
    if dv == 11:
        dv = 0
    if dv == 10:
        dv = 11 - (soma + 2) % 11
        return f"{pis}001{dv}"
    return f"{pis}000{dv}"


def cns_valido(cns: object) -> bool:
    """Whether `cns` is a valid Cartão Nacional de Saúde number (15 digits).

    Definitive numbers (first digit 1 or 2) must equal the number rebuilt from their first 11 digits;
    provisional ones (7, 8 or 9) must have a weighted digit sum (weights 15..1) divisible by 11.
    """
    if not isinstance(cns, str | int):
        return False
    s = str(cns).strip()
    if len(s) != 15 or not s.isascii() or not s.isdigit():
        return False
    if s[0] in "12":
        return _cns_definitivo(s[:11]) == s
    if s[0] in "789":
        return sum(int(d) * (15 - i) for i, d in enumerate(s)) % 11 == 0
    return False


def gerar_cns(rng: random.Random, provisorio: bool = False) -> str:
    """A random valid CNS: definitive (first digit 1/2) or provisional (7/8/9)."""
    if not provisorio:
        return _cns_definitivo(rng.choice("12") + "".join(rng.choices("0123456789", k=10)))
    while True:
        head = rng.choice("789") + "".join(rng.choices("0123456789", k=13))
        dv = -sum(int(d) * (15 - i) for i, d in enumerate(head)) % 11
        if dv < 10:
            return f"{head}{dv}"


def _cpf_dv(digits: Sequence[int]) -> int:
    n = len(digits) + 1
    r = sum(d * (n - i) for i, d in enumerate(digits)) * 10 % 11
    return 0 if r == 10 else r


def cpf_valido(cpf: object) -> bool:
    """Whether `cpf` is a valid CPF: 11 digits (dots and dash allowed), both check digits right,
    not all digits equal."""
    if not isinstance(cpf, str | int):
        return False
    s = str(cpf).strip()
    if re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", s):
        s = re.sub(r"\D", "", s)
    if len(s) != 11 or not s.isascii() or not s.isdigit() or len(set(s)) == 1:
        return False
    d = [int(c) for c in s]
    return _cpf_dv(d[:9]) == d[9] and _cpf_dv(d[:10]) == d[10]


def gerar_cpf(rng: random.Random, regiao_fiscal: int | None = None) -> str:
    """A random valid CPF; `regiao_fiscal` fixes the 9th digit (the issuing fiscal region)."""
    while True:
        d = rng.choices(range(10), k=8) + [rng.randrange(10) if regiao_fiscal is None else regiao_fiscal]
        if len(set(d)) > 1:
            break
    d.append(_cpf_dv(d))
    d.append(_cpf_dv(d))
    return "".join(map(str, d))


def _gerar_nis(rng: random.Random) -> str:
    d = [rng.choice((1, 2))] + rng.choices(range(10), k=9)
    r = sum(x * w for x, w in zip(d, (3, 2, 9, 8, 7, 6, 5, 4, 3, 2), strict=False)) % 11
    return "".join(map(str, d)) + str(0 if r < 2 else 11 - r)
