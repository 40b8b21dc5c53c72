"""Texts the layer model reads: cleaned messages and path tokens, from git and from a database."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from mining import features, store, text_features
from mining.errors import StageError
from mining.gitcmd import git_text


def test_commit_texts_clean_message_and_tokenise_paths(repo_builder):
    rb = repo_builder()
    rb.commit("initial", {"src/oldName.py": "x = 1\n"})
    sha = rb.commit(
        "feat: add parser\n\nGenerated with Claude Code",
        {"src/http_client/ParseHeader.py": "def f():\n    pass\n"},
        trailers=[("Co-authored-by", "Bot <bot@example.org>")],
    )
    moved = rb.rename("src/oldName.py", "lib/newName.py")
    texts = text_features.commit_texts(rb.path, [sha, moved]).set_index("sha")
    msg = texts.loc[sha, "msg_text"]
    assert msg == "feat: add parser"  # trailer and tool marker removed before any model sees it
    tokens = texts.loc[sha, "path_text"].split()
    assert {"http", "client", "parse", "header", "ext_py", "st_A", "A_ext_py"} <= set(tokens)
    renamed = texts.loc[moved, "path_text"].split()
    assert "st_R" in renamed and "new" in renamed and "old" not in renamed


def test_missing_blob_in_a_partial_clone_still_gives_every_commits_texts(repo_builder, tmp_path):
    rb = repo_builder()
    s1 = rb.commit("first", {"old.txt": "line one\nline two\nline three\n"})
    s2 = rb.commit("second: move it", {"old.txt": None, "new.txt": "line one\nline two\nline 3\n"})
    s3 = rb.commit("third", {"other.txt": "x\n"})
    bare = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    rb.drop_objects(bare, {rb.git("rev-parse", f"{s1}:old.txt")})  # rename detection needs it
    texts = text_features.commit_texts(bare, [s3, s2, s1]).set_index("sha")
    assert set(texts.index) == {s1, s2, s3}
    assert texts.loc[s2, "msg_text"] == "second: move it"
    # read without rename detection: a delete and an add instead of a rename
    assert {"st_D", "st_A", "old", "new"} <= set(texts.loc[s2, "path_text"].split())
    assert "st_R" not in texts.loc[s2, "path_text"].split()
    assert {"other", "ext_txt", "st_A"} <= set(texts.loc[s3, "path_text"].split())


def test_control_bytes_in_a_message_cannot_split_or_fake_a_record(repo_builder):
    """Real histories hold messages with control bytes (two corpus commits carry \\x01, which
    once ended a record here): each commit still gets exactly its own texts."""
    rb = repo_builder()
    s1 = rb.commit("first", {"a.txt": "a\n"})
    odd = rb.commit(b"fix: merge\x01Conflicts:\x02 a.txt\x03 tail\n", {"a.txt": "b\n"})
    s3 = rb.commit("third", {"b.txt": "c\n"})
    texts = text_features.commit_texts(rb.path, [s3, odd, s1])
    assert list(texts["sha"]) == [s3, odd, s1]
    msg = texts.set_index("sha").loc[odd, "msg_text"]
    assert msg.startswith("fix: merge") and "Conflicts:" in msg and "tail" in msg


def test_text_records_are_the_same_however_the_stream_is_cut():
    """A record's start may straddle two chunks of git's output."""
    fmt = b"\x00\x00S%s\x00\x00B%s\x00\x00E\nM\x00%s\x00"
    stream = b"".join(fmt % (f"{k:040x}".encode(), b"msg %d" % k, b"f%d.py" % k) for k in range(5))
    whole = list(text_features._text_records([stream]))
    assert [r["sha"] for r in whole] == [f"{k:040x}" for k in range(5)]
    for size in (1, 2, 3, 7):
        pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert list(text_features._text_records(pieces)) == whole


def test_ratios_are_relative_to_size():
    frame = pd.DataFrame({c: [0, 0] for c in features.NUMERIC_COLUMNS})
    frame.loc[0, ["n_files", "n_added"]] = [3, 3]
    frame.loc[1, ["n_files", "n_added"]] = [300, 300]
    r = text_features.ratio_features(frame)
    assert list(r.columns) == text_features.RATIO_COLUMNS
    assert r.loc[0, "r_added_files"] == pytest.approx(0.75)
    assert r.loc[1, "r_added_files"] == pytest.approx(300 / 301)


def test_texts_from_db_match_git_and_refuse_a_database_without_messages(repo_builder, tmp_path):
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    rb.commit("initial", {"a/b.py": "x = 1\n"})
    sha = rb.commit(
        "fix: off by one\n\nSigned-off-by: A <a@example.org>",
        {"a/b.py": "x = 2\nlimit = page_size - 1\n"},
    )
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    features.features_stage(con)  # writes commit_diff_tokens beside commit_features
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    from_db = text_features.texts_from_db(con, repo, [sha]).set_index("sha")
    from_git = text_features.commit_texts(rb.path, [sha]).set_index("sha")
    assert from_db.loc[sha, "msg_text"] == from_git.loc[sha, "msg_text"] == "fix: off by one"
    assert from_db.loc[sha, "path_text"] == from_git.loc[sha, "path_text"]
    assert from_db.loc[sha, "diff_text"] == from_git.loc[sha, "diff_text"]
    assert {"+limit", "+page", "+size", "+NUM"} <= set(from_db.loc[sha, "diff_text"].split())
    con.execute("DELETE FROM messages")  # what a released database looks like
    with pytest.raises(StageError, match="no commit messages"):
        text_features.texts_from_db(con, repo, [sha])
    # the diff-only model's texts need no message, but they need the diff tokens
    diff_only = text_features.texts_from_db(con, repo, [sha], ["path_text", "diff_text"])
    assert diff_only.set_index("sha").loc[sha, "diff_text"] == from_git.loc[sha, "diff_text"]
    con.execute("DELETE FROM commit_diff_tokens")
    with pytest.raises(StageError, match="1 commits have no diff tokens"):
        text_features.texts_from_db(con, repo, [sha], ["path_text", "diff_text"])
    con.close()


def test_features_stage_fills_diff_tokens_of_a_database_featured_before_them(
    repo_builder, tmp_path, monkeypatch
):
    """A database featured before diff tokens existed gets them from one patch stream, without
    its features being recomputed; a second run writes nothing."""
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    rb.commit("initial", {"a.py": "x = 1\n"})
    rb.commit("second", {"a.py": "x = 1\ny = compute(x)\n"})
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    features.features_stage(con)
    expected = con.execute("SELECT sha, diff_text FROM commit_diff_tokens ORDER BY sha").fetchall()
    assert len(expected) == 2
    con.execute("DELETE FROM commit_diff_tokens")

    def no_features(*a, **k):
        raise AssertionError("features recomputed")

    monkeypatch.setattr(features, "_rows_surviving_unreadable", no_features)
    features.features_stage(con)
    got = con.execute("SELECT sha, diff_text FROM commit_diff_tokens ORDER BY sha").fetchall()
    assert got == expected
    features.features_stage(con)
    assert con.execute("SELECT count(*) FROM commit_diff_tokens").fetchone()[0] == 2
    con.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_features_stage_writes_diff_tokens_from_its_own_patches(
    repo_builder, tmp_path, monkeypatch, jobs
):
    """Featuring a commit writes its diff tokens in the same pass and transaction: no second
    patch stream (`diff_documents`), the same documents it would give, and no message or path
    text that nothing stores (`diff_texts`; checked in this process, so with `jobs` 1)."""
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    rb.commit("initial", {"a.py": "x = 1\n"})
    rb.commit("second", {"a.py": "x = 1\ny = compute(x)\n", "b.md": "words\n"})
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    shas = [r[0] for r in con.execute("SELECT sha FROM commits ORDER BY sha").fetchall()]
    expected = text_features.diff_documents(rb.path, shas).sort_values("sha")

    def not_here(*a, **k):
        raise AssertionError("not the features stage's work")

    monkeypatch.setattr(text_features, "diff_documents", not_here)
    monkeypatch.setattr(text_features, "diff_texts", not_here)
    monkeypatch.setattr(features, "MIN_PER_JOB", 1)  # two commits are worth two processes here
    features.features_stage(con, jobs=jobs)
    got = con.execute("SELECT sha, diff_text FROM commit_diff_tokens ORDER BY sha").fetchall()
    assert got == list(expected.itertuples(index=False, name=None))
    assert "diff_text" not in store.table_columns(con, "commit_features")
    con.close()


def _awkward_history(rb) -> tuple[list[str], set[str]]:
    """Commits whose file lists a patch spells differently from `--name-status`: type changes
    (printed as a deletion and an addition), mode changes, binaries, renames with spaces,
    non-ASCII paths; and the two commits the patch cannot tell (a non-UTF-8 path, a message
    line longer than the parser keeps). Returns the shas and those two."""
    rb.commit("root", {"a/f.txt": "f\n", "bin.dat": b"x\0y", "m.sh": "echo\n", "sp ace.txt": "s\n"})
    (rb.path / "a/f.txt").unlink()
    (rb.path / "a/f.txt").symlink_to("../m.sh")
    (rb.path / "m.sh").chmod(0o755)
    rb.git("mv", "sp ace.txt", "sp ace 2.txt")
    rb.commit(
        "fix: many kinds\n\nbody line",
        {"bin.dat": b"x\0z", "ü/ä.txt": "u\n"},
        trailers=[("Co-authored-by", "Bot <bot@example.org>")],
    )
    (rb.path / "a/f.txt").unlink()
    rb.commit("back to a file", {"a/f.txt": "f again\n", "bin.dat": None})
    raw = rb.commit("odd name", {b"caf\xe9.txt": "c\n"})
    long = rb.commit("x" * 3000 + "\n\nshort body", {"l.txt": "l\n"})
    return git_text(rb.git_dir, ["rev-list", "HEAD"]).split(), {raw, long}


def test_texts_from_the_patch_stream_match_commit_texts(repo_builder, monkeypatch):
    """`compute_features(texts=TEXT_COLUMNS)` gives `commit_texts`' columns without reading git twice:
    only the commits the patch cannot tell have their message and paths read again (their diff
    tokens come from the patch all the same)."""
    rb = repo_builder()
    shas, unclear = _awkward_history(rb)
    expected = text_features.commit_texts(rb.git_dir, shas)
    asked: list[str] = []
    real = text_features.message_path_texts
    monkeypatch.setattr(
        text_features, "message_path_texts", lambda gd, s: asked.extend(s) or real(gd, s)
    )
    monkeypatch.setattr(text_features, "diff_documents", None)  # never a second patch stream
    frame = features.compute_features(rb.git_dir, shas, texts=text_features.TEXT_COLUMNS)
    pd.testing.assert_frame_equal(frame[["sha", *text_features.TEXT_COLUMNS]], expected)
    assert set(asked) == unclear
    plain = features.compute_features(rb.git_dir, shas)  # the feature columns are unchanged
    pd.testing.assert_frame_equal(frame.drop(columns=text_features.TEXT_COLUMNS), plain)
    assert "st_T" in expected.set_index("sha").loc[shas[3], "path_text"].split()


def test_diff_tokens_tell_a_list_entry_a_rename_and_new_logic_apart(repo_builder):
    """The diff token document on real patches: a string entry added to a list is one `+STR`
    (its words unread), a rename nets to `-old +new`, new logic brings its names and keywords,
    a comment line is `CMT`, a lockfile is skipped, and the per-file cap holds."""
    from mining.diffs import iter_commit_diffs

    rb = repo_builder()
    rb.commit(
        "initial",
        {
            "models.py": 'MODELS = [\n    "gpt-alpha",\n]\n\n\ndef fetchRows(db):\n'
            "    return db.rows\n"
        },
    )
    entry = rb.commit(
        "add a model",
        {
            "models.py": 'MODELS = [\n    "gpt-alpha",\n    "gpt-beta",\n'
            "]\n\n\ndef fetchRows(db):\n    return db.rows\n"
        },
    )
    rename = rb.commit(
        "rename",
        {
            "models.py": 'MODELS = [\n    "gpt-alpha",\n    "gpt-beta",\n]\n'
            "\n\ndef loadRows(db):\n    return db.rows\n"
        },
    )
    logic = rb.commit(
        "feature",
        {
            "models.py": 'MODELS = [\n    "gpt-alpha",\n    "gpt-beta",\n]\n\n\ndef loadRows(db):\n'
            "    # skip empty tables\n    if db.empty:\n        return []\n    return db.rows\n",
            "uv.lock": "[[package]]\nname = 'requests'\nversion = '2.32.0'\n",
            "big.py": "".join(f"value_{i} = other_{i}\n" for i in range(400)),
        },
    )
    docs = {c.sha: c for c in iter_commit_diffs(rb.git_dir, [entry, rename, logic])}

    def bag(sha: str, net: bool) -> Counter:
        return Counter(text_features.token_counts(text_features.diff_tokens(docs[sha], net=net)))

    assert bag(entry, net=False) == bag(entry, net=True) == {"+STR": 1}
    assert bag(rename, net=False) == Counter(
        ["+def", "+load", "+rows", "+db", "-def", "-fetch", "-rows", "-db"]
    )
    assert bag(rename, net=True) == {"+load": 1, "-fetch": 1}
    new = bag(logic, net=False)
    cap = text_features.DIFF_TOKENS_PER_FILE
    assert new["+value"] + new["+other"] == cap  # big.py's 800 words cut at the per-file cap
    rest = {"+CMT": 1, "+if": 1, "+db": 1, "+empty": 1, "+return": 1}  # uv.lock is skipped
    assert new == {"+value": new["+value"], "+other": new["+other"], **rest}
    # the stored document is the bag: distinct tokens sorted, a count after `*`
    doc = text_features.diff_tokens(docs[logic], net=False)
    assert doc.split() == sorted(doc.split()) and f"+value*{new['+value']}" in doc.split()


def _plain_diff_tokens(c, net: bool) -> str:
    """The diff token document by its definition, nothing remembered or skipped: every hunk's
    tokens signed, then cut at the caps."""
    import re

    def tokens(line: str) -> list[str]:
        text = line.strip()
        if not text:
            return []
        if text.startswith(text_features._COMMENT_STARTS):
            return ["CMT"]
        text, n_str = re.subn(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`", " ", text)
        text, n_num = text_features._NUMBER.subn(" ", text)
        words = [
            w.lower()
            for word in text_features._WORD.findall(text)
            for w in re.split(r"[/._\-\s]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", word))
            if len(w) > 1 and not w.isdigit()
        ]
        return ["STR"] * n_str + ["NUM"] * n_num + words

    def surplus(toks: list[str], other: list[str]) -> list[str]:
        left = Counter(toks) - Counter(other)
        out = []
        for t in toks:
            if left[t] > 0:
                left[t] -= 1
                out.append(t)
        return out

    out: list[str] = []
    for f in c.files:
        if f.is_binary or text_features.file_kind(f.path) in text_features.DIFF_SKIP_KINDS:
            continue
        room = min(
            text_features.DIFF_TOKENS_PER_FILE, text_features.DIFF_TOKENS_PER_COMMIT - len(out)
        )
        if room <= 0:
            break
        toks: list[str] = []
        for h in f.hunks:
            plus = [t for line in h.added for t in tokens(line)]
            minus = [t for line in h.removed for t in tokens(line)]
            if net:
                plus, minus = surplus(plus, minus), surplus(minus, plus)
            toks += [f"+{t}" for t in plus] + [f"-{t}" for t in minus]
            if len(toks) >= room:
                break
        out.extend(toks[:room])
    return " ".join(f"{t}*{n}" if n > 1 else t for t, n in sorted(Counter(out).items()))


def test_diff_tokens_equal_their_plain_definition(repo_builder):
    """Remembered line tokens, strings and numbers looked for only where a quote or a digit
    is, and signs only for the tokens the caps keep give the document of the plain definition:
    hunks cut at the per-file cap inside their added and inside their removed side, lines
    repeated across files and commits, strings, numbers, comments, camel and snake case."""
    from mining.diffs import iter_commit_diffs

    def body(k: int, n: int) -> str:
        return "".join(
            f"    row_{i % 7} = fetchItem(\"key {i}\", {i * k}) + 'x'  # note\n"
            if i % 3
            else f"    // same line\n    totalCount{i % 5} += `raw` + itemList[{k}]\n"
            for i in range(n)
        )

    kept = [f"keep_{w} = shared(x\\'y\")\n" for w in ("alpha", "beta", "gamma", "delta") * 12]
    grown = [f"item{i} = shared() + extraWork()\n" for i in range(120)]
    rb = repo_builder()
    rb.commit(
        "initial",
        {"d.py": "".join(kept), "a.py": body(1, 40), "b.js": body(2, 10), "c.go": "package c\n"},
    )
    edits = [
        rb.commit("big", {"a.py": body(3, 180), "b.js": body(2, 12)}),  # added side past the cap
        rb.commit("shrink", {"a.py": body(5, 20), "c.go": "package c\n\nvar x = 1\n"}),  # removed
        rb.commit("again", {"a.py": body(5, 25), "b.js": body(9, 12)}),
        # one hunk past the cap whose sides share their lines in another order: the shared
        # lines cancel, but their surplus `shared` tokens come first, so they decide the cut
        rb.commit("reorder", {"d.py": "".join(reversed(kept)) + "".join(grown)}),
    ]
    commits = list(iter_commit_diffs(rb.git_dir, edits))
    for net in (True, False):
        for c in commits:
            assert text_features.diff_tokens(c, net=net) == _plain_diff_tokens(c, net), (
                c.message,
                net,
            )
    got = text_features.line_tokens('    x = "a" + fooBar(12)')
    got.append("changed")  # a caller's list is its own: the remembered tokens stay
    assert text_features.line_tokens('    x = "a" + fooBar(12)') == ["STR", "NUM", "foo", "bar"]


def test_recorded_test_data_gives_no_diff_tokens_and_no_line_classes(repo_builder):
    """A re-recorded fixture (file_kinds.toml `[unread_test_data]`) is counted in churn but its
    text gives no tokens and no line classes; the same text in a config file gives both."""
    v1 = "".join(f"request_{i}: create table t{i}\n" for i in range(30))
    v2 = v1.replace("create table", "drop table")
    rb = repo_builder()
    rb.commit("first", {"e2e/testdata/run.yaml": v1, "conf/run.yaml": v1})
    fixture = rb.commit("re-record", {"e2e/testdata/run.yaml": v2})
    config = rb.commit("edit config", {"conf/run.yaml": v2})
    frame = features.compute_features(rb.git_dir, [fixture, config], texts=["diff_text"])
    rows = frame.set_index("sha")
    assert rows.loc[fixture, "churn"] == rows.loc[config, "churn"] == 60
    assert rows.loc[fixture, "diff_text"] == "" and rows.loc[config, "diff_text"] != ""
    assert rows.loc[fixture, "kept_lines"] == 0 and rows.loc[config, "kept_lines"] == 60
    assert rows.loc[fixture, "ddl_lines"] == 0 and rows.loc[config, "ddl_lines"] > 0
