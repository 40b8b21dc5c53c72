"""`strata blame`: line counts on built repositories, checked against hand-computed values."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mining.blame import blame_range, blame_releases, parse_blame_args, release_tags, select_files
from mining.cli import app
from mining.errors import SourceError
from tests.gitrepo import RepoBuilder

AIDER = ("Pat Dev (aider)", "pat@example.org")
PAT = ("Pat Dev", "pat@example.org")
CLAUDE = ("Co-authored-by", "Claude <noreply@anthropic.com>")


def lines(*xs: str) -> str:
    return "".join(f"{x}\n" for x in xs)


@pytest.fixture
def release_repo(repo_builder) -> RepoBuilder:
    """v0.1.0: a.py(3) b.txt(2) | v0.2.0: aider edits a.py (+3 lines), Claude co-authors c.py(4),
    human d.py(2), `aider:` subject adds 1 line to b.txt | v0.3.0: human edits a.py line 1 |
    v0.10.0: Cursor co-authors one line in c.py."""
    r = repo_builder("rel")
    r.commit("init", {"a.py": lines("a1", "a2", "a3"), "b.txt": lines("b1", "b2")}, author=PAT)
    r.tag("v0.1.0")
    r.commit("feat: aider edit", {"a.py": lines("a1", "A2", "a3", "A4", "A5")}, author=AIDER)
    r.commit("add c", {"c.py": lines("c1", "c2", "c3", "c4")}, author=PAT, trailers=[CLAUDE])
    r.commit("add d", {"d.py": lines("d1", "d2")}, author=PAT)
    r.commit("aider: extend b", {"b.txt": lines("b1", "b2", "B3")}, author=PAT)
    r.tag("v0.2.0")
    r.commit("tweak", {"a.py": lines("x1", "A2", "a3", "A4", "A5")}, author=PAT)
    r.tag("v0.3.0")
    r.commit(
        "more c",
        {"c.py": lines("c1", "c2", "c3", "c4", "c5")},
        author=PAT,
        trailers=[("Co-authored-by", "Cursor Agent <cursoragent@cursor.com>")],
    )
    r.tag("v0.10.0")
    return r


def test_range_counts(release_repo):
    res = blame_range(release_repo.path, "v0.2.0", "v0.1.0", jobs=2)
    assert res.to_json() == {
        "from": "v0.1.0",
        "to": "v0.2.0",
        "files": 4,
        "total_lines": 10,  # a.py 3 (aider) + b.txt 1 + c.py 4 + d.py 2
        "ai_lines": 8,
        "ai_share": 0.8,  # a fraction since issue 15
        "by_tool": {"aider": 4, "claude-code": 4},
    }


def test_include_exclude_globs(release_repo):
    res = blame_range(release_repo.path, "v0.2.0", "v0.1.0", include=["*.py"])
    assert (res.files, res.total_lines, res.ai_lines) == (3, 9, 7)
    res = blame_range(release_repo.path, "v0.2.0", "v0.1.0", exclude=["d.py", "*.txt"])
    assert (res.files, res.total_lines, res.ai_lines) == (2, 7, 7)


def test_whole_history_counts_every_line(release_repo):
    res = blame_range(release_repo.path, "v0.2.0")
    assert (res.total_lines, res.ai_lines) == (14, 8)
    assert res.from_rev is None


def test_releases_in_version_order(release_repo):
    assert release_tags(release_repo.git_dir, "v0.*.0") == ["v0.1.0", "v0.2.0", "v0.3.0", "v0.10.0"]
    got = [r.to_json() for r in blame_releases(release_repo.path, "v0.*.0")]
    assert [(g["from"], g["to"], g["total_lines"], g["ai_lines"]) for g in got] == [
        ("v0.1.0", "v0.2.0", 10, 8),
        ("v0.2.0", "v0.3.0", 1, 0),
        ("v0.3.0", "v0.10.0", 1, 1),
    ]
    assert got[2]["by_tool"] == {"cursor": 1}
    assert got[1]["ai_share"] == 0.0


def test_cli_json_contract(release_repo):
    out = CliRunner().invoke(
        app, ["blame", str(release_repo.path), "--releases", "v0.*.0", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert isinstance(data, list) and len(data) == 3
    assert set(data[0]) == {"from", "to", "files", "total_lines", "ai_lines", "ai_share", "by_tool"}
    one = CliRunner().invoke(
        app, ["blame", str(release_repo.path), "--from", "v0.1.0", "--to", "v0.2.0", "--json"]
    )
    assert json.loads(one.stdout)["ai_share"] == 0.8
    text = CliRunner().invoke(
        app, ["blame", str(release_repo.path), "--to", "v0.2.0", "--from", "v0.1.0"]
    )
    assert "10 lines, 8 AI (80.0%)" in text.stdout


def test_bare_mirror_with_empty_config(release_repo, tmp_path):
    mirror = release_repo.bare_clone(tmp_path / "m.git", empty_config=True)
    res = blame_range(mirror, "v0.2.0", "v0.1.0")
    assert (res.total_lines, res.ai_lines) == (10, 8)


def test_copy_detection_is_selectable(repo_builder):
    r = repo_builder("mv")
    block = [f"def helper_{i}(value):  # a long enough line to be tracked" for i in range(6)]
    r.commit("init", {"keep.py": "x = 1\n"}, author=PAT)
    r.tag("v1")
    r.commit("agent writes helpers", {"a.py": lines(*block)}, author=AIDER)
    # not a whole-file rename (blame follows those anyway): the block moves into another file
    r.commit("move helpers", {"a.py": None, "keep.py": lines("x = 1", *block)}, author=PAT)
    r.tag("v2")
    plain = blame_range(r.path, "v2", "v1")
    assert (plain.total_lines, plain.ai_lines) == (6, 0)  # the move commit gets the lines
    copied = blame_range(r.path, "v2", "v1", blame_args="-C")
    assert (copied.total_lines, copied.ai_lines) == (6, 6)


def test_user_and_repo_blame_config_do_not_change_results(release_repo, tmp_path):
    ignore = tmp_path / "ignore-revs"
    edit = release_repo.git("log", "--format=%H", "-1", "--author=(aider)", "v0.2.0")
    ignore.write_text(edit + "\n")
    before = blame_range(release_repo.path, "v0.2.0", "v0.1.0").to_json()
    plain_before = release_repo.git("blame", "-s", "v0.1.0..v0.2.0", "--", "a.py")
    release_repo.git("config", "blame.ignoreRevsFile", str(ignore))
    release_repo.git("config", "blame.markIgnoredLines", "true")
    # plain git now answers differently (so this test could fail) ...
    assert release_repo.git("blame", "-s", "v0.1.0..v0.2.0", "--", "a.py") != plain_before
    # ... but strata blame does not
    assert blame_range(release_repo.path, "v0.2.0", "v0.1.0").to_json() == before


def test_blame_args_cannot_change_format_or_add_paths():
    assert parse_blame_args("-M100 -C100 -C -C -w") == ["-M100", "-C100", "-C", "-C", "-w"]
    for bad in ["--porcelain", "--line-porcelain", "HEAD", "--contents=x", "-- x"]:
        with pytest.raises(SourceError):
            parse_blame_args(bad)


def test_select_files_globs_cross_folders():
    paths = ["a.py", "pkg/b.py", "pkg/c.txt", "docs/x.md"]
    assert select_files(paths, ["*.py"], []) == ["a.py", "pkg/b.py"]
    assert select_files(paths, [], ["pkg/*"]) == ["a.py", "docs/x.md"]


def test_bad_revision_and_too_few_tags(release_repo):
    # an unknown revision is bad input (exit 2), as in the crawl: one head resolution for both
    with pytest.raises(SourceError, match="unknown revision 'nope'"):
        blame_range(release_repo.path, "nope")
    with pytest.raises(SourceError, match="fewer than two tags"):
        blame_releases(release_repo.path, "release-*")
    with pytest.raises(SourceError):
        blame_range(release_repo.path, "--output=x")


def test_partial_clone_missing_blobs_are_stubbed(repo_builder, tmp_path):
    r = repo_builder("src")
    big = lines(*[f"original line {i:03d} with some padding text" for i in range(20)])
    r.commit("init", {"a.txt": big, "huge.bin.txt": big + big}, author=PAT)
    r.tag("v1")
    r.commit("agent rewrites a", {"a.txt": lines("new 1", "new 2")}, author=AIDER)
    r.tag("v2")
    r.git("config", "uploadpack.allowFilter", "true")
    dest = tmp_path / "partial.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--filter=blob:limit=200", f"file://{r.path}", str(dest)],
        check=True,
    )
    (dest / "config").write_text("")  # like the fetched mirrors: no promisor remote to ask
    res = blame_range(dest, "v2")
    assert res.skipped_files == ["huge.bin.txt"]  # its blob at v2 is absent
    assert res.stubbed_blobs >= 1
    assert (res.total_lines, res.ai_lines) == (2, 2)
    [rel] = blame_releases(dest, "v*")
    assert (rel.total_lines, rel.ai_lines, rel.stubbed_blobs) == (2, 2, res.stubbed_blobs)
    out = CliRunner().invoke(app, ["blame", str(dest), "--to", "v2"])
    assert out.exit_code == 0
    assert "stubbed" in out.stderr


def test_progress_is_reported(release_repo):
    seen: list[tuple[int, int]] = []
    blame_range(release_repo.path, "v0.2.0", progress=lambda d, n: seen.append((d, n)))
    assert seen[-1] == (4, 4)


@pytest.fixture(autouse=True)
def _no_lazy_fetch(monkeypatch):
    monkeypatch.setenv("GIT_NO_LAZY_FETCH", "1")


def test_cli_rejects_missing_repo(tmp_path: Path):
    out = CliRunner().invoke(app, ["blame", str(tmp_path / "none"), "--to", "HEAD"])
    assert out.exit_code != 0 and "no such file" in out.output


# aider's own blame selection (docs/attribution.md), with its published options
_AIDER_INCLUDE = [
    "*.js",
    "*.py",
    "*.scm",
    "*.sh",
    "*Dockerfile",
    "*Gemfile",
    ".github/workflows/*.yml",
    "aider/resources/*.yml",
    "tests/fixtures/languages/*/test.*",
    "aider/website/index.html",
    "aider/website/share/index.md",
    "aider/website/_includes/head_custom.html",
    "aider/website/_includes/home.css",
    "aider/website/docs/leaderboards/index.md",
]
_AIDER_EXCLUDE = [
    "*prompts.py",
    "tests/fixtures/watch*",
    "aider/website/install.ps1",
    "aider/website/install.sh",
]


def _published_range(git_dir: Path, start: str, end: str) -> tuple[int, int]:
    """(total_lines, aider_total) of one range in aider's blame.yml as of HEAD."""
    import yaml

    raw = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", "HEAD:aider/website/_data/blame.yml"],
        capture_output=True,
        check=True,
    ).stdout
    [entry] = [e for e in yaml.safe_load(raw) if (e["start_tag"], e["end_tag"]) == (start, end)]
    return entry["total_lines"], entry["aider_total"]


@pytest.mark.mirror
@pytest.mark.parametrize(("start", "end"), [("v0.85.0", "v0.86.0"), ("v0.72.0", "v0.73.0")])
def test_aider_published_release_figures(start, end):
    """strata blame reproduces aider's own per-release figures (its blame.yml) on its mirror."""
    import os

    git_dir = Path(os.environ.get("STRATA_MIRRORS", "/work/.mirror")) / "Aider-AI+aider" / "repo"
    if not git_dir.is_dir():
        pytest.skip(f"{git_dir}: no mirror")
    res = blame_range(
        git_dir,
        end,
        start,
        include=_AIDER_INCLUDE,
        exclude=_AIDER_EXCLUDE,
        blame_args="-M100 -C100 -C -C",
    )
    total, aider = _published_range(git_dir, start, end)
    assert (res.total_lines, res.by_tool.get("aider", 0)) == (total, aider)
