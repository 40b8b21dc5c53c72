"""store.one_row: the row a query must return, or a named DatabaseError instead of None[0]."""

import pytest

from mining import store
from mining.errors import DatabaseError


def test_one_row_returns_the_aggregate_row_and_names_a_query_that_returned_none(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    try:
        assert store.one_row(con, "SELECT count(*), count(DISTINCT repo) FROM commits") == (0, 0)
        assert store.one_row(con, "SELECT ? + 1", [41]) == (42,)
        with pytest.raises(
            DatabaseError, match="no row: SELECT head_sha FROM repos WHERE repo = ?"
        ):
            store.one_row(con, "SELECT head_sha\n  FROM repos WHERE repo = ?", ["absent/repo"])
    finally:
        con.close()


def test_the_views_rank_and_group_channels_by_their_one_definition(monkeypatch):
    """commit_evidence reads the channel order and the ai/direct flags from the lookup table the
    store fills from mining/channels.toml: change the definition and the SQL follows."""
    from mining import vocabulary

    con = store.connect(":memory:")
    con.execute(
        "INSERT INTO attributions VALUES ('r', 'a', 'claude-code', 'marker', 'line', ''), "
        "('r', 'a', 'claude-code', 'co-author', 'trailer:co-authored-by', ''), "
        "('r', 'b', 'codex', 'branch', 'merge:x', ''), ('r', 'c', 'coderabbit', 'suggestion', 'author', '')"
    )
    query = "SELECT sha, ai, ai_direct, ai_suggestion, ai_channel FROM commit_evidence ORDER BY sha"
    assert con.execute(query).fetchall() == [
        ("a", True, True, False, "co-author"),
        ("b", True, False, False, "branch"),
        ("c", False, False, True, "suggestion"),
    ]
    reordered = tuple(
        vocabulary.Channel(c.name, ai=True, direct=True, description=c.description)
        for c in reversed(vocabulary.CHANNEL_DEFS)
    )
    monkeypatch.setattr(store, "CHANNEL_DEFS", reordered)
    store.apply_schema(con)
    assert con.execute(query).fetchall() == [
        ("a", True, True, False, "marker"),
        ("b", True, True, False, "branch"),
        ("c", True, True, False, "suggestion"),
    ]


def test_tool_summary_counts_ai_commits_by_the_channel_definition(monkeypatch):
    """tool_summary's ai_commits leaves out commits whose only evidence is a non-AI channel
    (a review suggestion), as channels.toml marks it: flip the flag and the view follows."""
    from mining import vocabulary

    con = store.connect(":memory:")
    for sha in ("a", "b"):
        con.execute(
            "INSERT INTO commits (repo, sha, parents, is_merge, author_id, committer_id, "
            "files_changed, lines_added, lines_deleted, n_binary, n_missing_blobs, topo_index, "
            "on_first_parent, integration_mode) "
            "VALUES ('r', ?, ['p'], false, 'x', 'x', 1, 1, 0, 0, 0, 0, true, 'direct')",
            [sha],
        )
    con.execute(
        "INSERT INTO attributions VALUES ('r', 'a', 'coderabbit', 'co-author', 'trailer', ''), "
        "('r', 'b', 'coderabbit', 'suggestion', 'author', '')"
    )
    query = "SELECT tool, commits, ai_commits FROM tool_summary"
    assert con.execute(query).fetchall() == [("coderabbit", 2, 1)]
    every_channel_ai = tuple(
        vocabulary.Channel(c.name, ai=True, direct=c.direct, description=c.description)
        for c in vocabulary.CHANNEL_DEFS
    )
    monkeypatch.setattr(store, "CHANNEL_DEFS", every_channel_ai)
    store.apply_schema(con)
    assert con.execute(query).fetchall() == [("coderabbit", 2, 2)]
