"""`strata report`: the study as `reports/study.md` + HTML, every number computed from the data.

Also executes the notebooks (jupytext py:percent, shipped in analysis/notebooks) headless with
nbclient into `reports/*.html`.
Text that interprets a result is chosen by the result (e.g. whether an interval excludes 1), so
the wording cannot drift from the numbers.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import LAYERS, figures, primary, style
from analysis.correction import sensitivity_specificity
from analysis.dataset import Evaluation, row_normalise
from analysis.shares import difference_design
from analysis.stats import MIN_REPOS
from analysis.study import Study, run_study, save_study
from mining.labels import OOF_PREDICTIONS
from mining.vocabulary import BLAME_RELEASES, REPORTS_DIR

NOTEBOOK_DIR = Path(__file__).resolve().parent / "notebooks"
"""The study notebooks, shipped as package data so `strata report` runs them from any folder."""

NOTEBOOKS = (
    "01-corpus",
    "02-attribution",
    "03-classifier-validity",
    "04-rq1-concentration",
    "05-robustness",
)


# ---------------------------------------------------------------- formatting


def pct(x: float, digits: int = 1) -> str:
    """A share as a percentage; 'n/a' when undefined."""
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def pp(x: float) -> str:
    """A difference of shares in percentage points, signed."""
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.1f} pp"


def num(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def ci(lo: float, hi: float, fmt: Callable[[float], str] = pct) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def md_table(frame: pd.DataFrame) -> str:
    """A pipe table (no dependency on tabulate)."""
    if frame.empty:
        return "_(no rows)_\n"
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if _missing(v) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def verdict(lo: float, hi: float) -> str:
    """How an odds-ratio interval reads: below 1, above 1, or undecided."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "cannot be estimated"
    if hi < 1:
        return "lower for AI-assisted commits (interval below 1)"
    if lo > 1:
        return "higher for AI-assisted commits (interval above 1)"
    return "not distinguishable from human commits (interval includes 1)"


# ---------------------------------------------------------------- sections


def _share_row(study: Study, group: str, layer: str) -> pd.Series:
    s = study.shares
    return s[(s["group"] == group) & (s["layer"] == layer)].iloc[0]


def _diff_row(frame: pd.DataFrame, layer: str) -> pd.Series | None:
    rows = frame[frame["layer"] == layer]
    return rows.iloc[0] if len(rows) else None


def section_corpus(study: Study) -> str:
    c = study.commits
    corpus = study.corpus.copy()
    table = pd.DataFrame(
        {
            "repository": corpus["repo"],
            "language": corpus["language"],
            "commits analysed": corpus["commits"],
            "AI commits": corpus["ai_commits"],
            "AI share": corpus["ai_share"].map(pct),
            "period": corpus["first"] + " to " + corpus["last"],
            "tools": corpus["tools"],
        }
    )
    ai = c[c["is_ai"] == 1]
    tools = ai["tool"].value_counts().rename_axis("tool").reset_index(name="AI commits")
    channels = (
        ai["channel"].value_counts().rename_axis("strongest channel").reset_index(name="AI commits")
    )
    n_lang = c["language"].nunique()
    return (
        "## Corpus\n\n"
        f"{len(corpus)} repositories in {n_lang} language(s); {len(c):,} classified non-merge commits by "
        f"people or AI agents, of which {len(ai):,} ({pct(len(ai) / len(c))}) carry AI evidence, from "
        f"{c['author_id'].nunique():,} author identities. Period: {c['month'].min():%Y-%m} to "
        f"{c['month'].max():%Y-%m}.\n\n"
        + md_table(table)
        + "\nAI commits per tool (a commit naming several tools counts as `multiple`):\n\n"
        + md_table(tools)
        + "\nAI commits per strongest detection channel:\n\n"
        + md_table(channels)
    )


LABELLING = (
    "The classifier is trained and scored on commits labelled from the codebook by two independent "
    "annotator roles and an adjudicator, all **language-model agents** (instances of one model "
    "family, working blind to authorship from the message, file list and diff; docs/labelling.md). "
    "Their agreement is therefore an upper bound on what two human annotators would reach, and no "
    "human expert checked the labels."
)


MIN_AI_COMMITS = 30
"""Below this many AI commits a layer share moves by several points with one commit more or less
(1/30 > 3 pp), so the report says the AI group is small."""


def section_scope(study: Study) -> str:
    """What this dataset can and cannot show, from its own counts: few repositories, few AI
    commits, which comparisons are estimable, and how large a difference the intervals resolve."""
    c, corpus = study.commits, study.corpus
    n_repos = len(corpus)
    n_ai = int(c["is_ai"].sum())
    ai_repos = int((corpus["ai_commits"] > 0).sum())
    both = int(c.groupby("repo", observed=True)["is_ai"].nunique().eq(2).sum())
    design = difference_design(c)
    can, cannot = [], []
    if design.kind == "repository":
        can.append(f"Generalise to repositories like these: {design.reason}.")
    else:
        cannot.append(
            f"Generalise beyond these repositories: {design.reason}. A second sample of "
            "repositories could differ by more than these intervals show."
        )
    if n_ai == 0:
        cannot.append("Compare AI-assisted with human commits: no commit carries AI evidence.")
    elif n_ai < MIN_AI_COMMITS:
        cannot.append(
            f"Pin down the AI group's layer mix: only {n_ai} AI-evidenced commit(s) (fewer than "
            f"{MIN_AI_COMMITS}), so one commit more or less moves a share by "
            f"{100 / n_ai:.0f} percentage points or more."
        )
    else:
        can.append(f"Describe the AI group's layer mix: {n_ai:,} AI-evidenced commits.")
    d = _diff_row(study.differences, "architectural") if len(study.differences) else None
    if d is not None and np.isfinite(d["lo"]) and np.isfinite(d["hi"]):
        half = (d["hi"] - d["lo"]) / 2
        can.append(
            "Resolve differences in the architectural share larger than about "
            f"{100 * half:.0f} pp (half the width of its interval); smaller ones cannot be told "
            "from no difference with this data."
        )
    if both:
        can.append(
            f"Compare AI and human commits within the same repository: {both} of {n_repos} "
            "repositor" + ("y has" if both == 1 else "ies have") + " both."
        )
    elif n_ai:
        cannot.append(
            "Compare AI and human commits within a repository: no repository has both, so "
            "repository and AI use cannot be told apart."
        )
    fe = study.arch_models[study.arch_models["model"] == "repo fixed effects"]
    if len(fe) and not np.isfinite(fe["or"].iloc[0]):
        cannot.append(f"Fit the within-repository model: {fe['note'].iloc[0]}.")
    n_dev = int(study.within_pairs["n_developers"].iloc[0]) if len(study.within_pairs) else 0
    if n_dev < 2:
        cannot.append(
            f"Compare developers with themselves: {n_dev} developer(s) have both AI-evidenced and "
            "unassisted commits."
        )
    if study.before_after.empty:
        cannot.append(
            "Compare before and after AI adoption: no repository has commits on both "
            "sides of an adoption marker."
        )
    if study.evaluation is None:
        cannot.append("Correct the shares for classifier error: no classifier evaluation.")
    lines = [
        "## What this data can and cannot show\n",
        f"{n_repos} repositor{'y' if n_repos == 1 else 'ies'} ({ai_repos} with AI-evidenced "
        f"commits), {len(c):,} analysed commits, {n_ai:,} with AI evidence.\n",
    ]
    if can:
        lines.append("It can:\n\n" + "\n".join(f"- {x}" for x in can) + "\n")
    if cannot:
        lines.append("It cannot:\n\n" + "\n".join(f"- {x}" for x in cannot) + "\n")
    return "\n".join(lines)


