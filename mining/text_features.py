"""What the layer model reads besides `commit_features`: cleaned message text, path tokens, diff
tokens, ratios.

Why a module of its own: the message, the touched paths and the changed lines are text, so they
cannot live in the content-free `commit_features` table or in `data/labels/features.parquet`.
They are read at the moment of fitting or classifying, from git (`commit_texts`) or from a
crawled database's `messages`, `file_changes` and `commit_diff_tokens` tables (`texts_from_db`;
the last is written by the features stage and, like messages, never released). The message goes
through `features.clean_message` first, so trailers and attribution markers never reach a model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from mining import store
from mining.diffs import CommitDiff, file_kind, iter_commit_diffs
from mining.errors import GitError, SourceError, StageError
from mining.features import clean_message
from mining.gitcmd import resolve_git_dir, run_git, stream_each_commit
from mining.vocabulary import (
    DIFF_TEXT_COLUMNS,
    DIFF_TOKENS_VERSION,
    MESSAGE_TEXT_COLUMNS,
    TEXT_COLUMNS,
)

_SPLIT = re.compile(r"[/._\-\s]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def path_tokens(changes: Iterable[tuple[str, str]]) -> str:
    """One document of tokens for a commit's touched paths: (status letter, path) pairs.

    Directory and file-name words (snake, kebab and camel case split, lowercased), the extension
    as `ext_<x>`, the change status as `st_<A|D|R|M>` and their pairs `A_ext_<x>`, so a linear
    model can tell "added a new .proto" from "edited a .md".
    """
    out: list[str] = []
    for status, path in changes:
        st = (status or "M")[:1].upper()
        parts = path.split("/")
        name = parts[-1]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name.strip(".") else "none"
        words = []
        for part in parts:
            for w in _SPLIT.split(_CAMEL.sub(" ", part)):
                if w and not w.isdigit():
                    words.append(w.lower())
        out.extend(words)
        out.extend([f"ext_{ext}", f"st_{st}", f"{st}_ext_{ext}", f"depth_{min(len(parts), 6)}"])
    return " ".join(out)


#: a diff token document's caps: tokens per file and per commit, in patch order
DIFF_TOKENS_PER_FILE = 300
DIFF_TOKENS_PER_COMMIT = 3000
#: file kinds whose lines a tool wrote: their content says nothing the path block does not
DIFF_SKIP_KINDS = frozenset({"lockfile", "generated", "vendored"})
_COMMENT_STARTS = ("#", "//", "/*", "*", "--", "<!--", ";")
#: "..." or '...' with backslash escapes, or `...`: the unrolled form of `"(?:[^"\\]|\\.)*"`,
#: the same matches at twice the speed on long literals (no alternation per character)
_STRING = re.compile(r"\"[^\"\\]*(?:\\.[^\"\\]*)*\"|'[^'\\]*(?:\\.[^'\\]*)*'|`[^`]*`")
_NUMBER = re.compile(r"(?<![\w$])\d[\w.]*")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_DIGIT = re.compile(r"\d")  # where `_NUMBER` can match: found faster than its lookbehind


def line_tokens(line: str) -> list[str]:
    """Tokens of one added or removed line, unsigned: `CMT` for a comment line; else `STR` per
    string literal (contents unread), `NUM` per number, and identifier sub-words (camel, snake,
    kebab split, lowercased, 2+ characters, not all digits), so a changed literal and a new name
    look apart."""
    return list(_line_tokens(line))


@lru_cache(maxsize=1 << 16)
def _line_tokens(line: str) -> tuple[str, ...]:
    """`line_tokens`, remembered: a history's diffs repeat their lines (closing brackets, a
    fixture's records; crush: 86k distinct of 193k tokenised per 1,000 commits)."""
    text = line.strip()
    if not text:
        return ()
    if text.startswith(_COMMENT_STARTS):
        return ("CMT",)
    out: list[str] = []
    if '"' in text or "'" in text or "`" in text:  # else no string to find, faster said
        text, n = _STRING.subn(" ", text)
        out.extend(["STR"] * n)
    if _DIGIT.search(text):
        text, n = _NUMBER.subn(" ", text)
        out.extend(["NUM"] * n)
    for word in _WORD.findall(text):
        out.extend(_subwords(word))
    return tuple(out)


