"""Stage `attribute`: which commits show evidence of an AI tool, through which channel.

Writes `attributions` (one row per piece of evidence), `commit_authors` (human | ai_agent |
automation, and whether the subject is scripted), `commit_templates` (repeated subject templates,
mining/subject_templates.py) and `adoption_markers` (files such as CLAUDE.md that date a
repository's adoption).
Reads `commits`, `identities`, `messages` and `file_changes`, so it re-runs over stored metadata
whenever the catalog (`mining/signatures.toml`) grows, without re-crawling.

Channels, strongest first: identity (the author/committer is the tool), co-author (a
person-valued trailer names it), session (a trailer links an agent session), disclosure (a
trailer's value names it), marker (a whole line such as "Generated with Claude Code"), prefix
(aider's "aider: " subject), branch (brought in by the merge of an agent branch: PR-level
provenance), suggestion (a review bot's suggested change was committed: AI-involved only).
"""

from __future__ import annotations

import heapq
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from mining import store, subject_templates, vocabulary
from mining.errors import CorpusError
from mining.logparse import CommitRecord
from mining.trailers import parse_trailers, subject, whole_lines

CHANNELS = vocabulary.CHANNELS  # strongest first: the one definition is mining/channels.toml
#: channels that make a commit AI-written (`commit_facts.ai`, `strata blame`): every channel but
#: `suggestion`, which shows AI involvement, not authorship (the `ai` flag in channels.toml)
AI_CHANNELS = frozenset(vocabulary.AI_CHANNELS)
AUTHOR_KINDS = ("human", "ai_agent", "automation")
#: why a commit is automation (`commit_authors.automation_via`); the one definition, read by
#: the dataset card too.
AUTOMATION_VIA = {
    "author": "the author identity is a bot (dependabot, renovate, release bots ...)",
    "committer": "a person is the author but a release/CI bot made the commit",
    "subject": "the subject matches a reviewed automation template (tool auto-commits, "
    "release scripts)",
}
TEMPLATE_KINDS = ("automation", "chore")

# Merge subjects that name the merged branch: GitHub, plain git and GitLab forms.
_MERGE_SUBJECT_RES = (
    re.compile(r"^Merge pull request #\d+ from [^\s/]+/(?P<branch>\S+)"),
    re.compile(r"^Merge (?:remote-tracking )?branch '(?:origin/)?(?P<branch>[^']+)'"),
)

Evidence = tuple[str, str, str, str]  # tool, channel, field, evidence


class CommitMeta(NamedTuple):
    """What attribution reads of one commit: identities as `name <email>` and the message."""

    sha: str
    parents: tuple[str, ...]
    author: str
    committer: str
    mailmap_author: str | None
    message: str

    @classmethod
    def from_record(cls, rec: CommitRecord) -> CommitMeta:
        """A commit read from git, decoded as the crawl stores it (invalid UTF-8 replaced, the
        message without trailing newlines), so that `strata blame` sees what the stage sees."""

        def text(raw: bytes) -> str:
            return raw.decode("utf-8", "replace")

        return cls(
            rec.sha,
            tuple(rec.parents),
            identity(text(rec.author_name), text(rec.author_email)),
            identity(text(rec.committer_name), text(rec.committer_email)),
            identity(text(rec.mailmap_author_name), text(rec.mailmap_author_email)),
            text(rec.message.rstrip(b"\n")),
        )


@dataclass(frozen=True)
class Tool:
    """One catalog entry; `kind` is agent (writes code) or suggestion (review bot)."""

    id: str
    name: str
    kind: str = "agent"
    committer: bool = True
    words: tuple[str, ...] = ()  # how prose names the tool (lowercase)
    subject_words: tuple[str, ...] = ()  # `<word>:` subject prefixes message cleaning strips
    author_words: tuple[str, ...] = ()  # an author name holding one is the tool, not a person


@dataclass(frozen=True)
class TemplateRule:
    """A reviewed subject template: `pattern` is matched against the masked subject."""

    name: str
    kind: str  # automation | chore
    pattern: re.Pattern[str]
    repos: frozenset[str] | None = None  # None: every repository


