"""Property-based fuzzing (issue 8) of the parsers and matchers that read untrusted text: the git
log parser, the trailer parser, the AI catalog matcher, the path-kind rules and blame's globs.

`make test` runs a few examples per target (profile "default" in tests/conftest.py);
`make fuzz` runs >= 10k per target (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import fnmatch
import glob
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mining import diffs
from mining.attribute import CHANNELS, load_catalog
from mining.blame import select_files
from mining.logparse import LOG_ARGS, LogParseError, parse_log
from mining.trailers import parse_trailers, whole_lines

pytestmark = pytest.mark.fuzz

# --- git log parser: synthetic NUL-token streams ---------------------------------------------

HEX = "0123456789abcdef"
shas = st.text(HEX, min_size=40, max_size=40)
no_nul = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b""))
path_bytes = st.binary(min_size=1, max_size=24).map(lambda b: b.replace(b"\0", b"x"))
modes = st.sampled_from(["000000", "100644", "100755", "120000", "160000"])


@dataclass
class FakeFile:
    status: str
    score: int | None
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    path: bytes
    old_path: bytes | None
    added: int | None  # None: binary ("-")
    deleted: int | None


@st.composite
def fake_files(draw) -> FakeFile:
    status = draw(st.sampled_from("AMDRCT"))
    renamed = status in "RC"
    score = draw(st.integers(0, 100)) if renamed else None
    counts = draw(st.one_of(st.none(), st.tuples(st.integers(0, 10**9), st.integers(0, 10**9))))
    return FakeFile(
        status,
        score,
        draw(modes),
        draw(modes),
        draw(shas),
        draw(shas),
        draw(path_bytes),
        draw(path_bytes) if renamed else None,
        counts[0] if counts else None,
        counts[1] if counts else None,
    )


@st.composite
def fake_commits(draw) -> dict:
    return {
        "sha": draw(shas),
        "parents": draw(st.lists(shas, max_size=3)),
        "fields": draw(st.lists(no_nul, min_size=8, max_size=8)),
        "message": draw(st.binary(max_size=80).map(lambda b: b.replace(b"\0", b""))),
        "files": draw(st.lists(fake_files(), max_size=5)),
    }


def render(commits: list[dict]) -> bytes:
    """What `git log -z --raw --numstat --format=LOG_FORMAT` prints for these commits."""
    out = []
    for c in commits:
        out.append(b"\x1e" + c["sha"].encode() + b"\0" + " ".join(c["parents"]).encode() + b"\0")
        out.append(b"".join(f + b"\0" for f in c["fields"]) + c["message"] + b"\0")
        if c["files"]:
            out.append(b"\n")
        for f in c["files"]:
            status = f.status + (f"{f.score:03d}" if f.score is not None else "")
            out.append(
                f":{f.old_mode} {f.new_mode} {f.old_blob} {f.new_blob} {status}".encode() + b"\0"
            )
            out.append((f.old_path + b"\0" if f.old_path is not None else b"") + f.path + b"\0")
        for f in c["files"]:
            counts = b"-\t-\t" if f.added is None else b"%d\t%d\t" % (f.added, f.deleted)
            if f.old_path is not None:
                out.append(counts + b"\0" + f.old_path + b"\0" + f.path + b"\0")
            else:
                out.append(counts + f.path + b"\0")
    return b"".join(out)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(st.lists(fake_commits(), max_size=4), st.lists(st.integers(0, 10**6), max_size=6))
def test_parse_log_reads_back_what_git_prints(commits, cuts):
    got = list(parse_log(chunked(render(commits), cuts)))
    assert [r.sha for r in got] == [c["sha"] for c in commits]
    for rec, c in zip(got, commits, strict=True):
        assert rec.parents == c["parents"]
        f = c["fields"]
        assert (
            rec.author_name,
            rec.author_email,
            rec.mailmap_author_name,
            rec.mailmap_author_email,
            rec.author_date,
            rec.committer_name,
            rec.committer_email,
            rec.committer_date,
        ) == tuple(f)
        assert rec.message == c["message"]
        assert [
            (
                r.status,
                r.similarity,
                r.old_mode,
                r.new_mode,
                r.old_blob,
                r.new_blob,
                r.path,
                r.old_path,
                r.added,
                r.deleted,
                r.is_binary,
            )
            for r in rec.files
        ] == [
            (
                x.status,
                x.score,
                x.old_mode,
                x.new_mode,
                x.old_blob,
                x.new_blob,
                x.path,
                x.old_path,
                x.added,
                x.deleted,
                x.added is None,
            )
            for x in c["files"]
        ]


@given(st.binary(max_size=300), st.lists(st.integers(0, 10**4), max_size=4))
def test_parse_log_on_garbage_yields_or_raises_log_parse_error(data, cuts):
    try:
        for rec in parse_log(chunked(data, cuts)):
            assert len(rec.sha) in (40, 64)
    except LogParseError:
        pass


@given(st.lists(fake_commits(), min_size=1, max_size=3), st.integers(1, 400))
def test_parse_log_on_a_truncated_stream_never_invents_a_commit(commits, cut):
    data = render(commits)
    cut = min(cut, len(data) - 1)
    try:
        got = list(parse_log([data[:cut]]))
    except LogParseError:
        return
    # every yielded commit is a true prefix commit; only the last may be cut short
    assert [r.sha for r in got] == [c["sha"] for c in commits][: len(got)]


# --- git log parser: round trips against real git ----------------------------------------------

name_text = st.text(
    st.characters(blacklist_characters="<>\n\0", blacklist_categories=("Cs",)), max_size=12
).map(str.strip)
odd_path = (
    st.lists(
        st.sampled_from(
            ["a", "b", "ü", " ", "\t", "\n", '"', "\\", "-", ":", "\x1e", "é", "x.py", "\x7f"]
        ),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(lambda s: s.strip("/") and not s.startswith(" ") and s not in (".", ".."))
)


@st.composite
def histories(draw) -> list[dict]:
    """A linear history: each commit adds, appends to, chmods, renames or deletes files.

    Contents carry a unique first line, so -M only ever pairs a rename with its own content and
    appending k lines is always numstat (k, 0)."""
    n = draw(st.integers(1, 5))
    files: dict[bytes, list[bytes]] = {}
    execs: set[bytes] = set()
    seq = 0
    commits = []
    for i in range(n):
        ops, expect = [], {}
        kind = draw(st.sampled_from(["add", "append", "chmod", "rename", "delete", "binary"]))
        if kind in ("append", "chmod", "rename", "delete") and not files:
            kind = "add"
        if kind in ("add", "binary"):
            for raw in draw(st.lists(odd_path, min_size=1, max_size=3, unique=True)):
                path = raw.encode("utf-8") + (b"\xff" if draw(st.booleans()) else b"")
                if path in files or any(p.startswith(path + b"/") for p in files):
                    continue
                seq += 1
                if kind == "binary":
                    body = [b"bin%d\0" % seq]
                    expect[path] = ("A", None, None)
                else:
                    body = [b"id %d\n" % seq] + [
                        b"l%d\n" % j for j in range(draw(st.integers(0, 4)))
                    ]
                    expect[path] = ("A", len(body), 0)
                files[path] = body
                ops.append((b"M", path))
        else:
            path = draw(st.sampled_from(sorted(files)))
            binary = b"\0" in files[path][0]
            if kind == "append":
                extra = [b"more %d\n" % j for j in range(draw(st.integers(1, 4)))]
                files[path] = files[path] + extra
                expect[path] = ("M", None if binary else len(extra), None if binary else 0)
                ops.append((b"M", path))
            elif kind == "chmod":
                execs ^= {path}
                expect[path] = ("M", None if binary else 0, None if binary else 0)
                ops.append((b"M", path))
            elif kind == "delete":
                expect[path] = ("D", None if binary else len(files[path]), None if binary else 0)
                del files[path]
                execs.discard(path)
                ops.append((b"D", path))
            else:
                new = draw(odd_path).encode() + b".moved%d" % i
                assume(
                    new not in files
                    and not any(p.startswith(new + b"/") or new.startswith(p + b"/") for p in files)
                )
                files[new] = files.pop(path)
                if path in execs:
                    execs.discard(path)
                    execs.add(new)
                expect[new] = ("R", None if binary else 0, None if binary else 0, path)
                ops.extend([(b"D", path), (b"M", new)])
        if kind == "delete":
            expect = {
                p: (s, d if s == "D" else a, a if s == "D" else d)
                for p, (s, a, d) in expect.items()
            }
        commits.append(
            {
                "author": draw(name_text).encode() or b"x",
                "email": draw(name_text).encode(),
                "epoch": draw(st.integers(0, 2**33)),
                "tz": draw(st.sampled_from([b"+0000", b"+1400", b"-1200", b"+0545", b"-0930"])),
                "message": draw(st.binary(max_size=60)).replace(b"\0", b"") + b"\n",
                "ops": [
                    (op, p, b"".join(files[p]) if op == b"M" else b"", p in execs) for op, p in ops
                ],
                "expect": expect,
            }
        )
    return commits


def _quote(path: bytes) -> bytes:
    """fast-import's C-style quoted path (any byte but NUL)."""
    out = b'"'
    for byte in path:
        ch = bytes([byte])
        out += (
            b"\\" + ch
            if ch in b'"\\'
            else (b"\\n" if ch == b"\n" else b"\\%03o" % byte if byte < 32 or byte > 126 else ch)
        )
    return out + b'"'