@lru_cache(maxsize=1 << 16)
def _subwords(word: str) -> tuple[str, ...]:
    """An identifier's sub-words as `line_tokens` keeps them, remembered: identifiers repeat
    (crush: 22k distinct of 1.9M words per 1,000 commits)."""
    parts = _SPLIT.split(_CAMEL.sub(" ", word))
    return tuple(w.lower() for w in parts if len(w) > 1 and not w.isdigit())


def diff_tokens(c: CommitDiff, net: bool = True) -> str:
    """One document of a commit's added (`+tok`) and removed (`-tok`) line tokens (`line_tokens`)
    for a linear model, bounded (DIFF_TOKENS_PER_FILE, DIFF_TOKENS_PER_COMMIT), written as its
    bag: distinct tokens sorted, `tok*n` for a token seen n > 1 times (`token_counts` reads it
    back). A bag is all a TF-IDF of single tokens reads, and it is a quarter of the stream's size
    in `commit_diff_tokens`.

    `net` (the shipped definition; experiments/diff_tokens.md measured both): inside each hunk a
    token on both sides counts only by its surplus, so an edited line's unchanged context
    cancels. Binary files and DIFF_SKIP_KINDS are left out.
    """
    out: list[str] = []
    for f in c.files:
        if f.is_binary or file_kind(f.path) in DIFF_SKIP_KINDS:
            continue
        room = min(DIFF_TOKENS_PER_FILE, DIFF_TOKENS_PER_COMMIT - len(out))
        if room <= 0:
            break
        toks: list[str] = []
        for h in f.hunks:
            free = room - len(toks)  # only these are kept: sign and read no more
            left_plus = left_minus = None
            if net and h.added and h.removed:
                left_plus, left_minus = _net_counts(h.added, h.removed)
            plus = _first_tokens(h.added, free, left_plus)
            minus = _first_tokens(h.removed, free - len(plus), left_minus)
            toks.extend([f"+{t}" for t in plus])
            toks.extend([f"-{t}" for t in minus])
            if len(plus) + len(minus) >= free:  # the file's cap is reached
                break
        out.extend(toks)
    return " ".join(f"{t}*{n}" if n > 1 else t for t, n in sorted(Counter(out).items()))


def token_counts(doc: str) -> list[str]:
    """The tokens of a `diff_tokens` document, each repeated by its count: the analyzer of the
    diff block's TF-IDF (a module-level function, so a fitted model pickles by reference)."""
    out: list[str] = []
    for item in doc.split():
        token, _, n = item.partition("*")
        out.extend([token] * (int(n) if n else 1))
    return out


