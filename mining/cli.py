"""`strata`: one thin command per stage. Commands parse options, call one library function,
and report; the work lives in the stage modules so that it runs without the CLI.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from mining import __version__
from mining.errors import SourceError, StrataError, describe
from mining.labels import AI_STATUS, LABEL_FEATURES, LABELS_CSV, OOF_PREDICTIONS
from mining.vocabulary import (
    BLAME_RELEASES,
    CLASSIFIER_REPORTS,
    CORPUS_TOML,
    DEFAULT_CACHE,
    DEFAULT_DB,
    RELEASE_DIR,
    REPORTS_DIR,
)

INTERRUPTED = "strata: interrupted; work already committed is kept (rerun to resume)"
#: click's error classes as typer ships them (typer >= 0.2x vendors click; older typer re-exports it)
_CLICK_ERROR: type[Any] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
_USAGE_ERROR: type[Any] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def error_line(message: str) -> None:
    """Print the one-line error every failure ends in (stderr, `strata: error: ...`)."""
    typer.secho(f"strata: error: {message}", err=True, fg=typer.colors.RED)


def fail(error: StrataError, about: Path | str | None = None) -> None:
    """Print a one-line error naming the bad input (`about`, e.g. the database, when the message
    does not name it already) and exit non-zero (no traceback)."""
    message = str(error)
    if about is not None and str(about) not in message:
        message = f"{about}: {message}"
    error_line(message)
    raise typer.Exit(code=error.exit_code)


def report_exception(exc: BaseException) -> int:
    """The one error handler: a named error -> one line and its exit code (2 input, 1 tool);
    anything else is a bug -> one line plus the path of a log holding the traceback, exit 1."""
    known = describe(exc)
    if known is not None:
        error_line(known[1])
        return known[0]
    log = write_crash_log(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "-"
    error_line(
        f"internal error (a bug, please report it) {type(exc).__name__}: {first}; traceback in {log}"
    )
    return 1


def write_crash_log(exc: BaseException) -> str:
    """Write the traceback to $STRATA_LOG_DIR (default: the temp folder); return its path."""
    import os
    import tempfile
    import time
    import traceback

    folder = Path(os.environ.get("STRATA_LOG_DIR") or tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"strata-crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        path.write_text(
            f"strata {__version__}: {' '.join(sys.argv)}\n"
            + "".join(traceback.format_exception(exc)),
            encoding="utf-8",
        )
        return str(path)
    except OSError:
        return "(no log: the log folder is not writable)"


class StrataGroup(typer.core.TyperGroup):
    """Runs every command inside the one error handler, so that no traceback reaches a user,
    whether strata runs as the console script, `python -m mining.cli` or a test's CliRunner."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]  # click's Context: no public name in typer
        try:
            return super().invoke(ctx)
        except typer.Exit:
            raise
        except (KeyboardInterrupt, typer.Abort):
            typer.secho(INTERRUPTED, err=True)
            raise typer.Exit(code=130) from None
        except _CLICK_ERROR as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) else ""
            error_line(exc.format_message() + where)
            raise typer.Exit(code=exc.exit_code) from None
        except Exception as exc:  # the one place every error is turned into a line
            raise typer.Exit(code=report_exception(exc)) from None


app = typer.Typer(
    name="strata",
    help=(
        "Mine git histories for AI-assisted work and classify each change's layer "
        "(boilerplate | refactor | feature | architectural).\n\n"
        "Pipeline: crawl -> attribute -> features -> classify -> analysis. Each stage reads the "
        "previous stage's tables in the DuckDB file (default data/strata.duckdb) and can be rerun "
        "alone. Options mean the same in every command: see docs/cli.md."
    ),
    cls=StrataGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is literal: `[[repo]]` must not be read as markup
)

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB database file.", envvar="STRATA_DB")]
MirrorsOption = Annotated[
    Path | None,
    typer.Option(
        help="With --corpus: local mirrors to read instead of cloning (TSV name<TAB>path, or a folder of owner+name mirrors)."
    ),
]
CacheOption = Annotated[Path, typer.Option(help="Where clone URLs are cloned (bare).")]
#: the options every command shares, one definition each (docs/cli.md)
StoredReposOption = Annotated[
    list[str] | None, typer.Option("--repo", help="Only these stored repositories.")
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress and no summary; errors and the requested output still print.",
    ),
]
JobsOption = Annotated[
    int, typer.Option("--jobs", "-j", min=1, help="Parallel workers (default 1).")
]
DEFAULT_JOBS = 1
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace an output this command did not write (never the database)."
    ),
]


