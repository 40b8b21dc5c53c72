"""The main job behind `make reproduce`: everything a reader needs, offline, in one command."""

from __future__ import annotations

from pathlib import Path

from mining.runner import console, resolve_targets, run_crawl


def run_reproduce(db: Path, release: Path, out: Path, *, force: bool = False) -> None:
    """Load the release and run the study; without a release, crawl this repository itself."""
    manifest = release / "manifest.json"
    if manifest.is_file():
        from mining import release as release_mod

        release_mod.load_release(release, db, force=force)
        try:
            from analysis import report
        except ImportError:  # pragma: no cover - analysis is part of the package
            console.print("analysis package missing; dataset loaded only")
            return
        paths = report.build_report(db, out)
        console.print(f"report: {paths.get('report')}\nfigures: {paths.get('figures')}")
        return
    here = Path(__file__).resolve().parent.parent
    console.print(f"no release at {release}: crawling this repository ({here}) as a demonstration")
    targets = resolve_targets([str(here)], None)
    run_crawl(db, targets, quiet=True)