def section_methods(study: Study) -> str:
    ev = study.evaluation
    design = difference_design(study.commits)
    n_lab = ev.n_labelled if ev is not None else 0
    labelling = LABELLING
    return f"""## Methods

- **Population.** Every non-merge commit of the corpus at its pinned revision, classified (no
  sample; where layers cover a sample, design weights carry it back per repository x stratum).
  Automation is excluded: bots, tool auto-commits and scripted templates reviewed as automation
  (`author_kind = 'automation'`). A commit is *AI-assisted* when a direct evidence channel names an
  AI tool (agent identity, co-author trailer, session link, disclosure, marker, prefix) or an AI
  agent authored it; commits credited only through a merged agent branch or a review suggestion
  belong to neither group. All other commits are *human*; undetected AI work therefore sits in
  the human group (see detection). The primary analysis uses the same era only (above).
- **Labels.** {labelling}
- **Outcome.** The layer (boilerplate, refactor, feature, architectural) assigned by the classifier
  per the codebook; the main contrast is architectural vs the three structured layers.
- **Shares and differences.** Layer shares per group with 95% percentile intervals from a
  {design.label} ({study.n_boot} resamples, seed {study.seed}): {design.reason}. A group that
  spans fewer than {MIN_REPOS} repositories (a tool, a channel) resamples time blocks within its
  repositories; a share no resample can move (0% or 100%) gets a Wilson score interval, its
  difference a Newcombe interval. Pearson chi-square with Cramér's V as the effect size (its
  p-value treats commits as independent).
- **Models.** Logit of architectural vs not on AI, log1p(churn) and date (years since 2020) with
  (a) repository fixed effects and repository-clustered SEs, (b) repository random intercepts and
  language (variational Bayes); one-vs-rest logits for every layer and a multinomial logit (base:
  feature) with repository fixed effects. Odds ratios with 95% intervals.
- **Within developer.** Developers (author identity within a repository) with at least 3
  AI-evidenced and 3 unassisted commits: mean paired difference of their own shares (repository
  bootstrap) and a logit with one intercept per developer and log churn as the size control.
- **Classifier error.** The grouped-CV confusion matrix ({n_lab} labelled commits) gives
  P(predicted | true); true shares are recovered by constrained maximum likelihood with one matrix
  per group (AI-assisted, human), and for comparison by matrix inversion (pooled and per group) and,
  per layer, by Rogan-Gladen. Intervals bootstrap the corpus (by repository) and the labelled set
  together.
- **Detection.** Results per detection channel, and bounds on the AI - human difference if detection
  recall were 100%, 50%, 25% or 10%.
- **Like with like.** Mantel-Haenszel odds ratios within repository x integration mode (squash-merged
  PR, commit inside a merged branch, direct) x size band (churn <10, <100, <1000, more).
- **Time.** AI share per month; layer mix per quarter; layer shares before vs after each repository's
  first adoption marker (repositories weighted equally, repository bootstrap).
"""


def main_result(study: Study) -> dict:
    """The headline numbers: architectural share per group, difference, model odds ratios."""
    out: dict = {}
    groups = set(study.shares["group"])
    if {"ai", "human"} <= groups:
        out["ai"] = _share_row(study, "ai", "architectural")
        out["human"] = _share_row(study, "human", "architectural")
        out["diff"] = _diff_row(study.differences, "architectural")
    fe = study.arch_models[study.arch_models["model"] == "repo fixed effects"]
    out["fe"] = fe.iloc[0] if len(fe) else None
    corr = study.corrected
    inv = corr[
        (corr["group"] == "ai - human")
        & (corr["method"] == "inverse")
        & (corr["layer"] == "architectural")
    ]
    out["corrected_diff"] = inv.iloc[0] if len(inv) else None
    return out


PLAN = "docs/analysis-plan.md"
PLAN_COMMIT = "f2d3de1"
"""The commit that last changed the analysis plan before the second release's results."""

FIRST_RELEASE = Path("reports/first_release.json")
"""Headline numbers of the first release, computed by its own code, for the 'how it moved' table."""


def _or_text(r: pd.Series | dict) -> str:
    return f"{num(r['or'])} {ci(r['lo'], r['hi'], num)}"