def stdout_is_terminal() -> bool:
    """Whether output goes to a person (escape control characters) or to a pipe (verbatim)."""
    return sys.stdout.isatty()


def refuse(message: str) -> None:
    """Refuse a nonsensical option combination before any work (exit 2)."""
    raise _USAGE_ERROR(message)


def refuse_url(repo: Path, option: str = "") -> None:
    """Refuse a URL where a repository on disk is read (`classify --repo`, `blame`): as a path it
    would fail as 'no such file' under a name with its "//" folded into "/"."""
    from mining.sources import is_url

    if repo.exists():
        return
    url = str(repo).replace(":/", "://", 1)
    if is_url(url) or is_url(str(repo)):
        refuse(
            f"{option}{url if is_url(url) else repo}: a URL; this reads a repository on disk (work "
            "tree, bare repo or mirror): clone it first (git clone --bare URL DIR)"
        )


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"strata {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Print version."),
    ] = False,
) -> None:
    """ai-strata command line."""


# --- stage commands: each section belongs to its stage; add new commands below this line ---

# --- reproduce (the main job) ----------------------------------------------------------------


@app.command()
def reproduce(
    db: DbOption = DEFAULT_DB,
    release: Annotated[
        Path, typer.Option(help="Release folder to load (parquet + manifest).")
    ] = RELEASE_DIR,
    out: Annotated[Path, typer.Option(help="Where the report and figures go.")] = REPORTS_DIR,
    force: ForceOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run the study's main job offline: load the shipped release, then analyse and report.

    Without a release (a fresh checkout of an early version) it crawls this repository's own
    history instead and prints the summary, so the pipeline is exercised end to end.
    """
    from mining.reproduce import run_reproduce
    from mining.runner import console

    console.quiet = quiet
    try:
        run_reproduce(db, release, out, force=force)
    finally:
        console.quiet = False  # one process may run several commands (tests, notebooks)


# --- crawl ---------------------------------------------------------------------------------


@app.command()
def crawl(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Work trees, bare repos, mirrors or clone URLs.", show_default=False),
    ] = None,
    db: DbOption = DEFAULT_DB,
    corpus: Annotated[
        Path | None,
        typer.Option(help="Corpus manifest (TOML with [[repo]] entries) instead of SOURCEs."),
    ] = None,
    mirrors: MirrorsOption = None,
    rev: Annotated[
        str, typer.Option(help="Revision to crawl for SOURCEs (the corpus pins its own).")
    ] = "HEAD",
    cache: CacheOption = DEFAULT_CACHE,
    jobs: JobsOption = DEFAULT_JOBS,
    quiet: QuietOption = False,
) -> None:
    """Crawl git histories into the database: commits, file_changes, identities, messages.

    Reads one streamed `git log` per repository and never writes into it. A second crawl adds only
    new commits; an interrupted crawl leaves each repository as before or fully updated.

    Examples:

      strata crawl .                       # this repository

      strata crawl ~/src/a /mirrors/b.git --db study.duckdb -j 2

      strata crawl --corpus data/corpus.toml --mirrors mirrors.tsv   # name<TAB>path per line
    """
    from mining.runner import resolve_targets, run_crawl

    if mirrors is not None and corpus is None:
        refuse(
            "--mirrors maps corpus names to local mirrors: it needs --corpus (give SOURCEs as paths instead)"
        )
    targets = resolve_targets(sources or [], corpus, mirrors, rev, cache)
    code = run_crawl(db, targets, jobs=jobs, quiet=quiet)
    if code:
        raise typer.Exit(code=code)


# --- build / release / load (mining/build.py, mining/release.py) -----------------------------


@app.command()
def build(
    db: DbOption = DEFAULT_DB,
    corpus: Annotated[
        Path, typer.Option(help="Corpus manifest (TOML with [[repo]] entries).")
    ] = CORPUS_TOML,
    mirrors: MirrorsOption = None,
    cache: CacheOption = DEFAULT_CACHE,
    jobs: JobsOption = DEFAULT_JOBS,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="dask.distributed scheduler address (tcp://host:8786): run the per-repo tasks there."
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Build the dataset: crawl -> attribute -> features -> classify for every corpus repository.

    Resumable: a repository already built at its pinned commit is skipped, so rerun a killed
    build. Per-repo log and JSON report under build-logs/ next to the database. See docs/build.md.

    Example: strata build --corpus data/corpus.toml --mirrors mirrors.tsv -j 2
    """
    from mining.runner import resolve_targets, run_build

    targets = resolve_targets([], corpus, mirrors, cache=cache)
    ok = run_build(db, targets, jobs=jobs, scheduler=scheduler, quiet=quiet)
    if not ok:
        raise typer.Exit(code=1)


@app.command()
def release(
    db: DbOption = DEFAULT_DB,
    out: Annotated[
        Path,
        typer.Option(
            help="Release folder to write: new, empty, or a previous release (else --force)."
        ),
    ] = RELEASE_DIR,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            help="Classifier evaluation JSON for DATASET.md (default: reports/classifier/evaluation.json, else reports/evaluation.json)."
        ),
    ] = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write the content-free release: Parquet per table, manifest.json (rows, sha256), DATASET.md.

    No messages, identities, names, emails, code or local paths; a privacy scan runs on the
    written files and the release is refused (nothing replaced) if it finds any.
    """
    from mining.release import write_release

    try:
        manifest = write_release(db, out, evaluation=evaluation, force=force)
    except StrataError as err:
        fail(err, db)
    if quiet:
        return
    size = sum(t["bytes"] for t in manifest["files"].values())
    typer.echo(
        f"release: {out} ({len(manifest['tables'])} tables, {size / 1e6:.1f} MB); privacy scan passed"
    )


@app.command()
def load(
    db: DbOption = DEFAULT_DB,
    release_dir: Annotated[
        Path, typer.Option("--release", help="Release folder (parquet + manifest.json).")
    ] = RELEASE_DIR,
    force: ForceOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build the database from a release, offline, checking every file's sha256 first.

    Replaces DB only if it was loaded from a release (else --force). Views: commit_facts, layer_shares, ai_by_month, tool_summary (README).
    """
    from mining.release import load_release

    counts = load_release(release_dir, db, force=force)
    if not quiet:
        typer.echo(f"loaded {sum(counts.values()):,} rows in {len(counts)} tables into {db}")


