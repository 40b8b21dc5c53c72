"""The paper's figures: one function per figure, each taking the study's tables and an output folder.

Each returns the paths written (figure formats + the CSV of the plotted numbers), or [] when its
input is missing (the report says so). `build_figures` runs the study and draws them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from analysis import LAYERS, style
from analysis.dataset import Evaluation
from analysis.study import Study, run_study


def _bars(
    ax,
    frame: pd.DataFrame,
    hue: str,
    hue_order: list[str],
    colors: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> None:  # noqa: ANN001
    """Grouped bars per layer with their CIs drawn as error bars."""
    width = 0.8 / max(len(hue_order), 1)
    x = np.arange(len(LAYERS))
    palette = colors or dict(zip(hue_order, style.OKABE_ITO * 3, strict=False))
    for i, h in enumerate(hue_order):
        part = frame[frame[hue] == h].set_index("layer").reindex(list(LAYERS))
        pos = x - 0.4 + width * (i + 0.5)
        err = np.vstack(
            [(part["share"] - part["lo"]).clip(lower=0), (part["hi"] - part["share"]).clip(lower=0)]
        )
        ax.bar(
            pos,
            part["share"],
            width,
            color=palette.get(h),
            label=(labels or {}).get(h, h),
            yerr=np.nan_to_num(err.to_numpy() if hasattr(err, "to_numpy") else err),
            ecolor="0.2",
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(x, list(LAYERS))
    ax.set_xlabel("layer")
    ax.set_ylabel("share of commits")


def fig01_layer_mix(
    shares: pd.DataFrame, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Layer mix of AI-assisted vs human commits, repo-cluster bootstrap 95% CIs."""
    fig, ax = style.figure(1)
    groups = [g for g in ("human", "ai") if g in set(shares["group"])]
    _bars(ax, shares, "group", groups, style.GROUP_COLORS, style.GROUP_LABELS)
    ax.legend(title="commits")
    return style.save(fig, shares, "fig01-layer-mix", out, formats)


def fig02_tool_mix(
    tool_shares: pd.DataFrame, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Layer mix per AI tool next to the human baseline."""
    fig, ax = style.figure(2)
    tools = ["human", *sorted(set(tool_shares["tool"]) - {"human"})]
    colors = {"human": style.GROUP_COLORS["human"]}
    colors.update(dict(zip(tools[1:], style.OKABE_ITO[1:] * 3, strict=False)))
    _bars(ax, tool_shares, "tool", tools, colors)
    ax.legend(title="tool", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return style.save(fig, tool_shares, "fig02-tool-mix", out, formats)


def fig03_corrected(
    corrected: pd.DataFrame, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Raw vs classifier-error-corrected shares, per group (CIs bootstrap corpus and labelled set)."""
    data = corrected[corrected["group"].isin(["human", "ai"])]
    groups = [g for g in ("human", "ai") if g in set(data["group"])]
    fig, axes = style.figure(2, sharey=True, ncols=max(len(groups), 1))
    axes = np.atleast_1d(axes)
    methods = [
        m
        for m in ("raw", "inverse", "rogan_gladen", "inverse_by_group")
        if m in set(data["method"])
    ]
    colors = {
        "raw": "0.55",
        "inverse": style.OKABE_ITO[2],
        "rogan_gladen": style.OKABE_ITO[4],
        "inverse_by_group": style.OKABE_ITO[5],
    }
    names = {
        "raw": "raw",
        "inverse": "corrected (matrix inversion)",
        "rogan_gladen": "corrected (Rogan-Gladen)",
        "inverse_by_group": "corrected (per-group matrices)",
    }
    for ax, group in zip(axes, groups, strict=False):
        _bars(ax, data[data["group"] == group], "method", methods, colors, names)
        ax.set_title(f"{style.GROUP_LABELS[group]} commits")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncols=len(methods), bbox_to_anchor=(0.5, 0.0))
    return style.save(fig, corrected, "fig03-corrected-shares", out, formats)