@dataclass
class Catalog:
    """The signatures catalog compiled once: every matcher below is a table lookup + regex."""

    version: str
    tools: dict[str, Tool]
    identities: list[tuple[str, re.Pattern[str]]]
    automation: list[tuple[str, re.Pattern[str]]]
    automation_committers: list[tuple[str, re.Pattern[str]]]
    template_rules: list[TemplateRule]
    scripted_min_commits: int
    person_keys: frozenset[str]
    disclosure_keys: frozenset[str]
    negative_value: re.Pattern[str]
    disclosure: list[tuple[str, re.Pattern[str]]]
    sessions: dict[str, list[tuple[str, re.Pattern[str] | None]]]
    markers: list[tuple[str, str, re.Pattern[str]]]  # tool, label, pattern
    any_marker: re.Pattern[str] | None
    prefixes: list[tuple[str, str, re.Pattern[str]]]
    branches: list[tuple[str, str]]  # prefix, tool
    adoption: list[dict[str, str]]
    generic_subject_words: tuple[str, ...] = ()
    _id_cache: dict[str, str | None] = field(default_factory=dict, repr=False)
    _auto_cache: dict[str, str | None] = field(default_factory=dict, repr=False)
    _committer_cache: dict[str, str | None] = field(default_factory=dict, repr=False)
    _rule_cache: dict[tuple[str, str], TemplateRule | None] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        #: trailer keys the catalog reads (git's "configured" keys for the 25% rule)
        self.known_keys = self.person_keys | self.disclosure_keys | frozenset(self.sessions)
        # one search tells whether a message can hold a trailer we read: most messages cannot
        keys = "|".join(re.escape(k) for k in sorted(self.known_keys, key=len, reverse=True))
        self._key_rx = re.compile(rf"^(?:{keys})[ \t]*:", re.IGNORECASE | re.MULTILINE)

    def identity_tool(self, ident: str) -> str | None:
        """Tool whose identity pattern matches `name <email>` (first in catalog order), cached."""
        key = ident.lower()
        try:
            return self._id_cache[key]
        except KeyError:
            pass
        found = next((tool for tool, rx in self.identities if rx.search(key)), None)
        self._id_cache[key] = found
        return found

    def automation_name(self, ident: str) -> str | None:
        """Name of the non-AI automation matching `name <email>`, cached."""
        key = ident.lower()
        try:
            return self._auto_cache[key]
        except KeyError:
            pass
        found = next((name for name, rx in self.automation if rx.search(key)), None)
        self._auto_cache[key] = found
        return found

    def committer_automation(self, ident: str) -> str | None:
        """Name of the bot committer (`committer = true` entries) matching `name <email>`.

        Only bots that make commits of their own on a person's behalf (release bots) are
        listed; GitHub's web-flow committer merely records a person's squash merge.
        """
        key = ident.lower()
        try:
            return self._committer_cache[key]
        except KeyError:
            pass
        found = next((name for name, rx in self.automation_committers if rx.search(key)), None)
        self._committer_cache[key] = found
        return found

    def template_rule(self, repo: str, template: str) -> TemplateRule | None:
        """The first reviewed rule whose pattern matches the masked subject in `repo`, cached."""
        key = (repo, template)
        try:
            return self._rule_cache[key]
        except KeyError:
            pass
        found = next(
            (
                r
                for r in self.template_rules
                if (r.repos is None or repo in r.repos) and r.pattern.search(template)
            ),
            None,
        )
        self._rule_cache[key] = found
        return found

    def disclosure_tool(self, value: str) -> str | None:
        """Tool a disclosure value names; None for negative values (`none`, `n/a`, `no`)."""
        v = value.strip().lower()
        if not v or self.negative_value.search(v):
            return None
        return next((tool for tool, rx in self.disclosure if rx.search(v)), None)

    def branch_tool(self, branch: str) -> tuple[str, str] | None:
        """(tool, prefix) when `branch` starts with an agent branch prefix."""
        b = branch.lower()
        return next(((tool, p) for p, tool in self.branches if b.startswith(p)), None)

    def text_words(self) -> list[str]:
        """Every tool's prose names: a message body line holding one is attribution, not content."""
        return sorted({w for t in self.tools.values() for w in t.words})

    def subject_words(self) -> list[str]:
        """Subject prefixes (`<word>:`) that say a tool or generator wrote the message."""
        words = {w for t in self.tools.values() for w in t.subject_words}
        return sorted(words | set(self.generic_subject_words))

    def author_words(self) -> list[str]:
        """Words that make an author "name" a tool's rather than a person's (privacy scan)."""
        return sorted({w for t in self.tools.values() for w in t.author_words})

    def is_agent(self, tool: str) -> bool:
        return self.tools[tool].kind == "agent"

    # -- per commit -------------------------------------------------------------------------
    def commit_evidence(
        self,
        author: str,
        committer: str,
        message: str,
        mailmap_author: str | None = None,
    ) -> list[Evidence]:
        """Evidence for one commit from its identities (`name <email>`) and message.

        Returns unique (tool, channel, field, evidence) tuples; evidence is the matched identity
        or trailer `key: value`, or a catalog label for markers and prefixes, never message text.
        """
        out: list[Evidence] = []
        tool = self.identity_tool(author)
        if tool is not None:
            out.append((tool, "identity", "author", author))
        elif mailmap_author and mailmap_author != author:
            tool = self.identity_tool(mailmap_author)
            if tool is not None:
                out.append((tool, "identity", "author-mailmap", mailmap_author))
        tool = self.identity_tool(committer)
        if tool is not None and self.tools[tool].committer:
            out.append((tool, "identity", "committer", committer))
        if message:
            out.extend(self.message_evidence(message))
        return list(dict.fromkeys(out))

    def message_evidence(self, message: str) -> list[Evidence]:
        """Trailer, marker and prefix evidence in a commit message."""
        out: list[Evidence] = []
        trailers = parse_trailers(message, self.known_keys) if self._key_rx.search(message) else []
        for tr in trailers:
            if tr.key in self.person_keys:
                tool = self.identity_tool(tr.value)
                if tool is not None:
                    channel = "co-author" if self.is_agent(tool) else "suggestion"
                    out.append((tool, channel, f"trailer:{tr.key}", _clip(tr.text)))
            elif tr.key in self.disclosure_keys:
                tool = self.disclosure_tool(tr.value)
                if tool is not None:
                    out.append((tool, "disclosure", f"trailer:{tr.key}", _clip(tr.text)))
            rules = self.sessions.get(tr.key)
            if rules:
                for tool, value_rx in rules:
                    if value_rx is None or value_rx.search(tr.value):
                        out.append((tool, "session", f"trailer:{tr.key}", _clip(tr.text)))
                        break
        if self.any_marker is not None and self.any_marker.search(message):
            for line in whole_lines(message):
                for tool, label, rx in self.markers:
                    if rx.search(line):
                        out.append((tool, "marker", "line", label))
        subj = subject(message)
        for tool, label, rx in self.prefixes:
            if rx.search(subj):
                out.append((tool, "prefix", "subject", label))
        return out

    def author_kind(
        self,
        author: str,
        mailmap_author: str | None = None,
        committer: str | None = None,
        rule: TemplateRule | None = None,
    ) -> tuple[str, str | None, str | None]:
        """(author_kind, automation name, via): an AI identity is ai_agent; a non-AI bot author,
        a bot committer that commits for a person, or an automation template makes automation."""
        idents = [author] + (
            [mailmap_author] if mailmap_author and mailmap_author != author else []
        )
        for ident in idents:
            if self.identity_tool(ident) is not None:
                return "ai_agent", None, None
        for ident in idents:
            name = self.automation_name(ident)
            if name is not None:
                return "automation", name, "author"
        if committer:
            name = self.committer_automation(committer)
            if name is not None:
                return "automation", name, "committer"
        if rule is not None and rule.kind == "automation":
            return "automation", rule.name, "subject"
        return "human", None, None


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise CorpusError(
            f"signatures catalog: bad pattern in {where}: {pattern!r}: {exc}"
        ) from exc


