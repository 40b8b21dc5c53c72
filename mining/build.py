"""`strata build`: crawl -> attribute -> features -> classify for every corpus repository.

Design: each repository is one task that builds into its own throwaway DuckDB file and exports
that repository's rows as Parquet partitions (one file per table). Only the main process writes
the study database: it swaps a partition in with one transaction and records the repository in
`build_state`. So tasks run in parallel processes (`--jobs`) or on a dask.distributed cluster
(`--scheduler`) while DuckDB keeps one writer, and a build killed at any point resumes with the
repositories it had not finished (partitions already written are merged, not rebuilt).
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
OUTCOME_FILE = "_outcome.json"


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
    """Task: build one repository into a private database and export its rows as Parquet.

    With `out_dir` the partition is written there (shared filesystem); without it (dask workers
    on other machines) the Parquet bytes are returned under "files" for the client to write.
    Returns the RepoOutcome as a dict (plain data, so it crosses process and network borders).
    """
    from mining import classify, features, structure

    repo = target.source.repo
    out = RepoOutcome(repo, rev=target.rev, features_version=features.FEATURES_VERSION)
    work = Path(tempfile.mkdtemp(prefix="strata-build-"))
    try:
        db = work / "repo.duckdb"
        t0 = time.perf_counter()
        [res] = crawl(db, [target])
        out.crawl_seconds = time.perf_counter() - t0
        if res.error:
            out.error, out.status = f"crawl: {res.error}", "failed"
            return asdict(out)
        out.head_sha = res.head_sha
        con = store.connect(db)
        try:
            out.n_ai_commits = int(res.attributed.get("ai_commits", 0)) if res.attributed else 0
            try:
                t0 = time.perf_counter()
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
            _fill_counts(con, out)
            files = export_partition(con, repo, Path(out_dir) if out_dir else work / "part")
        finally:
            con.close()
        out.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = asdict(out)
        if out_dir is None:
            result["files"] = {p.name: p.read_bytes() for p in files}
        else:
            (Path(out_dir) / OUTCOME_FILE).write_text(json.dumps(result))
        return result
    except Exception as exc:  # one repository's failure must not stop the build
        out.error, out.status = _describe(exc), "failed"
        return asdict(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def export_partition(con: duckdb.DuckDBPyConnection, repo: str, folder: Path) -> list[Path]:
    """Write `repo`'s rows of every repo-keyed table to `folder/<table>.parquet`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in repo_tables(con):
        path = folder / f"{table}.parquet"
        sql = f"COPY (SELECT * FROM \"{table}\" WHERE repo = ?) TO '{_sql_path(path)}' (FORMAT parquet)"  # noqa: S608 - fixed names
        con.execute(sql, [repo])
        paths.append(path)
    return paths


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# --- the main process: merge partitions, remember what is done ------------------------------


def merge_partition(con: duckdb.DuckDBPyConnection, outcome: dict[str, Any], folder: Path) -> None:
    """Swap one repository's partition into the study database and mark it built, atomically."""
    repo = outcome["repo"]
    with store.transaction(con):
        for table in repo_tables(con):
            path = folder / f"{table}.parquet"
            con.execute(f'DELETE FROM "{table}" WHERE repo = ?', [repo])  # noqa: S608
            if path.is_file():
                sql = f'INSERT INTO "{table}" BY NAME SELECT * FROM read_parquet(?)'  # noqa: S608
                con.execute(sql, [str(path)])
        _record_state(con, outcome)
    shutil.rmtree(folder, ignore_errors=True)


def _record_state(con: duckdb.DuckDBPyConnection, o: dict[str, Any]) -> None:
    con.execute("DELETE FROM build_state WHERE repo = ?", [o["repo"]])
    con.execute(
        "INSERT INTO build_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [o["repo"], o["rev"], o["head_sha"], o["features_version"], o["model_version"],
         o["n_commits"], o["n_featured"], o["n_classified"], o["n_ai_commits"],
         o["crawl_seconds"], o["features_seconds"], o["classify_seconds"], o["peak_rss_mb"],
         json.dumps(o["skipped"]), datetime.now(UTC)],
    )  # fmt: skip


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
    """A repository built before the classifier existed (or changed): classify it in place."""
    from mining import classify

    t0 = time.perf_counter()
    if _count(con, "commit_features", repo):
        classify.classify_stage(con, [repo], model)
    seconds = time.perf_counter() - t0
    n = _count(con, "commit_layers", repo)
    con.execute(
        "UPDATE build_state SET model_version = ?, n_classified = ?, classify_seconds = ? WHERE repo = ?",
        [model.version, n, seconds, repo],
    )
    row = store.one_row(
        con,
        "SELECT rev, head_sha, features_version, n_commits, n_featured, n_ai_commits, crawl_seconds, "
        "features_seconds, skipped FROM build_state WHERE repo = ?",
        [repo],
    )
    skipped = {
        k: v for k, v in json.loads(row[8] or "{}").items() if not k.startswith("not classified")
    }
    return asdict(RepoOutcome(
        repo, rev=row[0], head_sha=row[1], features_version=row[2], model_version=model.version,
        n_commits=row[3], n_featured=row[4], n_classified=n, n_ai_commits=row[5],
        crawl_seconds=0.0, features_seconds=0.0, classify_seconds=seconds, skipped=skipped,
        status="classified",
    ))  # fmt: skip