def fig04_ai_share_time(
    monthly: pd.DataFrame,
    out: str | Path,
    adoption: pd.Series | None = None,
    formats: Iterable[str] = style.FORMATS,
) -> list[Path]:
    """Share of commits with AI evidence per month (Wilson 95% band)."""
    fig, ax = style.figure(2, height=2.4)
    sns.lineplot(
        data=monthly,
        x="month",
        y="share",
        ax=ax,
        color=style.GROUP_COLORS["ai"],
        marker="o",
        markersize=2.5,
    )
    ax.fill_between(
        monthly["month"],
        monthly["lo"],
        monthly["hi"],
        color=style.GROUP_COLORS["ai"],
        alpha=0.2,
        linewidth=0,
    )
    if adoption is not None and len(adoption):
        for at in adoption:
            ax.axvline(at, color="0.6", linewidth=0.5, linestyle=":")
    ax.set_xlabel("month (authored)")
    ax.set_ylabel("share of commits with AI evidence")
    return style.save(fig, monthly, "fig04-ai-share-over-time", out, formats)


def fig05_forest(
    per_repo: pd.DataFrame, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Per-repo odds ratio of architectural vs other layers, AI vs human (log scale), pooled MH last."""
    data = per_repo.dropna(subset=["or"]).reset_index(drop=True)
    fig, ax = style.figure(1, height=max(1.6, 0.18 * len(data) + 0.8))
    y = np.arange(len(data))[::-1]
    pooled = data["repo"].str.startswith("pooled")
    ax.errorbar(
        data["or"],
        y,
        xerr=[data["or"] - data["lo"], data["hi"] - data["or"]],
        fmt="none",
        ecolor="0.3",
        elinewidth=0.8,
    )
    ax.scatter(
        data.loc[~pooled, "or"],
        y[~pooled.to_numpy()],
        s=np.clip(data.loc[~pooled, "n_ai"], 8, 60),
        color=style.GROUP_COLORS["ai"],
        zorder=3,
        label="repository (size: AI commits)",
    )
    ax.scatter(
        data.loc[pooled, "or"],
        y[pooled.to_numpy()],
        marker="D",
        s=30,
        color="black",
        zorder=3,
        label="pooled (Mantel-Haenszel)",
    )
    ax.axvline(1, color="0.5", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, data["repo"])
    ax.set_xlabel("odds ratio, architectural (AI vs human)")
    ax.set_ylabel("repository")
    ax.grid(axis="x")
    return style.save(fig, data, "fig05-forest-architectural", out, formats)


def fig06_confusion(
    evaluation: Evaluation | None, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Classifier's grouped-CV confusion matrix: P(predicted | true), counts annotated."""
    if evaluation is None:
        return []
    probs = evaluation.misclassification()
    fig, ax = style.figure(1, height=3.0)
    annot = np.array(
        [
            [f"{p:.2f}\n({int(c)})" for p, c in zip(pr, cr, strict=True)]
            for pr, cr in zip(probs, evaluation.confusion, strict=True)
        ]
    )
    sns.heatmap(
        probs,
        annot=annot,
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=1,
        square=True,
        ax=ax,
        xticklabels=list(LAYERS),
        yticklabels=list(LAYERS),
        cbar_kws={"label": "P(predicted | true)"},
        annot_kws={"fontsize": 6},
    )
    ax.set_xlabel("predicted layer")
    ax.set_ylabel("true layer (labelled)")
    ax.grid(False)
    data = pd.DataFrame(
        [
            {"true": t, "predicted": p, "count": int(evaluation.confusion[i, j]), "p": probs[i, j]}
            for i, t in enumerate(LAYERS)
            for j, p in enumerate(LAYERS)
        ]
    )
    return style.save(fig, data, "fig06-confusion-matrix", out, formats)


def fig07_blame_releases(
    blame: pd.DataFrame | None, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """`strata blame --releases`: share of each release's surviving lines last changed by AI, per tool."""
    if blame is None or blame.empty:
        return []
    rows = []
    for _, r in blame.iterrows():
        total = r["total_lines"] or 1
        for tool, lines in (r["by_tool"] or {}).items():
            rows.append(
                {"release": r["to"], "tool": tool, "lines": lines, "share": 100 * lines / total}
            )
    data = pd.DataFrame(rows, columns=["release", "tool", "lines", "share"])
    fig, ax = style.figure(2, height=2.4)
    releases = list(blame["to"])
    bottom = np.zeros(len(releases))
    for i, tool in enumerate(sorted(set(data["tool"]))):
        part = (
            data[data["tool"] == tool]
            .set_index("release")
            .reindex(releases)["share"]
            .fillna(0)
            .to_numpy()
        )
        ax.bar(releases, part, bottom=bottom, color=style.OKABE_ITO[(i + 1) % 8], label=tool)
        bottom += part
    ax.plot(
        releases,
        blame["ai_share"],
        color="black",
        marker="o",
        markersize=2.5,
        linewidth=0.8,
        label="all AI (reported)",
    )
    ax.set_xlabel("release")
    ax.set_ylabel("lines last changed by AI (%)")
    ax.legend(ncols=3)
    ax.tick_params(axis="x", rotation=45)
    totals = blame[["from", "to", "total_lines", "ai_lines", "ai_share"]].assign(
        tool="all", lines=blame["ai_lines"]
    )
    return style.save(
        fig, pd.concat([totals, data], ignore_index=True), "fig07-blame-releases", out, formats
    )


def fig08_layer_time(
    layer_time: pd.DataFrame, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Layer mix per quarter, human and AI-assisted commits side by side."""
    groups = [g for g in ("human", "ai") if g in set(layer_time["group"])]
    fig, axes = style.figure(2, height=2.4, ncols=max(len(groups), 1), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, group in zip(axes, groups, strict=False):
        wide = (
            layer_time[layer_time["group"] == group]
            .pivot_table(index="period", columns="layer", values="share", observed=False)
            .reindex(columns=list(LAYERS))
            .fillna(0)
        )
        ax.stackplot(
            wide.index,
            *[wide[layer] for layer in LAYERS],
            labels=list(LAYERS),
            colors=[style.LAYER_COLORS[layer] for layer in LAYERS],
            alpha=0.9,
        )
        ax.set_title(f"{style.GROUP_LABELS[group]} commits")
        ax.set_xlabel("quarter")
        ax.tick_params(axis="x", rotation=45)
    axes[0].set_ylabel("share of commits")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1, 1))
    return style.save(fig, layer_time, "fig08-layer-mix-over-time", out, formats)


def fig09_units(
    moves: pd.DataFrame, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> list[Path]:
    """Architectural odds ratio as strata tighten: crude, repo, mode, size band (like with like)."""
    data = moves.dropna(subset=["or"]).reset_index(drop=True)
    fig, ax = style.figure(1, height=2.0)
    y = np.arange(len(data))[::-1]
    ax.errorbar(
        data["or"],
        y,
        xerr=[data["or"] - data["lo"], data["hi"] - data["or"]],
        fmt="o",
        color=style.GROUP_COLORS["ai"],
        ecolor="0.3",
        markersize=3,
    )
    ax.axvline(1, color="0.5", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, data["adjustment"])
    ax.set_xlabel("odds ratio, architectural (AI vs human)")
    ax.set_ylabel("held fixed")
    ax.grid(axis="x")
    return style.save(fig, data, "fig09-like-with-like", out, formats)


def all_figures(
    study: Study, out: str | Path, formats: Iterable[str] = style.FORMATS
) -> dict[str, list[Path]]:
    """Draw every figure of the study; a figure whose input is missing maps to []."""
    formats = tuple(formats)
    from analysis.timeline import adoption_dates

    return {
        "fig01": fig01_layer_mix(study.shares, out, formats),
        "fig02": fig02_tool_mix(study.tool_shares, out, formats),
        "fig03": fig03_corrected(study.corrected, out, formats),
        "fig04": fig04_ai_share_time(study.monthly, out, adoption_dates(study.markers), formats),
        "fig05": fig05_forest(study.per_repo, out, formats),
        "fig06": fig06_confusion(study.evaluation, out, formats),
        "fig07": fig07_blame_releases(study.blame, out, formats),
        "fig08": fig08_layer_time(study.layer_time, out, formats),
        "fig09": fig09_units(study.moves, out, formats),
    }


def build_figures(
    db: str | Path,
    out: str | Path = "reports",
    formats: Iterable[str] = style.FORMATS,
    **study_kwargs: object,
) -> dict[str, list[Path]]:
    """`strata figures`: run the study and write every figure into `out`/figures."""
    study = run_study(db, **study_kwargs)  # type: ignore[arg-type]
    return all_figures(study, Path(out) / "figures", formats)
