"""The CLI: one-line errors naming the bad input, non-zero exit, database unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mining.cli import app
from tests.gitrepo import RepoBuilder

runner = CliRunner()


def strata(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def crawled(small_repo, tmp_path) -> Path:
    db = tmp_path / "s.duckdb"
    res = strata("crawl", str(small_repo.path), "--db", str(db), "-q")
    assert res.exit_code == 0, res.output
    return db


def db_state(db: Path) -> tuple:
    if not db.exists():
        return ("absent",)
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return tuple(
            con.execute("SELECT count(*), coalesce(sum(lines_added), 0) FROM commits").fetchone()
        )
    finally:
        con.close()


def make_corrupt(rb: RepoBuilder, tmp_path: Path) -> Path:
    """A bare copy whose blob objects are truncated (loose objects: no pack to fall back on)."""
    dest = tmp_path / "corrupt.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--no-local", str(rb.path), str(dest)], check=True
    )
    packs = [p.read_bytes() for p in (dest / "objects" / "pack").glob("*.pack")]
    for p in (dest / "objects" / "pack").iterdir():
        p.unlink()
    for data in packs:  # loose objects: no pack to fall back on
        subprocess.run(["git", f"--git-dir={dest}", "unpack-objects", "-q"], input=data, check=True)
    blob = subprocess.run(
        ["git", "-C", str(rb.path), "rev-parse", "HEAD:a.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    obj = dest / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"garbage")
    return dest


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("missing", "no such file or directory"),
        ("not_a_repo", "not a git repository"),
        ("empty", "empty repository"),
        ("bad_url", "not an acceptable clone URL"),
        ("option_url", "not an acceptable source"),
        ("unreachable", "clone failed"),
        ("bad_rev", "not an acceptable revision"),
        ("unknown_rev", "unknown revision"),
    ],
)
def test_bad_sources_fail_cleanly(case, expect, crawled, small_repo, tmp_path):
    before = db_state(crawled)
    args: list[str] = []
    if case == "missing":
        args = [str(tmp_path / "nope")]
    elif case == "not_a_repo":
        (tmp_path / "plain").mkdir()
        args = [str(tmp_path / "plain")]
    elif case == "empty":
        RepoBuilder(tmp_path / "empty")
        args = [str(tmp_path / "empty")]
    elif case == "bad_url":
        args = ["ext::sh -c touch% /tmp/pwned"]
    elif case == "option_url":
        args = ["--", "--upload-pack=touch /tmp/pwned"]
    elif case == "unreachable":
        args = [f"file://{tmp_path}/no-such-remote.git", "--cache", str(tmp_path / "cache")]
    elif case == "bad_rev":
        args = [str(small_repo.path), "--rev=--output=/tmp/x"]
    elif case == "unknown_rev":
        args = [str(small_repo.path), "--rev", "no-such-branch"]
    res = runner.invoke(app, ["crawl", "--db", str(crawled), "-q", *args])
    assert res.exit_code != 0
    out = res.output.strip().splitlines()
    assert any(expect in line for line in out), res.output
    assert db_state(crawled) == before


def test_good_and_bad_source_together_write_nothing(small_repo, tmp_path):
    db = tmp_path / "s.duckdb"
    res = runner.invoke(
        app, ["crawl", str(small_repo.path), str(tmp_path / "nope"), "--db", str(db)]
    )
    assert res.exit_code == 2
    assert db_state(db) == ("absent",)


def test_corrupt_object_is_reported_and_database_unchanged(crawled, small_repo, tmp_path):
    corrupt = make_corrupt(small_repo, tmp_path)
    before = db_state(crawled)
    res = runner.invoke(app, ["crawl", str(corrupt), "--db", str(crawled), "-q"])
    assert res.exit_code != 0
    assert "corrupt" in res.output and "error" in res.output
    assert db_state(crawled) == before


@pytest.mark.parametrize(
    ("toml", "expect"),
    [
        (
            "[[repo]]\nurl = 'https://github.com/a/b'\nrev = '" + "a" * 40 + "'\n",
            "missing field 'name'",
        ),
        (
            "[[repo]]\nname = 'a/b'\nurl = 'https://github.com/a/b'\nrev = 'main'\n",
            "must pin a 40-hex",
        ),
        ("[[repo]]\nname = '../evil'\npath = '.'\n", "invalid repository name"),
        ("[[repo]]\nname = '-rf'\npath = '.'\n", "invalid repository name"),
        ("[[repo]]\nname = 'x'\npath = '.'\n[[repo]]\nname = 'x'\npath = '.'\n", "duplicate name"),
        ("[[repo]]\nname = 'x'\n", "exactly one of 'url' or 'path'"),
        ("this is = = not toml", "not valid TOML"),
        ("", "no [[repo]] entries"),
        (
            "[[repo]]\nname = 'x'\nurl = 'ext::sh -c id'\nrev = '" + "a" * 40 + "'\n",
            "not an acceptable clone URL",
        ),
    ],
)
def test_bad_corpus_manifest(toml, expect, tmp_path):
    manifest = tmp_path / "corpus.toml"
    manifest.write_text(toml)
    db = tmp_path / "s.duckdb"
    res = runner.invoke(app, ["crawl", "--corpus", str(manifest), "--db", str(db)])
    assert res.exit_code == 2
    assert expect in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not db.exists()


def test_corpus_with_local_paths_and_mirror_map(small_repo, repo_builder, tmp_path):
    other = repo_builder("other")
    other.commit("x", {"x.rs": "fn main() {}\n"})
    other.bare_clone(tmp_path / "mirrors" / "acme+other" / "repo", empty_config=True)
    manifest = tmp_path / "corpus.toml"
    sha = small_repo.head()
    manifest.write_text(
        f"[[repo]]\nname = 'local/small'\npath = '{small_repo.path}'\nrev = '{sha}'\nlanguage = 'Python'\ntags = ['t1']\n"
        f"[[repo]]\nname = 'acme/other'\nurl = 'https://github.com/acme/other'\nrev = '{other.head()}'\nrole = 'control'\n"
    )
    db = tmp_path / "s.duckdb"
    res = runner.invoke(
        app,
        [
            "crawl",
            "--corpus",
            str(manifest),
            "--mirrors",
            str(tmp_path / "mirrors"),
            "--db",
            str(db),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    out = strata(
        "query",
        "--db",
        str(db),
        "--format",
        "json",
        "SELECT repo, head_sha, language, role, tags, n_commits FROM repos ORDER BY repo",
    )
    got = json.loads(out.output)
    assert got == [
        {
            "repo": "acme/other",
            "head_sha": other.head(),
            "language": None,
            "role": "control",
            "tags": [],
            "n_commits": 1,
        },
        {
            "repo": "local/small",
            "head_sha": sha,
            "language": "Python",
            "role": "study",
            "tags": ["t1"],
            "n_commits": 2,
        },
    ]


def test_query_formats_and_read_only(crawled):
    csv_out = strata(
        "query", "--db", str(crawled), "--format", "csv", "SELECT count(*) AS n FROM commits"
    )
    assert csv_out.output.strip().splitlines() == ["n", "2"]
    table = strata("query", "--db", str(crawled), "SELECT count(*) AS n FROM commits")
    assert "(1 rows)" in table.output
    before = db_state(crawled)
    for sql in ("DELETE FROM commits", "CREATE TABLE t AS SELECT 1", "DROP VIEW commit_facts"):
        res = runner.invoke(app, ["query", "--db", str(crawled), sql])
        assert res.exit_code != 0 and "read-only" in res.output
    assert db_state(crawled) == before


def test_query_missing_database(tmp_path):
    res = runner.invoke(app, ["query", "--db", str(tmp_path / "none.duckdb"), "SELECT 1"])
    assert res.exit_code == 2 and "no such database" in res.output


def test_database_locked_by_another_process(crawled, small_repo):
    import duckdb

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(crawled)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ok"
        res = runner.invoke(app, ["crawl", str(small_repo.path), "--db", str(crawled), "-q"])
        assert res.exit_code == 2 and "in use by another process" in res.output
    finally:
        holder.kill()
        holder.wait()
    assert duckdb  # imported for the child's sake


def test_every_command_has_help():
    res = strata("--help")
    assert res.exit_code == 0
    import typer.main

    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        assert cmd.help and len(cmd.help.strip()) > 20, name
        assert strata(name, "--help").exit_code == 0
