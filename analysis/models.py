"""Models of P(layer | AI): logits with repo fixed effects and with repo random intercepts.

Controls: size (log1p churn), date (years since 2020) and, where repos are not fixed effects,
language. Fixed effects compare AI and human commits inside the same repository; random intercepts
borrow strength across repositories. Both report odds ratios for `is_ai` with 95% intervals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from analysis import LAYERS
from analysis.stats import Z95, se_clusters

COLUMNS = ["model", "outcome", "or", "lo", "hi", "p", "n", "n_repos", "note"]


def _informative(df: pd.DataFrame, outcome: str, group: str = "repo") -> pd.DataFrame:
    """Drop groups where the outcome or AI exposure never varies: they add no within-group contrast."""
    g = df.groupby(group, observed=True)
    varies = (g[outcome].transform("nunique") > 1) & (g["is_ai"].transform("nunique") > 1)
    return df.loc[varies]


MAX_LOG_OR = 10.0
"""|log odds ratio| beyond which a fit has diverged (odds ratio below 1/22,000 or above 22,000):
the outcome is separated by AI or the controls, and no finite interval is honest."""


def _row(
    model: str, outcome: str, beta: float, se: float, p: float, n: int, n_repos: int, note: str = ""
) -> dict:
    if not (np.isfinite(beta) and np.isfinite(se)) or abs(beta) > MAX_LOG_OR:
        return _empty(model, outcome, SEPARATION) | {"n": int(n), "n_repos": int(n_repos)}
    return {
        "model": model,
        "outcome": outcome,
        "or": float(np.exp(beta)),
        "lo": float(np.exp(beta - Z95 * se)),
        "hi": float(np.exp(beta + Z95 * se)),
        "p": float(p),
        "n": int(n),
        "n_repos": int(n_repos),
        "note": note,
    }


def _empty(model: str, outcome: str, note: str) -> dict:
    return {
        "model": model,
        "outcome": outcome,
        "or": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "p": np.nan,
        "n": 0,
        "n_repos": 0,
        "note": note,
    }


SEPARATION = "not estimable: AI, size or date predicts the outcome perfectly (separation)"


def separated(data: pd.DataFrame, outcome: str) -> bool:
    """AI or human commits all share one outcome: the odds ratio is 0 or infinite, and a fitted
    interval around it would be an artefact of the optimiser."""
    return bool((data.groupby("is_ai")[outcome].nunique() < 2).any())


def fixed_effects_logit(
    df: pd.DataFrame, outcome: str = "arch", controls: str = "log_churn + years"
) -> dict:
    """Logit of `outcome` on is_ai with repo dummies; SEs clustered by repo.

    Language is constant within a repo, so the repo effects absorb it.
    """
    data = _informative(df, outcome)
    n_repos = data["repo"].nunique()
    if n_repos == 0 or data[outcome].nunique() < 2:
        return _empty(
            "repo fixed effects",
            outcome,
            "no repo with both AI and human commits and outcome variation",
        )
    if separated(data, outcome):
        return _empty("repo fixed effects", outcome, SEPARATION)
    repo_term = " + C(repo)" if n_repos > 1 else ""
    formula = f"{outcome} ~ is_ai + {controls}{repo_term}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        groups, note = se_clusters(data)
        cov = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
        try:
            fit = smf.logit(formula, data=data).fit(disp=0, maxiter=200, **cov)
        except (np.linalg.LinAlgError, ValueError) as exc:  # e.g. a singular Hessian: reported
            return _empty("repo fixed effects", outcome, f"did not fit: {exc}")
    return _row(
        "repo fixed effects",
        outcome,
        fit.params["is_ai"],
        fit.bse["is_ai"],
        fit.pvalues["is_ai"],
        len(data),
        n_repos,
        note + _fit_note(fit, caught),
    )


def _fit_note(fit: object, caught: list[warnings.WarningMessage]) -> str:
    """Convergence and warnings of a fit, for the table: reported, never silenced."""
    converged = bool(getattr(fit, "mle_retvals", {}).get("converged", True))
    kinds = sorted(
        {
            type(w.message).__name__
            for w in caught
            if issubclass(
                w.category, (ConvergenceWarning, PerfectSeparationWarning, RuntimeWarning)
            )
        }
    )
    note = "" if converged else "; DID NOT CONVERGE"
    return note + (f"; warnings: {', '.join(kinds)}" if kinds else "")


def random_intercept_logit(
    df: pd.DataFrame,
    outcome: str = "arch",
    controls: str = "log_churn + years",
    max_rows: int = 20000,
    seed: int = 0,
) -> dict:
    """Logit with a random intercept per repo (variational Bayes, statsmodels BinomialBayesMixedGLM).

    The interval is posterior mean +- 1.96 posterior SD of the is_ai coefficient. Above `max_rows`
    commits the fit uses a sample drawn separately from AI and human commits (at most half each):
    sampling on a covariate leaves P(layer | covariates) unchanged, so the odds ratio keeps its
    meaning while the variational fit stays fast.
    """
    data = df.dropna(subset=[outcome])
    note = ""
    if len(data) > max_rows:
        data = _sample_by_exposure(data, max_rows, seed)
        note = f"; fitted on a {len(data)}-commit sample stratified by AI"
    n_repos = data["repo"].nunique()
    if data[outcome].nunique() < 2 or data["is_ai"].nunique() < 2:
        return _empty("repo random intercepts", outcome, "no variation in outcome or AI")
    lang = " + C(language)" if data["language"].nunique() > 1 else ""
    formula = f"{outcome} ~ is_ai + {controls}{lang}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BinomialBayesMixedGLM.from_formula(formula, {"repo": "0 + C(repo)"}, data)
        fit = model.fit_vb()
    names = list(model.exog_names)
    k = names.index("is_ai")
    beta, sd = float(fit.fe_mean[k]), float(fit.fe_sd[k])
    from scipy import stats

    p = float(2 * stats.norm.sf(abs(beta / sd))) if sd > 0 else float("nan")
    repo_sd = float(np.exp(fit.vcp_mean[0])) if len(fit.vcp_mean) else float("nan")
    return _row(
        "repo random intercepts",
        outcome,
        beta,
        sd,
        p,
        len(data),
        n_repos,
        f"variational Bayes; repo SD {repo_sd:.2f}{note}",
    )


def _sample_by_exposure(data: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    ai, human = data[data["is_ai"] == 1], data[data["is_ai"] == 0]
    n_ai = min(len(ai), max_rows // 2)
    n_human = min(len(human), max_rows - n_ai)
    parts = [ai.sample(n_ai, random_state=seed), human.sample(n_human, random_state=seed)]
    return pd.concat(parts).sort_index()


def architectural_models(df: pd.DataFrame) -> pd.DataFrame:
    """The main test: odds ratio of architectural vs not for AI commits, both model families."""
    fe, re = fixed_effects_logit(df, "arch"), random_intercept_logit(df, "arch")
    widths = [np.log(r["hi"]) - np.log(r["lo"]) for r in (fe, re)]
    if all(np.isfinite(widths)) and widths[1] < widths[0]:
        re["note"] += (
            "; NARROWER than the cluster-robust FE interval: the variational posterior ignores "
            "uncertainty in the repository variance, so read the FE interval"
        )
    return pd.DataFrame([fe, re], columns=COLUMNS)


def layer_models(df: pd.DataFrame, random: bool = False) -> pd.DataFrame:
    """One-vs-rest logit per layer (repo fixed effects; random intercepts too if `random`)."""
    rows = []
    for layer in LAYERS:
        data = df.assign(y=(df["layer"] == layer).astype(int))
        row = fixed_effects_logit(data, "y")
        row["outcome"] = layer
        rows.append(row)
        if random:
            row = random_intercept_logit(data, "y")
            row["outcome"] = layer
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def multinomial_logit(df: pd.DataFrame, controls: str = "log_churn + years") -> pd.DataFrame:
    """Multinomial logit of the layer (base: feature) with repo dummies; relative-risk ratios for AI.

    Feature is the base because it is the modal layer; each row compares one layer with feature.
    """
    data = df.copy()
    order = ["feature", "boilerplate", "refactor", "architectural"]
    data["y"] = pd.Categorical(data["layer"].astype(str), categories=order).codes
    data = data[data["y"] >= 0]
    # a repository lacking a layer makes its fixed effect run to infinity (separation): drop it
    n_layers = data.groupby("repo")["y"].nunique()
    separated = n_layers[n_layers < len(order)].index
    data = data[~data["repo"].isin(separated)]
    n_repos = data["repo"].nunique()
    if n_repos == 0:
        return pd.DataFrame(
            [
                _empty(
                    "multinomial, repo fixed effects",
                    "all",
                    f"every repository lacks a layer ({len(separated)} dropped for separation)",
                )
            ],
            columns=COLUMNS,
        )
    present = sorted(data["y"].unique())
    if len(present) < 2 or present[0] != 0:
        note = "needs feature commits and at least one other layer"
        return pd.DataFrame(
            [_empty("multinomial, repo fixed effects", "all", note)], columns=COLUMNS
        )
    repo_term = " + C(repo)" if n_repos > 1 else ""
    groups, note = se_clusters(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mnlogit(f"y ~ is_ai + {controls}{repo_term}", data=data).fit(
                disp=0,
                maxiter=200,
                method="newton",
                cov_type="cluster",
                cov_kwds={"groups": groups},
            )
        except (np.linalg.LinAlgError, ValueError) as exc:
            return pd.DataFrame(
                [_empty("multinomial, repo fixed effects", "all", f"did not fit: {exc}")],
                columns=COLUMNS,
            )
    rows = []
    params, bse, pvalues = fit.params, fit.bse, fit.pvalues
    both = (
        pd.crosstab(data["y"], data["is_ai"])
        .reindex(columns=[0, 1], fill_value=0)
        .gt(0)
        .all(axis=1)
    )
    for j, code in enumerate(present[1:]):  # columns follow the layers present, base excluded
        layer, col = order[code], params.columns[j]
        if not (both.get(code, False) and both.get(0, False)):
            note = "not estimable: a layer without AI or without human commits (separation)"
            rows.append(_empty("multinomial, repo fixed effects", f"{layer} vs feature", note))
            continue
        rows.append(
            _row(
                "multinomial, repo fixed effects",
                f"{layer} vs feature",
                params.loc["is_ai", col],
                bse.loc["is_ai", col],
                pvalues.loc["is_ai", col],
                len(data),
                n_repos,
                f"relative-risk ratio; {note}; {len(separated)} repos without every layer dropped "
                f"(separation); max |coef| {float(np.abs(params.to_numpy()).max()):.1f}"
                + _fit_note(fit, caught),
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def per_repo_odds_ratios(df: pd.DataFrame, min_ai: int = 5) -> pd.DataFrame:
    """Architectural odds ratio AI vs human within each repo (Woolf interval) plus the pooled MH row.

    Repos with fewer than `min_ai` AI commits are left out of the plot rows but stay in the pool.
    """
    from analysis.primary import pooled_or
    from analysis.stats import odds_ratio_2x2

    rows = []
    for repo, g in df.groupby("repo", observed=True):
        n_ai = int(g["is_ai"].sum())
        if n_ai < min_ai or n_ai == len(g):
            continue
        a = int(((g["is_ai"] == 1) & (g["arch"] == 1)).sum())
        c = int(((g["is_ai"] == 0) & (g["arch"] == 1)).sum())
        est, lo, hi = odds_ratio_2x2(a, n_ai - a, c, len(g) - n_ai - c)
        rows.append({"repo": repo, "n": len(g), "n_ai": n_ai, "or": est, "lo": lo, "hi": hi})
    pooled = pooled_or(df, "arch", ["repo"])  # repository-cluster bootstrap interval
    rows.append(
        {
            "repo": "pooled (Mantel-Haenszel)",
            "n": pooled["n"],
            "n_ai": int(df["is_ai"].sum()),
            "or": pooled["or"],
            "lo": pooled["lo"],
            "hi": pooled["hi"],
        }
    )
    return pd.DataFrame(rows, columns=["repo", "n", "n_ai", "or", "lo", "hi"])
