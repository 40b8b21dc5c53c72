"""The build on a multi-process dask cluster writes the same tables as one local process."""

from __future__ import annotations

from pathlib import Path

from mining import store
from mining.build import build
from mining.runner import resolve_targets
from tests.mining.test_build import build_on_cluster, make_corpus, model_dir  # noqa: F401 - a fixture

#: every table a build writes, with the columns that say when or how long (they differ by run)
TABLES = [
    "repos",
    "commits",
    "file_changes",
    "messages",
    "attributions",
    "commit_features",
    "commit_layers",
]
_VOLATILE = ("_at", "seconds", "git_dir", "path", "source")


def _rows(db: Path, table: str) -> list[tuple]:
    con = store.connect(db, read_only=True)
    try:
        cols = [
            r[0]
            for r in con.execute(f"DESCRIBE {table}").fetchall()
            if not r[0].endswith(_VOLATILE)
        ]
        body = ", ".join(f'"{c}"' for c in cols)
        return con.execute(f"SELECT {body} FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_multi_process_dask_cluster_equals_one_process(repo_builder, tmp_path, model_dir):  # noqa: F811
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    local = tmp_path / "local.duckdb"
    build(local, targets, jobs=1, model_dir=model_dir)
    report, workers = build_on_cluster(
        tmp_path / "dask.duckdb", targets, model_dir, n_workers=2, processes=True
    )
    assert workers == 2
    assert report.totals()["repos_built"] == 2
    for table in TABLES:
        assert _rows(tmp_path / "dask.duckdb", table) == _rows(local, table), table
        assert _rows(local, table), table
