"""Usage errors in one line: no abbreviations, "did you mean" for unknown options and
commands, and the CLI's own option names in errors of ``CrawlConfig``'s values."""

from __future__ import annotations

import argparse
import sys

import pytest

from crawler.cli import COMMANDS, CRAWL, Command, main
from crawler.cli.options import FIELDS

PARSERS = {"crawl": CRAWL.parser, **{f"crawl {name}": c.parser for name, c in COMMANDS.items()}}
REQUIRED = {
    "crawl": ["http://h/"],
    "crawl report": ["out.jsonl"],
    **{f"crawl {name}": ["--state", "redis://h/0", "--crawl-id", "c"]
       for name in ("seed", "status", "export", "purge")},
}  # fmt: skip


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Return the one line ``crawl ARGV`` prints on stderr, checking it exits 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.mark.parametrize("prog", PARSERS)
def test_no_parser_takes_an_abbreviation(prog):
    parser = PARSERS[prog]()
    longs = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    for option in longs:
        abbreviation = option[:-1]
        if abbreviation in longs:
            continue
        _, extras = parser.parse_known_args([*REQUIRED[prog], abbreviation, "1"])
        assert abbreviation in extras, (prog, option)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--maxpages", "5", "http://h/"],
         "unrecognized arguments: --maxpages (did you mean --max-pages?); see 'crawl --help'"),
        (["--conc", "4", "http://h/"],
         "unrecognized arguments: --conc (did you mean --concurrency?); see 'crawl --help'"),
        (["--user-agen", "u:p", "http://h/"],
         "unrecognized arguments: --user-agen (did you mean --user-agent?); see 'crawl --help'"),
        (["--timout=5", "http://h/"],
         "unrecognized arguments: --timout=5 (did you mean --timeout?); see 'crawl --help'"),
        (["--max", "3", "http://h/"], "unrecognized arguments: --max (did you mean --max-pages, "
         "--max-depth or --max-bytes?); see 'crawl --help'"),
        (["--bogus", "http://h/"], "unrecognized arguments: --bogus; see 'crawl --help'"),
        (["report", "out.jsonl", "--htm", "r.html"],
         "unrecognized arguments: --htm (did you mean --html?) r.html; see 'crawl report --help'"),
        (["seed", "http://h/", *REQUIRED["crawl seed"], "--stats-json", "s.json"],
         "unrecognized arguments: --stats-json s.json; see 'crawl seed --help'"),
    ],
)  # fmt: skip
def test_an_unknown_option_names_the_closest_ones_and_the_help(argv, line, capsys):
    assert error_of(argv, capsys) == f"crawl: error: {line}"


@pytest.mark.parametrize(
    ("first", "meant"),
    [("reprot", "report"), ("reports", "report"), ("sede", "seed"), ("stauts", "status"),
     ("exprot", "export"), ("prge", "purge"), ("hlep", "help")],
)  # fmt: skip
def test_a_misspelt_command_is_named_with_the_one_meant(first, meant, capsys):
    assert error_of([first, "x"], capsys) == (
        f"crawl: error: unknown command {first!r} (did you mean {meant!r}?); see 'crawl --help'"
    )


def recording(called: list[list[str]]):
    def run(args: argparse.Namespace) -> int:
        called.append(args.urls)
        return 0

    return run


@pytest.mark.parametrize("first", ["report.example", "http://reprot/", "seed.example.com/x"])
def test_a_first_argument_with_a_dot_or_a_scheme_is_a_seed(first, monkeypatch):
    called: list[list[str]] = []
    monkeypatch.setattr("crawler.cli.CRAWL", Command(CRAWL.parser, recording(called)))
    assert main([first, "-q"]) == 0
    assert called == [[first]]


def test_a_word_far_from_every_command_is_a_seed_and_so_invalid(capsys):
    assert error_of(["bogus"], capsys) == (
        "crawl: error: invalid seed URL 'bogus': not an http or https URL"
    )


@pytest.mark.parametrize(
    ("argv", "prog"), [(["help"], "crawl"), (["help", "report"], "crawl report")]
)
def test_help_shows_the_help(argv, prog, capsys):
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog} ")


def test_help_of_no_command_is_one_line(capsys):
    assert error_of(["help", "nope"], capsys) == (
        "crawl: error: no command 'nope' to help with; commands: export, purge, report, seed, status"
    )


