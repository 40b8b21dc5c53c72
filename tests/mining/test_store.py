"""store.one_row: the row a query must return, or a named DatabaseError instead of None[0]."""

import pytest

from mining import store
from mining.errors import DatabaseError


def test_one_row_returns_the_aggregate_row_and_names_a_query_that_returned_none(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    try:
        assert store.one_row(con, "SELECT count(*), count(DISTINCT repo) FROM commits") == (0, 0)
        assert store.one_row(con, "SELECT ? + 1", [41]) == (42,)
        with pytest.raises(DatabaseError, match="no row: SELECT head_sha FROM repos WHERE repo = ?"):
            store.one_row(con, "SELECT head_sha\n  FROM repos WHERE repo = ?", ["absent/repo"])
    finally:
        con.close()
