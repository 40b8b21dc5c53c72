"""`strata evaluate`: how wrong the layer classifier is, measured on the labelled dev set.

Why repository-grouped cross-validation: commits of one repository share vocabulary, layout and
conventions, so a random split would let the model recognise the repository instead of the
layer. Each fold holds out whole repositories. The same folds score the baselines (majority
class, message keywords only, conventional-commit prefix only) and the accuracy on AI and on
human commits separately; the pooled confusion matrix is what the analysis uses to correct
layer shares for classifier error.

Offline by design: the features of the labelled commits are kept content-free in
`data/labels/features.parquet`, so evaluation and training run on a machine without mirrors;
`--refresh-features` recomputes them from the mirrors.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mining import classify, features
from mining.classify import LAYERS
from mining.errors import SourceError, StageError

LABELS = Path("data/labels/labels.csv")
FEATURES = Path("data/labels/features.parquet")
AI_STATUS = Path("data/labels/ai_status.csv")
REPOS_TOML = Path("data/labels/repos.toml")
OUT_DIR = Path("reports/classifier")

TARGETS = {"macro_f1": 0.70, "architectural_f1": 0.55, "ai_human_accuracy_gap": 0.05}


def read_labels(path: Path = LABELS) -> pd.DataFrame:
    """Labels as (repo, sha, layer, is_fix, ...); StageError naming the file if unusable."""
    if not Path(path).is_file():
        raise StageError(f"{path}: no labels file (the labelled dev set lives in data/labels/)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"repo", "sha", "layer"}
    if not need <= set(frame.columns):
        raise StageError(f"{path}: needs columns {sorted(need)}, has {list(frame.columns)}")
    bad = sorted(set(frame["layer"]) - set(LAYERS))
    if bad:
        raise StageError(f"{path}: unknown layer values {bad}")
    frame["is_fix"] = (
        frame.get("is_fix", "false").astype(str).str.lower().isin(["1", "true", "yes"])
    )
    return frame.drop_duplicates(["repo", "sha"]).reset_index(drop=True)


def mirror_paths(repos_toml: Path = REPOS_TOML, tsv: Path | None = None) -> dict[str, str]:
    """repo -> git dir: a TSV (repo<TAB>path) first, then repos.toml `mirror`/`path` keys, then
    `$STRATA_MIRRORS/<owner>+<name>[/repo]` for the repos listed in repos.toml."""
    out: dict[str, str] = {}
    root = os.environ.get("STRATA_MIRRORS")
    if tsv is not None and Path(tsv).is_file():
        for line in Path(tsv).read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0] != "repo":
                out[parts[0]] = parts[1]
    if Path(repos_toml).is_file():
        data = tomllib.loads(Path(repos_toml).read_text())
        entries = data.get("repo") or data.get("repos") or []
        if isinstance(entries, dict):
            entries = [{"repo": k, **v} for k, v in entries.items()]
        for e in entries:
            path = e.get("mirror") or e.get("path") or e.get("git_dir")
            if e.get("repo") and path and e["repo"] not in out:
                out[e["repo"]] = path
            elif e.get("repo") and root and e["repo"] not in out:
                base = Path(root) / e["repo"].replace("/", "+")
                out[e["repo"]] = str(base / "repo" if (base / "repo").is_dir() else base)
    return out


def refresh_features(
    labels: pd.DataFrame,
    mirrors: dict[str, str],
    out: Path = FEATURES,
    progress: Callable[[str, int], None] | None = None,
) -> pd.DataFrame:
    """Recompute the labelled commits' features from the mirrors and save them (content-free)."""
    frames = []
    for repo, group in labels.groupby("repo", sort=True):
        if repo not in mirrors:
            raise SourceError(f"{repo}: no mirror path known (data/labels/repos.toml or --mirrors)")
        frame = features.compute_features(mirrors[repo], list(group["sha"]))
        frame.insert(0, "repo", repo)
        frames.append(frame)
        if progress is not None:
            progress(str(repo), len(frame))
    result = pd.concat(frames, ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    return result


def refresh_ai_status(
    labels: pd.DataFrame, mirrors: dict[str, str], out: Path = AI_STATUS
) -> pd.DataFrame:
    """AI status of the labelled commits from their metadata, with the attribution catalog.

    `ai` follows the `commit_evidence` view: any evidence except a review-bot suggestion
    (branch-name evidence needs the merge graph and is not looked for here). Used only to split
    the evaluation, after prediction; it never reaches a feature. Content-free: repo, sha, ai.
    """
    from mining.attribute import load_catalog
    from mining.gitcmd import resolve_git_dir, run_git

    catalog = load_catalog()
    rows = []
    fmt = "%x00%x00C%H%x00%an <%ae>%x00%cn <%ce>%x00%aN <%aE>%x00%B%x00%x00E"
    for repo, group in labels.groupby("repo", sort=True):
        git_dir = resolve_git_dir(mirrors[str(repo)])
        shas = list(group["sha"])
        proc = run_git(git_dir, ["log", "--no-walk=unsorted", "--stdin", f"--format={fmt}"],
                       input=("\n".join(shas) + "\n").encode())  # fmt: skip
        for record in proc.stdout.split(b"\x00\x00C")[1:]:
            sha, author, committer, mm_author, message = (
                x.decode("utf-8", "replace")
                for x in record.split(b"\x00\x00E")[0].split(b"\x00", 4)
            )
            evidence = catalog.commit_evidence(author, committer, message, mm_author)
            rows.append({"repo": repo, "sha": sha,
                         "ai": any(ev[1] != "suggestion" for ev in evidence)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["repo", "sha", "ai"])
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return frame


def read_features(path: Path = FEATURES) -> pd.DataFrame:
    if not Path(path).is_file():
        raise StageError(f"{path}: no stored features (run `strata evaluate --refresh-features`)")
    return pd.read_parquet(path)


def read_ai_status(path: Path = AI_STATUS) -> pd.DataFrame | None:
    if not Path(path).is_file():
        return None
    frame = pd.read_csv(path, dtype={"repo": str, "sha": str})
    frame["ai"] = frame["ai"].astype(str).str.lower().isin(["1", "true", "yes"])
    return frame[["repo", "sha", "ai"]]


# --- metrics --------------------------------------------------------------------------------


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1, per-layer precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = list(LAYERS)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "n": int(len(y_true)),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4) if len(y_true) else None,
        "macro_f1": round(
            float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4
        ),  # fmt: skip
        "per_layer": {
            lay: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, lay in enumerate(labels)
        },  # fmt: skip
        "confusion": {"rows_true_cols_pred": labels, "counts": cm.tolist()},
    }


