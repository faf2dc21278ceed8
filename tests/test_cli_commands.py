"""The ``crawler.cli`` package in process: the command table, each command's parser and
help, defaults taken from ``CrawlConfig``, and how errors map to exit statuses."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crawler import CrawlConfig
from crawler.cli import COMMANDS, CRAWL, Command, main
from crawler.cli import crawl as crawl_command
from crawler.cli import seed as seed_command
from crawler.cli.options import config_from_args
from crawler.cli.units import format_duration, format_size
from crawler.engine import Crawl
from crawler.state.identity import crawl_identity

pytestmark = pytest.mark.timeout(60)

CONFIG_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(CrawlConfig)
    if f.default is not dataclasses.MISSING
}
INTERNAL_ERROR_SCRIPT = """
import sys
from crawler.engine import Crawl

async def broken(self):
    raise ZeroDivisionError("division by zero")

Crawl.run = broken
from crawler.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(autouse=True)
def _keep_the_progress_log_level():
    """``main`` sets the level of the progress logger; put it back after each test."""
    logger = logging.getLogger("crawler.progress")
    level = logger.level
    yield
    logger.setLevel(level)


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Return the ``--help`` output of ``crawl ARGV --help``, its whitespace collapsed."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_the_table_names_every_subcommand_and_each_parser_its_command():
    assert sorted(COMMANDS) == ["export", "purge", "report", "seed", "status"]
    for name, command in COMMANDS.items():
        assert command.parser().prog == f"crawl {name}"
    assert CRAWL.parser().prog == "crawl"


def recording(name: str, called: list[str]):
    """Return a command function that appends ``name`` to ``called`` and exits 0."""

    def run(args: argparse.Namespace) -> int:
        called.append(name)
        return 0

    return run


@pytest.mark.parametrize("name", ["export", "purge", "report", "seed", "status"])
def test_the_first_argument_dispatches_to_its_command(name, monkeypatch):
    called: list[str] = []
    for other, command in COMMANDS.items():
        monkeypatch.setitem(COMMANDS, other, Command(command.parser, recording(other, called)))
    monkeypatch.setattr("crawler.cli.CRAWL", Command(CRAWL.parser, recording("crawl", called)))
    argv = ["out.jsonl"] if name == "report" else ["--state", "redis://h/0", "--crawl-id", "c"]
    assert main([name, *argv]) == 0
    assert called == [name]


def test_anything_else_is_a_crawl(monkeypatch):
    called: list[str] = []
    monkeypatch.setattr("crawler.cli.CRAWL", Command(CRAWL.parser, recording("crawl", called)))
    assert main(["http://127.0.0.1:1/", "-q"]) == 0
    assert main(["reports.example", "-q"]) == 0  # a first argument that names no command
    assert called == ["crawl", "crawl"]


def test_seed_help_lists_only_what_seeding_uses(capsys):
    text = help_of(["seed"], capsys)
    for option in ("--crawl-id", "--state", "--seeds-file", "--sitemap", "--sitemaps-from-robots",
                   "--allow-domain", "--deny-domain", "--allow", "--deny", "--max-depth",
                   "--timeout", "--retries", "--max-bytes", "--user-agent", "--ignore-robots",
                   "--per-host-concurrency", "--delay", "--max-crawl-delay",
                   "--max-repeated-segments", "--force", "--lease-seconds", "--worker-id",
                   "--quiet", "--verbose", "--log-format", "--traceback"):  # fmt: skip
        assert re.search(rf"(?<![\w-]){option}(?![\w-])", text), option
    for option in ("--output", "--format", "--stats-json", "--fields", "--include-links",
                   "--fail-on-broken", "--no-progress", "--progress-interval", "--resume-info",
                   "--max-pages", "--time-limit", "--concurrency", "--respect-nofollow",
                   "--log-skipped", "--max-pages-per-host"):  # fmt: skip
        assert not re.search(rf"(?<![\w-]){option}(?![\w-])", text), option


def test_seed_refuses_a_crawl_only_option(capsys):
    argv = ["seed", "http://h/", "--state", "redis://127.0.0.1:1/0", "--crawl-id", "c"]
    assert main([*argv, "--stats-json", "s.json"]) == 2
    assert capsys.readouterr().err == (
        "crawl: error: unrecognized arguments: --stats-json s.json; see 'crawl seed --help'\n"
    )


SHOWN = {
    "--timeout": format_duration,
    "--max-bytes": format_size,
    "--delay": format_duration,
    "--max-crawl-delay": format_duration,
    "--lease-seconds": format_duration,
}
"""How the help shows the defaults of durations and sizes (30s, 10M), by flag."""

