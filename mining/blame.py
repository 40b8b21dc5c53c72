"""`strata blame`: the share of a release's surviving lines that AI tools wrote, from git blame.

Projects publish "AI wrote N% of the code in this release": blame every line of the files at the
release tag, keep the lines last changed by commits between the previous tag and this one, and
count those whose commit carries AI evidence. This module computes that figure with the same
catalog matcher as the `attribute` stage, reading commit metadata from git (no database), so it
runs on any clone or bare mirror.

Reproducibility: results depend on blame's options, so user and repository config that changes
blame (`blame.ignoreRevsFile`, `blame.markIgnoredLines`, ...) is overridden on the command line and
move/copy detection is opt-in through `blame_args`. Missing blobs (partial clones) are stubbed in a
scratch clone so blame does not fail; the stubs are reported. An unreadable object in a clone that
is not partial is corruption, and a shallow clone would credit the cut-off history to its boundary
commits: both are refused.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mining.attribute import (
    Catalog,
    CommitMeta,
    Evidence,
    ai_tools,
    branch_evidence,
    load_catalog,
    merged_branch,
)
from mining.errors import GitError, SourceError
from mining.gitcmd import common_dir, git_text, resolve_git_dir, run_git
from mining.gitlog import (
    absent_objects,
    commit_metadata,
    damaged_object,
    is_partial_clone,
    missing_objects,
    paths_touched,
    resolve_head,
    shallow_cuts,
    topo_graph,
    unreadable_object,
)
from mining.sources import locate_repository
from mining.trailers import subject

#: config that would silently change blame's answer, pinned on git's command line; an ignore-revs
#: file set in the repository's config is cleared by `--ignore-revs-file=` (git sorts config values,
#: so an empty config value cannot reset the list)
BLAME_CONFIG = (
    "blame.ignoreRevsFile=",
    "blame.markIgnoredLines=false",
    "blame.markUnblamableLines=false",
    "blame.blankBoundary=false",
    "blame.showRoot=false",
    "diff.algorithm=myers",
    "core.quotePath=false",
)
#: options blame_args may not override: they would change the output format we parse
_FORBIDDEN_ARGS = re.compile(
    r"^(--(porcelain|line-porcelain|incremental|contents|reverse|output|show-stats|textconv)\b|-[pn]$|-S$|--$)"
)
_HEADER_RE = re.compile(rb"^([0-9a-f]{40}|[0-9a-f]{64}) \d+ \d+( \d+)?$")

ProgressFn = Callable[[int, int], None]


@dataclass
class BlameResult:
    """Line counts for one range; `to_json` gives the documented JSON contract."""

    from_rev: str | None
    to_rev: str
    files: int = 0
    total_lines: int = 0
    ai_lines: int = 0
    by_tool: dict[str, int] = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)  # blob absent at `to`
    stubbed_blobs: int = 0  # history blobs replaced by an empty stub (partial clone)

    @property
    def ai_share(self) -> float:
        """A fraction (0-1), like every other share in ai-strata."""
        return round(self.ai_lines / self.total_lines, 4) if self.total_lines else 0.0

    def to_json(self) -> dict:
        """`{"from","to","files","total_lines","ai_lines","ai_share","by_tool"}`; `by_tool` sums
        to `ai_lines`: lines whose commit names several tools count once, under "toolA+toolB"."""
        return {
            "from": self.from_rev,
            "to": self.to_rev,
            "files": self.files,
            "total_lines": self.total_lines,
            "ai_lines": self.ai_lines,
            "ai_share": self.ai_share,
            "by_tool": dict(sorted(self.by_tool.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def parse_blame_args(text: str | Sequence[str] | None) -> list[str]:
    """Split `--blame-args` and refuse options that change the output format or read files."""
    args = shlex.split(text) if isinstance(text, str) else list(text or [])
    for a in args:
        if _FORBIDDEN_ARGS.match(a) or not a.startswith("-"):
            raise SourceError(
                f"--blame-args: {a!r} is not allowed (only blame options such as -M, -C, -w, "
                "--ignore-revs-file; no revisions, paths or output formats)"
            )
    return args


def select_files(paths: Sequence[str], include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Paths matching any `include` glob (all when none) and no `exclude` glob.

    Globs use fnmatch on the whole path, so `*` also crosses folders: `*.py` matches `a/b.py`.
    """
    out = []
    for p in paths:
        if include and not any(fnmatch.fnmatchcase(p, g) for g in include):
            continue
        if any(fnmatch.fnmatchcase(p, g) for g in exclude):
            continue
        out.append(p)
    return out


