"""Detection sensitivity: the answer per detection channel, and bounds for undetected AI work.

Metadata detection sees only AI work that announces itself (an agent identity, a co-author
trailer, a disclosure line...). Undetected AI commits sit in the human group. If detection has
recall r, the detected n_ai commits stand for n_ai / r AI commits, and U = n_ai (1/r - 1) of the
"human" commits are in fact AI. Their layer mix is unknown: we report the difference assuming they
look like detected AI work, and the widest bounds over every possible mix (share 0 to 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.primary import pooled_or
from analysis.shares import with_baseline

DEFAULT_RECALLS: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1)


def channel_odds_ratios(df: pd.DataFrame, min_n: int = 20) -> pd.DataFrame:
    """Architectural odds ratio (MH over repos) of each channel's AI commits vs human commits.

    Also: all AI, and `direct` evidence only (no branch-level provenance).
    """
    labelled = with_baseline(df, "channel", min_n)
    human = labelled[labelled["stratum"] == "human"]
    rows = []
    subsets = {"all AI": labelled[labelled["is_ai"] == 1]}
    if "ai_direct" in df.columns:
        direct = labelled["is_ai"].eq(1) & (
            labelled["ai_direct"].astype(bool) | labelled["author_kind"].eq("ai_agent")
        )
        subsets["direct evidence only"] = labelled[direct]
    for channel in sorted(set(labelled["stratum"]) - {"human"}):
        subsets[channel] = labelled[labelled["stratum"] == channel]
    for name, ai in subsets.items():
        both = pd.concat([ai, human])
        res = pooled_or(both, "arch", ["repo"])
        rows.append(
            {
                "channel": name,
                "n_ai": len(ai),
                "arch_share": float(ai["arch"].mean()) if len(ai) else np.nan,
                "or": res["or"],
                "lo": res["lo"],
                "hi": res["hi"],
                "n_repos": res["n_repos"],
            }
        )
    return pd.DataFrame(rows)


def _bounds(
    n_a: int, k_a: int, n_h: int, k_h: int, u: float
) -> tuple[float, str, dict[str, float]]:
    """`recall_bounds`' row for `u` undetected AI commits among the human ones (both groups
    non-empty): u as capped, the note, and the four differences."""
    note = ""
    if u >= n_h:
        u = n_h - 1
        note = "recall implies more undetected AI commits than human commits; capped"
    lo_k = max(0.0, k_h - (n_h - u))  # undetected AI layer commits: at least this many
    hi_k = min(u, k_h)

    def diff(k_u: float) -> float:
        true_ai = (k_a + k_u) / (n_a + u)
        true_h = (k_h - k_u) / (n_h - u) if n_h - u > 0 else np.nan
        return true_ai - true_h

    ends = [diff(lo_k), diff(hi_k)]
    q_a, q_h = k_a / n_a, k_h / n_h
    return (
        u,
        note,
        {
            "diff_detected": q_a - q_h,
            "diff_if_alike": diff(min(max(q_a * u, lo_k), hi_k)),
            "diff_min": min(ends),
            "diff_max": max(ends),
        },
    )


def recall_bounds(
    df: pd.DataFrame, layer: str = "architectural", recalls: tuple[float, ...] = DEFAULT_RECALLS
) -> pd.DataFrame:
    """Share of `layer` among AI and human commits if detection recall were r (see module doc).

    Columns: recall, n_undetected, diff_detected (observed AI - human), diff_if_alike (undetected
    AI like detected AI), diff_min, diff_max (over every layer mix of the undetected AI commits).
    """
    is_layer = (df["layer"] == layer).to_numpy()
    ai = df["is_ai"].to_numpy() == 1
    n_a, n_h = int(ai.sum()), int((~ai).sum())
    k_a, k_h = int(is_layer[ai].sum()), int(is_layer[~ai].sum())
    rows = []
    for r in recalls:
        u = n_a * (1 / r - 1)
        if not n_a or not n_h:  # one group is empty: no difference to bound
            note = "no AI commits" if not n_a else "no human commits"
            bounds = dict.fromkeys(
                ("diff_detected", "diff_if_alike", "diff_min", "diff_max"), np.nan
            )
        else:
            u, note, bounds = _bounds(n_a, k_a, n_h, k_h, u)
        rows.append({"layer": layer, "recall": r, "n_undetected": round(u), **bounds, "note": note})
    return pd.DataFrame(rows)
