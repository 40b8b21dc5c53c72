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
# # 03 · Classifier validity and error correction
# The layer is assigned by a classifier. Its grouped-CV confusion matrix (a repository never spans
# train and test) measures its error, and the correction carries that error into the shares.

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
import numpy as np
import pandas as pd
from IPython.display import display

from analysis import LAYERS
from analysis.correction import sensitivity_specificity
from analysis.study import load_or_run

study = load_or_run(
    db, cache, evaluation=evaluation, oof=oof, blame=blame, n_boot=n_boot, seed=seed
)
ev = study.evaluation
print("evaluation:", ev.source if ev is not None else "MISSING: shares are not corrected")

# %% [markdown]
# ## Confusion matrix (rows: true layer, columns: predicted)

# %%
if ev is not None:
    display(pd.DataFrame(ev.confusion.astype(int), index=LAYERS, columns=LAYERS))
    sens, spec = sensitivity_specificity(ev.confusion)
    precision = np.diag(ev.confusion) / ev.confusion.sum(axis=0)
    display(
        pd.DataFrame(
            {"recall": sens, "precision": precision, "specificity": spec}, index=LAYERS
        ).round(3)
    )
    print("accuracy", round(np.trace(ev.confusion) / ev.confusion.sum(), 3))

# %% [markdown]
# ## Is the classifier equally accurate on AI and human commits?

# %%
study.accuracy_by_group

# %% [markdown]
# ## Raw vs corrected shares (CIs bootstrap the corpus and the labelled set together)

# %%
study.corrected.pivot_table(
    index=["group", "layer"], columns="method", values="share", observed=False
).round(3)

# %%
study.corrected[study.corrected["layer"] == "architectural"].round(3)