FETCH_DEFAULTS = {
    "--timeout": "timeout",
    "--retries": "retries",
    "--max-bytes": "max_bytes",
    "--user-agent": "user_agent",
    "--per-host-concurrency": "per_host_concurrency",
    "--delay": "delay",
    "--max-crawl-delay": "max_crawl_delay",
    "--max-repeated-segments": "max_repeated_segments",
    "--lease-seconds": "lease_seconds",
}


@pytest.mark.parametrize(
    ("argv", "defaulted"),
    [
        ([], {**FETCH_DEFAULTS, "--concurrency": "concurrency"}),
        (["seed"], FETCH_DEFAULTS),
        (["export"], {}),
    ],
)
def test_help_shows_the_defaults_of_crawl_config(argv, defaulted, capsys):
    text = help_of(argv, capsys)
    for flag, field in defaulted.items():
        value = re.escape(SHOWN.get(flag, str)(CONFIG_DEFAULTS[field]))
        assert re.search(rf"{re.escape(flag)} \S+ (?:(?! --).)*?\(default: {value}\)", text), flag
    if not argv:
        assert "-c N, --concurrency N most requests in flight at once (default: 16)" in text
    if argv != ["seed"]:
        assert (
            "--format {jsonl,csv} the records' format (default: from -o's extension: csv for "
            f".csv, else {CONFIG_DEFAULTS['output_format']})"
        ) in text


def test_options_not_given_leave_crawl_config_defaults():
    crawl_args = crawl_command.build_parser().parse_args(["http://h/"])
    assert config_from_args(crawl_args) == CrawlConfig(output="-")
    seed_args = seed_command.build_parser().parse_args(
        ["http://h/", "--state", "redis://h/0", "--crawl-id", "c"]
    )
    assert config_from_args(seed_args) == CrawlConfig(state="redis://h/0", crawl_id="c")


def test_a_seeder_and_its_workers_build_the_same_crawl_identity():
    urls, files = ["http://h/"], ["seeds.txt"]
    options = ["--allow-domain", "a.example", "--deny-domain", "b.example", "--allow", "/x",
               "--deny", r"\?sort=", "--max-depth", "3", "--seeds-file", "seeds.txt"]  # fmt: skip
    shared = ["--state", "redis://h/0", "--crawl-id", "c"]
    worker = config_from_args(crawl_command.build_parser().parse_args([*urls, *options, *shared]))
    seeder = config_from_args(seed_command.build_parser().parse_args([*urls, *options, *shared]))
    assert seeder.max_depth == worker.max_depth == 3
    assert crawl_identity(urls, files, seeder) == crawl_identity(urls, files, worker)
    assert crawl_identity(urls, files, seeder) != crawl_identity(urls, files, CrawlConfig())


def test_concurrency_zero_is_one_line_from_crawl_config(capsys):
    assert main(["http://h/", "--concurrency", "0"]) == 2
    assert capsys.readouterr().err == "crawl: error: --concurrency must be >= 1, got 0\n"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
        (ValueError("boom"), "ValueError: boom"),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_an_internal_error_exits_1_with_one_line_and_the_hint(error, line, monkeypatch, capsys):
    async def broken(self):
        raise error

    monkeypatch.setattr(Crawl, "run", broken)
    assert main(["http://127.0.0.1:1/", "-q"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"crawl: internal error: {line} (run again with --traceback for details)\n"
    )
    assert captured.out == ""


def test_an_internal_error_with_traceback_shows_it():
    result = subprocess.run(
        [sys.executable, "-c", INTERNAL_ERROR_SCRIPT, "http://127.0.0.1:1/", "-q", "--traceback"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "crawl: ERROR: internal error"
    assert "Traceback (most recent call last):" in lines
    assert lines[-2:] == [
        "ZeroDivisionError: division by zero",
        "crawl: internal error: ZeroDivisionError: division by zero",
    ]


def test_a_report_on_a_file_that_is_not_utf8_is_bad_input(tmp_path: Path, capsys):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"url": "http://h/\xff"}\n')
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"crawl: error: cannot read '{path}': not UTF-8 text (")
    assert err.count("\n") == 1


def test_report_loads_no_redis_code(tmp_path: Path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"url": "http://h/", "status": 200, "depth": 0}\n')
    script = (
        "import sys\nfrom crawler.cli import main\n"
        f"assert main(['report', {str(path)!r}, '-q']) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('redis', 'crawler.shared'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
