"""The languages read through tree-sitter-language-pack (C#, Kotlin, Swift, Scala, Dart, C, C++,
Ruby, PHP, Elixir) and the scripts of Svelte and Vue components: their definitions, visibility and syn_* counts on real git histories, and the
fast extraction (touched blocks) against whole files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from mining import features, syntax, syntax_languages
from mining.gitcmd import git_text
from tests.mining.extraction import whole_file_features


def _mirrors() -> Path:
    return Path(os.environ.get("STRATA_MIRRORS", "/work/.mirror"))


#: per language: path, file head and tail, a function (name, parameters, body), a type (name),
#: two parameter lists and two bodies
LANGS = {
    "csharp": (
        "src/K.cs",
        "namespace N;\n\npublic class K\n{\n",
        "}\n",
        "    public int {n}({p})\n    {{\n        return {b};\n    }}\n\n",
        "    public class {n} {{ }}\n\n",
        ("int x", "int x, int y"),
        ("x + 1", "x + 2"),
    ),
    "kotlin": (
        "src/K.kt",
        "package k\n\n",
        "",
        "fun {n}({p}): Int {{\n    return {b}\n}}\n\n",
        "class {n} {{\n}}\n\n",
        ("x: Int", "x: Int, y: Int"),
        ("x + 1", "x + 2"),
    ),
    "swift": (
        "Sources/K.swift",
        "import Foundation\n\n",
        "",
        "public func {n}({p}) -> Int {{\n    return {b}\n}}\n\n",
        "public struct {n} {{\n}}\n\n",
        ("x: Int", "x: Int, y: Int"),
        ("x + 1", "x + 2"),
    ),
    "scala": (
        "src/K.scala",
        "object K {\n",
        "}\n",
        "  def {n}({p}): Int = {{\n    {b}\n  }}\n\n",
        "  class {n}\n\n",
        ("x: Int", "x: Int, y: Int"),
        ("x + 1", "x + 2"),
    ),
    "dart": (
        "lib/k.dart",
        "",
        "",
        "int {n}({p}) {{\n  return {b};\n}}\n\n",
        "class {n} {{\n}}\n\n",
        ("int x", "int x, int y"),
        ("x + 1", "x + 2"),
    ),
    "c": (
        "src/k.c",
        "#include <stdio.h>\n\n",
        "",
        "int {n}({p})\n{{\n    return {b};\n}}\n\n",
        "struct {n} {{\n    int a;\n}};\n\n",
        ("int x", "int x, int y"),
        ("x + 1", "x + 2"),
    ),
    "cpp": (
        "src/k.cpp",
        "#include <vector>\n\n",
        "",
        "int {n}({p}) {{\n    return {b};\n}}\n\n",
        "class {n} {{\npublic:\n    int a;\n}};\n\n",
        ("int x", "int x, int y"),
        ("x + 1", "x + 2"),
    ),
    "ruby": (
        "lib/k.rb",
        "module K\n",
        "end\n",
        "  def {n}({p})\n    {b}\n  end\n\n",
        "  class {n}\n  end\n\n",
        ("x", "x, y"),
        ("x + 1", "x + 2"),
    ),
    "php": (
        "src/K.php",
        "<?php\n\n",
        "",
        "function {n}({p}) {{\n    return {b};\n}}\n\n",
        "class {n} {{\n}}\n\n",
        ("$x", "$x, $y"),
        ("$x + 1", "$x + 2"),
    ),
    "svelte": (
        "src/K.svelte",
        '<script lang="ts">\n',
        "</script>\n\n<div>function hidden() {}</div>\n<style>div { color: red; }</style>\n",
        "export function {n}({p}): number {{\n  return {b};\n}}\n\n",
        "export class {n} {{\n}}\n\n",
        ("x: number", "x: number, y: number"),
        ("x + 1", "x + 2"),
    ),
    "vue": (
        "src/K.vue",
        "<template>\n  <div>{{ x }}</div>\n</template>\n\n<script>\n",
        "</script>\n",
        "export function {n}({p}) {{\n  return {b};\n}}\n\n",
        "export class {n} {{\n}}\n\n",
        ("x", "x, y"),
        ("x + 1", "x + 2"),
    ),
    "elixir": (
        "lib/k.ex",
        "defmodule K do\n",
        "end\n",
        "  def {n}({p}) do\n    {b}\n  end\n\n",
        "  defmodule {n} do\n  end\n\n",
        ("x", "x, y"),
        ("x + 1", "x + 2"),
    ),
}


def _source(lang: str, funcs: dict[str, tuple[int, int]], types: list[str]) -> str:
    """A file of `lang` with functions (name -> parameter list and body, by index) and types;
    30 unchanged fillers first, so that the touched blocks are a small share of the file."""
    _, head, tail, fn, typ, params, bodies = LANGS[lang]
    fill = {f"filler{i}": (0, 0) for i in range(30)}
    text = "".join(
        fn.format(n=n, p=params[p], b=bodies[b]) for n, (p, b) in {**fill, **funcs}.items()
    )
    return head + text + "".join(typ.format(n=t) for t in types) + tail


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_changes_give_the_syn_counts(lang, repo_builder, monkeypatch):
    """Add a public function and a type, change a signature, change a body, remove a function:
    each commit's counts, and the same values as parsing whole files."""
    path = LANGS[lang][0]
    assert syntax.language_for(path) == lang
    base = {"alpha": (0, 0), "beta": (0, 0), "gamma": (0, 0)}
    steps = [
        ({**base, "delta": (0, 0)}, ["Tee"]),  # add a function and a type
        ({**base, "delta": (0, 0), "beta": (1, 0)}, ["Tee"]),  # beta's parameters
        ({**base, "delta": (0, 0), "beta": (1, 0), "alpha": (0, 1)}, ["Tee"]),  # alpha's body
    ]
    steps.append(({k: v for k, v in steps[-1][0].items() if k != "gamma"}, ["Tee"]))
    rb = repo_builder(lang)
    rb.commit("start", {path: _source(lang, base, [])})
    for i, (funcs, types) in enumerate(steps):
        rb.commit(f"step {i}", {path: _source(lang, funcs, types)})
    shas = git_text(rb.git_dir, ["rev-list", "--reverse", "HEAD"]).split()[1:]
    fast = features.compute_features(rb.git_dir, shas)
    pd.testing.assert_frame_equal(fast, whole_file_features(monkeypatch, rb.git_dir, shas))
    got = fast.set_index("sha").loc[shas]
    cols = [
        "syn_defs_added",
        "syn_types_added",
        "syn_public_added",
        "syn_defs_signature_changed",
        "syn_public_signature_changed",
        "syn_defs_body_changed",
        "syn_defs_removed",
        "syn_public_removed",
    ]
    assert got[cols].values.tolist() == [
        [2, 1, 2, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1],
    ]
    assert (got["syn_files_parsed"] == 1).all() and (got["syn_parse_errors"] == 0).all()


