"""Sources are recorded inside the project: nothing cites the research folder outside the repository, and every
``docs/sources/<page>.md#<anchor>`` cited by code, data files, READMEs and tests names a heading that exists.

Anchors are computed as the documentation site computes them (Python-Markdown's ``toc`` slugify, which
``mkdocs.yml`` uses unchanged: lower case, punctuation dropped, runs of spaces and hyphens to one hyphen).
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources"

#: Where the project's own text lives (tests/ too: their docstrings cite sources the same way).
SCANNED = ("toolkit", "docs", "abis", "fixtures", "notebooks", "bench", "tests")
TEXT_SUFFIXES = {".py", ".toml", ".md", ".txt", ".yml", ".yaml", ".cff", ".ipynb", ".sol", ".cfg", ".ini"}
#: The research folder beside the repository (and its notes by name); citing it sends a reader where they cannot go.
OUTSIDE = re.compile(r"shared/(?:reference|data)\b|\.\./shared\b|\b(?:defi-protocols|cex-engines|engineering)\.md\b")
CITATION = re.compile(r"docs/sources/([a-z0-9_-]+)\.md#([A-Za-z0-9_-]+)")


def _text_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CITATION.cff", ROOT / "mkdocs.yml"]
    for top in SCANNED:
        files += [p for p in (ROOT / top).rglob("*")
                  if p.is_file() and p.suffix in TEXT_SUFFIXES and "node_modules" not in p.parts
                  and ".ipynb_checkpoints" not in p.parts and p != Path(__file__).resolve()]
    return files


def _anchors(page: Path) -> set[str]:
    """Heading anchors of a sources page (every level), as the site builds them."""
    anchors = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            anchors.add(slugify(line.lstrip("#").strip().replace("`", ""), "-"))
    return anchors


def test_slugify_matches_the_hand_written_anchors() -> None:
    """The rule this test relies on, on headings whose anchors are cited by hand elsewhere."""
    assert slugify("Liquidations 1.x events", "-") == "liquidations-1x-events"
    assert slugify("BitMEX instrument XBTUSD 2021-07-22", "-") == "bitmex-instrument-xbtusd-2021-07-22"
    assert slugify("aave-v33-close-factor", "-") == "aave-v33-close-factor"


def test_nothing_cites_the_research_folder_outside_the_repository() -> None:
    offenders = []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                      for m in OUTSIDE.finditer(text)]
    assert not offenders, "cite a docs/sources entry instead:\n" + "\n".join(offenders)


def test_every_cited_sources_entry_exists() -> None:
    pages = {page.stem: _anchors(page) for page in SOURCES.glob("*.md")}
    cited: set[tuple[str, str]] = set()
    broken = []
    for path in _text_files():
        for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            page, anchor = match.groups()
            cited.add((page, anchor))
            if anchor not in pages.get(page, set()):
                broken.append(f"{path.relative_to(ROOT)}: docs/sources/{page}.md#{anchor}")
    assert len(cited) > 50, sorted(cited)  # the code does cite its sources this way
    assert not broken, "no such heading:\n" + "\n".join(sorted(broken))


def test_code_cites_sources_pages_for_every_protocol_family() -> None:
    """Each adapter module names the docs/sources page of its protocol (the facts behind its decoding)."""
    expected = {"aave.py": "aave", "compound_v2.py": "compound", "compound_v3.py": "compound", "maker.py": "maker",
                "liquity.py": "liquity", "morpho_blue.py": "morpho", "euler_v2.py": "euler"}
    for module, page in expected.items():
        text = (ROOT / "toolkit" / "protocols" / module).read_text(encoding="utf-8")
        assert f"docs/sources/{page}.md#" in text, module
