"""Texts the layer model reads: cleaned messages and path tokens, from git and from a database."""

from __future__ import annotations

import pandas as pd
import pytest

from mining import features, store, text_features
from mining.errors import StageError


def test_commit_texts_clean_message_and_tokenise_paths(repo_builder):
    rb = repo_builder()
    rb.commit("initial", {"src/oldName.py": "x = 1\n"})
    sha = rb.commit(
        "feat: add parser\n\nGenerated with Claude Code",
        {"src/http_client/ParseHeader.py": "def f():\n    pass\n"},
        trailers=[("Co-authored-by", "Bot <bot@example.org>")],
    )
    moved = rb.rename("src/oldName.py", "lib/newName.py")
    texts = text_features.commit_texts(rb.path, [sha, moved]).set_index("sha")
    msg = texts.loc[sha, "msg_text"]
    assert msg == "feat: add parser"  # trailer and tool marker removed before any model sees it
    tokens = texts.loc[sha, "path_text"].split()
    assert {"http", "client", "parse", "header", "ext_py", "st_A", "A_ext_py"} <= set(tokens)
    renamed = texts.loc[moved, "path_text"].split()
    assert "st_R" in renamed and "new" in renamed and "old" not in renamed


def test_missing_blob_in_a_partial_clone_still_gives_every_commits_texts(repo_builder, tmp_path):
    rb = repo_builder()
    s1 = rb.commit("first", {"old.txt": "line one\nline two\nline three\n"})
    s2 = rb.commit("second: move it", {"old.txt": None, "new.txt": "line one\nline two\nline 3\n"})
    s3 = rb.commit("third", {"other.txt": "x\n"})
    bare = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    rb.drop_objects(bare, {rb.git("rev-parse", f"{s1}:old.txt")})  # rename detection needs it
    texts = text_features.commit_texts(bare, [s3, s2, s1]).set_index("sha")
    assert set(texts.index) == {s1, s2, s3}
    assert texts.loc[s2, "msg_text"] == "second: move it"
    # read without rename detection: a delete and an add instead of a rename
    assert {"st_D", "st_A", "old", "new"} <= set(texts.loc[s2, "path_text"].split())
    assert "st_R" not in texts.loc[s2, "path_text"].split()
    assert {"other", "ext_txt", "st_A"} <= set(texts.loc[s3, "path_text"].split())


def test_ratios_are_relative_to_size():
    frame = pd.DataFrame({c: [0, 0] for c in features.NUMERIC_COLUMNS})
    frame.loc[0, ["n_files", "n_added"]] = [3, 3]
    frame.loc[1, ["n_files", "n_added"]] = [300, 300]
    r = text_features.ratio_features(frame)
    assert list(r.columns) == text_features.RATIO_COLUMNS
    assert r.loc[0, "r_added_files"] == pytest.approx(0.75)
    assert r.loc[1, "r_added_files"] == pytest.approx(300 / 301)


def test_texts_from_db_match_git_and_refuse_a_database_without_messages(repo_builder, tmp_path):
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    rb.commit("initial", {"a/b.py": "x = 1\n"})
    sha = rb.commit("fix: off by one\n\nSigned-off-by: A <a@example.org>", {"a/b.py": "x = 2\n"})
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    from_db = text_features.texts_from_db(con, repo, [sha]).set_index("sha")
    from_git = text_features.commit_texts(rb.path, [sha]).set_index("sha")
    assert from_db.loc[sha, "msg_text"] == from_git.loc[sha, "msg_text"] == "fix: off by one"
    assert from_db.loc[sha, "path_text"] == from_git.loc[sha, "path_text"]
    con.execute("DELETE FROM messages")  # what a released database looks like
    with pytest.raises(StageError, match="no commit messages"):
        text_features.texts_from_db(con, repo, [sha])
