"""The fast extraction (touched blocks, batched blob reads, processes) gives the same feature
values as parsing whole files one commit at a time, and gives them on every run."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mining import classify, diffs, features, syntax, text_features
from mining.gitcmd import git_text
from tests.mining.extraction import whole_file_features

#: a class larger than the member-cut threshold, edited one method at a time
_METHODS = "".join(
    f"    def m{i}(self, x):\n        '''Method {i}.'''\n        return x * {i} + self.base\n\n"
    for i in range(40)
)
PY_CLASS = f"class Big(Base):\n    base = 1\n\n{_METHODS}\ndef after():\n    return Big()\n"
#: handlers with one name, a multi-line string whose lines start in column 0, a moved function
PY_MISC = (
    "def keys(kb):\n"
    "    @kb.add('a')\n    def _(event):\n        return 1\n\n"
    "    @kb.add('b')\n    def _(event):\n        return 2\n\n"
    "PROMPT = '''\nclass NotCode:\n    pass\ndef neither():\n'''\n\n"
    "def first():\n    return 1\n\n\ndef second():\n    return 2\n"
)
GO = "package main\n\n" + "".join(
    f"// F{i} does {i}.\nfunc F{i}(a int) int {{\n\treturn a + {i}\n}}\n\n" for i in range(60)
)
TS = (
    "export class Store {\n"
    + "".join(
        f"  get{i}(key: string): number {{\n    return this.data[key] + {i};\n  }}\n\n"
        for i in range(50)
    )
    + "}\n\nexport function helper(a: number): number {\n  return a;\n}\n"
)
RS = (
    "pub struct S;\n\nimpl S {\n"
    + "".join(
        f"    pub fn f{i}(&self, x: u32) -> u32 {{\n        x + {i}\n    }}\n\n" for i in range(50)
    )
    + "}\n\n#[cfg(test)]\nmod tests {\n"
    + "".join(f"    #[test]\n    fn t{i}() {{}}\n\n" for i in range(5))
    + "    fn t() {}\n}\n"
)


#: doc comments, attributes and `where` clauses before and inside a large impl; Python
#: decorators in column 0: the lines that lead into a declaration
RS_LEADS = (
    "//! Crate doc.\n\nuse std::fmt;\n\n/// A thing.\n#[derive(Debug, Clone)]\npub struct Thing {\n"
    "    /// The id.\n    #[serde(default)]\n    pub id: u32,\n}\n\nimpl Thing {\n"
    + "".join(
        f"    /// Makes {i}.\n    #[inline]\n    pub fn f{i}<T>(&self, x: T) -> u32\n    where\n"
        f"        T: Into<u32>,\n    {{\n        x.into() + {i}\n    }}\n\n"
        for i in range(40)
    )
    + "}\n\n"
    + "".join(
        f"/// Free {i}.\n#[must_use]\npub fn free{i}(a: u32) -> u32 {{\n    a + {i}\n}}\n\n"
        for i in range(20)
    )
)
PY_DECORATED = "".join(f"@register\ndef h{i}(x):\n    return x + {i}\n\n\n" for i in range(30))
#: (path, old text, new text) of edits the touched blocks alone decide (no whole-file parse)
LEAD_EDITS = [
    ("src/thing.rs", RS_LEADS, RS_LEADS.replace("x.into() + 7\n", "x.into() * 7\n")),
    ("src/thing.rs", RS_LEADS, RS_LEADS.replace("f9<T>(&self, x: T)", "f9<T>(&self, x: T, y: u8)")),
    ("src/thing.rs", RS_LEADS, RS_LEADS.replace("/// Free 5.", "/// Free five.")),
    ("src/thing.rs", RS_LEADS, RS_LEADS.replace("    a + 12\n", "    a - 12\n")),
    ("app/handlers.py", PY_DECORATED, PY_DECORATED.replace("x + 4\n", "x - 4\n")),
]


def _history(repo_builder):
    rb = repo_builder()
    rb.commit(
        "start",
        {
            "app/big.py": PY_CLASS,
            "app/misc.py": PY_MISC,
            "main.go": GO,
            "web/store.ts": TS,
            "src/lib.rs": RS,
        },
    )
    rb.commit("edit one method", {"app/big.py": PY_CLASS.replace("x * 7 +", "x * 70 +")})
    rb.commit("re-sign a method", {"app/big.py": PY_CLASS.replace("m9(self, x)", "m9(self, x, y)")})
    rb.commit(
        "edit handler, move function",
        {
            "app/misc.py": PY_MISC.replace("return 2\n\n    ", "return 22\n\n    ").replace(
                "def first():\n    return 1\n\n\n", ""
            )
            + "\n\ndef first():\n    return 1\n"
        },
    )
    rb.commit("edit string", {"app/misc.py": PY_MISC.replace("def neither():", "def neither(x):")})
    rb.commit(
        "go: edit, add, remove",
        {
            "main.go": GO.replace("a + 30", "a - 30").replace(
                "func F5(a int) int {\n\treturn a + 5\n}\n", ""
            )
            + "func G(b string) string {\n\treturn b\n}\n"
        },
    )
    rb.commit(
        "ts: edit member, rename member",
        {"web/store.ts": TS.replace("+ 12;", "- 12;").replace("get20(", "fetch20(")},
    )
    rb.commit(
        "rust: edit impl and tests",
        {
            "src/lib.rs": RS.replace("x + 44", "x * 44").replace(
                "fn t() {}", "fn t() { assert!(true); }"
            )
        },
    )
    rb.commit(
        "class header",
        {"app/big.py": PY_CLASS.replace("class Big(Base):", "class Big(Base, Mixin):")},
    )
    return rb


def test_touched_blocks_give_the_whole_file_values(repo_builder, monkeypatch):
    """With every edit parsed (no signature gate, as for the languages without one), blocks and
    whole files give the same values; with the gate, a body-only edit is counted, not parsed."""
    rb = _history(repo_builder)
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    gated = features.compute_features(rb.git_dir, shas).set_index("sha")
    monkeypatch.setattr(features, "_body_only", lambda f, lang: False)
    snippets = []
    real = syntax._snippet_definitions
    monkeypatch.setattr(
        syntax, "_snippet_definitions", lambda *a: snippets.append(a[0]) or real(*a)
    )
    fast = features.compute_features(rb.git_dir, shas)
    assert {"python", "go", "typescript", "rust"} <= set(snippets)  # the fast path ran
    ref = whole_file_features(monkeypatch, rb.git_dir, shas)
    pd.testing.assert_frame_equal(fast, ref)
    by = fast.set_index("sha")
    edit, resign = shas[-2], shas[-3]
    assert by.loc[edit, "syn_defs_body_changed"] == 1
    assert by.loc[edit, "syn_defs_signature_changed"] == 0
    assert by.loc[resign, "syn_defs_signature_changed"] == 1
    assert gated.loc[edit, "syn_files_body_only"] == 1 and by.loc[edit, "syn_files_body_only"] == 0
    assert gated.loc[edit, "syn_defs_body_changed"] == 0
    unchanged = [
        c
        for c in by.columns
        if c
        not in ("syn_files_parsed", "syn_files_body_only", "syn_defs_body_changed", "syn_languages")
    ]
    pd.testing.assert_frame_equal(gated[unchanged], by[unchanged])


def test_whole_files_reparse_from_the_neighbouring_version_in_any_order(repo_builder, monkeypatch):
    """Pairs that fall back to whole files re-parse each side from the path's last tree. Walked
    newest first, oldest first (the back of a shared run) or shuffled (a cached tree that is no
    side of the pair), the values are those of fresh whole-file parses; walked either way, most
    re-parses start from the tree of the pair's other side (one edit per hunk)."""
    rb = repo_builder()
    for v in range(7):  # each version rewrites most of the file: no snippet pair
        defs = "".join(
            f"def f{k}(a{', b' * ((k + v) % 2)}):\n    return a + {k * v}\n\n\n"
            for k in range(v % 3, 9 + v)
        )
        rb.commit(f"version {v}", {"pkg/m.py": f"import os\n\n\n{defs}"})
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    ref = whole_file_features(monkeypatch, rb.git_dir, shas).set_index("sha")
    assert ref["syn_defs_signature_changed"].gt(0).sum() >= 5
    real = syntax._parse
    shuffled = [shas[k] for k in (3, 0, 6, 1, 5, 2, 4)]
    for order in (shas, shas[::-1], shuffled):
        from_other = []

        def parse(reader, path, lang, source, change=None, from_other=from_other):
            last = reader.trees.get(path)
            from_other.append(last is not None and change is not None and last[1] == change[0])
            return real(reader, path, lang, source, change)

        monkeypatch.setattr(syntax, "_parse", parse)
        got = features.compute_features(rb.git_dir, order).set_index("sha")
        pd.testing.assert_frame_equal(got, ref.loc[order])
        if order is not shuffled:  # all but the first parse start from the other side's tree
            assert from_other[1:] == [True] * (len(from_other) - 1)


