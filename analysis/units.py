"""Like with like: compare AI and human commits within integration mode and size band.

AI evidence often arrives on squash-merged pull requests (a whole PR's work in one commit), while
unassisted work is often small direct commits; a raw commit-level comparison then mixes units of
work. `commits.integration_mode` is one of squash_pr | merged_branch (a commit inside a merged
branch) | merge | direct; merges are outside the analysis population.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.primary import pooled_or
from analysis.stats import wilson

ADJUSTMENTS: dict[str, list[str]] = {
    "none (crude)": [],
    "repo": ["repo"],
    "repo x mode": ["repo", "integration_mode"],
    "repo x size band": ["repo", "size_band"],
    "repo x mode x size band": ["repo", "integration_mode", "size_band"],
}


def mode_mix(df: pd.DataFrame) -> pd.DataFrame:
    """Share of each group's commits per integration mode (the confound itself)."""
    t = pd.crosstab(df["group"], df["integration_mode"], normalize="index")
    return t.stack().rename("share").reset_index()


def strata_table(df: pd.DataFrame, layer: str = "architectural") -> pd.DataFrame:
    """Per integration mode x size band: counts and share of `layer` for AI and human commits."""
    d = df.assign(y=(df["layer"] == layer).astype(int))
    g = d.groupby(["integration_mode", "size_band", "group"], observed=True)["y"].agg(
        ["sum", "size"]
    )
    wide = g.unstack("group")
    out = pd.DataFrame(index=wide.index)
    for grp in ("ai", "human"):
        k = wide[("sum", grp)] if ("sum", grp) in wide.columns else 0
        n = wide[("size", grp)] if ("size", grp) in wide.columns else 0
        out[f"n_{grp}"] = pd.Series(n, index=wide.index).fillna(0).astype(int)
        out[f"share_{grp}"] = pd.Series(k, index=wide.index) / out[f"n_{grp}"].replace(0, np.nan)
        lo, hi = wilson(pd.Series(k, index=wide.index).fillna(0), out[f"n_{grp}"])
        out[f"lo_{grp}"], out[f"hi_{grp}"] = lo, hi
    out["diff"] = out["share_ai"] - out["share_human"]
    return out.reset_index()


def how_the_answer_moves(df: pd.DataFrame, layer: str = "architectural") -> pd.DataFrame:
    """Odds ratio of `layer` for AI vs human, pooled (Mantel-Haenszel) over finer and finer strata.

    If the crude ratio moves towards 1 once mode and size are held fixed, the raw comparison was
    partly a comparison of units of work.
    """
    d = df.assign(y=(df["layer"] == layer).astype(int))
    rows = []
    for name, strata in ADJUSTMENTS.items():
        res = pooled_or(d, "y", strata)
        rows.append(
            {
                "layer": layer,
                "adjustment": name,
                "or": res["or"],
                "lo": res["lo"],
                "hi": res["hi"],
                "n": res["n"],
                "n_strata": res["n_strata"],
            }
        )
    return pd.DataFrame(rows)


def by_mode(df: pd.DataFrame, layer: str = "architectural") -> pd.DataFrame:
    """Within each integration mode: MH odds ratio over repo x size band."""
    d = df.assign(y=(df["layer"] == layer).astype(int))
    rows = []
    for mode, g in d.groupby("integration_mode"):
        res = pooled_or(g, "y", ["repo", "size_band"])
        rows.append(
            {
                "integration_mode": mode,
                "n": len(g),
                "n_ai": int(g["is_ai"].sum()),
                "or": res["or"],
                "lo": res["lo"],
                "hi": res["hi"],
            }
        )
    return pd.DataFrame(rows)
