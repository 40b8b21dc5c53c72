"""Crash safety (issue 8): SIGKILL `strata crawl` / `strata build` at random points, resume, and get
exactly what one uninterrupted run gives (row counts and a checksum per table).

After every kill the database must hold each repository either fully or not at all.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.gitrepo import RepoBuilder

STRATA = Path(sys.executable).parent / "strata"
#: columns that record when or how fast a run happened, not what it found
VOLATILE = {"crawled_at", "started_at", "finished_at", "run_id", "built_at", "peak_rss_mb"}
SKIP_TABLES = {"runs", "strata_meta"}
WHO = b"Ada Human <ada@example.org>"
BOT = b"Co-authored-by: Claude <noreply@anthropic.com>"


def grow_history(path: Path, n_commits: int, seed: int, start: int = 0) -> Path:
    """Append `n_commits` synthetic commits (Python files growing, some deleted, some AI trailers)
    to branch main of the repository at `path` (created if needed), via one fast-import."""
    if not (path / ".git").exists():
        RepoBuilder(path)
    rng = random.Random(seed)
    files: dict[str, list[str]] = {}
    if start:  # re-read current files so that appended commits modify them
        out = subprocess.run(
            ["git", "-C", str(path), "ls-tree", "-r", "--name-only", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for name in out:
            blob = subprocess.run(
                ["git", "-C", str(path), "show", f"main:{name}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            files[name] = blob.splitlines(keepends=True)
    chunks: list[bytes] = []
    for i in range(start, start + n_commits):
        stamp = b"%d +0000" % (1704067200 + 3600 * i)
        msg = b"change %d\n" % i
        if rng.random() < 0.2:
            msg += b"\n" + BOT + b"\n"
        ops: list[bytes] = []
        for _ in range(rng.randint(1, 3)):
            name = f"pkg/mod{rng.randint(0, 39)}.py"
            if name in files and rng.random() < 0.05:
                del files[name]
                ops.append(b"D " + name.encode() + b"\n")
                continue
            body = files.setdefault(name, ["import os\n"])
            body.append(f"\n\ndef f{i}_{rng.randint(0, 999)}(x):\n    return x + {i}\n")
            data = "".join(body).encode()
            ops.append(
                b"M 100644 inline " + name.encode() + b"\ndata %d\n" % len(data) + data + b"\n"
            )
        chunks.append(
            b"commit refs/heads/main\nauthor "
            + WHO
            + b" "
            + stamp
            + b"\ncommitter "
            + WHO
            + b" "
            + stamp
            + b"\ndata %d\n" % len(msg)
            + msg
            + (b"from refs/heads/main^0\n" if start and i == start else b"")  # continue the branch
            + b"".join(ops)
            + b"\n"
        )
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(chunks), check=True
    )
    return path


def digest(db: Path) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the sorted rows) per table, volatile run-time columns left out."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        for t in tables:
            if t in SKIP_TABLES:
                continue
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                    [t],
                ).fetchall()
                if r[0] not in VOLATILE and not r[0].endswith("_seconds")
            ]
            row = ", ".join(f'"{c}"' for c in cols)
            n, h = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')) "
                f'FROM (SELECT CAST(ROW({row}) AS VARCHAR) AS r FROM "{t}")'
            ).fetchone()
            out[t] = (n, h)
        return out
    finally:
        con.close()


def snapshot_copy(db: Path, dest: Path) -> Path | None:
    """Copy a killed run's database (and WAL) so that inspecting it changes nothing."""
    if not db.exists():
        return None
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    for p in db.parent.glob(db.name + "*"):
        if p.is_file():
            shutil.copy2(p, dest / p.name)
    return dest / db.name


