"""How well each structural event finds architectural commits of the labelled set.

Why: the events are meant as a second outcome that no model decides; before the study leans on
one, its precision and recall for the codebook's architectural layer must be known, overall and
by change size (a big commit trips events by sheer breadth). Rerunnable as labels grow:

    python -m mining.structure_eval [--labels data/labels/labels.csv] [--out reports/structure]

Mirrors are found as in `strata evaluate` (data/labels/repos.toml, $STRATA_MIRRORS).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mining import vocabulary
from mining.diffs import stream_lines
from mining.errors import GitError, LabelError, StrataError
from mining.evaluate import mirror_paths
from mining.gitcmd import resolve_git_dir, run_git, stream_each_commit
from mining.labels import LABELS_CSV
from mining.structure import AGGREGATES, EVENTS, compute_structure

ARCHITECTURAL = "architectural"


def changed_lines(git_dir: str | Path, shas: list[str]) -> dict[str, int]:
    """Lines added + deleted per commit against its first parent (binary files count 0).

    A partial clone can lack a blob that a commit's numstat needs: git stops there, that commit
    is read alone (`gitcmd.stream_each_commit`) and one that still fails is left out (its size
    band is unknown), never guessed as 0.
    """
    items = stream_each_commit(
        git_dir, _NUMSTAT_ARGS, shas, _numstat_records, lambda sha: _numstat_alone(git_dir, sha)
    )
    return {sha: n for sha, n in items if n is not None}


_NUMSTAT_ARGS = [
    "log",
    "--no-walk=unsorted",
    "--stdin",
    "--numstat",
    "--format=%x00%H",
    "--diff-merges=off",
]


def _numstat_alone(git_dir: str | Path, sha: str) -> tuple[str, int | None]:
    try:
        proc = run_git(git_dir, _NUMSTAT_ARGS, input=(sha + "\n").encode())
    except GitError:
        return sha, None
    return next(_numstat_records([proc.stdout]), (sha, None))


def _numstat_records(chunks: Iterable[bytes]) -> Iterator[tuple[str, int | None]]:
    """(sha, changed lines) per commit of a `_NUMSTAT_ARGS` stream, each yielded once the next
    commit begins or the stream ends whole (a commit cut off by git stopping is never yielded).
    Lines are cut at `diffs.MAX_LINE_BYTES`, past the counts that lead a numstat line."""
    sha: str | None = None
    total = 0
    for line in stream_lines(chunks):
        if line.startswith(b"\x00"):
            if sha is not None:
                yield sha, total
            sha, total = line[1:].decode().strip(), 0
        elif sha and line.strip():
            a, d = line.split(b"\t", 2)[:2]
            total += (int(a) if a.isdigit() else 0) + (int(d) if d.isdigit() else 0)
    if sha is not None:
        yield sha, total


def labelled_events(labels: pd.DataFrame, mirrors: dict[str, str]) -> pd.DataFrame:
    """The labels joined to each commit's events and changed lines, read from the mirrors."""
    parts = []
    for repo, group in labels.groupby("repo", sort=True):
        if repo not in mirrors:
            raise LabelError(f"{repo}: no mirror known (set STRATA_MIRRORS or repos.toml `mirror`)")
        git_dir = resolve_git_dir(mirrors[repo])
        shas = list(group["sha"])
        events = compute_structure(git_dir, shas)
        events["changed_lines"] = events["sha"].map(changed_lines(git_dir, shas))
        parts.append(group.merge(events, on="sha", how="inner"))
    return pd.concat(parts, ignore_index=True)


