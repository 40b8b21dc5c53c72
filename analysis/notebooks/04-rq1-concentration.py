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
# # 04 · RQ1: do AI-assisted commits concentrate in the structured layers?
# The main test: layer shares of AI vs human commits with repo-cluster CIs, then models of
# P(architectural | AI) within repositories and within developers.

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

from analysis import figures
from analysis.study import load_or_run

study = load_or_run(
    db, cache, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot, seed=seed
)
tmp = tempfile.mkdtemp()

# %% [markdown]
# ## Layer shares and differences

# %%
study.shares.round(3)

# %%
study.differences.round(3)

# %%
study.chi_square

# %%
figures.fig01_layer_mix(study.shares, tmp, formats=("png",))
Image(f"{tmp}/fig01-layer-mix.png")

# %% [markdown]
# ## Odds ratios: repo fixed effects, repo random intercepts, per layer, multinomial

# %%
study.arch_models

# %%
study.layer_models

# %%
study.multinomial

# %% [markdown]
# ## Per repository (forest plot)

# %%
figures.fig05_forest(study.per_repo, tmp, formats=("png",))
Image(f"{tmp}/fig05-forest-architectural.png")

# %% [markdown]
# ## Within developer

# %%
study.within_pairs

# %%
study.within_logit
