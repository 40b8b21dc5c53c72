"""`strata release` / `strata load`: content-free files, verified loads, a scan that catches leaks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mining import privacy, release, store
from mining.build import build
from mining.cli import app
from mining.errors import DatabaseError, PrivacyError
from mining.runner import resolve_targets
from tests.gitrepo import RepoBuilder, isolate_git
from tests.mining.test_build import make_corpus, model_dir  # noqa: F401 - fixture reused


@pytest.fixture(scope="module")
def built_once(tmp_path_factory, model_dir):  # noqa: F811
    """A database built from the fixture corpus (Ada Human, Bo Person, Claude trailers)."""
    base = tmp_path_factory.mktemp("corpus")
    with pytest.MonkeyPatch.context() as mp:  # the autouse git isolation is per test
        isolate_git(mp, tmp_path_factory.mktemp("home"))
        targets = resolve_targets([], make_corpus(lambda name: RepoBuilder(base / name), base))
        db = base / "s.duckdb"
        build(db, targets, model_dir=model_dir)
    return db


@pytest.fixture
def built(built_once, tmp_path):
    """A private copy per test, so that planting a leak does not touch the others."""
    db = tmp_path / "s.duckdb"
    shutil.copy(built_once, db)
    return db


def _all_text(folder: Path) -> str:
    parts = [(folder / "DATASET.md").read_text()]
    for p in folder.glob("*.parquet"):
        t = pq.read_table(p)
        parts += [json.dumps(t.to_pylist(), default=str)]
    return "\n".join(parts)


def test_release_is_content_free_and_listed_in_manifest(built, tmp_path):
    out = tmp_path / "release"
    manifest = release.write_release(built, out)
    names = {p.name for p in out.iterdir()}
    assert "messages.parquet" not in names and "identities.parquet" not in names
    # the build wrote the layer model's diff tokens (code text): they stay on this machine
    con = store.connect(built, read_only=True)
    assert con.execute("SELECT count(*) FROM commit_diff_tokens").fetchone()[0] > 0
    con.close()
    assert "commit_diff_tokens.parquet" not in names
    assert {
        "commits.parquet",
        "file_changes.parquet",
        "commit_layers.parquet",
        "DATASET.md",
        "manifest.json",
    } <= names
    assert manifest["tables"]["commits"]["rows"] == 7
    for name, meta in manifest["files"].items():
        assert release.sha256_file(out / name) == meta["sha256"]
    text = _all_text(out)
    for secret in (
        "Ada Human",
        "ada@example.org",
        "Bo Person",
        "bo@example.net",
        "noreply@anthropic.com",
        "feat: add helper",
        "def helper",
        str(tmp_path),
    ):
        assert secret not in text
    ids = pq.read_table(out / "commits.parquet").column("author_id").to_pylist()
    assert (
        set(ids) == {"p000001", "p000002"}
        or len(set(ids)) == 2
        and all(i.startswith("p") for i in ids)
    )
    card = (out / "DATASET.md").read_text()
    assert "claude-code" in card and "co-author" in card and "Known limits" in card


def test_privacy_scan_catches_planted_leaks(built, tmp_path):
    out = tmp_path / "release"
    release.write_release(built, out)
    con = store.connect(built, read_only=True)
    assert privacy.scan_release(out, con) == []
    message = con.execute("SELECT message FROM messages WHERE message LIKE 'docs:%'").fetchone()[0]
    path = out / "commit_authors.parquet"
    clean = pq.read_table(path)
    for planted, kind in [
        (("x" * 10) + message + " and more", "message text"),
        ("contact bo@example.net", "email"),
        ("reviewed by ada human", "person name"),
        ("def main():\n    return 1", "code"),
    ]:
        leaky = clean.set_column(
            clean.schema.get_field_index("automation"),
            "automation",
            pa.array([planted] * clean.num_rows, pa.string()),
        )
        pq.write_table(leaky, path)
        found = privacy.scan_release(out, con)
        assert any(kind in f.kind for f in found), (kind, found)
        assert planted not in " ".join(str(f) for f in found)  # findings never repeat the leak
    pq.write_table(clean, path)
    shutil.copy(out / "commits.parquet", out / "messages.parquet")
    assert any(f.kind == "private table" for f in privacy.scan_release(out, con))
    (out / "messages.parquet").rename(out / "commit_diff_tokens.parquet")
    assert any(f.kind == "private table" for f in privacy.scan_release(out, con))
    con.close()


def test_release_refuses_a_leak_from_the_data_and_keeps_the_old_release(built, tmp_path):
    out = tmp_path / "release"
    release.write_release(built, out)
    before = (out / "manifest.json").read_text()
    con = duckdb.connect(str(built))
    con.execute(
        "UPDATE file_changes SET path = 'people/ada-human/notes.md' WHERE path = 'README.md'"
    )
    con.close()
    with pytest.raises(PrivacyError, match="person name"):
        release.write_release(built, out)
    assert (out / "manifest.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".release-")]


def test_load_rebuilds_the_views_and_verifies_checksums(built, tmp_path):
    out = tmp_path / "release"
    release.write_release(built, out)
    db = tmp_path / "loaded.duckdb"
    counts = release.load_release(out, db)
    assert counts["commits"] == 7 and counts["commit_layers"] == 6
    assert counts["commit_structure"] == 6  # one row per non-merge commit
    q = "SELECT repo, sha, ai, ai_tools, layer, churn FROM commit_facts ORDER BY 1, 2"
    a, b = store.connect(built, read_only=True), store.connect(db, read_only=True)
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    q = "SELECT * FROM commit_structure ORDER BY repo, sha"
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    assert b.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    tools = b.execute("SELECT tool, ai_commits, repos FROM tool_summary").fetchall()
    assert tools == [("claude-code", 2, 1)]
    shares = b.execute(
        "SELECT role, ai, sum(share) FROM layer_shares GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert [round(s, 9) for *_, s in shares] == [1.0] * len(shares) and len(shares) == 3
    months = b.execute("SELECT sum(commits), sum(ai_commits) FROM ai_by_month").fetchone()
    assert months == (6, 2)
    a.close()
    b.close()
    pq.write_table(
        pq.read_table(out / "commit_layers.parquet").slice(1), out / "commit_layers.parquet"
    )
    with pytest.raises(DatabaseError, match="commit_layers.parquet: sha256 does not match"):
        release.load_release(out, tmp_path / "other.duckdb")
    assert not (tmp_path / "other.duckdb").exists()


def test_cli_release_load_query(built, tmp_path):
    out, db = tmp_path / "rel", tmp_path / "q.duckdb"
    runner = CliRunner()
    res = runner.invoke(app, ["release", "--db", str(built), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "privacy scan passed" in res.output
    res = runner.invoke(app, ["load", "--release", str(out), "--db", str(db)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["query", "--db", str(db), "-f", "csv", "SELECT tool, ai_commits FROM tool_summary"]
    )
    assert res.output.strip().splitlines() == ["tool,ai_commits", "claude-code,2"]
    res = runner.invoke(app, ["load", "--release", str(tmp_path / "nothing"), "--db", str(db)])
    assert res.exit_code != 0 and "not a release" in res.output


def test_dataset_card_states_the_heldout_check_next_to_cross_validation(tmp_path):
    from mining import dataset_card

    full = {
        "n": 288,
        "repositories": 8,
        "macro_f1": 0.6329,
        "macro_f1_ci": [0.5521, 0.6857],
        "per_layer_f1": {"architectural": 0.1785},
        "frozen_model": {"version": "4.20261206.3484", "cv_macro_f1": 0.7285},
    }
    report = {"classifier": {"n": 10, "macro_f1": 0.7, "accuracy": 0.8}}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(report | {"heldout": {"round5": {"models": {"full": full}}}}))
    text = dataset_card._evaluation(path)
    assert "macro-F1 = 0.700" in text
    assert "Held-out check (round5)" in text and "4.20261206.3484" in text
    assert "macro-F1 = 0.633 [0.552, 0.686]" in text and "cross-validation: 0.729" in text
    path.write_text(json.dumps(report))
    assert "Held-out" not in dataset_card._evaluation(path)
