"""Issue 15: no command destroys data, no traceback reaches a user, one CLI grammar.

Each test runs the real command (through `mining.cli.run`, the console script's entry point,
where the exit code and the one-line error are decided) on repositories built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import pytest

from mining import cli
from tests.gitrepo import RepoBuilder

ROOT = Path(__file__).resolve().parent.parent


def strata(capsys, *args: str | Path) -> tuple[int, str, str]:
    """Run `strata ARGS` as the console script does; (exit code, stdout, stderr)."""
    capsys.readouterr()
    saved = sys.argv
    sys.argv = ["strata", *map(str, args)]  # what the console script sees
    try:
        cli.run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return code, out, err


def q(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def small(small_repo) -> RepoBuilder:
    return small_repo


@pytest.fixture
def db(small, tmp_path, capsys) -> Path:
    path = tmp_path / "data" / "s.duckdb"
    code, _, err = strata(capsys, "crawl", small.path, "--db", path, "-q")
    assert code == 0, err
    return path


def one_error_line(err: str, *needles: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("strata: "), err
    for n in needles:
        assert n in lines[0], (n, err)
    return lines[0]


# --- data loss ---------------------------------------------------------------------------------


def test_release_refuses_a_folder_it_did_not_write(db, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, _, err = strata(capsys, "release", "--db", db, "--out", out)
    assert code == 2
    one_error_line(err, str(out), "--force")
    assert (out / "thesis.tex").read_text() == "years of work"
    # a previous release is replaced without --force; --force replaces a foreign folder
    code, _, err = strata(capsys, "release", "--db", db, "--out", out, "--force")
    assert code == 0, err
    assert (out / "manifest.json").is_file() and not (out / "thesis.tex").exists()
    code, _, err = strata(capsys, "release", "--db", db, "--out", out)
    assert code == 0, err
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".mine")]


@pytest.mark.parametrize("where", ["holds_db", "is_db", "inside_db_folder_parent"])
def test_release_never_touches_the_database(where, db, tmp_path, capsys):
    before = q(db, "SELECT count(*) FROM commits")
    out = {"holds_db": db.parent, "is_db": db, "inside_db_folder_parent": tmp_path}[where]
    for extra in ([], ["--force"]):
        code, _, err = strata(capsys, "release", "--db", db, "--out", out, *extra)
        assert code == 2, err
        one_error_line(err, "database")
    assert db.is_file() and q(db, "SELECT count(*) FROM commits") == before
    assert not [p for p in db.parent.iterdir() if p.name.endswith("-old")]


def test_load_refuses_to_replace_a_database_it_did_not_load(db, tmp_path, capsys):
    rel = tmp_path / "rel"
    assert strata(capsys, "release", "--db", db, "--out", rel)[0] == 0
    before = q(db, "SELECT count(*) FROM messages")
    code, _, err = strata(capsys, "load", "--release", rel, "--db", db)
    assert code == 2
    one_error_line(err, str(db), "--force")
    assert q(db, "SELECT count(*) FROM messages") == before  # the crawl's messages are still there
    loaded = tmp_path / "loaded.duckdb"
    assert strata(capsys, "load", "--release", rel, "--db", loaded)[0] == 0
    assert strata(capsys, "load", "--release", rel, "--db", loaded)[0] == 0  # reload: its own


def test_concurrent_crawls_into_one_folder_keep_private_staging(small, repo_builder, tmp_path):
    """The second crawl finishes while the first is streaming; the first must still complete."""
    from mining.crawl import crawl
    from mining.runner import resolve_targets

    other = repo_builder("other")
    for i in range(3):
        other.commit(f"c{i}", {"o.txt": f"{i}\n"})
    folder = tmp_path / "shared"
    seen: list[int] = []

    def progress(kind: str, n: int) -> None:
        if kind == "commits" and not seen:
            seen.append(n)
            crawl(folder / "b.duckdb", resolve_targets([str(other.path)], None))

    res = crawl(folder / "a.duckdb", resolve_targets([str(small.path)], None), progress=progress)
    assert seen and res[0].error is None
    assert q(folder / "a.duckdb", "SELECT count(*) FROM commits") == [(2,)]
    assert q(folder / "b.duckdb", "SELECT count(*) FROM commits") == [(3,)]


def test_same_folder_name_different_repository_is_not_replaced(db, repo_builder, tmp_path, capsys):
    imposter = RepoBuilder(tmp_path / "elsewhere" / "small")
    imposter.commit("unrelated", {"z.txt": "z\n"})
    before = q(db, "SELECT repo, head_sha, n_commits FROM repos")
    code, _, err = strata(capsys, "crawl", imposter.path, "--db", db, "-q")
    assert code == 2
    assert "small" in err and "already holds" in err and "Traceback" not in err
    assert q(db, "SELECT repo, head_sha, n_commits FROM repos") == before


def test_same_repository_moved_is_still_recrawled(db, small, tmp_path, capsys):
    moved = tmp_path / "moved" / "small"
    subprocess.run(["git", "clone", "-q", str(small.path), str(moved)], check=True)
    code, _, err = strata(capsys, "crawl", moved, "--db", db, "-q")
    assert code == 0, err


def test_url_source_is_fetched_on_recrawl(repo_builder, tmp_path, capsys):
    up = repo_builder("upstream")
    up.commit("one", {"a.txt": "1\n"})
    url = f"file://{up.path}"
    dbp, cache = tmp_path / "u.duckdb", tmp_path / "cache"
    assert strata(capsys, "crawl", url, "--db", dbp, "--cache", cache, "-q")[0] == 0
    up.commit("two", {"a.txt": "2\n"})
    code, _, err = strata(capsys, "crawl", url, "--db", dbp, "--cache", cache, "-q")
    assert code == 0, err
    assert q(dbp, "SELECT n_commits, head_sha FROM repos") == [(2, up.head())]


def test_blame_refuses_a_shallow_clone(repo_builder, tmp_path, capsys):
    rb = repo_builder("deep")
    for i in range(4):
        rb.commit(f"c{i}", {"a.txt": f"{i}\n"})
    shallow = tmp_path / "shallow.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--depth", "1", f"file://{rb.path}", str(shallow)],
        check=True,
    )
    code, _, err = strata(capsys, "blame", shallow)
    assert code == 2
    one_error_line(err, str(shallow), "shallow clone")


def test_blame_tells_a_corrupt_object_from_a_partial_clone(small, tmp_path, capsys):
    from tests.test_cli import make_corrupt

    corrupt = make_corrupt(small, tmp_path)
    code, out, err = strata(capsys, "blame", corrupt)
    assert code == 2, (out, err)
    line = one_error_line(err, "corrupt")
    assert "partial clone" not in line


# --- contracts ---------------------------------------------------------------------------------


def test_console_script_goes_through_the_run_wrapper():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["strata"] == "mining.cli:run"


def test_ctrl_c_exits_130_with_a_message(db, small, monkeypatch, capsys):
    import mining.runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(mining.runner, "run_crawl", interrupted)
    code, _, err = strata(capsys, "crawl", small.path, "--db", db)
    assert code == 130
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize("case", ["empty", "unknown_rev", "missing_branch"])
def test_bad_input_exits_2(case, db, repo_builder, small, tmp_path, capsys):
    if case == "empty":
        args = [RepoBuilder(tmp_path / "empty").path]
    elif case == "unknown_rev":
        args = [small.path, "--rev", "nope"]
    else:
        rb = repo_builder("headless")
        rb.commit("x", {"x": "1\n"})
        rb.git("symbolic-ref", "HEAD", "refs/heads/gone")
        args = [rb.path]
    code, _, err = strata(capsys, "crawl", *args, "--db", db, "-q")
    assert code == 2, err
    assert "Traceback" not in err


def test_runs_records_failed_and_successful_stages(db, tmp_path, capsys):
    code, _, _ = strata(capsys, "crawl", RepoBuilder(tmp_path / "empty").path, "--db", db, "-q")
    assert code == 2
    assert strata(capsys, "features", "--db", db, "-q")[0] == 0
    assert strata(capsys, "classify", "--db", db, "-q")[0] == 0
    rows = q(db, "SELECT stage, status, finished_at IS NOT NULL FROM runs ORDER BY started_at")
    assert rows == [
        ("crawl", "finished", True),
        ("crawl", "failed", True),
        ("features", "finished", True),
        ("classify", "finished", True),
    ]
    assert q(db, "SELECT error FROM runs WHERE status = 'failed'")[0][0].find("empty") >= 0


def future_db(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("UPDATE strata_meta SET value = '99' WHERE key = 'schema_version'")
    con.close()


@pytest.mark.parametrize(
    "command",
    [
        ["query", "SELECT 1"],
        ["release", "--out", "{tmp}/rel"],
        ["attribute"],
        ["features"],
        ["structure"],
        ["classify"],
        ["figures", "--out", "{tmp}/fig"],
        ["report", "--out", "{tmp}/rep", "--no-notebooks"],
    ],
)
def test_database_from_a_future_schema_is_refused_by_every_command(command, db, tmp_path, capsys):
    future_db(db)
    args = [a.format(tmp=tmp_path) for a in command]
    code, _, err = strata(capsys, *args, "--db", db)
    assert code == 2, err
    one_error_line(err, str(db), "schema version 99")
    assert not (tmp_path / "rel").exists()


def test_release_from_a_future_schema_is_refused_by_load(db, tmp_path, capsys):
    rel = tmp_path / "rel"
    assert strata(capsys, "release", "--db", db, "--out", rel)[0] == 0
    manifest = json.loads((rel / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (rel / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = strata(capsys, "load", "--release", rel, "--db", tmp_path / "new.duckdb")
    assert code == 2
    one_error_line(err, "schema version 99")
    assert not (tmp_path / "new.duckdb").exists()


def test_killed_crawls_staging_is_removed_by_the_next_crawl_only(db, small, tmp_path, capsys):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    leftover = db.parent / f".{db.name}.staging-{dead}-abc"
    alive = db.parent / f".{db.name}.staging-{os.getpid()}-def"  # a running crawl's (this process)
    other = db.parent / f".other.duckdb.staging-{dead}-ghi"  # another database's
    for p in (leftover, alive, other):
        p.mkdir()
    assert strata(capsys, "crawl", small.path, "--db", db, "-q")[0] == 0
    assert not leftover.exists() and alive.exists() and other.exists()


def test_query_on_a_terminal_escapes_control_characters(
    repo_builder, tmp_path, monkeypatch, capsys
):
    rb = repo_builder("evil")
    rb.commit("\x1b]0;pwned\x07\x1b[2J hello", {"a.txt": "1\n"})
    dbp = tmp_path / "e.duckdb"
    assert strata(capsys, "crawl", rb.path, "--db", dbp, "-q")[0] == 0
    sql = "SELECT message FROM messages"
    monkeypatch.setattr(cli, "stdout_is_terminal", lambda: True)
    for fmt in ("table", "csv", "json"):
        code, out, _ = strata(capsys, "query", "--db", dbp, "--format", fmt, sql)
        assert code == 0
        assert "\x1b" not in out and "\x07" not in out, fmt
        assert "hello" in out
    monkeypatch.setattr(cli, "stdout_is_terminal", lambda: False)
    _, raw, _ = strata(capsys, "query", "--db", dbp, "--format", "csv", sql)
    assert "\x1b" in raw  # a pipe gets the stored bytes unchanged


# --- no traceback ------------------------------------------------------------------------------


def _read_only(path: Path) -> Path:
    """A folder nothing can be written into; as root (permissions ignored) a file, so that
    writing "into" it fails the same way for everyone."""
    if os.geteuid() == 0:
        path.write_text("not a folder")
        return path
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    return path


def _loop(tmp: Path) -> Path:
    (tmp / "loop").symlink_to(tmp / "loop")
    return tmp / "loop"


#: (name, argv with {tmp}, {db} (a crawled database), {repo} placeholders, exit code, needle)
BAD_INPUTS = [
    ("crawl-missing", ["crawl", "{tmp}/nope", "--db", "{tmp}/x.duckdb"], 2, "nope"),
    ("crawl-ro-db-folder", ["crawl", "{repo}", "--db", "{ro}/sub/x.duckdb"], 2, "ro"),
    ("crawl-ro-db-parent", ["crawl", "{repo}", "--db", "{ro}/x.duckdb"], 2, "x.duckdb"),
    ("crawl-symlink-loop", ["crawl", "{loop}", "--db", "{tmp}/x.duckdb"], 2, "symlink loop"),
    (
        "crawl-mirrors-without-corpus",
        ["crawl", "{repo}", "--mirrors", "{tmp}", "--db", "{tmp}/x.duckdb"],
        2,
        "--mirrors",
    ),
    (
        "crawl-sources-and-corpus",
        ["crawl", "{repo}", "--corpus", "{tmp}/c.toml", "--db", "{tmp}/x.duckdb"],
        2,
        "--corpus",
    ),
    ("crawl-db-is-a-folder", ["crawl", "{repo}", "--db", "{tmp}"], 2, "{tmp}"),
    (
        "crawl-corpus-is-a-folder",
        ["crawl", "--corpus", "{tmp}", "--db", "{tmp}/x.duckdb"],
        2,
        "{tmp}",
    ),
    (
        "crawl-corpus-not-utf8",
        ["crawl", "--corpus", "{latin1}", "--db", "{tmp}/x.duckdb"],
        2,
        "latin1.toml",
    ),
    (
        "crawl-mirrors-missing",
        ["crawl", "--corpus", "{corpus}", "--mirrors", "{tmp}/none.tsv", "--db", "{tmp}/x.duckdb"],
        2,
        "none.tsv",
    ),
    (
        "build-missing-corpus",
        ["build", "--corpus", "{tmp}/none.toml", "--db", "{tmp}/x.duckdb"],
        2,
        "none.toml",
    ),
    ("release-ro-out", ["release", "--db", "{db}", "--out", "{ro}/rel"], 2, "rel"),
    ("release-out-is-a-file", ["release", "--db", "{db}", "--out", "{shas}"], 2, "shas.txt"),
    (
        "release-missing-db",
        ["release", "--db", "{tmp}/none.duckdb", "--out", "{tmp}/rel"],
        2,
        "none.duckdb",
    ),
    (
        "load-missing-release",
        ["load", "--release", "{tmp}/none", "--db", "{tmp}/x.duckdb"],
        2,
        "none",
    ),
    ("load-ro-db", ["load", "--release", "{rel}", "--db", "{ro}/x.duckdb"], 2, "x.duckdb"),
    ("attribute-missing-db", ["attribute", "--db", "{tmp}/none.duckdb"], 2, "none.duckdb"),
    ("attribute-unknown-repo", ["attribute", "--db", "{db}", "--repo", "nope"], 2, "nope"),
    ("features-missing-db", ["features", "--db", "{tmp}/none.duckdb"], 2, "none.duckdb"),
    ("features-unknown-repo", ["features", "--db", "{db}", "--repo", "nope"], 2, "nope"),
    ("structure-missing-db", ["structure", "--db", "{tmp}/none.duckdb"], 2, "none.duckdb"),
    ("structure-unknown-repo", ["structure", "--db", "{db}", "--repo", "nope"], 2, "nope"),
    (
        "classify-missing-shas",
        ["classify", "--repo", "{repo}", "--shas", "{tmp}/none.txt"],
        2,
        "none.txt",
    ),
    (
        "classify-shas-without-repo",
        ["classify", "--db", "{db}", "--shas", "{tmp}/none.txt"],
        2,
        "--shas",
    ),
    ("classify-unknown-sha", ["classify", "--repo", "{repo}", "--shas", "{shas}"], 2, "deadbeef"),
    (
        "classify-missing-model",
        ["classify", "--repo", "{repo}", "--shas", "{shas}", "--model", "{tmp}/nomodel"],
        2,
        "nomodel",
    ),
    ("classify-no-features", ["classify", "--db", "{db}"], 2, "features"),
    (
        "classify-repo-is-a-url",
        ["classify", "--repo", "https://example.org/owner/name.git", "--shas", "{shas}"],
        2,
        "https://example.org/owner/name.git: a URL",
    ),
    ("blame-missing", ["blame", "{tmp}/nope"], 2, "nope"),
    (
        "blame-url",
        ["blame", "https://example.org/o/n.git"],
        2,
        "https://example.org/o/n.git: a URL",
    ),
    ("blame-bad-rev", ["blame", "{repo}", "--to", "nope"], 2, "nope"),
    ("blame-bad-format", ["blame", "{repo}", "--format", "xml"], 2, "xml"),
    ("query-missing-db", ["query", "--db", "{tmp}/none.duckdb", "SELECT 1"], 2, "none.duckdb"),
    ("query-bad-sql", ["query", "--db", "{db}", "SELEKT 1"], 2, "SELEKT"),
    ("query-bad-format", ["query", "--db", "{db}", "--format", "xml", "SELECT 1"], 2, "xml"),
    ("query-not-duckdb", ["query", "--db", "{junk}", "SELECT 1"], 2, "junk"),
    (
        "evaluate-missing-labels",
        ["evaluate", "--labels", "{tmp}/none.csv", "--out", "{tmp}/ev"],
        2,
        "none.csv",
    ),
    (
        "figures-tiny-db",
        ["figures", "--db", "{db}", "--out", "{tmp}/fig", "--n-boot", "10"],
        2,
        "{db}",
    ),
    ("figures-bad-format", ["figures", "--db", "{db}", "--figure-formats", "gif"], 2, "gif"),
    (
        "report-tiny-db",
        ["report", "--db", "{db}", "--out", "{tmp}/rep", "--no-notebooks", "--n-boot", "10"],
        2,
        "{db}",
    ),
    (
        "report-notebooks-path",
        ["report", "--db", "{db}", "--out", "{tmp}/rep", "--notebooks", "{tmp}/nb"],
        2,
        "nb",
    ),
    (
        "reproduce-ro-db",
        ["reproduce", "--db", "{ro}/x.duckdb", "--release", "{rel}", "--out", "{tmp}/rep"],
        2,
        "x.duckdb",
    ),
]


@pytest.mark.parametrize(
    ("name", "argv", "code", "needle"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_no_traceback_for_bad_inputs(name, argv, code, needle, db, small, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    rel = tmp_path / "rel-ok"
    if "{rel}" in " ".join(argv):
        assert strata(capsys, "release", "--db", db, "--out", rel)[0] == 0
    shas = work / "shas.txt"
    shas.write_text("deadbeef\n")
    junk = work / "junk.duckdb"
    junk.write_bytes(b"not a database" * 100)
    ro = _read_only(tmp_path / "ro")
    latin1 = work / "latin1.toml"
    latin1.write_bytes("[[repo]]\nname = 'caf\u00e9'\n".encode("latin-1"))
    corpus = work / "corpus.toml"
    corpus.write_text(f"[[repo]]\nname = 'x'\npath = '{small.path}'\n")
    subs = {
        "{tmp}": str(work),
        "{db}": str(db),
        "{repo}": str(small.path),
        "{ro}": str(ro),
        "{loop}": str(_loop(work)),
        "{rel}": str(rel),
        "{shas}": str(shas),
        "{junk}": str(junk),
        "{latin1}": str(latin1),
        "{corpus}": str(corpus),
    }

    def fill(text: str) -> str:
        for k, v in subs.items():
            text = text.replace(k, v)
        return text

    try:
        got, out, err = strata(capsys, *map(fill, argv))
    finally:
        ro.chmod(0o755)  # let pytest clean up
    assert "Traceback" not in out + err
    assert got == code, (out, err)
    one_error_line(err, fill(needle))


def test_unexpected_error_prints_one_line_and_a_log_path(db, monkeypatch, tmp_path, capsys):
    import mining.query

    def bug(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setenv("STRATA_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(mining.query, "run_query", bug)
    code, _, err = strata(capsys, "query", "--db", db, "SELECT 1")
    assert code == 1
    line = one_error_line(err, "ZeroDivisionError", str(tmp_path / "logs"))
    log = Path(line.rsplit(" ", 1)[-1])
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()


# --- one grammar -------------------------------------------------------------------------------


def _help(capsys, *args: str) -> str:
    code, out, err = strata(capsys, *args, "--help")
    assert code == 0, err
    return out


def test_help_renders_brackets_literally(capsys):
    assert "[[repo]]" in _help(capsys, "crawl")


def test_same_option_same_meaning_everywhere(capsys):
    import typer.main

    group = typer.main.get_command(cli.app)
    jobs_defaults = set()
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        for p in cmd.params:
            if "--format" in getattr(p, "opts", []) and not getattr(p, "hidden", False):
                assert "table" in (p.help or "") or "json" in (p.help or ""), (name, p.help)
            if "--jobs" in getattr(p, "opts", []):
                assert "-j" in p.opts, name
                jobs_defaults.add(p.default)
            if "--quiet" in getattr(p, "opts", []):
                assert "-q" in p.opts, name
        assert any("--quiet" in getattr(p, "opts", []) for p in cmd.params), f"{name} has no -q"
    assert len(jobs_defaults) == 1, jobs_defaults


def test_blame_json_shares_are_fractions_and_tools_sum_to_ai_lines(repo_builder, capsys):
    rb = repo_builder("ai")
    rb.commit("human", {"h.txt": "1\n2\n3\n4\n"})
    rb.commit("claude\n\nCo-Authored-By: Claude <noreply@anthropic.com>", {"c.txt": "c\n" * 3})
    rb.commit(
        "both\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
        "Co-authored-by: Cursor Agent <cursoragent@cursor.com>",
        {"b.txt": "b\n" * 2},
    )
    old = strata(capsys, "blame", rb.path, "--json")
    new = strata(capsys, "blame", rb.path, "--format", "json")
    assert old[0] == new[0] == 0, old[2] + new[2]
    assert json.loads(old[1]) == json.loads(new[1])
    data = json.loads(new[1])
    assert data["total_lines"] == 9 and data["ai_lines"] == 5
    assert data["ai_share"] == pytest.approx(5 / 9, abs=1e-4)
    assert sum(data["by_tool"].values()) == data["ai_lines"]
    assert len([k for k in data["by_tool"] if "+" in k]) == 1  # the two-tool lines, once


def test_nonsense_option_combinations_are_refused(small, tmp_path, capsys):
    code, _, err = strata(
        capsys, "crawl", small.path, "--mirrors", tmp_path, "--db", tmp_path / "x.duckdb"
    )
    assert code == 2
    one_error_line(err, "--mirrors", "--corpus")
    assert not (tmp_path / "x.duckdb").exists()


def test_quiet_means_quiet(small, tmp_path, capsys):
    dbp = tmp_path / "q.duckdb"
    code, out, err = strata(capsys, "crawl", small.path, "--db", dbp, "-q")
    assert code == 0 and out == "" and err == ""
    for args in (["attribute"], ["features"], ["structure"], ["classify"]):
        code, out, err = strata(capsys, *args, "--db", dbp, "-q")
        assert code == 0 and out == "" and err == "", (args, out, err)


def test_stage_progress_lines_when_not_quiet(small, tmp_path, capsys):
    dbp = tmp_path / "p.duckdb"
    assert strata(capsys, "crawl", small.path, "--db", dbp)[0] == 0
    for stage in ("attribute", "features", "structure", "classify"):
        code, _, err = strata(capsys, stage, "--db", dbp)
        assert code == 0
        assert "small" in err, (stage, err)


def test_crawl_from_a_subfolder_of_a_work_tree(small, tmp_path, capsys):
    sub = small.path / "pkg" / "deep"
    sub.mkdir(parents=True)
    dbp = tmp_path / "sub.duckdb"
    code, _, err = strata(capsys, "crawl", sub, "--db", dbp, "-q")
    assert code == 0, err
    assert q(dbp, "SELECT repo, n_commits FROM repos") == [("small", 2)]


def test_build_errors_are_prefixed_and_no_raw_dict(tmp_path, small, capsys):
    corpus = tmp_path / "c.toml"
    corpus.write_text(f"[[repo]]\nname = 'x'\npath = '{tmp_path / 'gone'}'\n")
    code, out, err = strata(
        capsys, "build", "--corpus", corpus, "--db", tmp_path / "b.duckdb", "-q"
    )
    assert code == 2
    one_error_line(err, "gone")
    corpus.write_text(f"[[repo]]\nname = 'x'\npath = '{small.path}'\n")
    code, out, err = strata(capsys, "build", "--corpus", corpus, "--db", tmp_path / "b.duckdb")
    assert code == 0, err
    assert "{'" not in out + err
    assert all(ln.startswith("strata: error:") for ln in (out + err).splitlines() if "error:" in ln)


def test_docs_cli_covers_every_command_and_shared_option():
    text = (ROOT / "docs" / "cli.md").read_text()
    import typer.main

    group = typer.main.get_command(cli.app)
    for name in group.commands:  # type: ignore[attr-defined]
        assert f"`strata {name}`" in text or f"| `{name}`" in text, name
    for opt in (
        "--db",
        "--format",
        "--jobs",
        "--quiet",
        "--force",
        "--figure-formats",
        "exit code",
    ):
        assert opt in text, opt


def test_installed_console_script_runs_the_wrapper(tmp_path):
    exe = Path(sys.executable).parent / "strata"
    if not exe.exists():
        pytest.skip("console script not installed")
    res = subprocess.run(
        [str(exe), "query", "--db", str(tmp_path / "none.duckdb"), "SELECT 1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2 and res.stderr.startswith("strata: error:")


def test_notebook_kernels_print_no_tcp_warning(tmp_path, capfd):
    """`make reproduce` executed each notebook with a kernel warning on stderr (five of them)."""
    from analysis.report import run_notebook

    nb = tmp_path / "nb.py"
    nb.write_text("# %% tags=['parameters']\nx = 1\n\n# %%\nprint(x + 1)\n")
    html = run_notebook(nb, tmp_path / "nb.html", {"x": 2})
    assert "3" in html.read_text()
    assert "without encryption" not in capfd.readouterr().err


def test_progress_lines_beat_between_callbacks(capsys):
    """features reports per batch of 2,000 commits; the heartbeat fills the silence between."""
    import time

    from mining.runner import ProgressLines

    lines = ProgressLines(False, every=0.05)
    with lines.heartbeat("features"):
        lines.count("repo", 0, 10)
        time.sleep(0.4)
    err = capsys.readouterr().err
    assert err.count("features:") >= 2 and "elapsed" in err and "repo: 0/10" in err
    quiet = ProgressLines(True, every=0.05)
    with quiet.heartbeat("features"):
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_progress_rate_counts_from_the_previous_report(monkeypatch):
    """Stages report after each batch, so a name is first heard of with work done: its clock
    starts at the previous report (or when the lines were made), never at its own first report
    (that gave "(0/s)", and a two-batch repository a rate as if the first batch took no time)."""
    from mining import runner

    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    lines = runner.ProgressLines(True)
    now[0] = 110.0  # repository a: one batch, reported when done
    lines.count("a", 50, 50)
    assert lines.latest == "a: 50/50 commits (5/s)"
    now[0] = 130.0  # repository b: two batches
    lines.count("b", 200, 400)
    assert lines.latest.startswith("b: 200/400 commits (10/s")
    now[0] = 150.0
    lines.count("b", 400, 400)
    assert lines.latest == "b: 400/400 commits (10/s)"


def test_build_with_a_failed_repository_is_a_failed_run(small, tmp_path, capsys):
    RepoBuilder(tmp_path / "empty")
    corpus = tmp_path / "c.toml"
    corpus.write_text(
        f"[[repo]]\nname = 'x'\npath = '{small.path}'\n[[repo]]\nname = 'e'\npath = '{tmp_path / 'empty'}'\n"
    )
    dbp = tmp_path / "b.duckdb"
    code, _, err = strata(capsys, "build", "--corpus", corpus, "--db", dbp, "-q")
    assert code == 1 and "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.strip()] == [
        ln for ln in err.splitlines() if ln.startswith("strata: error: e:")
    ]
    status, error = q(dbp, "SELECT status, error FROM runs WHERE stage = 'build'")[0]
    assert status == "failed" and "e:" in error


def test_error_text_with_brackets_prints_verbatim(db, tmp_path, capsys):
    """An error naming a path like `[/x]` was read as rich markup (text eaten, or a MarkupError)."""
    odd = RepoBuilder(tmp_path / "[bold]odd[/x]")
    code, _, err = strata(capsys, "crawl", odd.path, "--db", db, "-q")
    assert code == 2 and "Traceback" not in err
    assert "[bold]odd[/x]" in err and "empty repository" in err
