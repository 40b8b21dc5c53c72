"""Glue between the CLI and the stages: resolve what to crawl, show progress, print summaries.

Kept out of cli.py so that commands stay thin and the same flow serves `crawl` and `build`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mining import build, store
from mining.corpus import load_corpus, read_mirror_map
from mining.crawl import CrawlResult, CrawlTarget, crawl
from mining.errors import CorpusError, DatabaseError, SourceError, StrataError
from mining.gitcmd import run_git, validate_rev
from mining.sources import Source, resolve_source
from mining.vocabulary import DEFAULT_CACHE

console = Console(stderr=True, soft_wrap=True)


def resolve_targets(
    sources: Sequence[str],
    corpus: Path | None,
    mirrors: Path | None = None,
    rev: str = "HEAD",
    cache: Path = DEFAULT_CACHE,
) -> list[CrawlTarget]:
    """Validate every source before any crawl starts: a bad one aborts with nothing written."""
    if corpus is not None and sources:
        raise CorpusError("give SOURCEs or --corpus, not both")
    if corpus is None and not sources:
        raise CorpusError("nothing to crawl: give SOURCEs or --corpus data/corpus.toml")
    if corpus is None:
        validate_rev(rev)
        return [CrawlTarget(resolve_source(s, cache=cache, rev=rev), rev) for s in sources]
    entries = load_corpus(corpus)
    mirror_map = read_mirror_map(mirrors) if mirrors else {}
    targets = []
    for e in entries:
        if e.name in mirror_map:
            src = resolve_source(mirror_map[e.name], cache=cache, name=e.name)
            src = Source(e.name, e.source, src.git_dir)
        else:
            src = resolve_source(e.source, cache=cache, name=e.name, rev=e.rev)
        targets.append(CrawlTarget(src, e.rev, e.tags, e.language, e.role))
    return targets


def _bar(disable: bool = False) -> Progress:
    """The one progress bar of long commands: description, bar, done/total, elapsed, ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=disable,
    )


def run_crawl(db: Path, targets: list[CrawlTarget], *, jobs: int = 1, quiet: bool = False) -> int:
    """Crawl with progress (a bar with ETA on a terminal, a line every few seconds otherwise) and
    print the summary; the exit code: 0, 2 if only bad inputs failed, 1 if the tool failed."""
    results: list[CrawlResult]
    if quiet:
        results = crawl(db, targets, jobs=jobs)
    elif sys.stderr.isatty():
        total = estimate_new_commits(db, targets)
        with _bar() as bar:
            repos = bar.add_task("repositories", total=len(targets))
            commits = bar.add_task("commits", total=total)

            def progress(kind: str, n: int) -> None:
                bar.advance(repos if kind == "repo" else commits, n)

            results = crawl(db, targets, jobs=jobs, progress=progress)
    else:
        lines = ProgressLines(False)
        total = estimate_new_commits(db, targets)
        done = {"commits": 0, "repo": 0}

        def progress(kind: str, n: int) -> None:
            done[kind] += n
            lines.count(
                "crawl", done["commits"], total or 0, f"{done['repo']}/{len(targets)} repositories"
            )

        results = crawl(db, targets, jobs=jobs, progress=progress)
    if not quiet:
        print_summary(results)
    failed = [r for r in results if r.error]
    for r in failed:
        console.print(
            f"strata: error: {r.repo}: {r.error}", style="red", highlight=False, markup=False
        )
    if not failed:
        return 0
    return 2 if all(r.error_code == 2 for r in failed) else 1


def estimate_new_commits(db: Path, targets: Sequence[CrawlTarget]) -> int | None:
    """Commits a crawl will read (reachable minus already stored): the progress bar's total, so
    it can show an ETA. None when a count fails (the crawl then names the error)."""
    stored: dict[str, int] = {}
    if Path(db).is_file():
        try:
            con = store.connect(db, read_only=True)
            try:
                stored = dict(con.execute("SELECT repo, n_commits FROM repos").fetchall())
            finally:
                con.close()
        except (StrataError, duckdb.Error):
            stored = {}
    total = 0
    for t in targets:
        proc = run_git(t.source.git_dir, ["rev-list", "--count", t.rev, "--"], check=False)
        if proc.returncode != 0:
            return None
        total += max(0, int(proc.stdout.decode().strip() or 0) - stored.get(t.source.repo, 0))
    return total


