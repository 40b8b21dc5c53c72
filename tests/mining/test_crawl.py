"""crawl: rows equal what git and PyDriller report, on real repositories built per scenario."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from mining import gitlog, store
from mining.crawl import CrawlTarget, crawl, parse_git_date
from mining.sources import resolve_source
from tests.gitrepo import RepoBuilder

BIN = bytes(range(256)) * 8


def build_everything(rb: RepoBuilder) -> dict[str, str]:
    """A history with renames, binaries, merges, an octopus, odd time zones, empty commits."""
    shas = {}
    shas["root"] = rb.commit(
        "root", {"README.md": "hello\n", "src/app.py": "def f():\n    return 1\n" * 20}
    )
    shas["binary"] = rb.commit(
        "add a binary", {"img/logo.bin": BIN}, date="2024-02-01T10:00:00+05:30"
    )
    shas["rename"] = rb.rename("src/app.py", "src/core/app.py", date="2024-02-02T10:00:00-08:00")
    shas["edit"] = rb.commit(
        "edit and delete", {"README.md": "hello\nworld\n", "img/logo.bin": None}
    )
    shas["empty"] = rb.commit("nothing changed", allow_empty=True)
    rb.branch("feature")
    shas["f1"] = rb.commit("feature work", {"src/feature.py": "x = 1\n"})
    rb.checkout("main")
    shas["m1"] = rb.commit(
        "main work", {"docs/guide.md": "guide\n"}, date="2024-03-01T00:00:00+14:00"
    )
    shas["merge"] = rb.merge("feature", message="Merge pull request #7 from someone/feature")
    for b in ("oct1", "oct2"):
        rb.branch(b, shas["merge"])
        rb.commit(f"{b} work", {f"{b}.txt": f"{b}\n"})
    rb.checkout("main")
    shas["octopus"] = rb.merge("oct1", "oct2", message="octopus")
    shas["squash"] = rb.commit(
        "Add thing (#12)", {"thing.py": "print(1)\n"}, date="2024-04-01T00:00:00-12:00"
    )
    shas["latin1"] = rb.raw_commit(b"caf\xe9 au lait\n", author=b"Jos\xe9 <jose@example.org>")
    shas["declared"] = rb.raw_commit(b"na\xefve\n", encoding=b"ISO-8859-1")
    return shas


@pytest.fixture
def everything(repo_builder) -> tuple[RepoBuilder, dict[str, str]]:
    rb = repo_builder("everything")
    return rb, build_everything(rb)


def crawl_one(path: Path | str, db: Path, rev: str = "HEAD", **kw) -> list:
    return crawl(db, [CrawlTarget(resolve_source(str(path)), rev)], **kw)


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def git_numstat(git_dir: Path) -> dict[str, list[tuple]]:
    """Per commit, git's own (path, added, deleted) rows from a plain `git log --numstat`."""
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "log", "-M", "--numstat", "-z", "--format=%x01%H"],
        capture_output=True,
        check=True,
    ).stdout
    result: dict[str, list[tuple]] = {}
    for block in out.split(b"\x01")[1:]:
        toks = block.split(b"\0")
        sha = toks[0].strip().decode()
        rows_: list[tuple] = []
        i = 1
        while i < len(toks):
            t = toks[i].lstrip(b"\n")
            i += 1
            if not t:
                continue
            a, d, p = t.split(b"\t", 2)
            if p == b"":
                p = toks[i + 1]
                i += 2
            rows_.append(
                (
                    p.decode("utf-8", "backslashreplace"),
                    None if a == b"-" else int(a),
                    None if d == b"-" else int(d),
                )
            )
        result[sha] = sorted(rows_, key=lambda r: r[0])
    return result