def release_tags(git_dir: str | Path, pattern: str) -> list[str]:
    """Tags matching the glob `pattern`, sorted as versions (git's version:refname order)."""
    out = git_text(git_dir, ["tag", "--list", "--sort=version:refname", "--", pattern])
    return [t for t in out.splitlines() if t]


# -- commit metadata -> AI tools ------------------------------------------------------------------
def ai_commits(
    git_dir: Path, to: str, from_rev: str | None, catalog: Catalog
) -> tuple[set[str], dict[str, frozenset[str]]]:
    """(commits in from..to, {sha: AI tools}) by the attribution stage's rules, read from git.

    The commits are read as the crawl reads them (the .mailmap of `to`) and attributed as the
    `attribute` stage attributes them (AI_CHANNELS, as `commit_facts.ai`); agent-branch merges
    anywhere in `to`'s history credit the commits they brought in.
    """
    revs = [to] if from_rev is None else [to, f"^{from_rev}"]
    commits = [CommitMeta.from_record(r) for r in commit_metadata(git_dir, revs, mailmap_rev=to)]
    in_range = {c.sha for c in commits}
    evidence = [
        (c.sha, ev)
        for c in commits
        for ev in catalog.commit_evidence(c.author, c.committer, c.message, c.mailmap_author)
    ]
    evidence += [(sha, ev) for sha, ev in _branch_evidence(git_dir, to, catalog) if sha in in_range]
    return in_range, ai_tools(evidence)


def _branch_evidence(git_dir: Path, to: str, catalog: Catalog) -> list[tuple[str, Evidence]]:
    """Agent-branch credit over the whole history of `to` (its graph read only when a merge
    names an agent branch)."""
    if not catalog.branches:
        return []
    merges = [
        (m.sha, m.message)
        for m in map(CommitMeta.from_record, commit_metadata(git_dir, [to], merges_only=True))
        if (branch := merged_branch(subject(m.message))) and catalog.branch_tool(branch)
    ]
    if not merges:
        return []
    parents, order = topo_graph(git_dir, to)
    return list(branch_evidence(catalog, merges, parents, order))


# -- missing blobs -------------------------------------------------------------------------------
def tree_blobs(git_dir: str | Path, to: str) -> list[tuple[str, str]]:
    """(path, blob id) of the regular files and symlinks at `to` (submodules left out)."""
    out = run_git(git_dir, ["ls-tree", "-r", "-z", "--full-tree", to]).stdout
    rows = []
    for entry in out.split(b"\x00"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        _mode, kind, oid = meta.split(b" ")
        if kind == b"blob":
            rows.append((path.decode("utf-8", "surrogateescape"), oid.decode()))
    return rows


def stub_missing_blobs(git_dir: str | Path, to: str, scratch: Path) -> tuple[Path, int]:
    """A scratch `clone --bare --shared` whose replace refs point every absent blob at an empty
    stub, so that blame (which reads old versions and, with -C, other files) cannot fail."""
    missing = sorted(absent_objects(Path(git_dir), [to]))
    clone = scratch / "stubbed.git"
    run_git(git_dir, ["clone", "-q", "--bare", "--shared", "--no-tags", str(git_dir), str(clone)])
    if missing:
        stub = _empty_blob(clone)
        cmds = "".join(f"update refs/replace/{oid} {stub}\n" for oid in missing)
        run_git(clone, ["update-ref", "--stdin"], input=cmds.encode())
    return clone, len(missing)


class StubbedClone:
    """The scratch clone with stubbed blobs, made on first need and shared by later ranges."""

    def __init__(self, git_dir: str | Path, tip: str) -> None:
        self.git_dir, self.tip = git_dir, tip
        self.clone: Path | None = None
        self.n_stubbed = 0
        self._scratch: Path | None = None

    def get(self) -> tuple[Path, int]:
        if self.clone is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="strata-blame-"))
            self.clone, self.n_stubbed = stub_missing_blobs(self.git_dir, self.tip, self._scratch)
        return self.clone, self.n_stubbed

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self.clone = self._scratch = None


def _empty_blob(git_dir: Path) -> str:
    return run_git(git_dir, ["hash-object", "-w", "--stdin"], input=b"").stdout.decode().strip()