@pytest.mark.parametrize(
    ("lang", "src", "public", "private"),
    [
        (
            "csharp",
            "public class A { public void F() {} void G() {} protected int P { get; set; } }\n"
            "interface I { void M(); }\n",
            {"A", "A.F", "A.P", "I.M"},
            {"A.G", "I"},
        ),
        (
            "kotlin",
            "class A { fun f() = 1\n private fun g() = 2 }\ninternal fun h() {}\n",
            {"A", "A.f"},
            {"A.g", "h"},
        ),
        (
            "swift",
            "public struct S { public func f() {}\n func g() {} }\nopen class C {}\n",
            {"S", "S.f", "C"},
            {"S.g"},
        ),
        (
            "scala",
            "object O { def f(x: Int) = x\n private def g = 1\n private[k] def h = 2 }\n",
            {"O", "O.f"},
            {"O.g", "O.h"},
        ),
        (
            "dart",
            "class A { int f() => 1; }\nvoid _g() {}\nclass _B {}\n",
            {"A", "A.f"},
            {"_g", "_B"},
        ),
        ("c", "int f(void) { return 0; }\nstatic int g(void) { return 1; }\n", {"f"}, {"g"}),
        (
            "cpp",
            "class C { int a() { return 1; }\npublic:\n int b() { return 2; } };\n"
            "struct S { int c() { return 3; } };\nstatic int d() { return 4; }\n",
            {"C", "C.b", "S", "S.c"},
            {"C.a", "d"},
        ),
        (
            "ruby",
            "class A\n  def f; end\n  private\n  def g; end\n  helper\n  def h; end\nend\n",
            {"A", "A.f"},
            {"A.g", "A.h"},
        ),
        (
            "php",
            "<?php\nclass A { public function f() {} private function g() {}\n"
            " function h() {} }\nfunction top() {}\n",
            {"A", "A.f", "A.h", "top"},
            {"A.g"},
        ),
        (
            "elixir",
            "defmodule M do\n  def f(x) when x > 0, do: x\n  defp g(y), do: y\nend\n",
            {"M", "M.f"},
            {"M.g"},
        ),
    ],
)
def test_definitions_and_visibility(lang, src, public, private):
    defs = syntax.definitions(lang, src.encode())
    assert {n for n, d in defs.items() if d.public} == public
    assert {n for n, d in defs.items() if not d.public} == private


