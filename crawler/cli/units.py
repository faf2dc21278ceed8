"""Durations and sizes as people type them: ``500ms``, ``30s``, ``5m``, ``1h``; ``512k``, ``10M``.

Pure functions, no argparse: a value is a decimal number and an optional unit, nothing
else. A sign is parsed, not judged: the bounds of each option are ``CrawlConfig``'s to check.
Bad input raises ``ValueError`` with one line that says what is accepted; NaN and
infinity are refused, being no duration or size anyone means.

Durations: ``ms``, ``s``, ``m``, ``h``; a bare number is seconds.
Sizes: ``k``, ``M``, ``G`` (any case) are 1024-based, as in wget (``KiB``, ``MiB``, ``GiB``
are accepted as the same); ``b`` or a bare number is bytes. A size must come to whole
bytes (``1.5k`` is 1536, ``0.1k`` is refused).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

DURATION_UNITS = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600)}
"""Seconds per duration unit, case-sensitive (``M`` is a size, not minutes)."""

KIB = 1024
SIZE_UNITS = {
    "": 1, "b": 1, "k": KIB, "kib": KIB, "m": KIB**2, "mib": KIB**2, "g": KIB**3, "gib": KIB**3,
}  # fmt: skip
"""Bytes per size unit, by lower-case name."""

DURATION_HELP = "500ms, 30s, 5m, 1h; a bare number is seconds"
SIZE_HELP = "512k, 10M, 1G (1024-based, as in wget); a bare number is bytes"

_VALUE = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-zA-Z]*)\s*")


def _split(text: str) -> tuple[Fraction, str] | None:
    match = _VALUE.fullmatch(text)
    if match is None:
        return None
    return Fraction(match[1]), match[2]  # exact: 0.1k is not 102 bytes by rounding


def parse_duration(text: str) -> float:
    """Return the seconds ``text`` (``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"2.5"``) means.

    Raises:
        ValueError: ``text`` is not a number with one of ``DURATION_UNITS``.
    """
    parts = _split(text)
    if parts is None or parts[1] not in {"", *DURATION_UNITS}:
        raise ValueError(f"not a duration: {text!r} (e.g. {DURATION_HELP})")
    number, unit = parts
    try:
        return float(number * DURATION_UNITS[unit or "s"])
    except OverflowError:
        raise ValueError(f"duration too large: {text.strip()[:20]!r}...") from None


def parse_size(text: str) -> int:
    """Return the bytes ``text`` (``"512k"``, ``"10M"``, ``"1G"``, ``"4096"``) means.

    Raises:
        ValueError: ``text`` is not a number with one of ``SIZE_UNITS``, or not whole bytes.
    """
    parts = _split(text)
    if parts is None or parts[1].lower() not in SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. {SIZE_HELP})")
    number, unit = parts
    size = number * SIZE_UNITS[unit.lower()]
    if size.denominator != 1:
        raise ValueError(f"not a whole number of bytes: {text!r}")
    return int(size)


def format_duration(seconds: float) -> str:
    """Return ``seconds`` in the largest unit that shows it exactly: ``"5m"``, ``"500ms"``."""
    exact = Fraction(repr(float(seconds)))  # the decimal a person wrote, not the binary float
    for unit in ("h", "m", "s", "ms"):
        count = exact / DURATION_UNITS[unit]
        if count.denominator == 1 and (count or unit == "s"):
            return f"{count}{unit}"
    return f"{Decimal(repr(float(seconds))):f}s"  # no exponent: it must parse back


def format_size(size: int) -> str:
    """Return ``size`` bytes in the largest unit that shows it exactly: ``"10M"``, ``"512k"``."""
    for unit in ("G", "M", "k"):
        count, rest = divmod(size, SIZE_UNITS[unit.lower()])
        if size and not rest:
            return f"{count}{unit}"
    return str(size)
