"""Stage `crawl`: one streamed `git log` per repository -> commits, file_changes, identities,
messages (tables in schema/00_crawl.sql).

Design: a worker streams git's own output (mining.gitlog) into Parquet files in a staging
folder, in bounded batches; the main process then swaps the repository's rows into DuckDB in one
transaction. So `--jobs N` crawls in parallel processes while DuckDB keeps one writer, memory stays
bounded by the batch size, and a crawl killed at any point leaves each repository as before or
fully updated. A second crawl only reads commits the database does not have yet.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mining import __version__, attribute, gitlog, store
from mining.errors import GitError, StrataError
from mining.logparse import CommitRecord
from mining.sources import Source, check_same_repository
from mining.vocabulary import IDENTITY_COLUMNS

BATCH_COMMITS = 20_000
_PR_SQUASH_RE = re.compile(r"\(#(\d+)\)\s*$")
_PR_MERGE_RE = re.compile(r"^Merge pull request #(\d+)")
SHA_TABLES_SKIP = {"repos", "runs", "strata_meta", "adoption_markers"}

_TS = pa.timestamp("us", tz="UTC")
COMMIT_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("sha", pa.string()),
        ("parents", pa.list_(pa.string())),
        ("is_merge", pa.bool_()),
        ("author_id", pa.string()),
        ("committer_id", pa.string()),
        ("authored_at", _TS),
        ("author_tz_offset", pa.int32()),
        ("committed_at", _TS),
        ("committer_tz_offset", pa.int32()),
        ("authored_epoch", pa.int64()),
        ("committed_epoch", pa.int64()),
        ("files_changed", pa.int32()),
        ("lines_added", pa.int64()),
        ("lines_deleted", pa.int64()),
        ("n_binary", pa.int32()),
        ("n_missing_blobs", pa.int32()),
        ("topo_index", pa.int32()),
        ("on_first_parent", pa.bool_()),
        ("integration_mode", pa.string()),
        ("pr_number", pa.int32()),
    ]
)
FILE_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("sha", pa.string()),
        ("path", pa.string()),
        ("old_path", pa.string()),
        ("change_type", pa.string()),
        ("similarity", pa.int16()),
        ("lines_added", pa.int32()),
        ("lines_deleted", pa.int32()),
        ("is_binary", pa.bool_()),
        ("blob_missing", pa.bool_()),
        ("old_mode", pa.string()),
        ("new_mode", pa.string()),
        ("old_blob", pa.string()),
        ("new_blob", pa.string()),
    ]
)
IDENTITY_SCHEMA = pa.schema([(c, pa.string()) for c in ("repo", "sha", *IDENTITY_COLUMNS)])
MESSAGE_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("sha", pa.string()),
        ("message", pa.string()),
        ("bad_utf8", pa.bool_()),
    ]
)
SCHEMAS = {
    "commits": COMMIT_SCHEMA,
    "file_changes": FILE_SCHEMA,
    "identities": IDENTITY_SCHEMA,
    "messages": MESSAGE_SCHEMA,
}


@dataclass
class CrawlTarget:
    """A resolved source plus what to crawl of it."""

    source: Source
    rev: str = "HEAD"
    tags: tuple[str, ...] = ()
    language: str | None = None
    role: str | None = None


@dataclass
class CrawlResult:
    """What one repository's crawl did (printed as the summary table)."""

    repo: str
    head_sha: str = ""
    n_commits: int = 0
    n_new: int = 0
    n_removed: int = 0
    n_file_changes: int = 0
    n_missing_blobs: int = 0
    seconds: float = 0.0
    error: str | None = None
    attributed: dict[str, int] = field(default_factory=dict)
    error_code: int = 1  # the error's exit code: 2 when the input was bad, 1 when the tool failed


@dataclass
class StagedRepo:
    """Parquet files a worker wrote for one repository, waiting to be swapped into DuckDB."""

    repo: str
    folder: Path
    head_sha: str
    all_shas: list[str]
    n_new: int
    n_missing_blobs: int
    seconds: float
    first_parent: list[str] = field(default_factory=list)


# --- identities, dates, text ----------------------------------------------------------------


def person_id(email: bytes | str, name: bytes | str = b"") -> str:
    """Stable pseudonymous id: hash of the lowercased, stripped email (name if no email)."""
    e = email.decode("utf-8", "replace") if isinstance(email, bytes) else email
    n = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
    key = e.strip().lower() or ("name:" + n.strip().lower())
    return hashlib.sha256(b"ai-strata/v1:" + key.encode("utf-8")).hexdigest()[:16]


