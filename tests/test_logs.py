"""Logged impressions: schema, propensities, limits, reproducibility, storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drnsim.config import WorldConfig
from drnsim.features import FeatureSpec, batch_from_logs, logs_to_batches
from drnsim.logs import collect_logs, load_logs, save_logs

CFG = WorldConfig(n_users=300)


class Popular:
    def act(self, obs):
        return np.log1p(obs["candidates"]["popularity"][..., 1]) - 1e-3 * np.arange(
            obs["candidates"]["mask"].shape[-1])


@pytest.fixture(scope="module")
def logs():
    return collect_logs(CFG, Popular(), n_visits=400, seed=5, batch_size=64, epsilon=0.3)


def test_one_row_per_shown_item(logs):
    assert logs["visit_id"].nunique() == 400
    per_visit = logs.groupby("visit_id")["position"].agg(["count", "min", "max"])
    assert (per_visit["count"] == CFG.slate_size).all()
    assert (per_visit["min"] == 0).all() and (per_visit["max"] == CFG.slate_size - 1).all()
    for col in ("user_id", "time", "click", "propensity", "item_id", "topic", "provider",
                "item_age", "pop_1h", "topic_clicks_1w", "provider_clicks_24h", "user_age",
                "hour", "weekday", "since_last_visit", "hist_item_id", "hist_age"):
        assert col in logs.columns
    first = logs.drop_duplicates("visit_id")
    assert (first["hist_item_id"].map(len) == first["history_length"]).all()
    assert logs["time"].is_monotonic_increasing
    assert logs["click"].isin([0, 1]).all() and 0 < logs["click"].mean() < 0.5


def test_propensities_are_exact(logs):
    """(1 - eps) [policy puts the item at k] + eps / n_valid; the explored share ~ eps."""
    n_valid = logs["n_valid_candidates"]
    expect_policy = 0.7 + 0.3 / n_valid
    expect_other = 0.3 / n_valid
    ok = np.isclose(logs["propensity"], expect_policy) | np.isclose(logs["propensity"],
                                                                    expect_other)
    assert ok.all()
    exploit = logs[~logs["explored"]]
    assert np.allclose(exploit["propensity"], 0.7 + 0.3 / exploit["n_valid_candidates"])
    share = logs.drop_duplicates("visit_id")["explored"].mean()
    assert 0.2 < share < 0.4
    greedy = collect_logs(CFG, Popular(), n_visits=64, seed=5, batch_size=64, epsilon=0.0)
    assert np.allclose(greedy["propensity"], 1.0)
    uniform = collect_logs(CFG, None, n_visits=64, seed=5, batch_size=64)
    assert np.allclose(uniform["propensity"], 1.0 / uniform["n_valid_candidates"])


def test_seeded_and_limited_by_days():
    a = collect_logs(CFG, Popular(), n_visits=100, seed=2, batch_size=50)
    b = collect_logs(CFG, Popular(), n_visits=100, seed=2, batch_size=50)
    pd.testing.assert_frame_equal(a.drop(columns=["hist_item_id", "hist_topic", "hist_provider",
                                                  "hist_age"]),
                                  b.drop(columns=["hist_item_id", "hist_topic", "hist_provider",
                                                  "hist_age"]))
    short = collect_logs(CFG, Popular(), days=0.25, seed=2, batch_size=50)
    assert short["time"].max() < 0.25 * 86400 and len(short) > 0
    with pytest.raises(ValueError, match="n_visits or days"):
        collect_logs(CFG, Popular())
    with pytest.raises(ValueError, match="act"):
        collect_logs(CFG, object(), n_visits=10)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_save_load_roundtrip(logs, tmp_path, suffix):
    path = save_logs(logs, tmp_path / f"logs{suffix}")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    back = load_logs(path)
    assert list(back.columns) == list(logs.columns) and len(back) == len(logs)
    for col in ("hist_item_id", "hist_topic", "hist_age"):
        for x, y in zip(back[col].iloc[:50], logs[col].iloc[:50], strict=True):
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), rtol=1e-6)
    np.testing.assert_allclose(back["propensity"], logs["propensity"])
    with pytest.raises(ValueError, match="parquet or .csv"):
        save_logs(logs, tmp_path / "logs.txt")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_save_logs_never_overwrites_unless_told(logs, tmp_path, suffix):
    """An existing file (a user's, not logs) stays as it was; overwrite=True replaces it."""
    path = tmp_path / f"precious{suffix}"
    path.write_text("my own data\n")
    with pytest.raises(ValueError, match=r"precious.* already exists.*overwrite=True"):
        save_logs(logs, path)
    assert path.read_text() == "my own data\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    with pytest.raises(ValueError, match="overwrite must be True or False"):
        save_logs(logs, path, overwrite="yes")
    assert len(load_logs(save_logs(logs, path, overwrite=True))) == len(logs)
    (tmp_path / f"folder{suffix}").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        save_logs(logs, tmp_path / f"folder{suffix}", overwrite=True)


def test_logs_to_batches(logs):
    spec = FeatureSpec.from_config(CFG)
    batches = list(logs_to_batches(logs, spec, batch_size=128, shuffle=False))
    assert [len(b) for b in batches] == [128, 128, 128, 16]
    b0 = batches[0]
    assert b0.item_fields.shape == (128, CFG.slate_size, 3) and b0.candidate_mask.all()
    first_visit = logs[logs.visit_id == logs.visit_id.iloc[0]].sort_values("position")
    np.testing.assert_array_equal(b0.labels[0].numpy(), first_visit["click"].to_numpy())
    assert sum(float(b.labels.sum()) for b in batches) == logs["click"].sum()


@pytest.mark.parametrize("broken, message", [
    (lambda df: df.drop(columns=["item_age", "hour"]), r"lack the columns \['item_age', 'hour'\]"),
    (lambda df: df.assign(pop_1h=df["pop_1h"].where(df.index != 3)),
     r"NaN\) in the columns \['pop_1h'\]"),
    (lambda df: df.assign(click=df["click"] * 2), r"'click' must hold 0 or 1, got \[2\]"),
    (lambda df: df.assign(position=df["position"] - 1), r"'position' must hold whole numbers"),
    (lambda df: pd.concat([df, df.iloc[[0]]]), r"two rows for visit_id \d+ at position 0"),
    (lambda df: df.iloc[:0], "the logs are empty"),
])
def test_broken_logs_are_named(logs, broken, message):
    with pytest.raises(ValueError, match=message):
        batch_from_logs(broken(logs), FeatureSpec.from_config(CFG))


def test_long_histories_keep_their_latest_items(logs):
    """Logs from another system may hold longer histories than the spec's history_length."""
    spec = FeatureSpec.from_config(CFG)
    row = logs.index[logs["history_length"] > 0][0]
    long = logs.copy()
    extra = np.arange(1, spec.history_length + 6)  # history_length + 5 items, oldest first
    for name, values in (("hist_item_id", extra), ("hist_topic", extra % CFG.n_topics),
                         ("hist_provider", extra % CFG.n_providers),
                         ("hist_age", extra.astype(np.float32))):
        long.at[row, name] = values.astype(np.asarray(logs.at[row, name]).dtype)
    long.loc[long["visit_id"] == long.at[row, "visit_id"], "history_length"] = len(extra)
    long = long[long["visit_id"] == long.at[row, "visit_id"]]
    long = long.sort_values("position").iloc[[0]]  # one row: the visit's user fields
    batch = batch_from_logs(long, spec)
    kept = extra[-spec.history_length:] % spec.n_item_buckets + 1
    np.testing.assert_array_equal(batch.history_fields[0, :, 0].numpy(), kept)
    assert bool(batch.history_mask.all())
