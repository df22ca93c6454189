"""The docs hold together (issue 20 §5): the README stays a quick start near its budget, and every link in the
README and docs/ (user docs) and docs/dev/ (contributor docs) reaches a file that exists and, where it names a
section, a heading that exists; every `docs/….md` path cited in code, tests, profiles or scripts exists.

Data-driven: each link, each cited path, is one case, so a moved or renamed doc names every place that still
points at its old name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import REPO

README = REPO / "README.md"
README_WORDS = 1300  # "about 1,000 words": the quick start, the commands, the exit codes and links
DOCS = [README, *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CITED = re.compile(r"(?<![\w/.-])(docs/[\w./-]+\.md)\b")
OTHER_PROJECTS = {  # paths in other repositories' trees, cited with their project's name beside them
    "docs/operators.md",  # onnx-tensorrt's operator support table
    "docs/introduction/compatibility.md",  # Triton server's
    "docs/introduction/release_notes.md",  # Triton server's
}
CITING = [  # where code, tests and scripts name a doc by its repository path
    *sorted((REPO / "builder").rglob("*.py")),
    *sorted((REPO / "tests").rglob("*.py")),
    *sorted((REPO / "profiles").glob("*.yaml")),
    *sorted((REPO / "scripts").iterdir()),
    *sorted((REPO / "examples").rglob("*")),
    REPO / "Makefile",
    REPO / ".ci" / "run",
    *DOCS,
]


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks (a link or heading inside a code block is not one)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not `-` or `_`), each space a `-`."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _prose(path.read_text()), re.M):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for target in LINK.findall(_prose(doc.read_text())):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not ours to check
                out.append((doc.relative_to(REPO).as_posix(), target))
    return sorted(set(out))


def _cited() -> list[tuple[str, str]]:
    out = []
    for path in CITING:
        if path.is_file():
            text = path.read_text(errors="replace")
            out += [(path.relative_to(REPO).as_posix(), c) for c in CITED.findall(text) if c not in OTHER_PROJECTS]
    return sorted(set(out))


LINKS = _links()
CITES = _cited()


def test_the_readme_stays_near_its_budget() -> None:
    words = len(README.read_text().split())
    assert words <= README_WORDS, f"README.md has {words} words (budget {README_WORDS}): move detail into docs/"


def test_the_readme_links_every_user_and_contributor_doc() -> None:
    linked = {target.split("#")[0] for where, target in LINKS if where == "README.md"}
    docs = {p.relative_to(REPO).as_posix() for p in DOCS if p != README}
    assert docs <= linked, sorted(docs - linked)


@pytest.mark.parametrize("where, target", LINKS, ids=[f"{w} -> {t}" for w, t in LINKS])
def test_a_link_reaches_an_existing_file_and_section(where: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (REPO / where).parent / path if path else REPO / where
    assert file.exists(), f"{where}: link to {target}: no file {file.relative_to(REPO)}"
    if anchor and file.suffix == ".md":
        assert anchor in _anchors(file), f"{where}: link to {target}: no heading with anchor #{anchor}"


@pytest.mark.parametrize("where, cited", CITES, ids=[f"{w}: {c}" for w, c in CITES])
def test_a_cited_doc_path_exists(where: str, cited: str) -> None:
    assert (REPO / cited).is_file(), f"{where} cites {cited}, which does not exist"


def test_the_checks_find_links_and_citations_at_all() -> None:
    assert ("README.md", "docs/dev/evidence.md") in LINKS
    assert ("docs/tensorrt.md", "dev/evidence.md#fp16-margins-measured-on-a-gpu") in LINKS
    assert any(cited == "docs/dev/fixture-model.md" for _, cited in CITES)
    assert _slug("Errors (all `ERROR` + `TIP`)") == "errors-all-error--tip"
    assert _slug("CUDA forward compatibility: not enabled (decision, issue 17 §2 item 5)") == (
        "cuda-forward-compatibility-not-enabled-decision-issue-17-2-item-5"
    )