KEYWORD_COLUMNS = [c for c in features.FEATURE_COLUMNS if c.startswith(("kw_", "kws_"))]
PREFIX_COLUMNS = ["cc_type", "cc_has_scope", "cc_breaking"]
MESSAGE_COLUMNS = [
    c for c in features.FEATURE_COLUMNS if c.startswith(("kw_", "kws_", "cc_", "msg_"))
]
DIFF_COLUMNS = [c for c in features.FEATURE_COLUMNS if c not in set(MESSAGE_COLUMNS)]


def _oof(
    X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, make: Callable[[], Any], folds: list
) -> np.ndarray:
    pred = np.empty(len(y), dtype=object)
    for train, test in folds:
        est = make()
        est.fit(X.iloc[train], y[train])
        pred[test] = est.predict(X.iloc[test])
    return pred


def _oof_full(
    X: pd.DataFrame, y: np.ndarray, fix: np.ndarray, folds: list, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold predictions of the shipped pipeline (rules + calibrated model)."""
    layer = np.empty(len(y), dtype=object)
    is_fix = np.zeros(len(y), dtype=bool)
    decided = np.empty(len(y), dtype=object)
    probs = np.zeros((len(y), len(LAYERS)))
    for train, test in folds:
        m = classify.fit(X.iloc[train], pd.Series(y[train]), pd.Series(fix[train]), kind=kind)
        out = m.predict(X.iloc[test])
        layer[test] = out["layer"].to_numpy()
        is_fix[test] = out["is_fix"].to_numpy()
        decided[test] = out["decided_by"].to_numpy()
        probs[test] = out[classify.PROB_COLUMNS].to_numpy()
    return layer, is_fix, decided, probs


def evaluate(
    labels: pd.DataFrame,
    feats: pd.DataFrame,
    ai_status: pd.DataFrame | None = None,
    *,
    kind: str = classify.DEFAULT_ESTIMATOR,
    n_splits: int = 5,
    compare_estimators: bool = False,
) -> dict[str, Any]:
    """Repository-grouped CV of the classifier and the baselines; returns the JSON report."""
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import f1_score, precision_recall_fscore_support
    from sklearn.model_selection import GroupKFold

    data = labels.merge(feats, on=["repo", "sha"], how="inner")
    if data.empty:
        raise StageError("no labelled commit has stored features (run with --refresh-features)")
    lost = len(labels) - len(data)
    X = data[features.FEATURE_COLUMNS]
    y = data["layer"].to_numpy(dtype=object)
    fix = data["is_fix"].to_numpy(bool)
    groups = data["repo"].to_numpy()
    k = min(n_splits, len(set(groups)))
    if k < 2:
        raise StageError("grouped cross-validation needs labelled commits from >= 2 repositories")
    folds = list(GroupKFold(n_splits=k).split(X, y, groups))

    layer, is_fix, decided, probs = _oof_full(X, y, fix, folds, kind)
    report: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features_version": features.FEATURES_VERSION,
        "estimator": kind,
        "cv": {"scheme": "GroupKFold by repository", "folds": k, "repos": int(len(set(groups)))},
        "n_labels": int(len(labels)),
        "n_evaluated": int(len(data)),
        "n_without_features": int(lost),
        "label_distribution": {lay: int((y == lay).sum()) for lay in LAYERS},
        "classifier": scores(y, layer),
    }
    report["classifier"]["rules"] = {
        name: {"n": int((decided == f"rule:{name}").sum()),
               "correct": int(((decided == f"rule:{name}") & (layer == y)).sum())}
        for name in classify.RULES
    }  # fmt: skip
    p, r, f, _ = precision_recall_fscore_support(fix, is_fix, average="binary", zero_division=0)
    report["is_fix"] = {"precision": round(float(p), 4), "recall": round(float(r), 4),
                        "f1": round(float(f), 4), "positives": int(fix.sum())}  # fmt: skip
    # Brier score of the calibrated probabilities (lower is better)
    onehot = np.array([[lay == t for lay in LAYERS] for t in y], dtype=float)
    report["classifier"]["brier"] = round(float(((probs - onehot) ** 2).sum(axis=1).mean()), 4)

    def lr(cols: list[str]) -> Callable[[], Any]:
        return lambda: classify.make_estimator("logreg", cols)

    baselines = {
        "majority": lambda: DummyClassifier(strategy="most_frequent"),
        "message_keywords_only": lr(KEYWORD_COLUMNS),
        "conventional_prefix_only": lr(PREFIX_COLUMNS),
    }
    report["baselines"] = {}
    for name, make in baselines.items():
        pred = _oof(X, y, groups, make, folds)
        s = scores(y, pred)
        report["baselines"][name] = {k2: s[k2] for k2 in ("accuracy", "macro_f1")} | {
            "architectural_f1": s["per_layer"]["architectural"]["f1"]
        }
    ablations = {
        "model_without_rules": lambda: classify.calibrated(kind),
        "message_features_only": lambda: classify.calibrated(kind, MESSAGE_COLUMNS),
        "diff_features_only": lambda: classify.calibrated(kind, DIFF_COLUMNS),
    }
    if compare_estimators:
        for other in ("logreg", "rf", "hgb"):
            if other != kind:
                ablations[f"estimator_{other}"] = lambda o=other: classify.calibrated(o)
    report["ablations"] = {}
    for name, make in ablations.items():
        pred = _oof(X, y, groups, make, folds)
        s = scores(y, pred)
        report["ablations"][name] = {k2: s[k2] for k2 in ("accuracy", "macro_f1")} | {
            "architectural_f1": s["per_layer"]["architectural"]["f1"]
        }

    # accuracy by authorship: AI status joins only here, after prediction, never as a feature
    if ai_status is not None:
        ai = data[["repo", "sha"]].merge(ai_status, on=["repo", "sha"], how="left")["ai"]
        ai = ai.fillna(False).to_numpy(bool)
        groups_report = {}
        for name, mask in (("ai", ai), ("human", ~ai)):
            if mask.sum() == 0:
                groups_report[name] = {"n": 0}
                continue
            groups_report[name] = {
                "n": int(mask.sum()),
                "accuracy": round(float((layer[mask] == y[mask]).mean()), 4),
                "macro_f1": round(
                    float(
                        f1_score(
                            y[mask],
                            layer[mask],
                            labels=list(LAYERS),
                            average="macro",
                            zero_division=0,
                        )
                    ),
                    4,
                ),  # fmt: skip
                "label_distribution": {lay: int((y[mask] == lay).sum()) for lay in LAYERS},
                "confusion": scores(y[mask], layer[mask])["confusion"]["counts"],
            }
        if groups_report["ai"].get("n") and groups_report["human"].get("n"):
            gap = groups_report["ai"]["accuracy"] - groups_report["human"]["accuracy"]
            groups_report["accuracy_gap_ai_minus_human"] = round(gap, 4)
        report["by_authorship"] = groups_report
    report["per_repo"] = {
        str(repo): {"n": int((groups == repo).sum()),
                    "accuracy": round(float((layer[groups == repo] == y[groups == repo]).mean()), 4)}
        for repo in sorted(set(groups))
    }  # fmt: skip
    report["targets"] = _targets(report)
    return report


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    c = report["classifier"]
    out: dict[str, Any] = {
        "macro_f1": {"target": TARGETS["macro_f1"], "value": c["macro_f1"],
                     "met": c["macro_f1"] >= TARGETS["macro_f1"]},
        "architectural_f1": {"target": TARGETS["architectural_f1"],
                             "value": c["per_layer"]["architectural"]["f1"],
                             "met": c["per_layer"]["architectural"]["f1"] >= TARGETS["architectural_f1"]},
    }  # fmt: skip
    gap = report.get("by_authorship", {}).get("accuracy_gap_ai_minus_human")
    out["ai_human_accuracy_gap"] = {
        "target": TARGETS["ai_human_accuracy_gap"], "value": gap,
        "met": None if gap is None else abs(gap) <= TARGETS["ai_human_accuracy_gap"],
    }  # fmt: skip
    best = max(b["macro_f1"] for b in report["baselines"].values())
    out["beats_every_baseline"] = {"best_baseline_macro_f1": best, "met": c["macro_f1"] > best}
    return out


def confusion_figure(report: dict[str, Any], out_dir: Path) -> Path:
    """Confusion-matrix figure (counts, row-normalised shading) + its data as CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(report["classifier"]["confusion"]["counts"], dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(LAYERS)):
        for j in range(len(LAYERS)):
            ax.text(j, i, f"{int(cm[i, j])}\n{norm[i, j]:.0%}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.6 else "black", fontsize=8)  # fmt: skip
    ax.set_xticks(range(4), LAYERS, rotation=30, ha="right")
    ax.set_yticks(range(4), LAYERS)
    ax.set_xlabel("predicted layer")
    ax.set_ylabel("labelled layer")
    c = report["classifier"]
    ax.set_title(f"grouped CV: macro-F1 {c['macro_f1']:.2f}, n={c['n']}", fontsize=10)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf = out_dir / "confusion_matrix.pdf"
    fig.savefig(pdf)
    fig.savefig(out_dir / "confusion_matrix.png", dpi=150)
    plt.close(fig)
    pd.DataFrame(cm.astype(int), index=list(LAYERS), columns=list(LAYERS)).rename_axis(
        "true\\pred"
    ).to_csv(out_dir / "confusion_matrix.csv")
    return pdf


def run(
    labels_path: Path = LABELS,
    features_path: Path = FEATURES,
    ai_status_path: Path = AI_STATUS,
    out_dir: Path = OUT_DIR,
    *,
    refresh: bool = False,
    mirrors: dict[str, str] | None = None,
    train: bool = False,
    model_dir: Path | None = None,
    kind: str = classify.DEFAULT_ESTIMATOR,
    compare_estimators: bool = False,
) -> dict[str, Any]:
    """The whole `strata evaluate`: (refresh features), grouped CV, report, figure, (train)."""
    labels = read_labels(labels_path)
    if refresh:
        mirrors = mirrors or mirror_paths()
        feats = refresh_features(labels, mirrors, features_path)
        refresh_ai_status(labels, mirrors, ai_status_path)
    else:
        feats = read_features(features_path)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP in scikit-learn stalls on a loaded 2-core machine
        report = evaluate(
            labels, feats, read_ai_status(ai_status_path), kind=kind,
            compare_estimators=compare_estimators,
        )  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    confusion_figure(report, out_dir)
    if train:
        data = labels.merge(feats, on=["repo", "sha"], how="inner")
        meta = {
            "version": f"{features.FEATURES_VERSION}.{datetime.now(UTC):%Y%m%d}.{len(data)}",
            "n_train": int(len(data)),
            "train_repos": sorted(set(data["repo"])),
            "cv_macro_f1": report["classifier"]["macro_f1"],
            "cv_architectural_f1": report["classifier"]["per_layer"]["architectural"]["f1"],
        }
        with threadpool_limits(1):
            model = classify.fit(data, data["layer"], data["is_fix"], kind=kind, meta=meta)
        report["model_path"] = str(classify.save_model(model, model_dir))
    return report