def parse_catalog(data: dict[str, Any]) -> Catalog:
    """Compile a catalog dict (as read from signatures.toml); raise CorpusError on bad entries."""
    tools: dict[str, Tool] = {}
    identities: list[tuple[str, re.Pattern[str]]] = []
    sessions: dict[str, list[tuple[str, re.Pattern[str] | None]]] = {}
    markers: list[tuple[str, str, re.Pattern[str]]] = []
    prefixes: list[tuple[str, str, re.Pattern[str]]] = []
    branches: list[tuple[str, str]] = []
    for tid, entry in data.get("tools", {}).items():
        kind = entry.get("kind", "agent")
        if kind not in ("agent", "suggestion"):
            raise CorpusError(
                f"signatures catalog: tool {tid}: kind must be agent or suggestion, not {kind!r}"
            )
        words = _words(entry.get("words", []), f"tools.{tid}.words")
        tools[tid] = Tool(
            tid,
            entry.get("name", tid),
            kind,
            bool(entry.get("committer", True)),
            words,
            _words(entry.get("subject_words", list(words)), f"tools.{tid}.subject_words"),
            _words(entry.get("author_words", list(words)), f"tools.{tid}.author_words"),
        )
        for pat in entry.get("identity", []):
            identities.append((tid, _compile(pat, f"tools.{tid}.identity")))
        for s in entry.get("sessions", []):
            rx = _compile(s["value"], f"tools.{tid}.sessions") if "value" in s else None
            sessions.setdefault(s["key"].lower(), []).append((tid, rx))
        for m in entry.get("markers", []):
            markers.append((tid, m["label"], _compile(m["pattern"], f"tools.{tid}.markers")))
        for p in entry.get("prefixes", []):
            prefixes.append((tid, p["label"], _compile(p["pattern"], f"tools.{tid}.prefixes")))
        for b in entry.get("branches", []):
            branches.append((b.lower(), tid))
    disclosure = []
    for d in data.get("disclosure", []):
        if d["tool"] not in tools:
            raise CorpusError(
                f"signatures catalog: disclosure rule names unknown tool {d['tool']!r}"
            )
        disclosure.append((d["tool"], _compile(d["pattern"], f"disclosure {d['tool']}")))
    automation = [
        (a["name"], _compile(a["pattern"], f"automation {a['name']}"))
        for a in data.get("automation", [])
    ]
    automation_committers = [
        (a["name"], rx)
        for a, (_, rx) in zip(data.get("automation", []), automation, strict=True)
        if a.get("committer", False)
    ]
    template_rules = []
    for t in data.get("templates", []):
        where = f"templates {t.get('name')!r}"
        if t.get("kind") not in TEMPLATE_KINDS or "pattern" not in t or "name" not in t:
            raise CorpusError(
                f"signatures catalog: {where} needs name, pattern and kind "
                f"({' or '.join(TEMPLATE_KINDS)}): {t}"
            )
        repos = frozenset(t["repos"]) if "repos" in t else None
        template_rules.append(
            TemplateRule(t["name"], t["kind"], _compile(t["pattern"], where), repos)
        )
    min_commits = data.get("scripted", {}).get("min_commits", 20)
    if not isinstance(min_commits, int) or min_commits < 2:
        raise CorpusError(
            f"signatures catalog: scripted.min_commits must be an integer >= 2, not {min_commits!r}"
        )
    trailers = data.get("trailers", {})
    any_marker = (
        re.compile(
            "|".join(f"(?:{rx.pattern})" for _, _, rx in markers), re.IGNORECASE | re.MULTILINE
        )
        if markers
        else None
    )
    for a in data.get("adoption", []):
        if sum(k in a for k in ("file", "dir", "glob")) != 1 or "tool" not in a:
            raise CorpusError(
                f"signatures catalog: adoption entry needs tool and one of file/dir/glob: {a}"
            )
    return Catalog(
        version=str(data.get("version", "")),
        tools=tools,
        identities=identities,
        automation=automation,
        automation_committers=automation_committers,
        template_rules=template_rules,
        scripted_min_commits=min_commits,
        person_keys=frozenset(k.lower() for k in trailers.get("person", [])),
        disclosure_keys=frozenset(k.lower() for k in trailers.get("disclosure", [])),
        negative_value=_compile(
            trailers.get("negative_values", r"^\W*(none|no|n/?a)\W*$"), "trailers.negative_values"
        ),
        disclosure=disclosure,
        sessions=sessions,
        markers=markers,
        any_marker=any_marker,
        prefixes=prefixes,
        branches=sorted(branches, key=lambda b: -len(b[0])),
        adoption=list(data.get("adoption", [])),
        generic_subject_words=_words(
            data.get("messages", {}).get("generic_subject_words", []),
            "messages.generic_subject_words",
        ),
    )


