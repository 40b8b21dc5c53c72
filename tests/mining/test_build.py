"""`strata build`: every stage per repository, resumable, same result locally and on dask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mining import build as build_mod
from mining import classify, features, store
from mining.build import BuildReport, build
from mining.classify import LAYERS
from mining.cli import app
from mining.runner import resolve_targets

CLAUDE = ("Co-authored-by", "Claude <noreply@anthropic.com>")


def make_corpus(repo_builder, tmp_path: Path) -> Path:
    """Two tiny repositories (one with Claude Code trailers, one human-only) and a manifest."""
    a = repo_builder("alpha")
    a.commit(
        "initial import", {"src/app.py": "def main():\n    return 1\n", "README.md": "# alpha\n"}
    )
    a.commit(
        "feat: add helper", {"src/util.py": "def helper(x):\n    return x + 1\n"}, trailers=[CLAUDE]
    )
    a.rename("src/util.py", "src/helpers.py", "refactor: rename util module")
    a.branch("topic")
    a.commit("docs: explain usage", {"docs/usage.md": "Run it.\n"}, trailers=[CLAUDE])
    a.checkout("main")
    a.merge("topic", message="Merge branch 'topic'")
    b = repo_builder("beta")
    b.commit(
        "start",
        {"main.go": "package main\n\nfunc main() {}\n"},
        author=("Bo Person", "bo@example.net"),
    )
    b.commit(
        "fix: exit code",
        {"main.go": "package main\n\nfunc main() { println(1) }\n"},
        author=("Bo Person", "bo@example.net"),
    )
    manifest = tmp_path / "corpus.toml"
    manifest.write_text(
        f'[[repo]]\nname = "org/alpha"\npath = "{a.path}"\nrev = "main"\nrole = "study"\nlanguage = "Python"\n\n'
        f'[[repo]]\nname = "org/beta"\npath = "{b.path}"\nrev = "main"\nrole = "control"\nlanguage = "Go"\n'
    )
    return manifest


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A trivial saved model (class priors, no fix model) stands in for the shipped one: the
    build is under test here, not the classifier, and a real fit is slow on a loaded machine."""
    from sklearn.dummy import DummyClassifier

    cols = features.FEATURE_COLUMNS
    frame = pd.DataFrame(np.zeros((4, len(cols))), columns=cols)
    dummy = DummyClassifier(strategy="prior").fit(frame, list(LAYERS))
    meta = {
        "version": "build-test-1",
        "feature_columns": list(cols),
        "features_version": features.FEATURES_VERSION,
    }
    d = tmp_path_factory.mktemp("model")
    classify.save_model(classify.LayerModel(dummy, None, {}, meta), d)
    return d


def table_counts(db: Path) -> dict[str, int]:
    con = store.connect(db, read_only=True)
    try:
        names = [
            "commits",
            "file_changes",
            "messages",
            "attributions",
            "commit_features",
            "commit_layers",
            "commit_structure",
            "repos",
        ]
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in names}
    finally:
        con.close()