class ProgressLines:
    """Progress for stages without a bar: a line on stderr at most every `every` seconds (and
    the last one of each repository), with rate and ETA; nothing when quiet."""

    def __init__(self, quiet: bool, every: float = 5.0) -> None:
        self.quiet, self.every = quiet, every
        self.last = self.previous = time.monotonic()
        self.started: dict[str, float] = {}
        self.latest = ""

    def say(self, text: str) -> None:
        self.last = time.monotonic()
        if not self.quiet:
            console.print(text, highlight=False, markup=False)

    def count(self, name: str, done: int, total: int, extra: str = "") -> None:
        """`done` of `total` units of `name` so far (callable as a stage's progress callback)."""
        now = time.monotonic()
        # a name first heard of with work already done (a stage reports after each batch) began
        # when the previous report came, or when these lines were made: not now
        start = self.started.setdefault(name, self.previous if done else now)
        self.previous = now
        rate = done / (now - start) if now > start else 0.0
        eta = f", ETA {_duration((total - done) / rate)}" if rate and total > done else ""
        of = f"/{total:,}" if total else ""
        speed = f" ({rate:,.0f}/s{eta})" if rate else ""  # none before any work: "0/s" is false
        self.latest = f"{name}: {done:,}{of} commits{speed}{', ' + extra if extra else ''}"
        if now - self.last >= self.every or done >= total:
            self.say(self.latest)

    @contextlib.contextmanager
    def heartbeat(self, stage: str) -> Iterator[None]:
        """While the block runs, a line every `every` seconds even between callbacks (a stage
        that reports per batch of thousands of commits is otherwise silent for a minute)."""
        if self.quiet:
            yield
            return
        import threading

        stop = threading.Event()
        t0 = time.monotonic()

        def beat() -> None:
            while not stop.wait(self.every):
                if time.monotonic() - self.last >= self.every:
                    now = _duration(time.monotonic() - t0)
                    self.say(
                        f"{stage}: {now} elapsed; last: {self.latest}"
                        if self.latest
                        else f"{stage}: {now} elapsed"
                    )

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


