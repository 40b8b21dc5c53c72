"""`strata build`: crawl -> attribute -> features -> classify for every corpus repository.

Design: each repository is one task that builds into its own DuckDB file, the *partition*
(`<staging>/<owner+name>/partition.duckdb`). Only the main process writes the study database: it
attaches a finished partition read-only, swaps its rows in with one transaction and records the
repository in `build_state`. Data is staged once (git -> the crawl's Parquet batches -> the
partition -> the study database), never exported again. So tasks run in parallel processes
(`--jobs`) or on a dask.distributed cluster (`--scheduler`) while DuckDB keeps one writer, and a
build killed at any point resumes with the repositories it had not finished (partitions already
written are merged, not rebuilt).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from mining import store
from mining.crawl import CrawlTarget, crawl
from mining.errors import StrataError
from mining.gitcmd import run_git
from mining.gitlog import resolve_head

#: tables never copied between databases: bookkeeping of the database that holds them.
LOCAL_TABLES = {"runs", "strata_meta", "build_state"}
#: written last into a partition folder: a folder without it is a task that did not finish
OUTCOME_FILE = "_outcome.json"
#: the task's database: the partition the main process merges
PARTITION_DB = "partition.duckdb"


@dataclass
class RepoOutcome:
    """What one repository's task did: counts, per-stage seconds, skipped commits and why."""

    repo: str
    rev: str = ""
    head_sha: str = ""
    features_version: str = ""
    model_version: str | None = None
    n_commits: int = 0
    n_merges: int = 0
    n_featured: int = 0
    n_classified: int = 0
    n_ai_commits: int = 0
    crawl_seconds: float = 0.0
    features_seconds: float = 0.0
    classify_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    status: str = "built"  # built | up-to-date | classified | partial (crawled only) | failed

    @property
    def seconds(self) -> float:
        return self.crawl_seconds + self.features_seconds + self.classify_seconds


# --- the per-repository task (runs in a worker; touches no shared database) ------------------


def repo_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table with a `repo` column: what a repository's partition holds."""
    return [t for t in store.tables_with(con, "repo") if t not in LOCAL_TABLES]


def current_model(model_dir: str | Path | None = None) -> tuple[Any, str | None]:
    """The classifier if one is installed, else (None, reason): a build without a model still
    crawls and features, and a later build fills in the layers."""
    from mining import classify

    try:
        return classify.load_model(model_dir), None
    except StrataError as exc:
        return None, str(exc)