def repository(repo: str | Path) -> Path:
    """The git directory to blame; SourceError for a shallow clone (blame would give the cut-off
    history's lines to the boundary commits: 0 AI lines where the full history has many)."""
    git_dir = resolve_git_dir(locate_repository(repo))
    if shallow_cuts(git_dir):
        raise SourceError(
            f"{repo}: shallow clone: blame needs the full history (git fetch --unshallow)"
        )
    return git_dir


def check_absent(git_dir: str | Path, absent: dict[str, str]) -> None:
    """Objects git cannot read, {oid: path}: expected in a partial clone (blobs left on the
    server), corruption otherwise, or when the object's loose file is there but unreadable."""
    if not absent:
        return
    objects = common_dir(git_dir) / "objects"
    partial = is_partial_clone(Path(git_dir))
    for oid, path in sorted(absent.items(), key=lambda kv: kv[1]):
        if not partial or (objects / oid[:2] / oid[2:]).exists():
            raise GitError(
                f"{git_dir}: object {oid} ({path}) is corrupt or missing "
                f"({'its loose file is unreadable' if partial else 'the clone is complete, so an unreadable object is damage'}; run git fsck)"
            )


# -- blame ------------------------------------------------------------------------------------
def blame_config_args() -> list[str]:
    out: list[str] = []
    for kv in BLAME_CONFIG:
        out += ["-c", kv]
    return out


def blame_file(
    git_dir: str | Path, to: str, from_rev: str | None, path: str, extra: Sequence[str]
) -> tuple[Counter[str] | None, str]:
    """Lines per last-changing commit for one file (None and git's error when blame failed)."""
    rng = [to] if from_rev is None else [f"{from_rev}..{to}"]
    args = [
        *blame_config_args(),
        "blame",
        "--porcelain",
        "--root",
        "--no-textconv",
        "--ignore-revs-file=",
        *extra,
        *rng,
        "--",
        path,
    ]
    proc = run_git(git_dir, args, check=False)
    if proc.returncode != 0:
        return None, proc.stderr.decode("utf-8", "replace")
    counts: Counter[str] = Counter()
    for line in proc.stdout.split(b"\n"):
        if not line or line[:1] == b"\t":
            continue
        if _HEADER_RE.match(line):
            counts[line[: line.index(b" ")].decode()] += 1
    return counts, ""


def blame_range(
    repo: str | Path,
    to: str,
    from_rev: str | None = None,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    blame_args: str | Sequence[str] | None = None,
    jobs: int = 2,
    progress: ProgressFn | None = None,
    catalog: Catalog | None = None,
    stubs: StubbedClone | None = None,
) -> BlameResult:
    """Blame the matching files at `to`; count lines last changed in from..to, and the AI ones.

    Without `from_rev` every line counts. `stubs` shares one stubbed scratch clone between the
    ranges of a run. Raises SourceError/GitError naming a bad repo or rev.
    """
    git_dir = repository(repo)
    # shas from here on: the scratch clone has no tags
    to_sha = resolve_head(git_dir, to)
    from_sha = resolve_head(git_dir, from_rev) if from_rev is not None else None
    extra = parse_blame_args(blame_args)
    catalog = catalog or load_catalog()
    result = BlameResult(from_rev, to)
    paths = _files_to_blame(git_dir, to_sha, from_sha, include, exclude, result)
    in_range, tools = ai_commits(git_dir, to_sha, from_sha, catalog)
    blame = _Blamer(git_dir, to_sha, from_sha, extra, jobs)
    totals, failed = blame.first_pass(paths, stubs, progress, result)
    if failed:
        totals.update(blame.with_stubs(failed, stubs, result))
    _count_lines(result, totals, in_range, tools)
    return result


def _files_to_blame(
    git_dir: Path,
    to: str,
    from_rev: str | None,
    include: Sequence[str],
    exclude: Sequence[str],
    result: BlameResult,
) -> list[str]:
    """The selected files at `to` whose blob is readable (the others are recorded as skipped),
    less those no commit in from..to touched: all their lines are boundary lines."""
    blobs = tree_blobs(git_dir, to)
    wanted = set(select_files([p for p, _ in blobs], include, exclude))
    blobs = [(p, o) for p, o in blobs if p in wanted]
    result.files = len(blobs)
    absent = missing_objects(git_dir, [o for _, o in blobs])
    check_absent(git_dir, {o: p for p, o in blobs if o in absent})
    result.skipped_files = sorted(p for p, o in blobs if o in absent)
    paths = [p for p, o in blobs if o not in absent]
    if from_rev is not None:
        touched = paths_touched(git_dir, to, from_rev)
        paths = [p for p in paths if p in touched]
    return paths


