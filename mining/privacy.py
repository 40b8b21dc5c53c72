"""Privacy scan of a release folder: it must hold no email, no person's name, no commit message
text and no code, whatever the allow-list in mining/release.py says.

The scan reads the written files (what would ship), and uses the source database's `identities`
and `messages` as the reference for what must not appear. Checks per string value:
- emails: any address-shaped text outside file paths; in paths, any email from `identities`
  (asset names like `logo@2x.png` are address-shaped and legitimate);
- names: human authors' names of two or more words, matched as adjacent words (case and
  separators ignored, so `ada-human.md` matches "Ada Human");
- message text: any 40-character substring of a message, or a whole subject line (>= 20 chars
  with a space); in file paths only whole subjects per path component, because messages quote
  paths legitimately;
- code: line breaks, or statement/definition syntax, outside file paths; local paths anywhere;
- subject templates (`commit_templates.template`, masked subjects): a value equal to a
  multi-word template outside file paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mining.attribute import load_catalog
from mining.errors import PrivacyError
from mining.vocabulary import IDENTITY_COLUMNS

WINDOW = 40
MIN_SUBJECT = 20
PATH_COLUMNS = {"path", "old_path"}
#: columns whose values are public identifiers that messages quote (repository URL and name)
QUOTED_IDENTIFIERS = {("repos", "source"), ("repos", "repo")}
#: never released, whatever the allow-list says: the scan refuses a release holding them
FORBIDDEN_TABLES = {"messages", "identities", "runs", "build_state", "commit_diff_tokens"}
FORBIDDEN_COLUMNS = {
    "message",
    "subject",
    "body",
    *IDENTITY_COLUMNS,
    "name",
    "email",
    "diff",
    "diff_text",
    "patch",
    "content",
    "code",
    "git_dir",
    "template",
}
#: templates shorter than this (or one word: "wip", "refactor") equal legitimate vocabulary
MIN_TEMPLATE = 10

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CODE_RE = re.compile(
    r"\n|\bdef \w+\(|\bfunction\s*\w*\(|\bclass \w+\s*[:({]|#include\s*[<\"]|\bimport \w+|"
    r"\breturn\b[^;]*;|=>\s*\{|\{\s*\w+\s*[:=]|;\s*\}|^\s*(?:const|let|var)\s+\w+\s*="
)
_LOCAL_PATH_RE = re.compile(
    r"(?:^|[\s\"'(])(?:/home/|/Users/|/tmp/|/work/|/root/|/var/|~/|[A-Za-z]:\\)"
)
_WORD_RE = re.compile(r"[^\W\d_]+")
#: author "names" with these words are bots or teams ("Roo Code", "GitHub Action"), not people:
#: matching them would flag every path named after a product. The AI tools' words ("Claude Code")
#: are added from the signatures catalog (`author_words`), so a new tool needs no change here.
_NOT_PERSON = frozenset(
    "code bot bots action actions agent agents ai app apps github gitlab ci build release team "
    "project admin automation service assistant dependabot renovate steward scala test tests "
    "upgrade".split()
)
#: commit and blob ids, versions, numbers: cannot carry text, and messages quote them legitimately
_INERT_RE = re.compile(r"^(?:[a-z-]{1,20}:)?(?:[0-9a-f]{7,64}|[0-9.+:TZ -]*)$")


@dataclass(frozen=True)
class Finding:
    """One leak: where (file, column), what kind, and a redacted hint (never the leaked text)."""

    file: str
    column: str
    kind: str
    hint: str

    def __str__(self) -> str:
        return f"{self.file}:{self.column}: {self.kind} ({self.hint})"


class Reference:
    """What must not appear, read once from the source database."""

    def __init__(self, con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> None:
        self.con = con
        not_person = _NOT_PERSON | set(load_catalog(catalog).author_words())
        emails = con.execute(
            "SELECT DISTINCT lower(e) FROM (SELECT unnest([author_email, committer_email, "
            "mailmap_author_email]) AS e FROM identities) WHERE e LIKE '%@%'"
        ).fetchall()
        self.emails = {e for (e,) in emails if len(e) >= 6}
        names = con.execute(
            "SELECT DISTINCT n FROM (SELECT unnest([i.author_name, i.mailmap_author_name]) AS n "
            "FROM identities i LEFT JOIN commit_authors k USING (repo, sha) "
            "WHERE coalesce(k.author_kind, 'human') = 'human')"
        ).fetchall()
        self.names: set[tuple[str, ...]] = set()
        for (n,) in names:
            words = tuple(_WORD_RE.findall(n.lower()))
            if len(words) >= 2 and sum(map(len, words)) >= 5 and not not_person.intersection(words):
                self.names.add(words)
        self.name_lengths = sorted({len(w) for w in self.names})
        subjects = con.execute(
            "SELECT DISTINCT trim(split_part(message, chr(10), 1)) FROM messages"
        ).fetchall()
        self.subjects = {s for (s,) in subjects if len(s) >= MIN_SUBJECT and " " in s}
        templates = con.execute("SELECT DISTINCT template FROM commit_templates").fetchall()
        self.templates = {t for (t,) in templates if len(t) >= MIN_TEMPLATE and " " in t}

    def has_name(self, text: str) -> bool:
        words = _WORD_RE.findall(text.lower())
        for n in self.name_lengths:
            for i in range(len(words) - n + 1):
                if tuple(words[i : i + n]) in self.names:
                    return True
        return False

    def in_messages(self, values: Iterable[str]) -> set[str]:
        """Values sharing a WINDOW-character substring with any message (one DuckDB join)."""
        windows = [
            (v, v[i : i + WINDOW])
            for v in set(values)
            if len(v) >= WINDOW
            for i in range(len(v) - WINDOW + 1)
        ]
        if not windows:
            return set()
        frame = pa.table({"value": [v for v, _ in windows], "win": [w for _, w in windows]})
        self.con.register("_privacy_windows", frame)
        try:
            rows = self.con.execute(
                "SELECT DISTINCT w.value FROM _privacy_windows w "
                "WHERE EXISTS (SELECT 1 FROM messages m WHERE contains(m.message, w.win))"
            ).fetchall()
        finally:
            self.con.unregister("_privacy_windows")
        return {r[0] for r in rows}


def _strings(col: pa.ChunkedArray) -> set[str]:
    """Distinct string values of a column (lists of strings flattened)."""
    t = col.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        col = pa.chunked_array([c.flatten() for c in col.chunks], type=t.value_type)
        t = t.value_type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return set()
    return {v for v in col.unique().to_pylist() if v}


def scan_values(
    ref: Reference, file: str, column: str, values: set[str], *, table: str = ""
) -> list[Finding]:
    """Every check on one column's distinct values."""
    found: list[Finding] = []

    def add(kind: str, value: str) -> None:
        found.append(Finding(file, column, kind, f"value of {len(value)} chars"))

    is_path = column in PATH_COLUMNS
    values = {v for v in values if not _INERT_RE.match(v)}
    for v in values:
        low = v.lower()
        # test "@" once per value, not once per known email (1M paths x 5k emails otherwise)
        if (not is_path and _EMAIL_RE.search(v)) or (
            "@" in low and any(e in low for e in ref.emails)
        ):
            add("email", v)
        if ref.has_name(v):
            add("person name", v)
        if is_path:
            if v in ref.subjects or any(part in ref.subjects for part in v.split("/")):
                add("commit subject line", v)
            if "\n" in v:
                add("line break (text or code)", v)
            continue
        if _LOCAL_PATH_RE.search(v):
            add("local filesystem path", v)
        if _CODE_RE.search(v):
            add("code", v)
        if low in ref.templates:
            add("subject template", v)
        quoted = (table, column) in QUOTED_IDENTIFIERS
        if (
            not quoted
            and len(v) >= MIN_SUBJECT
            and any(s in v for s in ref.subjects if len(s) <= len(v))
        ):
            add("commit subject line", v)
    if not is_path and (table, column) not in QUOTED_IDENTIFIERS:
        for v in ref.in_messages(values):
            add(f"message text ({WINDOW}+ chars)", v)
    return found