def build_repo(
    target: CrawlTarget, out_dir: str | Path | None = None, model_dir: str | Path | None = None
) -> dict[str, Any]:
    """Task: build one repository into its own database, the partition (`PARTITION_DB`).

    With `out_dir` the partition is built in that folder (shared filesystem) and OUTCOME_FILE is
    written last; without it (dask workers on other machines) the database file's bytes are
    returned under "files" for the client to write. Returns the RepoOutcome as a dict (plain
    data, so it crosses process and network borders). A failed task leaves no folder behind.
    """
    from mining import features

    repo = target.source.repo
    out = RepoOutcome(repo, rev=target.rev, features_version=features.FEATURES_VERSION)
    work = Path(tempfile.mkdtemp(prefix="strata-build-"))
    folder = Path(out_dir) if out_dir else work
    if out_dir:  # a task killed earlier may have left a partial partition here
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    try:
        db = folder / PARTITION_DB
        if not _crawl_into(db, target, out):
            return asdict(out)
        con = store.connect(db)
        try:
            _derive(con, out, model_dir)
            _fill_counts(con, out)
        finally:
            con.close()
        out.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = asdict(out)
        if out_dir is None:
            result["files"] = {PARTITION_DB: db.read_bytes()}
        else:
            (folder / OUTCOME_FILE).write_text(json.dumps(result))
        return result
    except Exception as exc:  # one repository's failure must not stop the build
        out.error, out.status = _describe(exc), "failed"
        return asdict(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if out_dir and not (folder / OUTCOME_FILE).is_file():
            shutil.rmtree(folder, ignore_errors=True)


def _crawl_into(db: Path, target: CrawlTarget, out: RepoOutcome) -> bool:
    """Crawl and attribute the repository into the partition; False (outcome failed) on error."""
    t0 = time.perf_counter()
    [res] = crawl(db, [target])
    out.crawl_seconds = time.perf_counter() - t0
    if res.error:
        out.error, out.status = f"crawl: {res.error}", "failed"
        return False
    out.head_sha = res.head_sha
    out.n_ai_commits = int(res.attributed.get("ai_commits", 0)) if res.attributed else 0
    return True


def _derive(con: duckdb.DuckDBPyConnection, out: RepoOutcome, model_dir: str | Path | None) -> None:
    """Features, layers and structural events of the crawled repository. A features or classify
    failure keeps the crawl (status partial: the next build retries); structure is optional."""
    from mining import classify, features, structure

    repo = out.repo
    t0 = time.perf_counter()
    try:
        features.features_stage(con, [repo])
        out.features_seconds = time.perf_counter() - t0
        model, why = current_model(model_dir)
        if model is not None:
            t0 = time.perf_counter()
            if _count(con, "commit_features", repo):
                classify.classify_stage(con, [repo], model)
            out.model_version = model.version
            out.classify_seconds = time.perf_counter() - t0
        else:
            out.notes.append(f"classify skipped: {why}")
    except Exception as exc:  # keep the crawl; the next build retries
        stage = "classify" if out.features_seconds else "features"
        if stage == "features":
            out.features_seconds = time.perf_counter() - t0
            con.execute("DELETE FROM commit_features WHERE repo = ?", [repo])
        out.features_version = "" if stage == "features" else out.features_version
        out.model_version = None
        out.error, out.status = f"{stage}: {_describe(exc)}", "partial"
    try:
        structure.structure_stage(con, [repo])
    except Exception as exc:  # resumable: `strata structure` fills the gap
        out.notes.append(f"structure: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, StrataError) else f"{type(exc).__name__}: {exc}"


def _count(con: duckdb.DuckDBPyConnection, table: str, repo: str, where: str = "") -> int:
    sql = f'SELECT count(*) FROM "{table}" WHERE repo = ? {where}'  # noqa: S608 - fixed names
    return int(store.one_row(con, sql, [repo])[0])


def _fill_counts(con: duckdb.DuckDBPyConnection, out: RepoOutcome) -> None:
    """Commit counts and the commits each stage left out, by reason."""
    repo = out.repo
    out.n_commits = _count(con, "commits", repo)
    out.n_merges = _count(con, "commits", repo, "AND is_merge")
    out.n_featured = _count(con, "commit_features", repo)
    out.n_classified = _count(con, "commit_layers", repo)
    skipped = {"merge commit (no layer by design)": out.n_merges}
    unfeatured = out.n_commits - out.n_merges - out.n_featured
    if unfeatured:
        skipped["non-merge commit without features (diff unreadable)"] = unfeatured
    if out.model_version is None:
        skipped["not classified: no classifier model installed"] = out.n_featured
    elif out.n_featured - out.n_classified:
        skipped["featured but not classified"] = out.n_featured - out.n_classified
    degraded = _count(con, "commits", repo, "AND n_missing_blobs > 0")
    if degraded:
        skipped["kept, line counts partial: blobs missing (partial clone)"] = degraded
    out.skipped = {k: v for k, v in skipped.items() if v}


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# --- the main process: merge partitions, remember what is done ------------------------------


def merge_partition(con: duckdb.DuckDBPyConnection, outcome: dict[str, Any], folder: Path) -> None:
    """Swap one repository's partition into the study database and mark it built, atomically.

    The partition database is attached read-only and its rows copied table by table inside one
    transaction: an interrupted merge leaves the study database as it was and the partition in
    place for the next build.
    """
    repo = outcome["repo"]
    tables = repo_tables(con)
    con.execute(f"ATTACH '{_sql_path(folder / PARTITION_DB)}' AS strata_partition (READ_ONLY)")
    try:
        present = set(
            con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'strata_partition'"
            ).fetchall()
        )
        with store.transaction(con):
            for table in tables:
                con.execute(f'DELETE FROM "{table}" WHERE repo = ?', [repo])  # noqa: S608
                if (table,) in present:
                    con.execute(
                        f'INSERT INTO "{table}" BY NAME '  # noqa: S608 - names from the schema
                        f'SELECT * FROM strata_partition."{table}" WHERE repo = ?',
                        [repo],
                    )
            _record_state(con, outcome)
    finally:
        con.execute("DETACH strata_partition")
    shutil.rmtree(folder, ignore_errors=True)


#: RepoOutcome fields that `build_state` keeps (mining/schema/40_build.sql), in its order.
_STATE_COLUMNS = (
    "repo",
    "rev",
    "head_sha",
    "features_version",
    "model_version",
    "n_commits",
    "n_featured",
    "n_classified",
    "n_ai_commits",
    "crawl_seconds",
    "features_seconds",
    "classify_seconds",
    "peak_rss_mb",
    "skipped",
)


def _record_state(con: duckdb.DuckDBPyConnection, o: dict[str, Any]) -> None:
    con.execute("DELETE FROM build_state WHERE repo = ?", [o["repo"]])
    values = [json.dumps(o[c]) if c == "skipped" else o[c] for c in _STATE_COLUMNS]
    marks = ", ".join("?" * (len(values) + 1))
    con.execute(f"INSERT INTO build_state VALUES ({marks})", [*values, datetime.now(UTC)])  # noqa: S608


def expected_head(target: CrawlTarget) -> str | None:
    """The commit the target's revision names now, or None if it cannot be resolved (the task
    then reports the error)."""
    try:
        return resolve_head(target.source.git_dir, target.rev)
    except StrataError:
        return None


def commit_count(target: CrawlTarget, head: str | None) -> int:
    """Commits reachable from the target's head: the progress bar's weight for its ETA."""
    if head is None:
        return 1
    proc = run_git(target.source.git_dir, ["rev-list", "--count", head], check=False)
    return int(proc.stdout.strip() or 1) if proc.returncode == 0 else 1


def plan(
    con: duckdb.DuckDBPyConnection,
    targets: Sequence[CrawlTarget],
    model_version: str | None,
) -> tuple[list[CrawlTarget], list[str], list[str]]:
    """Split targets into (to build, up to date, built but missing layers)."""
    from mining.features import FEATURES_VERSION

    state = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT repo, head_sha, features_version, model_version FROM build_state"
        ).fetchall()
    }
    todo, done, reclassify = [], [], []
    for t in targets:
        s = state.get(t.source.repo)
        head = expected_head(t)
        if s is None or head is None or s[0] != head or s[1] != FEATURES_VERSION:
            todo.append(t)
        elif model_version is not None and s[2] != model_version:
            reclassify.append(t.source.repo)
        else:
            done.append(t.source.repo)
    return todo, done, reclassify