def _net_counts(added: list[str], removed: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Each token's surplus of a hunk's added over its removed lines, and the reverse (`net`).

    Lines on both sides cancel whole before any is tokenised: a token's surplus is the
    difference of its counts, which lines found on both sides change alike (a regenerated
    fixture repeats most of its lines; crush's recorded test data above all).
    """
    on_added, on_removed = Counter(added), Counter(removed)
    diff: dict[str, int] = {}
    for lines, other, sign in ((on_added, on_removed, 1), (on_removed, on_added, -1)):
        for line, k in lines.items():
            k -= other.get(line, 0)
            if k > 0:
                for t in _line_tokens(line):
                    diff[t] = diff.get(t, 0) + sign * k
    return {t: n for t, n in diff.items() if n > 0}, {t: -n for t, n in diff.items() if n < 0}


def _first_tokens(lines: list[str], want: int, left: dict[str, int] | None = None) -> list[str]:
    """The first `want` tokens of `lines`, in order; with `left`, only the first `left[t]`
    occurrences of each token t (its surplus: the first ones are kept). Lines past the cap are
    never tokenised."""
    out: list[str] = []
    if want <= 0:
        return out
    for line in lines:
        if left is None:
            out.extend(_line_tokens(line))
        else:
            for t in _line_tokens(line):
                k = left.get(t, 0)
                if k > 0:
                    left[t] = k - 1
                    out.append(t)
        if len(out) >= want:
            return out[:want]
    return out


def diff_texts(c: CommitDiff) -> dict[str, str] | None:
    """`message_path_texts`' msg_text and path_text of a commit, from its parsed patch; None when
    the patch cannot tell them exactly (then read them with `message_path_texts`).

    The patch lists the files `--name-status` lists, in its order, except that git prints a
    type change (file to symlink, ...) as a deletion and an addition of the same path. It cannot
    tell: a message line cut at MAX_LINE_BYTES, a path with undecodable bytes (escaped as
    `\\xNN` here, U+FFFD there), a commit whose patch git could not produce.
    """
    if c.incomplete or c.message_cut:
        return None
    changes: list[tuple[str, str]] = []
    for f in c.files:
        if "\\" in f.path:
            return None
        if f.change_type == "A" and changes and changes[-1] == ("D", f.path):
            changes[-1] = ("T", f.path)
        else:
            changes.append((f.change_type, f.path))
    return {"msg_text": clean_message(c.message), "path_text": path_tokens(changes)}


def add_texts(
    rows: list[dict],
    commits: list[CommitDiff],
    git_dir: str | Path,
    columns: Sequence[str] = TEXT_COLUMNS,
) -> None:
    """Put the text `columns` into the feature rows of `commits` (same order), only those: the
    diff tokens from the patches; the message and path texts from the patches (`diff_texts`), or
    from git for the commits whose patch cannot tell."""
    told = [k for k in columns if k not in DIFF_TEXT_COLUMNS]
    missing: dict[str, dict] = {}
    for row, c in zip(rows, commits, strict=True):
        if DIFF_TEXT_COLUMNS[0] in columns:
            row["diff_text"] = diff_tokens(c)
        texts = diff_texts(c) if told else {}
        if texts is None:
            missing[c.sha] = row
        else:
            row.update({k: texts[k] for k in told})
    if missing:
        for text in message_path_texts(git_dir, list(missing)).to_dict("records"):
            missing[text["sha"]].update({k: text[k] for k in told})


def commit_texts(git_dir: str | Path, shas: list[str]) -> pd.DataFrame:
    """sha and TEXT_COLUMNS of listed commits, from git: `message_path_texts` and the diff tokens
    of one patch stream (`diff_documents`)."""
    texts = message_path_texts(git_dir, shas)
    if texts.empty:
        return pd.DataFrame(columns=["sha", *TEXT_COLUMNS])
    docs = diff_documents(git_dir, list(texts["sha"]))
    out = texts.merge(docs, on="sha", how="left").fillna({"diff_text": ""})
    return out[["sha", *TEXT_COLUMNS]]


def diff_documents(git_dir: str | Path, shas: list[str]) -> pd.DataFrame:
    """sha, diff_text (`diff_tokens`) of listed commits, in order, from one `git log -p`."""
    gd = resolve_git_dir(git_dir)
    rows = [{"sha": c.sha, "diff_text": diff_tokens(c)} for c in iter_commit_diffs(gd, shas)]
    return pd.DataFrame(rows, columns=["sha", "diff_text"])


def message_path_texts(git_dir: str | Path, shas: list[str]) -> pd.DataFrame:
    """sha, msg_text (cleaned message), path_text (path_tokens) for listed commits, from git.

    Rename detection (-M) reads blobs; in a partial clone some are missing and git stops. Then
    the commit it stopped at is read alone, without rename detection if it still fails (its
    renames become a delete and an add), and the stream resumes after it
    (`gitcmd.stream_each_commit`, as the feature stage does for patches).
    """
    columns = ["sha", "msg_text", "path_text"]
    gd = resolve_git_dir(git_dir)
    shas = [s.strip() for s in shas if s.strip()]
    if not shas:
        return pd.DataFrame(columns=columns)
    rows = stream_each_commit(gd, _text_args("-M"), shas, _text_records, lambda s: _alone(gd, s))
    return pd.DataFrame(list(rows), columns=columns)


#: a commit's record in the `_text_args` stream: start, sha, message, then its `--name-status -z`
#: list. Two NULs never occur in a message (git stops a message at a NUL) nor inside a `-z`
#: list (no field is empty), so no message text or path can fake a record's start.
_REC, _MSG, _FILES = b"\x00\x00S", b"\x00\x00B", b"\x00\x00E"


def _text_args(renames: str) -> list[str]:
    return [
        "log",
        "--no-walk=unsorted",
        "--stdin",
        renames,
        "--name-status",
        "-z",
        "--format=%x00%x00S%H%x00%x00B%B%x00%x00E",
    ]


def _alone(git_dir: Path, sha: str) -> dict[str, str]:
    """One commit's texts, without rename detection if git cannot compute it."""
    stdin = (sha + "\n").encode()
    try:
        proc = run_git(git_dir, _text_args("-M"), input=stdin)
    except GitError:
        proc = run_git(git_dir, _text_args("--no-renames"), input=stdin)
    return next(_text_records(iter([proc.stdout])))


def _text_records(chunks: Iterable[bytes]) -> Iterator[dict[str, str]]:
    """The rows of a `_text_args` stream, each yielded once the next record begins (or the
    stream ends whole): a record cut off by git stopping is never yielded. A record's start may
    straddle two chunks, so each chunk is searched together with the end of the one before."""
    parts: list[bytes] = []
    tail = b""
    for chunk in chunks:
        if _REC not in tail + chunk:
            parts.append(chunk)
            tail = (tail + chunk)[-(len(_REC) - 1) :]
            continue
        *records, rest = b"".join([*parts, chunk]).split(_REC)
        for record in records:
            if record:
                yield _text_row(record)
        parts, tail = [rest], rest[-(len(_REC) - 1) :]
    if any(parts):
        yield _text_row(b"".join(parts))


def _text_row(record: bytes) -> dict[str, str]:
    head, _, rest = record.partition(_MSG)
    message, _, files = rest.partition(_FILES)
    return {
        "sha": head.decode().strip(),
        "msg_text": clean_message(message.decode("utf-8", "replace")),
        "path_text": path_tokens(_name_status(files.decode("utf-8", "replace"))),
    }


def _name_status(raw: str) -> list[tuple[str, str]]:
    """Parse `--name-status -z` output: status NUL path [NUL new path for R/C] ..."""
    items = [x.strip("\n") for x in raw.split("\x00")]
    items = [x for x in items if x]
    out = []
    i = 0
    while i < len(items):
        status = items[i]
        width = 3 if status[:1] in ("R", "C") else 2
        if i + width - 1 < len(items):
            out.append((status, items[i + width - 1]))
        i += width
    return out


def texts_from_db(
    con: duckdb.DuckDBPyConnection,
    repo: str,
    shas: list[str],
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The same texts (`columns` of TEXT_COLUMNS, default all) from a crawled database.

    StageError when a text's source is missing: the messages table is empty (a released database
    ships without messages: they stay on the crawling machine), or a commit has no row in
    `commit_diff_tokens` (the features stage writes them; a release has none either).
    """
    columns = list(TEXT_COLUMNS if columns is None else columns)
    out = pd.DataFrame({"sha": shas})
    if set(MESSAGE_TEXT_COLUMNS) & set(columns):
        have = con.execute("SELECT count(*) FROM messages WHERE repo = ?", [repo]).fetchone()
        if not have or not have[0]:
            raise StageError(
                f"{repo}: no commit messages in this database (a released database has none); "
                "the full layer model reads messages: classify on a crawled database, or use "
                "--model diff-only"
            )
        msgs = con.execute("SELECT sha, message FROM messages WHERE repo = ?", [repo]).df()
        msgs["msg_text"] = msgs["message"].map(clean_message)
        out = out.merge(msgs[["sha", "msg_text"]], on="sha", how="left")
    if "path_text" in columns:
        files = con.execute(
            "SELECT sha, change_type, path FROM file_changes WHERE repo = ? ORDER BY sha, path",
            [repo],
        ).df()
        paths = (
            files.groupby("sha")[["change_type", "path"]]
            .apply(lambda g: path_tokens(zip(g["change_type"], g["path"], strict=True)))
            .rename("path_text")
            .reset_index()
            if len(files)
            else pd.DataFrame(columns=["sha", "path_text"])
        )
        out = out.merge(paths, on="sha", how="left")
    if "diff_text" in columns:
        docs = con.execute(
            "SELECT sha, diff_text FROM commit_diff_tokens WHERE repo = ? AND tokens_version = ?",
            [repo, DIFF_TOKENS_VERSION],
        ).df()
        lacking = len(set(shas) - set(docs["sha"]))
        if lacking:
            raise StageError(
                f"{repo}: {lacking} commits have no diff tokens (version {DIFF_TOKENS_VERSION}) "
                "in this database; `strata features` writes them from the repository (a released "
                "database has none: its commit_layers already hold both models' layers)"
            )
        out = out.merge(docs, on="sha", how="left")
    return out.fillna(dict.fromkeys(columns, ""))[["sha", *columns]]


def diff_tokens_stage(
    con: duckdb.DuckDBPyConnection,
    repo: str,
    git_dir: str | Path,
    batch: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Write `commit_diff_tokens` for `repo`'s featured commits that lack the current version.

    Part of the features stage, for commits it featured before diff tokens existed (it writes
    the tokens of the commits it features itself): one patch stream, no blob reads, each
    batch in its own transaction (resumable), so a database featured before diff tokens existed
    gets them without recomputing its features. Local only: the release never exports them.
    """
    shas = [
        r[0]
        for r in con.execute(
            "SELECT f.sha FROM commit_features f JOIN commits c ON c.repo = f.repo AND c.sha = f.sha "
            "WHERE f.repo = $repo AND f.sha NOT IN (SELECT sha FROM commit_diff_tokens "
            "WHERE repo = $repo AND tokens_version = $version) ORDER BY c.topo_index",
            {"repo": repo, "version": DIFF_TOKENS_VERSION},
        ).fetchall()
    ]
    return store.write_repo_batches(
        con,
        "commit_diff_tokens",
        repo,
        shas,
        lambda part: diff_documents(git_dir, part),
        ("tokens_version", DIFF_TOKENS_VERSION),
        batch,
        progress,
    )


def labelled_texts(labels: pd.DataFrame, mirrors: dict[str, str]) -> pd.DataFrame:
    """repo, sha and texts of labelled commits, read from their mirrors (kept in memory only)."""
    frames = []
    for repo, group in labels.groupby("repo", sort=True):
        if repo not in mirrors or not Path(mirrors[repo]).exists():
            raise SourceError(
                f"{repo}: no mirror found (set STRATA_MIRRORS, data/labels/repos.toml or --mirrors);"
                " the layer model reads commit messages and paths from it"
            )
        t = commit_texts(mirrors[repo], list(group["sha"]))
        t.insert(0, "repo", repo)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


# --- structure relative to size --------------------------------------------------------------

#: the definitions a change touches: added, removed, re-signed, bodies changed in parsed files,
#: and (features version 4) the files whose change stays inside bodies, unparsed: one each
_DEFS_TOUCHED = (
    "syn_defs_added",
    "syn_defs_removed",
    "syn_defs_signature_changed",
    "syn_defs_body_changed",
    "syn_files_body_only",
)
#: name -> (numerator columns, denominator columns); value = sum(num) / (sum(den) + 1)
RATIOS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "r_added_files": (("n_added",), ("n_files",)),
    "r_deleted_files": (("n_deleted",), ("n_files",)),
    "r_renamed_files": (("n_renamed",), ("n_files",)),
    "r_new_dirs": (("n_new_dirs", "n_removed_dirs"), ("n_files",)),
    "r_markers": (("n_package_markers_added", "n_package_markers_deleted"), ("n_files",)),
    "r_pkgs_per_file": (("n_pkgs",), ("n_files",)),
    "r_top_per_file": (("n_top_dirs",), ("n_files",)),
    "r_cross_moves": (("n_cross_pkg_moves", "n_cross_top_moves"), ("n_files",)),
    "r_source_added": (("n_source_added", "n_source_deleted"), ("n_source",)),
    "r_lines_added": (("lines_added",), ("churn",)),
    "r_defs_added": (("syn_defs_added",), _DEFS_TOUCHED),
    "r_defs_removed": (("syn_defs_removed",), _DEFS_TOUCHED),
    "r_defs_signature": (("syn_defs_signature_changed",), _DEFS_TOUCHED),
    "r_public_changed": (
        ("syn_public_added", "syn_public_removed", "syn_public_signature_changed"),
        _DEFS_TOUCHED,
    ),
    "r_types": (("syn_types_added", "syn_types_removed"), ("syn_defs_added", "syn_defs_removed")),
    "r_defs_per_100_lines": (("syn_defs_added", "syn_defs_removed"), ("churn",)),
    "r_test_vs_source": (("churn_test",), ("churn_source", "churn_test")),
    "r_contract": (("churn_contract",), ("churn",)),
    "r_hunks_per_file": (("n_hunks",), ("n_files",)),
}
RATIO_COLUMNS = list(RATIOS)


def ratio_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Structure relative to the change's size, so a model is not left with size alone."""
    cols = list(dict.fromkeys(c for num, den in RATIOS.values() for c in (*num, *den)))
    values = frame[cols].to_numpy(np.float64)  # one conversion, not one per ratio and side
    at = {c: k for k, c in enumerate(cols)}
    out = {}
    for name, (num, den) in RATIOS.items():
        n = np.nansum(values[:, [at[c] for c in num]], axis=1)  # NaN counts as 0, as in pandas
        d = np.nansum(values[:, [at[c] for c in den]], axis=1)
        scale = 100.0 if name == "r_defs_per_100_lines" else 1.0
        out[name] = scale * n / (d + 1.0)
    return pd.DataFrame(out, index=frame.index).astype(np.float64)