SHARED = ["--state", "redis://h/0", "--crawl-id", "c"]
INVALID = {
    "--max-pages": (["-n", "0"], "--max-pages must be >= 1, got 0"),
    "--max-depth": (["-d", "-1"], "--max-depth must be >= 0, got -1"),
    "--time-limit": (["--time-limit", "0"], "--time-limit must be > 0, got 0.0"),
    "--concurrency": (["-c", "0"], "--concurrency must be >= 1, got 0"),
    "--timeout": (["--timeout", "0s"], "--timeout must be > 0, got 0.0"),
    "--retries": (["--retries", "-1"], "--retries must be >= 0, got -1"),
    "--max-bytes": (["--max-bytes", "0"], "--max-bytes must be >= 1, got 0"),
    "--user-agent": (["--user-agent", " "], "--user-agent must not be empty"),
    "--allow-domain": (["--allow-domain", "a b"], "--allow-domain: invalid domain 'a b'"),
    "--deny-domain": (["--deny-domain", "a/b"], "--deny-domain: invalid domain 'a/b'"),
    "--allow": (["--allow", "("], "--allow: invalid regular expression '(': missing ), "
                "unterminated subpattern at position 0"),
    "--deny": (["--deny", "["], "--deny: invalid regular expression '[': unterminated "
               "character set at position 0"),
    "--fields": (["--fields", ","], "--fields: no field given (valid: "),
    "--state": (["--state", ""], "--state must be a path or None, got ''"),
    "--crawl-id": (["--crawl-id", "c"], "--crawl-id needs a redis:// state"),
    "--worker-id": ([*SHARED, "--worker-id", "a b"],
                    "--worker-id must be a non-empty name without {}*?[]\\ or spaces"),
    "--lease-seconds": ([*SHARED, "--lease-seconds", "0"], "--lease-seconds must be > 0, got 0.0"),
    "--per-host-concurrency": (["--per-host-concurrency", "0"],
                               "--per-host-concurrency must be >= 1, got 0"),
    "--delay": (["--delay=-1"], "--delay must be >= 0, got -1.0"),
    "--max-crawl-delay": (["--max-crawl-delay=-1s"], "--max-crawl-delay must be >= 0, got -1.0"),
    "--sitemap": (["--sitemap", "nope"],
                  "--sitemap: invalid seed URL 'nope': not an http or https URL"),
    "--max-pages-per-host": (["--max-pages-per-host", "0"],
                             "--max-pages-per-host must be >= 1, got 0"),
    "--max-repeated-segments": (["--max-repeated-segments", "0"],
                                "--max-repeated-segments must be >= 1, got 0"),
    "--header": (["-H", "Bad Name: v"], "--header: invalid name 'Bad Name'"),
    "--cookie": (["--cookie", "c=a;b"], "--cookie: the value of 'c' must not contain"),
    "--load-cookies": (["--load-cookies", "/nonexistent/c.txt"],
                       "--load-cookies: cannot read '/nonexistent/c.txt': No such file"),
    "--save-cookies": (["--save-cookies", "/nonexistent/c.txt"],
                       "--save-cookies: no folder for '/nonexistent/c.txt'"),
    "--user": (["--user", "nopassword"], "argument --user: not USER:PASSWORD"),
    "--proxy": (["--proxy", "ftp://u:pw@p:21"], "--proxy: 'ftp://u:***@p:21' is not a proxy URL"),
    "--ca-bundle": (["--ca-bundle", "/nonexistent.pem"],
                    "--ca-bundle: cannot read '/nonexistent.pem': No such file"),
    "--client-cert": (["--client-cert", "/nonexistent.pem"],
                      "--client-cert: cannot read '/nonexistent.pem': No such file"),
    "--client-key": (["--client-key", "/nonexistent.pem"],
                     "--client-key: cannot read '/nonexistent.pem': No such file"),
    "--resolve": (["--resolve", "h:80"], "--resolve: 'h:80' is not HOST:PORT:ADDRESS"),
    "--field": (["--field", "h=css:h1["], "--field: h: invalid css 'h1['"),
    "--save-dir": (["--save-dir", ""], "--save-dir must be a folder path or None, got ''"),
    "--max-text-bytes": (["--max-text-bytes", "0"], "--max-text-bytes must be >= 1, got 0"),
    "--warc": (["--warc", "x.warc"], "--warc must be a file name ending in .warc.gz, got 'x.warc'"),
    "--warc-max-size": (["--warc", "a.warc.gz", "--warc-max-size", "0"],
                        "--warc-max-size must be >= 1, got 0"),
    "--warc-cdx": (["--warc-cdx"], "--warc-cdx needs warc (the archive to write)"),
    "--recrawl": (["--recrawl"], "--recrawl needs state (the file of the crawl to come back to)"),
    "--trust-lastmod": (["--trust-lastmod"],
                        "--trust-lastmod needs recrawl (a last fetch to compare with)"),
}  # fmt: skip
"""An invalid value of every option that sets a ``CrawlConfig`` field, and its error."""

CANNOT_BE_INVALID = {
    "--output", "--format", "--include-links", "--force", "--ignore-robots", "--respect-nofollow",
    "--sitemaps-from-robots", "--log-skipped", "--follow-canonical", "--no-cookies", "--no-proxy", "--insecure",
    "--allow-private",
}  # fmt: skip
"""Flags and choices: argparse takes only valid values of these, or none."""


def test_every_option_that_sets_a_field_has_an_invalid_value_here():
    parser = CRAWL.parser()
    flags = {max(a.option_strings, key=len) for a in parser._actions if a.dest in FIELDS}
    assert flags == set(INVALID) | CANNOT_BE_INVALID


@pytest.mark.parametrize("flag", INVALID)
def test_an_invalid_value_is_reported_with_the_option_s_name(flag, capsys):
    argv, message = INVALID[flag]
    assert error_of([*argv, "http://h/"], capsys).startswith(f"crawl: error: {message}")


@pytest.mark.parametrize("flag", ["--timeout", "--allow", "--max-repeated-segments", "--delay"])
def test_seed_names_its_options_too(flag, capsys):
    argv, message = INVALID[flag]
    line = error_of(["seed", "http://h/", *SHARED, *argv], capsys)
    assert line.startswith(f"crawl: error: {message}")


@pytest.mark.parametrize(
    ("modules", "argv", "message"),
    [
        (["warcio.warcwriter"], ["--warc", "a.warc.gz"],
         "--warc needs the warc extra: pip install 'crawler[warc]'"),
        (["cdxj_indexer.main"], ["--warc", "a.warc.gz", "--warc-cdx"],
         "--warc-cdx needs the warc extra: pip install 'crawler[warc]'"),
    ],
)  # fmt: skip
def test_an_archive_without_its_extra_is_refused_in_one_line(
    modules, argv, message, capsys, monkeypatch, tmp_path
):
    if modules == ["cdxj_indexer.main"]:  # warcio is checked first: without it, its message
        pytest.importorskip("warcio", reason="the warc extra is not installed")
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.chdir(tmp_path)
    assert error_of([*argv, "http://127.0.0.1:9/"], capsys) == f"crawl: error: {message}"
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