def section_primary(study: Study) -> str:
    """The pre-specified primary analysis: per-layer odds ratios, verdict, and the checks."""
    p = study.primary
    head = (
        "## Primary analysis (pre-specified)\n\n"
        f"Specified in `{PLAN}` (commit {PLAN_COMMIT}) before these results were generated: the "
        "same-era population (human commits from the period in which the repository shows AI "
        "evidence), Mantel-Haenszel odds ratios within repository x calendar quarter, "
        "repository-cluster bootstrap intervals, and a decision rule that turns each interval into "
        '"higher", "lower" or "not distinguishable".\n\n'
    )
    if p.empty or not np.isfinite(p.set_index("layer").loc["architectural", "or"]):
        return (
            head
            + "No repository has both AI-assisted and human commits in the same quarter: no primary estimate.\n"
        )
    t = p.set_index("layer")
    arch = t.loc["architectural"]
    verdict_word = primary.hypothesis_verdict(arch.to_dict())
    d = primary.direction(arch["lo"], arch["hi"])
    text = head + (
        f"**Headline.** Within repository and quarter, the odds that an AI-assisted commit is "
        f"architectural are {_or_text(arch)} times those of a human commit "
        f"({int(arch['n_ai']):,} AI-assisted of {int(arch['n']):,} commits in "
        f"{int(arch['n_repos'])} repositories): **{d}**. By the plan's rule the hypothesis is "
        f"**{verdict_word}** by the primary analysis. Raw same-era shares: {pct(arch['share_ai'])} "
        f"of AI-assisted and {pct(arch['share_human'])} of human commits are architectural. "
        f"Interval: {arch['interval']}.\n\n"
    )
    table = pd.DataFrame(
        {
            "layer": list(LAYERS),
            "AI share": [pct(t.loc[x, "share_ai"]) for x in LAYERS],
            "human share": [pct(t.loc[x, "share_human"]) for x in LAYERS],
            "odds ratio [95% CI]": [_or_text(t.loc[x]) for x in LAYERS],
            "reads": [primary.direction(t.loc[x, "lo"], t.loc[x, "hi"]) for x in LAYERS],
        }
    )
    text += md_table(table)
    fe = study.fe_check
    if fe and np.isfinite(fe.get("or", np.nan)):
        conv = "converged" if fe["converged"] else "did NOT converge"
        text += (
            f"\nCheck: a logit with repository and quarter fixed effects (SE clustered by repository) "
            f"gives {_or_text(fe)} for the architectural layer ({fe['n']:,} commits; the fit {conv}"
            + (f"; warnings: {fe['warnings']}" if fe["warnings"] else "; no warnings")
            + ").\n"
        )
    elif fe:
        text += (
            f"\nCheck: the fixed-effects logit could not be fitted ({fe.get('warnings', '')}).\n"
        )
    return text + section_sensitivity(study) + section_em(study) + section_structure(study)


def section_sensitivity(study: Study) -> str:
    s = study.sensitivity
    if s.empty:
        return ""
    table = pd.DataFrame(
        {
            "analysis": s["analysis"],
            "outcome": s["outcome"],
            "odds ratio [95% CI]": [_or_text(r) for _, r in s.iterrows()],
            "reads": [primary.direction(lo, hi) for lo, hi in zip(s["lo"], s["hi"], strict=True)],
            "AI commits": s["n_ai"],
            "commits": s["n"],
            "repositories": s["n_repos"],
        }
    )
    reads = set(table["reads"]) - {"cannot be estimated"}
    agree = (
        "Every row reads the same way."
        if len(reads) == 1
        else f"The rows do not all read the same way ({', '.join(sorted(reads))}): the answer depends on "
        "the choices listed, and the headline must be read with them."
    )
    ch = s[s["analysis"].str.startswith("channel: ")]
    chans = ""
    if len(ch) >= 2:
        dirs = {primary.direction(lo, hi) for lo, hi in zip(ch["lo"], ch["hi"], strict=True)}
        chans = (
            " The detection channels point in opposite directions, so the pooled odds ratio averages "
            "different kinds of AI use and is not the answer for any one of them."
            if {"higher", "lower"} <= dirs
            else " The detection channels do not contradict each other in direction."
        )
    return (
        "\n### Sensitivity of the headline (pre-specified)\n\n"
        "The architectural odds ratio recomputed under each choice the plan names; the size row answers "
        "the narrower question for changes of the same size band and integration mode (size is partly a "
        "consequence of the layer and the tool, so the per-commit estimand is primary).\n\n"
        + md_table(table)
        + f"\n{agree}{chans}\n"
    )


def section_em(study: Study) -> str:
    em = study.em_corrected
    head = "\n### Corrected for classifier error (constrained maximum likelihood)\n\n"
    if em.empty:
        return head + (
            "Not computed: no out-of-fold predictions of labelled commits in the analysis population "
            "(run `strata evaluate`).\n"
        )
    lab = study.labelled
    rows = []
    for group in ("ai", "human", "ai - human"):
        for layer in LAYERS:
            r = em[(em["group"] == group) & (em["layer"] == layer)].iloc[0]
            fmt = pp if group == "ai - human" else pct
            rows.append(
                {
                    "group": group,
                    "layer": layer,
                    "corrected [95% CI]": f"{fmt(r['share'])} {ci(r['lo'], r['hi'], fmt)}",
                    "identified": "yes"
                    if r["identified"]
                    else f"no ({pct(r['at_boundary'], 0)} of fits at 0)",
                }
            )
    arch = em[(em["group"] == "ai - human") & (em["layer"] == "architectural")].iloc[0]
    if arch["identified"]:
        say = (
            f"Corrected, the architectural share differs by {pp(arch['share'])} "
            f"{ci(arch['lo'], arch['hi'], pp)}: {primary.direction(arch['lo'], arch['hi'], 0.0)}."
        )
    else:
        say = (
            "The corrected architectural shares are **not identified**: in "
            f"{pct(arch['at_boundary'], 0)} of bootstrap fits one group's share sits at zero, so the data "
            f"bound the difference to {ci(arch['lo'], arch['hi'], pp)} and cannot decide its sign."
        )
    n_ai = int((lab["group"] == "ai").sum()) if len(lab) else 0
    return head + (
        f"Each group gets its own misclassification matrix from out-of-fold predictions of "
        f"{len(lab):,} labelled commits ({n_ai:,} AI-assisted), weighted by their inclusion "
        "probabilities; the true shares are the maximum-likelihood solution inside the simplex (EM), "
        "with no clipping; intervals resample repositories of the corpus and of the labelled set "
        f"together.\n\n{say}\n\n" + md_table(pd.DataFrame(rows))
    )


def section_structure(study: Study) -> str:
    """The model-free outcome: structural-change events, and whether they agree with the layers."""
    head = "\n### Structural-change events: an outcome no classifier decides\n\n"
    rates, odds = study.structure_rates, study.structure_odds
    if rates.empty or odds.empty:
        return (
            head
            + "Not computed: the dataset has no `commit_structure` table (run `strata structure`).\n"
        )
    o = odds.set_index("outcome")
    pc = rates[rates["measure"] == "per_commit"].set_index("outcome")
    pk = rates[rates["measure"] == "per_kloc"].set_index("outcome")
    table = pd.DataFrame(
        {
            "event": list(o.index),
            "AI per commit": [pct(pc.loc[e, "ai"]) for e in o.index],
            "human per commit": [pct(pc.loc[e, "human"]) for e in o.index],
            "AI/human per 1,000 lines [95% CI]": [
                f"{num(pk.loc[e, 'ratio'])} {ci(pk.loc[e, 'ratio_lo'], pk.loc[e, 'ratio_hi'], num)}"
                for e in o.index
            ],
            "odds ratio, repo x quarter [95% CI]": [_or_text(o.loc[e]) for e in o.index],
            "reads": [primary.direction(o.loc[e, "lo"], o.loc[e, "hi"]) for e in o.index],
        }
    )
    arch = study.primary.set_index("layer").loc["architectural"] if len(study.primary) else None
    agree = ""
    if arch is not None and "any_event" in o.index:
        d_layer = primary.direction(arch["lo"], arch["hi"])
        d_event = primary.direction(o.loc["any_event", "lo"], o.loc["any_event", "hi"])
        agree = (
            f"The learned architectural layer reads **{d_layer}** and any structural event reads "
            f"**{d_event}** on the primary estimand: "
            + (
                "the two outcomes agree."
                if d_layer == d_event
                else "the two outcomes do **not** agree, "
                "so the answer depends on how architectural work is measured."
            )
        )
    n_ai = int(pc["n_ai"].iloc[0])
    n_h = int(pc["n_human"].iloc[0])
    return head + (
        "Events read from the diff and the trees (`commit_structure`, definitions in "
        "`mining/structure_events.toml`, validated against the labels in `docs/structure.md`), on the "
        f"primary population ({n_ai:,} AI-assisted and {n_h:,} human same-era commits). Rates pool "
        "commits; intervals resample repositories; odds ratios are the primary estimator's.\n\n"
        + md_table(table)
        + f"\n{agree}\n"
    )