def _words(value: Any, where: str) -> tuple[str, ...]:
    """A catalog word list, lowercased; CorpusError names the entry if it is not one."""
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise CorpusError(f"signatures catalog: {where} must be a list of words, not {value!r}")
    return tuple(w.strip().lower() for w in value)


@cache
def load_catalog(path: str | None = None) -> Catalog:
    """The packaged catalog (or a TOML file at `path`), compiled once per process."""
    if path is None:
        text = (resources.files("mining") / "signatures.toml").read_text(encoding="utf-8")
        where = "mining/signatures.toml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{where}: not valid TOML: {exc}") from exc
    return parse_catalog(data)


# -- agent-branch merges ------------------------------------------------------------------------
def merged_branch(subject_line: str) -> str | None:
    """The branch a merge commit's subject names, if any."""
    for rx in _MERGE_SUBJECT_RES:
        m = rx.match(subject_line)
        if m:
            return m.group("branch")
    return None


def only_via_second_parent(
    merge: str, parents: Mapping[str, Sequence[str]], order: dict[str, int]
) -> list[str]:
    """Commits reachable from the merge's second parent but not from its first (`M^2 --not M^1`).

    Paints ancestors in topological order (`order`: 0 = newest, parents larger), like git's
    merge-base walk, and stops once no commit reachable only from the second parent is pending.
    """
    ps = parents.get(merge) or ()
    if len(ps) < 2:
        return []
    p1, p2 = ps[0], ps[1]
    flags: dict[str, int] = {}
    heap: list[tuple[int, str]] = []
    only2: set[str] = set()

    def paint(sha: str, f: int) -> None:
        if sha not in order:
            return  # outside the crawled history (shallow or other branch)
        old = flags.get(sha, 0)
        new = old | f
        if new == old:
            return
        flags[sha] = new
        if old == 0:
            heapq.heappush(heap, (order[sha], sha))
        if new == 2:
            only2.add(sha)
        else:
            only2.discard(sha)

    paint(p1, 1)
    paint(p2, 2)
    result: list[str] = []
    while heap and only2:
        _, sha = heapq.heappop(heap)
        f = flags[sha]
        only2.discard(sha)
        if f == 2:
            result.append(sha)
        for p in parents.get(sha) or ():
            paint(p, f)
    return result


