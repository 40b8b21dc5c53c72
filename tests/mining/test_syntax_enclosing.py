"""What encloses the added lines (`syntax_enclosing`, features `syn_added_lines`, `share_added_*`)
on real git histories: an entry added to a list or dict is a collection, statements added to a
function body a block, a new top-level function a container; the same from the touched blocks as
from whole files; every node type of the table exists in its grammar."""

from __future__ import annotations

import pandas as pd
import pytest

from mining import features, syntax_enclosing, syntax_languages
from mining.gitcmd import git_text
from tests.mining.extraction import whole_file_features

#: per language: path and the file at four steps. 0: the start; 1: one entry more in a list or
#: map literal; 2: two statements more in a function body; 3: a new top-level function.
STEPS = {
    "python": (
        "pkg/models.py",
        [
            'MODELS = [\n    "a",\n    "b",\n]\n\n\ndef run(x):\n    y = x + 1\n    return y\n',
            'MODELS = [\n    "a",\n    "b",\n    "c",\n]\n\n\ndef run(x):\n    y = x + 1\n'
            "    return y\n",
            'MODELS = [\n    "a",\n    "b",\n    "c",\n]\n\n\ndef run(x):\n    y = x + 1\n'
            "    z = y * 2\n    print(z)\n    return y\n",
            'MODELS = [\n    "a",\n    "b",\n    "c",\n]\n\n\ndef run(x):\n    y = x + 1\n'
            "    z = y * 2\n    print(z)\n    return y\n\n\ndef stop(x):\n    return x\n",
        ],
    ),
    "go": (
        "pkg/models.go",
        [
            'package pkg\n\nvar Models = map[string]int{\n\t"a": 1,\n\t"b": 2,\n}\n\n'
            "func Run(x int) int {\n\ty := x + 1\n\treturn y\n}\n",
            'package pkg\n\nvar Models = map[string]int{\n\t"a": 1,\n\t"b": 2,\n\t"c": 3,\n}\n\n'
            "func Run(x int) int {\n\ty := x + 1\n\treturn y\n}\n",
            'package pkg\n\nvar Models = map[string]int{\n\t"a": 1,\n\t"b": 2,\n\t"c": 3,\n}\n\n'
            "func Run(x int) int {\n\ty := x + 1\n\tz := y * 2\n\tprintln(z)\n\treturn y\n}\n",
            'package pkg\n\nvar Models = map[string]int{\n\t"a": 1,\n\t"b": 2,\n\t"c": 3,\n}\n\n'
            "func Run(x int) int {\n\ty := x + 1\n\tz := y * 2\n\tprintln(z)\n\treturn y\n}\n\n"
            "func Stop(x int) int {\n\treturn x\n}\n",
        ],
    ),
    "typescript": (
        "src/models.ts",
        [
            'export const MODELS = {\n  a: "x",\n  b: "y",\n};\n\n'
            "export function run(x: number): number {\n  const y = x + 1;\n  return y;\n}\n",
            'export const MODELS = {\n  a: "x",\n  b: "y",\n  c: "z",\n};\n\n'
            "export function run(x: number): number {\n  const y = x + 1;\n  return y;\n}\n",
            'export const MODELS = {\n  a: "x",\n  b: "y",\n  c: "z",\n};\n\n'
            "export function run(x: number): number {\n  const y = x + 1;\n"
            "  const z = y * 2;\n  console.log(z);\n  return y;\n}\n",
            'export const MODELS = {\n  a: "x",\n  b: "y",\n  c: "z",\n};\n\n'
            "export function run(x: number): number {\n  const y = x + 1;\n"
            "  const z = y * 2;\n  console.log(z);\n  return y;\n}\n\n"
            "export function stop(x: number): number {\n  return x;\n}\n",
        ],
    ),
    "rust": (
        "src/models.rs",
        [
            'pub const MODELS: &[&str] = &[\n    "a",\n    "b",\n];\n\n'
            "pub fn run(x: i32) -> i32 {\n    let y = x + 1;\n    y\n}\n",
            'pub const MODELS: &[&str] = &[\n    "a",\n    "b",\n    "c",\n];\n\n'
            "pub fn run(x: i32) -> i32 {\n    let y = x + 1;\n    y\n}\n",
            'pub const MODELS: &[&str] = &[\n    "a",\n    "b",\n    "c",\n];\n\n'
            "pub fn run(x: i32) -> i32 {\n    let y = x + 1;\n    let z = y * 2;\n"
            '    println!("{}", z);\n    y\n}\n',
            'pub const MODELS: &[&str] = &[\n    "a",\n    "b",\n    "c",\n];\n\n'
            "pub fn run(x: i32) -> i32 {\n    let y = x + 1;\n    let z = y * 2;\n"
            '    println!("{}", z);\n    y\n}\n\npub fn stop(x: i32) -> i32 {\n    x\n}\n',
        ],
    ),
}