def test_crawl_equals_git_numstat(everything, tmp_path):
    rb, shas = everything
    db = tmp_path / "s.duckdb"
    [res] = crawl_one(rb.path, db)
    assert res.error is None
    expected = git_numstat(rb.git_dir)
    n_git = len(rb.git("rev-list", "HEAD").split())
    assert res.n_commits == n_git == len(rows(db, "SELECT sha FROM commits"))
    for sha, exp in expected.items():
        got = rows(
            db,
            "SELECT path, lines_added, lines_deleted FROM file_changes WHERE sha = ? ORDER BY path",
            [sha],
        )
        assert sorted(got) == exp, sha
    # merges carry no file rows (git log's default), octopus keeps all three parents
    merge = rows(
        db,
        "SELECT is_merge, files_changed, len(parents), integration_mode, pr_number FROM commits WHERE sha = ?",
        [shas["merge"]],
    )
    assert merge == [(True, 0, 2, "merge", 7)]
    assert rows(db, "SELECT len(parents) FROM commits WHERE sha = ?", [shas["octopus"]]) == [(3,)]


def test_rows_and_metadata(everything, tmp_path):
    rb, shas = everything
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    ren = rows(
        db,
        "SELECT path, old_path, change_type, similarity FROM file_changes WHERE sha = ?",
        [shas["rename"]],
    )
    assert ren == [("src/core/app.py", "src/app.py", "R", 100)]
    binrow = rows(
        db,
        "SELECT change_type, is_binary, lines_added FROM file_changes WHERE sha = ?",
        [shas["binary"]],
    )
    assert binrow == [("A", True, None)]
    # time zones keep their offset; the instant is UTC
    tz = rows(
        db,
        "SELECT author_tz_offset, epoch(authored_at)::BIGINT FROM commits WHERE sha = ?",
        [shas["binary"]],
    )
    assert tz == [(330, 1706761800)]
    assert rows(db, "SELECT author_tz_offset FROM commits WHERE sha = ?", [shas["m1"]]) == [(840,)]
    assert rows(db, "SELECT author_tz_offset FROM commits WHERE sha = ?", [shas["squash"]]) == [
        (-720,)
    ]
    # empty commit: recorded, no rows
    assert rows(db, "SELECT files_changed FROM commits WHERE sha = ?", [shas["empty"]]) == [(0,)]
    # non-UTF-8 message: stored with replacement, flagged
    msg = rows(db, "SELECT message, bad_utf8 FROM messages WHERE sha = ?", [shas["latin1"]])
    assert msg[0][1] is True and msg[0][0].startswith("caf") and "\ufffd" in msg[0][0]
    # a declared encoding is honoured: git re-encodes to UTF-8
    assert rows(db, "SELECT message, bad_utf8 FROM messages WHERE sha = ?", [shas["declared"]]) == [
        ("na\xefve", False)
    ]
    assert rows(db, "SELECT author_name FROM identities WHERE sha = ?", [shas["latin1"]]) == [
        ("Jos\ufffd",)
    ]
    # integration modes
    modes = dict(rows(db, "SELECT sha, integration_mode FROM commits"))
    assert modes[shas["squash"]] == "squash_pr"
    assert modes[shas["f1"]] == "merged_branch"
    assert modes[shas["m1"]] == "direct"
    # identities: raw names kept locally, ids pseudonymous
    ids = rows(db, "SELECT DISTINCT author_id FROM commits")
    assert len(ids) == 2 and all("@" not in i[0] for i in ids)
    assert ("ada@example.org",) in rows(db, "SELECT DISTINCT author_email FROM identities")


