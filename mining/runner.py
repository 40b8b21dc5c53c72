"""Glue between the CLI and the stages: resolve what to crawl, show progress, print summaries.

Kept out of cli.py so that commands stay thin and the same flow serves `crawl` and `build`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

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

from mining.corpus import load_corpus, read_mirror_map
from mining.crawl import CrawlResult, CrawlTarget, crawl
from mining.errors import CorpusError, StrataError
from mining.gitcmd import validate_rev
from mining.sources import DEFAULT_CACHE, Source, resolve_source

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
        return [CrawlTarget(resolve_source(s, cache=cache), rev) for s in sources]
    entries = load_corpus(corpus)
    mirror_map = read_mirror_map(mirrors) if mirrors else {}
    targets = []
    for e in entries:
        if e.name in mirror_map:
            src = resolve_source(mirror_map[e.name], cache=cache, name=e.name)
            src = Source(e.name, e.source, src.git_dir)
        else:
            src = resolve_source(e.source, cache=cache, name=e.name)
        targets.append(CrawlTarget(src, e.rev, e.tags, e.language, e.role))
    return targets


def run_crawl(db: Path, targets: list[CrawlTarget], *, jobs: int = 1, quiet: bool = False) -> bool:
    """Crawl with a progress bar and print the summary table; False if any repository failed."""
    show = not quiet and sys.stderr.isatty()
    results: list[CrawlResult]
    if show:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
        ) as bar:
            repos = bar.add_task("repositories", total=len(targets))
            commits = bar.add_task("commits", total=None) if jobs <= 1 else None

            def progress(kind: str, n: int) -> None:
                if kind == "repo":
                    bar.advance(repos, n)
                elif commits is not None:
                    bar.advance(commits, n)

            results = crawl(db, targets, jobs=jobs, progress=progress)
    else:
        results = crawl(db, targets, jobs=jobs)
    print_summary(results)
    failed = [r for r in results if r.error]
    for r in failed:
        console.print(f"[red]strata: error: {r.repo}: {r.error}[/red]", highlight=False)
    return not failed


def print_summary(results: Sequence[CrawlResult]) -> None:
    """One row per repository: commits, new, removed, file rows, missing blobs, AI evidence, time."""
    table = Table(title="crawl summary")
    for col in ("repo", "head", "commits", "new", "removed", "file rows", "missing blobs", "AI commits", "seconds"):
        table.add_column(col, justify="left" if col in ("repo", "head") else "right")
    for r in results:
        if r.error:
            table.add_row(r.repo, "-", "-", "-", "-", "-", "-", "-", "failed")
            continue
        table.add_row(
            r.repo, r.head_sha[:10], f"{r.n_commits:,}", f"{r.n_new:,}", f"{r.n_removed:,}",
            f"{r.n_file_changes:,}", f"{r.n_missing_blobs:,}",
            f"{r.attributed.get('ai_commits', 0):,}" if r.attributed else "-", f"{r.seconds:.2f}",
        )
    out = Console() if sys.stdout.isatty() else Console(width=140)
    out.print(table)


def report_error(err: StrataError) -> None:  # pragma: no cover - used by scripts
    console.print(f"[red]strata: error: {err}[/red]")
