"""Bad-input matrix (issue 8): each odd repository, source or database is either crawled
correctly or refused with a one-line error naming it, a non-zero exit and the database unchanged.

Cases already covered elsewhere are listed in docs/reliability.md and not repeated here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from mining.cli import app
from mining.crawl import person_id
from tests.gitrepo import RepoBuilder

runner = CliRunner()


def crawl_cli(*args: str | Path):
    return runner.invoke(app, ["crawl", "-q", *map(str, args)])


def q(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def db_state(db: Path) -> tuple:
    """Row count of every table: what 'database unchanged' compares."""
    if not db.exists():
        return ("absent",)
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        return tuple(
            (n, con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0])
            for n in names
            if n != "runs"
        )
    finally:
        con.close()


def assert_one_line_error(res, *needles: str) -> None:
    """Non-zero exit, an `strata: error:` line naming the input, no traceback."""
    assert res.exit_code != 0, res.output
    errors = [ln for ln in res.output.splitlines() if "error:" in ln]
    assert errors, res.output
    assert "Traceback" not in res.output
    for needle in needles:
        assert any(needle in ln for ln in errors), (needle, res.output)


@pytest.fixture
def base_db(repo_builder, tmp_path) -> Path:
    """A database already holding one crawled repository (so 'unchanged' is not trivially true)."""
    rb = repo_builder("base")
    rb.commit("one", {"a.py": "a = 1\n"})
    rb.commit("two", {"a.py": "a = 2\n", "b.py": "b = 1\n"})
    db = tmp_path / "base.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    return db


def fast_import(rb: RepoBuilder, stream: bytes) -> None:
    """Write commits straight into the object store (no work tree: fast for huge commits)."""
    rb.git("fast-import", "--quiet", "--force", input=stream)


def _data(payload: bytes) -> bytes:
    return b"data " + str(len(payload)).encode() + b"\n" + payload + b"\n"


# --- repositories that must be crawled correctly --------------------------------------------


def test_shallow_clone_is_refused_not_miscounted(repo_builder, base_db, tmp_path):
    rb = repo_builder("deep")
    for i in range(4):
        rb.commit(f"c{i}", {f"f{i}.txt": f"{i}\n" * (i + 1)})
    shallow = tmp_path / "shallow.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--depth", "2", f"file://{rb.path}", str(shallow)],
        check=True,
    )
    before = db_state(base_db)
    res = crawl_cli(shallow, "--db", base_db)
    # git shows the cut-off commit as a root adding every file: refused rather than miscounted
    assert_one_line_error(res, "shallow clone", str(shallow))
    assert db_state(base_db) == before
    # the full history of the same repository crawls
    assert crawl_cli(rb.path, "--db", base_db).exit_code == 0
    assert q(base_db, "SELECT n_commits FROM repos WHERE repo = 'deep'") == [(4,)]


def test_commit_touching_10k_files(repo_builder, tmp_path):
    rb = repo_builder("wide")
    n = 10_000
    who = b"A <a@example.org> 1704067200 +0000\n"
    add = [
        b"commit refs/heads/main\nmark :1\nauthor "
        + who
        + b"committer "
        + who
        + _data(b"add 10k files")
    ]
    for i in range(n):
        add.append(b"M 100644 inline src/f%05d.txt\n" % i + _data(b"file %d\n" % i))
    move = [
        b"commit refs/heads/main\nmark :2\nauthor "
        + who
        + b"committer "
        + who
        + _data(b"move them")
    ]
    move.append(b"from :1\n")
    for i in range(n):
        move.append(b"R src/f%05d.txt lib/f%05d.txt\n" % (i, i))
    fast_import(rb, b"".join(add) + b"\n" + b"".join(move))
    db = tmp_path / "s.duckdb"
    res = crawl_cli(rb.path, "--db", db)
    assert res.exit_code == 0, res.output
    got = q(
        db,
        "SELECT c.files_changed, c.lines_added, count(f.path), string_agg(DISTINCT f.change_type, '') "
        "FROM commits c JOIN file_changes f USING (repo, sha) GROUP BY c.sha, c.files_changed, c.lines_added, c.topo_index ORDER BY c.topo_index DESC",
    )
    assert got == [(n, n, n, "A"), (n, 0, n, "R")]


def test_50mb_binary(repo_builder, tmp_path):
    rb = repo_builder("heavy")
    rb.commit("small", {"a.txt": "a\n"})
    big = rb.path / "blob.bin"
    with open(big, "wb") as fh:  # sparse: costs no disk until git reads it
        fh.truncate(50 * 1024 * 1024)
        fh.seek(25 * 1024 * 1024)
        fh.write(b"middle")
    sha = rb.commit("add a 50 MB binary")
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    assert q(
        db,
        "SELECT path, is_binary, lines_added, blob_missing FROM file_changes WHERE sha = ?",
        [sha],
    ) == [("blob.bin", True, None, False)]
    assert q(db, "SELECT n_binary, lines_added FROM commits WHERE sha = ?", [sha]) == [(1, 0)]


def test_non_utf8_author_and_email(repo_builder, tmp_path):
    rb = repo_builder("latin")
    rb.commit("start", {"a": "1\n"})
    email = b"j\xf6se@example.org"
    sha = rb.raw_commit(b"latin-1 identity\n", author=b"Jos\xe9 M\xfcller <" + email + b">")
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    name, mail = q(db, "SELECT author_name, author_email FROM identities WHERE sha = ?", [sha])[0]
    assert name == "Jos\ufffd M\ufffdller" and mail == "j\ufffdse@example.org"
    # the pseudonymous id is still a stable function of the (undecodable) email
    assert q(db, "SELECT author_id FROM commits WHERE sha = ?", [sha]) == [(person_id(email),)]


@pytest.mark.parametrize(
    ("tz", "minutes"),
    [(b"+1400", 840), (b"-1200", -720), (b"+0545", 345), (b"-0000", 0), (b"+9959", 5999)],
)
def test_odd_time_zones(repo_builder, tmp_path, tz, minutes):
    rb = repo_builder("tz")
    rb.commit("start", {"a": "1\n"})
    sha = rb.raw_commit(b"odd zone\n", epoch=1_700_000_000, tz=tz)
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    # the instant is kept in UTC whatever the offset says; the offset is kept as written
    assert q(
        db, "SELECT author_tz_offset, epoch(authored_at)::BIGINT FROM commits WHERE sha = ?", [sha]
    ) == [(minutes, 1_700_000_000)]


def test_submodule_gitlink(repo_builder, tmp_path):
    rb = repo_builder("super")
    rb.commit("start", {"a.txt": "a\n"})
    fake = hashlib.sha1(b"a commit of another repository").hexdigest()
    rb.git("update-index", "--add", "--cacheinfo", f"160000,{fake},vendor/lib")
    rb.write(
        {".gitmodules": '[submodule "lib"]\n\tpath = vendor/lib\n\turl = https://example.org/lib\n'}
    )
    rb.git("add", ".gitmodules")
    rb.git(
        "commit", "-q", "-m", "add a submodule"
    )  # not rb.commit: `add -A` drops a gitlink without a checkout
    sha = rb.head()
    db = tmp_path / "s.duckdb"
    res = crawl_cli(rb.path, "--db", db)
    assert res.exit_code == 0, res.output  # the submodule's commit is not in this repository: fine
    rows = q(
        db,
        "SELECT path, change_type, new_mode, new_blob, blob_missing FROM file_changes WHERE sha = ? ORDER BY path",
        [sha],
    )
    assert rows == [
        (".gitmodules", "A", "100644", rows[0][3], False),
        ("vendor/lib", "A", "160000", fake, False),
    ]


def test_symlinks(repo_builder, tmp_path):
    rb = repo_builder("links")
    rb.commit("start", {"target.txt": "t\n"})
    (rb.path / "link").symlink_to("target.txt")
    added = rb.commit("add a symlink")
    (rb.path / "link").unlink()
    (rb.path / "link").symlink_to("elsewhere/../target.txt")
    moved = rb.commit("retarget it")
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    got = q(
        db,
        "SELECT sha, change_type, new_mode, lines_added, lines_deleted FROM file_changes WHERE path = 'link'",
    )
    assert sorted(got) == sorted([(added, "A", "120000", 1, 0), (moved, "M", "120000", 1, 1)])


def test_unrelated_histories(repo_builder, tmp_path):
    rb = repo_builder("twoheads")
    rb.commit("main root", {"a.txt": "a\n"})
    rb.git("checkout", "-q", "--orphan", "other")
    rb.git("rm", "-q", "-rf", ".")
    rb.commit("other root", {"b.txt": "b\n"})
    rb.checkout("main")
    rb.git("merge", "-q", "--no-edit", "--allow-unrelated-histories", "other")
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    assert q(
        db,
        "SELECT count(*) FILTER (WHERE len(parents) = 0), count(*) FILTER (WHERE is_merge), count(*) FROM commits",
    ) == [(2, 1, 3)]
    # like `git log`, merges carry no file rows (their changes are counted on the merged commits)
    assert (
        q(db, "SELECT f.path FROM file_changes f JOIN commits c USING (repo, sha) WHERE c.is_merge")
        == []
    )
    assert q(db, "SELECT files_changed FROM commits WHERE is_merge") == [(0,)]


def test_linked_worktree(repo_builder, tmp_path):
    rb = repo_builder("primary")
    rb.commit("one", {"a": "1\n"})
    rb.git("worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"))
    db = tmp_path / "s.duckdb"
    res = crawl_cli(tmp_path / "wt", "--db", db)
    assert res.exit_code == 0, res.output
    assert q(db, "SELECT repo, n_commits FROM repos") == [("wt", 1)]


def test_detached_head(repo_builder, tmp_path):
    rb = repo_builder("detached")
    first = rb.commit("one", {"a": "1\n"})
    rb.commit("two", {"a": "2\n"})
    rb.git("checkout", "-q", "--detach", first)
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    assert q(db, "SELECT head_sha, n_commits FROM repos") == [(first, 1)]


def test_odd_path_bytes(repo_builder, tmp_path):
    rb = repo_builder("paths")
    names = [
        "-rf",
        "tab\there.txt",
        "new\nline.txt",
        'quote".txt',
        "sp ace/ü.txt",
        "back\\slash",
        "\x1e.txt",
    ]
    rb.commit("odd names", {n: f"{i}\n" for i, n in enumerate(names)})
    rb.rename("tab\there.txt", "renamed\tagain.txt")
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    out = subprocess.run(
        ["git", "-C", str(rb.path), "ls-tree", "-r", "-z", "--name-only", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout  # rb.git strips: "\x1e" is whitespace to str
    tree = out.decode().split("\0")
    assert sorted(
        r[0]
        for r in q(
            db,
            "SELECT path FROM file_changes WHERE change_type IN ('A', 'R') AND path NOT IN "
            "(SELECT old_path FROM file_changes WHERE old_path IS NOT NULL)",
        )
    ) == sorted(t for t in tree if t)
    assert q(db, "SELECT old_path, path, similarity FROM file_changes WHERE change_type = 'R'") == [
        ("tab\there.txt", "renamed\tagain.txt", 100)
    ]


def test_empty_identity_and_message(repo_builder, tmp_path):
    rb = repo_builder("blank")
    rb.commit("start", {"a": "1\n"})
    sha = rb.raw_commit(b"", author=b" <>")
    db = tmp_path / "s.duckdb"
    assert crawl_cli(rb.path, "--db", db).exit_code == 0
    assert q(db, "SELECT message FROM messages WHERE sha = ?", [sha]) == [("",)]
    assert q(db, "SELECT author_id FROM commits WHERE sha = ?", [sha]) == [(person_id(b"", b""),)]


# --- sources and repositories that must be refused ------------------------------------------


def test_head_points_to_a_missing_branch(repo_builder, base_db):
    rb = repo_builder("nohead")
    rb.commit("one", {"a": "1\n"})
    rb.git("symbolic-ref", "HEAD", "refs/heads/gone")
    before = db_state(base_db)
    res = crawl_cli(rb.path, "--db", base_db)
    assert_one_line_error(res, "HEAD does not point to a commit", "nohead")
    assert db_state(base_db) == before
    assert crawl_cli(rb.path, "--db", base_db, "--rev", "main").exit_code == 0


def test_broken_branch_ref(repo_builder, base_db):
    rb = repo_builder("brokenref")
    rb.commit("one", {"a": "1\n"})
    (rb.git_dir / "refs" / "heads" / "main").write_text("not a sha\n")
    before = db_state(base_db)
    res = crawl_cli(rb.path, "--db", base_db)
    assert_one_line_error(res, "brokenref")
    assert db_state(base_db) == before


def test_revision_naming_a_tree(repo_builder, base_db):
    rb = repo_builder("tree")
    rb.commit("one", {"a": "1\n"})
    before = db_state(base_db)
    res = crawl_cli(rb.path, "--db", base_db, "--rev", "HEAD^{tree}")
    assert_one_line_error(res, "unknown revision", "HEAD^{tree}")
    assert db_state(base_db) == before


def test_source_is_a_file(tmp_path, base_db):
    f = tmp_path / "file.txt"
    f.write_text("x")
    before = db_state(base_db)
    assert_one_line_error(crawl_cli(f, "--db", base_db), "not a directory", str(f))
    assert db_state(base_db) == before


def test_unreachable_http_url(tmp_path, base_db):
    url = "http://127.0.0.1:9/nobody/nothing.git"  # discard port: connection refused at once
    cache = tmp_path / "cache"
    before = db_state(base_db)
    res = crawl_cli(url, "--db", base_db, "--cache", cache)
    assert_one_line_error(res, "clone failed", url)
    assert db_state(base_db) == before
    assert not any(cache.glob("*")) if cache.exists() else True  # no half clone left behind


def test_two_sources_with_the_same_key(repo_builder, tmp_path):
    a = RepoBuilder(tmp_path / "x" / "proj")
    a.commit("a", {"a": "1\n"})
    b = RepoBuilder(tmp_path / "y" / "proj")
    b.commit("b", {"b": "1\n"})
    db = tmp_path / "s.duckdb"
    assert_one_line_error(crawl_cli(a.path, b.path, "--db", db), "same repository key", "proj")
    assert not db.exists()


@pytest.mark.parametrize(
    ("entry", "expect"),
    [
        ("name = 'x'\npath = '.'\ncolour = 'red'", "unknown fields ['colour']"),
        ("name = 'x'\npath = '.'\nrole = 'boss'", "'role' must be 'study' or 'control'"),
        ("name = 'x'\npath = '.'\ntags = 'one'", "'tags' must be a list of strings"),
        ("name = 'x'\npath = '.'\nrev = '-x'", "not an acceptable revision"),
        ("name = 'a/b/c'\npath = '.'", "invalid repository name"),
        ("name = 'x'\nurl = 'https://h/a/b'\npath = '.'", "exactly one of 'url' or 'path'"),
    ],
)
def test_more_bad_corpus_entries(entry, expect, tmp_path):
    manifest = tmp_path / "corpus.toml"
    manifest.write_text("[[repo]]\n" + entry + "\n")
    db = tmp_path / "s.duckdb"
    res = runner.invoke(app, ["crawl", "--corpus", str(manifest), "--db", str(db)])
    assert res.exit_code == 2 and expect in res.output and str(manifest) in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not db.exists()


# --- databases ------------------------------------------------------------------------------


def _legacy(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE commits (repo VARCHAR, sha VARCHAR, author VARCHAR)")
    con.execute("INSERT INTO commits VALUES ('r', 'abc', 'someone')")
    con.close()


def _versioned(version: str):
    def make(db: Path) -> None:
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE strata_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO strata_meta VALUES ('schema_version', ?)", [version])
        con.execute("CREATE TABLE commits (repo VARCHAR, sha VARCHAR)")
        con.close()

    return make


def _garbage(db: Path) -> None:
    db.write_bytes(b"this is not a database\n" * 200)


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (_legacy, "no ai-strata schema version"),
        (_versioned("0"), "schema version 0"),
        (_versioned("99"), "schema version 99"),
        (_garbage, "not a valid DuckDB database"),
    ],
    ids=["pre-versioning", "older-version", "newer-version", "not-duckdb"],
)
def test_foreign_or_old_database_is_refused_untouched(make, expect, repo_builder, tmp_path):
    rb = repo_builder("r")
    rb.commit("one", {"a": "1\n"})
    db = tmp_path / "old.duckdb"
    make(db)
    before = db.read_bytes()
    res = crawl_cli(rb.path, "--db", db)
    assert_one_line_error(res, expect, str(db))
    assert res.exit_code == 2
    if make is not _garbage:  # nothing was created in it: the schema is applied all or nothing
        con = duckdb.connect(str(db), read_only=True)
        assert "repos" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        con.close()
    else:
        assert db.read_bytes() == before


def test_database_path_is_a_directory(tmp_path, repo_builder):
    rb = repo_builder("r")
    rb.commit("one", {"a": "1\n"})
    d = tmp_path / "adir.duckdb"
    d.mkdir()
    assert_one_line_error(crawl_cli(rb.path, "--db", d), str(d))


def test_source_repository_is_never_written(repo_builder, tmp_path):
    rb = repo_builder("pristine")
    rb.commit("one", {"a": "1\n"})
    mirror = rb.bare_clone(tmp_path / "m.git", empty_config=True)

    def snapshot() -> dict[str, tuple[int, float]]:
        return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in mirror.rglob("*")}

    before = snapshot()
    os.chmod(mirror, 0o555)  # read-only folder on top (root ignores it; the snapshot does not)
    try:
        assert crawl_cli(mirror, "--db", tmp_path / "s.duckdb").exit_code == 0
    finally:
        os.chmod(mirror, 0o755)
    assert snapshot() == before


def test_incremental_crawl_equals_fresh_crawl_after_a_foxtrot_merge(repo_builder, tmp_path):
    """Stored commits move when new ones arrive (topo_index shifts; a merge whose first parent is
    the feature branch takes old main commits off the first-parent chain)."""
    rb = repo_builder("foxtrot")
    rb.commit("a", {"a": "1\n"})
    rb.branch("feature")
    rb.commit("c", {"c": "1\n"})
    rb.checkout("main")
    b = rb.commit("b (#5)", {"b": "1\n"})
    inc, fresh = tmp_path / "inc.duckdb", tmp_path / "fresh.duckdb"
    assert crawl_cli(rb.path, "--db", inc).exit_code == 0
    assert q(inc, "SELECT on_first_parent, integration_mode FROM commits WHERE sha = ?", [b]) == [
        (True, "squash_pr")
    ]
    rb.checkout("feature")
    rb.merge("main", message="merge main into feature")
    rb.git("branch", "-f", "main", "feature")
    rb.checkout("main")
    assert crawl_cli(rb.path, "--db", inc).exit_code == 0
    assert crawl_cli(rb.path, "--db", fresh).exit_code == 0
    cols = "sha, topo_index, on_first_parent, integration_mode, pr_number"
    assert q(inc, f"SELECT {cols} FROM commits ORDER BY sha") == q(
        fresh, f"SELECT {cols} FROM commits ORDER BY sha"
    )
    assert q(inc, "SELECT on_first_parent, integration_mode FROM commits WHERE sha = ?", [b]) == [
        (False, "merged_branch")
    ]
