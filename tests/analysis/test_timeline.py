"""AI share per month, layer mix over time, before vs after adoption markers."""

from __future__ import annotations

import numpy as np

from analysis import dataset, timeline


def test_monthly_share_counts(small) -> None:
    df = small.commits()
    monthly = timeline.ai_share_by_month(df)
    assert monthly["n"].sum() == len(df) and monthly["n_ai"].sum() == df["is_ai"].sum()
    assert ((monthly["lo"] <= monthly["share"]) & (monthly["share"] <= monthly["hi"])).all()


def test_layer_mix_sums_to_one(small) -> None:
    mix = timeline.layer_mix_by_period(small.commits())
    np.testing.assert_allclose(mix.groupby(["period", "group"])["share"].sum(), 1)


def test_before_after_adoption(noisy) -> None:
    con = dataset.open_db(noisy.db)
    markers = dataset.adoption_markers(con)
    con.close()
    ba = timeline.before_after(noisy.commits(), markers, n_boot=200).set_index("layer")
    # in the synthetic corpus no AI evidence predates a repo's marker
    assert ba.loc["ai share", "before"] == 0 and ba.loc["ai share", "lo"] > 0
    np.testing.assert_allclose(
        ba.loc[["boilerplate", "refactor", "feature", "architectural"], "diff"].sum(), 0, atol=1e-12
    )
    assert ba["n_repos"].iloc[0] == len(noisy.truth.adoption)
    empty = timeline.before_after(noisy.commits(), markers.iloc[0:0])
    assert empty.empty
