"""Patch streaming on real repositories: per-file split, caps, binary, odd bytes, renames."""

from __future__ import annotations

import subprocess

from mining import diffs


def _numstat(git_dir, sha: str) -> dict[str, tuple[int, int]]:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", "--numstat", "-M", "--format=", sha],
        capture_output=True,
        check=True,
    ).stdout.decode()
    rows = {}
    for line in out.splitlines():
        a, d, path = line.split("\t", 2)
        if a != "-":
            rows[path] = (int(a), int(d))
    return rows


def test_split_per_commit_and_file_matches_numstat(repo_builder):
    rb = repo_builder()
    s1 = rb.commit("repo_with_two_files", {"a.py": "x = 1\n", "b/c.txt": "one\ntwo\n"})
    s2 = rb.commit("edit", {"a.py": "x = 2\ny = 3\n", "b/c.txt": "one\n"})
    got = list(diffs.iter_commit_diffs(rb.git_dir, [s2, s1]))
    assert [c.sha for c in got] == [s2, s1]
    assert got[1].parents == [] and got[0].parents == [s1]
    for c in got:
        counts = {f.path: (f.lines_added, f.lines_deleted) for f in c.files}
        assert counts == _numstat(rb.git_dir, c.sha)
    edit = {f.path: f for f in got[0].files}
    assert edit["a.py"].hunks[0].removed == ["x = 1"]
    assert edit["a.py"].hunks[0].added == ["x = 2", "y = 3"]
    assert got[0].message == "edit"


def test_sql_comment_line_inside_hunk_is_not_a_header(repo_builder):
    rb = repo_builder()
    rb.commit("first", {"q.sql": "-- a/b\nselect 1;\n"})
    sha = rb.commit("second", {"q.sql": "select 1;\n"})
    (c,) = diffs.iter_commit_diffs(rb.git_dir, [sha])
    (f,) = c.files
    assert f.path == "q.sql" and f.lines_deleted == 1 and f.hunks[0].removed == ["-- a/b"]


def test_rename_binary_and_non_utf8(repo_builder):
    rb = repo_builder()
    rb.commit("first", {"old name.txt": "hello\nworld\n"})
    rb.rename("old name.txt", "dir/new name.txt")
    sha = rb.commit(
        "repo_with_binary_and_latin1",
        {"img.bin": b"\x00\x01\x02\xff" * 50, "latin.txt": "caf\xe9\n".encode("latin-1")},
    )
    renamed = list(diffs.iter_commit_diffs(rb.git_dir, [rb.git("rev-parse", "HEAD~1")]))[0]
    (f,) = renamed.files
    assert (f.change_type, f.old_path, f.path, f.similarity) == (
        "R",
        "old name.txt",
        "dir/new name.txt",
        100,
    )
    (c,) = diffs.iter_commit_diffs(rb.git_dir, [sha])
    files = {f.path: f for f in c.files}
    assert files["img.bin"].is_binary and files["img.bin"].lines_added == 0
    assert files["img.bin"].change_type == "A" and files["img.bin"].new_blob
    assert files["latin.txt"].hunks[0].added == ["caf\ufffd"]


def test_huge_file_is_capped_but_counted(repo_builder, monkeypatch):
    monkeypatch.setattr(diffs, "MAX_LINES_PER_FILE", 100)
    rb = repo_builder()
    body = "".join(f"line {i}\n" for i in range(5000)) + "x" * 100_000 + "\n"
    sha = rb.commit("repo_with_huge_file", {"big.txt": body, "small.txt": "s\n"})
    (c,) = diffs.iter_commit_diffs(rb.git_dir, [sha])
    files = {f.path: f for f in c.files}
    big = files["big.txt"]
    assert big.lines_added == 5001 and big.truncated
    assert sum(len(h.added) for h in big.hunks) == 100
    assert files["small.txt"].hunks[0].added == ["s"] and not files["small.txt"].truncated


def test_long_lines_are_cut():
    lines = list(diffs.stream_lines([b"a" * 10, b"b" * 5000, b"\nshort\n", b"tail"]))
    assert lines[0] == (b"a" * 10 + b"b" * 5000)[: diffs.MAX_LINE_BYTES]
    assert lines[1:] == [b"short", b"tail"]


def test_quoted_paths_are_unquoted():
    assert diffs.unquote_path(b'"a\\tb\\303\\251.txt"') == "a\tb\u00e9.txt"
    assert diffs.unquote_path(b"plain.txt") == "plain.txt"


