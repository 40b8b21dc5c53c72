"""Security (issue 8): `strata query` cannot write anything anywhere, SQL takes repository values as
parameters, no shell, and sources, URLs and revisions that git could run or read as options are
refused before git sees them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from mining.cli import app
from mining.errors import SourceError
from mining.gitcmd import validate_rev
from mining.sources import validate_url

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("mining", "analysis", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))]
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    from tests.gitrepo import RepoBuilder

    root = tmp_path_factory.mktemp("sec")
    rb = RepoBuilder(root / "r")
    rb.commit("one", {"a.py": "a = 1\n"})
    path = root / "s.duckdb"
    assert runner.invoke(app, ["crawl", str(rb.path), "--db", str(path), "-q"]).exit_code == 0
    return path


def counts(db: Path) -> tuple:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return tuple(
            con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in ("repos", "commits", "file_changes")
        )
    finally:
        con.close()


WRITES = [
    "DELETE FROM commits",
    "UPDATE repos SET n_commits = 0",
    "INSERT INTO commits SELECT * FROM commits",
    "SELECT 1; DROP TABLE commits",
    "CREATE TEMP TABLE t AS SELECT 1",
    "COPY commits TO '{tmp}/out.csv'",
    "COPY (SELECT * FROM messages) TO '{tmp}/out.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{tmp}/export'",
    "ATTACH '{tmp}/other.duckdb' AS o",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA force_checkpoint",
    "CHECKPOINT",
    "CALL pragma_version()",
    "EXPLAIN ANALYZE COPY commits TO '{tmp}/explained.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('{tmp}/../s.duckdb')",
]


@pytest.mark.parametrize("sql", WRITES)
def test_query_cannot_write_or_reach_outside_the_database(sql, db, tmp_path):
    before = counts(db)
    res = runner.invoke(app, ["query", "--db", str(db), sql.format(tmp=tmp_path)])
    assert res.exit_code != 0
    assert res.output.startswith("strata: error: ") and len(res.output.strip().splitlines()) == 1, (
        res.output
    )
    assert "read-only" in res.output, res.output
    assert list(tmp_path.iterdir()) == []  # no file written
    assert counts(db) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM commit_facts",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "DESCRIBE commits",
        "SHOW TABLES",
        "SUMMARIZE repos",
        "EXPLAIN SELECT * FROM commits",
        "FROM repos SELECT repo",
        "SELECT * FROM duckdb_tables() LIMIT 1",
    ],
)
def test_query_still_reads(sql, db):
    res = runner.invoke(app, ["query", "--db", str(db), "--format", "csv", sql])
    assert res.exit_code == 0, res.output


# --- source scans ---------------------------------------------------------------------------

#: values that come from repositories or users and must reach SQL as parameters only
USER_VALUES = {"repo", "repos", "sha", "shas", "author", "email", "message", "source", "url", "rev"}
SQL_WORDS = ("SELECT ", "INSERT ", "DELETE ", "UPDATE ", "WHERE ", "COPY ")


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def _sql_formatting_user_values(tree: ast.Module) -> list[tuple[int, str]]:
    """f-strings / % / .format building SQL from a user value, also through one local variable."""
    bad = []
    for func in [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]:
        origin: dict[str, set[str]] = {}
        for node in ast.walk(func):
            if isinstance(node, ast.Assign):
                for tgt in node.targets:
                    if isinstance(tgt, ast.Name):
                        origin.setdefault(tgt.id, set()).update(_names(node.value))
        for node in ast.walk(func):
            parts: list[ast.AST] = []
            text = ""
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
                parts = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
            elif (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mod)
                and isinstance(node.left, ast.Constant)
            ):
                text, parts = str(node.left.value), [node.right]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and isinstance(node.func.value, ast.Constant)
            ):
                text, parts = (
                    str(node.func.value.value),
                    [*node.args, *[k.value for k in node.keywords]],
                )
            if not parts or not any(w in text.upper() for w in SQL_WORDS):
                continue
            used = set().union(*(_names(p) for p in parts))
            used |= set().union(*(origin.get(n, set()) for n in used)) if used else set()
            hits = used & USER_VALUES
            if hits:
                bad.append((node.lineno, ", ".join(sorted(hits))))
    return bad


def test_no_sql_is_formatted_with_repository_values():
    found = []
    for path in CODE:
        for line, names in _sql_formatting_user_values(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{path.relative_to(ROOT)}:{line}: {names}")
    assert found == [], "SQL built by string formatting from user values:\n" + "\n".join(found)


def test_the_sql_scan_catches_what_it_should():
    src = (
        "def f(con, repo, table):\n"
        "    con.execute(f'DELETE FROM {table} WHERE repo = ?', [repo])\n"  # fine: a table name
        '    lit = repo.replace("\'", "\'\'")\n'
        "    sql = f\"SELECT * FROM t WHERE repo = '{lit}'\"\n"  # bad, through a variable
        "    con.execute('SELECT * FROM t WHERE sha = %s' % repo)\n"  # bad
    )
    assert [line for line, _ in _sql_formatting_user_values(ast.parse(src))] == [4, 5]


def test_no_shell_and_no_os_system():
    found = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                if any(
                    k.arg == "shell"
                    and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: shell=")
                fn = node.func
                if (
                    isinstance(fn, ast.Attribute)
                    and isinstance(fn.value, ast.Name)
                    and fn.value.id == "os"
                    and fn.attr in ("system", "popen", "execl", "execlp", "spawnl")
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: os.{fn.attr}")
    assert found == []


def test_ruff_security_rules_pass():
    """S602/S604/S605 (shell) and S608 (SQL string building) are enabled in pyproject.toml."""
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff not installed")
    proc = subprocess.run(
        [
            str(ruff),
            "check",
            "--select",
            "S602,S604,S605,S608",
            "--output-format",
            "concise",
            "mining",
            "analysis",
            "benchmarks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


# --- URLs, sources and revisions ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "testgit::/tmp/x",
        "-uhttps://x/y",
        "--upload-pack=id",
        "file::/etc",
        "/etc/passwd",
        "ftp://example.org/x.git",
        "javascript:alert(1)",
        "ssh ://x/y",
    ],
)
def test_bad_clone_urls_are_refused(url):
    with pytest.raises(SourceError, match="not an acceptable clone URL"):
        validate_url(url)


def test_ssh_host_that_looks_like_an_option_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    res = runner.invoke(
        app,
        [
            "crawl",
            f"ssh://-oProxyCommand=touch%20{marker}/x/y.git",
            "--cache",
            str(tmp_path / "cache"),
            "--db",
            str(tmp_path / "s.duckdb"),
            "-q",
        ],
    )
    assert res.exit_code != 0 and "clone failed" in res.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "rev",
    [
        "-x",
        "--output=/tmp/x",
        "--all",
        "a..b",
        "a...b",
        "HEAD;id",
        "$(id)",
        "main\n",
        " main",
        "ma in",
        "main`id`",
        "",
        "@{-1}|x",
        "HEAD\0",
    ],
)
def test_bad_revisions_are_refused(rev):
    with pytest.raises(SourceError, match="not an acceptable revision"):
        validate_rev(rev)


@pytest.mark.parametrize(
    "rev", ["HEAD", "main", "v1.2.3", "feature/x-y_z", "HEAD~3", "HEAD^2", "a" * 40, "HEAD@{1}"]
)
def test_good_revisions_pass(rev):
    assert validate_rev(rev) == rev