def state_outcome(con: duckdb.DuckDBPyConnection, repo: str) -> dict[str, Any]:
    """An up-to-date repository's row of the report, from what the earlier build recorded."""
    row = store.one_row(
        con,
        "SELECT rev, head_sha, features_version, model_version, n_commits, n_featured, n_classified, "
        "n_ai_commits, skipped FROM build_state WHERE repo = ?",
        [repo],
    )
    n_merges = _count(con, "commits", repo, "AND is_merge")
    return asdict(RepoOutcome(
        repo, rev=row[0], head_sha=row[1], features_version=row[2], model_version=row[3],
        n_commits=row[4], n_merges=n_merges, n_featured=row[5], n_classified=row[6],
        n_ai_commits=row[7], skipped=json.loads(row[8] or "{}"), status="up-to-date",
    ))  # fmt: skip


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
    report = BuildReport(
        started_at=_now(),
        db=str(db),
        jobs=jobs,
        scheduler=scheduler
        if isinstance(scheduler, str)
        else (None if scheduler is None else "client"),
    )
    names = [t.source.repo for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise StrataError(f"repository keys occur twice: {dup}")
    staging = Path(staging) if staging else store.build_staging(db)
    staging.mkdir(parents=True, exist_ok=True)
    log_file = Path(log) if log else db.resolve().parent / "build-logs" / f"build-{_stamp()}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    model, why = current_model(model_dir)
    con = store.connect(db)
    with open(log_file, "a", encoding="utf-8") as logf:

        def note(msg: str) -> None:
            logf.write(f"{_now()} {msg}\n")
            logf.flush()

        def finish(outcome: dict[str, Any]) -> None:
            report.repos.append(outcome)
            note(log_line(outcome))
            if progress:
                progress("repo", outcome)

        try:
            with store.run_record(con, "build", json.dumps(names)) as run_id:
                note(
                    f"build of {len(targets)} repositories into {db} (jobs={jobs}, scheduler={report.scheduler})"
                )
                if model is None:
                    note(f"no classifier: layers are left empty ({why})")
                by_name = {t.source.repo: t for t in targets}
                for folder in sorted(p for p in staging.iterdir() if (p / OUTCOME_FILE).is_file()):
                    outcome = json.loads((folder / OUTCOME_FILE).read_text())
                    t = by_name.get(outcome["repo"])
                    if t is not None and outcome["head_sha"] == expected_head(t):
                        merge_partition(con, outcome, folder)
                        note(f"{outcome['repo']}: merged the partition a previous build left")
                    else:
                        shutil.rmtree(folder, ignore_errors=True)
                todo, done, reclassify = plan(con, targets, model.version if model else None)
                for repo in done:
                    finish(state_outcome(con, repo))
                for repo in reclassify:
                    finish(reclassify_repo(con, repo, model))
                heads = {t.source.repo: expected_head(t) for t in todo}
                weights = {t.source.repo: commit_count(t, heads[t.source.repo]) for t in todo}
                todo.sort(key=lambda t: -weights[t.source.repo])  # largest first: balances workers
                if progress:
                    progress(
                        "plan",
                        {
                            "repos": len(todo),
                            "commits": sum(weights.values()),
                            "weights": weights,
                            "skipped": len(done) + len(reclassify),
                        },
                    )
                for outcome in _run_tasks(todo, jobs, scheduler, staging, model_dir):
                    if outcome["status"] != "failed":
                        folder = staging / partition_key(outcome["repo"])
                        files = outcome.pop("files", None)
                        if files is not None:
                            folder.mkdir(parents=True, exist_ok=True)
                            for name, data in files.items():
                                (folder / name).write_bytes(data)
                        merge_partition(con, outcome, folder)
                    finish(outcome)
                failed = [f"{r['repo']}: {r.get('error')}" for r in report.repos if r["status"] == "failed"]
                if failed:
                    store.mark_run(con, run_id, "failed", "; ".join(failed))
        finally:
            order = {n: i for i, n in enumerate(names)}
            report.repos.sort(key=lambda r: order.get(r["repo"], 0))
            report.finished_at = _now()
            report.wall_seconds = round(time.perf_counter() - t_start, 2)
            tot = report.totals()
            note(
                f"done: {tot['repos_built']} built, {tot['repos_up_to_date']} up to date, "
                f"{tot['repos_failed']} failed, {tot['commits']} commits, {report.wall_seconds:.1f}s"
            )
            con.close()
            json_path = log_file.with_suffix(".json")
            json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if not any(staging.iterdir()):
        staging.rmdir()
    return report


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
    # spawn: workers must not inherit the parent's open DuckDB connection
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
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
    return (f"{o['repo']}: {o['status']} @ {o['head_sha'][:12]}: {o['n_commits']} commits, "
            f"{o['n_featured']} featured, {o['n_classified']} classified, {o['n_ai_commits']} AI; "
            f"crawl {o['crawl_seconds']:.1f}s features {o['features_seconds']:.1f}s "
            f"classify {o['classify_seconds']:.1f}s; skipped: {skipped}"
            + "".join(f"; {n}" for n in o.get("notes", []))
            + (f"; ERROR (rows kept: crawl + attribution; rerun to retry) {o['error']}" if o.get("error") else ""))  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