# -- adoption markers ---------------------------------------------------------------------------
def _adoption_matchers(catalog: Catalog) -> list[tuple[str, Callable[[str], str | None]]]:
    """(tool, fn) where fn(path) returns the marker instance (file path or folder) or None."""
    import fnmatch

    out: list[tuple[str, Callable[[str], str | None]]] = []
    fn: Callable[[str], str | None]
    for a in catalog.adoption:
        if "file" in a:
            name = a["file"]

            def fn(path: str, name: str = name) -> str | None:
                return path if path.rsplit("/", 1)[-1] == name else None
        elif "dir" in a:
            parts = tuple(a["dir"].strip("/").split("/"))

            def fn(path: str, parts: tuple[str, ...] = parts) -> str | None:
                segs = path.split("/")[:-1]
                n = len(parts)
                for i in range(len(segs) - n + 1):
                    if tuple(segs[i : i + n]) == parts:
                        return "/".join(segs[: i + n]) + "/"
                return None
        else:
            pat = a["glob"]

            def fn(path: str, pat: str = pat) -> str | None:
                return path if fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pat) else None

        out.append((a["tool"], fn))
    return out


def adoption_rows(
    catalog: Catalog, events: Iterable[tuple[str, str, str | None, str, Any]]
) -> list[tuple[str, str, str, Any, Any]]:
    """Presence intervals of marker files from (sha, path, old_path, change_type, at), oldest first.

    Returns (path, tool, added_sha, added_at, removed_at): one row per time a marker instance
    appears; removed_at is when its last file went away (None while present).
    """
    matchers = _adoption_matchers(catalog)
    live: dict[tuple[str, str], set[str]] = {}
    open_rows: dict[tuple[str, str], int] = {}
    rows: list[list[Any]] = []

    def touch(path: str, sha: str, at: Any, added: bool) -> None:
        for tool, fn in matchers:
            inst = fn(path)
            if inst is None:
                continue
            key = (inst, tool)
            files = live.setdefault(key, set())
            if added:
                if not files:
                    open_rows[key] = len(rows)
                    rows.append([inst, tool, sha, at, None])
                files.add(path)
            elif path in files:
                files.discard(path)
                if not files and key in open_rows:
                    rows[open_rows.pop(key)][4] = at

    for sha, path, old_path, change_type, at in events:
        if change_type == "D":
            touch(path, sha, at, added=False)
        elif change_type == "R" and old_path:
            touch(old_path, sha, at, added=False)
            touch(path, sha, at, added=True)
        else:
            touch(path, sha, at, added=True)
    return [tuple(r) for r in rows]