def section_moves(study: Study) -> str:
    """How each headline number moved from the first release (issue 13)."""
    if not FIRST_RELEASE.exists():
        return ""
    import json

    first = json.loads(FIRST_RELEASE.read_text(encoding="utf-8"))
    arch = study.primary.set_index("layer").loc["architectural"] if len(study.primary) else None
    sh = study.shares
    now = {}
    if {"ai", "human"} <= set(sh["group"]):
        now["architectural share, AI"] = pct(_share_row(study, "ai", "architectural")["share"])
        now["architectural share, human"] = pct(
            _share_row(study, "human", "architectural")["share"]
        )
        d = _diff_row(study.differences, "architectural")
        if d is not None:  # differences may be empty, as `section_scope` allows
            now["architectural difference (raw, pooled)"] = (
                f"{pp(d['diff'])} {ci(d['lo'], d['hi'], pp)}"
            )
        b = _diff_row(study.differences, "boilerplate")
        if b is not None:
            now["boilerplate difference (raw, pooled)"] = (
                f"{pp(b['diff'])} {ci(b['lo'], b['hi'], pp)}"
            )
    fe = study.arch_models[study.arch_models["model"] == "repo fixed effects"]
    if len(fe):
        now["architectural OR, repo FE logit (size, date)"] = _or_text(fe.iloc[0])
    if arch is not None:
        now["architectural OR (primary: same era, repo x quarter MH)"] = _or_text(arch)
    c = study.commits
    w = c["weight"] if "weight" in c.columns else pd.Series(1.0, index=c.index)
    now["AI share of analysed commits"] = pct(float((w * c["is_ai"]).sum() / w.sum()))
    if len(study.monthly):
        peak = study.monthly.loc[study.monthly["share"].idxmax()]
        now["peak monthly AI share"] = f"{pct(peak['share'])} ({peak['month']:%Y-%m})"
    rows = [
        {"number": k, "first release": first.get(k, "n/a"), "this release": v}
        for k, v in now.items()
    ]
    return (
        "\n## How the headline moved from the first release\n\n"
        "The first release classified a balanced sample (up to 300 AI + 300 other commits per repository) "
        "without design weights, pooled all history and all channels, and counted automation under a "
        "person's name as human. Its numbers, recomputed by its own code from its own release, against "
        "this release's:\n\n" + md_table(pd.DataFrame(rows))
    )


def section_results(study: Study) -> str:
    m = main_result(study)
    parts = ["## Results\n"]
    if "ai" not in m:
        parts.append("No AI-evidenced commits (or no human commits): no comparison is possible.\n")
        return "\n".join(parts)
    ai, hu, d, fe = m["ai"], m["human"], m["diff"], m["fe"]
    headline = (
        f"**Main result.** {pct(ai['share'])} {ci(ai['lo'], ai['hi'])} of AI-assisted commits are "
        f"architectural, against {pct(hu['share'])} {ci(hu['lo'], hu['hi'])} of human commits: a "
        f"difference of {pp(d['diff'])} {ci(d['lo'], d['hi'], pp)}."
    )
    if fe is not None and np.isfinite(fe["or"]):
        headline += (
            f" Within repositories, holding size and date fixed, the odds of an architectural change are "
            f"{num(fe['or'])} {ci(fe['lo'], fe['hi'], num)} times those of a human commit: "
            f"{verdict(fe['lo'], fe['hi'])}."
        )
    cd = m["corrected_diff"]
    if cd is not None and not (np.isfinite(cd["lo"]) and np.isfinite(cd["hi"])):
        headline += (
            " Corrected for classifier error the difference is not identified: the correction "
            "pushes a share to 0% or 100% in every resample."
        )
    elif cd is not None:
        headline += f" Corrected for classifier error the difference is {pp(cd['share'])} {ci(cd['lo'], cd['hi'], pp)}."
    else:
        headline += " The shares are not corrected for classifier error (no evaluation)."
    parts.append(headline + "\n")

    s = study.shares
    wide = pd.DataFrame({"layer": list(LAYERS)})
    for g in ("human", "ai"):
        part = s[s["group"] == g].set_index("layer").reindex(list(LAYERS))
        wide[f"{g} share [95% CI]"] = [
            f"{pct(r.share)} {ci(r.lo, r.hi)}" for r in part.itertuples()
        ]
    dd = study.differences.set_index("layer").reindex(list(LAYERS))
    wide["AI - human [95% CI]"] = [f"{pp(r.diff)} {ci(r.lo, r.hi, pp)}" for r in dd.itertuples()]
    wide["ratio [95% CI]"] = [
        f"{num(r.ratio)} {ci(r.ratio_lo, r.ratio_hi, num)}" for r in dd.itertuples()
    ]
    chi = study.chi_square
    parts.append("### Layer mix, AI-assisted vs human (figure 1)\n")
    parts.append(md_table(wide))
    parts.append(
        f"\nChi-square {num(chi['chi2'], 1)} (df {chi['dof']}, n {chi['n']:,}), Cramér's V {num(chi['cramers_v'], 3)}.\n"
    )
    parts.append("### Models of P(layer | AI) (figure 5)\n")
    models = pd.concat(
        [study.arch_models, study.layer_models, study.multinomial], ignore_index=True
    )
    parts.append(md_table(_or_table(models, ["model", "outcome"], extra=["n", "n_repos", "note"])))
    parts.append("\n### Within developer\n")
    wl = study.within_logit
    wp = study.within_pairs
    if len(wp):
        parts.append(
            f"{int(wp['n_developers'].iloc[0])} developers have both AI-evidenced and unassisted commits in the "
            "same repository. Mean of their own AI - human share difference:\n\n"
        )
        parts.append(
            md_table(
                pd.DataFrame(
                    {
                        "layer": wp["layer"],
                        "AI - human [95% CI]": [
                            f"{pp(r.diff)} {ci(r.lo, r.hi, pp)}" for r in wp.itertuples()
                        ],
                    }
                )
            )
        )
    if np.isfinite(wl.get("or", np.nan)):
        parts.append(
            f"\nWith one intercept per developer ({wl['n_developers']} developers, {wl['n']:,} commits), the odds "
            f"ratio of an architectural change is {num(wl['or'])} {ci(wl['lo'], wl['hi'], num)}: "
            f"{verdict(wl['lo'], wl['hi'])}.\n"
        )
    else:
        parts.append(f"\nDeveloper model: {wl.get('note', 'not estimable')}.\n")
    parts.append(section_correction(study))
    parts.append(section_detection(study))
    parts.append(section_units(study))
    parts.append(section_time(study))
    return "\n".join(parts)