@contextlib.contextmanager
def stage_run(db: Path, stage: str, args: Any = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection whose stage run is recorded in `runs` (finished, failed or
    interrupted), closed afterwards: every stage command records itself the same way."""
    if str(db) != ":memory:" and not Path(db).exists():
        raise DatabaseError(f"{db}: no such database (run `strata crawl` or `strata load` first)")
    con = store.connect(db)
    try:
        with store.run_record(con, stage, json.dumps(args, default=str)):
            yield con
    finally:
        con.close()


def read_commit_list(path: Path, option: str) -> list[str]:
    """The commit ids of a listing the user named with `option` ('-' = stdin), in order.

    Why: listings come from many tools, not only `git rev-list`. Accepted besides one id per
    line: a UTF-8 or UTF-16 byte-order mark (Windows editors, PowerShell's `>`), CRLF, blank
    lines, `#` comments, and a CSV or `git log --format='%H %s'` line, whose first field is the
    id (a first field `sha` is a header, as in classify's own CSV). SourceError if unreadable.
    """
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(f"{option} {path}: {(exc.strerror or str(exc)).lower()}") from exc
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    text = data.decode("utf-16" if utf16 else "utf-8-sig", errors="replace")
    ids = [
        re.split(r"[\s,;]", line.strip(), maxsplit=1)[0].strip("\"'")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return ids[1:] if ids and ids[0].lower() == "sha" else ids


def print_summary(results: Sequence[CrawlResult]) -> None:
    """One row per repository: commits, new, removed, file rows, missing blobs, AI evidence, time."""
    table = Table(title="crawl summary")
    for col in (
        "repo",
        "head",
        "commits",
        "new",
        "removed",
        "file rows",
        "missing blobs",
        "AI commits",
        "seconds",
    ):
        table.add_column(col, justify="left" if col in ("repo", "head") else "right")
    for r in results:
        if r.error:
            table.add_row(r.repo, "-", "-", "-", "-", "-", "-", "-", "failed")
            continue
        table.add_row(
            r.repo,
            r.head_sha[:10],
            f"{r.n_commits:,}",
            f"{r.n_new:,}",
            f"{r.n_removed:,}",
            f"{r.n_file_changes:,}",
            f"{r.n_missing_blobs:,}",
            f"{r.attributed.get('ai_commits', 0):,}" if r.attributed else "-",
            f"{r.seconds:.2f}",
        )
    out = Console() if sys.stdout.isatty() else Console(width=140)
    out.print(table)


def report_error(err: StrataError) -> None:  # pragma: no cover - used by scripts
    console.print(f"strata: error: {err}", style="red", highlight=False, markup=False)


# --- build: progress bars and the report table --------------------------------------------


def run_build(
    db: Path,
    targets: list[CrawlTarget],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    quiet: bool = False,
) -> bool:
    """CLI glue: progress bar with ETA (weighted by commits), per-repo lines, summary table."""
    show = not quiet and sys.stderr.isatty()
    bar = _bar(disable=not show)
    tasks: dict[str, Any] = {}
    weights: dict[str, int] = {}

    def progress(event: str, data: dict[str, Any]) -> None:
        if event == "plan":
            weights.update(data["weights"])
            tasks["repos"] = bar.add_task("repositories", total=data["repos"])
            tasks["commits"] = bar.add_task("commits", total=data["commits"])
            if data["skipped"] and not quiet:
                console.print(f"{data['skipped']} repositories already built at their pin: skipped")
            return
        if not quiet:
            console.print(build.log_line(data), highlight=False, markup=False)
        if data["repo"] in weights and "repos" in tasks:
            bar.advance(tasks["repos"], 1)
            bar.advance(tasks["commits"], weights[data["repo"]])

    with bar:
        report = build.build(db, targets, jobs=jobs, scheduler=scheduler, progress=progress)
    print_report(report, quiet=quiet)
    tot = report.totals()
    return tot["repos_failed"] == 0 and tot["repos_partial"] == 0


def print_report(report: build.BuildReport, *, quiet: bool = False) -> None:
    """Per-repository table and totals (stage seconds, skipped commits by reason); errors only
    when quiet. Errors go to stderr prefixed like every strata error."""
    if quiet:
        for r in report.repos:
            if r.get("error"):
                console.print(
                    f"strata: error: {r['repo']}: {r['error']}", highlight=False, markup=False
                )
        return
    table = Table(title="build report")
    cols = (
        "repo",
        "status",
        "commits",
        "featured",
        "classified",
        "AI",
        "crawl s",
        "features s",
        "classify s",
    )
    for c in cols:
        table.add_column(c, justify="left" if c in ("repo", "status") else "right")
    for r in report.repos:
        if r["status"] == "failed":
            table.add_row(r["repo"], "failed", *["-"] * 7)
            continue
        table.add_row(
            r["repo"],
            r["status"],
            f"{r['n_commits']:,}",
            f"{r['n_featured']:,}",
            f"{r['n_classified']:,}",
            f"{r['n_ai_commits']:,}",
            f"{r['crawl_seconds']:.1f}",
            f"{r['features_seconds']:.1f}",
            f"{r['classify_seconds']:.1f}",
        )
    out = Console() if sys.stdout.isatty() else Console(width=160)
    out.print(table)
    t = report.totals()
    out.print(
        f"{t['repos']} repositories ({t['repos_built']} built, {t['repos_up_to_date']} up to date, "
        f"{t['repos_partial']} partial, {t['repos_failed']} failed): {t['commits']:,} commits, {t['featured']:,} featured, "
        f"{t['classified']:,} classified, {t['ai_commits']:,} with AI evidence; "
        f"wall {report.wall_seconds:.1f}s; stage seconds "
        + ", ".join(f"{k} {v:.1f}" for k, v in t["stage_seconds"].items()),
        highlight=False,
    )
    for reason, n in t["skipped"].items():
        out.print(f"  skipped/degraded: {n:,} {reason}", highlight=False)
    for r in report.repos:
        if r.get("error"):
            console.print(
                f"strata: error: {r['repo']}: {r['error']}",
                style="red",
                highlight=False,
                markup=False,
            )
