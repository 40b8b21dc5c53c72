"""Stage `features`: per non-merge commit, numbers that describe the change, for the classifier.

Reads: `repos.git_dir`, `commits` (which shas). Writes: `commit_features` and the local-only
`commit_diff_tokens` (20_features.sql).

Everything comes from the diff and the message, never from authorship: the study compares AI
and human commits, so a feature that knew who wrote a commit would let the classifier's error
differ between the groups by construction. Messages therefore lose their trailers
(`Co-authored-by`, `Signed-off-by`, any final `Key: value` block) and attribution markers
("Generated with ...", aider's `aider:` prefix) before any message feature is computed.
"""

from __future__ import annotations

import math
import multiprocessing
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from mining import diffs, store, syntax
from mining.attribute import load_catalog
from mining.errors import StageError
from mining.gitcmd import full_commit_ids, resolve_git_dir, run_git
from mining.syntax_languages import signature_gate
from mining.vocabulary import DIFF_TEXT_COLUMNS, DIFF_TOKENS_VERSION, DIRECT_CHANNELS

#: bump when a feature's definition changes (rows of older versions are recomputed)
FEATURES_VERSION = "4"
#: source files parsed with tree-sitter per commit (the rest count as unparsed)
MAX_PARSED_FILES = 40
#: directories checked for being new/removed per commit
MAX_DIR_CHECKS = 200
#: commits written per transaction in the stage (an interrupted run keeps finished batches)
BATCH = 2000

KINDS = diffs.file_kinds()

CC_TYPES = (
    "feat",
    "fix",
    "refactor",
    "perf",
    "docs",
    "test",
    "style",
    "chore",
    "build",
    "ci",
    "revert",
    "deps",
    "release",
    "other",
    "none",
)
_CC_ALIASES = {
    "feature": "feat",
    "bugfix": "fix",
    "doc": "docs",
    "tests": "test",
    "dep": "deps",
    "bump": "deps",
    "refactoring": "refactor",
    "wip": "other",
}
_CC_RE = re.compile(r"^\s*([A-Za-z]+)(\([^)]*\))?(!)?:\s*\S")
_BRACKET_RE = re.compile(r"^\s*\[([A-Za-z]+)\]\s*")

# --- message cleaning ------------------------------------------------------------------------

_TRAILER_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*[ \t]*:[ \t]*\S")
_ATTRIBUTION_KEYS = re.compile(
    r"^\s*(co-?authored-by|co-developed-by|co-author|signed-off-by|reviewed-by|acked-by|"
    r"tested-by|reported-by|suggested-by|helped-by|assisted-by|ai-[a-z-]+|generated-(by|with)|"
    r"llm-assisted-by|made-with|coding-agent|[a-z]+-session[a-z-]*|[a-z]+-thread(-id)?|"
    r"agent-logs-url|replit-commit-author|entire-[a-z]+|change-id)\s*:",
    re.IGNORECASE,
)
#: phrases that mark a generated line whatever the tool; the tools' own names come from the catalog
_MARKER_PHRASES = (
    r"generated (with|by)|co-authored|\U0001f916|created with|written (with|by) (an? )?ai"
)