def _or_table(frame: pd.DataFrame, keys: list[str], extra: Iterable[str] = ()) -> pd.DataFrame:
    out = frame[keys].copy()
    out["odds ratio [95% CI]"] = [
        f"{num(r['or'])} {ci(r['lo'], r['hi'], num)}" for _, r in frame.iterrows()
    ]
    for col in extra:
        if col in frame.columns:
            out[col] = frame[col]
    return out


def section_correction(study: Study) -> str:
    ev = study.evaluation
    head = "\n### Classifier error and its correction (figures 3 and 6)\n\n"
    if ev is None:
        return head + (
            "**No classifier evaluation was found**, so the shares above are the classifier's labels taken "
            "at face value. Run `strata evaluate` (it writes the grouped-CV confusion matrix) and rerun "
            "`strata report`.\n"
        )
    sens, spec = sensitivity_specificity(ev.confusion)
    acc = np.trace(ev.confusion) / ev.confusion.sum()
    perf = pd.DataFrame(
        {
            "layer": list(LAYERS),
            "recall (sensitivity)": [pct(x) for x in sens],
            "specificity": [pct(x) for x in spec],
            "labelled": ev.confusion.sum(axis=1).astype(int),
        }
    )
    corr = study.corrected
    rows = []
    for method in ("raw", "inverse", "rogan_gladen", "inverse_by_group"):
        for group in ("human", "ai", "ai - human"):
            r = corr[
                (corr["method"] == method)
                & (corr["group"] == group)
                & (corr["layer"] == "architectural")
            ]
            if len(r):
                r = r.iloc[0]
                fmt = pp if group == "ai - human" else pct
                rows.append(
                    {
                        "method": method,
                        "group": group,
                        "architectural [95% CI]": f"{fmt(r['share'])} {ci(r['lo'], r['hi'], fmt)}",
                    }
                )
    text = head + (
        f"Grouped-CV accuracy {pct(acc)} on {ev.n_labelled} labelled commits (`{ev.source}`).\n\n"
        + md_table(perf)
        + "\nArchitectural share, raw and corrected:\n\n"
        + md_table(pd.DataFrame(rows))
    )
    abg = study.accuracy_by_group
    if len(abg):
        text += (
            "\nAccuracy on labelled commits by group (`inverse` and `rogan_gladen` assume one error "
            "matrix for both groups; `inverse_by_group` and the constrained correction above give "
            "each group its own):\n\n"
        )
        text += md_table(abg.assign(accuracy=abg["accuracy"].map(pct)))
    return (
        text
        + group_error_paragraph(ev)
        + heldout_paragraphs(ev.heldout)
        + standing_paragraph(ev.heldout_standing)
    )


def group_error_paragraph(ev: Evaluation) -> str:
    """Where the classifier's error differs between AI-evidenced and human labelled commits: the
    cross-validated gap in accuracy standardised to the pooled layer mix, and the layer that
    carries most of it (largest mix-weighted recall difference), with what its AI-evidenced
    labels are read as. Says why the by-group corrections exist; empty without both groups."""
    if not ev.cv_gap or not {"ai", "human"} <= set(ev.by_group):
        return ""
    rows = {g: row_normalise(ev.by_group[g]) for g in ("ai", "human")}  # P(pred | true)
    recall = {g: np.diag(m) for g, m in rows.items()}
    mix = ev.confusion.sum(axis=1) / ev.confusion.sum()
    i = int(np.argmax(mix * np.abs(recall["ai"] - recall["human"])))
    layer, arch = LAYERS[i], LAYERS.index("architectural")
    misread = rows["ai"][i].copy()
    misread[i] = -1.0
    j = int(np.argmax(misread))
    interval = ev.cv_gap.get("interval_95_repo_bootstrap")
    arch_note = (
        f" ({pct(rows['ai'][i][arch])} of them and {pct(rows['human'][i][arch])} of the human "
        "ones as architectural, the layer of the study's main contrast)"
        if layer != "architectural"
        else ""
    )
    return (
        f"\n**Classifier error by group.** Standardised to the pooled layer mix of the labelled "
        f"commits, accuracy on AI-evidenced commits minus human ones is "
        f"{100 * ev.cv_gap['value']:+.1f} points{_points_ci(interval)} (cross-validation, "
        f"repository bootstrap).{_gap_reading(interval)} The layer that carries most of it is "
        f"{layer}: recall {pct(recall['ai'][i])} on AI-evidenced commits against "
        f"{pct(recall['human'][i])} on human ones, and {pct(misread[j])} of the AI-evidenced "
        f"{layer} labels are read as {LAYERS[j]}{arch_note}. A single error matrix for both groups "
        f"(`inverse`, `rogan_gladen`) therefore misstates the AI-evidenced {layer} share; "
        f"`inverse_by_group` and the constrained correction use each group's own matrix.\n"
    )


def heldout_full_models(heldout: dict) -> list[tuple[str, dict, dict, bool]]:
    """(round, the full model's held-out scores, its frozen model's record, whether the round is
    standing: never trained on) for every round of evaluation.json's `heldout` whose full model
    names its cross-validated macro-F1."""
    out = []
    for rnd, check in sorted(heldout.items(), key=lambda kv: int(kv[0].removeprefix("round"))):
        full = (check.get("models") or {}).get("full") or {}
        frozen = full.get("frozen_model") or {}
        if "macro_f1" in full and "cv_macro_f1" in frozen:
            out.append((rnd, full, frozen, bool(check.get("standing"))))
    return out