def assert_whole_repos(db: Path, scratch: Path) -> int:
    """Every stored repository is complete; no rows of a repository that was not stored."""
    copy = snapshot_copy(db, scratch)
    if copy is None:
        return 0
    con = duckdb.connect(str(copy))  # replays the WAL in the copy only
    try:
        if not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'repos'"
        ).fetchone()[0]:
            return 0  # killed before the schema was committed: an empty file
        stored = dict(con.execute("SELECT repo, n_commits FROM repos").fetchall())
        per = dict(con.execute("SELECT repo, count(*) FROM commits GROUP BY repo").fetchall())
        assert per == {r: n for r, n in stored.items() if n}, (stored, per)
        for table in ("identities", "messages"):
            got = dict(con.execute(f"SELECT repo, count(*) FROM {table} GROUP BY repo").fetchall())
            assert got == per, table
        files = dict(
            con.execute("SELECT repo, count(*) FROM file_changes GROUP BY repo").fetchall()
        )
        declared = dict(con.execute("SELECT repo, n_file_changes FROM repos").fetchall())
        assert files == {r: n for r, n in declared.items() if n}
        return len(stored)
    finally:
        con.close()


def run_to_end(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def kill_at_random_points(
    cmd: list[str], db: Path, scratch: Path, delays: list[float]
) -> list[int]:
    """Start `cmd`, SIGKILL it after each delay in turn; check the database after every kill.
    Returns how many repositories were stored at each kill (shows where the kills landed)."""
    stored = []
    for delay in delays:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        stored.append(assert_whole_repos(db, scratch))
    return stored


def timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    run_to_end(cmd)
    return time.monotonic() - t0


def crawl_kill_resume(tmp_path: Path, sizes: tuple[int, ...], kills: int, more: int) -> None:
    """Kill a fresh crawl `kills` times, resume; then add `more` commits and kill the incremental
    crawl too. Each resumed result must equal an uninterrupted crawl of the same repositories."""
    repos = [grow_history(tmp_path / f"r{i}", n, seed=i) for i, n in enumerate(sizes)]
    crawl = [str(STRATA), "crawl", *map(str, repos), "-q", "--db"]
    reference = tmp_path / "reference.duckdb"
    seconds = timed([*crawl, str(reference)])
    rng = random.Random(20240501)
    db = tmp_path / "killed.duckdb"
    scratch = tmp_path / "scratch"
    kill_at_random_points(
        [*crawl, str(db)], db, scratch, [rng.uniform(0.3, seconds) for _ in range(kills)]
    )
    run_to_end([*crawl, str(db)])
    assert digest(db) == digest(reference)
    if not more:
        return
    grow_history(repos[0], more, seed=99, start=sizes[0])
    fresh = tmp_path / "fresh.duckdb"
    seconds = timed([*crawl, str(fresh)])
    kill_at_random_points(
        [*crawl, str(db)],
        db,
        scratch,
        [rng.uniform(0.3, seconds) for _ in range(max(1, kills // 2))],
    )
    run_to_end([*crawl, str(db)])
    assert digest(db) == digest(fresh)
    assert digest(db)["commits"][0] == sum(sizes) + more


def test_sigkill_crawl_then_resume_equals_uninterrupted(tmp_path):
    crawl_kill_resume(tmp_path, (200, 100, 100), kills=3, more=40)


@pytest.mark.slow
def test_sigkill_large_crawl_many_times(tmp_path):
    crawl_kill_resume(tmp_path, (4000, 1500, 1500), kills=8, more=800)


@pytest.mark.slow
def test_sigkill_build_then_resume_equals_uninterrupted(tmp_path):
    repos = [
        grow_history(tmp_path / f"r{i}", n, seed=10 + i) for i, n in enumerate((200, 120, 120))
    ]
    manifest = tmp_path / "corpus.toml"
    manifest.write_text("".join(f"[[repo]]\nname = 'test/{p.name}'\npath = '{p}'\n" for p in repos))
    reference = tmp_path / "ref" / "strata.duckdb"
    build = [str(STRATA), "build", "--corpus", str(manifest), "-q", "--db"]
    seconds = timed([*build, str(reference)])
    db = tmp_path / "killed" / "strata.duckdb"
    rng = random.Random(7)
    kill_at_random_points(
        [*build, str(db)], db, tmp_path / "scratch", [rng.uniform(0.5, seconds) for _ in range(4)]
    )
    run_to_end([*build, str(db)])
    assert digest(db) == digest(reference)