def reclassify_repo(con: duckdb.DuckDBPyConnection, repo: str, model: Any) -> dict[str, Any]:
    """A repository built before the classifier existed (or changed): classify it in place, and
    record the new model, counts and skipped commits in `build_state`."""
    from mining import classify, features
    from mining.text_features import diff_tokens_stage

    t0 = time.perf_counter()
    if _count(con, "commit_features", repo):
        # its features are current; a database built before diff tokens gets them here (one
        # patch stream, nothing else recomputed), since the model may read them
        git_dir = store.one_row(con, "SELECT git_dir FROM repos WHERE repo = ?", [repo])[0]
        if git_dir:  # a loaded release has no repository to read them from
            diff_tokens_stage(con, repo, git_dir, features.BATCH)
        classify.classify_stage(con, [repo], model)
    out = _state(con, repo)
    out.model_version, out.classify_seconds = model.version, time.perf_counter() - t0
    _fill_counts(con, out)
    _record_state(con, asdict(out))
    out.crawl_seconds = out.features_seconds = 0.0  # this run's work is the classification
    out.status = "classified"
    return asdict(out)


def state_outcome(con: duckdb.DuckDBPyConnection, repo: str) -> dict[str, Any]:
    """An up-to-date repository's row of the report, from what the earlier build recorded."""
    out = _state(con, repo)
    out.n_merges = _count(con, "commits", repo, "AND is_merge")
    out.status = "up-to-date"
    return asdict(out)