def heldout_reading(full: dict, cv: float) -> str:
    """Where the frozen model's cross-validated macro-F1 falls against its held-out interval:
    'lower' (the held-out score is below it, beyond its interval), 'higher' or 'within'."""
    lo, hi = full["macro_f1_ci"]
    return "lower" if hi < cv else "higher" if lo > cv else "within"


def heldout_paragraphs(heldout: dict) -> str:
    """One paragraph per held-out round: the frozen full model's score on labels made after it
    was frozen, against its own cross-validated estimate, and what that means for the correction
    (whose error matrices come from cross-validation)."""
    text = ""
    for rnd, full, frozen, standing in heldout_full_models(heldout):
        lo, hi = full["macro_f1_ci"]
        cv, arch_cv = frozen["cv_macro_f1"], frozen.get("cv_architectural_f1")
        reading = heldout_reading(full, cv)
        reads = (
            "within the held-out interval of its cross-validated estimate"
            if reading == "within"
            else f"{reading} than its cross-validated estimate, beyond the held-out interval"
        )
        arch = full["per_layer_f1"]["architectural"]
        text += (
            f"\n**Held-out check ({rnd.replace('round', 'round ')}).** The full model of version "
            f"{frozen['version']} (trained on {frozen['n_train']:,} labels) was frozen and its "
            f"predictions stored before {full['n']} commits of {full['repositories']} repositories "
            "outside every earlier labelling round were labelled. On them its macro-F1 is "
            f"{full['macro_f1']:.2f} {ci(lo, hi, num)} against {cv:.2f} in "
            f"cross-validation ({reads}), and its architectural F1 {arch:.2f}"
            + (f" against {arch_cv:.2f}" if arch_cv is not None else "")
            + f" ({full['labelled'].get('architectural', 0)} architectural labels). "
            + (
                "These labels never join the training set: the round stays a standing "
                "held-out set for this model. "
                if standing
                else ""
            )
            + "The error matrices of the correction come from cross-validation; "
            + (
                "on repositories like these the classifier errs more than they say, so the "
                "corrected intervals are too narrow.\n"
                if reading == "lower" or arch_cv is not None and arch < arch_cv
                else "this check does not contradict them.\n"
            )
        )
    return text


def standing_paragraph(pool: dict) -> str:
    """The standing held-out rounds pooled: the shipped model's scores on repositories no model
    was trained on, against the issue's targets read on cross-validation; empty without them."""
    full = (pool.get("models") or {}).get("full") or {}
    frozen = full.get("frozen_model") or {}
    if "macro_f1" not in full or "cv_macro_f1" not in frozen:
        return ""
    lo, hi = full["macro_f1_ci"]
    diff = (pool.get("models") or {}).get("diff-only") or {}
    gap = full.get("standardised_accuracy_gap_ai_minus_human")
    f1 = full["per_layer_f1"]
    rounds = " and ".join(str(r) for r in pool["rounds"])
    return (
        f"\n**Standing held-out set (rounds {rounds}, pooled).** {full['n']} commits of "
        f"{full['repositories']} repositories that no model was trained on, labelled after the "
        f"full model of version {frozen['version']} was frozen: macro-F1 {full['macro_f1']:.2f} "
        f"{ci(lo, hi, num)} against {frozen['cv_macro_f1']:.2f} in cross-validation, accuracy "
        f"{pct(full['accuracy'])}, architectural F1 {f1['architectural']:.2f} and refactor F1 "
        f"{f1['refactor']:.2f} ({full['labelled'].get('architectural', 0)} and "
        f"{full['labelled'].get('refactor', 0)} labels)"
        + (
            f"; accuracy on AI-evidenced commits minus human ones, standardised to the set's "
            f"layer mix, {100 * gap:+.1f} points{_points_ci(full.get('standardised_accuracy_gap_ci'))}"
            if gap is not None
            else ""
        )
        + (
            f"; the diff-only model {diff['macro_f1']:.2f} "
            f"{ci(diff['macro_f1_ci'][0], diff['macro_f1_ci'][1], num)}"
            if "macro_f1" in diff
            else ""
        )
        + f".{_gap_reading(full.get('standardised_accuracy_gap_ci'))}\n"
    )


def _gap_reading(interval: list[float] | None, band: float = 0.03) -> str:
    """What the gap's interval allows, against a band of +-3 points (the classifier's target)."""
    if not interval:
        return ""
    lo, hi = interval
    if -band <= lo and hi <= band:
        return " The gap's interval lies within 3 points of none."
    if hi < -band or lo > band:
        return " The gap's interval lies beyond 3 points on one side."
    return (
        " The gap's interval holds both no gap and gaps beyond 3 points: this set cannot tell "
        "them apart."
    )


def _points_ci(interval: list[float] | None) -> str:
    """' [lo, hi]' of a difference in proportions, in signed points; empty without one."""
    return "" if not interval else f" [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}]"


def section_detection(study: Study) -> str:
    ch = study.channel_or
    table = pd.DataFrame(
        {
            "AI commits": ch["channel"],
            "n": ch["n_ai"],
            "architectural share": ch["arch_share"].map(pct),
            "odds ratio vs human [95% CI]": [
                f"{num(r.or_)} {ci(r.lo, r.hi, num)}"
                for r in ch.rename(columns={"or": "or_"}).itertuples()
            ],
        }
    )
    rb = study.recall_bounds
    bounds = pd.DataFrame(
        {
            "assumed recall": rb["recall"].map(lambda r: pct(r, 0)),
            "undetected AI commits": rb["n_undetected"],
            "if undetected AI is like detected": rb["diff_if_alike"].map(pp),
            "bounds (any mix)": [
                f"{pp(a)} to {pp(b)}" for a, b in zip(rb["diff_min"], rb["diff_max"], strict=True)
            ],
            "note": rb["note"],
        }
    )
    return (
        "\n### Detection channel and recall\n\n"
        "Architectural odds ratio (Mantel-Haenszel over repositories) by the strongest channel of the AI "
        "evidence:\n\n"
        + md_table(table)
        + "\nAI - human difference in the architectural share if detection missed AI work (undetected AI "
        "commits are in the human group):\n\n" + md_table(bounds)
    )


