"""The paper's figures: one function per figure, each taking the study's tables and an output folder.

Each returns the paths written (figure formats + the CSV of exactly the plotted numbers + a
caption generated from them), or [] when its input is missing (the report says so). Every group
shows its n; an interval is drawn only where its group meets the minimums in `analysis.style`
(the CSV leaves lo/hi empty where none is drawn). `all_figures` draws them all and writes the
contact sheet; `build_figures` runs the study first.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter, MaxNLocator

from analysis import LAYERS, shares, style
from analysis.dataset import Evaluation
from analysis.study import Study, run_study
from mining.vocabulary import REPORTS_DIR

BOOTSTRAP = "repository-cluster bootstrap 95% percentile interval"
INTERVAL_RULE = (
    f"intervals drawn only for groups with >= {style.MIN_INTERVAL_N} commits in "
    f">= {style.MIN_INTERVAL_REPOS} repositories"
)
RELEASE_LABELS = 8
"""At most this many release names are written under the release axis (the rest are indexed)."""


def _gate(
    frame: pd.DataFrame,
    n: str = "total",
    repos: str | None = "n_repos",
    min_repos: int | None = None,
) -> pd.DataFrame:
    """Blank lo/hi where a group misses the minimums, and record the minimums used, in the CSV."""
    min_repos = style.MIN_INTERVAL_REPOS if min_repos is None and repos else min_repos
    out = frame.copy()
    n_repos = out[repos] if repos and repos in out else pd.Series(np.nan, index=out.index)
    shown = [
        style.interval_shown(a, b, min_repos=min_repos if repos else None)
        for a, b in zip(out[n], n_repos, strict=True)
    ]
    out.loc[~np.array(shown, dtype=bool), ["lo", "hi"]] = np.nan
    out["min_n"] = style.MIN_INTERVAL_N
    if repos:
        out["min_repos"] = min_repos
    return out


def _err(part: pd.DataFrame, value: str = "share") -> np.ndarray:
    """Asymmetric error-bar lengths; rows without an interval get no bar."""
    lo = (part[value] - part["lo"]).clip(lower=0)
    hi = (part["hi"] - part[value]).clip(lower=0)
    return np.vstack([lo.to_numpy(dtype=float), hi.to_numpy(dtype=float)])


def _bars(
    ax: Axes,
    frame: pd.DataFrame,
    hue: str,
    hue_order: list[str],
    colors: dict[str, str],
    labels: dict[str, str],
) -> None:
    """Grouped bars per layer; intervals (where `frame` keeps them) as error bars."""
    width = 0.8 / max(len(hue_order), 1)
    x = np.arange(len(LAYERS))
    for i, h in enumerate(hue_order):
        part = frame[frame[hue] == h].set_index("layer").reindex(list(LAYERS))
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, part["share"], width, color=colors[h], label=labels.get(h, h))
        has = part["lo"].notna().to_numpy()
        if has.any():
            ax.errorbar(
                pos[has],
                part["share"][has],
                yerr=_err(part[has]),
                fmt="none",
                ecolor="0.2",
                elinewidth=0.8,
            )
    ax.set_xticks(x, list(LAYERS))
    ax.set_xlabel("layer")
    ax.set_ylabel("share of commits")


def _source(source: str) -> str:
    return f" Data: {source}." if source else ""


def _group_repos(commits: pd.DataFrame | None, column: str) -> dict[str, int]:
    if commits is None or column not in commits:
        return {}
    return commits.groupby(column, observed=True)["repo"].nunique().to_dict()


def fig01_layer_mix(
    shares_table: pd.DataFrame,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Layer mix of AI-assisted vs human commits, repo-cluster bootstrap 95% CIs."""
    data = _gate(shares_table, repos="n_repos" if "n_repos" in shares_table else None)
    fig, ax = style.figure(1, height=2.3)
    groups = [g for g in ("human", "ai") if g in set(data["group"])]
    totals = data.groupby("group")["total"].first()
    labels = {g: style.n_label(style.GROUP_LABELS[g], totals[g]) for g in groups}
    _bars(ax, data, "group", groups, style.GROUP_COLORS, labels)
    ax.set_ylim(0, 1)
    ax.legend(title="commits", loc="upper left")
    caption = (
        "Share of each layer among human and AI-assisted commits ("
        + "; ".join(labels[g] for g in groups)
        + f"). Error bars: {BOOTSTRAP}; {INTERVAL_RULE}."
        + _source(source)
    )
    return style.save(fig, data, "fig01-layer-mix", out, formats, caption)


