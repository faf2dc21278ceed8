"""Generate a deterministic static site for crawl benchmarks.

Page 0 is ``/`` (``index.html``); page ``i >= 1`` lives at ``/sNNN/p<i>.html`` with
``PAGES_PER_SECTION`` pages to a directory, so relative links (``p7.html``, ``./p7.html``,
``../s002/p250.html``, ``../``) resolve differently from absolute ones. Page ``i`` links to
``i + 1`` (which makes every page reachable from ``/``) and to ``links - 1`` pages drawn from a
seeded RNG, each spelled one of several ways, some with a ``#fragment``. Every page also has an
off-site link and a ``mailto:`` link that crawlers must skip.

``manifest.txt`` holds the URL paths a correct crawl fetches, one a line, sorted. It is written
last, so its presence marks a complete site (the runner caches sites by (pages, links, seed)).

Usage: python benchmarks/sitegen.py OUT_DIR [--pages N] [--links K] [--seed S]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

DEFAULT_PAGES = 5_000
DEFAULT_LINKS = 30
DEFAULT_SEED = 1
# 100 pages a directory keeps both same-directory and ``../`` links common.
PAGES_PER_SECTION = 100
# Text until the page reaches this size: typical HTML of a content page is 10-20 KB.
TARGET_BYTES = 15_000
MANIFEST = "manifest.txt"
# Filler vocabulary, one string so the list stays readable; split once at import.
_VOCABULARY = """
    crawler frontier queue fetch parse link anchor page site request response header body server
    client socket async await task event loop buffer stream charset encoding document section
    article paragraph title index archive category tag author date comment reply search
"""
WORDS = tuple(_VOCABULARY.split())
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:48rem;line-height:1.5}"
    "nav a{margin-right:1em}footer{border-top:1px solid #ccc;font-size:.9em;color:#555}"
    ".meta{color:#777}.sec{margin-top:2em}"
)


def page_path(i: int) -> str:
    """Return the URL path of page ``i``."""
    return "/" if i == 0 else f"/s{i // PAGES_PER_SECTION:03d}/p{i}.html"


def file_path(i: int) -> str:
    """Return the path of page ``i``'s file, relative to the site root."""
    return "index.html" if i == 0 else page_path(i).lstrip("/")


def link_spelling(src: int, dst: int, rng: random.Random) -> str:
    """Spell a link from page ``src`` to page ``dst`` one of several equivalent ways."""
    path = page_path(dst)
    if dst == 0:
        # From a section page ``../`` is the root; from the root ``./`` is.
        return rng.choice(["/", "./" if src == 0 else "../"])
    forms = [path, path.lstrip("/") if src == 0 else "../" + path.lstrip("/")]
    if src != 0 and src // PAGES_PER_SECTION == dst // PAGES_PER_SECTION:
        name = path.rsplit("/", 1)[1]
        forms += [name, "./" + name]
    href = rng.choice(forms)
    # Fragments name the same document; a crawler must not fetch it twice.
    return href + f"#sec{rng.randrange(5)}" if rng.random() < 0.15 else href


def targets(i: int, pages: int, links: int, rng: random.Random) -> list[int]:
    """Return the pages that page ``i`` links to: the next one, then random others."""
    first = [(i + 1) % pages]
    return first + [rng.randrange(pages) for _ in range(links - 1)]


def paragraph(rng: random.Random, words: int) -> str:
    """Return ``words`` words of filler text."""
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def head(i: int) -> str:
    """Return the document head of page ``i``."""
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Page {i} | Benchmark site</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<nav><a href="/">Home</a><a href="mailto:webmaster@example.invalid">Contact</a></nav>\n'
        f'<main>\n<h1>Page {i}</h1>\n<p class="meta">Generated page {i}.</p>\n'
    )


def body(i: int, hrefs: list[str], rng: random.Random) -> str:
    """Return the article: one link per paragraph, then filler text up to the target size."""
    parts = [
        f'<p class="sec" id="sec{n % 5}">{paragraph(rng, 12)} <a href="{href}">link {n}</a> '
        f"{paragraph(rng, 8)}</p>\n"
        for n, href in enumerate(hrefs)
    ]
    size = sum(map(len, parts))
    while size < TARGET_BYTES - 600:
        parts.append(f"<p>{paragraph(rng, 40)}</p>\n")
        size += len(parts[-1])
    return "".join(parts)


def footer(i: int) -> str:
    """Return the footer, with the links that every crawler must skip."""
    return (
        f'</main>\n<footer><p>Page {i}. <a href="http://offsite.invalid/p{i}.html">Partner</a> '
        f'<a href="mailto:page{i}@example.invalid">Mail</a></p></footer>\n</body>\n</html>\n'
    )


def render(i: int, pages: int, links: int, seed: int) -> str:
    """Return the HTML of page ``i``; the same arguments always give the same bytes."""
    # One RNG a page, seeded from (seed, i), so pages do not depend on generation order.
    rng = random.Random(seed * 1_000_003 + i)
    hrefs = [link_spelling(i, dst, rng) for dst in targets(i, pages, links, rng)]
    return head(i) + body(i, hrefs, rng) + footer(i)


def generate(
    out: Path, pages: int = DEFAULT_PAGES, links: int = DEFAULT_LINKS, seed: int = DEFAULT_SEED
) -> Path:
    """Write the site under ``out`` and return the path of its manifest.

    Raises:
        ValueError: If ``pages`` or ``links`` is below 1.
    """
    if pages < 1 or links < 1:
        raise ValueError(f"pages and links must be >= 1, got {pages} and {links}")
    for i in range(pages):
        target = out / file_path(i)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(i, pages, links, seed), encoding="utf-8")
    manifest = out / MANIFEST
    paths = sorted(page_path(i) for i in range(pages))
    manifest.write_text("".join(p + "\n" for p in paths), encoding="utf-8")
    return manifest


def cached(work: Path, pages: int, links: int, seed: int) -> Path:
    """Return the manifest of the site for these arguments, generating it on first use."""
    out = work / f"site-n{pages}-k{links}-s{seed}"
    manifest = out / MANIFEST
    return manifest if manifest.exists() else generate(out, pages, links, seed)


def read_manifest(manifest: Path) -> set[str]:
    """Return the URL paths listed in ``manifest``."""
    return set(manifest.read_text(encoding="utf-8").split())


def main(argv: list[str] | None = None) -> int:
    """Generate a site from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES)
    parser.add_argument("--links", type=int, default=DEFAULT_LINKS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    manifest = generate(args.out, args.pages, args.links, args.seed)
    print(f"wrote {args.pages} pages and {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
