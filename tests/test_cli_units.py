"""Durations and sizes as the command line takes them: exact values, one-line errors, round trips."""

from __future__ import annotations

import re

import pytest

from crawler.cli.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1.5h", 5400.0),
        ("2.5", 2.5), ("0", 0.0), (".25s", 0.25), ("3.", 3.0), (" 10 s ", 10.0), ("1ms", 0.001),
        ("-1s", -1.0),  # parsed, not judged: CrawlConfig refuses it with the option's name
    ],
)  # fmt: skip
def test_a_duration_is_a_number_of_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["1x", "5M", "10 minutes", "nan", "inf", "-inf", "1e3", "", "s", "1h30m", "0x10"]
)
def test_anything_else_is_not_a_duration_in_one_line(text):
    message = f"not a duration: {text!r} (e.g. 500ms, 30s, 5m, 1h; a bare number is seconds)"
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}$"):
        parse_duration(text)


def test_a_duration_beyond_a_float_is_refused():
    with pytest.raises(ValueError, match=r"^duration too large: '9{20}'\.\.\.$"):
        parse_duration("9" * 400)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096), ("0", 0), ("1b", 1), ("512k", 512 * 1024), ("512K", 512 * 1024),
        ("10M", 10 * 1024**2), ("10m", 10 * 1024**2), ("1G", 1024**3), ("1.5k", 1536),
        ("2KiB", 2048), ("3MiB", 3 * 1024**2), ("1gib", 1024**3), ("0.5M", 512 * 1024),
    ],
)  # fmt: skip
def test_a_size_is_a_number_of_bytes_with_1024_based_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1x", "10MB", "1kb", "nan", "inf", "1e6", "", "M", "1 k b"])
def test_anything_else_is_not_a_size_in_one_line(text):
    message = f"not a size: {text!r} (e.g. 512k, 10M, 1G (1024-based, as in wget); a bare number is bytes)"
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}$"):
        parse_size(text)


@pytest.mark.parametrize("text", ["0.1k", "1.5", "0.3M"])
def test_a_size_must_come_to_whole_bytes(text):
    with pytest.raises(
        ValueError, match=rf"^not a whole number of bytes: {re.escape(repr(text))}$"
    ):
        parse_size(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (0.5, "500ms"), (30.0, "30s"), (300.0, "5m"), (5400.0, "90m"),
     (3600.0, "1h"), (1.25, "1250ms"), (0.0005, "0.0005s"), (1e-7, "0.0000001s")],
)  # fmt: skip
def test_a_duration_is_shown_in_its_largest_exact_unit_and_parses_back(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0"), (1000, "1000"), (1024, "1k"), (1536, "1536"), (10 * 1024**2, "10M"),
     (1024**3, "1G"), (3 * 1024**3 + 1024, "3145729k")],
)  # fmt: skip
def test_a_size_is_shown_in_its_largest_exact_unit_and_parses_back(size, text):
    assert format_size(size) == text
    assert parse_size(text) == size