def section_units(study: Study) -> str:
    mm = study.mode_mix.pivot_table(
        index="group", columns="integration_mode", values="share"
    ).reset_index()
    for col in mm.columns[1:]:
        mm[col] = mm[col].map(pct)
    moves = study.moves
    crude = moves.iloc[0]
    full = moves.iloc[-1]
    return (
        "\n### Like with like: integration mode and size (figure 9)\n\n"
        "Share of each group's commits by integration mode:\n\n"
        + md_table(mm)
        + "\nArchitectural odds ratio as the comparison is held to the same repository, mode and size band:\n\n"
        + md_table(_or_table(moves, ["adjustment"], extra=["n", "n_strata"]))
        + f"\nFrom crude {num(crude['or'])} to {num(full['or'])} once repository, mode and size band are held fixed.\n\n"
        + "Within each integration mode (repository x size band strata):\n\n"
        + md_table(_or_table(study.by_mode, ["integration_mode"], extra=["n", "n_ai"]))
    )


def section_time(study: Study) -> str:
    mo = study.monthly
    text = "\n### Time (figures 4 and 8)\n\n"
    if len(mo):
        peak = mo.loc[mo["share"].idxmax()]
        first_ai = mo[mo["n_ai"] > 0]
        start = f"{first_ai['month'].min():%Y-%m}" if len(first_ai) else "never"
        text += (
            f"AI evidence first appears in {start}; the highest monthly AI share is {pct(peak['share'])} "
            f"{ci(peak['lo'], peak['hi'])} in {peak['month']:%Y-%m}.\n\n"
        )
    ba = study.before_after
    if len(ba):
        text += (
            f"Before vs after the first adoption marker ({int(ba['n_repos'].iloc[0])} repositories with commits on "
            "both sides; all commits, AI-evidenced or not):\n\n"
        )
        text += md_table(
            pd.DataFrame(
                {
                    "layer": ba["layer"],
                    "before": ba["before"].map(pct),
                    "after": ba["after"].map(pct),
                    "change [95% CI]": [
                        f"{pp(r.diff)} {ci(r.lo, r.hi, pp)}" for r in ba.itertuples()
                    ],
                }
            )
        )
    else:
        text += "No repository has commits on both sides of an adoption marker.\n"
    if study.blame is not None and len(study.blame):
        b = study.blame
        repo = b["repo"].iloc[0] if "repo" in b.columns else "Aider-AI/aider"
        peak = b.loc[b["ai_share"].idxmax()]
        text += (
            f"\n`strata blame --releases` on {repo} only (figure 7 draws all {len(b)} release ranges): "
            f"the AI share of each release's surviving lines ranges from {num(b['ai_share'].min(), 1)}% to "
            f"{num(b['ai_share'].max(), 1)}% (highest at {peak['to']}), {num(b['ai_share'].iloc[-1], 1)}% at "
            f"the last release {b['to'].iloc[-1]}; the series is not monotone, so no trend is read from its "
            "endpoints. One repository says nothing about the corpus.\n"
        )
    return text


def _group_accuracy_clause(study: Study) -> str:
    """', and differently by group: AI x, human y' from the labelled commits, when measured."""
    abg = study.accuracy_by_group
    acc = dict(zip(abg["group"], abg["accuracy"], strict=True)) if len(abg) else {}
    if "ai" not in acc or "human" not in acc:
        return ""
    return f", AI-assisted {pct(acc['ai'])} and human {pct(acc['human'])} on labelled commits"


def _heldout_clause(study: Study) -> str:
    """' On N commits of repositories labelled after the model was frozen, ...' per held-out
    round, from evaluation.json's `heldout`; empty when there is none."""
    ev = study.evaluation
    parts, readings = [], set()
    for rnd, full, frozen, _ in heldout_full_models(ev.heldout if ev is not None else {}):
        cv = frozen["cv_macro_f1"]
        readings.add(heldout_reading(full, cv))
        lo, hi = full["macro_f1_ci"]
        parts.append(
            f"{rnd.replace('round', 'round ')}: {full['n']} commits of "
            f"{full['repositories']} new repositories, macro-F1 {num(full['macro_f1'])} "
            f"{ci(lo, hi, num)} against {num(cv)} in cross-validation"
        )
    if not parts:
        return ""
    verdict = (
        "agrees with the cross-validated one within its interval"
        if readings == {"within"}
        else "differs from the cross-validated one, and the correction does not carry that"
    )
    return (
        " On repositories labelled only after the model was frozen ("
        + "; ".join(parts)
        + f"), the error {verdict}."
    )


def section_threats(study: Study) -> str:
    c = study.commits
    ev = study.evaluation
    acc = f"{pct(np.trace(ev.confusion) / ev.confusion.sum())}" if ev is not None else "unmeasured"
    n_repos_ai = int((study.corpus["ai_commits"] > 0).sum())
    return f"""## Threats to validity

- **Detection misses AI work.** Only AI use that leaves metadata (an agent identity, a trailer, a
  disclosure) is seen; {pct(c["is_ai"].mean())} of analysed commits carry such evidence. The human
  group contains an unknown amount of AI work. {_recall_sentence(study)}
- **Detection channel selects the work.** Tools that sign their commits (agents opening PRs) do
  different tasks from tools that leave no trace (completion in the editor). Per-channel results
  differ for this reason, not only because of AI.
- **The classifier errs** (grouped-CV accuracy {acc}){_group_accuracy_clause(study)}. The
  constrained correction gives each group its own error matrix; every correction assumes that the
  labelled set's errors hold in the corpus, and the bootstrap carries the labelled set's sampling
  error but not a shift between them.{_heldout_clause(study)}
- **Units of work differ.** AI evidence arrives more often on squash-merged pull requests, which
  bundle many changes; the like-with-like comparison holds mode and size fixed, but a squash
  commit's layer is still that of its largest part.
- **Nesting.** Commits nest in developers and repositories; {n_repos_ai} of {len(study.corpus)}
  repositories have AI commits, so repository-level conclusions rest on few clusters and the
  intervals are wide where clusters are few.
- **Corpus selection.** Repositories were chosen for visible AI evidence and active human
  development; they are not a random sample of software projects.
"""


def _recall_sentence(study: Study) -> str:
    """What the recall bounds say about the direction of detection bias, computed, not assumed."""
    rb = study.recall_bounds
    if rb.empty:
        return "No recall bounds could be computed."
    observed = rb["diff_detected"].iloc[0]
    flips = rb[(np.sign(rb["diff_min"]) != np.sign(rb["diff_max"]))]
    if len(flips):
        r = flips.iloc[0]
        return (
            f"If detection recall were {pct(r['recall'], 0)}, the architectural difference could lie "
            f"anywhere from {pp(r['diff_min'])} to {pp(r['diff_max'])}: undetected AI work can move the "
            f"observed {pp(observed)} in either direction, so its bias has no known sign."
        )
    return (
        f"Even at the lowest recall shown the bounds keep the sign of the observed {pp(observed)}."
    )