def parse_git_date(raw: bytes) -> tuple[int | None, datetime | None, int | None]:
    """`--date=raw` ("<seconds> <+hhmm>") -> (epoch, UTC instant or None if out of range, offset min)."""
    parts = raw.split()
    try:
        epoch = int(parts[0])
    except (IndexError, ValueError):
        return None, None, None
    offset = None
    if len(parts) > 1 and re.fullmatch(rb"[+-]\d{4}", parts[1]):
        sign = -1 if parts[1][:1] == b"-" else 1
        offset = sign * (int(parts[1][1:3]) * 60 + int(parts[1][3:5]))
    try:
        when = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        when = None
    return epoch, when, offset


def decode_text(raw: bytes) -> tuple[str, bool]:
    """UTF-8 text and whether the bytes were invalid (then replaced with U+FFFD)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), True


def decode_path(raw: bytes) -> str:
    """Paths keep undecodable bytes visible and distinct as \\xNN escapes."""
    return raw.decode("utf-8", "backslashreplace")


def integration_of(is_merge: bool, on_first_parent: bool, subject: str) -> tuple[str, int | None]:
    """How a commit reached HEAD: squash_pr | merged_branch | merge | direct, and its PR number."""
    m = _PR_MERGE_RE.match(subject) or _PR_SQUASH_RE.search(subject)
    pr = int(m.group(1)) if m else None
    if pr is not None and pr > 2**31 - 1:
        pr = None
    if is_merge:
        return "merge", pr
    if not on_first_parent:
        return "merged_branch", pr
    if _PR_SQUASH_RE.search(subject):
        return "squash_pr", pr
    return "direct", pr


# --- worker: git -> parquet -----------------------------------------------------------------


class _Sink:
    """Row buffer for one table, flushed to a Parquet file every BATCH rows.

    Rows are kept as tuples and transposed at flush (zip in C), which is several times faster
    than appending each value to its column list.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.rows: list[tuple] = []
        self.writer: pq.ParquetWriter | None = None
        self.add = self.rows.append

    def flush(self) -> None:
        if not self.rows:
            return
        cols = list(zip(*self.rows, strict=True))
        table = pa.table(
            [pa.array(c, type=f.type) for c, f in zip(cols, self.schema, strict=True)],
            schema=self.schema,
        )
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table)
        self.rows.clear()

    def close(self) -> None:
        self.flush()
        if self.writer is None:
            pq.write_table(self.schema.empty_table(), self.path)
        else:
            self.writer.close()


def stage_repo(
    target: CrawlTarget,
    known: frozenset[str],
    staging_root: Path,
    on_commit: Callable[[int], None] | None = None,
) -> StagedRepo:
    """Worker: stream the repository's new commits into Parquet files under `staging_root`.

    Runs in a child process with --jobs > 1; touches no database.
    """
    t0 = time.perf_counter()
    src = target.source
    head = gitlog.resolve_head(src.git_dir, target.rev)
    # a first crawl reads head's whole history: look for absent blobs while it is listed
    absent_check = gitlog.start_absent_check(src.git_dir, [head]) if not known else None
    all_shas = gitlog.list_commits(src.git_dir, head)
    gitlog.check_not_shallow(src.git_dir, all_shas)
    first_parent = set(gitlog.list_commits(src.git_dir, head, first_parent=True))
    position = {s: i for i, s in enumerate(all_shas)}
    new = [s for s in all_shas if s not in known]
    folder = Path(tempfile.mkdtemp(prefix="crawl-", dir=staging_root))
    sinks = {name: _Sink(folder / f"{name}.parquet", schema) for name, schema in SCHEMAS.items()}
    repo = src.repo
    n_missing = 0
    n = 0
    for rec in gitlog.iter_commits(src.git_dir, new, mailmap_rev=head, absent_check=absent_check):
        if not rec.author_date.strip() or not rec.committer_date.strip():
            gitlog.fill_dates(src.git_dir, rec)
        n_missing += _emit(repo, rec, position, first_parent, sinks)
        n += 1
        if n % BATCH_COMMITS == 0:
            for s in sinks.values():
                s.flush()
        if on_commit is not None and n % 500 == 0:
            on_commit(500)
    for s in sinks.values():
        s.close()
    if on_commit is not None:
        on_commit(n % 500)
    if n != len(new):
        raise GitError(f"{src.git_dir}: git returned {n} of {len(new)} commits")
    return StagedRepo(
        repo,
        folder,
        head,
        all_shas,
        len(new),
        n_missing,
        time.perf_counter() - t0,
        sorted(first_parent),
    )