def scan_release(
    folder: str | Path, con: duckdb.DuckDBPyConnection, catalog: str | None = None
) -> list[Finding]:
    """All findings in a release folder (Parquet files and DATASET.md); empty means clean.
    `catalog`: the signatures catalog whose tool names are not person names (default: packaged)."""
    folder = Path(folder)
    ref = Reference(con, catalog)
    found: list[Finding] = []
    for path in sorted(folder.glob("*.parquet")):
        table = path.stem
        if table in FORBIDDEN_TABLES:
            found.append(Finding(path.name, "*", "private table", "never released"))
            continue
        data = pq.read_table(path)
        for name in data.column_names:
            if name in FORBIDDEN_COLUMNS:
                found.append(Finding(path.name, name, "private column", "never released"))
                continue
            values = _strings(data.column(name))
            if values:
                found.extend(scan_values(ref, path.name, name, values, table=table))
    card = folder / "DATASET.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        for line in text.splitlines():
            if _EMAIL_RE.search(line):
                found.append(Finding(card.name, "text", "email", f"line of {len(line)} chars"))
            if ref.has_name(line):
                found.append(
                    Finding(card.name, "text", "person name", f"line of {len(line)} chars")
                )
            if _LOCAL_PATH_RE.search(line):
                found.append(
                    Finding(
                        card.name, "text", "local filesystem path", f"line of {len(line)} chars"
                    )
                )
    return found


def check_release(folder: str | Path, con: duckdb.DuckDBPyConnection) -> None:
    """Raise PrivacyError listing (redacted) findings; the caller then writes nothing."""
    found = scan_release(folder, con)
    if found:
        head = "; ".join(str(f) for f in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise PrivacyError(
            f"release refused: privacy scan found {len(found)} leak(s): {head}{more}"
        )