def _adoption_sql_filter(catalog: Catalog) -> str:
    """A regex preselecting candidate paths in SQL (the Python matchers decide)."""
    alts = []
    for a in catalog.adoption:
        if "file" in a:
            alts.append(f"(^|/){re.escape(a['file'])}$")
        elif "dir" in a:
            alts.append(f"(^|/){re.escape(a['dir'].strip('/'))}/")
        else:
            alts.append(
                "(^|/)" + re.escape(a["glob"]).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$"
            )
    return "|".join(alts) or "^$"


# -- the stage ----------------------------------------------------------------------------------
_COMMITS_SQL = """
SELECT c.sha, c.parents, c.topo_index, c.authored_at,
       i.author_name, i.author_email, i.committer_name, i.committer_email,
       i.mailmap_author_name, i.mailmap_author_email, m.message
FROM commits c
LEFT JOIN identities i ON i.repo = c.repo AND i.sha = c.sha
LEFT JOIN messages m ON m.repo = c.repo AND m.sha = c.sha
WHERE c.repo = ?
"""

_EVENTS_SQL = """
SELECT f.sha, f.path, f.old_path, f.change_type, c.committed_at
FROM file_changes f JOIN commits c ON c.repo = f.repo AND c.sha = f.sha
WHERE f.repo = ? AND (regexp_matches(f.path, ?) OR regexp_matches(coalesce(f.old_path, ''), ?))
ORDER BY c.topo_index DESC, f.path
"""


def identity(name: str | None, email: str | None) -> str:
    """`name <email>`: the form the catalog's identity patterns match."""
    return f"{name or ''} <{email or ''}>"


def branch_evidence(
    catalog: Catalog,
    merges: Iterable[tuple[str, str]],
    parents: Mapping[str, Sequence[str]],
    order: dict[str, int],
) -> Iterator[tuple[str, Evidence]]:
    """(sha, evidence) for every commit an agent-branch merge brought in; `merges` are (merge
    sha, message) pairs, `parents` and `order` the history graph (see only_via_second_parent)."""
    for merge_sha, message in merges:
        branch = merged_branch(subject(message)) if message else None
        hit = catalog.branch_tool(branch) if branch is not None else None
        if hit is None:
            continue
        tool, prefix = hit
        for sha in only_via_second_parent(merge_sha, parents, order):
            yield sha, (tool, "branch", f"merge:{merge_sha}", f"branch:{prefix}")


def ai_tools(evidence: Iterable[tuple[str, Evidence]]) -> dict[str, frozenset[str]]:
    """{sha: AI tools} of the commits whose evidence makes them AI-written (AI_CHANNELS)."""
    tools: dict[str, set[str]] = {}
    for sha, (tool, channel, _, _) in evidence:
        if channel in AI_CHANNELS:
            tools.setdefault(sha, set()).add(tool)
    return {sha: frozenset(ts) for sha, ts in tools.items()}


