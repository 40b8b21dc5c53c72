# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The corpus
# Which repositories, languages and periods the study covers, and how many commits enter the
# analysis (classified non-merge commits by people or AI agents; automation excluded).

# %% tags=["parameters"]
from mining.labels import OOF_PREDICTIONS
from mining.vocabulary import BLAME_RELEASES, DEFAULT_DB

# the defaults are the CLI's (mining.labels, mining.vocabulary: one definition of each path)
db = str(DEFAULT_DB)
evaluation = None  # default: reports/classifier/evaluation.json, else reports/evaluation.json
oof = str(OOF_PREDICTIONS)
blame = str(BLAME_RELEASES)
n_boot = 1000
seed = 0
cache = None

# %%
import pandas as pd

from analysis import dataset
from analysis.study import load_or_run

study = load_or_run(
    db, cache, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot, seed=seed
)
commits = study.commits
for note in study.notes:
    print("NOTE:", note)

# %% [markdown]
# ## Repositories

# %%
study.corpus

# %% [markdown]
# ## Population: what enters the analysis and what is left out

# %%
con = dataset.open_db(db)
facts = dataset.commit_facts(con)
con.close()
pd.Series(
    {
        "all commits": len(facts),
        "merges": int(facts["is_merge"].sum()),
        "automation (non-AI bots)": int((facts["author_kind"] == "automation").sum()),
        "unclassified non-merge": int((~facts["is_merge"] & facts["layer"].isna()).sum()),
        "analysed": len(commits),
        "analysed, AI-evidenced": int(commits["is_ai"].sum()),
    },
    name="commits",
)

# %% [markdown]
# ## Languages, integration modes and size bands

# %%
commits.groupby("language").agg(
    repos=("repo", "nunique"), commits=("sha", "size"), ai=("is_ai", "sum")
)

# %%
pd.crosstab(commits["integration_mode"], commits["size_band"], margins=True)

# %% [markdown]
# ## Commits per month

# %%
monthly = study.monthly.set_index("month")[["n", "n_ai"]]
ax = monthly.plot(figsize=(7, 2.5), ylabel="commits", xlabel="month")
