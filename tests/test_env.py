"""The Gymnasium surface: spaces, checker, vector env, determinism, actions, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import drnsim
from drnsim.envs import (
    NewsFeedEnv,
    NewsFeedVectorEnv,
    action_from_scores,
    rank_slates,
    scores_from_ranking,
)

SMALL = dict(n_users=500, episode_days=1.0)


def _tree_equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_tree_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_tree_equal(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_registered_on_import():
    assert drnsim.ENV_ID in gym.registry
    env = gym.make(drnsim.ENV_ID, **SMALL)
    assert isinstance(env.unwrapped, NewsFeedEnv)
    assert env.unwrapped.config.n_users == 500


def test_check_env_passes_without_warnings():
    env = gym.make(drnsim.ENV_ID, **SMALL).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


def test_observation_in_space_and_padding_consistent():
    env = NewsFeedEnv(**SMALL)
    obs, info = env.reset(seed=3)
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    cand, hist = obs["candidates"], obs["history"]
    assert ((cand["item_id"] >= 0) == (cand["mask"] == 1)).all()
    length = int(hist["length"])
    assert (hist["item_id"][:length] >= 0).all() and (hist["item_id"][length:] == -1).all()
    assert set(info) == {"shown", "clicks", "dwell", "user_id", "visit_id", "sim_time", "gap"}
    assert info["shown"].shape == (10,) and info["clicks"].dtype == bool
    assert reward == info["clicks"].sum()


def test_make_vec_autoreset_next_step():
    env = gym.make_vec(drnsim.ENV_ID, num_envs=32, vectorization_mode="vector_entry_point",
                       n_users=300, episode_days=0.25)
    assert isinstance(env, NewsFeedVectorEnv)
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    assert obs["candidates"]["item_id"].shape == (32, 100)
    assert env.observation_space.contains(obs)
    steps, truncated = 0, np.zeros(32, dtype=bool)
    while not truncated.any():
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert steps < 10_000
    assert truncated.all() and not terminated.any()
    horizon = 0.25 * 86400
    assert info["sim_time"].min() < horizon <= env.unwrapped.current_batch.times.min()
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert (reward == 0).all() and not truncated.any()
    assert info["visit_id"][0] == 0 and (info["shown"] == -1).all()  # a fresh episode


@pytest.mark.parametrize("vector", [False, True])
def test_same_seed_same_actions_identical(vector: bool):
    def rollout(seed: int):
        env = NewsFeedVectorEnv(16, **SMALL) if vector else NewsFeedEnv(**SMALL)
        env.action_space.seed(123)
        out = [env.reset(seed=seed)]
        for _ in range(60):
            out.append(env.step(env.action_space.sample()))
        return out

    first, again, other = rollout(7), rollout(7), rollout(8)
    assert _tree_equal(first, again)
    assert not _tree_equal(first[0][0], other[0][0])


def test_results_do_not_depend_on_the_thread_count():
    """The kernels spread a batch's visits over threads; each visit writes only its own
    rows, so one thread and all threads give the same episode."""
    import numba

    def rollout(threads: int):
        numba.set_num_threads(threads)
        env = NewsFeedVectorEnv(64, **SMALL)
        actions = np.random.default_rng(0).uniform(-1, 1, (40, 64, 100)).astype(np.float32)
        out = [env.reset(seed=3)]
        out += [env.step(a) for a in actions]
        return out

    everything = numba.config.NUMBA_NUM_THREADS
    try:
        assert _tree_equal(rollout(1), rollout(everything))
    finally:
        numba.set_num_threads(everything)


def test_single_env_with_prefetch_reproduces_vector_env():
    """The single env serves micro-batches of `prefetch` visits; with the same actions it is
    the vector env with that many slots, visit for visit."""
    prefetch, steps = 8, 40
    single = NewsFeedEnv(prefetch=prefetch, **SMALL)
    vector = NewsFeedVectorEnv(prefetch, **SMALL)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, prefetch, 100)).astype(np.float32)
    single.reset(seed=1)
    vector.reset(seed=1)
    for t in range(steps):
        rewards = [single.step(actions[t, j])[1] for j in range(prefetch)]
        _, vec_rewards, _, _, info = vector.step(actions[t])
        np.testing.assert_array_equal(rewards, vec_rewards)
    assert single.current_batch.users[0] == vector.current_batch.users[0]


def test_rank_slates_order_ties_and_mask():
    scores = np.array([[0.1, 0.5, 0.5, -1.0, 0.9, 0.5]])
    mask = np.array([[True, True, True, True, False, True]])
    np.testing.assert_array_equal(rank_slates(scores, mask, 4), [[1, 2, 5, 0]])
    few = np.array([[True, False, False, False, False, True]])
    np.testing.assert_array_equal(rank_slates(scores, few, 4), [[5, 0, -1, -1]])


def test_env_shows_top_k_of_the_action():
    env = NewsFeedEnv(**SMALL)
    obs, _ = env.reset(seed=0)
    order = np.random.default_rng(1).permutation(100)
    action = scores_from_ranking(order, 100)
    _, _, _, _, info = env.step(action)
    valid = obs["candidates"]["mask"].astype(bool)
    expected = [i for i in order if valid[i]][:10]
    np.testing.assert_array_equal(info["shown"], expected)


def test_scores_from_ranking_and_action_from_scores():
    scores = scores_from_ranking([3, 0, 2], 5)
    assert scores.max() <= 1 and scores.min() >= -1
    assert list(np.argsort(-scores, kind="stable")[:3]) == [3, 0, 2]
    assert scores[1] == scores[4] == -1.0
    raw = np.array([[5.0, 1e9, -3.0, 5.0]])
    action = action_from_scores(raw)
    assert np.abs(action).max() <= 1
    np.testing.assert_array_equal(rank_slates(action, np.ones_like(raw, bool), 4), [[1, 0, 3, 2]])
    with pytest.raises(ValueError, match="repeat"):
        scores_from_ranking([1, 1], 5)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        scores_from_ranking([7], 5)
    with pytest.raises(ValueError, match="finite"):
        action_from_scores([np.nan, 1.0])


@pytest.mark.parametrize("action, message", [
    (np.full(100, np.nan), "NaN"),
    (np.full(100, 1.5), r"\[-1, 1\]"),
    (np.zeros(99), "shape"),
    (np.zeros((2, 100)), "shape"),
])
def test_bad_actions_raise(action, message):
    env = NewsFeedEnv(**SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_vector_env_bad_actions_raise():
    env = NewsFeedVectorEnv(4, **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(100))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        env.step(np.full((4, 100), -2.0))


def test_bad_env_arguments():
    with pytest.raises(ValueError, match="num_envs"):
        NewsFeedVectorEnv(600, **SMALL)
    with pytest.raises(ValueError, match="render_mode"):
        NewsFeedEnv(render_mode="human", **SMALL)
    with pytest.raises(ValueError, match="prefetch"):
        NewsFeedEnv(prefetch=0, **SMALL)
    with pytest.raises(ValueError, match="unknown WorldConfig key"):
        gym.make(drnsim.ENV_ID, n_userz=5)


def test_render_ansi_shows_the_visit():
    env = NewsFeedEnv(render_mode="ansi", **SMALL)
    env.reset(seed=0)
    assert "next visit: user" in env.render()
    _, _, _, _, info = env.step(env.action_space.sample())
    text = env.render()
    assert f"user {info['user_id']}" in text and "interests: topic" in text
    assert text.count("item") == (info["shown"] >= 0).sum()
    assert text.count("CLICK") == info["clicks"].sum()


def test_population_exhausted_terminates():
    env = NewsFeedVectorEnv(4, n_users=12, click_bias=-30.0, churn_after_empty_visits=1,
                            churn_probability=1.0, episode_days=30.0)
    env.reset(seed=0)
    for _ in range(10):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated.any():
            break
    assert terminated.all() and not truncated.any()
    assert env.world.users.churned.sum() > 12 - 4