def _template_table(
    repo: str,
    catalog: Catalog,
    members: dict[str, list[tuple[str, bool, Any]]],
    detected: dict[str, int],
) -> pa.Table:
    """One row per detected template: id, counts, dates and the reviewed rule deciding it."""
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "template_id",
            "n_commits",
            "n_human",
            "n_authors",
            "first_at",
            "last_at",
            "kind",
            "rule",
            "template",
        )
    }
    for tpl in sorted(detected):
        rows = members[tpl]
        rule = catalog.template_rule(repo, tpl)
        dates = [at for _, _, at in rows if at is not None]
        cols["template_id"].append(subject_templates.template_id(tpl))
        cols["n_commits"].append(len(rows))
        cols["n_human"].append(sum(human for _, human, _ in rows))
        cols["n_authors"].append(len({a for a, _, _ in rows}))
        cols["first_at"].append(min(dates) if dates else None)
        cols["last_at"].append(max(dates) if dates else None)
        cols["kind"].append(rule.kind if rule else None)
        cols["rule"].append(rule.name if rule else None)
        cols["template"].append(tpl)
    types = {
        "n_commits": pa.int32(),
        "n_human": pa.int32(),
        "n_authors": pa.int32(),
        "first_at": pa.timestamp("us", tz="UTC"),
        "last_at": pa.timestamp("us", tz="UTC"),
    }
    return pa.table(
        {
            "repo": pa.array([repo] * len(detected), pa.string()),
            **{k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()},
        }
    )


