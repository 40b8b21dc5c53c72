"""Memory (issue 8): the crawl streams, so a 200k-line commit keeps it far below 1 GiB RSS."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "memory.py"


@pytest.mark.slow
def test_crawl_and_features_stay_under_1_gib_on_a_200k_line_commit(tmp_path):
    spec = importlib.util.spec_from_file_location("memory_bench", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.run(lines=200_000, commits=100, keep=tmp_path)
    assert results["crawl"]["rc"] == 0, results["crawl"]["stderr"]
    assert results["crawl"]["peak_tree_mb"] < bench.LIMIT_MB
    assert results["features"]["rc"] == 0, results["features"]["stderr"]
    assert results["features"]["peak_tree_mb"] < bench.LIMIT_MB
    import duckdb

    con = duckdb.connect(str(tmp_path / "mem.duckdb"), read_only=True)
    assert con.execute("SELECT max(lines_added), max(lines_deleted) FROM commits").fetchone() == (
        200_000,
        200_000,
    )
    con.close()