def test_pydriller_oracle(everything, tmp_path):
    """PyDriller (one diff per commit) and the streamed crawl agree commit by commit, file by file."""
    pydriller = pytest.importorskip("pydriller")
    rb, _ = everything
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    scratch = tmp_path / "scratch"
    shutil.copytree(rb.path, scratch)  # PyDriller writes into the repository it opens
    kinds = {"ADD": "A", "DELETE": "D", "MODIFY": "M", "RENAME": "R", "COPY": "C"}
    seen = 0
    for c in pydriller.Repository(str(scratch)).traverse_commits():
        seen += 1
        meta = rows(
            db,
            "SELECT c.parents, c.is_merge, i.author_name, i.author_email, c.authored_epoch, "
            "c.author_tz_offset, m.message FROM commits c JOIN identities i USING (repo, sha) "
            "JOIN messages m USING (repo, sha) WHERE sha = ?",
            [c.hash],
        )
        assert meta, c.hash
        parents, is_merge, name, email, epoch, offset, message = meta[0]
        assert parents == c.parents and is_merge == c.merge
        if "\ufffd" not in name:
            assert (name, email) == (c.author.name, c.author.email)
        assert epoch == int(c.author_date.timestamp())
        assert offset == -c.author_timezone // 60
        if "\ufffd" not in message + c.msg:  # PyDriller ignores a declared encoding; git honours it
            assert message.strip() == c.msg.strip()
        expect = sorted(
            (
                m.new_path or m.old_path,
                m.old_path if m.change_type.name == "RENAME" else None,
                kinds[m.change_type.name],
                m.added_lines,
                m.deleted_lines,
            )
            for m in c.modified_files
        )
        got = rows(
            db,
            "SELECT path, old_path, change_type, coalesce(lines_added, 0), coalesce(lines_deleted, 0) "
            "FROM file_changes WHERE sha = ? ORDER BY path",
            [c.hash],
        )
        assert sorted(got) == expect, c.hash
    assert seen == rows(db, "SELECT count(*) FROM commits")[0][0]


def test_mirror_with_empty_config_is_read_not_written(everything, tmp_path):
    rb, _ = everything
    mirror = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    before = tree_digest(mirror)
    db = tmp_path / "s.duckdb"
    [res] = crawl_one(mirror, db)
    assert res.error is None and res.n_commits == len(rb.git("rev-list", "HEAD").split())
    assert tree_digest(mirror) == before


def test_fetch_layout_names_owner_and_repo(everything, tmp_path):
    rb, _ = everything
    mirror = rb.bare_clone(tmp_path / "acme+widget" / "repo")
    assert resolve_source(str(mirror)).repo == "acme/widget"


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def test_second_crawl_adds_only_new_commits(everything, tmp_path):
    rb, _ = everything
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    first = rows(db, "SELECT count(*), sum(lines_added) FROM commits")[0]
    rb.commit("later", {"later.py": "a\nb\n"})
    rb.commit("later still", {"later.py": "a\nb\nc\n"})
    [res] = crawl_one(rb.path, db)
    assert res.n_new == 2 and res.n_removed == 0
    assert rows(db, "SELECT count(*), sum(lines_added) FROM commits")[0] == (
        first[0] + 2,
        first[1] + 3,
    )
    fresh = tmp_path / "fresh.duckdb"
    crawl_one(rb.path, fresh)
    q = "SELECT sha, path, lines_added, lines_deleted FROM file_changes ORDER BY ALL"
    assert rows(db, q) == rows(fresh, q)


def test_rewritten_history_drops_unreachable_commits(everything, tmp_path):
    rb, _ = everything
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    gone = rb.head()
    rb.git("reset", "-q", "--hard", "HEAD~1")
    [res] = crawl_one(rb.path, db)
    assert res.n_removed == 1
    assert rows(db, "SELECT count(*) FROM commits WHERE sha = ?", [gone]) == [(0,)]
    assert rows(db, "SELECT count(*) FROM file_changes WHERE sha = ?", [gone]) == [(0,)]


def test_interrupted_load_leaves_repo_as_before(everything, tmp_path, monkeypatch):
    rb, _ = everything
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    snapshot = rows(db, "SELECT count(*), sum(lines_added) FROM commits")
    rb.commit("one more", {"x.py": "1\n"})
    import mining.attribute

    def boom(con, repo):
        raise KeyboardInterrupt

    monkeypatch.setattr(mining.attribute, "attribute_repo", boom)
    with pytest.raises(KeyboardInterrupt):
        crawl_one(rb.path, db)
    assert rows(db, "SELECT count(*), sum(lines_added) FROM commits") == snapshot
    assert rows(db, "SELECT n_commits FROM repos") == [(snapshot[0][0],)]


