"""Definitions and their changes per language, read with tree-sitter."""

from __future__ import annotations

import pytest

from mining import syntax, syntax_blocks, syntax_languages


def _defs(lang: str, src: str) -> dict[str, syntax.Definition]:
    return syntax.definitions(lang, src.encode())


@pytest.mark.parametrize(
    ("lang", "src", "public", "private"),
    [
        (
            "python",
            "def f(a):\n  pass\ndef _g():\n  pass\nclass C:\n  def m(self): pass\n",
            {"f", "C", "C.m"},
            {"_g"},
        ),
        (
            "javascript",
            "export function a(x) {}\nfunction b() {}\nexport const h = (q) => q;\n",
            {"a", "h"},
            {"b"},
        ),
        (
            "typescript",
            "export interface I { f(a: number): string }\nclass Z { private q() {} }\n",
            {"I", "I.f"},
            {"Z", "Z.q"},
        ),
        (
            "go",
            "package x\nfunc Pub(a int) error { return nil }\nfunc (s *S) priv() {}\n"
            "type S struct{}\n",
            {"Pub", "S"},
            {"S.priv"},
        ),
        (
            "rust",
            "pub fn a(x: u8) -> u8 { x }\nstruct S;\nimpl S { pub fn new() -> S { S } }\n",
            {"a", "S.new"},
            {"S"},
        ),
        (
            "java",
            "public class A { public int f(int x) { return x; } private void g() {} }\n",
            {"A", "A.f"},
            {"A.g"},
        ),
    ],
)
def test_definitions_and_visibility(lang, src, public, private):
    defs = _defs(lang, src)
    assert {n for n, d in defs.items() if d.public} == public
    assert {n for n, d in defs.items() if not d.public} == private


def test_signature_change_versus_body_change():
    old = _defs("python", "def f(a):\n    return a\n\ndef g(x):\n    return x\n")
    new = _defs("python", "def f(a, b=1):\n    return a\n\ndef g(x):\n    return x + 1\n")
    d = syntax.StructureDelta()
    d.add(old, new)
    assert (d.defs_signature_changed, d.defs_body_changed, d.defs_added, d.defs_removed) == (
        1,
        1,
        0,
        0,
    )
    assert d.public_signature_changed == 1


def test_added_and_removed_types():
    old = _defs("go", "package x\ntype A struct{}\nfunc F() {}\n")
    new = _defs("go", "package x\ntype B interface{ M() }\nfunc F() {}\n")
    d = syntax.StructureDelta()
    d.add(old, new)
    assert d.types_added == 1 and d.types_removed == 1
    assert d.public_added == 2 and d.public_removed == 1  # B and B.M added, A removed


def test_language_for_paths():
    assert syntax.language_for("a/b.tsx") == "tsx"
    assert syntax.language_for("x.rs") == "rust"
    assert syntax.language_for("x.rb") == "ruby"
    assert syntax.language_for("App.Designer.CS") == "csharp"
    assert syntax.language_for("x.svelte") == "svelte"
    assert syntax.language_for("x.zig") is None


def test_blob_reader_reads_blobs_and_paths(repo_builder):
    rb = repo_builder()
    sha = rb.commit("first", {"pkg/a.py": "def f():\n  pass\n"})
    oid = rb.git("rev-parse", f"{sha}:pkg/a.py")
    with syntax.BlobReader(rb.git_dir) as reader:
        assert reader.read(oid) == b"def f():\n  pass\n"
        assert reader.info(f"{sha}:pkg")[0] == "tree"
        assert reader.info(f"{sha}:nope") is None
        assert reader.read(oid, max_bytes=3) is None
        defs = syntax.file_definitions(reader, oid, "python")
        assert set(defs) == {"f"}
        assert syntax.file_definitions(reader, oid, "python") is defs  # cached by blob id


def _nodes(tree) -> list[tuple]:
    """Every node of a tree with its type and position, in document order."""
    out, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        out.append((node.type, node.start_byte, node.end_byte, node.start_point, node.end_point))
        stack.extend(reversed(node.children))
    return out


_GO_OLD = [
    b"func A(x int) int {\n\treturn x\n}\n\n",
    b"func B() {\n\tprintln(1)\n\tprintln(2)\n}\n\n",
    b"type T struct {\n\ta int\n}\n",
]


@pytest.mark.parametrize(
    "new",
    [
        [  # an edit in each block, one spanning lines, one adding lines
            b"func A(x int, y int) int {\n\treturn x + y\n}\n\n",
            b"func B() {\n\tprintln(1)\n\n\tif true {\n\t\tprintln(3)\n\t}\n\tprintln(2)\n}\n\n",
            b"type T struct {\n\ta int\n\tb string\n}\n",
        ],
        [_GO_OLD[0], _GO_OLD[1], b"type T struct {\n}\n"],  # one block changed, lines removed
        [b"// new\n" + _GO_OLD[0], b"func C() {}\n\n" + _GO_OLD[1], _GO_OLD[2] + b"\n"],  # at ends
        [_GO_OLD[0] + _GO_OLD[1], b"func Z() {}\n"],  # fewer blocks: one edit overall
        list(_GO_OLD),  # nothing changed
    ],
)
def test_new_side_parsed_from_the_old_tree_is_a_fresh_parse(new):
    """The new side's snippet, parsed from the old side's tree edited block by block, is the
    tree a parse from scratch gives: same nodes, same positions."""
    parser, _ = syntax_languages.parser_for("go")
    old = list(_GO_OLD)
    edited = syntax_blocks.edit_blocks(old, parser.parse(b"".join(old)), new)
    again = parser.parse(b"".join(new), edited)
    assert _nodes(again) == _nodes(parser.parse(b"".join(new)))


def test_hunks_tell_the_whole_file_reparse_where_the_file_changed(repo_builder):
    """Each hunk of a commit becomes one edit of the old version's tree (insertions, deletions,
    a last line without a newline); re-parsed, it is the tree of a parse from scratch."""
    from mining import diffs

    old = "".join(f"func F{i}(a int) int {{\n\treturn a + {i}\n}}\n\n" for i in range(30))
    new = (
        "// head\n"
        + old.replace("return a + 3\n", "return a * 3\n")
        .replace("func F10(a int) int {\n\treturn a + 10\n}\n\n", "")
        .replace("return a + 20\n", "x := a\n\treturn x + 20\n")
        + "func Last() {}"
    )
    rb = repo_builder()
    rb.commit("old", {"m.go": old})
    sha = rb.commit("new", {"m.go": new})
    (c,) = diffs.iter_commit_diffs(rb.git_dir, [sha])
    hunks = c.files[0].hunks
    edits = syntax_blocks.hunk_edits(old.encode(), new.encode(), hunks)
    assert edits is not None and len(edits) == len(hunks) >= 4
    parser, _ = syntax_languages.parser_for("go")
    tree = syntax_blocks.apply_edits(parser.parse(old.encode()), old.encode(), edits)
    assert _nodes(parser.parse(new.encode(), tree)) == _nodes(parser.parse(new.encode()))
    other = old.replace("return a + 15", "return a - 15").encode()  # not this change's old side
    assert syntax_blocks.hunk_edits(other, new.encode(), hunks) is None
    back = syntax_blocks.hunk_edits(new.encode(), old.encode(), syntax_blocks.reversed_hunks(hunks))
    assert back is not None and len(back) == len(hunks)  # newest first: the old side from the new
    tree = syntax_blocks.apply_edits(parser.parse(new.encode()), new.encode(), back)
    assert _nodes(parser.parse(old.encode(), tree)) == _nodes(parser.parse(old.encode()))
