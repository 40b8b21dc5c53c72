"""Correct layer shares for classifier error with the grouped-CV confusion matrix.

With P[i, j] = P(predicted j | true i) from repository-grouped cross-validation, observed shares q
relate to true shares p by q = p P, so p = q P^-1 (matrix inversion; negative components clipped
and the rest renormalised). Rogan-Gladen does the same per layer from that layer's sensitivity
and specificity, a one-vs-rest check that does not need the full matrix to be well conditioned.
Intervals bootstrap both sources of uncertainty together: the corpus (by repository) and the
labelled set (by repository when out-of-fold predictions are available, else each true-layer row
of the confusion matrix as a multinomial).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import LAYERS
from analysis.dataset import Evaluation, commits_in, row_normalise
from analysis.stats import (
    bootstrap_sums,
    choose_design,
    cluster_counts,
    collapsed,
    design_counts,
    percentile_ci,
    rescue_difference,
    rescue_share,
    shares_of,
)

METHODS = ("raw", "inverse", "rogan_gladen", "inverse_by_group")


def invert(q: np.ndarray, misclassification: np.ndarray) -> np.ndarray:
    """True shares from observed shares (last axis) by matrix inversion, clipped to the simplex."""
    try:
        inv = np.linalg.inv(misclassification)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(misclassification)
    p = np.clip(q @ inv, 0, None)
    total = p.sum(axis=-1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, np.nan), where=total > 0)


def sensitivity_specificity(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per layer, one vs rest: sensitivity P(pred k | true k), specificity P(pred not k | true not k)."""
    c = np.asarray(confusion, float)
    k = len(c)
    sens, spec = np.empty(k), np.empty(k)
    for j in range(k):
        rest = np.arange(k) != j
        true_j = c[j].sum()
        sens[j] = c[j, j] / true_j if true_j else np.nan
        true_rest = c[rest].sum()
        spec[j] = c[np.ix_(rest, rest)].sum() / true_rest if true_rest else np.nan
    return sens, spec