def tool_table(commits: pd.DataFrame, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Per-tool layer shares for fig02: tools under MIN_TOOL_COMMITS pooled, with n_repos per tool."""
    pooled = shares.with_baseline(commits, "tool", style.MIN_TOOL_COMMITS)
    table = shares.layer_shares(pooled, "stratum", n_boot, seed).rename(columns={"stratum": "tool"})
    table["n_repos"] = table["tool"].map(_group_repos(pooled, "stratum"))
    return table


def fig02_tool_mix(
    tool_shares: pd.DataFrame,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Sorted dot plot: each layer's share per AI tool (largest first) against the human baseline."""
    data = _gate(tool_shares, repos="n_repos" if "n_repos" in tool_shares else None)
    totals = data.groupby("tool")["total"].first()
    repos = data.groupby("tool")["n_repos"].first() if "n_repos" in data else None
    tools = [
        t
        for t in totals.drop(["human", "other"], errors="ignore").sort_values(ascending=False).index
    ]
    order = [t for t in ("human", *tools, "other") if t in totals.index]
    labels = {
        t: f"{t} ({style.count(totals[t])}"
        + (f"; {int(repos[t])} repo{'s' if repos[t] != 1 else ''}" if repos is not None else "")
        + ")"
        for t in order
    }
    fig, axes = style.figure(
        2, height=max(2.0, 0.85 + 0.15 * len(order)), ncols=len(LAYERS), sharey=True
    )
    y = np.arange(len(order))[::-1]
    pos = dict(zip(order, y, strict=True))
    styles = {
        "human": dict(
            color=style.GROUP_COLORS["human"], marker="s", mfc=style.GROUP_COLORS["human"]
        ),
        "with": dict(color=style.GROUP_COLORS["ai"], marker="o", mfc=style.GROUP_COLORS["ai"]),
        "without": dict(color=style.GROUP_COLORS["ai"], marker="o", mfc="white"),
    }
    names = {
        "human": "human commits",
        "with": f"AI tool, {BOOTSTRAP.split(' 95%')[0]} 95% CI",
        "without": f"AI tool, no CI (< {style.MIN_INTERVAL_N} commits or "
        f"< {style.MIN_INTERVAL_REPOS} repos)",
    }
    for ax, layer in zip(axes, LAYERS, strict=True):
        part = data[data["layer"] == layer].set_index("tool").reindex(order)
        human = part.loc["human", "share"] if "human" in part.index else np.nan
        if pd.notna(human):
            ax.axvline(human, color=style.GROUP_COLORS["human"], linewidth=0.6, linestyle="--")
        for t in order:
            kind = (
                "human" if t == "human" else ("with" if pd.notna(part.loc[t, "lo"]) else "without")
            )
            row = part.loc[[t]]
            ax.errorbar(
                row["share"],
                [pos[t]],
                xerr=_err(row) if kind != "without" else None,
                fmt="none",
                ecolor=styles[kind]["color"],
                elinewidth=0.8,
            )
            ax.plot(
                row["share"],
                [pos[t]],
                linestyle="none",
                markersize=3.5,
                markeredgewidth=0.8,
                label=names[kind],
                **styles[kind],
            )
        ax.set_title(layer)
        top = np.nanmax([part["share"].max(), part["hi"].max()])
        ax.set_xlim(0, min(1.0, 1.1 * top) if np.isfinite(top) and top > 0 else 1.0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: style.plain(round(v, 6))))
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
    engine = fig.get_layout_engine()
    assert isinstance(engine, ConstrainedLayoutEngine)  # style.figure's layout
    engine.set(wspace=0.06)
    axes[0].set_yticks(y, [labels[t] for t in order])
    axes[0].set_ylabel("group (commits; repositories)")
    fig.supxlabel(
        "share of the group's commits in the layer (own scale per layer; dashed: human)", fontsize=8
    )
    handles, texts = axes[0].get_legend_handles_labels()
    unique = dict(zip(texts, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="outside upper center", ncols=3)
    caption = (
        f"Layer mix per AI tool, tools sorted by AI commits; tools with fewer than "
        f"{style.MIN_TOOL_COMMITS} AI commits pooled as 'other'. Rows give commits (n) and "
        f"repositories. Error bars: {BOOTSTRAP}; {INTERVAL_RULE} (open circles: point only). "
        f"{len(tools)} tools, {style.count(totals.drop('human', errors='ignore').sum())} AI-assisted "
        f"and {style.count(totals.get('human', 0))} human commits." + _source(source)
    )
    return style.save(fig, data, "fig02-tool-mix", out, formats, caption)


METHOD_COLORS = {
    "raw": "0.55",
    "inverse": style.OKABE_ITO[2],
    "rogan_gladen": style.OKABE_ITO[4],
    "inverse_by_group": style.OKABE_ITO[5],
}
METHOD_NAMES = {
    "raw": "raw",
    "inverse": "corrected (matrix inversion)",
    "rogan_gladen": "corrected (Rogan-Gladen)",
    "inverse_by_group": "corrected (per-group matrices)",
}


def fig03_corrected(
    corrected: pd.DataFrame,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Raw vs classifier-error-corrected shares, per group (CIs bootstrap corpus and labelled set)."""
    data = corrected[corrected["group"].isin(["human", "ai"])]
    if "total" in data:
        data = _gate(data, repos="n_repos" if "n_repos" in data else None)
    groups = [g for g in ("human", "ai") if g in set(data["group"])]
    fig, axes = style.figure(2, height=2.5, sharey=True, ncols=max(len(groups), 1))
    axes = np.atleast_1d(axes)
    methods = [m for m in METHOD_NAMES if m in set(data["method"])]
    for ax, group in zip(axes, groups, strict=False):
        part = data[data["group"] == group]
        _bars(ax, part, "method", methods, METHOD_COLORS, METHOD_NAMES)
        title = f"{style.GROUP_LABELS[group]} commits"
        ax.set_title(style.n_label(title, part["total"].iloc[0]) if "total" in part else title)
        ax.set_ylim(0, 1)
    for ax in axes[1:]:
        ax.set_ylabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(methods))
    caption = (
        "Layer shares before and after correcting for the classifier's errors (confusion matrix "
        "of the labelled set), per group"
        + (
            " ("
            + "; ".join(
                style.n_label(style.GROUP_LABELS[g], n)
                for g, n in data.groupby("group")["total"].first().items()
            )
            + ")"
            if "total" in data
            else ""
        )
        + ". Error bars: 95% percentile intervals, bootstrapping repositories and the labelled set; "
        + (INTERVAL_RULE + "." if "total" in data else "")
        + _source(source)
    )
    return style.save(fig, data, "fig03-corrected-shares", out, formats, caption)


def fig04_ai_share_time(
    monthly: pd.DataFrame,
    out: str | Path,
    adoption: pd.Series | None = None,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """AI share per month from the first AI month (Wilson band where n suffices), commits below."""
    ai_months = monthly.loc[monthly["n_ai"] > 0, "month"]
    start = (ai_months.min() if len(ai_months) else monthly["month"].max()) - pd.DateOffset(
        months=3
    )
    before = monthly[monthly["month"] < start]
    shown = monthly[monthly["month"] >= start].copy()
    enough = shown["n"] >= style.MIN_PERIOD_N
    shown.loc[~enough, ["share", "lo", "hi"]] = np.nan
    if len(ai_months):  # no band before any AI: nothing there to bound
        shown.loc[shown["month"] < ai_months.min(), ["lo", "hi"]] = np.nan
    shown["min_n"] = style.MIN_PERIOD_N
    fig, (ax, axn) = style.figure(
        2, height=2.6, nrows=2, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    ai = style.GROUP_COLORS["ai"]
    ax.fill_between(
        shown["month"],
        shown["lo"],
        shown["hi"],
        color=ai,
        alpha=0.2,
        linewidth=0,
        label=f"Wilson 95% interval (from the first AI month; months with >= {style.MIN_PERIOD_N} commits)",
    )
    ax.plot(
        shown["month"],
        shown["share"],
        color=ai,
        marker="o",
        markersize=2.5,
        label="share of commits with AI evidence",
    )
    dates = pd.Series(dtype="datetime64[ns]") if adoption is None else adoption.dropna()
    dates = dates[dates >= start]
    if len(dates):
        ax.plot(
            dates,
            np.full(len(dates), 0.015),
            linestyle="none",
            marker="|",
            markersize=6,
            color="0.2",
            transform=ax.get_xaxis_transform(),
            label=f"a repository's first AI adoption marker ({len(dates)} repos)",
        )
    ax.set_ylim(0, 1)
    ax.set_ylabel("AI share")
    ax.legend(loc="upper left")
    axn.bar(shown["month"], shown["n"], width=25, color="0.55")
    axn.set_ylabel("commits (n)")
    axn.set_xlabel("month (authored)")
    rows = [shown.assign(series="month", repo=pd.NA)]
    if len(dates):
        rows.append(
            pd.DataFrame({"series": "adoption", "month": dates.to_numpy(), "repo": dates.index})
        )
    data = pd.concat(rows, ignore_index=True)[
        ["series", "month", "repo", "n", "n_ai", "share", "lo", "hi", "min_n"]
    ]
    caption = (
        f"Share of commits with AI evidence per month from {start:%Y-%m} "
        f"({style.count(shown['n'].sum())} commits; monthly n in the lower panel); months with "
        f"fewer than {style.MIN_PERIOD_N} commits are not drawn. Band: Wilson 95% interval. "
        f"Ticks at the bottom: each repository's first adoption marker ({len(dates)} repositories)."
        + (
            f" Before {start:%Y-%m}: {style.count(before['n_ai'].sum())} AI-evidenced of "
            f"{style.count(before['n'].sum())} commits (not shown)."
            if len(before)
            else ""
        )
        + _source(source)
    )
    return style.save(fig, data, "fig04-ai-share-over-time", out, formats, caption)


def _short_names(names: pd.Series) -> list[str]:
    """Repository names without their owner where that stays unambiguous (fits one column)."""
    short = names.str.split("/").str[-1]
    dupes = set(short[short.duplicated(keep=False)])
    return [n if s in dupes else s for n, s in zip(names, short, strict=True)]


def _right_labels(ax: Axes, y: np.ndarray, labels: list[str], title: str) -> None:
    """Per-row n written on the right edge, aligned with the rows."""
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(y, labels)
    right.tick_params(axis="y", length=0, pad=2)
    right.grid(False)
    right.set_ylabel(title)
    for spine in right.spines.values():
        spine.set_visible(False)


def fig05_forest(
    per_repo: pd.DataFrame,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Per-repo odds ratio of architectural vs other layers, AI vs human (log scale), pooled MH last."""
    data = per_repo.dropna(subset=["or"])
    data = data.assign(_pooled=data["repo"].str.startswith("pooled")).sort_values(
        ["_pooled", "or"], ascending=[True, False]
    )
    data = data.drop(columns="_pooled").reset_index(drop=True)
    fig, ax = style.figure(1, height=0.9 + 0.118 * len(data))
    y = np.arange(len(data))[::-1]
    pooled = data["repo"].str.startswith("pooled").to_numpy()
    ax.errorbar(data["or"], y, xerr=_err(data, "or"), fmt="none", ecolor="0.3", elinewidth=0.7)
    ax.plot(
        data.loc[~pooled, "or"],
        y[~pooled],
        "o",
        markersize=3,
        color=style.GROUP_COLORS["ai"],
        label="repository (Woolf 95% CI)",
    )
    ax.plot(
        data.loc[pooled, "or"],
        y[pooled],
        "D",
        markersize=4,
        color="black",
        label="pooled (MH, repo bootstrap 95% CI)",
    )
    ax.axvline(1, color="0.5", linewidth=0.8)
    style.log_axis(ax, *style.padded_range([*data["lo"], *data["hi"]], 1.1))
    ax.set_ylim(-0.7, len(data) - 0.3)
    labels = [
        ("pooled" if p else n) for n, p in zip(_short_names(data["repo"]), pooled, strict=True)
    ]
    ax.set_yticks(y, labels)
    ax.set_xlabel("odds ratio, architectural (AI vs human)")
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=1)
    _right_labels(ax, y, [style.count(v) for v in data["n_ai"]], "AI commits (n)")
    data = data.assign(min_n_ai=5)
    caption = (
        f"Odds ratio of an architectural commit, AI-assisted vs human, in each of "
        f"{int((~pooled).sum())} repositories with at least 5 AI commits (Woolf 95% interval), "
        f"and pooled over repositories (Mantel-Haenszel, {style.count(data.loc[pooled, 'n'].sum())} "
        "commits, 95% repository-cluster bootstrap interval); repositories sorted by odds ratio. Right: AI commits per repository."
        + _source(source)
    )
    return style.save(fig, data, "fig05-forest-architectural", out, formats, caption)


WRAPPED = {"boilerplate": "boiler-\nplate", "architectural": "architec-\ntural"}
"""Layer names broken in two where four of them share a one-column axis."""


def fig06_confusion(
    evaluation: Evaluation | None,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Classifier's grouped-CV confusion matrix: P(predicted | true), counts annotated."""
    if evaluation is None:
        return []
    probs = evaluation.misclassification()
    rows = evaluation.confusion.sum(axis=1)
    fig, ax = style.figure(1, height=2.7)
    image = ax.imshow(probs, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(LAYERS)):
        for j in range(len(LAYERS)):
            ax.text(
                j,
                i,
                f"{probs[i, j]:.2f}\n({int(evaluation.confusion[i, j])})",
                ha="center",
                va="center",
                fontsize=style.MIN_TEXT_PT,
                color="white" if probs[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(len(LAYERS)), [WRAPPED.get(layer, layer) for layer in LAYERS])
    ax.set_yticks(
        range(len(LAYERS)), [f"{s}\nn={style.count(n)}" for s, n in zip(LAYERS, rows, strict=True)]
    )
    ax.set_xlabel("predicted layer")
    ax.set_ylabel("true layer (labelled)")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="P(predicted | true)", shrink=0.9)
    data = pd.DataFrame(
        [
            {
                "true": t,
                "predicted": p,
                "count": int(evaluation.confusion[i, j]),
                "p": probs[i, j],
                "n_true": int(rows[i]),
            }
            for i, t in enumerate(LAYERS)
            for j, p in enumerate(LAYERS)
        ]
    )
    caption = (
        f"Classifier's confusion matrix from repository-grouped cross-validation on "
        f"{style.count(rows.sum())} labelled commits: P(predicted layer | true layer), counts in "
        f"brackets; n per true layer on the left." + _source(source)
    )
    return style.save(fig, data, "fig06-confusion-matrix", out, formats, caption)


def _release_ticks(releases: list[str]) -> list[int]:
    """Indices of at most RELEASE_LABELS evenly spaced releases, first and last included."""
    if len(releases) <= RELEASE_LABELS:
        return list(range(len(releases)))
    return sorted({int(round(i)) for i in np.linspace(0, len(releases) - 1, RELEASE_LABELS)})


def fig07_blame_releases(
    blame: pd.DataFrame | None,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    repo: str | None = None,
    source: str = "",
) -> list[Path]:
    """`strata blame --releases`: share of each release's surviving lines last changed by AI, per tool."""
    if blame is None or blame.empty:
        return []
    repo = repo or (str(blame["repo"].iloc[0]) if "repo" in blame else None)
    releases = list(blame["to"])
    index = np.arange(len(releases))
    rows = []
    for i, (_, r) in enumerate(blame.iterrows()):
        total = r["total_lines"] or 1
        for tool, lines in (r["by_tool"] or {}).items():
            rows.append(
                {
                    "index": i,
                    "from": r["from"],
                    "release": r["to"],
                    "tool": tool,
                    "lines": lines,
                    "total_lines": r["total_lines"],
                    "share": 100 * lines / total,
                }
            )
    data = pd.DataFrame(
        rows, columns=["index", "from", "release", "tool", "lines", "total_lines", "share"]
    )
    tools = sorted(set(data["tool"]))
    if len(tools) > len(style.OKABE_ITO) - 1:
        raise ValueError(
            f"{len(tools)} tools in the blame file: more than the palette distinguishes"
        )
    fig, (ax, axn) = style.figure(
        2, height=2.6, nrows=2, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    bottom = np.zeros(len(releases))
    for i, tool in enumerate(tools):
        part = (
            data[data["tool"] == tool]
            .set_index("index")
            .reindex(index)["share"]
            .fillna(0)
            .to_numpy()
        )
        ax.bar(
            index,
            part,
            bottom=bottom,
            width=0.8,
            color=style.OKABE_ITO[(i + 1) % 8],
            label=f"last changed by {tool}",
        )
        bottom += part
    ax.plot(
        index,
        blame["ai_share"],
        color="black",
        marker="o",
        markersize=2,
        linewidth=0.8,
        label="all AI (reported by strata blame)",
    )
    ax.set_ylim(0, 100)
    ax.set_ylabel("lines by AI (%)")
    ax.legend(loc="upper left", ncols=2)
    ax.set_title(
        f"{repo or 'repository not named in the blame file'}: lines changed in each release "
        "that survive at the release, last changed by AI",
        loc="left",
    )
    axn.bar(index, blame["total_lines"], width=0.8, color="0.55")
    axn.set_ylabel("lines (n)")
    ticks = _release_ticks(releases)
    axn.set_xticks(ticks, [releases[t] for t in ticks])
    axn.set_xlim(-0.8, len(releases) - 0.2)
    axn.set_xlabel(
        f"release ({len(releases)} consecutive releases, {releases[0]} to {releases[-1]}; "
        f"{len(ticks)} named)"
    )
    totals = blame[["from", "to", "total_lines", "ai_lines", "ai_share"]].rename(
        columns={"to": "release"}
    )
    totals = totals.assign(
        index=index, tool="all", lines=blame["ai_lines"], share=blame["ai_share"]
    )
    table = pd.concat([totals, data], ignore_index=True).assign(repo=repo)
    caption = (
        f"Blame per release in {repo or 'an unnamed repository'}: for each of {len(releases)} "
        f"consecutive releases ({releases[0]} to {releases[-1]}), the share of the lines changed "
        "since the previous release that survive and were last changed by an AI-attributed commit, "
        f"by tool; lower panel: lines counted (n; {style.count(blame['total_lines'].sum())} in all). "
        "A census of lines, so no interval." + _source(source)
    )
    return style.save(fig, table, "fig07-blame-releases", out, formats, caption)


def _year_ticks(ax: Axes, dates: pd.Index) -> None:
    """Year labels only, every 1, 2 or 4 years so that at most about seven fit a column."""
    years = max(1, dates.max().year - dates.min().year) if len(dates) else 1
    ax.xaxis.set_major_locator(mdates.YearLocator(1 if years <= 6 else 2 if years <= 12 else 4))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))


def fig08_layer_time(
    layer_time: pd.DataFrame,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Layer mix per quarter (quarters with enough commits), human and AI-assisted side by side."""
    groups = [g for g in ("human", "ai") if g in set(layer_time["group"])]
    totals = layer_time.groupby(["group", "period"])["n"].transform("sum")
    data = layer_time.assign(total=totals, min_n=style.MIN_PERIOD_N)
    data = data[data["total"] >= style.MIN_PERIOD_N]
    fig, axes = style.figure(
        2,
        height=2.8,
        ncols=max(len(groups), 1),
        nrows=2,
        sharex="col",
        gridspec_kw={"height_ratios": [2.2, 1]},
        squeeze=False,
    )
    for col, group in enumerate(groups):
        ax, axn = axes[0, col], axes[1, col]
        part = data[data["group"] == group]
        wide = part.pivot_table(index="period", columns="layer", values="share", observed=False)
        wide = wide.reindex(columns=list(LAYERS)).fillna(0)
        bottom = np.zeros(len(wide))
        for layer in LAYERS:
            ax.bar(
                wide.index,
                wide[layer],
                bottom=bottom,
                width=80,
                color=style.LAYER_COLORS[layer],
                label=layer,
                linewidth=0,
            )
            bottom += wide[layer].to_numpy()
        n = part.groupby("period")["n"].sum()
        ax.set_title(style.n_label(f"{style.GROUP_LABELS[group]} commits", n.sum()))
        ax.set_ylim(0, 1)
        axn.bar(n.index, n.to_numpy(), width=80, color="0.55")
        _year_ticks(axn, n.index)
        axn.set_xlabel("quarter")
        axn.set_ylabel("commits (n)" if col == 0 else "")
    axes[0, 0].set_ylabel("share of commits")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(LAYERS))
    caption = (
        "Layer mix per quarter, human and AI-assisted commits; quarters with fewer than "
        f"{style.MIN_PERIOD_N} commits in a group are not drawn; lower panels: commits per quarter "
        f"(n; "
        + "; ".join(
            f"{style.GROUP_LABELS[g]} {style.count(data.loc[data['group'] == g, 'n'].sum())}"
            for g in groups
        )
        + "). Shares of counts, no interval."
        + _source(source)
    )
    return style.save(fig, data, "fig08-layer-mix-over-time", out, formats, caption)


def _odds_ratio_axis(ax: Any, data: pd.DataFrame) -> None:
    """The forest plots' x axis: log scale over the intervals and 1 (marked), one row per y."""
    ax.axvline(1, color="0.5", linewidth=0.8)
    lo, hi = style.padded_range([*data["lo"], *data["hi"], *data["or"], 1.0], 1.15)
    style.log_axis(ax, lo, hi)
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)


def fig09_units(
    moves: pd.DataFrame,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Architectural odds ratio as strata tighten: crude, repo, mode, size band (like with like)."""
    data = _gate(moves.dropna(subset=["or"]).reset_index(drop=True), n="n", repos=None)
    fig, ax = style.figure(1, height=0.9 + 0.28 * len(data))
    y = np.arange(len(data))[::-1]
    ax.errorbar(
        data["or"],
        y,
        xerr=_err(data, "or"),
        fmt="o",
        color=style.GROUP_COLORS["ai"],
        ecolor="0.3",
        markersize=3,
    )
    _odds_ratio_axis(ax, data)
    ax.set_yticks(
        y, [a.replace("none (crude)", "crude").replace(" x ", " × ") for a in data["adjustment"]]
    )
    ax.set_xlabel("odds ratio, architectural (AI vs human)")
    ax.set_ylabel("held fixed")
    _right_labels(
        ax,
        y,
        [f"{style.count(n)} / {int(k)}" for n, k in zip(data["n"], data["n_strata"], strict=True)],
        "commits / strata",
    )
    caption = (
        "Odds ratio of an architectural commit, AI-assisted vs human, pooled (crude, then "
        "Mantel-Haenszel; 95% repository-cluster bootstrap interval) within finer and finer "
        "strata; right: commits (n) and strata used. "
        f"{INTERVAL_RULE.split(' in ')[0].capitalize()}." + _source(source)
    )
    return style.save(fig, data, "fig09-like-with-like", out, formats, caption)


def fig10_structure_events(
    odds: pd.DataFrame,
    layer: dict | None,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    source: str = "",
) -> list[Path]:
    """Odds ratio of each structural-change event, AI vs human, beside the learned architectural
    layer's, all by the primary estimator (same era, within repository x quarter)."""
    if odds is None or odds.empty:
        return []
    rows = odds[["outcome", "or", "lo", "hi", "n", "n_repos"]].copy()
    rows["outcome"] = rows["outcome"].str.replace("_", " ")
    if layer is not None and np.isfinite(layer.get("or", np.nan)):
        rows = pd.concat(
            [
                pd.DataFrame(
                    [
                        {
                            "outcome": "architectural (classifier)",
                            **{k: layer[k] for k in ("or", "lo", "hi", "n", "n_repos")},
                        }
                    ]
                ),
                rows,
            ],
            ignore_index=True,
        )
    data = rows.dropna(subset=["or"]).reset_index(drop=True)
    if data.empty:  # no event has both groups in one stratum (one group absent, a tiny history)
        return []
    fig, ax = style.figure(1, height=0.9 + 0.22 * len(data))
    y = np.arange(len(data))[::-1]
    # one colour (every row is the same contrast); the classifier's row is a square
    markers = ["s" if o.startswith("architectural (classifier)") else "o" for o in data["outcome"]]
    for yi, (_, r), m in zip(y, data.iterrows(), markers, strict=True):
        ax.errorbar(
            [r["or"]],
            [yi],
            xerr=_err(pd.DataFrame([r]), "or"),
            fmt=m,
            color=style.GROUP_COLORS["ai"],
            ecolor="0.3",
            markersize=3,
        )
    _odds_ratio_axis(ax, data)
    ax.set_yticks(y, list(data["outcome"]))
    ax.set_xlabel("odds ratio (AI vs human)")
    _right_labels(ax, y, [str(int(k)) for k in data["n_repos"]], "repos")
    caption = (
        "Odds ratio of each structural-change event (read from the diff and the trees, no model) for "
        "AI-assisted vs human commits, same era, Mantel-Haenszel within repository x quarter, 95% "
        "repository-cluster bootstrap interval; the first row is the classifier's architectural "
        f"layer on the same estimator. n = {style.count(int(data['n'].max()))} commits."
        + _source(source)
    )
    return style.save(fig, data, "fig10-structure-events", out, formats, caption)


def all_figures(
    study: Study,
    out: str | Path,
    formats: Iterable[str] = style.FORMATS,
    blame_repo: str | None = None,
) -> dict[str, list[Path]]:
    """Draw every figure of the study and the contact sheet; a figure without input maps to []."""
    from analysis.contact_sheet import write_contact_sheet
    from analysis.timeline import adoption_dates

    formats = tuple(formats)
    source = f"dataset {Path(study.db).name}"
    by_group = _group_repos(study.commits, "group")
    group_totals = study.shares.groupby("group")["total"].first()
    corrected = study.corrected.assign(
        total=study.corrected["group"].map(group_totals),
        n_repos=study.corrected["group"].map(by_group),
    )
    written = {
        "fig01": fig01_layer_mix(
            study.shares.assign(n_repos=study.shares["group"].map(by_group)), out, formats, source
        ),
        "fig02": fig02_tool_mix(
            tool_table(study.commits, study.n_boot, study.seed), out, formats, source
        ),
        "fig03": fig03_corrected(corrected, out, formats, f"{source} and the labelled set"),
        "fig04": fig04_ai_share_time(
            study.monthly, out, adoption_dates(study.markers), formats, source
        ),
        "fig05": fig05_forest(study.per_repo, out, formats, source),
        "fig06": fig06_confusion(
            study.evaluation, out, formats, "the labelled set's cross-validation"
        ),
        "fig07": fig07_blame_releases(
            study.blame, out, formats, blame_repo, "`strata blame --releases --json` output"
        ),
        "fig08": fig08_layer_time(study.layer_time, out, formats, source),
        "fig09": fig09_units(study.moves, out, formats, source),
        "fig10": fig10_structure_events(
            study.structure_odds,
            study.primary.set_index("layer").loc["architectural"].to_dict()
            if len(study.primary)
            else None,
            out,
            formats,
            source,
        ),
    }
    write_contact_sheet(written, out, study.db)
    return written


def build_figures(
    db: str | Path,
    out: str | Path = REPORTS_DIR,
    formats: Iterable[str] = style.FORMATS,
    blame_repo: str | None = None,
    **study_kwargs: Any,
) -> dict[str, list[Path]]:
    """`strata figures`: run the study and write every figure into `out`/figures."""
    study = run_study(db, **study_kwargs)
    return all_figures(study, Path(out) / "figures", formats, blame_repo)