def test_parallel_jobs_equal_serial(everything, repo_builder, tmp_path):
    rb, _ = everything
    other = repo_builder("other")
    other.commit("one", {"a.go": "package a\n"})
    other.commit("two", {"a.go": "package a\n\nfunc A() {}\n"})
    serial, parallel = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    targets = [
        CrawlTarget(resolve_source(str(rb.path))),
        CrawlTarget(resolve_source(str(other.path))),
    ]
    crawl(serial, targets, jobs=1)
    crawl(parallel, targets, jobs=2)
    q = "SELECT repo, sha, path, lines_added FROM file_changes ORDER BY ALL"
    assert rows(serial, q) == rows(parallel, q)


def test_partial_clone_records_commits_and_flags_missing_blobs(repo_builder, tmp_path, monkeypatch):
    src = repo_builder("src")
    src.commit("small", {"a.txt": "a\n"})
    src.commit("big", {"big.txt": "line\n" * 5000, "b.txt": "b\n"})
    src.commit("edit big", {"big.txt": "line\n" * 5001, "a.txt": "a\nb\n"})
    src.commit("small again", {"c.txt": "c\n"})
    src.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "partial.git"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--bare",
            "--no-local",
            "--filter=blob:limit=1k",
            f"file://{src.path}",
            str(clone),
        ],
        check=True,
    )
    src_head = src.git("rev-parse", "HEAD")
    shutil.rmtree(src.path)  # the promisor is gone: absent blobs cannot be fetched
    db = tmp_path / "s.duckdb"
    [res] = crawl_one(clone, db)
    assert res.error is None and res.n_commits == 4
    missing = rows(
        db, "SELECT path, lines_added FROM file_changes WHERE blob_missing ORDER BY path"
    )
    assert [m[0] for m in missing] == ["big.txt", "big.txt"] and all(m[1] is None for m in missing)
    # readable rows of the same commits keep their counts
    assert rows(
        db,
        "SELECT lines_added, lines_deleted FROM file_changes WHERE path = 'a.txt' AND change_type = 'M'",
    ) == [(1, 0)]
    assert res.n_missing_blobs == 2
    monkeypatch.setattr(gitlog, "PARALLEL_MIN_COMMITS", 1)
    assert _records(clone, 2) == _records(clone, 1)
    # a second crawl checks only its new commits for absent blobs (the first checks the history)
    step = tmp_path / "step.duckdb"
    crawl_one(clone, step, rev="HEAD~2")
    [again] = crawl_one(clone, step)
    assert again.n_new == 2 and again.n_missing_blobs == 2
    q = "SELECT sha, path, lines_added, lines_deleted, blob_missing FROM file_changes ORDER BY ALL"
    assert rows(step, q) == rows(db, q)
    # a fetched mirror keeps the promisor pack but no remote: cat-file finds the absent blobs
    mirror = tmp_path / "mirror.git"
    shutil.copytree(clone, mirror)
    (mirror / "config").write_text("")
    assert gitlog.promisor_remote(clone) and not gitlog.promisor_remote(mirror)
    found = gitlog.commits_needing_absent_blobs(mirror, [src_head], walk=True)
    assert found == gitlog.commits_needing_absent_blobs(clone, [src_head], walk=True)
    assert len(found[1]) == 2  # "big" and "edit big"
    crawl_one(mirror, tmp_path / "mirror.duckdb")
    assert rows(tmp_path / "mirror.duckdb", q) == rows(db, q)
    from mining.errors import GitError

    with pytest.raises(GitError):  # an error in the background check reaches the caller
        gitlog.start_absent_check(clone, ["0" * 40]).result()