def rogan_gladen(q: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Per-layer Rogan-Gladen estimate (q + Sp - 1) / (Se + Sp - 1), clipped to [0, 1].

    The per-layer estimates need not sum to 1; that gap is itself a diagnostic.
    """
    sens, spec = sensitivity_specificity(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (q + spec - 1) / (sens + spec - 1)
    return np.clip(p, 0, 1)


def labelled_draws(evaluation: Evaluation, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap confusion matrices (n_boot x L x L) from the labelled set."""
    rng = np.random.default_rng(seed)
    if evaluation.oof is not None and len(evaluation.oof):
        oof = evaluation.oof
        counts, _, _ = cluster_counts(oof, "repo", "true", LAYERS, outcome="pred")
        # cluster_counts sorts the true labels alphabetically; put them in LAYERS order
        present = sorted(oof["true"].unique())
        full = np.zeros((counts.shape[0], len(LAYERS), len(LAYERS)))
        for i, label in enumerate(present):
            full[:, LAYERS.index(label)] = counts[:, i]
        return bootstrap_sums(full, n_boot, seed)
    conf = evaluation.confusion
    draws = np.empty((n_boot, *conf.shape))
    for i, row in enumerate(conf):
        total = commits_in(row)
        if total == 0:
            draws[:, i] = 0
            continue
        draws[:, i] = rng.multinomial(total, row / row.sum(), size=n_boot)
    return draws


def not_identified(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A corrected interval of zero width comes from clipping every draw to the same edge of the
    simplex, not from the data: the share is not identified there, so it has no interval (NaN)."""
    stuck = collapsed(lo, hi)
    return np.where(stuck, np.nan, lo), np.where(stuck, np.nan, hi)


def corrected_shares(
    df: pd.DataFrame,
    evaluation: Evaluation | None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Raw and corrected layer shares per group, and the ai - human difference, with joint CIs.

    Columns: group (human | ai | ai - human), layer, method (raw | inverse | rogan_gladen), share,
    lo, hi. Without an evaluation only the raw rows are returned.
    """
    design = choose_design(df, "group")
    counts, groups, strata = design_counts(df, "group", LAYERS, design)
    total = counts.sum(axis=0)
    q_point = shares_of(total)
    q_draws = shares_of(bootstrap_sums(counts, n_boot, seed, strata))
    estimates = {"raw": (q_point, q_draws)}
    if evaluation is not None:
        conf = evaluation.confusion
        c_draws = labelled_draws(evaluation, n_boot, seed + 1)
        p_draws = row_normalise(c_draws)
        estimates["inverse"] = (
            invert(q_point, row_normalise(conf)),
            np.stack([invert(q_draws[b], p_draws[b]) for b in range(n_boot)]),
        )
        estimates["rogan_gladen"] = (
            rogan_gladen(q_point, conf),
            np.stack([rogan_gladen(q_draws[b], c_draws[b]) for b in range(n_boot)]),
        )
        by_group = _by_group(evaluation, groups, q_point, q_draws, n_boot, seed + 2)
        if by_group is not None:
            estimates["inverse_by_group"] = by_group
    rows = []
    for method, (point, draws) in estimates.items():
        lo, hi = percentile_ci(draws, level)
        if method == "raw":
            lo, hi, _ = rescue_share(lo, hi, total, total.sum(axis=1, keepdims=True), level)
        else:
            lo, hi = not_identified(lo, hi)
        for g, group in enumerate(groups):
            for k, layer in enumerate(LAYERS):
                rows.append(
                    {
                        "group": group,
                        "layer": layer,
                        "method": method,
                        "share": point[g, k],
                        "lo": lo[g, k],
                        "hi": hi[g, k],
                    }
                )
        if "ai" in groups and "human" in groups:
            ia, ih = groups.index("ai"), groups.index("human")
            if method == "raw":
                n_ai, n_hu = total[ia].sum(), total[ih].sum()
                dlo, dhi, _ = rescue_difference(
                    draws[:, ia], draws[:, ih], total[ia], n_ai, total[ih], n_hu, level
                )
            else:
                dlo, dhi = not_identified(*percentile_ci(draws[:, ia] - draws[:, ih], level))
            for k, layer in enumerate(LAYERS):
                rows.append(
                    {
                        "group": "ai - human",
                        "layer": layer,
                        "method": method,
                        "share": point[ia, k] - point[ih, k],
                        "lo": dlo[k],
                        "hi": dhi[k],
                    }
                )
    return pd.DataFrame(rows)


def _by_group(
    evaluation: Evaluation,
    groups: list[str],
    q_point: np.ndarray,
    q_draws: np.ndarray,
    n_boot: int,
    seed: int,
    min_n: int = 50,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Matrix inversion with a separate error matrix for AI and for human commits.

    Only when the evaluation reports both and each has `min_n` labelled commits; the group's
    matrix rows are resampled as multinomials.
    """
    mats = evaluation.by_group
    if not all(g in mats and mats[g].sum() >= min_n for g in groups):
        return None
    point = np.stack([invert(q_point[i], row_normalise(mats[g])) for i, g in enumerate(groups)])
    draws = np.empty_like(q_draws)
    for i, g in enumerate(groups):
        c_draws = labelled_draws(
            Evaluation(evaluation.labels, mats[g], None, evaluation.source), n_boot, seed + i
        )
        p_draws = row_normalise(c_draws)
        draws[:, i] = np.stack([invert(q_draws[b, i], p_draws[b]) for b in range(n_boot)])
    return point, draws


def accuracy_by_group(evaluation: Evaluation | None, df: pd.DataFrame) -> pd.DataFrame:
    """Classifier accuracy on labelled AI vs human commits, where labelled shas are in the corpus.

    The single-matrix corrections (inverse, Rogan-Gladen) assume one error matrix for both groups;
    this is their check (the by-group and constrained corrections use each group's own).
    """
    if evaluation is not None and evaluation.by_group:
        return pd.DataFrame(
            [
                {
                    "group": g,
                    "n": commits_in(m),
                    "accuracy": float(np.trace(m) / m.sum()),
                }
                for g, m in sorted(evaluation.by_group.items())
                if m.sum() > 0
            ],
            columns=["group", "n", "accuracy"],
        )
    if evaluation is None or evaluation.oof is None or "sha" not in evaluation.oof.columns:
        return pd.DataFrame(columns=["group", "n", "accuracy"])
    oof = evaluation.oof
    cols = ["repo", "sha", "group"] if "repo" in oof.columns else ["sha", "group"]
    merged = oof.merge(df[cols], on=cols[:-1], how="inner")
    if "group" in oof.columns and merged.empty:
        merged = oof
    rows = []
    for group, g in merged.groupby("group"):
        rows.append(
            {"group": group, "n": len(g), "accuracy": float((g["true"] == g["pred"]).mean())}
        )
    return pd.DataFrame(rows, columns=["group", "n", "accuracy"])


# ---------------------------------------------------------------- constrained ML (EM)

BOUNDARY = 1e-4
"""A true share below this is 'at the boundary': the data push it to zero."""
NOT_IDENTIFIED_AT = 0.10
"""A share is reported as not identified when this fraction of bootstrap fits end at the boundary."""


def em_shares(
    pred_counts: np.ndarray,
    misclassification: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 5000,
) -> tuple[np.ndarray, bool]:
    """True shares p (in the simplex) maximising the likelihood of predicted counts under p @ M.

    M[i, j] = P(predicted j | true i). EM keeps p a distribution at every step, so no clipping is
    needed; where the data cannot tell a layer apart, p_i goes to the boundary instead of below 0.
    Returns (p, converged).
    """
    q = np.asarray(pred_counts, float)
    m = np.asarray(misclassification, float)
    k = m.shape[0]
    p = np.full(k, 1.0 / k)
    if q.sum() <= 0:
        return np.full(k, np.nan), False
    for _ in range(max_iter):
        mix = p[:, None] * m  # k_true x k_pred
        col = mix.sum(axis=0)
        resp = np.divide(mix, col, out=np.zeros_like(mix), where=col > 0)
        new = (resp * q[None, :]).sum(axis=1)
        new = new / new.sum()
        if np.abs(new - p).max() < tol:
            return new, True
        p = new
    return p, False


def _weighted_confusion(labelled: pd.DataFrame) -> np.ndarray:
    """Confusion counts (true x pred, LAYERS order) weighted by `weight`."""
    t = labelled.assign(
        true=pd.Categorical(labelled["true"], LAYERS), pred=pd.Categorical(labelled["pred"], LAYERS)
    )
    table = t.pivot_table(
        index="true", columns="pred", values="weight", aggfunc="sum", observed=False, fill_value=0.0
    )
    return table.reindex(index=LAYERS, columns=LAYERS, fill_value=0.0).to_numpy(float)


def em_corrected_shares(
    df: pd.DataFrame, labelled: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Error-corrected layer shares per group (ai, human) and their difference, by EM.

    `labelled`: out-of-fold predictions with columns repo, true, pred, group (ai|human) and
    `weight` (1/pi, to the population of non-merge commits). Each group gets its own
    misclassification matrix. Every bootstrap draw resamples repositories of the corpus AND of the
    labelled set. Columns: group, layer, share, lo, hi, at_boundary (fraction of draws at 0),
    identified, converged.
    """
    groups = ["ai", "human"]
    counts, corpus_groups, _ = cluster_counts(df, "repo", "group", LAYERS)
    if set(groups) - set(corpus_groups) or labelled.empty:
        return pd.DataFrame()
    gi = [corpus_groups.index(g) for g in groups]
    lab_repos = sorted(labelled["repo"].unique())
    per_repo = {
        (r, g): _weighted_confusion(labelled[(labelled["repo"] == r) & (labelled["group"] == g)])
        for r in lab_repos
        for g in groups
    }
    lab = np.stack([[per_repo[(r, g)] for g in groups] for r in lab_repos])  # repos x 2 x k x k

    def fit(q: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, bool]:
        res = [em_shares(q[i], row_normalise(conf[j])) for j, i in enumerate(gi)]
        return np.stack([p for p, _ in res]), all(ok for _, ok in res)

    point, converged = fit(counts.sum(axis=0), lab.sum(axis=0))
    q_draws = bootstrap_sums(counts, n_boot, seed)
    c_draws = bootstrap_sums(lab, n_boot, seed + 1)
    draws = np.stack([fit(q_draws[b], c_draws[b])[0] for b in range(n_boot)])  # b x 2 x k
    lo, hi = percentile_ci(draws, level)
    boundary = (draws < BOUNDARY).mean(axis=0)
    rows = []
    for j, g in enumerate(groups):
        for k, layer in enumerate(LAYERS):
            rows.append(
                {
                    "group": g,
                    "layer": layer,
                    "share": point[j, k],
                    "lo": lo[j, k],
                    "hi": hi[j, k],
                    "at_boundary": boundary[j, k],
                    "identified": bool(boundary[j, k] < NOT_IDENTIFIED_AT),
                    "converged": converged,
                }
            )
    dlo, dhi = percentile_ci(draws[:, 0] - draws[:, 1], level)
    for k, layer in enumerate(LAYERS):
        ident = bool(boundary[0, k] < NOT_IDENTIFIED_AT and boundary[1, k] < NOT_IDENTIFIED_AT)
        rows.append(
            {
                "group": "ai - human",
                "layer": layer,
                "share": point[0, k] - point[1, k],
                "lo": dlo[k],
                "hi": dhi[k],
                "at_boundary": max(boundary[0, k], boundary[1, k]),
                "identified": ident,
                "converged": converged,
            }
        )
    return pd.DataFrame(rows)
