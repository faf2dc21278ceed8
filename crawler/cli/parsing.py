"""The commands' argument parser: whole option names only, errors in one line, "did you mean".

argparse would take ``--conc 4`` for ``--concurrency 4`` and ``--user u:p`` for
``--user-agent u:p``; ``Parser`` refuses abbreviations, so that an option added later never
changes what an old command line means. An unknown option is named with the closest known
ones and the command's ``--help``. ``cli_message`` renames the ``CrawlConfig`` field that
starts a ``ConfigError`` to the flag that sets it (``--deny``, not ``deny_patterns``).
"""

from __future__ import annotations

import argparse
import difflib
import re
import textwrap
from typing import TYPE_CHECKING, NoReturn

from crawler.cli.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

UNRECOGNIZED = "unrecognized arguments: "
"""How argparse starts the error for words no option or positional took."""

SIMILARITY = 0.7
"""``difflib`` ratio from which a name counts as a typo of another: ``--maxpages`` is
0.95 from ``--max-pages``; 0.6 (difflib's default) would offer ``--state`` for
``--stats-json``. Abbreviations, further off (``--conc``), are matched as prefixes."""

HELP_POSITION = 34
"""Column of the options' help: room for ``--per-host-concurrency N`` on the same line."""


class HelpFormatter(argparse.HelpFormatter):
    """Wrap each paragraph of a description or epilog; keep indented lines (examples) as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=HELP_POSITION)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(_fill(line, width, indent) for line in text.splitlines())

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never split an option name such as --crawl-id at its hyphen.
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _fill(line: str, width: int, indent: str) -> str:
    if not line or line.startswith(" "):
        return indent + line
    return textwrap.fill(
        line, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )


class Parser(argparse.ArgumentParser):
    """An argument parser without abbreviations that raises ``UsageError`` instead of exiting."""

    def __init__(
        self, *, prog: str, description: str, epilog: str | None = None, usage: str | None = None
    ) -> None:
        super().__init__(
            prog=prog, description=description, epilog=epilog, usage=usage, allow_abbrev=False,
            formatter_class=HelpFormatter,
        )  # fmt: skip

    def error(self, message: str) -> NoReturn:
        """Raise ``UsageError(message)``; unknown options get the closest known ones."""
        if message.startswith(UNRECOGNIZED):
            words = message.removeprefix(UNRECOGNIZED).split(" ")
            message = unrecognized(words, option_names(self), self.prog)
        raise UsageError(message)


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    """Return every option string of ``parser`` (``-o``, ``--output``, ...)."""
    return [name for action in parser._actions for name in action.option_strings]


def suggestions(word: str, known: Sequence[str]) -> list[str]:
    """Return the names of ``known`` that ``word`` meant: those it abbreviates, else a typo's."""
    if word.startswith("--") and len(word) > 2:
        abbreviated = [name for name in known if name.startswith(word)]
        if abbreviated:
            return abbreviated[:3]
    return difflib.get_close_matches(word, known, n=1, cutoff=SIMILARITY)


def did_you_mean(names: Iterable[str]) -> str:
    """Return ``" (did you mean A?)"``, ``" (did you mean A, B or C?)"``, or ``""`` for none."""
    names = list(names)
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f" (did you mean {listed}?)"


def see_help(prog: str) -> str:
    """Return the pointer to the command's help that ends an unknown name's error."""
    return f"see '{prog} --help'"


def unrecognized(words: Sequence[str], known: Sequence[str], prog: str) -> str:
    """Return the one-line error for ``words`` no option took, each option with its suggestions."""
    named = [
        word + (did_you_mean(suggestions(word.split("=")[0], known)) if word[:1] == "-" else "")
        for word in words
    ]
    return f"{UNRECOGNIZED}{' '.join(named)}; {see_help(prog)}"


def flags_of_fields(parser: argparse.ArgumentParser, fields: Iterable[str]) -> dict[str, str]:
    """Return the long flag of each of ``fields`` in ``parser`` (``deny_patterns``: ``--deny``)."""
    wanted = set(fields)
    return {
        action.dest: max(action.option_strings, key=len)
        for action in parser._actions
        if action.dest in wanted and action.option_strings
    }


_LEADING_NAME = re.compile(r"^(\w+)(?=[ :])")


def cli_message(message: str, flags: dict[str, str]) -> str:
    """Return ``message`` with the field name it starts with, if any, replaced by its flag."""
    return _LEADING_NAME.sub(lambda match: flags.get(match[1], match[1]), message, count=1)