def _state(con: duckdb.DuckDBPyConnection, repo: str) -> RepoOutcome:
    """The `build_state` row of a repository as a RepoOutcome (its seconds are the build's)."""
    sql = f"SELECT {', '.join(_STATE_COLUMNS)} FROM build_state WHERE repo = ?"  # noqa: S608
    values = dict(zip(_STATE_COLUMNS, store.one_row(con, sql, [repo]), strict=True))
    values["skipped"] = json.loads(values["skipped"] or "{}")
    return RepoOutcome(**values)


def partition_key(repo: str) -> str:
    return repo.replace("/", "+")


# --- orchestration ----------------------------------------------------------------------------

ProgressFn = Callable[[str, dict[str, Any]], None]


@dataclass
class BuildReport:
    """The build's outcome per repository plus totals; written as JSON and printed as a table."""

    started_at: str
    finished_at: str = ""
    db: str = ""
    jobs: int = 1
    scheduler: str | None = None
    wall_seconds: float = 0.0
    repos: list[dict[str, Any]] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        ok = [r for r in self.repos if r["status"] != "failed"]
        skipped: dict[str, int] = {}
        for r in ok:
            for k, v in r.get("skipped", {}).items():
                skipped[k] = skipped.get(k, 0) + v
        return {
            "repos": len(self.repos),
            "repos_failed": len(self.repos) - len(ok),
            "repos_partial": sum(r["status"] == "partial" for r in ok),
            "repos_built": sum(r["status"] == "built" for r in ok),
            "repos_up_to_date": sum(r["status"] == "up-to-date" for r in ok),
            "commits": sum(r["n_commits"] for r in ok),
            "featured": sum(r["n_featured"] for r in ok),
            "classified": sum(r["n_classified"] for r in ok),
            "ai_commits": sum(r["n_ai_commits"] for r in ok),
            "stage_seconds": {
                s: round(sum(r[f"{s}_seconds"] for r in ok), 2)
                for s in ("crawl", "features", "classify")
            },
            "peak_rss_mb": round(max((r.get("peak_rss_mb") or 0 for r in ok), default=0.0), 1),
            "skipped": skipped,
        }

    def to_json(self) -> dict[str, Any]:
        repos = [{k: v for k, v in r.items() if k != "files"} for r in self.repos]
        return {**asdict(self), "repos": repos, "totals": self.totals()}