def build(git_dir: Path, commits: list[dict]) -> list[str]:
    stream = []
    for i, c in enumerate(commits, 1):
        who = c["author"] + b" <" + c["email"] + b"> %d " % c["epoch"] + c["tz"] + b"\n"
        stream.append(b"commit refs/heads/main\nmark :%d\nauthor " % i + who + b"committer " + who)
        stream.append(b"data %d\n" % len(c["message"]) + c["message"])
        for op, path, data, executable in c["ops"]:
            if op == b"D":
                stream.append(b"D " + _quote(path) + b"\n")
            else:
                mode = b"100755" if executable else b"100644"
                stream.append(
                    b"M "
                    + mode
                    + b" inline "
                    + _quote(path)
                    + b"\ndata %d\n" % len(data)
                    + data
                    + b"\n"
                )
        stream.append(b"\n")
    marks = git_dir / "marks"
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    subprocess.run(
        ["git", f"--git-dir={git_dir}", "fast-import", "--quiet", f"--export-marks={marks}"],
        input=b"".join(stream),
        check=True,
    )
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    return [by_mark[f":{i}"] for i in range(1, len(commits) + 1)]


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], deadline=None)
@given(histories())
def test_parse_log_round_trips_real_git_output(tmp_path_factory, commits):
    git_dir = tmp_path_factory.mktemp("rt") / "repo.git"
    built = build(git_dir, commits)
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", *LOG_ARGS], capture_output=True, check=True
    ).stdout
    got = {r.sha: r for r in parse_log([out])}
    assert list(got) == built[::-1]
    for i, (sha, c) in enumerate(zip(built, commits, strict=True)):
        rec = got[sha]
        assert rec.parents == ([built[i - 1]] if i else [])
        assert (rec.author_name, rec.author_email) == (c["author"], c["email"])
        assert rec.author_date == b"%d " % c["epoch"] + c["tz"]
        assert rec.message == c["message"]
        rows = {f.path: f for f in rec.files}
        assert set(rows) == set(c["expect"]), (rows, c["expect"])
        for path, want in c["expect"].items():
            f = rows[path]
            assert (f.status, f.added, f.deleted) == want[:3], (path, f)
            assert f.is_binary == (want[1] is None)
            if f.status == "R":
                assert f.old_path == want[3] and f.similarity == 100


