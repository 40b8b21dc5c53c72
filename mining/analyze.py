"""`strata analyze`: one command from a user's repositories to a report, in one folder.

Runs the build (crawl -> attribute -> features -> classify, resumable per repository) into
OUT/strata.duckdb, then the study report into OUT/report. The report is redone only when the
built repositories or the report options changed (a stamp in OUT/analyze.json), so a rerun skips
what is done. OUT defaults to a folder under the user's data directory named for the sources,
never to the current folder, so the same command finds the same results from anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mining import __version__
from mining.errors import SourceError, StrataError
from mining.runner import console, resolve_targets, run_build
from mining.sources import is_url, repo_key_for

STATE_FILE = "analyze.json"
DB_NAME = "strata.duckdb"
REPORT_DIR = "report"
CLONES_DIR = "clones"
#: the checkout's classifier evaluation (editable installs): corrects shares for classifier error
CHECKOUT_EVALUATION = Path(__file__).resolve().parents[1] / "reports/classifier/evaluation.json"


def data_home() -> Path:
    """Where analyses go by default: $STRATA_HOME, else $XDG_DATA_HOME/strata, else
    ~/.local/share/strata (the XDG default), so results do not depend on the current folder."""
    if os.environ.get("STRATA_HOME"):
        return Path(os.environ["STRATA_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "strata"


def default_out(repo_keys: Sequence[str]) -> Path:
    """DATA_HOME/analyses/<names>: one folder per set of repositories, named after them."""
    names = sorted(k.replace("/", "+") for k in repo_keys)
    slug = "_".join(names)
    if len(slug) > 80:
        digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:8]
        slug = f"{names[0][:40]}_and_{len(names) - 1}_more_{digest}"
    return data_home() / "analyses" / slug


def check_out_folder(out: Path, force: bool) -> None:
    """Refuse to write into a non-empty folder that an earlier `strata analyze` did not create."""
    if out.exists() and not out.is_dir():
        raise SourceError(f"{out}: --out exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE_FILE).exists() and not force:
        raise SourceError(
            f"{out}: folder is not empty and was not written by `strata analyze` "
            "(choose another --out, or pass --force to write into it)"
        )


def built_repos(db: Path) -> list[tuple]:
    """(repo, head, features version, model version) of every repository built into `db`."""
    from mining import store

    con = store.connect(db)
    try:
        return con.execute(
            "SELECT repo, head_sha, features_version, model_version FROM build_state ORDER BY repo"
        ).fetchall()
    finally:
        con.close()


def build_stamp(rows: Sequence[tuple], options: dict[str, object]) -> str:
    """What the report depends on: every built repository's head, feature and model version,
    the report options and the package version. Equal stamps mean an equal report."""
    payload = json.dumps([list(rows), options, __version__], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_state(out: Path) -> dict:
    path = out / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except ValueError:
        return {}


def _write_state(out: Path, state: dict) -> None:
    """Write the state file whole (temp file + rename): an interrupted run leaves the old one."""
    tmp = out / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out / STATE_FILE)


def run_analyze(
    sources: Sequence[str],
    out: Path | None = None,
    *,
    rev: str = "HEAD",
    jobs: int = 1,
    n_boot: int = 1000,
    formats: Sequence[str] = ("pdf", "svg", "png"),
    notebooks: bool = True,
    evaluation: Path | None = None,
    force: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Build the sources into OUT/strata.duckdb and write OUT/report; return what was written.

    Returns {"out", "db", "report", "html", "figures", "notebooks", "notes", "seconds": {stage: s},
    "report_skipped": bool}. A failed repository stops the run before the report (named error).
    """
    if not sources:
        raise SourceError("nothing to analyze: give one or more work trees, mirrors or clone URLs")
    # validate local sources before anything is written; clone URLs once OUT is known
    local = [s for s in sources if not is_url(s)]
    resolved = dict(zip(local, resolve_targets(local, None, rev=rev), strict=True)) if local else {}
    keys = [resolved[s].source.repo if s in resolved else repo_key_for(s) for s in sources]
    out = Path(out).expanduser() if out is not None else default_out(keys)
    check_out_folder(out, force)
    out.mkdir(parents=True, exist_ok=True)
    state = _read_state(out)
    state.update({"sources": [str(s) for s in sources], "strata_version": __version__})
    _write_state(out, state)
    say = (lambda msg: None) if quiet else (lambda msg: console.print(msg, highlight=False))
    say(f"strata analyze: {len(sources)} source(s) into {out}")

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    urls = [s for s in sources if s not in resolved]
    if urls:
        say(f"cloning {len(urls)} URL(s) into {out / CLONES_DIR} (once; reruns reuse the clone)")
        resolved.update(
            zip(urls, resolve_targets(urls, None, rev=rev, cache=out / CLONES_DIR), strict=True)
        )
    targets = [resolved[s] for s in sources]
    db = out / DB_NAME
    ok = run_build(db, targets, jobs=jobs, quiet=quiet)
    seconds["build"] = round(time.perf_counter() - t0, 2)
    if not ok:
        raise StrataError(
            f"build of {out / DB_NAME} did not finish for every repository (see the table above "
            f"and {out / 'build-logs'}); rerun `strata analyze` to retry, finished ones are kept"
        )

    ev = evaluation or (
        CHECKOUT_EVALUATION if CHECKOUT_EVALUATION.exists() else out / "evaluation.json"
    )
    options = {
        "n_boot": n_boot,
        "formats": sorted(formats),
        "notebooks": notebooks,
        "evaluation": str(ev),
    }
    rows = built_repos(db)
    stamp = build_stamp(rows, options)
    earlier = sorted({r[0] for r in rows} - {t.source.repo for t in targets})
    if earlier:
        say(
            f"note: {out} also holds {', '.join(earlier)} from earlier runs; the report covers them too"
        )
    report_dir = out / REPORT_DIR
    done = state.get("report") or {}
    if done.get("stamp") == stamp and Path(done.get("report", "")).exists():
        say("report: up to date (same repositories, heads and options): skipped")
        return {**done, "out": out, "db": db, "seconds": seconds, "report_skipped": True}

    from analysis.report import NOTEBOOK_DIR, build_report

    say(f"report: running the study ({n_boot} bootstrap resamples) into {report_dir}")
    t0 = time.perf_counter()
    paths = build_report(
        db,
        report_dir,
        evaluation=ev,
        oof=None,
        blame=out / "blame_releases.json",
        n_boot=n_boot,
        formats=tuple(formats),
        notebooks=NOTEBOOK_DIR if notebooks else None,
    )
    seconds["report"] = round(time.perf_counter() - t0, 2)
    record = {
        "stamp": stamp,
        "report": str(paths["report"]),
        "html": str(paths["html"]),
        "figures": str(paths["figures"]),
        "notebooks": [str(p) for p in paths["notebooks"]],
        "notes": list(paths["notes"]),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
    }
    state["report"] = record
    _write_state(out, state)
    return {**record, "out": out, "db": db, "seconds": seconds, "report_skipped": False}
