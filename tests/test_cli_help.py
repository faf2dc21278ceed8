"""``--help`` of every command: a sentence and the default of each option, the examples, the
groups (shared crawls last), the short flags, and the units of durations and sizes."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from crawler.cli import COMMANDS, CRAWL, main
from crawler.cli import crawl as crawl_command
from crawler.cli import seed as seed_command
from crawler.cli.options import SHARED_GROUP, UNITS_NOTE, config_from_args
from crawler.cli.units import format_duration

PARSERS = {"crawl": CRAWL.parser, **{f"crawl {name}": c.parser for name, c in COMMANDS.items()}}
SHOWN_DEFAULT = re.compile(r"\(default: (.+)\)$")


def actions(prog: str) -> list[tuple[argparse.ArgumentParser, argparse.Action]]:
    parser = PARSERS[prog]()
    return [(parser, action) for action in parser._actions]


def rendered_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """Return the help of ``action`` as ``--help`` prints it, on one line."""
    return " ".join(parser._get_formatter()._expand_help(action).split())


def takes_a_value(action: argparse.Action) -> bool:
    return action.nargs != 0 and action.default not in (None, argparse.SUPPRESS, [])


@pytest.mark.parametrize("prog", PARSERS)
def test_every_option_has_a_sentence_of_help(prog):
    for _, action in actions(prog):
        assert action.help and len(action.help.split()) >= 3, (prog, action.option_strings)


@pytest.mark.parametrize("prog", PARSERS)
def test_every_default_is_shown_as_one_would_type_it(prog):
    """The shown default, parsed as the option parses its value, is the default."""
    checked = 0
    for parser, action in actions(prog):
        if not takes_a_value(action):
            continue
        shown = SHOWN_DEFAULT.search(rendered_help(parser, action))
        assert shown, (prog, action.option_strings, action.help)
        parse = action.type if callable(action.type) else str
        assert parse(shown[1]) == action.default, (prog, action.option_strings, shown[1])
        checked += 1
    assert checked >= {"crawl": 13, "crawl seed": 10}.get(prog, 0)


@pytest.mark.parametrize(
    ("flag", "shown"),
    [("--timeout", "30s"), ("--max-bytes", "10M"), ("--delay", "0s"), ("--lease-seconds", "5m"),
     ("--progress-interval", "10s"), ("--concurrency", "16"), ("--output", "-")],
)  # fmt: skip
def test_defaults_of_durations_and_sizes_are_shown_in_units(flag, shown):
    parser = CRAWL.parser()
    action = next(a for a in parser._actions if flag in a.option_strings)
    assert rendered_help(parser, action).endswith(f"(default: {shown})")


def examples_of(epilog: str) -> list[list[str]]:
    """Return the command lines of the ``examples:`` section, each split into words."""
    section = epilog.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    text = section.replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()[:1] not in ("#", "")]


def test_crawl_help_ends_with_five_examples_that_each_parse():
    epilog = CRAWL.parser().epilog or ""
    commands = examples_of(epilog)
    assert len(commands) == 5
    for words in commands:
        for part in " ".join(words).split(" || "):
            argv = part.split()
            assert argv[0] == "crawl", part
            command = COMMANDS.get(argv[1], CRAWL)
            command.parser().parse_args(argv[2:] if command is not CRAWL else argv[1:])
    joined = [" ".join(words) for words in commands]
    for needle in ("-o ", "-d ", "--fail-on-broken", "crawl report", "--state crawl.db",
                   "--state redis://"):  # fmt: skip
        assert any(needle in line for line in joined), needle


def test_the_seed_example_parses():
    words = shlex.split(seed_command.EXAMPLE)
    assert words[:2] == ["crawl", "seed"]
    assert seed_command.build_parser().parse_args(words[2:]).crawl_id == "site"


@pytest.mark.parametrize("prog", PARSERS)
def test_the_shared_crawl_options_are_the_last_group(prog):
    parser = PARSERS[prog]()
    groups = [g for g in parser._action_groups if g._group_actions]
    last = groups[-1]
    flags = {f for action in last._group_actions for f in action.option_strings}
    if prog == "crawl report":
        assert SHARED_GROUP not in [g.title for g in groups]
        return
    assert last.title == SHARED_GROUP
    wanted = {"crawl": {"--crawl-id", "--worker-id", "--lease-seconds"},
              "crawl seed": {"--state", "--crawl-id", "--worker-id", "--lease-seconds"}}  # fmt: skip
    assert wanted.get(prog, {"--state", "--crawl-id"}) <= flags
    others = {f for g in groups[:-1] for a in g._group_actions for f in a.option_strings}
    assert not others & {"--crawl-id", "--worker-id", "--lease-seconds"}


def test_crawl_help_describes_redis_state_in_the_shared_group(capsys):
    parser = CRAWL.parser()
    shared = next(g for g in parser._action_groups if g.title == SHARED_GROUP)
    assert "--state redis://HOST:PORT/DB" in (shared.description or "")


@pytest.mark.parametrize(
    ("short", "long", "value"),
    [("-d", "max_depth", 3), ("-c", "concurrency", 4), ("-n", "max_pages", 7)],
)
def test_short_flags(short, long, value):
    args = crawl_command.build_parser().parse_args([short, str(value), "http://h/"])
    assert getattr(config_from_args(args), long) == value


def test_dash_capital_v_is_the_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["-V"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("crawl ")


@pytest.mark.parametrize("argv", [[], ["seed"]])
def test_help_of_commands_with_durations_and_sizes_explains_the_units(argv, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    assert " ".join(UNITS_NOTE.split()) in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--timeout", "500ms"], "timeout", 0.5),
        (["--time-limit", "5m"], "time_limit", 300.0),
        (["--delay", "250ms"], "delay", 0.25),
        (["--max-crawl-delay", "1m"], "max_crawl_delay", 60.0),
        (["--max-bytes", "512k"], "max_bytes", 512 * 1024),
        (["--max-bytes", "10M"], "max_bytes", 10 * 1024 * 1024),
        (["--timeout", "2.5"], "timeout", 2.5),
        (["--state", "redis://h/0", "--crawl-id", "c", "--lease-seconds", "1h"],
         "lease_seconds", 3600.0),
    ],
)  # fmt: skip
def test_durations_and_sizes_take_units(argv, field, value):
    args = crawl_command.build_parser().parse_args([*argv, "http://h/"])
    assert getattr(config_from_args(args), field) == value


def test_progress_interval_takes_a_duration():
    args = crawl_command.build_parser().parse_args(["--progress-interval", "1500ms", "http://h/"])
    assert (args.progress_interval, format_duration(args.progress_interval)) == (1.5, "1500ms")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--timeout", "1x"], "argument --timeout: not a duration: '1x' (e.g. 500ms, 30s, 5m, 1h; "
         "a bare number is seconds)"),
        (["--delay", "nan"], "argument --delay: not a duration: 'nan' (e.g. 500ms, 30s, 5m, 1h; "
         "a bare number is seconds)"),
        (["--time-limit", "inf"], "argument --time-limit: not a duration: 'inf' (e.g. 500ms, "
         "30s, 5m, 1h; a bare number is seconds)"),
        (["--max-bytes", "10MB"], "argument --max-bytes: not a size: '10MB' (e.g. 512k, 10M, 1G "
         "(1024-based, as in wget); a bare number is bytes)"),
        (["--progress-interval", "0s"], "argument --progress-interval: must be > 0, got 0s"),
        (["--timeout", "0"], "--timeout must be > 0, got 0.0"),
    ],
)  # fmt: skip
def test_a_bad_duration_or_size_is_one_line(argv, line, capsys):
    assert main([*argv, "http://h/"]) == 2
    assert capsys.readouterr().err == f"crawl: error: {line}\n"