# --- attribute / blame -----------------------------------------------------------------------


@app.command()
def attribute(
    db: DbOption = DEFAULT_DB,
    repo: StoredReposOption = None,
    quiet: QuietOption = False,
) -> None:
    """Re-run AI attribution over stored metadata (after the catalog grows), without re-crawling.

    Writes attributions (tool, channel, evidence), commit_authors (human | ai_agent | automation)
    and adoption_markers; the crawl already runs this for each repository it stores.
    """
    from mining.attribute import attribute_all
    from mining.runner import ProgressLines, stage_run

    lines = ProgressLines(quiet)

    def progress(name: str, counts: dict[str, int]) -> None:
        lines.say(f"{name}: {counts['ai_commits']} AI commits of {counts['commits']}")

    try:
        with stage_run(db, "attribute", repo) as con:
            results = attribute_all(con, repo or None, progress)
    except StrataError as err:
        fail(err, db)
    if not quiet:
        n_ai = sum(r["ai_commits"] for r in results.values())
        typer.echo(f"attributed {n_ai} AI commits in {len(results)} repositories")


@app.command()
def blame(
    repo: Annotated[Path, typer.Argument(help="Work tree, bare repo or mirror.")],
    to: Annotated[str, typer.Option("--to", help="Revision whose files are blamed.")] = "HEAD",
    from_: Annotated[
        str | None, typer.Option("--from", help="Count only lines last changed in FROM..TO.")
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", help="Path glob to blame (repeatable; * crosses folders)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Path glob to skip (repeatable).")
    ] = None,
    releases: Annotated[
        str | None,
        typer.Option(
            "--releases",
            help="Tag glob, e.g. 'v*.*.0': every consecutive pair of matching tags (version order).",
        ),
    ] = None,
    blame_args: Annotated[
        str,
        typer.Option(
            "--blame-args",
            help='Extra git blame options, e.g. "-M100 -C100 -C -C" or "-w" (default: none).',
        ),
    ] = "",
    jobs: JobsOption = DEFAULT_JOBS,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table | json (a list with --releases).")
    ] = "table",
    as_json: Annotated[
        bool, typer.Option("--json", help="Same as --format json (kept for scripts).")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Share of lines AI tools wrote: blame the files at TO, count lines changed in FROM..TO.

    A line is AI when its last-changing commit carries AI evidence (same catalog as `attribute`;
    review suggestions excluded). JSON: {"from","to","files","total_lines","ai_lines","ai_share",
    "by_tool"}; ai_share is a fraction (0-1); by_tool sums to ai_lines: a line whose commit names
    several tools counts once, under the key "toolA+toolB". Example: strata blame . --releases 'v0.*.0' --blame-args "-M100 -C100 -C -C"
    """
    import json

    from rich.progress import Progress

    from mining.blame import blame_range, blame_releases

    refuse_url(repo)
    if fmt not in ("table", "json"):
        refuse(f"--format {fmt!r}: choose table or json")
    as_json = as_json or fmt == "json"
    with Progress(transient=True, disable=quiet or not sys.stderr.isatty()) as bar:
        task = bar.add_task("blame", total=None)

        def progress_range(done: int, total: int, label: str = to) -> None:
            bar.update(task, completed=done, total=total, description=f"blame {label}")

        if releases:
            results = blame_releases(
                repo,
                releases,
                include=include or (),
                exclude=exclude or (),
                blame_args=blame_args,
                jobs=jobs,
                progress=lambda tag, d, n: progress_range(d, n, tag),
            )
        else:
            results = [
                blame_range(
                    repo,
                    to,
                    from_,
                    include=include or (),
                    exclude=exclude or (),
                    blame_args=blame_args,
                    jobs=jobs,
                    progress=progress_range,
                )
            ]
    for r in results:
        if r.stubbed_blobs or r.skipped_files:
            typer.echo(
                f"strata: {r.to_rev}: {r.stubbed_blobs} missing history blobs stubbed, "
                f"{len(r.skipped_files)} files absent at {r.to_rev} skipped (partial clone)",
                err=True,
            )
    if as_json:
        data = [r.to_json() for r in results]
        typer.echo(json.dumps(data if releases else data[0], indent=2))
        return
    for r in results:
        tools = ", ".join(f"{t} {n}" for t, n in r.to_json()["by_tool"].items()) or "-"
        typer.echo(
            f"{r.from_rev or '(root)'}..{r.to_rev}: {r.files} files, {r.total_lines} lines, "
            f"{r.ai_lines} AI ({100 * r.ai_share:.1f}%): {tools}"
        )


# --- query ---------------------------------------------------------------------------------


@app.command()
def query(
    sql: Annotated[
        str, typer.Argument(help='SQL to run, e.g. "SELECT * FROM commit_facts LIMIT 5".')
    ],
    db: DbOption = DEFAULT_DB,
    format: Annotated[str, typer.Option("--format", "-f", help="table | csv | json")] = "table",
    quiet: QuietOption = False,
) -> None:
    """Run read-only SQL on the dataset and print the result (writes are refused).

    On a terminal, control characters stored in repository text (messages, paths, names) are
    shown escaped (\\x1b); through a pipe the stored text comes out unchanged. -q: no row count.

    Example: strata query --format csv "SELECT repo, count(*) FROM commits GROUP BY repo"
    """
    from mining import query as query_mod

    try:
        query_mod.check_format(format)
        cols, rows = query_mod.run_query(db, sql)
        typer.echo(
            query_mod.format_rows(cols, rows, format, escape=stdout_is_terminal(), footer=not quiet)
        )
    except StrataError as err:
        fail(err, db)


# --- features / classify / evaluate ----------------------------------------------------------


@app.command()
def features(
    db: DbOption = DEFAULT_DB,
    repo: StoredReposOption = None,
    quiet: QuietOption = False,
    sample: Annotated[
        int | None,
        typer.Option(
            help="Per repository, feature at most N AI-evidenced and N other commits (seeded hash of the SHA)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --sample.")] = 0,
    jobs: JobsOption = DEFAULT_JOBS,
) -> None:
    """Compute change features of every stored non-merge commit into commit_features.

    From the diff and the message only (trailers and attribution markers stripped), never from
    authorship. Resumable: commits already featured are skipped. Commits whose diff cannot be
    read (blobs absent from a partial clone) get no features.

    Examples:

      strata features --db study.duckdb --sample 300   # a quick sample

      strata features --db study.duckdb --jobs 2       # 2 processes
    """
    from mining.features import features_stage
    from mining.runner import ProgressLines, stage_run

    lines = ProgressLines(quiet)
    try:
        with (
            stage_run(
                db, "features", {"repo": repo, "sample": sample, "seed": seed, "jobs": jobs}
            ) as con,
            lines.heartbeat("features"),
        ):
            counts = features_stage(
                con, repo or None, lines.count, sample=sample, seed=seed, jobs=jobs
            )
    except StrataError as err:
        fail(err, db)
    if not quiet:
        typer.echo(f"featured {sum(counts.values())} commits in {len(counts)} repositories")


@app.command()
def structure(
    db: DbOption = DEFAULT_DB,
    repo: StoredReposOption = None,
    quiet: QuietOption = False,
) -> None:
    """Find structural-change events of every stored non-merge commit into commit_structure.

    Module added/removed, code moved across packages, public interface changed, contract file
    changed, runtime dependency added, build/deployment topology changed: from the file list, the
    trees and a few blobs, no model (definitions: mining/structure_events.toml). Resumable.

    Example: strata structure --db study.duckdb
    """
    from mining.runner import ProgressLines, stage_run
    from mining.structure import structure_stage

    lines = ProgressLines(quiet)
    try:
        with stage_run(db, "structure", {"repo": repo}) as con, lines.heartbeat("structure"):
            counts = structure_stage(con, repo or None, lines.count)
    except StrataError as err:
        fail(err, db)
    if not quiet:
        typer.echo(f"found events of {sum(counts.values())} commits in {len(counts)} repositories")


@app.command()
def classify(
    db: DbOption = DEFAULT_DB,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help="Classify commits of this repository (work tree, bare repo or mirror) without a database.",
        ),
    ] = None,
    shas: Annotated[
        Path | None,
        typer.Option(
            "--shas",
            help="With --repo: file with one commit id per line, or a CSV whose first column is "
            "sha ('-' = stdin).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="full | diff-only (shipped models; diff-only reads no message) or a model folder. Default: full.",
        ),
    ] = None,
    jobs: JobsOption = DEFAULT_JOBS,
    quiet: QuietOption = False,
) -> None:
    """Label each commit's layer (boilerplate | refactor | feature | architectural) and is_fix.

    Without --repo: every featured commit in the database -> commit_layers (the full model reads
    the messages table of a crawled database; labelled commits get their out-of-fold layer,
    is_oof). With --repo and --shas: print CSV
    `sha,layer,p_boilerplate,p_refactor,p_feature,p_architectural,is_fix`, one row per listed
    non-merge commit in the listing's order (notes on stderr name listed merges, which have no
    layer, and commits at a shallow clone's edge); there `-j N` runs N feature processes, each
    classifying its own rows (the database run takes no -j).

    Example: git rev-list --no-merges -n 100 HEAD | strata classify --repo . --shas - > out.csv
    """
    from mining.classify import CSV_COLUMNS, classify_shas, classify_stage, load_model
    from mining.features import BATCH, merge_commits
    from mining.gitcmd import full_commit_ids, resolve_git_dir
    from mining.gitlog import shallow_cuts
    from mining.runner import ProgressLines, read_commit_list, stage_run
    from mining.sources import locate_repository

    if repo is not None and shas is None:
        refuse("--repo needs --shas FILE (one commit id per line)")
    if shas is not None and repo is None:
        refuse(
            "--shas needs --repo PATH (without --repo every featured commit in --db is classified)"
        )
    if jobs != DEFAULT_JOBS and repo is None:
        refuse("--jobs applies with --repo and --shas (the database run classifies in one process)")
    if repo is not None:
        refuse_url(repo, "--repo ")
    lines = ProgressLines(quiet)
    try:
        if repo is not None and shas is not None:
            repo = locate_repository(repo)  # as crawl and blame: a subfolder names its work tree
            listed = read_commit_list(shas, "--shas")
            long = len(listed) > BATCH  # progress for a listing of more than one batch only
            with lines.heartbeat("classify") if long else contextlib.nullcontext():
                rows = classify_shas(
                    repo, listed, load_model(model), jobs, lines.count if long else None
                )
            ids = full_commit_ids(resolve_git_dir(repo), listed) if listed else []
            merges = merge_commits(repo, ids)
            done = set(rows["sha"]) | set(merges)
            lost = [s for s in ids if s not in done]
            if merges and not quiet:
                lines.say(
                    f"note: {len(merges)} listed commit(s) are merges and get no row (a merge has "
                    f"no layer), first {merges[0]}"
                )
            cut = [] if quiet else sorted(shallow_cuts(resolve_git_dir(repo)) & set(rows["sha"]))
            if cut:
                lines.say(
                    f"note: {len(cut)} listed commit(s) sit at the edge of a shallow clone "
                    f"(first {cut[0]}): git shows them as adding every file, so their layers are "
                    "not their change's; deepen the clone (git fetch --unshallow) for those"
                )
            unread = [] if quiet else list(rows.loc[rows["incomplete"], "sha"])
            if unread:
                lines.say(
                    f"note: git could not read the diff of {len(unread)} listed commit(s) (first "
                    f"{unread[0]}; blobs missing from a partial clone?): their layers are read "
                    "from the lists of files they change, without the changed lines (a clone "
                    "made with --filter: clone without it for their full layers)"
                )
            rows["is_fix"] = rows["is_fix"].map({True: "true", False: "false"})
            sys.stdout.write(rows[CSV_COLUMNS].to_csv(index=False, float_format="%.4f"))
            if lost:  # the rows git could read are printed; the run still fails, naming the rest
                raise SourceError(
                    f"{repo}: git could not read {len(lost)} listed commit(s) at all (first "
                    f"{lost[0]}; a clone made with --filter=tree:0, or corrupt objects?): no row "
                    "for them"
                )
            return
        counts: dict[str, int] = {}
        with stage_run(db, "classify", {"model": str(model or "shipped")}) as con:
            from mining.store import require_rows

            require_rows(
                con, "commit_features", "features"
            )  # the database's errors first, then the model's
            layer_model = load_model(model)
            repos = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT repo FROM commit_features ORDER BY 1"
                ).fetchall()
            ]
            for i, name in enumerate(repos, 1):  # one repository at a time: progress per repository
                counts.update(classify_stage(con, [name], layer_model))
                lines.say(
                    f"{name}: {counts[name]} commits classified ({i}/{len(repos)} repositories)"
                )
    except StrataError as err:
        fail(err, None if repo is not None else db)
    if not quiet:
        typer.echo(f"classified {sum(counts.values())} commits in {len(counts)} repositories")


@app.command()
def evaluate(
    labels: Annotated[
        Path, typer.Option(help="Labelled commits (repo, sha, layer, is_fix).")
    ] = LABELS_CSV,
    features_file: Annotated[
        Path, typer.Option("--features", help="Stored features of the labelled commits.")
    ] = LABEL_FEATURES,
    ai_status: Annotated[
        Path, typer.Option(help="repo, sha, ai: for accuracy on AI vs human commits.")
    ] = AI_STATUS,
    out: Annotated[
        Path, typer.Option(help="Folder for evaluation.json and the confusion matrix.")
    ] = CLASSIFIER_REPORTS,
    refresh_features: Annotated[
        bool,
        typer.Option("--refresh-features", help="Recompute the features from the mirrors first."),
    ] = False,
    mirrors: Annotated[
        Path | None, typer.Option(help="TSV repo<TAB>mirror path (else data/labels/repos.toml).")
    ] = None,
    train: Annotated[
        bool, typer.Option("--train", help="Then train the shipped model on all labels.")
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="With --train: model folder to write (default: the package's)."
        ),
    ] = None,
    oof: Annotated[
        Path, typer.Option("--oof", help="Where to write the out-of-fold predictions.")
    ] = OOF_PREDICTIONS,
    folds: Annotated[int, typer.Option(min=3, help="Outer folds (grouped by repository).")] = 5,
    inner_folds: Annotated[
        int, typer.Option(min=2, help="Inner folds (scores of the procedure's comparisons).")
    ] = 4,
    learning_curve: Annotated[
        bool,
        typer.Option(
            "--learning-curve/--no-learning-curve",
            help="Also refit on shares of each training fold.",
        ),
    ] = True,
    doc: Annotated[
        Path | None,
        typer.Option(help="Markdown file whose generated evaluation block is rewritten."),
    ] = Path("docs/classifier.md"),
    heldout_only: Annotated[
        bool,
        typer.Option(
            "--heldout-only",
            help="Only rescore the held-out rounds (data/labels/heldout/) into the existing "
            "evaluation.json and the doc tables: no cross-validation, no mirrors.",
        ),
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Score the layer classifier with nested, repository-grouped CV, weighted by 1/pi.

    The procedure (mean of three base learners) tunes nothing; its
    comparisons (each base, stacking, the former blend selection) are fixed on inner folds of
    each outer training set and scored on the same held-out repositories. Writes
    evaluation.json (per layer, size band, language, AI vs human, learning curve), the
    out-of-fold predictions of every labelled commit, the doc tables, and with --train both
    shipped models (full, diff-only). Features of new labelled commits, and all messages and
    paths, are read from the mirrors ($STRATA_MIRRORS, data/labels/repos.toml or --mirrors).

    Frozen predictions in data/labels/heldout/ are scored on their round's labels (held-out
    checks); --heldout-only does only that.

    Example: STRATA_MIRRORS=/path/to/mirrors strata evaluate --train

    Example: strata evaluate --heldout-only
    """
    from mining.evaluate import mirror_paths, refresh_heldout, run

    if heldout_only:
        if train:
            raise typer.BadParameter("--heldout-only scores stored predictions; drop --train")
        held = refresh_heldout(labels, ai_status, out, doc).get("heldout", {})
        if not quiet:
            for rnd, check in held.items():
                for variant, s in check["models"].items():
                    lo, hi = s["macro_f1_ci"]
                    typer.echo(
                        f"{rnd} {variant}: n={s['n']} macro-F1 {s['macro_f1']:.3f} "
                        f"[{lo:.3f}, {hi:.3f}]"
                    )
            typer.echo(f"report: {out / 'evaluation.json'}")
        return

    def progress(msg: str) -> None:
        if not quiet:
            typer.echo(msg, err=True)

    report = run(
        labels,
        features_file,
        ai_status,
        out,
        refresh=refresh_features,
        mirrors=mirror_paths(labels.parent / "repos.toml", tsv=mirrors),
        train=train,
        model_dir=model,
        oof_path=oof,
        doc=doc,
        n_splits=folds,
        inner_splits=inner_folds,
        learning_curve=learning_curve,
        progress=progress,
    )
    if quiet:
        return
    for variant, c in report["variants"].items():
        typer.echo(
            f"{variant}: n={report['n_evaluated']} macro-F1 {c['macro_f1']:.3f} "
            f"accuracy {c['accuracy']:.3f} architectural F1 {c['architectural_f1']:.3f} "
            f"refactor F1 {c['refactor_f1']:.3f}"
        )
    for name, b in report["baselines"].items():
        typer.echo(f"baseline {name}: macro-F1 {b['macro_f1']:.3f}")
    gap = report.get("by_authorship", {}).get("standardised_accuracy_gap_ai_minus_human")
    if gap is not None:
        typer.echo(f"standardised accuracy AI - human: {gap:+.3f}")
    typer.echo(f"report: {out / 'evaluation.json'}\nout-of-fold predictions: {oof}")


# --- analysis: figures / report (analysis/) --------------------------------------------------

EvaluationOption = Annotated[
    Path | None,
    typer.Option(
        help="Classifier evaluation JSON (default: reports/classifier/evaluation.json, else reports/evaluation.json)."
    ),
]
OofOption = Annotated[
    Path, typer.Option("--oof", help="Out-of-fold predictions CSV (repo, sha, true, pred), if any.")
]
BlameOption = Annotated[
    Path, typer.Option(help="`strata blame --releases --json` output for the release chart.")
]
BootOption = Annotated[
    int, typer.Option("--n-boot", min=10, help="Bootstrap resamples for every interval.")
]


FigureFormatsOption = Annotated[
    str,
    typer.Option("--figure-formats", help="Figure files to write, comma-separated: pdf,svg,png."),
]
#: `--format` means the output format everywhere else; figures and report accepted it for figure
#: formats before docs/cli.md, so it stays as a hidden, deprecated alias of --figure-formats
OldFormatOption = Annotated[
    str | None, typer.Option("--format", hidden=True, help="Deprecated: use --figure-formats.")
]


def _formats(value: str, old: str | None = None) -> tuple[str, ...]:
    if old is not None:
        typer.secho(
            "strata: warning: --format for figures is deprecated; use --figure-formats", err=True
        )
        value = old
    formats = tuple(f.strip().lower() for f in value.split(",") if f.strip())
    bad = [f for f in formats if f not in ("pdf", "svg", "png")]
    if bad or not formats:
        refuse(
            f"--figure-formats: unknown figure format(s) {', '.join(bad) or repr(value)}; choose from pdf,svg,png"
        )
    return formats


@app.command("figures")
def figures_command(
    db: DbOption = DEFAULT_DB,
    out: Annotated[
        Path, typer.Option(help="Report folder; figures go to OUT/figures.")
    ] = REPORTS_DIR,
    fmt: FigureFormatsOption = "pdf,svg,png",
    evaluation: EvaluationOption = None,
    oof: OofOption = OOF_PREDICTIONS,
    blame: BlameOption = BLAME_RELEASES,
    n_boot: BootOption = 1000,
    blame_repo: Annotated[
        str | None,
        typer.Option(
            help="Repository the --blame file describes (named in its figure), e.g. Aider-AI/aider."
        ),
    ] = None,
    old_fmt: OldFormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Draw the study's figures (each with a CSV of its numbers and a caption) and OUT/figures/index.html."""
    from analysis.figures import build_figures

    formats = _formats(fmt, old_fmt)
    try:
        written = build_figures(
            db, out, formats, blame_repo, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot
        )
    except StrataError as err:
        fail(err, db)
    if quiet:
        return
    for name, paths in written.items():
        typer.echo(
            f"{name}: {', '.join(p.name for p in paths) if paths else 'skipped (input missing)'}"
        )
    typer.echo(f"figures: {out / 'figures'}\ncontact sheet: {out / 'figures' / 'index.html'}")


@app.command("report")
def report_command(
    db: DbOption = DEFAULT_DB,
    out: Annotated[
        Path, typer.Option(help="Folder for study.md/html, figures/ and notebook HTML.")
    ] = REPORTS_DIR,
    evaluation: EvaluationOption = None,
    oof: OofOption = OOF_PREDICTIONS,
    blame: BlameOption = BLAME_RELEASES,
    n_boot: BootOption = 1000,
    fmt: FigureFormatsOption = "pdf,svg,png",
    notebooks: Annotated[
        Path | None,
        typer.Option(
            "--notebook-dir",
            help="Folder of py:percent notebooks to execute (default: the ones installed with the package).",
        ),
    ] = None,
    run_notebooks: Annotated[
        bool, typer.Option("--notebooks/--no-notebooks", help="Execute the notebooks into OUT.")
    ] = True,
    old_fmt: OldFormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write the study report (Markdown + HTML), its figures, and the executed notebooks.

    Every number in the report is computed from the dataset; missing inputs (classifier
    evaluation, blame releases) are named in the report instead of failing.
    """
    from analysis.report import NOTEBOOK_DIR, build_report

    try:
        paths = build_report(
            db,
            out,
            evaluation=evaluation,
            oof=oof,
            blame=blame,
            n_boot=n_boot,
            formats=_formats(fmt, old_fmt),
            notebooks=(notebooks or NOTEBOOK_DIR) if run_notebooks else None,
        )
    except StrataError as err:
        fail(err, db)
    if quiet:
        return
    for note in paths["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"report: {paths['report']}\nhtml: {paths['html']}\nfigures: {paths['figures']}")
    for nb in paths["notebooks"]:
        typer.echo(f"notebook: {nb}")


# --- analyze: your own repositories in one command (mining/analyze.py) ----------------------


@app.command()
def analyze(
    sources: Annotated[
        list[str],
        typer.Argument(help="Work trees, bare repos, mirrors or clone URLs.", show_default=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the database, report and figures (default: $STRATA_HOME, else ~/.local/share/strata, /analyses/<repository names>).",
            show_default=False,
        ),
    ] = None,
    rev: Annotated[str, typer.Option(help="Revision to analyse in every SOURCE.")] = "HEAD",
    jobs: JobsOption = DEFAULT_JOBS,
    n_boot: BootOption = 1000,
    fmt: FigureFormatsOption = "pdf,svg,png",
    run_notebooks: Annotated[
        bool,
        typer.Option(
            "--notebooks/--no-notebooks", help="Execute the study notebooks into OUT/report."
        ),
    ] = True,
    evaluation: EvaluationOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Write into an OUT that `strata analyze` did not create."),
    ] = False,
    quiet: QuietOption = False,
    old_fmt: OldFormatOption = None,
) -> None:
    """Analyse your own repositories: crawl, attribute, features, classify and report, in one folder.

    Resumable: a rerun skips repositories already built at the same head and the report if
    nothing changed. Ends by printing where the report is.

    Example: strata analyze ~/src/myproject https://github.com/owner/name --out ~/strata-myproject
    """
    from mining.analyze import run_analyze

    result = run_analyze(
        sources,
        out,
        rev=rev,
        jobs=jobs,
        n_boot=n_boot,
        formats=_formats(fmt, old_fmt),
        notebooks=run_notebooks,
        evaluation=evaluation,
        force=force,
        quiet=quiet,
    )
    for note in [] if quiet else result["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"database: {result['db']}\nfigures: {result['figures']}\nhtml: {result['html']}")
    typer.echo(f"report: {result['report']}")


def run(argv: list[str] | None = None) -> None:
    """Console entry point (`[project.scripts] strata`): the app's handler turns every error into
    one line; this guard covers Ctrl-C outside a command (start-up, import)."""
    try:
        app(args=argv, prog_name="strata")
    except KeyboardInterrupt:
        typer.secho(INTERRUPTED, err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    run()
