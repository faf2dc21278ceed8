"""The exception tree of the crawler.

Only programming and set-up mistakes are exceptions. A URL that is not crawled is a
*skip reason* (see ``crawler.models.SkipReason``) and a page that failed to fetch is a
record with an ``error`` class (see ``crawler.models.ErrorKind``); neither raises.

::

    CrawlerError                      base of everything raised by this package
    ├── ConfigError (ValueError)      an invalid option; the message names the option
    ├── SeedError (ValueError)        a seed that is not an http(s) URL; carries ``url``
    ├── OutputError (OSError)         the output cannot be opened or written
    │   ├── OutputClosed              its reader went away (``crawl ... | head``): the crawl stops
    │   ├── WriteError                writing it failed mid-crawl (disk full, I/O error)
    │   └── OutputMismatchError       on resume, it does not match the state (deleted, damaged)
    ├── RecordsError (ValueError)     a crawl's output cannot be read back (``crawl report``)
    └── StateError                    the crawl state cannot be used
        ├── StateMismatchError        the state belongs to another crawl
        ├── StateUnavailableError     its server stopped answering mid-crawl (an outage)
        ├── StateWriteError           writing it failed (a full disk, an I/O error)
        └── StateCorruptError         the state file is unreadable
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class of every exception this package raises."""


class ConfigError(CrawlerError, ValueError):
    """An option of ``CrawlConfig`` has an invalid value."""


class SeedError(CrawlerError, ValueError):
    """A seed is not an absolute http or https URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"invalid seed URL {url!r}: {reason}")
        self.url = url


class OutputError(CrawlerError, OSError):
    """The output file cannot be opened or written."""


class OutputClosed(OutputError):
    """The reader of the output closed it (a pipe to ``head``): a way to stop, not a failure."""


class WriteError(OutputError):
    """Writing the output failed mid-crawl (a full disk, an I/O error): not bad input."""


class OutputMismatchError(OutputError):
    """On resume, the output does not match the state: deleted, emptied or damaged."""


class RecordsError(CrawlerError, ValueError):
    """A crawl's output (JSON Lines or CSV records) cannot be read; the message says where."""


class StateError(CrawlerError):
    """The crawl state cannot be used."""


class StateMismatchError(StateError):
    """The state was written by a crawl with other seeds or scope options."""


class StateUnavailableError(StateError):
    """The state's server (Redis) stopped answering mid-crawl and did not come back in time."""


class StateWriteError(StateError):
    """Writing the state file failed (a full disk, an I/O error): not bad input."""


class StateCorruptError(StateError):
    """The state file exists but cannot be read."""