def test_non_utf8_file_name(repo_builder, tmp_path):
    rb = repo_builder("names")
    rb.commit("odd name", {b"caf\xe9.txt": "x\n", "ok.txt": "y\n"})
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    paths = sorted(r[0] for r in rows(db, "SELECT path FROM file_changes"))
    assert paths == ["caf\\xe9.txt", "ok.txt"]


def test_type_change_is_one_row(repo_builder, tmp_path):
    rb = repo_builder("types")
    rb.commit("file", {"link": "target\n"})
    (rb.path / "link").unlink()
    (rb.path / "link").symlink_to("elsewhere")
    sha = rb.commit("now a symlink")
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    assert rows(db, "SELECT change_type FROM file_changes WHERE sha = ?", [sha]) == [("T",)]


def test_weird_dates(repo_builder, tmp_path):
    rb = repo_builder("dates")
    rb.commit("start", {"a": "1\n"})
    old = rb.raw_commit(
        b"before the epoch\n", epoch=-14182940, tz=b"-0500"
    )  # git commit refuses it
    far = rb.raw_commit(b"far future\n", epoch=32503679999)
    db = tmp_path / "s.duckdb"
    crawl_one(rb.path, db)
    got = dict(
        (s, (e, y))
        for s, e, y in rows(db, "SELECT sha, authored_epoch, year(authored_at) FROM commits")
    )
    assert got[far] == (32503679999, 2999)
    assert got[old] == (-14182940, 1969)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"0 +0000", (0, 0)), (b"1700000000 -0930", (1700000000, -570)), (b"-100 +0100", (-100, 60))],
)
def test_parse_git_date(raw, expected):
    epoch, when, offset = parse_git_date(raw)
    assert (epoch, offset) == expected and when is not None


def test_store_rejects_other_schema_version(tmp_path):
    db = tmp_path / "old.duckdb"
    con = store.connect(db)
    con.execute("UPDATE strata_meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    from mining.errors import DatabaseError

    with pytest.raises(DatabaseError, match="schema version 0"):
        store.connect(db)


def _records(git_dir, streams):
    shas = gitlog.list_commits(git_dir, "HEAD")
    return sorted(
        (r.sha, tuple((f.path, f.added, f.deleted, f.blob_missing) for f in r.files))
        for r in gitlog.iter_commits(git_dir, shas, streams=streams)
    )


def test_parallel_streams_equal_one_stream(everything, monkeypatch):
    rb, _ = everything
    monkeypatch.setattr(gitlog, "PARALLEL_MIN_COMMITS", 1)
    one = _records(rb.git_dir, 1)
    assert _records(rb.git_dir, 3) == one and len(one) == len(rb.git("rev-list", "HEAD").split())


def test_parallel_stream_error_is_raised_and_git_stopped(everything, monkeypatch):
    from mining.errors import GitError

    rb, _ = everything
    monkeypatch.setattr(gitlog, "PARALLEL_MIN_COMMITS", 1)
    with pytest.raises(GitError):
        list(
            gitlog.iter_commits(
                rb.git_dir, ["0" * 40, *rb.git("rev-list", "HEAD").split()], streams=2
            )
        )


def test_mailmap_of_the_crawled_revision_is_applied(repo_builder, tmp_path):
    rb = repo_builder("mm")
    rb.commit("first", {"a": "1\n"}, author=("Old Name", "old@example.org"))
    rb.commit("map", {".mailmap": "New Name <new@example.org> Old Name <old@example.org>\n"})
    mirror = rb.bare_clone(tmp_path / "mm.git", empty_config=True)
    db = tmp_path / "s.duckdb"
    crawl_one(mirror, db)
    got = rows(
        db,
        "SELECT author_email, mailmap_author_email, mailmap_author_name FROM identities ORDER BY author_email",
    )
    assert ("old@example.org", "new@example.org", "New Name") in got
    ids = rows(db, "SELECT DISTINCT author_id FROM commits")
    assert len(ids) == 2  # ada (the default author) and the mapped person
