"""A crawl's identity: what a state file is bound to, so a resume continues the same crawl.

It is a hash of the seed URLs (in order), the seeds files (their absolute paths, not their
content: a seeds file may be appended to between runs, and stdin has no content to hash
in advance) and the options that change which URLs are in scope: allowed and denied
domains and patterns, and ``max_depth``. Limits such as ``max_pages`` and the time limit
are not part of it: a resumed crawl may be given more budget.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.config import CrawlConfig


def crawl_identity(seeds: Sequence[str], seed_files: Sequence[str], config: CrawlConfig) -> str:
    """Return the hex SHA-256 identity of a crawl (see the module docstring)."""
    described = {
        "seeds": list(seeds),
        "seed_files": [p if p == "-" else os.path.abspath(p) for p in seed_files],
        "allow_domains": list(config.allow_domains),
        "deny_domains": list(config.deny_domains),
        "allow_patterns": list(config.allow_patterns),
        "deny_patterns": list(config.deny_patterns),
        "max_depth": config.max_depth,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
