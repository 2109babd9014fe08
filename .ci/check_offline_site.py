"""Fail when a page of the built documentation needs the network to display.

Usage: python .ci/check_offline_site.py docs/_build/html

A page that loads a script, a stylesheet or a font from another site (a CDN's
MathJax, say) shows raw TeX or no styling in an installed copy, on a laptop
without network or on an air-gapped cluster. Links (``<a href>``) to other
sites are fine: they are followed only when the reader clicks them. Links and
resources within the site must lead to a file that is there.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

# A URL that leaves the site: a scheme (http:, https:, ...) or protocol-relative.
REMOTE = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//)")
# Schemes that load nothing from the network.
LOCAL_SCHEMES = ("data:", "blob:", "about:", "javascript:")
# <link rel=...> values that make the browser fetch the target with the page.
LOADED_RELS = {"stylesheet", "preload", "modulepreload", "icon", "manifest"}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


def is_remote(url: str) -> bool:
    """Return whether the browser would fetch ``url`` from another site."""
    return bool(REMOTE.match(url)) and not url.strip().lower().startswith(LOCAL_SCHEMES)


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []
        self.local: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for key in ("href", "src"):
            target = attributes.get(key)
            if target and not is_remote(target) and not target.startswith("#"):
                self.local.append(target)
        url = None
        if tag in {"script", "img", "iframe", "audio", "video", "source", "embed"}:
            url = attributes.get("src")
        elif tag == "link":
            rels = set((attributes.get("rel") or "").lower().split())
            if rels & LOADED_RELS:
                url = attributes.get("href")
        if url and is_remote(url):
            self.remote.append(f"<{tag}> {url}")


def _pages(site: Path) -> list[Path]:
    # _static holds the theme's own template fragments, not pages.
    return [
        page
        for page in sorted(site.rglob("*.html"))
        if page.relative_to(site).parts[0] != "_static"
    ]


def remote_loads(site: Path) -> list[str]:
    """Return one line per resource loaded from elsewhere, or link to nothing."""
    problems = []
    for page in _pages(site):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        name = page.relative_to(site)
        problems += [f"{name}: loads {item} from the network" for item in parser.remote]
        for target in parser.local:
            path = target.split("#")[0].split("?")[0]
            if path and not (page.parent / unquote(path)).exists():
                problems.append(f"{name}: link to a missing file {target}")
    for sheet in sorted(site.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        problems += [
            f"{sheet.relative_to(site)}: loads {url} from the network"
            for url in CSS_URL.findall(text)
            if is_remote(url)
        ]
    return problems


def main(argv: list[str]) -> int:
    """Check the site directory named in ``argv``; return the exit status."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    site = Path(argv[0])
    pages = _pages(site)
    if not pages:
        print(f"no HTML pages under {site}", file=sys.stderr)
        return 1
    problems = remote_loads(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} problem(s): serve every resource from the site "
            "itself (docs/_static or an extension), and link to files that are "
            "there.",
            file=sys.stderr,
        )
        return 1
    print(
        f"{len(pages)} pages: every script, stylesheet and image is local, and "
        "every link within the site leads to a file."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