# --- trailers -------------------------------------------------------------------------------

key_text = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,14}", fullmatch=True)
value_text = st.from_regex(r"[!-~][ -~]{0,30}", fullmatch=True).map(str.rstrip)
prose = (
    st.from_regex(r"[a-z][a-z ,.]{0,40}", fullmatch=True)
    .filter(lambda s: ":" not in s)
    .map(str.rstrip)
)


@given(st.text(max_size=300))
def test_trailers_never_fail_and_are_well_formed(message):
    for t in parse_trailers(message, ["co-authored-by"]):
        assert t.key == t.raw_key.lower() != ""
        assert t.raw_key in message
        assert "\n" not in t.value


@given(
    prose,
    st.lists(prose, max_size=3),
    st.lists(st.tuples(key_text, value_text), min_size=1, max_size=5),
)
def test_a_trailer_block_reads_back(title, body, trailers):
    message = (
        title
        + "\n\n"
        + ("\n".join(body) + "\n\n" if body else "")
        + "\n".join(f"{k}: {v}" for k, v in trailers)
        + "\n"
    )
    got = [(t.raw_key, t.value) for t in parse_trailers(message)]
    assert got == [(k, v.strip()) for k, v in trailers]


@given(
    prose,
    st.lists(st.tuples(key_text, value_text), min_size=1, max_size=4),
    st.sampled_from(["    ", "> ", "```\n"]),
)
def test_quoted_indented_or_fenced_trailers_do_not_count(title, trailers, wrap):
    block = "\n".join(f"{k}: {v}" for k, v in trailers)
    if wrap == "```\n":
        body = "```\n" + block + "\n```"
    else:
        body = "\n".join(wrap + line for line in block.split("\n"))
    assert parse_trailers(f"{title}\n\n{body}\n") == []