def test_lead_lines_belong_to_the_declaration_they_precede(repo_builder, monkeypatch):
    """Doc comments, attributes, decorators and `where` clauses do not break a snippet: each of
    these edits is decided from the touched blocks alone, with the whole-file values (every edit
    parsed: a doc-comment or body edit would otherwise pass the signature gate unparsed)."""
    monkeypatch.setattr(features, "_body_only", lambda f, lang: False)
    rb = repo_builder()
    rb.commit("start", {"src/thing.rs": RS_LEADS, "app/handlers.py": PY_DECORATED})
    for path, old, new in LEAD_EDITS:
        rb.commit(f"edit {path}", {path: new})
        rb.commit(f"back {path}", {path: old})
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    wholes = []
    real = syntax._whole
    monkeypatch.setattr(syntax, "_whole", lambda *a: wholes.append(a[3]) or real(*a))
    fast = features.compute_features(rb.git_dir, shas[:-1])  # not the root: it adds files
    assert wholes == []
    ref = whole_file_features(monkeypatch, rb.git_dir, shas[:-1])
    pd.testing.assert_frame_equal(fast, ref)
    assert (fast["syn_files_parsed"] == 1).all()
    assert fast["syn_defs_body_changed"].tolist()[-2:] == [1, 1]  # f7's body, there and back
    assert fast["syn_defs_signature_changed"].tolist()[-4:-2] == [1, 1]  # f9's parameters