def _history(repo_builder, lang: str) -> tuple[object, list[str]]:
    path, versions = STEPS[lang]
    rb = repo_builder(lang)
    for i, text in enumerate(versions):
        rb.commit(f"step {i}", {path: text, "README.md": f"notes {i}\n"})
    return rb, git_text(rb.git_dir, ["rev-list", "--reverse", "HEAD"]).split()[1:]


@pytest.mark.parametrize("lang", sorted(STEPS))
def test_an_entry_a_statement_and_a_definition_are_told_apart(lang, repo_builder, monkeypatch):
    """One entry more in a list or map: a collection; statements in a function body: a block;
    a new function: its first line a container, its body a block. Only the source file's lines
    count (the README's do not), and whole files give the same values as the touched blocks."""
    rb, shas = _history(repo_builder, lang)
    fast = features.compute_features(rb.git_dir, shas)
    pd.testing.assert_frame_equal(fast, whole_file_features(monkeypatch, rb.git_dir, shas))
    got = fast.set_index("sha").loc[shas]
    entry, body, new_def = (got.iloc[i] for i in range(3))
    assert entry["syn_added_lines"] == 1 and entry["share_added_collection"] == 1.0
    assert body["syn_added_lines"] == 2 and body["share_added_block"] == 1.0
    assert new_def["share_added_container"] > 0 and new_def["share_added_block"] > 0
    assert new_def["share_added_collection"] == 0.0
    assert (got["share_added_unknown"] == 0).all()


def test_a_line_without_a_tree_is_unknown(repo_builder, monkeypatch):
    """A new side that cannot be read (over the blob size limit) gives its lines as unknown,
    with no parse of their own."""
    rb, shas = _history(repo_builder, "python")
    reader = features.syntax.BlobReader
    read = reader.contents
    monkeypatch.setattr(
        reader, "contents", lambda self, oids, max_bytes=0, metas=None: read(self, oids, 10, metas)
    )
    got = features.compute_features(rb.git_dir, shas).set_index("sha").loc[shas]
    assert got["syn_added_lines"].tolist() == [1, 2, 2]
    assert (got["share_added_unknown"] == 1.0).all()


def test_the_shares_of_a_commit_without_source_are_zero(repo_builder):
    """A commit that touches no parsed file has no added source lines and zero shares."""
    rb = repo_builder("docs")
    rb.commit("start", {"README.md": "a\n"})
    rb.commit("more", {"README.md": "a\nb\n"})
    sha = git_text(rb.git_dir, ["rev-parse", "HEAD"]).strip()
    row = features.compute_features(rb.git_dir, [sha]).iloc[0]
    assert row["syn_added_lines"] == 0
    assert all(row[f"share_added_{c}"] == 0.0 for c in syntax_enclosing.CATEGORIES)


@pytest.mark.parametrize("lang", sorted(syntax_languages.LANGUAGES))
def test_every_node_type_exists_in_its_grammar(lang):
    """Each node type of syntax_enclosing.toml (both sides of a "parent>child" key) is one of the
    grammar's named node types: a misspelt name would silently never match."""
    parser, _ = syntax_languages.parser_for(lang)
    table = syntax_enclosing.table(lang)
    assert table, f"{lang}: no table in syntax_enclosing.toml"
    missing = [
        name
        for key in table
        for name in key.split(">")
        if parser.language.id_for_node_kind(name, True) is None
    ]
    assert not missing, f"{lang}: {missing}"


def test_a_blob_the_cache_holds_gives_the_same_values(repo_builder):
    """The same file text added at two paths: walking both commits, the second path's
    definitions come from the blob cache without a tree of that path; its lines are still read
    (not unknown), so each commit's row is the same alone as in the walk."""
    text = 'MODELS = [\n    "a",\n    "b",\n]\n\n\ndef run(x):\n    return x\n'
    rb = repo_builder("copies")
    rb.commit("start", {"README.md": "x\n"})
    rb.commit("one", {"pkg/one.py": text})
    rb.commit("two", {"pkg/two.py": text})
    shas = git_text(rb.git_dir, ["rev-list", "HEAD"]).split()[:2]
    walked = features.compute_features(rb.git_dir, shas).set_index("sha")
    for sha in shas:
        alone = features.compute_features(rb.git_dir, [sha]).set_index("sha")
        pd.testing.assert_frame_equal(alone, walked.loc[[sha]])
    assert (walked["share_added_unknown"] == 0).all() and (walked["syn_added_lines"] == 6).all()