@given(
    st.lists(st.sampled_from(["trailer", "cont", "prose", "comment"]), min_size=1, max_size=6),
    st.lists(
        st.tuples(st.one_of(key_text, st.just("Signed-off-by")), value_text), min_size=6, max_size=6
    ),
    prose,
)
def test_trailer_block_agrees_with_git_interpret_trailers(kinds, pairs, title):
    """On one body paragraph (no fences, no squash paragraphs) we read what git reads."""
    lines = []
    for kind, (k, v) in zip(kinds, pairs, strict=False):
        lines.append(
            {
                "trailer": f"{k}: {v}",
                "cont": f" {v}",
                "prose": f"{v.replace(':', ' ')} text",
                "comment": f"# {v}",
            }[kind]
        )
    assume(not lines[0].startswith((" ", "#")))
    assume(not any(ln.startswith("---") for ln in lines))
    message = f"{title}\n\n" + "\n".join(lines) + "\n"
    git = subprocess.run(
        ["git", "-c", "core.commentChar=#", "interpret-trailers", "--parse"],
        input=message.encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    want = [ln.split(": ", 1) for ln in git.splitlines() if ln]
    got = [[t.raw_key, t.value] for t in parse_trailers(message)]
    assert got == [[k, v.strip()] for k, v in want]


# --- catalog matcher ------------------------------------------------------------------------

CATALOG = load_catalog()
identities = st.sampled_from(
    [
        "Claude <noreply@anthropic.com>",
        "Ada <ada@example.org>",
        "aider (gpt-4o) <aider@aider.chat>",
        "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
        "dependabot[bot] <x@y>",
    ]
)


@given(st.text(max_size=200), identities, identities)
def test_catalog_matcher_is_total_and_cites_no_message_text(message, author, committer):
    ev = CATALOG.commit_evidence(author, committer, message)
    for tool, channel, field, evidence in ev:
        assert tool in CATALOG.tools and channel in CHANNELS
        assert len(evidence) <= 200
        if channel in ("marker", "prefix"):  # labels from the catalog, never the line itself
            assert field in ("line", "subject") and evidence in {m[1] for m in CATALOG.markers} | {
                p[1] for p in CATALOG.prefixes
            }
    assert len(ev) == len(set(ev))


@given(
    prose,
    st.lists(prose, max_size=3),
    st.sampled_from(["Co-authored-by", "co-authored-by", "CO-AUTHORED-BY"]),
)
def test_co_author_trailer_is_found_whatever_the_body(title, body, key):
    message = (
        title
        + "\n\n"
        + "\n".join(body)
        + ("\n\n" if body else "")
        + f"{key}: Claude <noreply@anthropic.com>\n"
    )
    ev = CATALOG.commit_evidence("Ada <ada@example.org>", "Ada <ada@example.org>", message)
    assert ("claude-code", "co-author") in {(t, c) for t, c, _, _ in ev}


@given(prose, st.sampled_from(["    ", "> ", "\t"]))
def test_mentioned_co_author_is_no_evidence(title, indent):
    message = f"{title}\n\nExample of a trailer:\n\n{indent}Co-authored-by: Claude <noreply@anthropic.com>\n"
    assert CATALOG.commit_evidence("Ada <ada@example.org>", "Ada <ada@example.org>", message) == []
    assert all(not ln.startswith((" ", "\t", ">")) for ln in whole_lines(message))


# --- path-kind rules ------------------------------------------------------------------------

KINDS = diffs.file_kinds()
RULES = diffs._rules()[0]
segment = st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
paths = st.lists(segment, min_size=1, max_size=5).map("/".join)


@given(paths)
def test_every_path_gets_one_known_kind_case_insensitively(path):
    kind = diffs.file_kind(path)
    assert kind in KINDS
    assert diffs.file_kind(path.upper()) == kind == diffs.file_kind(path.lower())


@given(
    st.lists(segment, max_size=3),
    st.sampled_from(sorted(RULES[0].dirs)),
    st.lists(segment, max_size=2),
    segment,
)
def test_a_vendored_folder_anywhere_wins(before, vendored, after, name):
    assert diffs.file_kind("/".join([*before, vendored, *after, name])) == "vendored"


NAME_PATTERNS = sorted({pat for r in RULES for pat in r.names})


@st.composite
def rule_names(draw) -> str:
    """A basename made from one of the rules' own `names` globs (stars filled in)."""
    pat = draw(st.sampled_from(NAME_PATTERNS))
    parts = pat.split("*")
    fill = [draw(st.from_regex(r"[a-z0-9_]{0,5}", fullmatch=True)) for _ in parts[1:]]
    name = parts[0] + "".join(f + p for f, p in zip(fill, parts[1:], strict=True))
    return draw(st.sampled_from([name, name.upper(), name.capitalize()]))


@given(
    st.lists(st.from_regex(r"zq[a-z0-9]{0,6}", fullmatch=True), min_size=1, max_size=4),
    rule_names(),
)
def test_neutral_folders_do_not_change_a_name_rule(folders, name):
    """A basename decided by a `names` rule keeps its kind under folders no rule mentions."""
    base = name.lower()
    decided = next((r for r in RULES if r.matches(base, base, [])), None)
    assert decided is not None
    assume(not any(fnmatch.fnmatchcase(base, p) for r in RULES for p in r.paths))
    assert diffs.file_kind("/".join([*folders, name])) == decided.kind == diffs.file_kind(name)


# --- blame include/exclude globs ------------------------------------------------------------

glob_paths = st.lists(
    st.lists(
        st.sampled_from(["a", "b", "x.py", "[", "]", "*", "?", "-", "é", " "]),
        min_size=1,
        max_size=4,
    ).map("".join),
    min_size=0,
    max_size=8,
).map(lambda ps: ["/".join(p.split()) or "p" for p in ps])
globs = st.lists(
    st.sampled_from(["*", "*.py", "a*", "*/x.py", "[ab]*", "?", "[", "*]", "b/*", "**"]), max_size=3
)


@given(glob_paths, globs, globs)
def test_select_files_is_include_minus_exclude(paths_, include, exclude):
    got = select_files(paths_, include, exclude)
    inc = select_files(paths_, include, [])
    exc = set(select_files(paths_, exclude, [])) if exclude else set()
    assert got == [p for p in inc if p not in exc]  # order kept, exclude wins
    assert select_files(paths_, [], []) == paths_
    assert set(got) <= set(paths_)


@given(glob_paths.filter(bool), st.data())
def test_an_escaped_path_selects_exactly_itself(paths_, data):
    target = data.draw(st.sampled_from(paths_))
    assert select_files(paths_, [glob.escape(target)], []) == [p for p in paths_ if p == target]


@given(glob_paths)
def test_star_crosses_folders(paths_):
    assert select_files(paths_, ["*.py"], []) == [p for p in paths_ if p.endswith(".py")]


def test_profiles_are_registered():
    """`make fuzz` relies on the profile; a typo would silently run the default few examples."""
    from hypothesis import settings as s

    assert s.get_profile("fuzz").max_examples >= 10_000