def test_ddl_lines_are_the_lines_the_ddl_pattern_finds():
    """The scan for candidate lines finds every line `_DDL_RE` matches, in any case."""
    lines = [
        "CREATE TABLE t (id int);",
        "create\tindex i on t(x);",
        "x = create_user()",
        "op.create_table('t')",
        "migrations.AddField(",
        "ALTER TABLE t ADD COLUMN c int;",
        "  drop column c",
        "columns = 1",
        "op.drop_column('t', 'c')",
        "Drop View v",
        "created = True",
        "recreate  schema s",
        "ons.DeleteModel",
        "",
        "dropTable()",
    ]
    f = diffs.FileDiff(path="db/schema.sql", hunks=[diffs.Hunk(removed=lines[:7], added=lines[7:])])
    expected = sum(bool(features._DDL_RE.search(x)) for x in lines)
    assert expected == 8
    assert features._ddl_lines(f) == expected


def test_directories_asked_per_window_match_asked_per_commit(repo_builder):
    """New and emptied directories, asked of git once per window of commits, are those that
    asking per commit finds (root commit, additions, deletions, renames)."""
    rb = repo_builder()
    rb.commit("root", {"a/b/x.py": "x = 1\n", "top.txt": "t\n"})
    rb.commit("new dirs", {"c/d/y.py": "y = 1\n", "c/e/z.py": "z = 1\n", "a/b/w.py": "w = 1\n"})
    rb.commit("empty a dir", {"c/e/z.py": None})
    rb.rename("c/d/y.py", "g/y.py", "move out")
    rb.commit("root-level only", {"new.txt": "n\n", "top.txt": None})
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    batched = features.compute_features(rb.git_dir, shas).set_index("sha")
    with syntax.BlobReader(rb.git_dir) as reader:
        for c in diffs.iter_commit_diffs(rb.git_dir, shas):
            one = features.commit_row(c, reader)  # asks for its own directories
            got = batched.loc[c.sha, ["n_new_dirs", "n_removed_dirs"]].tolist()
            assert got == [one["n_new_dirs"], one["n_removed_dirs"]], c.message
    assert batched["n_new_dirs"].tolist() == [0, 1, 0, 2, 1]  # newest first; c/d and c/e
    assert batched["n_removed_dirs"].tolist() == [0, 1, 1, 0, 0]