class _Blamer:
    """Blames files of one range in `jobs` threads: in the repository first, then the files
    that failed on an absent blob (partial clones only) in the stubbed scratch clone."""

    def __init__(
        self, git_dir: Path, to: str, from_rev: str | None, extra: Sequence[str], jobs: int
    ) -> None:
        self.git_dir, self.to, self.from_rev, self.extra = git_dir, to, from_rev, extra
        self.jobs = max(1, jobs)
        self.partial = is_partial_clone(git_dir)

    def _map(
        self, where: str | Path, paths: Sequence[str]
    ) -> Iterator[tuple[str, Counter[str] | None, str]]:
        def one(path: str) -> tuple[str, Counter[str] | None, str]:
            return (path, *blame_file(where, self.to, self.from_rev, path, self.extra))

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            yield from pool.map(one, paths)

    def first_pass(
        self,
        paths: Sequence[str],
        stubs: StubbedClone | None,
        progress: ProgressFn | None,
        result: BlameResult,
    ) -> tuple[Counter[str], list[str]]:
        """Lines per commit, and the files to retry with stubbed blobs (an already stubbed
        clone shared by the run is used from the start)."""
        where: str | Path = self.git_dir
        if stubs is not None and stubs.clone is not None:
            where, result.stubbed_blobs = stubs.clone, stubs.n_stubbed
        totals: Counter[str] = Counter()
        failed: list[str] = []
        for done, (path, counts, err) in enumerate(self._map(where, paths), start=1):
            if progress:
                progress(done, len(paths))
            if counts is None:
                if self.partial and unreadable_object(err) and not damaged_object(err):
                    failed.append(path)
                    continue
                last = err.strip().splitlines()[-1] if err.strip() else ""
                raise GitError(f"{self.git_dir}: git blame {path} failed: {last}")
            totals.update(counts)
        return totals, failed

    def with_stubs(
        self, paths: Sequence[str], stubs: StubbedClone | None, result: BlameResult
    ) -> Counter[str]:
        """Blame `paths` in the stubbed scratch clone (made here unless the run shares one)."""
        own = stubs is None
        stubs = stubs or StubbedClone(self.git_dir, self.to)
        totals: Counter[str] = Counter()
        try:
            clone, result.stubbed_blobs = stubs.get()
            for path, counts, err in self._map(clone, paths):
                if counts is None:
                    raise GitError(
                        f"{self.git_dir}: git blame {path} failed even with stubbed blobs: {err.strip()}"
                    )
                totals.update(counts)
        finally:
            if own:
                stubs.close()
        return totals


def _count_lines(
    result: BlameResult,
    totals: Counter[str],
    in_range: set[str],
    tools: dict[str, frozenset[str]],
) -> None:
    """Lines last changed in the range, and the AI ones: once per line under all its tools, so
    that `by_tool` sums to `ai_lines`."""
    by_tool: Counter[str] = Counter()
    for sha, n in totals.items():
        if sha not in in_range:
            continue  # boundary: last changed before from_rev
        result.total_lines += n
        ts = tools.get(sha)
        if ts:
            result.ai_lines += n
            by_tool["+".join(sorted(ts))] += n
    result.by_tool = dict(by_tool)


def blame_releases(
    repo: str | Path,
    pattern: str,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    blame_args: str | Sequence[str] | None = None,
    jobs: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
    catalog: Catalog | None = None,
) -> list[BlameResult]:
    """`blame_range` for every consecutive pair of tags matching `pattern` (version order)."""
    git_dir = repository(repo)
    tags = release_tags(git_dir, pattern)
    if len(tags) < 2:
        raise SourceError(f"{repo}: fewer than two tags match {pattern!r} (found {len(tags)})")
    out = []
    stubs = StubbedClone(git_dir, resolve_head(git_dir, tags[-1]))
    try:
        for a, b in zip(tags, tags[1:], strict=False):
            cb = (lambda d, n, b=b: progress(b, d, n)) if progress else None
            out.append(
                blame_range(
                    git_dir,
                    b,
                    a,
                    include=include,
                    exclude=exclude,
                    blame_args=blame_args,
                    jobs=jobs,
                    progress=cb,
                    catalog=catalog,
                    stubs=stubs,
                )
            )
    finally:
        stubs.close()
    return out
