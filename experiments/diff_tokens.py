"""Measure diff tokens as a TF-IDF block of the linear bases inside main's nested CV (issue 11).

The pre-declared document, variants and decision rule are in experiments/diff_tokens.md. Usage:

    STRATA_MIRRORS=/work/.mirror python experiments/diff_tokens.py docs --cache /tmp/dt
    STRATA_MIRRORS=/work/.mirror python experiments/diff_tokens.py run {main,signed,net,shipped} --cache /tmp/dt
    python experiments/diff_tokens.py summary --cache /tmp/dt

`docs` reads every labelled commit's patch from the mirrors and keeps both documents in the cache
folder (code text: keep the cache outside the repository, delete it after). `run` is
`mining.evaluate.evaluate` (the same folds, 5 outer and 4 inner, 1/pi scores, stored features)
with the `diff_text` column holding the run's document ("shipped": the one `strata evaluate`
reads; "main" drops the column from both variants' text columns: the procedure before diff
tokens shipped), learning curve off; its report goes to <cache>/<name>.json. `summary` prints
the numbers the decision reads for every run present.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mining import classify, evaluate
from mining.diffs import iter_commit_diffs
from mining.evaluate import REPOS_TOML
from mining.labels import AI_STATUS, LABEL_FEATURES, LABELS_CSV
from mining.text_features import diff_tokens, labelled_texts
from mining.vocabulary import LAYERS

RUNS = ("main", "signed", "net", "shipped")


def build_docs(cache: Path) -> None:
    """Both documents (signed, net) of every labelled commit, from its repository's mirror."""
    labels = evaluate.read_labels(LABELS_CSV)
    mirrors = evaluate.mirror_paths(REPOS_TOML, repos=sorted(set(labels["repo"])))
    rows = []
    for i, (repo, group) in enumerate(labels.groupby("repo", sort=True)):
        for c in iter_commit_diffs(mirrors[repo], list(group["sha"])):
            rows.append(
                {
                    "repo": repo,
                    "sha": c.sha,
                    "signed": diff_tokens(c, net=False),
                    "net": diff_tokens(c, net=True),
                }
            )
        print(f"docs {i + 1}: {repo} {len(group)}", file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    cache.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(cache / "docs.parquet")
    print(
        f"{len(frame)} documents; empty: signed {int((frame['signed'] == '').sum())}, "
        f"net {int((frame['net'] == '').sum())}"
    )


def run(name: str, cache: Path) -> None:
    """main's evaluation with (or, for "main", without) the diff_text block."""
    from threadpoolctl import threadpool_limits

    labels = evaluate.read_labels(LABELS_CSV)
    mirrors = evaluate.mirror_paths(REPOS_TOML, repos=sorted(set(labels["repo"])))
    feats = evaluate.read_features(LABEL_FEATURES)
    ai = evaluate.read_ai_status(AI_STATUS)
    docs = pd.read_parquet(cache / "docs.parquet")
    texts = labelled_texts(labels, mirrors)  # "shipped": exactly what `strata evaluate` reads
    if name != "shipped":
        texts = (
            texts.drop(columns="diff_text")
            .merge(
                docs[["repo", "sha", "net" if name == "net" else "signed"]].rename(
                    columns={"net": "diff_text", "signed": "diff_text"}
                ),
                on=["repo", "sha"],
                how="left",
            )
            .fillna({"diff_text": ""})
        )
    if name == "main":  # the procedure before diff tokens shipped: no diff_text block
        shipped = classify.variant_columns

        def without_diff(variant: str) -> tuple[list[str], list[str]]:
            cols, txt = shipped(variant)
            return cols, [t for t in txt if t != "diff_text"]

        classify.variant_columns = without_diff
    t0 = time.time()
    with threadpool_limits(1):
        report, oof = evaluate.evaluate(
            labels,
            feats,
            texts,
            ai,
            languages=evaluate.repo_languages(REPOS_TOML),
            learning_curve=False,
            progress=lambda m: print(f"{name}: {m} ({time.time() - t0:.0f}s)", file=sys.stderr),
        )
    report["experiment"] = name
    (cache / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    oof.to_csv(cache / f"{name}_oof.csv", index=False)


def _round_split(cache: Path, name: str, suffix: str) -> tuple[float, float]:
    """Weighted macro-F1 of rounds 1-3 (the 3,088) and of round 4, from a run's OOF file."""
    oof = pd.read_csv(cache / f"{name}_oof.csv")
    labels = evaluate.read_labels(LABELS_CSV)[["repo", "sha", "round"]]
    oof = oof.merge(labels, on=["repo", "sha"])
    r4 = oof["round"].astype(str) == "4"
    out = []
    for mask in (~r4, r4):
        part = oof[mask]
        out.append(
            classify.weighted_macro_f1(
                part["true"].to_numpy(object),
                part[f"layer{suffix}"].to_numpy(object),
                part["weight"].to_numpy(float),
            )
        )
    return out[0], out[1]


def summary(cache: Path) -> None:
    """The numbers the decision rule reads, per run and variant, as Markdown rows."""
    print(
        "| run | variant | macro-F1 [95% CI] | B / R / F / A F1 | arch recall <10, 10-99, "
        "100-999, >=1000 | std acc AI / human (gap) | macro-F1 rounds 1-3 / round 4 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in RUNS:
        path = cache / f"{name}.json"
        if not path.is_file():
            continue
        rep = json.loads(path.read_text())
        for variant, key, suffix in (
            ("full", "classifier", ""),
            ("diff-only", "diff_only", "_diff_only"),
        ):
            v = rep[key]
            ci = v["interval_95_repo_bootstrap"]["macro_f1"]
            f1 = " / ".join(f"{v['per_layer'][k]['f1']:.3f}" for k in LAYERS)
            rec = ", ".join(
                "-"
                if b.get("architectural_recall") is None
                else f"{b['architectural_recall']:.2f} ({b['label_distribution']['architectural']})"
                for b in v["by_size_band"].values()
            )
            au = v["by_authorship"]
            gap = au["standardised_accuracy_gap_ai_minus_human"]
            std = (
                f"{au['ai']['standardised_accuracy']:.3f} / "
                f"{au['human']['standardised_accuracy']:.3f} ({100 * gap:+.1f})"
            )
            r13, r4 = _round_split(cache, name, suffix)
            print(
                f"| {name} | {variant} | {v['macro_f1']:.4f} [{ci[0]:.3f}, {ci[1]:.3f}] | {f1} | "
                f"{rec} | {std} | {r13:.3f} / {r4:.3f} |"
            )
    _paired(cache)


def _paired(cache: Path, n_boot: int = 2000) -> None:
    """Paired repository bootstrap of (run - main) macro-F1 per variant: is a gain noise?"""
    if not (cache / "main_oof.csv").is_file():
        return
    base = pd.read_csv(cache / "main_oof.csv")
    repos = base["repo"].to_numpy()
    uniq = np.unique(repos)
    idx = {r: np.flatnonzero(repos == r) for r in uniq}
    rng = np.random.default_rng(0)
    draws = [np.concatenate([idx[r] for r in rng.choice(uniq, len(uniq))]) for _ in range(n_boot)]
    for name in RUNS[1:]:
        if not (cache / f"{name}_oof.csv").is_file():
            continue
        other = pd.read_csv(cache / f"{name}_oof.csv")
        assert (other["sha"].to_numpy() == base["sha"].to_numpy()).all()
        for suffix in ("", "_diff_only"):
            y, w = base["true"].to_numpy(object), base["weight"].to_numpy(float)
            a, b = base[f"layer{suffix}"].to_numpy(object), other[f"layer{suffix}"].to_numpy(object)
            d = classify.weighted_macro_f1(y, b, w) - classify.weighted_macro_f1(y, a, w)
            ds = [
                classify.weighted_macro_f1(y[s], b[s], w[s])
                - classify.weighted_macro_f1(y[s], a[s], w[s])
                for s in draws
            ]
            lo, hi = np.percentile(ds, [2.5, 97.5])
            print(f"paired {name} - main{suffix or ' (full)'}: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["docs", "run", "summary"])
    p.add_argument("name", nargs="?", choices=RUNS)
    p.add_argument("--cache", type=Path, required=True)
    a = p.parse_args()
    if a.step == "docs":
        build_docs(a.cache)
    elif a.step == "run":
        if a.name is None:
            p.error("run needs a name: " + ", ".join(RUNS))
        run(a.name, a.cache)
    else:
        summary(a.cache)


if __name__ == "__main__":
    main()