@pytest.mark.parametrize(
    ("lang", "old", "new"),
    [
        ("csharp", "class A { public int P { get { return 1; } } }", "return 2;"),
        ("csharp", "class A { public int Q => 1; }", "=> 2"),
        ("dart", "int f(int x) => x + 1;\n", "x + 2"),
        ("elixir", "defmodule M do\n  def f(x), do: x + 1\nend\n", "x + 2"),
        ("kotlin", "fun f(x: Int) = x + 1\n", "x + 2"),
        ("scala", "object O { def f(x: Int): Int = x + 1 }", "x + 2"),
    ],
)
def test_a_body_edit_is_no_signature_change(lang, old, new):
    """Expression bodies, property accessors and `do:` bodies are bodies, not signatures."""
    before = syntax.definitions(lang, old.encode())
    edited = old.replace("return 1;", new).replace("=> 1", new).replace("x + 1", new)
    assert edited != old
    d = syntax.StructureDelta()
    d.add(before, syntax.definitions(lang, edited.encode()))
    assert (d.defs_body_changed, d.defs_signature_changed, d.defs_added) == (1, 0, 0)


@pytest.mark.parametrize(
    "lang", sorted(n for n, s in syntax.LANGUAGES.items() if "pack" in s.grammar)
)
def test_every_node_type_exists_in_its_grammar(lang):
    """A misspelt node type would silently define nothing: each one the table names is a node
    type of the grammar (the old six may name types only some of their grammars have)."""
    parser, _ = syntax_languages.parser_for(lang)
    spec = syntax.LANGUAGES[lang]
    named = [*spec.definitions, *spec.scopes, *spec.bodies, *spec.modifiers, *spec.sections]
    missing = [t for t in named if parser.language.id_for_node_kind(t, True) is None]
    assert missing == []


@pytest.mark.mirror
@pytest.mark.parametrize(
    ("name", "ext"),
    [("getsentry+sentry-dotnet", "cs"), ("square+okhttp", "kt"), ("steipete+CodexBar", "swift")],
)
def test_real_history_sample_matches_the_whole_file_values(name, ext, monkeypatch):
    git_dir = _mirrors() / name / "repo"
    if not git_dir.is_dir():
        pytest.skip(f"{git_dir}: no mirror")
    log = ["log", "--no-merges", "--format=%H", "--max-count=100", "HEAD", "--", f"*.{ext}"]
    shas = git_text(git_dir, log).split()
    fast = features.compute_features(git_dir, shas)
    assert fast["syn_files_parsed"].sum() > 0
    pd.testing.assert_frame_equal(fast, whole_file_features(monkeypatch, git_dir, shas))


def test_a_grammar_that_cannot_load_stops_with_its_name(monkeypatch):
    """A broken install (the pack lacks a grammar) is a one-line ToolError naming the language,
    not an internal error, and not every file of that language silently counted unparsed."""
    import tree_sitter_language_pack

    from mining.errors import ToolError

    def missing(name: str) -> None:
        raise LookupError(f"Could not find language library for {name}")

    syntax_languages.parser_for.cache_clear()
    monkeypatch.setattr(tree_sitter_language_pack, "get_language", missing)
    try:
        with pytest.raises(ToolError, match=r"^csharp: tree-sitter grammar 'pack:csharp'"):
            syntax.definitions("csharp", b"public class K { }\n")
    finally:
        syntax_languages.parser_for.cache_clear()
