"""Run every estimator once over the dataset; figures, report and notebooks read the result.

Why one place: the report's numbers and the figures' numbers must be the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import (
    correction,
    dataset,
    models,
    primary,
    sensitivity,
    shares,
    structure_events,
    timeline,
    units,
    within_dev,
)
from analysis.dataset import Evaluation
from mining.errors import StageError
from mining.labels import LABELS_CSV, OOF_PREDICTIONS
from mining.vocabulary import BLAME_RELEASES, EVALUATION_CANDIDATES

DEFAULT_BOOT = 1000


@dataclass
class Study:
    """Every table the report and figures draw on, plus notes on what was missing."""

    db: str
    n_boot: int
    seed: int
    commits: pd.DataFrame
    corpus: pd.DataFrame
    shares: pd.DataFrame
    differences: pd.DataFrame
    chi_square: dict
    tool_shares: pd.DataFrame
    channel_shares: pd.DataFrame
    arch_models: pd.DataFrame
    layer_models: pd.DataFrame
    multinomial: pd.DataFrame
    per_repo: pd.DataFrame
    within_pairs: pd.DataFrame
    within_logit: dict
    corrected: pd.DataFrame
    accuracy_by_group: pd.DataFrame
    channel_or: pd.DataFrame
    recall_bounds: pd.DataFrame
    mode_mix: pd.DataFrame
    moves: pd.DataFrame
    by_mode: pd.DataFrame
    monthly: pd.DataFrame
    layer_time: pd.DataFrame
    before_after: pd.DataFrame
    markers: pd.DataFrame
    evaluation: Evaluation | None
    blame: pd.DataFrame | None
    primary: pd.DataFrame = field(default_factory=pd.DataFrame)
    fe_check: dict = field(default_factory=dict)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    em_corrected: pd.DataFrame = field(default_factory=pd.DataFrame)
    labelled: pd.DataFrame = field(default_factory=pd.DataFrame)
    structure_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    structure_odds: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)


def _read_tables(
    db: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, pd.DataFrame, pd.DataFrame]:
    """(commits, commits with debatable automation as human, same-era structural events or None
    when commit_structure is absent, commit_facts, adoption markers), read in one connection."""
    con = dataset.open_db(db)
    try:
        commits = dataset.analysis_commits(con)
        debatable = dataset.analysis_commits(con, also_human=primary.DEBATABLE_AUTOMATION)
        try:
            events = structure_events.event_commits(con, era="same")
        except StageError:  # no commit_structure: the report says the events were not computed
            events = None
        facts = dataset.commit_facts(con)
        markers = dataset.adoption_markers(con)
    finally:
        con.close()
    return commits, debatable, events, facts, markers


def _input_notes(
    evaluation: str | Path,
    ev: Evaluation | None,
    oof: str | Path | None,
    blame: str | Path,
    blame_frame: pd.DataFrame | None,
    commits: pd.DataFrame,
    facts: pd.DataFrame,
    markers: pd.DataFrame,
) -> list[str]:
    """What the inputs cannot support, said in the report rather than failing: no evaluation,
    no out-of-fold predictions, no blame output, no AI commits, no markers, sampled layers."""
    notes: list[str] = []
    if ev is None:
        notes.append(
            f"No classifier evaluation at `{evaluation}`: shares are NOT corrected for classifier error "
            "(run `strata evaluate`)."
        )
    elif ev.oof is None:
        where = f" at `{oof}`" if oof else ""
        notes.append(
            f"No out-of-fold predictions{where}: the labelled set is resampled per true layer "
            "(multinomial rows of the confusion matrix), not by repository."
        )
    if blame_frame is None:
        notes.append(
            f"No `strata blame --releases --json` output at `{blame}`: the release chart is skipped."
        )
    if commits["is_ai"].sum() == 0:
        notes.append(
            "No AI-evidenced commits in the analysis population: AI vs human comparisons are empty."
        )
    if markers.empty:
        notes.append("No adoption markers: the before/after comparison is empty.")
    nonmerge = facts[~facts["is_merge"]] if "is_merge" in facts else facts
    layered = int(nonmerge["layer"].notna().sum()) if "layer" in nonmerge else 0
    if 0 < layered < len(nonmerge):
        notes.append(
            f"Layers exist for {layered:,} of {len(nonmerge):,} non-merge commits (a per-repository "
            "sample): layer shares are weighted back to each repository x AI-evidence stratum "
            "(design weights), so they describe the repositories, not the sample."
        )
    return notes


def run_study(
    db: str | Path,
    evaluation: str | Path | None = None,
    oof: str | Path | None = OOF_PREDICTIONS,
    blame: str | Path = BLAME_RELEASES,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    labels: str | Path = LABELS_CSV,
) -> Study:
    """Load the dataset read-only and compute every table of the study.

    `evaluation` defaults to the first of reports/classifier/evaluation.json, reports/evaluation.json.
    """
    if evaluation is None:
        found = [p for p in EVALUATION_CANDIDATES if p.exists()]
        evaluation = found[0] if found else EVALUATION_CANDIDATES[0]
    commits, debatable, events, facts, markers = _read_tables(db)
    ev = dataset.load_evaluation(evaluation, oof)
    blame_frame = dataset.load_blame_releases(blame)
    notes = _input_notes(evaluation, ev, oof, blame, blame_frame, commits, facts, markers)
    labelled = dataset.labelled_predictions(ev, commits, labels)
    return Study(
        db=str(db),
        n_boot=n_boot,
        seed=seed,
        commits=commits,
        corpus=dataset.corpus_table(commits, facts),
        shares=shares.layer_shares(commits, "group", n_boot, seed),
        differences=shares.share_differences(commits, n_boot=n_boot, seed=seed),
        chi_square=shares.chi_square(commits),
        tool_shares=shares.tool_shares(commits, n_boot, seed),
        channel_shares=shares.channel_shares(commits, n_boot, seed),
        arch_models=models.architectural_models(commits),
        layer_models=models.layer_models(commits),
        multinomial=models.multinomial_logit(commits),
        per_repo=models.per_repo_odds_ratios(commits),
        within_pairs=within_dev.paired_differences(commits, n_boot, seed, min_each=3),
        within_logit=within_dev.conditional_logit(commits, min_each=3),
        corrected=correction.corrected_shares(commits, ev, n_boot, seed),
        accuracy_by_group=correction.accuracy_by_group(ev, commits),
        channel_or=sensitivity.channel_odds_ratios(commits),
        recall_bounds=sensitivity.recall_bounds(commits),
        mode_mix=units.mode_mix(commits),
        moves=units.how_the_answer_moves(commits),
        by_mode=units.by_mode(commits),
        monthly=timeline.ai_share_by_month(commits),
        layer_time=timeline.layer_mix_by_period(commits),
        before_after=timeline.before_after(commits, markers, n_boot, seed),
        markers=markers,
        evaluation=ev,
        blame=blame_frame,
        primary=primary.primary_table(commits, n_boot, seed),
        fe_check=primary.fe_logit_check(primary.add_period(primary.same_era(commits))),
        sensitivity=primary.sensitivity_table(commits, n_boot, seed, debatable),
        em_corrected=correction.em_corrected_shares(
            primary.same_era(commits), labelled, min(n_boot, 500), seed
        ),
        labelled=labelled,
        structure_rates=(
            structure_events.event_rates(events, n_boot, seed)
            if events is not None
            else pd.DataFrame()
        ),
        structure_odds=(
            structure_events.event_odds(events, n_boot=n_boot, seed=seed)
            if events is not None
            else pd.DataFrame()
        ),
        notes=notes,
    )


def save_study(study: Study, path: str | Path) -> Path:
    """Pickle a computed study so that notebooks run by `strata report` reuse it instead of refitting."""
    import pickle

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(study, fh)
    return path


def load_or_run(db: str | Path, cache: str | Path | None = None, **kwargs: Any) -> Study:
    """The study from `cache` when it exists (written by this run of `strata report`), else computed."""
    import pickle

    if cache and Path(cache).exists():
        with Path(cache).open("rb") as fh:
            return pickle.load(fh)  # our own file, written by save_study in this run
    return run_study(db, **kwargs)