def section_cannot_decide() -> str:
    return """## What the data cannot decide

- Whether AI *causes* a shift away from architectural work: developers choose when to use AI, and
  the tasks they hand to it are selected. The within-developer and before/after comparisons remove
  stable differences between people and repositories, not task selection.
- How much of a commit the AI wrote: evidence says a tool took part, not its share of the change.
- Anything about AI use that leaves no trace in git metadata: how large that part is cannot be
  measured from git.
- Whether a layer difference is good or bad for the software.
"""


def render_markdown(study: Study, figure_paths: dict[str, list[Path]] | None = None) -> str:
    """The whole report as Markdown, from the study's tables."""
    notes = "".join(f"> **Note.** {n}\n>\n" for n in study.notes)
    head = (
        "# Do AI-assisted commits concentrate in the structured layers of software work?\n\n"
        f"_Generated by `strata report` from `{study.db}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Every "
        "number is computed from the dataset; none is typed by hand._\n\n"
        + (notes + "\n" if notes else "")
    )
    question = (
        "## Question\n\n"
        "Do AI-assisted commits concentrate in the structured layers of software work (boilerplate, "
        "refactor, well-specified feature) and away from architectural change, compared with human "
        "commits in the same repositories? Layers follow the project's codebook. The primary analysis "
        f"was specified in `{PLAN}` (commit {PLAN_COMMIT}) before this release's results were generated; "
        "the first release's results had been seen, and the plan says what changed because of them.\n"
    )
    figs = ""
    if figure_paths:
        lines = []
        for key, paths in figure_paths.items():
            png = [p for p in paths if p.suffix == ".png"]
            if png:
                lines.append(
                    f"- {key}: ![{key}](figures/{png[0].name}) (data: `figures/{png[0].stem}.csv`)"
                )
            else:
                lines.append(f"- {key}: not drawn (its input is missing; see the notes above)")
        figs = "## Figures\n\n" + "\n".join(lines) + "\n"
    return "\n".join(
        [
            head,
            question,
            section_primary(study),
            section_corpus(study),
            section_scope(study),
            section_methods(study),
            section_results(study),
            section_moves(study),
            section_threats(study),
            section_cannot_decide(),
            figs,
        ]
    )


def markdown_to_html(text: str, title: str = "ai-strata study") -> str:
    """Standalone HTML for the Markdown report (mistune, shipped with nbconvert)."""
    import mistune

    body = mistune.create_markdown(plugins=["table"])(text)
    css = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
        "table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ccc;"
        "padding:.2rem .4rem}img{max-width:100%}blockquote{border-left:4px solid #E69F00;margin:0;"
        "padding:.2rem 1rem;background:#fff8e6}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{css}</style>"
        f"</head><body>{body}</body></html>\n"
    )


# ---------------------------------------------------------------- notebooks


def run_notebook(
    source: Path, html_out: Path, parameters: Mapping[str, object], timeout: int = 900
) -> Path:
    """Execute one py:percent notebook headless with `parameters` injected after its parameters cell."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = jupytext.read(source)
    lines = [f"{k} = {v!r}" for k, v in parameters.items()]
    injected = nbformat.v4.new_code_cell("# injected by strata report\n" + "\n".join(lines))
    injected.metadata["tags"] = ["injected-parameters"]
    pos = next(
        (i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1
    )
    nb.cells.insert(pos + 1, injected)
    nb.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    NotebookClient(
        nb,
        timeout=timeout,
        startup_timeout=300,  # a loaded machine starts kernels slowly (60 s default timed out)
        kernel_name="python3",
        resources={"metadata": {"path": str(Path.cwd())}},
        # the kernel's own log: its only WARNING is "running over TCP without encryption" (the
        # socket is on 127.0.0.1, one kernel per notebook); cell errors still fail the run
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    html_out.parent.mkdir(parents=True, exist_ok=True)
    html_out.write_text(html, encoding="utf-8")
    return html_out


def run_notebooks(
    notebook_dir: str | Path, out: str | Path, parameters: Mapping[str, object], jobs: int = 2
) -> list[Path]:
    """Execute every study notebook found in `notebook_dir` into `out`/<name>.html, `jobs` at a time.

    Kernels are separate processes, so threads suffice to run them side by side.
    """
    from concurrent.futures import ThreadPoolExecutor

    folder = Path(notebook_dir)
    names = [name for name in NOTEBOOKS if (folder / f"{name}.py").exists()]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(run_notebook, folder / f"{n}.py", Path(out) / f"{n}.html", parameters)
            for n in names
        ]
        return [f.result() for f in futures]


# ---------------------------------------------------------------- entry point


def build_report(
    db: str | Path,
    out: str | Path = REPORTS_DIR,
    *,
    evaluation: str | Path | None = None,
    oof: str | Path | None = OOF_PREDICTIONS,
    blame: str | Path = BLAME_RELEASES,
    n_boot: int = 1000,
    seed: int = 0,
    formats: Iterable[str] = style.FORMATS,
    notebooks: str | Path | None = NOTEBOOK_DIR,
) -> dict[str, Any]:
    """`strata report`: study -> figures -> study.md/html -> executed notebooks.

    Returns {"report": study.md, "html", "figures": folder, "figure_files", "notebooks", "notes"}.
    """
    out = Path(out)
    study = run_study(db, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot, seed=seed)
    figure_paths = figures.all_figures(study, out / "figures", formats)
    text = render_markdown(study, figure_paths)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "study.md"
    md.write_text(text, encoding="utf-8")
    html = out / "study.html"
    html.write_text(markdown_to_html(text), encoding="utf-8")
    result: dict[str, object] = {
        "report": md,
        "html": html,
        "figures": out / "figures",
        "figure_files": figure_paths,
        "notebooks": [],
        "notes": study.notes,
    }
    if notebooks is not None and Path(notebooks).is_dir():
        with tempfile.TemporaryDirectory(prefix="strata-report-") as tmp:
            cache = save_study(study, Path(tmp) / "study.pkl")
            ev_path = study.evaluation.source if study.evaluation is not None else evaluation
            params = {
                "db": str(Path(db).resolve()),
                "evaluation": str(Path(ev_path).resolve()) if ev_path else None,
                "oof": str(Path(oof).resolve()) if oof else None,
                "blame": str(Path(blame).resolve()),
                "n_boot": n_boot,
                "seed": seed,
                "cache": str(cache),
            }
            result["notebooks"] = run_notebooks(notebooks, out, params)
    elif notebooks is not None:
        study.notes.append(f"No notebooks folder at `{notebooks}`: notebooks not executed.")
    return result
