"""``python -m crawler``: the same as the ``crawl`` command."""

import sys

from crawler.cli import main

sys.exit(main())