def _emit(
    repo: str,
    rec: CommitRecord,
    position: dict[str, int],
    first_parent: set[str],
    sinks: dict[str, _Sink],
) -> int:
    sha = rec.sha
    a_epoch, a_at, a_off = parse_git_date(rec.author_date)
    c_epoch, c_at, c_off = parse_git_date(rec.committer_date)
    message, bad = decode_text(rec.message.rstrip(b"\n"))
    names = [
        decode_text(x)[0]
        for x in (
            rec.author_name,
            rec.author_email,
            rec.committer_name,
            rec.committer_email,
            rec.mailmap_author_name,
            rec.mailmap_author_email,
        )
    ]
    is_merge = len(rec.parents) > 1
    on_fp = sha in first_parent
    mode, pr = integration_of(is_merge, on_fp, message.split("\n", 1)[0])
    added = deleted = n_bin = n_missing = 0
    fsink = sinks["file_changes"]
    for f in rec.files:
        if f.added is None and not f.is_binary and not f.blob_missing:
            f.blob_missing = True  # numstat never came for this row
        added += f.added or 0
        deleted += f.deleted or 0
        n_bin += f.is_binary
        n_missing += f.blob_missing
        fsink.add(
            (
                repo,
                sha,
                decode_path(f.path),
                decode_path(f.old_path) if f.old_path is not None else None,
                f.status,
                f.similarity,
                f.added,
                f.deleted,
                f.is_binary,
                f.blob_missing,
                f.old_mode,
                f.new_mode,
                f.old_blob,
                f.new_blob,
            )
        )
    sinks["commits"].add(
        (
            repo,
            sha,
            rec.parents,
            is_merge,
            person_id(rec.mailmap_author_email, rec.mailmap_author_name),
            person_id(rec.committer_email, rec.committer_name),
            a_at,
            a_off,
            c_at,
            c_off,
            a_epoch,
            c_epoch,
            len(rec.files),
            added,
            deleted,
            n_bin,
            n_missing,
            position.get(sha, -1),
            on_fp,
            mode,
            pr,
        )
    )
    sinks["identities"].add((repo, sha, *names))
    sinks["messages"].add((repo, sha, message, bad))
    return n_missing


# --- main process: parquet -> DuckDB --------------------------------------------------------


def sha_keyed_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table keyed by (repo, sha): the rows to drop when a commit leaves the history."""
    return [t for t in store.tables_with(con, "repo", "sha") if t not in SHA_TABLES_SKIP]


def known_shas(con: duckdb.DuckDBPyConnection, repo: str) -> frozenset[str]:
    return frozenset(
        r[0] for r in con.execute("SELECT sha FROM commits WHERE repo = ?", [repo]).fetchall()
    )


def load_staged(
    con: duckdb.DuckDBPyConnection, staged: StagedRepo, target: CrawlTarget, known: frozenset[str]
) -> CrawlResult:
    """Swap one repository's staged rows into the database in a single transaction."""
    repo = staged.repo
    stale = sorted(known - set(staged.all_shas))
    with store.transaction(con):
        if stale:
            for table in sha_keyed_tables(con):
                store.replace_repo_rows(
                    con, table, repo, pa.table({"repo": pa.array([], pa.string())}), shas=stale
                )
        for name in SCHEMAS:
            path = staged.folder / f"{name}.parquet"
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM read_parquet(?)', [str(path)])  # noqa: S608 - fixed names
        if known:
            refresh_positions(con, staged)
        n_commits, n_files, n_missing = store.one_row(
            con,
            "SELECT count(*), coalesce(sum(files_changed), 0), coalesce(sum(n_missing_blobs), 0) FROM commits WHERE repo = ?",
            [repo],
        )
        con.execute("DELETE FROM repos WHERE repo = ?", [repo])
        con.execute(
            "INSERT INTO repos (repo, source, git_dir, rev, head_sha, crawled_at, n_commits, n_file_changes, "
            "n_missing_blobs, tags, strata_version, language, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                repo,
                target.source.source,
                str(target.source.git_dir),
                target.rev,
                staged.head_sha,
                datetime.now(UTC),
                n_commits,
                n_files,
                n_missing,
                list(target.tags),
                __version__,
                target.language,
                target.role,
            ],
        )
        attributed = attribute.attribute_repo(con, repo)  # same transaction: all or nothing
    shutil.rmtree(staged.folder, ignore_errors=True)
    return CrawlResult(
        repo,
        staged.head_sha,
        n_commits,
        staged.n_new,
        len(stale),
        n_files,
        n_missing,
        staged.seconds,
        attributed=attributed,
    )