def test_build_runs_every_stage_and_reports(repo_builder, tmp_path, model_dir):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "out" / "s.duckdb"
    report = build(db, targets, model_dir=model_dir)
    tot = report.totals()
    assert tot["repos_built"] == 2 and tot["repos_failed"] == 0
    assert tot["commits"] == 7  # 5 + merge in alpha, 2 in beta
    assert tot["featured"] == 6 and tot["classified"] == 6  # merges have no layer
    assert tot["ai_commits"] == 2
    assert tot["skipped"] == {"merge commit (no layer by design)": 1}
    counts = table_counts(db)
    assert counts["commits"] == 7 and counts["commit_layers"] == 6 and counts["repos"] == 2
    assert counts["commit_structure"] == 6  # structural events of every non-merge commit
    con = store.connect(db, read_only=True)
    facts = con.execute(
        "SELECT repo, count(*) FILTER (WHERE ai), count(layer) FROM commit_facts GROUP BY 1 ORDER BY 1"
    ).fetchall()
    state = con.execute(
        "SELECT repo, model_version, n_commits FROM build_state ORDER BY 1"
    ).fetchall()
    con.close()
    assert facts == [("org/alpha", 2, 4), ("org/beta", 0, 2)]
    assert state == [("org/alpha", "build-test-1", 5), ("org/beta", "build-test-1", 2)]
    logs = list((db.parent / "build-logs").glob("build-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "org/alpha: built" in text and "org/beta: built" in text
    saved = json.loads(logs[0].with_suffix(".json").read_text())
    assert saved["totals"]["commits"] == 7
    assert not store.build_staging(db).exists()


def test_second_build_skips_and_changes_nothing(repo_builder, tmp_path, model_dir):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "s.duckdb"
    build(db, targets, model_dir=model_dir)
    before = table_counts(db)
    again = build(db, targets, model_dir=model_dir)
    assert [r["status"] for r in again.repos] == ["up-to-date", "up-to-date"]
    assert table_counts(db) == before


def test_killed_build_resumes_without_duplicates(repo_builder, tmp_path, model_dir, monkeypatch):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "s.duckdb"
    real = build_mod.build_repo
    calls: list[str] = []

    def dies_on_second(target, out_dir=None, model_dir=None):
        calls.append(target.source.repo)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second repository builds
        return real(target, out_dir, model_dir)

    monkeypatch.setattr(build_mod, "build_repo", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        build(db, targets, model_dir=model_dir)
    first = calls[0]
    con = store.connect(db, read_only=True)
    assert [r[0] for r in con.execute("SELECT repo FROM build_state").fetchall()] == [first]
    con.close()
    monkeypatch.setattr(build_mod, "build_repo", real)
    report = build(db, targets, model_dir=model_dir)
    status = {r["repo"]: r["status"] for r in report.repos}
    assert status[first] == "up-to-date" and list(status.values()).count("built") == 1
    fresh = tmp_path / "fresh.duckdb"
    build(fresh, targets, model_dir=model_dir)
    assert table_counts(db) == table_counts(fresh)


def test_leftover_partition_is_merged_not_rebuilt(repo_builder, tmp_path, model_dir, monkeypatch):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "s.duckdb"
    staging = store.build_staging(db)  # named after its database: builds into two never share it
    # a worker finished the partition but the main process died before merging it
    build_mod.build_repo(targets[0], staging / build_mod.partition_key("org/alpha"), str(model_dir))
    seen: list[str] = []
    real = build_mod.build_repo
    monkeypatch.setattr(
        build_mod, "build_repo", lambda t, *a: seen.append(t.source.repo) or real(t, *a)
    )
    build(db, targets, model_dir=model_dir)
    assert seen == ["org/beta"]
    assert table_counts(db)["commits"] == 7


def test_build_without_model_leaves_layers_then_fills_them(repo_builder, tmp_path, model_dir):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "s.duckdb"
    report = build(db, targets, model_dir=tmp_path / "no-model")
    assert report.totals()["skipped"]["not classified: no classifier model installed"] == 6
    assert table_counts(db)["commit_layers"] == 0
    again = build(db, targets, model_dir=model_dir)
    assert {r["status"] for r in again.repos} == {"classified"}
    assert table_counts(db)["commit_layers"] == 6
    # the reclassified rows keep the build's counts, and the state forgets "not classified"
    first = {r["repo"]: r for r in report.repos}
    for r in again.repos:
        assert r["n_merges"] == first[r["repo"]]["n_merges"]
        assert r["n_classified"] == r["n_featured"] == first[r["repo"]]["n_featured"]
        assert not any(k.startswith("not classified") for k in r["skipped"])
    third = build(db, targets, model_dir=model_dir)
    assert [r["skipped"] for r in third.repos] == [r["skipped"] for r in again.repos]
    assert {r["status"] for r in third.repos} == {"up-to-date"}


def test_reclassifying_fills_missing_diff_tokens_without_featuring(
    repo_builder, tmp_path, model_dir, monkeypatch
):
    """A database built before diff tokens existed gets them when it is reclassified, from one
    patch stream: no feature row is computed again, not even for a commit the build left
    without features (as it does a commit whose diff git cannot read)."""
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "s.duckdb"
    build(db, targets, model_dir=tmp_path / "no-model")
    con = store.connect(db)
    con.execute("DELETE FROM commit_diff_tokens")
    unread = con.execute("SELECT repo, sha FROM commit_features LIMIT 1").fetchone()
    con.execute("DELETE FROM commit_features WHERE repo = ? AND sha = ?", list(unread))
    con.close()

    def not_again(*a, **k):
        raise AssertionError("features computed again")

    monkeypatch.setattr(features, "_rows_surviving_unreadable", not_again)
    again = build(db, targets, model_dir=model_dir)
    assert {r["status"] for r in again.repos} == {"classified"}
    assert table_counts(db)["commit_layers"] == 5
    con = store.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM commit_diff_tokens").fetchone()[0] == 5
    con.close()


def test_failed_repository_is_reported_and_others_built(repo_builder, tmp_path, model_dir):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    targets[1].rev = "no-such-branch"
    report = build(tmp_path / "s.duckdb", targets, model_dir=model_dir)
    by = {r["repo"]: r for r in report.repos}
    assert by["org/alpha"]["status"] == "built"
    assert by["org/beta"]["status"] == "failed" and "no-such-branch" in by["org/beta"]["error"]
    assert report.totals()["repos_failed"] == 1


def build_on_cluster(
    db: Path, targets: list, model_dir: Path, n_workers: int, processes: bool, threads: int = 1
) -> tuple[BuildReport, int]:
    """`build` on a dask LocalCluster (dask[distributed] is a runtime dependency: never skipped);
    the report and how many workers the cluster had."""
    import distributed

    with distributed.LocalCluster(
        n_workers=n_workers,
        processes=processes,
        threads_per_worker=threads,
        dashboard_address=None,
    ) as cluster:
        report = build(db, targets, scheduler=cluster.scheduler_address, model_dir=model_dir)
        return report, len(cluster.workers)


def test_process_pool_and_dask_local_cluster_give_the_same_database(
    repo_builder, tmp_path, model_dir
):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    local = tmp_path / "local.duckdb"
    build(local, targets, model_dir=model_dir)
    pooled = build(tmp_path / "pool.duckdb", targets, jobs=2, model_dir=model_dir)
    assert pooled.totals()["repos_built"] == 2
    assert table_counts(tmp_path / "pool.duckdb") == table_counts(local)
    report, _ = build_on_cluster(
        tmp_path / "dask.duckdb", targets, model_dir, n_workers=1, processes=False, threads=2
    )
    assert report.totals()["repos_built"] == 2
    assert table_counts(tmp_path / "dask.duckdb") == table_counts(local)
    q = "SELECT repo, sha, layer, ai FROM commit_facts ORDER BY 1, 2"
    a, b = (
        store.connect(local, read_only=True),
        store.connect(tmp_path / "dask.duckdb", read_only=True),
    )
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    a.close()
    b.close()


def test_cli_build_prints_report(repo_builder, tmp_path, model_dir, monkeypatch):
    manifest = make_corpus(repo_builder, tmp_path)
    monkeypatch.setattr(
        build_mod, "current_model", lambda d=None: (classify.load_model(model_dir), None)
    )
    res = CliRunner().invoke(
        app, ["build", "--corpus", str(manifest), "--db", str(tmp_path / "c.duckdb")]
    )
    assert res.exit_code == 0, res.output
    assert "build report" in res.output and "org/alpha" in res.output
    assert "7 commits" in res.output
    quiet = CliRunner().invoke(
        app, ["build", "--corpus", str(manifest), "--db", str(tmp_path / "c.duckdb"), "-q"]
    )
    assert quiet.exit_code == 0 and quiet.output == ""  # -q: no summary either (docs/cli.md)


def test_features_failure_keeps_the_crawl_and_the_next_build_retries(
    repo_builder, tmp_path, model_dir, monkeypatch
):
    targets = resolve_targets([], make_corpus(repo_builder, tmp_path))
    db = tmp_path / "s.duckdb"
    real = features.features_stage

    def broken_for_beta(con, repos=None, progress=None):
        if repos == ["org/beta"]:
            raise RuntimeError("diff unreadable")
        return real(con, repos, progress)

    monkeypatch.setattr(features, "features_stage", broken_for_beta)
    report = build(db, targets, model_dir=model_dir)
    by = {r["repo"]: r for r in report.repos}
    assert by["org/beta"]["status"] == "partial" and "diff unreadable" in by["org/beta"]["error"]
    assert report.totals()["repos_partial"] == 1
    con = store.connect(db, read_only=True)
    per_repo = dict(con.execute("SELECT repo, count(*) FROM commits GROUP BY 1").fetchall())
    featured = dict(con.execute("SELECT repo, count(*) FROM commit_features GROUP BY 1").fetchall())
    con.close()
    assert per_repo == {"org/alpha": 5, "org/beta": 2} and featured == {"org/alpha": 4}
    monkeypatch.setattr(features, "features_stage", real)
    again = build(db, targets, model_dir=model_dir)
    assert {r["repo"]: r["status"] for r in again.repos} == {
        "org/alpha": "up-to-date",
        "org/beta": "built",
    }
    assert table_counts(db)["commit_layers"] == 6