def test_missing_blob_falls_back_to_file_list(repo_builder, tmp_path):
    rb = repo_builder()
    s1 = rb.commit("first", {"keep.txt": "a\n", "lost.txt": "secret\n"})
    s2 = rb.commit("second", {"keep.txt": "b\n", "lost.txt": "changed\n"})
    s3 = rb.commit("third", {"keep.txt": "c\n"})
    blob = rb.git("rev-parse", f"{s1}:lost.txt")
    bare = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    subprocess.run(["git", f"--git-dir={bare}", "repack", "-a", "-d", "-q"], check=True)
    # drop one blob from the packed objects to mimic a partial clone
    pack = next((bare / "objects" / "pack").glob("*.pack"))
    objs = (
        subprocess.run(
            ["git", "show-index"],
            input=pack.with_suffix(".idx").read_bytes(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\n")
    )
    keep = "\n".join(line.split()[1] for line in objs if line and line.split()[1] != blob) + "\n"
    for p in (bare / "objects" / "pack").iterdir():
        p.unlink()
    src = rb.git_dir
    subprocess.run(
        ["git", f"--git-dir={src}", "pack-objects", "-q", str(bare / "objects" / "pack" / "pack")],
        input=keep.encode(),
        check=True,
        capture_output=True,
    )
    got = {c.sha: c for c in diffs.iter_commit_diffs(bare, [s3, s2, s1])}
    assert set(got) == {s1, s2, s3}
    assert not got[s3].incomplete
    assert got[s2].incomplete and {f.path for f in got[s2].files} == {"keep.txt", "lost.txt"}


def test_file_kinds_from_data_file():
    cases = {
        "src/app/main.py": "source",
        "tests/test_main.py": "test",
        "pkg/foo_test.go": "test",
        "docs/index.md": "docs",
        "README.md": "docs",
        "package-lock.json": "lockfile",
        "web/package.json": "manifest",
        "requirements-dev.txt": "manifest",
        "go.sum": "lockfile",
        ".github/workflows/ci.yml": "ci",
        "Dockerfile": "build",
        "vendor/github.com/x/y.go": "vendored",
        "api/v1/foo.pb.go": "generated",
        "locales/de/messages.po": "i18n",
        "static/logo.png": "assets",
        "setup.cfg": "manifest",
        ".eslintrc.json": "config",
        "LICENSE-thing.bin": "docs",
        "weird.unknownext": "other",
    }
    assert {p: diffs.file_kind(p) for p in cases} == cases
    assert diffs.is_contract("app/migrations/0001_initial.py")
    assert diffs.is_contract("proto/service.proto")
    assert diffs.is_contract("api/openapi.yaml")
    assert not diffs.is_contract("src/main.py")
    assert set(diffs.file_kinds()) >= {
        "source",
        "test",
        "docs",
        "config",
        "build",
        "manifest",
        "lockfile",
        "generated",
        "vendored",
        "ci",
        "i18n",
        "assets",
    }


def test_test_data_is_counted_but_not_read(repo_builder):
    """Recorded fixtures (test kind, a data extension) keep exact counts and no lines; the same
    change to a test's code or to a config file is read as before, and the unread file does not
    use up the commit's line budget."""
    fixture_v1 = "".join(f"- step: {i}\n  said: hello {i}\n" for i in range(40))
    fixture_v2 = fixture_v1.replace("hello 7\n", "hi 7\n").replace("hello 30", "bye")
    fixture_v2 = fixture_v2 + "\n\n- step: end"  # empty lines, then no newline at the end
    rb = repo_builder()
    rb.commit(
        "first",
        {
            "internal/agent/testdata/session.yaml": fixture_v1,
            "config/session.yaml": fixture_v1,
            "internal/agent/agent_test.go": "package agent\n\nfunc TestA() {}\n",
        },
    )
    sha = rb.commit(
        "second",
        {
            "internal/agent/testdata/session.yaml": fixture_v2,
            "config/session.yaml": fixture_v2,
            "internal/agent/agent_test.go": "package agent\n\nfunc TestA() { _ = 1 }\n",
        },
    )
    (c,) = diffs.iter_commit_diffs(rb.git_dir, [sha])
    files = {f.path: f for f in c.files}
    counts = {p: (f.lines_added, f.lines_deleted) for p, f in files.items()}
    assert counts == _numstat(rb.git_dir, sha)
    data, config = files["internal/agent/testdata/session.yaml"], files["config/session.yaml"]
    assert data.unread and not any(h.added or h.removed for h in data.hunks)
    assert (data.lines_added, data.lines_deleted) == (config.lines_added, config.lines_deleted)
    assert not config.unread and sum(len(h.added) for h in config.hunks) == config.lines_added
    go_test = files["internal/agent/agent_test.go"]
    assert not go_test.unread and go_test.hunks[0].added == ["func TestA() { _ = 1 }"]
    assert not data.truncated
    assert diffs.is_unread_test_data("pkg/testdata/golden/out.golden")
    assert not diffs.is_unread_test_data("pkg/testdata/helper.go")
    assert not diffs.is_unread_test_data("docs/session.yaml")


def test_counting_unread_lines_in_runs_matches_reading_them():
    """`_count_lines` (runs tallied by their first bytes) against a line-by-line count, over
    hunks split across batches, with empty context lines and `\\ No newline` notes."""
    hunk = [b" a", b"-b", b"+c", b"", b"\\ No newline at end of file", b"+d", b"-e", b" f"]
    old_n, new_n = 5, 5  # context a, "", f; removed b, e / added c, d
    for cut in range(len(hunk) + 1):
        i, old_rem, new_rem, added, deleted = diffs._count_lines(hunk[:cut], 0, old_n, new_n)
        j, old_rem, new_rem, a2, d2 = diffs._count_lines(
            hunk[cut:] + [b" next"], 0, old_rem, new_rem
        )
        assert (added + a2, deleted + d2, old_rem, new_rem) == (2, 2, 0, 0)
        assert i + j == len(hunk)
