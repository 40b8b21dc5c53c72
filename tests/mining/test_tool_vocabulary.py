"""The AI tool names live in the signatures catalog only: message cleaning (what the classifier
reads) and the privacy scan are built from its `words`, so a new tool is one catalog entry."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mining import features, privacy, store
from mining.attribute import load_catalog

NEW_TOOL = """
[tools.zorkpilot]
name = "Zorkpilot (a tool the packaged catalog does not know)"
words = ["zorkpilot"]
"""


@pytest.fixture
def catalog_copy(tmp_path: Path) -> str:
    """A copy of the packaged catalog with one more tool; the package itself is untouched."""
    text = (resources.files("mining") / "signatures.toml").read_text(encoding="utf-8")
    path = tmp_path / "signatures.toml"
    path.write_text(text + NEW_TOOL, encoding="utf-8")
    return str(path)


def test_a_tool_added_to_a_catalog_copy_is_cleaned_from_messages(catalog_copy):
    message = "zorkpilot: add the parser\n\nWhy: the old one was slow.\nDrafted with ZorkPilot v2\n"
    assert features.clean_message(message) == message.strip()  # the packaged catalog: kept
    cleaned = features.clean_message(message, catalog=catalog_copy)
    assert cleaned == "add the parser\n\nWhy: the old one was slow."


def test_a_tool_added_to_a_catalog_copy_is_no_person_to_the_privacy_scan(
    repo_builder, tmp_path, catalog_copy
):
    """An author "name" that is the tool's (a shared machine identity) is not a person: a path
    named after the tool is then no leak. Unknown to the catalog, the same path is a finding."""
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    rb.commit("setup", {"a.txt": "a\n"}, author=("Zorkpilot Runner", "runner@example.org"))
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    out = tmp_path / "release"
    out.mkdir()
    pq.write_table(pa.table({"path": ["zorkpilot-runner/notes.md"]}), out / "file_changes.parquet")
    con = store.connect(db, read_only=True)
    try:
        assert [f.kind for f in privacy.scan_release(out, con)] == ["person name"]
        assert privacy.scan_release(out, con, catalog=catalog_copy) == []
    finally:
        con.close()


# The words the packaged catalog gives each use, and what cleaning does with them: features of
# every stored commit depend on these, so a catalog edit that changes them needs a new
# FEATURES_VERSION (the release's 261,725 messages cleaned identically when this moved to data).
TEXT_WORDS = [
    "aider",
    "anthropic",
    "chatgpt",
    "claude",
    "codex",
    "copilot",
    "cursor",
    "devin",
    "gemini",
    "openai",
]
SUBJECT_WORDS = ["ai", "aider", "claude", "codex", "copilot", "cursor"]


def test_the_packaged_catalog_cleans_what_the_hard_coded_lists_cleaned():
    catalog = load_catalog()
    assert catalog.text_words() == TEXT_WORDS and catalog.subject_words() == SUBJECT_WORDS
    for word in TEXT_WORDS:
        body = f"fix: parser\n\nReal reason.\nDone with {word.title()} today\n"
        assert features.clean_message(body) == "fix: parser\n\nReal reason.", word
        prefixed = f"{word}: add parser"
        kept = prefixed if word not in SUBJECT_WORDS else "add parser"
        assert features.clean_message(prefixed) == kept, word
    # words the catalog names for other uses only do not touch messages
    assert features.clean_message("anthropic: stream replies\n\nWe decline large inputs.") == (
        "anthropic: stream replies\n\nWe decline large inputs."
    )


def test_catalog_word_lists_must_be_words(tmp_path):
    from mining.errors import CorpusError

    bad = tmp_path / "bad.toml"
    bad.write_text('[tools.x]\nname = "x"\nwords = "x"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"tools\.x\.words must be a list of words"):
        load_catalog(str(bad))