def attribute_rows(
    con: duckdb.DuckDBPyConnection, repo: str, catalog: Catalog | None = None
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Compute (attributions, commit_authors, adoption_markers, commit_templates) for `repo`
    without writing."""
    catalog = catalog or load_catalog()
    rows = con.execute(_COMMITS_SQL, [repo]).fetchall()
    att: dict[str, list[str]] = {k: [] for k in ("sha", "tool", "channel", "field", "evidence")}
    ka: dict[str, list[Any]] = {
        k: []
        for k in ("sha", "author_kind", "automation", "automation_via", "scripted", "template_id")
    }
    # non-merge subjects, masked: {template: [(author email, human by identity, authored_at)]}
    members: dict[str, list[tuple[str, bool, Any]]] = {}
    commit_tpl: dict[str, str] = {}
    parents: dict[str, Sequence[str]] = {}
    order: dict[str, int] = {}
    merges: list[tuple[str, str]] = []

    def add(sha: str, ev: Evidence) -> None:
        att["sha"].append(sha)
        att["tool"].append(ev[0])
        att["channel"].append(ev[1])
        att["field"].append(ev[2])
        att["evidence"].append(ev[3])

    for sha, ps, topo, at, an, ae, cn, ce, man, mae, message in rows:
        parents[sha] = ps or ()
        order[sha] = topo
        author = identity(an, ae)
        committer = identity(cn, ce)
        mm_author = identity(man, mae) if man is not None else None
        for ev in catalog.commit_evidence(author, committer, message or "", mm_author):
            add(sha, ev)
        tpl = subject_templates.mask(subject(message)) if message and len(ps or ()) < 2 else ""
        rule = catalog.template_rule(repo, tpl) if tpl else None
        kind, auto, via = catalog.author_kind(author, mm_author, committer, rule)
        if tpl:
            commit_tpl[sha] = tpl
            human = kind == "human" or via == "subject"  # human by identity
            members.setdefault(tpl, []).append(((ae or "").lower(), human, at))
        ka["sha"].append(sha)
        ka["author_kind"].append(kind)
        ka["automation"].append(auto)
        ka["automation_via"].append(via)
        if ps is not None and len(ps) >= 2 and message:
            merges.append((sha, message))

    for sha, ev in branch_evidence(catalog, merges, parents, order):
        add(sha, ev)

    detected = subject_templates.detect(commit_tpl.values(), catalog.scripted_min_commits)
    for sha in ka["sha"]:
        tpl = commit_tpl.get(sha, "")  # "" (merge, no subject) is never a detected template
        scripted = tpl in detected
        ka["scripted"].append(scripted)
        ka["template_id"].append(subject_templates.template_id(tpl) if scripted else None)
    templates = _template_table(repo, catalog, members, detected)

    rx = _adoption_sql_filter(catalog)
    events = con.execute(_EVENTS_SQL, [repo, rx, rx]).fetchall()
    adopt = adoption_rows(catalog, events)

    n_att = len(att["sha"])
    attributions = pa.table(
        {
            "repo": pa.array([repo] * n_att, pa.string()),
            **{k: pa.array(v, pa.string()) for k, v in att.items()},
        }
    )
    n_ka = len(ka["sha"])
    authors = pa.table(
        {
            "repo": pa.array([repo] * n_ka, pa.string()),
            "sha": pa.array(ka["sha"], pa.string()),
            "author_kind": pa.array(ka["author_kind"], pa.string()),
            "automation": pa.array(ka["automation"], pa.string()),
            "automation_via": pa.array(ka["automation_via"], pa.string()),
            "scripted": pa.array(ka["scripted"], pa.bool_()),
            "template_id": pa.array(ka["template_id"], pa.string()),
        }
    )
    markers = pa.table(
        {
            "repo": pa.array([repo] * len(adopt), pa.string()),
            "path": pa.array([r[0] for r in adopt], pa.string()),
            "tool": pa.array([r[1] for r in adopt], pa.string()),
            "added_sha": pa.array([r[2] for r in adopt], pa.string()),
            "added_at": pa.array([r[3] for r in adopt], pa.timestamp("us", tz="UTC")),
            "removed_at": pa.array([r[4] for r in adopt], pa.timestamp("us", tz="UTC")),
        }
    )
    return attributions, authors, markers, templates


def attribute_repo(con: duckdb.DuckDBPyConnection, repo: str) -> dict[str, int]:
    """Replace `repo`'s rows in attributions, commit_authors, adoption_markers and
    commit_templates.

    The caller wraps this in `store.transaction` (crawl does, and `attribute_all`), so that a
    failure leaves the previous attribution in place.
    """
    attributions, authors, markers, templates = attribute_rows(con, repo)
    n_att = store.replace_repo_rows(con, "attributions", repo, attributions)
    store.replace_repo_rows(con, "commit_authors", repo, authors)
    n_mark = store.replace_repo_rows(con, "adoption_markers", repo, markers)
    n_tpl = store.replace_repo_rows(con, "commit_templates", repo, templates)
    ai_shas = ai_tools(
        (sha, (tool, channel, "", ""))
        for sha, tool, channel in zip(
            attributions["sha"].to_pylist(),
            attributions["tool"].to_pylist(),
            attributions["channel"].to_pylist(),
            strict=True,
        )
    )
    return {
        "commits": authors.num_rows,
        "attributions": n_att,
        "ai_commits": len(ai_shas),
        "adoption_markers": n_mark,
        "templates": n_tpl,
        "scripted": sum(authors["scripted"].to_pylist()),
        "automation": sum(k == "automation" for k in authors["author_kind"].to_pylist()),
    }


def attribute_all(
    con: duckdb.DuckDBPyConnection,
    repos: list[str] | None = None,
    progress: Callable[[str, dict[str, int]], None] | None = None,
) -> dict[str, dict]:
    """Run `attribute_repo` for `repos` (default: every crawled repo), each in its own transaction.

    Raises StageError when nothing was crawled, CorpusError naming a repo that is not stored.
    """
    store.require_rows(con, "commits", "crawl")
    stored = [
        r[0] for r in con.execute("SELECT DISTINCT repo FROM commits ORDER BY repo").fetchall()
    ]
    if repos:
        missing = [r for r in repos if r not in stored]
        if missing:
            raise CorpusError(f"not in the database: {', '.join(missing)} (crawl them first)")
        todo = list(dict.fromkeys(repos))
    else:
        todo = stored
    results: dict[str, dict] = {}
    with store.run_record(con, "attribute", " ".join(todo)):
        for repo in todo:
            with store.transaction(con):
                results[repo] = attribute_repo(con, repo)
            if progress is not None:
                progress(repo, results[repo])
    return results