def size_band(lines: pd.Series) -> pd.Series:
    """The band name (mining.vocabulary) of each changed-line count, keeping the index."""
    return pd.Series(vocabulary.size_band(lines), index=lines.index)


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def precision_recall(df: pd.DataFrame) -> pd.DataFrame:
    """Per event (and AGGREGATES), per size band (and "all"): flagged, hits, precision, recall, lift.

    Precision: architectural share among flagged commits; recall: flagged share among the
    architectural ones; lift: precision over the band's architectural share (1 = no better than
    flagging at random). Empty denominators give NaN, never 0. With a `weight` column (1/pi of
    the labelled set's design) the same three are also given weighted to the population
    (`precision_w`, `recall_w`, `lift_w`): the enrichment strata draw commits by structural
    hints, so unweighted counts overstate how often an event meets an architectural commit."""
    df = df.assign(band=size_band(df["changed_lines"]))
    for name, members in AGGREGATES.items():
        df[name] = df[list(members)].any(axis=1)
    arch = (df["layer"] == ARCHITECTURAL).to_numpy()
    w = df["weight"].to_numpy(float) if "weight" in df.columns else np.ones(len(df))
    rows = []
    for band in ["all", *vocabulary.SIZE_BAND_NAMES]:
        sel = np.ones(len(df), bool) if band == "all" else (df["band"] == band).to_numpy()
        for event in [*EVENTS, *AGGREGATES]:
            flagged = df[event].to_numpy(bool) & sel
            hits, n_arch = flagged & arch, arch & sel
            row = {
                "event": event,
                "band": band,
                "commits": int(sel.sum()),
                "architectural": int(n_arch.sum()),
                "flagged": int(flagged.sum()),
                "hits": int(hits.sum()),
            }
            for suffix, v in (("", np.ones(len(df))), ("_w", w)):
                prec = _ratio(v[hits].sum(), v[flagged].sum())
                row[f"precision{suffix}"] = prec
                row[f"recall{suffix}"] = _ratio(v[hits].sum(), v[n_arch].sum())
                row[f"lift{suffix}"] = _ratio(prec, _ratio(v[n_arch].sum(), v[sel].sum()))
            rows.append(row)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, band: str = "all") -> str:
    """A markdown table of one band: counts, then precision, recall and lift unweighted and
    weighted to the population (1/pi)."""
    sub = table[table["band"] == band]
    lines = [
        "| event | flagged | architectural among flagged | precision | recall | lift "
        "| precision (1/pi) | recall (1/pi) | lift (1/pi) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    cols = ("precision", "recall", "lift", "precision_w", "recall_w", "lift_w")
    for r in sub.itertuples():
        vals = " | ".join("-" if np.isnan(v) else f"{v:.2f}" for v in (getattr(r, c) for c in cols))
        lines.append(f"| {r.event} | {r.flagged} | {r.hits} | {vals} |")
    return "\n".join(lines)


def run(labels_csv: Path, out: Path, mirrors: dict[str, str] | None = None) -> pd.DataFrame:
    """Compute the table, write `out`/validation.csv and validation.md, return the table."""
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        labels = pd.DataFrame(list(csv.DictReader(fh)))
    if labels.empty or not {"repo", "sha", "layer"} <= set(labels.columns):
        raise LabelError(f"{labels_csv}: needs columns repo, sha, layer")
    cols = ["repo", "sha", "layer", *(["pi"] if "pi" in labels.columns else [])]
    df = labelled_events(labels[cols], mirrors or mirror_paths())
    if "pi" in df.columns:  # the design's weights: population shares, not sample shares
        df["weight"] = 1.0 / pd.to_numeric(df["pi"])
    table = precision_recall(df)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "validation.csv", index=False, float_format="%.4f")
    text = [
        f"Labelled commits: {len(df)}, architectural: {int((df['layer'] == ARCHITECTURAL).sum())}"
    ]
    for band in ["all", *vocabulary.SIZE_BAND_NAMES]:
        sub = table[(table["band"] == band) & (table["event"] == "any_event")].iloc[0]
        text += [
            "",
            f"### {band} ({sub['commits']} commits, {sub['architectural']} architectural)",
            "",
            markdown(table, band),
        ]
    (out / "validation.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: validate the events against the labels; one-line errors, no traceback."""
    ap = argparse.ArgumentParser(prog="python -m mining.structure_eval", description=__doc__)
    ap.add_argument("--labels", type=Path, default=LABELS_CSV)
    ap.add_argument("--out", type=Path, default=vocabulary.REPORTS_DIR / "structure")
    args = ap.parse_args(argv)
    try:
        run(args.labels, args.out)
    except (StrataError, OSError) as err:
        print(f"structure_eval: error: {err}", file=sys.stderr)
        return 1
    print((args.out / "validation.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
