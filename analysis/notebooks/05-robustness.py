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
# # 05 · Robustness: detection channel, undetected AI, units of work, time
# How the main answer moves when only one kind of evidence counts, when detection misses AI work,
# when like is compared with like (integration mode and size), and around adoption.

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
import tempfile

from IPython.display import Image

from analysis import figures, units
from analysis.study import load_or_run

study = load_or_run(
    db, cache, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot, seed=seed
)
tmp = tempfile.mkdtemp()

# %% [markdown]
# ## Per detection channel

# %%
study.channel_or

# %% [markdown]
# ## Bounds under assumed detection recall

# %%
study.recall_bounds

# %% [markdown]
# ## Like with like: integration mode and size band

# %%
study.mode_mix

# %%
study.moves

# %%
study.by_mode

# %%
units.strata_table(study.commits).round(3)

# %%
figures.fig09_units(study.moves, tmp, formats=("png",))
Image(f"{tmp}/fig09-like-with-like.png")

# %% [markdown]
# ## Before vs after adoption, and the layer mix over time

# %%
study.before_after

# %%
figures.fig08_layer_time(study.layer_time, tmp, formats=("png",))
Image(f"{tmp}/fig08-layer-mix-over-time.png")