def refresh_positions(con: duckdb.DuckDBPyConnection, staged: StagedRepo) -> None:
    """New commits shift every stored commit's topo_index (and may change which lie on the first
    parent chain): rewrite them so that an incremental crawl equals a fresh one."""
    fp = set(staged.first_parent)
    pos = pa.table(
        {
            "sha": pa.array(staged.all_shas, pa.string()),
            "topo_index": pa.array(range(len(staged.all_shas)), pa.int32()),
            "on_first_parent": pa.array([s in fp for s in staged.all_shas], pa.bool_()),
        }
    )
    con.register("_strata_pos", pos)
    try:
        moved = con.execute(
            "SELECT c.sha, c.is_merge, p.on_first_parent, m.message FROM commits c JOIN _strata_pos p USING (sha) "
            "LEFT JOIN messages m ON m.repo = c.repo AND m.sha = c.sha "
            "WHERE c.repo = ? AND c.on_first_parent IS DISTINCT FROM p.on_first_parent",
            [staged.repo],
        ).fetchall()
        con.execute(
            "UPDATE commits SET topo_index = p.topo_index, on_first_parent = p.on_first_parent FROM _strata_pos p "
            "WHERE commits.repo = ? AND commits.sha = p.sha AND (commits.topo_index IS DISTINCT FROM p.topo_index "
            "OR commits.on_first_parent IS DISTINCT FROM p.on_first_parent)",
            [staged.repo],
        )
        for sha, is_merge, on_fp, message in moved:
            mode, _ = integration_of(is_merge, on_fp, (message or "").split("\n", 1)[0])
            con.execute(
                "UPDATE commits SET integration_mode = ? WHERE repo = ? AND sha = ?",
                [mode, staged.repo, sha],
            )
    finally:
        con.unregister("_strata_pos")


def crawl(
    db: str | Path,
    targets: Sequence[CrawlTarget],
    *,
    jobs: int = 1,
    progress: Callable[[str, int], None] | None = None,
    on_result: Callable[[CrawlResult], None] | None = None,
) -> list[CrawlResult]:
    """Crawl every target into `db`; each repository commits alone (resumable per repository).

    `progress(kind, n)` receives ("commits", n) as commits stream (jobs=1) and ("repo", 1) per
    finished repository. A repository that fails is reported in its CrawlResult.error and the
    database keeps its previous rows for it; other repositories continue.
    """
    names = [t.source.repo for t in targets]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise StrataError(
            f"two sources map to the same repository key {sorted(dup)}; name them in a corpus manifest"
        )
    con = store.connect(db)
    results: list[CrawlResult] = []
    try:
        staging_root = store.crawl_staging(db)
    except BaseException:
        con.close()
        raise
    try:
        with store.run_record(con, "crawl", json.dumps(names)) as run_id:
            for t in targets:
                check_same_repository(con, t.source)
            knowns = {t.source.repo: known_shas(con, t.source.repo) for t in targets}

            def finish(
                target: CrawlTarget, staged: StagedRepo | None, err: BaseException | None
            ) -> None:
                if err is not None:
                    res = CrawlResult(
                        target.source.repo, error=str(err), error_code=getattr(err, "exit_code", 1)
                    )
                else:
                    assert staged is not None
                    res = load_staged(con, staged, target, knowns[target.source.repo])
                results.append(res)
                if on_result:
                    on_result(res)
                if progress:
                    progress("repo", 1)

            if jobs <= 1 or len(targets) <= 1:
                for t in targets:
                    cb = (lambda k: progress("commits", k)) if progress else None
                    try:
                        staged = stage_repo(t, knowns[t.source.repo], staging_root, cb)
                    except StrataError as exc:
                        finish(t, None, exc)
                        continue
                    finish(t, staged, None)
            else:
                with ProcessPoolExecutor(max_workers=jobs) as pool:
                    futs = {
                        pool.submit(stage_repo, t, knowns[t.source.repo], staging_root): t
                        for t in targets
                    }
                    for fut in as_completed(futs):
                        t = futs[fut]
                        try:
                            staged = fut.result()
                        except StrataError as exc:
                            finish(t, None, exc)
                            continue
                        finish(t, staged, None)
            failed = [f"{r.repo}: {r.error}" for r in results if r.error]
            if failed:
                store.mark_run(con, run_id, "failed", "; ".join(failed))
    finally:
        con.close()
        shutil.rmtree(staging_root, ignore_errors=True)
    order = {n: i for i, n in enumerate(names)}
    return sorted(results, key=lambda r: order[r.repo])