def test_processes_give_the_same_rows(repo_builder, monkeypatch):
    rb = _history(repo_builder)
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    monkeypatch.setattr(features, "MIN_PER_JOB", 2)
    one = features.compute_features(rb.git_dir, shas)
    two = features.compute_features(rb.git_dir, shas, jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_without_fork_the_processes_are_spawned_and_still_apply_then(repo_builder, monkeypatch):
    """Where `fork` does not exist (Windows), the feature processes are spawned and `then`
    travels to them pickled: the same rows, passed through it, as in one process."""
    rb = _history(repo_builder)
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    monkeypatch.setattr(features, "MIN_PER_JOB", 2)
    mark = functools.partial(pd.DataFrame.assign, marker=7)
    one = features.compute_features(rb.git_dir, shas, then=mark)
    monkeypatch.setattr(features.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    two = features.compute_features(rb.git_dir, shas, jobs=2, then=mark)
    assert two["marker"].eq(7).all()
    pd.testing.assert_frame_equal(one, two)


def test_classification_in_the_feature_processes_matches_classifying_after(
    repo_builder, monkeypatch
):
    """`classify_shas` classifies inside the feature processes, on texts from the patch stream:
    the same layers and probabilities as classifying the finished rows with texts read again."""
    rb = _history(repo_builder)
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    monkeypatch.setattr(features, "MIN_PER_JOB", 2)
    model = classify.load_model()
    frame = features.compute_features(rb.git_dir, shas)
    texts = text_features.commit_texts(rb.git_dir, list(frame["sha"]))
    after = classify.classify_frame(frame.merge(texts, on="sha", how="left"), model)
    for jobs in (1, 2):
        got = classify.classify_shas(rb.git_dir, shas, model, jobs)
        pd.testing.assert_frame_equal(got[classify.CSV_COLUMNS], after[classify.CSV_COLUMNS])
        assert not got["incomplete"].any()
    pids = features.compute_features(rb.git_dir, shas, 2, then=lambda f: f.assign(pid=os.getpid()))
    assert os.getpid() not in set(pids["pid"])  # classified in the workers, not here


def test_two_processes_meet_where_the_work_splits_not_in_the_middle(repo_builder, monkeypatch):
    """The two processes of a run take commits from both ends until they meet: when the one
    from the front is slow, the one from the back features most of the run, and every commit
    is featured once, in order, as by one process."""
    rb = _history(repo_builder)
    for i in range(6):
        rb.commit(f"more {i}", {f"pkg/more{i}.py": f"def f{i}():\n    return {i}\n"})
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()
    monkeypatch.setattr(features, "MIN_PER_JOB", 2)
    take = features._Side.take

    def slow_front(side: features._Side, i: int) -> bool:
        if not side.from_back:
            time.sleep(0.5)
        return take(side, i)

    monkeypatch.setattr(features._Side, "take", slow_front)  # forked workers inherit it
    one = features.compute_features(rb.git_dir, shas)
    two = features.compute_features(rb.git_dir, shas, 2, then=lambda f: f.assign(pid=os.getpid()))
    pd.testing.assert_frame_equal(one, two.drop(columns="pid"))
    back = two["pid"].iloc[-1]  # the oldest commit is the back process's first
    assert (two["pid"] == back).sum() >= len(shas) - 3  # halves by count would give it 6 of 11


def test_a_side_claims_each_commit_of_its_run_once(monkeypatch):
    """Claims from both ends of a run, interleaved unevenly, cover each commit exactly once."""
    import multiprocessing

    monkeypatch.setattr(features, "_BOUNDS", multiprocessing.Array("q", 2))
    front, back = features._Side(0, 10, False), features._Side(0, 10, True)
    got: list[int] = []
    i = j = 0
    for step in "ffbfbbbff" + "b" * 5 + "f" * 5:
        if step == "f" and front.take(i):
            got.append(i)
            i += 1
        elif step == "b" and back.take(j):
            got.append(9 - j)
            j += 1
    assert sorted(got) == list(range(10))
    assert not front.take(i) and not back.take(j)  # the run is done for both


def test_duplicate_names_are_numbered_in_source_order():
    src = PY_MISC.encode()
    first = syntax.definitions("python", src)
    assert {"keys._", "keys._#2"} <= set(first)
    for _ in range(20):  # tree-sitter's capture order is not stable; ours must be
        assert syntax.definitions("python", src) == first


_RUN = """
import sys
from mining import classify, features
shas = sys.stdin.read().split()
frame = features.compute_features(sys.argv[1], shas)
pred = classify.classify_shas(sys.argv[1], shas)  # the model reads the messages too
sys.stdout.write(frame.to_csv(index=False) + pred.to_csv(index=False))
"""


def test_features_and_layers_do_not_depend_on_the_hash_seed(repo_builder):
    rb = _history(repo_builder)
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"])
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _RUN, str(rb.git_dir)],
            input=shas,
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outs.append(proc.stdout)
    assert outs[0] and outs[0] == outs[1]


def _mirrors() -> Path:
    return Path(os.environ.get("STRATA_MIRRORS", "/work/.mirror"))


@pytest.mark.mirror
@pytest.mark.parametrize("name", ["Aider-AI+aider", "charmbracelet+crush", "astral-sh+uv"])
def test_real_history_sample_matches_the_whole_file_values(name, monkeypatch):
    """On 300 real commits: the fast extraction's values are the whole-file ones, and its texts
    (from the patch stream) are `commit_texts`'."""
    git_dir = _mirrors() / name / "repo"
    if not git_dir.is_dir():
        pytest.skip(f"{git_dir}: no mirror")
    shas = git_text(git_dir, ["rev-list", "--no-merges", "--max-count=300", "HEAD"]).split()
    fast = features.compute_features(git_dir, shas, texts=text_features.TEXT_COLUMNS)
    texts = ["sha", *text_features.TEXT_COLUMNS]
    pd.testing.assert_frame_equal(fast[texts], text_features.commit_texts(git_dir, shas))
    fast = fast.drop(columns=text_features.TEXT_COLUMNS)
    pd.testing.assert_frame_equal(fast, whole_file_features(monkeypatch, git_dir, shas))