@lru_cache(maxsize=8)
def _tool_patterns(catalog: str | None) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(marker line, subject prefix) built from the tools' `words` in the signatures catalog, so
    that a tool added there is cleaned from messages without a code change."""
    tools = load_catalog(catalog)
    names = "|".join(re.escape(w) for w in tools.text_words())
    prefixes = "|".join(re.escape(w) for w in tools.subject_words())
    marker = re.compile(
        f"({_MARKER_PHRASES}|{names})" if names else f"({_MARKER_PHRASES})", re.IGNORECASE
    )
    prefix = re.compile(rf"^\s*({prefixes})\s*:\s*" if prefixes else r"(?!)", re.IGNORECASE)
    return marker, prefix


def clean_message(message: str, catalog: str | None = None) -> str:
    """The message with trailers, attribution markers and tool prefixes removed.

    Drops the final paragraph when it consists of `Key: value` lines (git's trailer block),
    any line anywhere whose key is an attribution or session key, and any body line that names
    an AI tool or says "Generated with". The subject keeps its words minus a tool prefix. The
    tool names are the signatures catalog's (`catalog`: another TOML file, default the packaged one).
    """
    marker, prefix = _tool_patterns(catalog)
    lines = message.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paras: list[list[str]] = [[]]
    for ln in lines:
        if ln.strip():
            paras[-1].append(ln.rstrip())
        elif paras[-1]:
            paras.append([])
    paras = [p for p in paras if p]
    if not paras:
        return ""
    if len(paras) > 1:
        last = paras[-1]
        if all(_TRAILER_LINE.match(x) or x[:1] in (" ", "\t") for x in last):
            paras = paras[:-1]
    subject_para, body = paras[0], paras[1:]
    subject = prefix.sub("", subject_para[0])
    if _ATTRIBUTION_KEYS.match(subject):
        subject = ""
    kept_subject = [subject, *[x for x in subject_para[1:] if not _is_attribution(x, marker)]]
    out = ["\n".join(kept_subject)]
    for p in body:
        kept = [x for x in p if not _is_attribution(x, marker)]
        if kept:
            out.append("\n".join(kept))
    return "\n\n".join(out).strip()


def _is_attribution(line: str, marker: re.Pattern[str]) -> bool:
    return bool(_ATTRIBUTION_KEYS.match(line) or marker.search(line))


@lru_cache(maxsize=2)
def _keyword_patterns(lowered: bool = False) -> dict[str, re.Pattern[str]]:
    """The keyword groups' patterns, case-insensitive; `lowered`: case-sensitive, for ASCII
    text already lowercased, where they match the same words (the groups' words are lowercase)
    twice as fast (IGNORECASE folds the case of every character it compares)."""
    text = (resources.files("mining") / "message_keywords.toml").read_text(encoding="utf-8")
    groups = tomllib.loads(text)["groups"]
    flags = 0 if lowered else re.IGNORECASE
    return {
        name: re.compile(r"\b(" + "|".join(words) + r")\b", flags) for name, words in groups.items()
    }


def keyword_groups() -> list[str]:
    """Names of the keyword groups (feature columns `kw_<group>`)."""
    return list(_keyword_patterns())


def conventional_type(subject: str) -> tuple[str, bool, bool]:
    """(type, has scope, breaking) from a Conventional Commits subject; type "none" if absent."""
    m = _CC_RE.match(subject)
    if m is None:
        b = _BRACKET_RE.match(subject)
        if b is None:
            return "none", False, False
        raw = b.group(1).lower()
        raw = _CC_ALIASES.get(raw, raw)
        return (raw if raw in CC_TYPES else "none"), False, False
    raw = _CC_ALIASES.get(m.group(1).lower(), m.group(1).lower())
    scope = (m.group(2) or "").lower()
    kind = raw if raw in CC_TYPES else "other"
    if kind in ("chore", "build", "fix") and ("deps" in scope or "dependabot" in scope):
        kind = "deps"
    return kind, bool(m.group(2)), bool(m.group(3))


def message_features(message: str) -> dict[str, Any]:
    """Features of a message after `clean_message` (never of the raw text)."""
    text = clean_message(message)
    subject = text.split("\n", 1)[0]
    body = text[len(subject) :].strip()
    cc, has_scope, breaking = conventional_type(subject)
    row: dict[str, Any] = {
        "cc_type": cc,
        "cc_has_scope": has_scope,
        "cc_breaking": breaking or "BREAKING CHANGE" in body,
        "msg_subject_chars": len(subject),
        "msg_body_lines": len([ln for ln in body.split("\n") if ln.strip()]),
        "msg_words": len(text.split()),
        "msg_has_issue_ref": bool(re.search(r"#\d+|\b[A-Z]{2,}-\d+\b", text)),
        "msg_has_bullets": bool(re.search(r"^\s*[-*] ", body, re.MULTILINE)),
    }
    subj_no_cc = _CC_RE.sub("", subject) if cc != "none" else subject
    lowered = text.isascii()
    searched = [text, subj_no_cc, subject.split(":", 1)[0]]
    text, subj_no_cc, head = [x.lower() for x in searched] if lowered else searched
    for name, pat in _keyword_patterns(lowered).items():
        row[f"kw_{name}"] = len(pat.findall(text))
        row[f"kws_{name}"] = bool(pat.search(subj_no_cc) or pat.search(head))
    return row


# --- diff features ---------------------------------------------------------------------------

_COMMENT_RE = re.compile(
    r"^\s*(#(?!include|define|if|pragma|import|!)|//|/\*|\*/|\*\s|\*$|--\s|<!--|;;|\"\"\"|''')"
)
_IMPORT_RE = re.compile(
    r"^\s*(import\s|from\s+\S+\s+import\s|#include\s|use\s+[\w:{]|extern crate\s|"
    r"(const|let|var)\s+[\w{}, ]+=\s*require\(|require\(|package\s+[\w.]+;?\s*$|using\s+[\w.]+;|"
    r"export\s+\*\s+from\s|export\s+\{[^}]*\}\s+from\s)"
)
_GO_IMPORT_RE = re.compile(r'^\s*(\w+\s+|_\s+|\.\s+)?"[\w./@-]+"\s*$')
_DDL_RE = re.compile(
    r"\b(create|alter|drop)\s+(table|index|unique\s+index|view|type|schema|sequence|trigger|"
    r"materialized\s+view)\b|\badd\s+column\b|\bdrop\s+column\b|"
    r"\bmigrations\.(CreateModel|AddField|RemoveField|AlterField|RenameField|DeleteModel)\b|"
    r"\bop\.(create_table|drop_table|add_column|drop_column|alter_column|create_index)\b",
    re.IGNORECASE,
)
_VERSION_KEY = re.compile(r'^\s*"?version"?\s*[=:]\s*["\']?\d', re.IGNORECASE)

_RELEASE_BASENAMES = re.compile(
    r"^(changelog|changes|history|news|release[-_]?notes)", re.IGNORECASE
)


@lru_cache(maxsize=1)
def _dependency_rules() -> tuple[
    tuple[tuple[re.Pattern[str], re.Pattern[str]], ...], frozenset[str]
]:
    """`[[dependency_lines]]` of file_kinds.toml compiled, and the manifest keys that are not
    dependencies: which files name dependencies, and how, is data beside the file kinds."""
    data = diffs.kind_data()
    rules = tuple((re.compile(r["files"]), re.compile(r["line"])) for r in data["dependency_lines"])
    return rules, frozenset(data["dependency_names"]["not_dependencies"])


def _dep_names(path: str, lines: Iterable[str]) -> set[str]:
    """Dependency names that `lines` of the manifest at `path` declare (empty for other files)."""
    low = path.lower()
    rules, not_deps = _dependency_rules()
    pats = [p for f, p in rules if f.search(low)]
    names: set[str] = set()
    if not pats:
        return names
    for ln in lines:
        s = ln.strip()
        if not s or s.startswith(("#", "//", "-r ", "--")):
            continue
        for p in pats:
            m = p.search(ln)
            if m:
                name = m.group(1).lower()
                if name not in not_deps:
                    names.add(name)
                break
    return names


def _pkg(path: str) -> str:
    parts = path.split("/")[:-1]
    return "/".join(parts[:2]) if parts else "."


def _top(path: str) -> str:
    parts = path.split("/")
    return parts[0] if len(parts) > 1 else "."


def _entropy(weights: list[int]) -> float:
    total = sum(weights)
    if total <= 0 or len(weights) < 2:
        return 0.0
    return -sum((w / total) * math.log2(w / total) for w in weights if w > 0)


def _line_class_re(go: bool) -> re.Pattern[str]:
    """`_IMPORT_RE`, (for Go) `_GO_IMPORT_RE` and `_COMMENT_RE` as one pattern, tried in that
    order after the common leading whitespace: one match per line tells its class
    (`lastgroup` "c": comment, else import)."""
    lead = r"^\s*"
    imp, go_imp, com = (
        p.pattern.removeprefix(lead) for p in (_IMPORT_RE, _GO_IMPORT_RE, _COMMENT_RE)
    )
    go_part = f"|(?P<g>{go_imp})" if go else ""
    return re.compile(rf"{lead}(?:(?P<i>{imp}){go_part}|(?P<c>{com}))")


_LINE_CLASS_RE = {go: _line_class_re(go) for go in (False, True)}


def _line_classes(f: diffs.FileDiff, kind: str) -> Counter[str]:
    """Count kept changed lines by class: whitespace (formatting), blank, comment, import, other."""
    out: Counter[str] = Counter()
    classed = _LINE_CLASS_RE[f.path.endswith(".go")]
    codeish = kind in ("source", "test", "build", "config", "other", "generated", "vendored")
    for h in f.hunks:
        n = len(h.removed) + len(h.added)
        if n == 0:
            continue
        if _same_but_whitespace(h.removed, h.added):  # formatting
            out["whitespace"] += n
            out["format_hunks"] += 1
            continue
        blank = imports = comments = 0
        for part in (h.removed, h.added):
            for ln in part:
                if not ln or ln.isspace():
                    blank += 1
                elif codeish and (m := classed.match(ln)) is not None:
                    if m.lastgroup == "c":
                        comments += 1
                    else:
                        imports += 1
        for cls, count in (
            ("blank", blank),
            ("import", imports),
            ("comment", comments),
            ("code", n - blank - imports - comments),
        ):
            if count:
                out[cls] += count
    return out


def _same_but_whitespace(removed: list[str], added: list[str]) -> bool:
    """Whether two runs of lines are the same text up to whitespace and line breaks. Two
    characters counted on both sides first reject most edits without building the texts
    stripped of whitespace (crush's commits change 42 MB of fixture lines per 1,000)."""
    rem, add = "".join(removed), "".join(added)
    if any(rem.count(c) != add.count(c) for c in "e,"):
        return False
    return "".join(rem.split()) == "".join(add.split())  # str.split's whitespace is re's \s


def _empty_row() -> dict[str, Any]:
    row: dict[str, Any] = {name: 0 for name in NUMERIC_COLUMNS}
    row.update({name: False for name in BOOL_COLUMNS})
    row["cc_type"] = "none"
    return row


def _parse_plan(c: diffs.CommitDiff) -> tuple[list[tuple[diffs.FileDiff, str]], int, int]:
    """The commit's source files to compare with tree-sitter (at most MAX_PARSED_FILES, in diff
    order; pure renames need no parse), how many more were skipped, and how many were left out
    because their change stays inside definitions' bodies (`_body_only`)."""
    plan: list[tuple[diffs.FileDiff, str]] = []
    skipped = body_only = 0
    for f in c.files:
        lang = syntax.language_for(f.path)
        if not lang or f.is_binary or diffs.file_kind(f.path) != "source":
            continue
        if f.change_type == "R" and f.lines_added + f.lines_deleted == 0:
            continue
        if _body_only(f, lang):
            body_only += 1
        elif len(plan) >= MAX_PARSED_FILES:
            skipped += 1
        else:
            plan.append((f, lang))
    return plan, skipped, body_only


def _body_only(f: diffs.FileDiff, lang: str) -> bool:
    """Whether a modified file's changed lines all stay inside definitions' bodies: none matches
    the language's signature gate (`syntax_languages.signature_gate`), so no definition can be
    added, removed or re-signed, and parsing both versions could only count bodies changed.

    Why not parse it anyway: such edits are half of the parsed files and most of the parse time
    (crush: 949 of 1,719 files per 1,000 commits; docs/build.md), and `syn_files_body_only` says
    what they are.
    A file whose lines were not all kept (`truncated`), or a language without a gate, is parsed.
    """
    gate = signature_gate(lang)
    if gate is None or f.change_type != "M" or f.truncated or not f.lines_added + f.lines_deleted:
        return False
    search = gate.search
    return not any(search(ln) for h in f.hunks for part in (h.removed, h.added) for ln in part)


def _plan_blobs(plan: list[tuple[diffs.FileDiff, str]]) -> list[str]:
    return [o for f, _ in plan for o in (f.old_blob, f.new_blob) if o is not None]


@dataclass(slots=True)
class _Tally:
    """What `commit_row` gathers over a commit's files before it derives the spread, dependency,
    line-class and directory features from it."""

    weights: list[int] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)
    tops: set[str] = field(default_factory=set)
    pkgs: set[str] = field(default_factory=set)
    lines: Counter[str] = field(default_factory=Counter)
    dep_add: set[str] = field(default_factory=set)
    dep_rem: set[str] = field(default_factory=set)
    dep_both: set[str] = field(default_factory=set)


def commit_row(
    c: diffs.CommitDiff,
    reader: syntax.BlobReader | None,
    blobs: dict[str, bytes | None] | None = None,
    dirs: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """All features of one non-merge commit (see 20_features.sql for their meaning).

    `blobs`: contents of the blobs to parse, already read in a batch (`_window_rows`); without
    it they are read here. `dirs`: the directories created and emptied (`_dir_counts`), already
    asked in a batch; without it they are asked here. Without a `reader` the structure and
    directory features stay 0.
    """
    row = _empty_row()
    row["sha"] = c.sha
    row.update(message_features(c.message))
    row["is_root"] = not c.parents
    row["incomplete"] = c.incomplete
    row["n_files"] = len(c.files)
    tally = _Tally()
    for f in c.files:
        _tally_file(row, tally, f)
    if reader is not None:
        _structure_features(row, c, reader, blobs)
        row["n_new_dirs"], row["n_removed_dirs"] = dirs or _dir_changes(reader, c)
    row["churn"] = row["lines_added"] + row["lines_deleted"]
    _spread_features(row, c.files, tally)
    _line_class_features(row, tally.lines)
    for kind in KINDS:
        row[f"frac_churn_{kind}"] = row[f"churn_{kind}"] / row["churn"] if row["churn"] else 0.0
        row[f"frac_files_{kind}"] = row[f"n_{kind}"] / len(c.files) if c.files else 0.0
    row["log_churn"] = math.log1p(row["churn"])
    row["log_files"] = math.log1p(len(c.files))
    return row


def _tally_file(row: dict[str, Any], tally: _Tally, f: diffs.FileDiff) -> None:
    """Add one file's change to the row's counts and to the tally."""
    kind = diffs.file_kind(f.path)
    churn = f.lines_added + f.lines_deleted
    row[f"n_{kind}"] += 1
    row[f"churn_{kind}"] += churn
    row["lines_added"] += f.lines_added
    row["lines_deleted"] += f.lines_deleted
    row["n_hunks"] += len(f.hunks)
    row["n_binary"] += f.is_binary
    row["n_truncated"] += f.truncated
    tally.weights.append(max(churn, 1))
    d = f.path.rsplit("/", 1)[0] if "/" in f.path else "."
    tally.dirs.add(d)
    tally.tops.add(_top(f.path))
    tally.pkgs.add(_pkg(f.path))
    _change_type_counts(row, f, kind)
    if diffs.is_contract(f.path):
        row["n_contract"] += 1
        row["churn_contract"] += churn
        row["n_contract_added"] += f.change_type == "A"
    if kind == "manifest":
        _manifest_counts(row, tally, f)
    if kind != "docs":
        row["ddl_lines"] += _ddl_lines(f)
    if kind == "docs" and _RELEASE_BASENAMES.match(f.path.rsplit("/", 1)[-1]):
        row["n_changelog"] += 1
    if not f.is_binary:
        tally.lines += _line_classes(f, kind)


def _change_type_counts(row: dict[str, Any], f: diffs.FileDiff, kind: str) -> None:
    """Added, deleted, renamed/copied (and moved across directories, packages, top-level
    directories) and mode-changed files."""
    if f.change_type in ("A", "D"):
        added = f.change_type == "A"
        row["n_added" if added else "n_deleted"] += 1
        if diffs.is_package_marker(f.path):
            row["n_package_markers_added" if added else "n_package_markers_deleted"] += 1
        if kind == "source":
            row["n_source_added" if added else "n_source_deleted"] += 1
    elif f.change_type in ("R", "C"):
        row["n_renamed" if f.change_type == "R" else "n_copied"] += 1
        old = f.old_path or f.path
        if f.change_type == "R" and f.lines_added + f.lines_deleted == 0:
            row["n_pure_renames"] += 1
        if old.rsplit("/", 1)[0:1] != f.path.rsplit("/", 1)[0:1]:
            row["n_moves"] += 1
        if _pkg(old) != _pkg(f.path):
            row["n_cross_pkg_moves"] += 1
        if _top(old) != _top(f.path):
            row["n_cross_top_moves"] += 1
    elif f.change_type == "T" or (f.old_mode and f.new_mode and f.old_mode != f.new_mode):
        row["n_mode_changes"] += 1


def _manifest_counts(row: dict[str, Any], tally: _Tally, f: diffs.FileDiff) -> None:
    """Dependencies a manifest's change adds, removes or re-pins (by manifest path and name),
    and its version lines."""
    removed = [ln for h in f.hunks for ln in h.removed]
    added = [ln for h in f.hunks for ln in h.added]
    a, r = _dep_names(f.path, added), _dep_names(f.path, removed)
    if f.change_type == "A":
        row["dep_manifests_added"] += 1
    tally.dep_both |= {f"{f.path}:{x}" for x in a & r}
    tally.dep_add |= {f"{f.path}:{x}" for x in a - r}
    tally.dep_rem |= {f"{f.path}:{x}" for x in r - a}
    row["manifest_version_lines"] += sum(bool(_VERSION_KEY.match(x)) for x in added)


def _structure_features(
    row: dict[str, Any],
    c: diffs.CommitDiff,
    reader: syntax.BlobReader,
    blobs: dict[str, bytes | None] | None,
) -> None:
    """The `syn_*` columns: definitions the commit's source files gain, lose or change."""
    delta = syntax.StructureDelta()
    langs: set[str] = set()
    plan, row["syn_files_skipped"], row["syn_files_body_only"] = _parse_plan(c)
    if plan:
        if blobs is None:
            oids = list(dict.fromkeys(_plan_blobs(plan)))
            blobs = dict(zip(oids, reader.contents(oids), strict=True))
        _structure(reader, plan, blobs, delta, langs)
    for name in (
        "files_parsed",
        "defs_added",
        "defs_removed",
        "defs_signature_changed",
        "defs_body_changed",
        "types_added",
        "types_removed",
        "public_added",
        "public_removed",
        "public_signature_changed",
        "parse_errors",
    ):
        row[f"syn_{name}"] = getattr(delta, name)
    row["syn_languages"] = len(langs)


def _spread_features(row: dict[str, Any], files: list[diffs.FileDiff], tally: _Tally) -> None:
    """How widely the change spreads (directories, packages, churn entropy) and the
    dependency counts."""
    row["n_dirs"] = len(tally.dirs)
    row["n_top_dirs"] = len(tally.tops)
    row["n_pkgs"] = len(tally.pkgs)
    row["entropy_files"] = _entropy(tally.weights)
    pkg_w: Counter[str] = Counter()
    for f, w in zip(files, tally.weights, strict=True):
        pkg_w[_pkg(f.path)] += w
    row["entropy_pkgs"] = _entropy(list(pkg_w.values()))
    row["dep_added"] = len(tally.dep_add)
    row["dep_removed"] = len(tally.dep_rem)
    row["dep_bumped"] = len(tally.dep_both)


def _line_class_features(row: dict[str, Any], lines: Counter[str]) -> None:
    """Shares of the kept changed lines by class (`_line_classes`) and whether the commit only
    reformats (every line whitespace-only changed, no file added or deleted)."""
    total = sum(v for k, v in lines.items() if k != "format_hunks")
    row["kept_lines"] = total
    row["n_format_hunks"] = lines["format_hunks"]
    for cls in ("whitespace", "blank", "comment", "import"):
        row[f"share_{cls}"] = lines[cls] / total if total else 0.0
    row["formatting_only"] = bool(
        total and lines["whitespace"] == total and not row["n_added"] and not row["n_deleted"]
    )


#: where a `_DDL_RE` match can start, in the casefolded text (a statement keyword before
#: whitespace, after `op.` or after a Django `migrations.`, checked as "ons.": none of these has
#: an "i", whose dotted capital casefolds to two characters): each pattern opens with a literal,
#: which the regex engine finds with a fast scan. "column" is found apart (`_column_hits`).
_DDL_STARTS = [
    re.compile(r"create(?=\s)"),
    re.compile(r"alter(?=\s)"),
    re.compile(r"drop(?=\s)"),
    re.compile(r"op\.(?:create|alter|drop)"),
    re.compile(r"ons\.(?:create|alter|drop|addf|removef|renamef|deletem)"),
]


def _ddl_lines(f: diffs.FileDiff) -> int:
    """Changed lines with a DDL statement. Only lines holding a place where a match could
    start (`_DDL_STARTS`, `_column_hits`) are searched with `_DDL_RE`: a few scans of the
    file's changed text instead of a regex per line (the casefolded text has as many line
    breaks)."""
    lines = [x for h in f.hunks for part in (h.removed, h.added) for x in part]
    text = "\n".join(lines).casefold()
    hits = {m.start() for p in _DDL_STARTS for m in p.finditer(text)}
    hits.update(_column_hits(text))
    if not hits:
        return 0
    found: set[int] = set()
    pos = line = 0
    for i in sorted(hits):
        line += text.count("\n", pos, i)
        pos = i
        found.add(line)
    return sum(bool(_DDL_RE.search(lines[k])) for k in found)


def _column_hits(text: str) -> Iterator[int]:
    """Offsets of "column" after whitespace or `_` (`add column`, `op.drop_column`)."""
    i = text.find("column")
    while i >= 0:
        if i > 0 and (text[i - 1].isspace() or text[i - 1] == "_"):
            yield i
        i = text.find("column", i + 1)


def _structure(
    reader: syntax.BlobReader,
    plan: list[tuple[diffs.FileDiff, str]],
    blobs: dict[str, bytes | None],
    delta: syntax.StructureDelta,
    langs: set[str],
) -> None:
    """Compare old and new definitions of the commit's planned files."""
    for f, lang in plan:
        old_oid = None if f.change_type == "A" else f.old_blob
        new_oid = None if f.change_type == "D" else f.new_blob
        old, new = syntax.pair_definitions(
            reader,
            lang,
            (old_oid, f.old_path or f.path, blobs.get(old_oid) if old_oid else None),
            (new_oid, f.path, blobs.get(new_oid) if new_oid else None),
            f.hunks,
        )
        if old is None or new is None:
            delta.parse_errors += 1
            continue
        langs.add(lang)
        delta.add(old, new)


def _topmost(dirs: set[str]) -> list[str]:
    ordered = sorted(dirs, key=lambda d: (d.count("/"), d))
    out: list[str] = []
    for d in ordered:
        if not any(d == t or d.startswith(t + "/") for t in out):
            out.append(d)
    return out


def _dir_specs(c: diffs.CommitDiff) -> list[tuple[bool, str]]:
    """The directories to check for being new (True: an addition or rename may create it) or
    removed (False: a deletion or rename may empty it), topmost only, at most MAX_DIR_CHECKS."""
    added: set[str] = set()
    removed: set[str] = set()
    for f in c.files:
        d = f.path.rsplit("/", 1)[0] if "/" in f.path else "."
        if f.change_type in ("A", "D") and d != ".":
            (added if f.change_type == "A" else removed).add(d)
        elif f.change_type == "R":
            old = f.old_path or f.path
            if "/" in f.path:
                added.add(d)
            if "/" in old:
                removed.add(old.rsplit("/", 1)[0])
    specs = [(True, d) for d in _topmost(added)] + [(False, d) for d in _topmost(removed)]
    return specs[:MAX_DIR_CHECKS]


def _dir_questions(c: diffs.CommitDiff, specs: list[tuple[bool, str]]) -> list[str]:
    """The `<rev>:<dir>` names whose absence answers `specs`: a new directory is absent in the
    parent, an emptied one after the commit (a root commit's directories are all new)."""
    asked = [d for d in specs if not d[0]] if not c.parents else specs
    return [f"{c.parents[0] if is_new else c.sha}:{d}" for is_new, d in asked]


def _dir_counts(
    c: diffs.CommitDiff, specs: list[tuple[bool, str]], answers: list[tuple[str, int] | None]
) -> tuple[int, int]:
    """(directories the commit creates, directories it empties) from git's answers to
    `_dir_questions`."""
    asked = [d for d in specs if not d[0]] if not c.parents else specs
    new = 0 if c.parents else sum(is_new for is_new, _ in specs)
    gone = 0
    for (is_new, _), info in zip(asked, answers, strict=True):
        if info is None:
            new += is_new
            gone += not is_new
    return new, gone


def _dir_changes(reader: syntax.BlobReader, c: diffs.CommitDiff) -> tuple[int, int]:
    """Directories that the commit creates (absent in the parent) or empties (absent after)."""
    specs = _dir_specs(c)
    return _dir_counts(c, specs, reader.infos(_dir_questions(c, specs)))


# --- columns -----------------------------------------------------------------------------------


def _columns() -> tuple[list[str], list[str], list[str]]:
    numeric = [
        "msg_subject_chars",
        "msg_body_lines",
        "msg_words",
        *[f"kw_{g}" for g in keyword_groups()],
        "n_files",
        "lines_added",
        "lines_deleted",
        "churn",
        "log_churn",
        "log_files",
        "n_hunks",
        "n_binary",
        "n_truncated",
        *[f"n_{k}" for k in KINDS],
        *[f"churn_{k}" for k in KINDS],
        *[f"frac_files_{k}" for k in KINDS],
        *[f"frac_churn_{k}" for k in KINDS],
        "n_dirs",
        "n_top_dirs",
        "n_pkgs",
        "entropy_files",
        "entropy_pkgs",
        "n_added",
        "n_deleted",
        "n_renamed",
        "n_copied",
        "n_pure_renames",
        "n_mode_changes",
        "n_moves",
        "n_cross_pkg_moves",
        "n_cross_top_moves",
        "n_new_dirs",
        "n_removed_dirs",
        "n_package_markers_added",
        "n_package_markers_deleted",
        "n_source_added",
        "n_source_deleted",
        "n_changelog",
        "dep_added",
        "dep_removed",
        "dep_bumped",
        "dep_manifests_added",
        "manifest_version_lines",
        "n_contract",
        "churn_contract",
        "n_contract_added",
        "ddl_lines",
        "kept_lines",
        "n_format_hunks",
        "share_whitespace",
        "share_blank",
        "share_comment",
        "share_import",
        "syn_files_parsed",
        "syn_files_skipped",
        "syn_languages",
        "syn_defs_added",
        "syn_defs_removed",
        "syn_defs_signature_changed",
        "syn_defs_body_changed",
        "syn_types_added",
        "syn_types_removed",
        "syn_public_added",
        "syn_public_removed",
        "syn_public_signature_changed",
        "syn_parse_errors",
    ]
    boolean = [
        "cc_has_scope",
        "cc_breaking",
        "msg_has_issue_ref",
        "msg_has_bullets",
        *[f"kws_{g}" for g in keyword_groups()],
        "is_root",
        "incomplete",
        "formatting_only",
    ]
    categorical = ["cc_type"]
    return numeric, boolean, categorical


#: numeric columns added after the first release, in the order 20_features.sql's ALTER TABLE
#: adds them: last in the table, in a new database and in an older one alike
ADDED_NUMERIC_COLUMNS = ["syn_files_body_only"]
_FIRST_NUMERIC, BOOL_COLUMNS, CATEGORICAL_COLUMNS = _columns()
NUMERIC_COLUMNS = [*_FIRST_NUMERIC, *ADDED_NUMERIC_COLUMNS]
#: the model's inputs, in order: what `commit_features` holds besides repo, sha, version
FEATURE_COLUMNS = [*_FIRST_NUMERIC, *BOOL_COLUMNS, *CATEGORICAL_COLUMNS, *ADDED_NUMERIC_COLUMNS]


def _frame(rows: list[dict[str, Any]], texts: Sequence[str] = ()) -> pd.DataFrame:
    """The typed frame of feature rows (and of the classifier's text columns `texts`)."""
    columns = ["sha", *FEATURE_COLUMNS, *texts]
    data: dict[str, Any] = {  # by column: faster than by row; empty ones hold objects
        c: [row[c] for row in rows] if rows else np.array([], dtype=object) for c in columns
    }
    for col in NUMERIC_COLUMNS:
        data[col] = np.array(data[col], dtype="float64" if is_float_column(col) else "int64")
    for col in BOOL_COLUMNS:
        data[col] = np.array(data[col], dtype=bool)
    frame = pd.DataFrame(data, columns=columns)
    frame["cc_type"] = frame["cc_type"].astype(str)
    return frame


def is_float_column(col: str) -> bool:
    """Whether a numeric feature column holds a fraction or log (float) rather than a count
    (int): the classifier log-scales only the counts, so both stages must agree on which is which."""
    return col.startswith(("frac_", "share_", "entropy_", "log_"))


def merge_commits(git_dir: str | Path, shas: list[str]) -> list[str]:
    """The merges among `shas` (full ids), which `compute_features` leaves out: a caller can
    say why a listed commit has no row."""
    listed = [s.strip() for s in shas if s.strip()]
    if not listed:
        return []
    proc = run_git(
        resolve_git_dir(git_dir),
        ["rev-list", "--no-walk=unsorted", "--merges", "--stdin"],
        input=("\n".join(listed) + "\n").encode(),
    )
    return proc.stdout.decode().split()


def compute_features(
    git_dir: str | Path,
    shas: list[str],
    jobs: int = 1,
    texts: Sequence[str] = (),
    then: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Features of the listed commits straight from git (no database); merges are left out.

    Works on a work tree, a bare repo or a bare mirror with an empty config; opens it read-only.
    Rows follow the order of `shas`, one per commit however often or however abbreviated it is
    listed; full shas are returned even for abbreviated input.
    `jobs` > 1 runs that many processes, two on each consecutive run of the commits
    (`_in_processes`). `texts`: add these of the classifier's text columns (`TEXT_COLUMNS`),
    taken from the same patch stream instead of a second read of git. `then`: applied to each
    process's frame inside that process (classification: so that it runs in parallel too); the
    results are concatenated in order.
    """
    gd = resolve_git_dir(git_dir)
    shas = [s.strip() for s in shas if s.strip()]
    if shas:
        shas = full_commit_ids(gd, shas)
    jobs = job_count(jobs, len(shas))
    if jobs == 1:
        return _part_frame(gd, shas, None, texts, then)
    if "fork" not in multiprocessing.get_all_start_methods():  # Windows: `then` goes pickled
        parts = _in_processes(_part_frame, gd, shas, jobs, "spawn", texts, then)
    else:
        global _WORKER_THEN
        _WORKER_THEN = then  # a forked worker inherits it: a model is not pickled to each process
        try:
            parts = _in_processes(_part_frame, gd, shas, jobs, "fork", texts)
        finally:
            _WORKER_THEN = None
    # a process whose partner took its whole run has no rows (nor the dtypes of rows)
    return pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)


def job_count(jobs: int, n_commits: int) -> int:
    """Processes worth starting for `n_commits` commits: at most one per MIN_PER_JOB of them
    (a process's start-up and cold caches cost more than a few commits' features)."""
    return max(1, min(jobs, n_commits // MIN_PER_JOB or 1))


#: `compute_features`' `then` while its worker processes start (fork copies it into them)
_WORKER_THEN: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def _part_frame(
    git_dir: Path,
    shas: list[str],
    side: _Side | None,
    texts: Sequence[str],
    then: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One process's share of `compute_features` (`_side_rows`): its frame, passed through
    `then` (in a worker process, the `then` it inherited)."""
    then = then or _WORKER_THEN
    frame = _frame(_side_rows(git_dir, shas, side, texts), texts)
    return then(frame) if then is not None else frame


def _parallel_rows(
    git_dir: Path, shas: list[str], jobs: int, start: str, texts: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Rows of `shas` in order, computed by `jobs` processes (`_in_processes`)."""
    jobs = job_count(jobs, len(shas))
    if jobs == 1:
        return _rows_surviving_unreadable(git_dir, shas, texts=texts)
    done = _in_processes(_side_rows, git_dir, shas, jobs, start, texts)
    return [row for rows in done for row in rows]


#: in a worker process: per run of `_in_processes`, the commits taken from its front and from
#: its back (shared by the two processes of the run; set by `_share_bounds`)
_BOUNDS: Any = None


def _share_bounds(bounds: Any) -> None:
    """Pool initializer: the shared bounds reach each worker (spawned or forked) this way."""
    global _BOUNDS
    _BOUNDS = bounds


@dataclass(frozen=True, slots=True)
class _Side:
    """One end of a run of commits that two processes walk towards each other until they meet.

    Why: commits differ tenfold in cost, so runs cut by count leave one process idle while the
    other works (crush's halves: 54:46 of the CPU); from both ends, neither stops before the
    run is done, and each still walks consecutive commits (its caches see a file's versions).
    """

    run: int
    size: int
    from_back: bool

    def take(self, i: int) -> bool:
        """Claim the commit `i` places from this end; False once the other end has it."""
        mine, other = 2 * self.run + self.from_back, 2 * self.run + (not self.from_back)
        with _BOUNDS.get_lock():
            if i >= self.size - _BOUNDS[other]:
                return False
            _BOUNDS[mine] = max(_BOUNDS[mine], i + 1)
            return True


def _side_rows(
    git_dir: Path, shas: list[str], side: _Side | None, texts: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Rows of the commits of `shas` that this process claims from its end (all of them
    without a `side`), in the order of `shas`."""
    if side is None:
        return _rows_surviving_unreadable(git_dir, shas, texts=texts)
    if side.from_back:
        return _rows_surviving_unreadable(git_dir, shas[::-1], None, texts, side.take)[::-1]
    return _rows_surviving_unreadable(git_dir, shas, None, texts, side.take)


def _in_processes(
    work: Callable[..., Any], git_dir: Path, shas: list[str], jobs: int, start: str, *args: Any
) -> list[Any]:
    """`work(git_dir, run, side, *args)` in `jobs` processes, results in the order of `shas`.

    The commits are cut into consecutive runs, one per pair of processes (a last one alone for
    an odd `jobs`) and as long as its processes are many; the two of a run take it from both
    ends (`_Side`), so the split follows the cost of the commits, not their count.
    """
    per_run = [2] * (jobs // 2) + [1] * (jobs % 2)
    cuts = [len(shas) * sum(per_run[:k]) // jobs for k in range(len(per_run) + 1)]
    runs = [shas[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    sides = [_Side(k, len(runs[k]), bool(end)) for k, n in enumerate(per_run) for end in range(n)]
    ctx = multiprocessing.get_context(start)
    bounds = ctx.Array("q", 2 * len(runs))
    with ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_share_bounds, initargs=(bounds,)
    ) as pool:
        return list(
            pool.map(
                work,
                [git_dir] * jobs,
                [runs[s.run] for s in sides],
                sides,
                *([a] * jobs for a in args),
            )
        )


#: fewest commits worth a process of their own
MIN_PER_JOB = 50
#: commits whose blobs are read from git in one batch; also how far a process claims commits
#: ahead of the ones it features, so how unevenly two processes sharing a run can finish
WINDOW = 16
#: at most this many blob bytes held at once by a window
WINDOW_BYTES = 64 * 1024 * 1024


def _rows(
    git_dir: Path,
    shas: list[str],
    reader: syntax.BlobReader,
    texts: Sequence[str] = (),
    keep: Callable[[int], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """Feature rows of the non-merge commits among `shas`, in order (with the classifier's
    text columns `texts`); with `keep`, up to the first commit (by index) it refuses."""
    window: list[diffs.CommitDiff] = []
    for i, c in enumerate(diffs.iter_commit_diffs(git_dir, shas)):
        if keep is not None and not keep(i):
            break
        if c.is_merge:
            continue
        window.append(c)
        if len(window) >= WINDOW:
            yield from _window_rows(window, reader, texts)
            window = []
    yield from _window_rows(window, reader, texts)


def _window_rows(
    commits: list[diffs.CommitDiff], reader: syntax.BlobReader, texts: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Rows of a window of commits, their blobs read in batches of at most WINDOW_BYTES: one
    round trip to git per batch rather than per commit (git answers while we parse)."""
    need = [list(dict.fromkeys(_plan_blobs(_parse_plan(c)[0]))) for c in commits]
    flat = list(dict.fromkeys(o for oids in need for o in oids))
    metas = dict(zip(flat, reader.infos(flat), strict=True))
    dirs = _window_dirs(commits, reader)
    sizes = {o: (m[1] if m else 0) for o, m in metas.items()}
    rows: list[dict[str, Any]] = []
    start = 0
    while start < len(commits):
        end, held = start, 0
        while end < len(commits) and (
            end == start or held + sum(sizes[o] for o in need[end]) <= WINDOW_BYTES
        ):
            held += sum(sizes[o] for o in need[end])
            end += 1
        oids = list(dict.fromkeys(o for k in range(start, end) for o in need[k]))
        blobs = dict(zip(oids, reader.contents(oids, metas=metas), strict=True))
        rows.extend(
            commit_row(c, reader, blobs, d)
            for c, d in zip(commits[start:end], dirs[start:end], strict=True)
        )
        start = end
    if texts:
        from mining.text_features import add_texts

        add_texts(rows, commits, reader.git_dir, texts)
    return rows


def _window_dirs(
    commits: list[diffs.CommitDiff], reader: syntax.BlobReader
) -> list[tuple[int, int]]:
    """`_dir_changes` of each commit of a window, asked of git in one batch."""
    specs = [_dir_specs(c) for c in commits]
    questions = [_dir_questions(c, s) for c, s in zip(commits, specs, strict=True)]
    answers = iter(reader.infos([q for qs in questions for q in qs]))
    return [
        _dir_counts(c, s, [next(answers) for _ in qs])
        for c, s, qs in zip(commits, specs, questions, strict=True)
    ]


def features_stage(
    con: duckdb.DuckDBPyConnection,
    repos: list[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    sample: int | None = None,
    seed: int = 0,
    jobs: int = 1,
) -> dict[str, int]:
    """Fill `commit_features` for every stored repository's non-merge commits not yet featured,
    and `commit_diff_tokens` from the same patches in the same transaction; then the tokens of
    commits featured before diff tokens existed (`diff_tokens_stage`, one more patch stream).

    Resumable: commits already featured with the current FEATURES_VERSION are skipped; each batch
    of BATCH commits is written in its own transaction. Returns commits featured per repo.

    `sample`: feature at most `sample` AI-evidenced (`ai_direct`) and `sample` other non-merge
    commits per repository, drawn by a seeded hash of the SHA (deterministic, independent of
    content), so a large corpus can be classified within a time budget; the analysis then
    compares AI and non-AI commits within the same repositories on the sampled commits.
    `jobs` > 1 features each batch in that many processes.
    """
    store.require_rows(con, "commits", "crawl")
    known = [r[0] for r in con.execute("SELECT repo, git_dir FROM repos ORDER BY repo").fetchall()]
    dirs = dict(con.execute("SELECT repo, git_dir FROM repos").fetchall())
    wanted = repos or known
    missing = [r for r in wanted if r not in dirs]
    if missing:
        raise StageError(f"{missing[0]}: no such repository in the database (crawl it first)")
    done: dict[str, int] = {}
    for repo in wanted:
        shas = _pending_shas(con, repo, sample, seed)
        done[repo] = 0
        if not shas:
            continue
        git_dir = resolve_git_dir(dirs[repo])
        with syntax.BlobReader(git_dir) as reader:

            def rows_for(
                batch: list[str], reader: syntax.BlobReader = reader, git_dir: Path = git_dir
            ) -> pd.DataFrame:
                # the diff tokens come from the same patches (the classify stage reads the
                # message and path texts from the database)
                if jobs > 1:  # spawn: workers must not inherit the open DuckDB connection
                    rows = _parallel_rows(git_dir, batch, jobs, "spawn", DIFF_TEXT_COLUMNS)
                else:
                    rows = _rows_surviving_unreadable(git_dir, batch, reader, DIFF_TEXT_COLUMNS)
                return _frame(rows, DIFF_TEXT_COLUMNS)

            done[repo] += store.write_repo_batches(
                con,
                "commit_features",
                repo,
                shas,
                rows_for,
                ("features_version", FEATURES_VERSION),
                BATCH,
                progress,
                ("commit_diff_tokens", DIFF_TEXT_COLUMNS, ("tokens_version", DIFF_TOKENS_VERSION)),
            )
    from mining.text_features import diff_tokens_stage

    for repo in wanted:  # tokens of commits featured before diff tokens existed (local only)
        if dirs[repo]:  # a loaded release has no repository to read them from
            diff_tokens_stage(con, repo, dirs[repo], BATCH, progress)
    return done


def _pending_shas(
    con: duckdb.DuckDBPyConnection, repo: str, sample: int | None, seed: int
) -> list[str]:
    """Non-merge commits of `repo` still to feature (all, or the seeded sample), in history
    order so that consecutive commits share parsed blobs. A sample is balanced between commits
    with and without direct AI evidence, read from the stage tables (not the reporting view)."""
    direct = (
        "(SELECT DISTINCT sha FROM attributions WHERE repo = $repo "
        "AND list_contains($direct, channel))"
    )
    rows = con.execute(
        f"SELECT c.sha, c.sha IN {direct} AS ai_direct, "  # noqa: S608 - fixed text
        f"row_number() OVER (PARTITION BY c.sha IN {direct} ORDER BY hash(c.sha || $seed)) AS k "
        "FROM commits c WHERE c.repo = $repo AND NOT c.is_merge "
        "AND c.sha NOT IN (SELECT sha FROM commit_features WHERE repo = $repo AND features_version = $version) "
        "ORDER BY c.topo_index",
        {
            "seed": str(seed),
            "repo": repo,
            "version": FEATURES_VERSION,
            "direct": list(DIRECT_CHANNELS),
        },
    ).fetchall()
    if sample is None:
        return [r[0] for r in rows]
    done = con.execute(
        f"SELECT x.sha IN {direct} AS ai_direct, count(*) FROM commit_features x "  # noqa: S608
        "WHERE x.repo = $repo GROUP BY 1",
        {"repo": repo, "direct": list(DIRECT_CHANNELS)},
    ).fetchall()
    room = {ai: sample - n for ai, n in done}
    return [sha for sha, ai, k in rows if k <= room.get(ai, sample)]


def _rows_surviving_unreadable(
    git_dir: Path,
    shas: list[str],
    reader: syntax.BlobReader | None = None,
    texts: Sequence[str] = (),
    keep: Callable[[int], bool] | None = None,
) -> list[dict[str, Any]]:
    """Feature a batch; if git cannot read it (a blob absent from a partial clone), retry commit
    by commit and leave out the commits whose diff cannot be read (they get no features).
    `keep`: as in `_rows`."""
    from mining.errors import GitError

    if reader is None:
        with syntax.BlobReader(git_dir) as own:
            return _rows_surviving_unreadable(git_dir, shas, own, texts, keep)
    try:
        return list(_rows(git_dir, shas, reader, texts, keep))
    except GitError:
        if len(shas) == 1:
            return []
    rows: list[dict[str, Any]] = []
    for i, sha in enumerate(shas):
        if keep is not None and not keep(i):
            break
        rows.extend(_rows_surviving_unreadable(git_dir, [sha], reader, texts))
    return rows
