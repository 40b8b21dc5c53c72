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
# # 02 · Attribution: which AI tools, through which evidence channel, since when
# A commit is AI-assisted when a non-suggestion channel names a tool. The channel matters: tools
# that sign their commits do different work from tools that leave no trace.

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

from analysis import dataset, figures
from analysis.study import load_or_run
from analysis.timeline import adoption_dates

study = load_or_run(
    db, cache, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot, seed=seed
)
commits = study.commits
con = dataset.open_db(db)
att = dataset.attributions(con)
con.close()

# %% [markdown]
# ## Evidence rows per tool and channel (all evidence, including suggestions)

# %%
pd.crosstab(att["tool"], att["channel"], margins=True)

# %% [markdown]
# ## AI commits in the analysis population, per tool and strongest channel

# %%
ai = commits[commits["is_ai"] == 1]
pd.crosstab(ai["tool"], ai["channel"], margins=True)

# %% [markdown]
# ## AI share over time, adoption markers dotted

# %%
import tempfile

tmp = tempfile.mkdtemp()
figures.fig04_ai_share_time(study.monthly, tmp, adoption_dates(study.markers), formats=("png",))
from IPython.display import Image

Image(f"{tmp}/fig04-ai-share-over-time.png")

# %%
study.markers

# %% [markdown]
# ## Layer mix per tool and per channel (repo-cluster bootstrap CIs)

# %%
study.tool_shares.pivot_table(index="tool", columns="layer", values="share", observed=False).round(
    3
)

# %%
study.channel_shares.pivot_table(
    index="channel", columns="layer", values="share", observed=False
).round(3)

# %% [markdown]
# ## Release blame (`strata blame --releases --json`)

# %%
study.blame if study.blame is not None else "no blame release file"
