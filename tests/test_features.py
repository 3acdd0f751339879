"""Observation -> FeatureBatch: conventions, DRN groups, logs/live consistency, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from drnsim.config import WorldConfig
from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv
from drnsim.features import (
    DENSE_NAMES,
    FeatureSpec,
    batch_from_logs,
    build_batch,
    iterate_batches,
)
from drnsim.logs import collect_logs

CFG = WorldConfig(n_users=300)
SPEC = FeatureSpec.from_config(CFG, n_item_buckets=1009)


@pytest.fixture(scope="module")
def batched_obs():
    env = NewsFeedVectorEnv(num_envs=16, config=CFG)
    obs, _ = env.reset(seed=3)
    for _ in range(5):  # let histories and counters fill
        obs, *_ = env.step(np.zeros((16, CFG.n_candidates), np.float32))
    return obs


def test_spec_sizes():
    assert SPEC.user_vocab == (301, 8, 4, 11, 4, 25, 8)
    assert SPEC.item_vocab == (1010, 21, 51)
    assert SPEC.dense_dim == len(DENSE_NAMES) == 16
    assert SPEC.state_dim == 7 + 3 + 10 + 3 + 24 + 7 + 3 + 20 * 4
    assert SPEC.action_dim == 20 + 50 + 13
    with pytest.raises(ValueError, match="n_item_buckets"):
        FeatureSpec.from_config(CFG, n_item_buckets=0)


def test_batched_shapes_and_conventions(batched_obs):
    obs = batched_obs
    fb = build_batch(obs, SPEC).validate(SPEC)
    b, n, big_l = 16, CFG.n_candidates, CFG.history_length
    assert fb.user_fields.shape == (b, 7) and fb.item_fields.shape == (b, n, 3)
    assert fb.history_fields.shape == (b, big_l, 3) and fb.dense.shape == (b, n, 16)
    assert fb.state.shape == (b, SPEC.state_dim) and fb.action.shape == (b, n, SPEC.action_dim)
    assert fb.user_fields[:, 0].tolist() == (obs["user"]["user_id"] + 1).tolist()
    cand = obs["candidates"]
    valid = cand["mask"].astype(bool)
    np.testing.assert_array_equal(fb.item_fields[..., 0].numpy()[valid],
                                  cand["item_id"][valid] % 1009 + 1)
    np.testing.assert_array_equal(fb.item_fields[..., 1].numpy()[valid], cand["topic"][valid] + 1)
    # history: valid entries first, padding (index 0) after
    lengths = obs["history"]["length"]
    np.testing.assert_array_equal(fb.history_mask.sum(1).numpy(), lengths)
    assert (fb.history_fields[~fb.history_mask] == 0).all()
    assert (fb.history_fields[fb.history_mask] > 0).all()
    np.testing.assert_allclose(fb.dense[..., 0].numpy()[valid],
                               np.log1p(cand["age"][valid] / 3600), rtol=1e-5)
    np.testing.assert_allclose(fb.dense[..., 1:5].numpy()[valid],
                               np.log1p(cand["popularity"][valid]), rtol=1e-5)


def test_drn_state_counts_history_topics_per_window(batched_obs):
    obs = batched_obs
    fb = build_batch(obs, SPEC)
    h = obs["history"]
    row = int(np.argmax(h["length"]))
    n = h["length"][row]
    topics, ages = h["topic"][row, :n], h["age"][row, :n]
    counts = fb.state[row, -20 * 4:].reshape(20, 4).numpy()
    for topic in set(topics.tolist()):
        for w, window in enumerate((3600, 6 * 3600, 86400, 7 * 86400)):
            expect = np.log1p(((topics == topic) & (ages < window)).sum())
            assert counts[topic, w] == pytest.approx(expect, rel=1e-6)
    # action = one-hot topic, one-hot provider, candidate part of dense
    col = 0
    topic = obs["candidates"]["topic"][row, col]
    assert fb.action[row, col, :20].argmax() == topic and fb.action[row, col, :20].sum() == 1
    np.testing.assert_allclose(fb.action[row, col, 70:].numpy(), fb.dense[row, col, :13].numpy())


def test_single_observation_gives_batch_of_one():
    env = NewsFeedEnv(config=CFG)
    obs, _ = env.reset(seed=0)
    fb = build_batch(obs, SPEC)
    assert fb.item_fields.shape == (1, CFG.n_candidates, 3) and len(fb) == 1


def test_logs_features_equal_live_features():
    """The same visit featurised from the logs equals the live observation at the shown
    candidates (one code path for training and serving)."""
    seen = []

    class Recorder:
        def act(self, obs):
            seen.append(obs)
            return obs["candidates"]["popularity"][..., 0]

    logs = collect_logs(CFG, Recorder(), n_visits=32, seed=1, batch_size=32, epsilon=0.0)
    live = build_batch(seen[0], SPEC)
    logged = batch_from_logs(logs, SPEC)
    order = np.argsort(logs.drop_duplicates("visit_id")["time"].to_numpy(), kind="stable")
    first = logs.drop_duplicates("visit_id").iloc[order]
    rows = first["visit_id"].to_numpy() - logs["visit_id"].min()
    in_first_step = np.flatnonzero(rows < len(live))  # steps serve at most n_users / 16
    assert len(in_first_step) >= 10
    for j in in_first_step[:10]:
        row = rows[j]
        shown = logs[logs.visit_id == first["visit_id"].iloc[j]].sort_values("position")
        cols = shown["candidate_index"].to_numpy().copy()
        k = len(cols)
        for name in ("item_fields", "dense", "action"):
            np.testing.assert_allclose(getattr(logged, name)[j, :k].numpy(),
                                       getattr(live, name)[row, cols].numpy(), rtol=1e-5)
        for name in ("user_fields", "history_fields", "history_mask", "state"):
            np.testing.assert_allclose(getattr(logged, name)[j].numpy(),
                                       getattr(live, name)[row].numpy(), rtol=1e-5)
        np.testing.assert_array_equal(logged.labels[j, :k].numpy(), shown["click"].to_numpy())


def test_bad_observations_name_the_field(batched_obs):
    obs = {g: {k: v.copy() for k, v in d.items()} for g, d in batched_obs.items()}
    short = {**obs, "history": {k: (v[:, :30] if v.ndim == 2 else v)
                                for k, v in obs["history"].items()}}
    with pytest.raises(ValueError, match=r"history\.item_id.*history_length=50"):
        build_batch(short, SPEC)
    bad = {**obs, "candidates": {**obs["candidates"]}}
    bad["candidates"]["topic"] = np.where(obs["candidates"]["mask"] > 0, 25, -1)
    with pytest.raises(ValueError, match=r"candidates\.topic"):
        build_batch(bad, SPEC)
    small = FeatureSpec.from_config(CFG.replace(n_users=10))
    with pytest.raises(ValueError, match=r"user\.user_id"):
        build_batch(obs, small)


def test_featurebatch_validate_names_field(batched_obs):
    fb = build_batch(batched_obs, SPEC)
    fb.item_fields[0, 0, 1] = SPEC.item_vocab[1]
    with pytest.raises(ValueError, match=r"item_fields\[topic\]"):
        fb.validate(SPEC)
    fb = build_batch(batched_obs, SPEC)
    other = FeatureSpec.from_config(CFG.replace(history_length=20))
    with pytest.raises(ValueError, match=r"history_fields.*history_length=20"):
        fb.validate(other)


def test_iterate_batches_is_seeded(batched_obs):
    fb = build_batch(batched_obs, SPEC)
    a = [b.user_fields[:, 0].tolist() for b in iterate_batches(fb, 5, True, seed=4)]
    b = [b.user_fields[:, 0].tolist() for b in iterate_batches(fb, 5, True, seed=4)]
    assert a == b and sorted(sum(a, [])) == sorted(fb.user_fields[:, 0].tolist())
    assert [len(x) for x in a] == [5, 5, 5, 1]