def build(
    db: str | Path,
    targets: Sequence[CrawlTarget],
    *,
    jobs: int = 1,
    scheduler: Any = None,
    staging: str | Path | None = None,
    log: str | Path | None = None,
    model_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> BuildReport:
    """Build every target into `db`, skipping repositories already built at the same pin.

    `scheduler` is a dask.distributed scheduler address (or a Client); else `jobs` local
    processes. `progress(event, outcome)` is called with ("plan", {"repos", "commits"}) first,
    then ("repo", outcome) per finished repository. Each repository commits alone, so an
    interrupted build keeps what it finished. A failed repository is reported, not raised.
    """
    t_start = time.perf_counter()
    db = Path(db)
    names = _unique_names(targets)
    report = BuildReport(
        started_at=_now(), db=str(db), jobs=jobs, scheduler=_scheduler_name(scheduler)
    )
    staging = Path(staging) if staging else store.build_staging(db)
    staging.mkdir(parents=True, exist_ok=True)
    model, why = current_model(model_dir)
    con = store.connect(db)
    with _BuildLog(log, db, report, progress) as blog:
        try:
            with store.run_record(con, "build", json.dumps(names)) as run_id:
                blog.note(
                    f"build of {len(targets)} repositories into {db} (jobs={jobs}, scheduler={report.scheduler})"
                )
                if model is None:
                    blog.note(f"no classifier: layers are left empty ({why})")
                merge_leftovers(con, staging, targets, blog.note)
                todo = _settle_built(con, targets, model, blog.finish)
                weights = _largest_first(todo)
                if progress:
                    progress(
                        "plan",
                        {
                            "repos": len(todo),
                            "commits": sum(weights.values()),
                            "weights": weights,
                            "skipped": len(targets) - len(todo),
                        },
                    )
                for outcome in _run_tasks(todo, jobs, scheduler, staging, model_dir):
                    if outcome["status"] != "failed":
                        merge_partition(con, outcome, _place_partition(staging, outcome))
                    blog.finish(outcome)
                failed = [
                    f"{r['repo']}: {r.get('error')}"
                    for r in report.repos
                    if r["status"] == "failed"
                ]
                if failed:
                    store.mark_run(con, run_id, "failed", "; ".join(failed))
        finally:
            con.close()
            _close_report(report, names, t_start, blog.note)
    if not any(staging.iterdir()):
        staging.rmdir()
    return report


def _unique_names(targets: Sequence[CrawlTarget]) -> list[str]:
    names = [t.source.repo for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise StrataError(f"repository keys occur twice: {dup}")
    return names


def _scheduler_name(scheduler: Any) -> str | None:
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    return "client"


class _BuildLog:
    """The build's log file (one line per event and per repository) and its JSON twin, written
    on close; `finish` records a repository's outcome in the report and tells `progress`."""

    def __init__(
        self, log: str | Path | None, db: Path, report: BuildReport, progress: ProgressFn | None
    ) -> None:
        self.path = (
            Path(log) if log else db.resolve().parent / "build-logs" / f"build-{_stamp()}.log"
        )
        self.report, self.progress = report, progress

    def __enter__(self) -> _BuildLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a", encoding="utf-8")  # closed in __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.path.with_suffix(".json").write_text(
            json.dumps(self.report.to_json(), indent=2) + "\n"
        )

    def note(self, msg: str) -> None:
        self.file.write(f"{_now()} {msg}\n")
        self.file.flush()

    def finish(self, outcome: dict[str, Any]) -> None:
        self.report.repos.append(outcome)
        self.note(log_line(outcome))
        if self.progress:
            self.progress("repo", outcome)


def merge_leftovers(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    targets: Sequence[CrawlTarget],
    note: Callable[[str], None],
) -> None:
    """Merge the partitions an interrupted build finished but did not merge (still at the pinned
    head); drop stale ones and the folders of tasks that died before finishing."""
    by_name = {t.source.repo: t for t in targets}
    for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
        marker = folder / OUTCOME_FILE
        outcome: dict[str, Any] = json.loads(marker.read_text()) if marker.is_file() else {}
        t = by_name.get(outcome.get("repo", ""))
        if t is not None and outcome["head_sha"] == expected_head(t):
            merge_partition(con, outcome, folder)
            note(f"{outcome['repo']}: merged the partition a previous build left")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _settle_built(
    con: duckdb.DuckDBPyConnection,
    targets: Sequence[CrawlTarget],
    model: Any,
    finish: Callable[[dict[str, Any]], None],
) -> list[CrawlTarget]:
    """Report the repositories already built at their pin (classifying those that lack this
    model's layers); return the targets still to build."""
    todo, done, reclassify = plan(con, targets, model.version if model else None)
    for repo in done:
        finish(state_outcome(con, repo))
    for repo in reclassify:
        finish(reclassify_repo(con, repo, model))
    return todo


def _largest_first(todo: list[CrawlTarget]) -> dict[str, int]:
    """Sort `todo` by commits reachable from the pin, largest first (balances the workers), and
    return those counts: the progress bar's weights."""
    weights = {t.source.repo: commit_count(t, expected_head(t)) for t in todo}
    todo.sort(key=lambda t: -weights[t.source.repo])
    return weights


def _place_partition(staging: Path, outcome: dict[str, Any]) -> Path:
    """The partition's folder; a dask task's database arrives as bytes and is written there."""
    folder = staging / partition_key(outcome["repo"])
    files = outcome.pop("files", None)
    if files is not None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    return folder


def _close_report(
    report: BuildReport, names: list[str], t_start: float, note: Callable[[str], None]
) -> None:
    """Order the report as the targets were given, time it and log the totals."""
    order = {n: i for i, n in enumerate(names)}
    report.repos.sort(key=lambda r: order.get(r["repo"], 0))
    report.finished_at = _now()
    report.wall_seconds = round(time.perf_counter() - t_start, 2)
    tot = report.totals()
    note(
        f"done: {tot['repos_built']} built, {tot['repos_up_to_date']} up to date, "
        f"{tot['repos_failed']} failed, {tot['commits']} commits, {report.wall_seconds:.1f}s"
    )


def _run_tasks(
    todo: list[CrawlTarget], jobs: int, scheduler: Any, staging: Path, model_dir: str | Path | None
) -> Any:
    """Yield task outcomes as they finish: in-process, in a process pool, or on dask."""
    if not todo:
        return
    model_arg = str(model_dir) if model_dir else None
    if scheduler is not None:
        yield from _run_dask(todo, scheduler, model_arg)
        return
    folders = {t.source.repo: staging / partition_key(t.source.repo) for t in todo}
    if jobs <= 1 or len(todo) == 1:
        for t in todo:
            yield build_repo(t, folders[t.source.repo], model_arg)
        return
    # spawn: workers must not inherit the parent's open DuckDB connection. A fresh worker per
    # repository: a worker that built many kept their memory (heap, caches), so the peak grew
    # with the corpus, not with its largest repository
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1)
    try:
        futs = {pool.submit(build_repo, t, folders[t.source.repo], model_arg): t for t in todo}
        for fut in as_completed(futs):
            try:
                yield fut.result()
            except Exception as exc:  # a crashed worker fails its repository only
                t = futs[fut]
                yield asdict(
                    RepoOutcome(t.source.repo, rev=t.rev, error=f"worker: {exc}", status="failed")
                )
    except BaseException:
        # Ctrl-C or an error: stop the workers now instead of waiting for their repositories
        # (partitions they finished are kept and merged by the next build)
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _run_dask(todo: list[CrawlTarget], scheduler: Any, model_dir: str | None) -> Any:
    """Submit one task per repository to a dask.distributed scheduler; results carry the Parquet
    bytes, so workers need read access to the sources but no shared output folder."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futs = {
            client.submit(
                build_repo,
                t,
                None,
                model_dir,
                key=f"strata-build-{partition_key(t.source.repo)}-{os.getpid()}-{time.time_ns()}",
                pure=False,
            ): t
            for t in todo
        }
        for fut in dask_completed(list(futs)):
            t = futs[fut]
            try:
                yield fut.result()
            except Exception as exc:  # a lost worker fails its repository only
                yield asdict(
                    RepoOutcome(t.source.repo, rev=t.rev, error=f"dask: {exc}", status="failed")
                )
    finally:
        if client is not scheduler:
            client.close()


def log_line(o: dict[str, Any]) -> str:
    """One line per repository for the log file and the console."""
    if o["status"] == "failed":
        return f"{o['repo']}: FAILED: {o['error']}"
    skipped = ", ".join(f"{v} {k}" for k, v in o.get("skipped", {}).items()) or "none"
    return (
        f"{o['repo']}: {o['status']} @ {o['head_sha'][:12]}: {o['n_commits']} commits, "
        f"{o['n_featured']} featured, {o['n_classified']} classified, {o['n_ai_commits']} AI; "
        f"crawl {o['crawl_seconds']:.1f}s features {o['features_seconds']:.1f}s "
        f"classify {o['classify_seconds']:.1f}s; skipped: {skipped}"
        + "".join(f"; {n}" for n in o.get("notes", []))
        + (
            f"; ERROR (rows kept: crawl + attribution; rerun to retry) {o['error']}"
            if o.get("error")
            else ""
        )
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
