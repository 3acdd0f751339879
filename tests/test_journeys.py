"""UserJourney-v0: library conventions, journey semantics, exactness of the shared world,
determinism (single, vector, async) and bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import drnsim
from drnsim.config import DAY, WINDOWS_SECONDS
from drnsim.envs import UserJourneyEnv, UserJourneyVectorEnv
from drnsim.journeys import ClickLog, JourneySchedule
from drnsim.world import World

SMALL = dict(n_users=400, journeys_per_world=64, horizon_days=2.0)


def _tree_equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_tree_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_tree_equal(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


@pytest.fixture
def background_clicks(monkeypatch) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """Every click of every background world (by id of its `World`), recorded at the source,
    `World.feedback`, for worlds built after the fixture (journey rows' worlds excluded)."""
    records: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    feedback = World.feedback

    def recording(world, batch, shown):
        clicks, dwell = feedback(world, batch, shown)
        if not isinstance(world.queue, JourneySchedule):
            items = np.take_along_axis(batch.candidates, np.maximum(shown, 0), axis=1)
            times = np.broadcast_to(batch.times[:, None], clicks.shape)
            records.setdefault(id(world), []).append((items[clicks], times[clicks]))
        return clicks, dwell

    monkeypatch.setattr(World, "feedback", recording)
    return records


def _clicks(records: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([i for i, _ in records]), np.concatenate([t for _, t in records]))


# ---------------------------------------------------------------------------------------
def test_registered_with_vector_entry_point_and_module_id():
    env = gym.make("drnsim:drnsim/UserJourney-v0", **SMALL)
    assert isinstance(env.unwrapped, UserJourneyEnv)
    vec = gym.make_vec(drnsim.JOURNEY_ENV_ID, num_envs=3, **SMALL)
    assert isinstance(vec, UserJourneyVectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert gym.spec(drnsim.JOURNEY_ENV_ID).max_episode_steps is None  # a horizon in days


@pytest.mark.parametrize("obs_mode", ["dict", "flat_dict", "box"])
@pytest.mark.parametrize("action_mode", ["scores", "weights"])
@pytest.mark.parametrize("env_id", [drnsim.JOURNEY_ENV_ID, drnsim.ENV_ID])
def test_check_env_gymnasium_and_sb3_without_warnings(env_id, obs_mode, action_mode):
    """Gymnasium's and SB3's checkers pass on every mode without a warning, but one: SB3
    says of the "dict" mode, the nested Dict by design, that SB3 does not take nested Dicts
    (its flat modes are for SB3)."""
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    kwargs = SMALL if env_id == drnsim.JOURNEY_ENV_ID else dict(n_users=300)
    env = gym.make(env_id, obs_mode=obs_mode, action_mode=action_mode, **kwargs).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env)
    messages = [str(w.message) for w in caught]
    if obs_mode == "dict":
        assert len(messages) == 1 and messages[0].startswith("Nested observation spaces")
    else:
        assert messages == []


def test_flat_observations_are_the_documented_scaled_values():
    env = UserJourneyEnv(obs_mode="flat_dict", **SMALL)
    flat, _ = env.reset(seed=0)
    raw = env.raw_observation
    cfg = env.config
    n, f = cfg.n_candidates, len(drnsim.envs.CANDIDATE_FEATURES)
    features = flat["candidate_features"].reshape(n, f)
    mask = raw["candidates"]["mask"][0].astype(bool)
    cand = {key: value[0][mask] for key, value in raw["candidates"].items()}
    np.testing.assert_allclose(features[mask, :4], np.log1p(cand["popularity"]), rtol=1e-6)
    np.testing.assert_allclose(features[mask, 4], np.log1p(cand["age"] / 3600), rtol=1e-6)
    assert (features[~mask] == 0).all()
    topics = flat["candidate_topics"].reshape(n, cfg.n_topics)
    np.testing.assert_array_equal(topics[mask].argmax(axis=1), raw["candidates"]["topic"][0][mask])
    gap = raw["context"]["since_last_visit"][0]
    assert flat["context"][4] == pytest.approx(np.log1p(max(gap, 0) / 3600), rel=1e-6)
    assert flat["history_topics"].sum() == pytest.approx(raw["history"]["length"][0]
                                                         / cfg.history_length)
    box = UserJourneyEnv(obs_mode="box", **SMALL).reset(seed=0)[0]
    np.testing.assert_array_equal(box, np.concatenate(list(flat.values())))


def test_weights_rank_candidates_by_their_dot_product():
    env = UserJourneyEnv(action_mode="weights", **SMALL)
    env.reset(seed=0)
    raw = env.raw_observation
    weights = np.zeros(13, np.float32)
    weights[0] = 1.0  # popularity in the last hour
    weights[4] = -0.001  # newer first among equally popular
    _, _, _, _, info = env.step(weights)
    score = (np.log1p(raw["candidates"]["popularity"][0, :, 0])
             - 0.001 * np.log1p(raw["candidates"]["age"][0] / 3600))
    score = np.where(raw["candidates"]["mask"][0] == 1, score, -np.inf)
    np.testing.assert_array_equal(info["shown"], np.argsort(-score, kind="stable")[:10])


# ---------------------------------------------------------------------------------------
def test_a_slot_follows_one_user_and_gaps_match_its_visits():
    env = UserJourneyVectorEnv(4, **SMALL)
    obs, info = env.reset(seed=1)
    env.action_space.seed(0)
    user = info["user_id"].copy()
    checked = 0
    for _ in range(60):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        served = info["shown"][:, 0] >= 0
        continuing = served & ~terminated & ~truncated
        np.testing.assert_array_equal(info["user_id"][served], user[served])
        now = obs["context"]["since_last_visit"]
        next_time = info["sim_time"] + info["return_gap"]
        np.testing.assert_allclose(now[continuing], (next_time - info["sim_time"])[continuing],
                                   rtol=1e-6)
        np.testing.assert_array_equal(obs["user"]["user_id"][continuing], user[continuing])
        checked += continuing.sum()
        restarted = ~served
        user[restarted] = info["user_id"][restarted]
    assert checked > 100
    # the observation's user id is the journey user, and journey users are numbered from n_users
    assert (user >= SMALL["n_users"]).all()


def test_episode_truncates_at_the_horizon_and_bootstraps_from_the_next_visit():
    env = UserJourneyEnv(**SMALL)
    _, info = env.reset(seed=2)
    start = info["sim_time"]
    truncated = terminated = False
    while not (truncated or terminated):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
    if truncated:  # the next visit is the first at or after the horizon
        next_visit = info["sim_time"] + info["return_gap"]
        assert info["sim_time"] < start + 2 * DAY <= next_visit
        assert obs["context"]["since_last_visit"] == pytest.approx(info["return_gap"], rel=1e-6)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


def test_churn_terminates_the_episode():
    env = UserJourneyVectorEnv(8, click_bias=-30.0, churn_after_empty_visits=1,
                               churn_probability=1.0, warmup_days=0.0, **SMALL)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated.all() and not truncated.any() and (reward == 0).all()
    assert np.isinf(info["return_gap"]).all()
    obs2, reward, terminated, truncated, info2 = env.step(env.action_space.sample())
    assert not terminated.any() and (info2["user_id"] != info["user_id"]).all()  # next journeys


def test_background_users_move_popularity_and_journey_popularity_is_exact(background_clicks):
    """A journey visit at t sees every background click before t: its popularity equals a
    from-scratch recomputation from the background's clicks (recorded as they happen)."""
    env = UserJourneyVectorEnv(6, **SMALL)
    env.reset(seed=3)
    env.action_space.seed(1)
    compared = 0
    for _ in range(25):
        obs, *_ = env.step(env.action_space.sample())
        for w, group, batch in env.journeys.batches:
            items, times = _clicks(background_clicks[id(env.journeys.worlds[w].background)])
            for row, slot in enumerate(group):
                t = batch.times[row]
                for col in range(0, 100, 7):
                    item = batch.candidates[row, col]
                    if item < 0:
                        continue
                    before = times[(items == item) & (times < t)]
                    expected = [np.exp(-(t - before) / w).sum() for w in WINDOWS_SECONDS]
                    expected = np.where(np.array(expected) >= 1e-6, expected, 0.0)
                    np.testing.assert_allclose(obs["candidates"]["popularity"][slot, col],
                                               expected, rtol=2e-5, atol=1e-6)
                    compared += 1
    assert compared > 1000
    assert obs["candidates"]["popularity"].max() > 1.0  # the background clicked


def test_click_log_reads_as_of_any_past_time():
    rng = np.random.default_rng(0)
    pub = np.sort(rng.uniform(0, 50_000, 30))
    log = ClickLog()
    items = rng.integers(0, 30, 3000)
    times = np.maximum(np.sort(rng.uniform(0, 100_000, 3000)), pub[items] + 1)
    order = np.argsort(times, kind="stable")
    for chunk in np.array_split(order, 7):  # buffered and committed in pieces
        log.add(items[chunk], times[chunk])
        log.commit(float(times[chunk].max()) + 1e-9, pub)
    query_items = rng.integers(-1, 30, (40, 12))
    query_times = rng.uniform(0, 100_000, 40)
    got = log.popularity(query_items, query_times, pub)
    for b in range(40):
        for n in range(12):
            item, t = query_items[b, n], query_times[b]
            before = times[(items == item) & (times < t)]
            expected = [np.exp(-(t - before) / w).sum() for w in WINDOWS_SECONDS]
            expected = np.where(np.array(expected) >= 1e-6, expected, 0.0) if item >= 0 else 0
            np.testing.assert_allclose(got[b, n], expected, rtol=2e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="advance"):
        log.popularity(query_items, query_times + 1e6, pub)


def test_journeys_do_not_move_the_background(background_clicks):
    """The background is a function of the seed alone: journeys served differently (best vs
    worst candidates first) leave its clicks unchanged. Journeys read the background as far
    as their own visits reach, so the two runs may have simulated it to different times:
    compared is every click before a time both have passed."""
    until = 8 * DAY

    def background(sign: float) -> tuple[np.ndarray, np.ndarray]:
        env = UserJourneyVectorEnv(4, **SMALL)
        env.reset(seed=5)
        ranking = sign * np.linspace(-1, 1, 100, dtype=np.float32)
        for _ in range(30):
            env.step(np.broadcast_to(ranking, (4, 100)))
        world = env.journeys.worlds[0]
        world.advance(until)
        assert world.frontier() >= until
        items, times = _clicks(background_clicks[id(world.background)])
        return items[times < until], times[times < until]

    best_first, worst_first = background(1.0), background(-1.0)
    assert len(best_first[0]) > 1000
    np.testing.assert_array_equal(best_first[0], worst_first[0])
    np.testing.assert_array_equal(best_first[1], worst_first[1])


# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("vector", [False, True])
def test_same_seed_same_actions_identical(vector):
    def rollout(seed: int):
        env = UserJourneyVectorEnv(5, **SMALL) if vector else UserJourneyEnv(**SMALL)
        actions = np.random.default_rng(0).uniform(-1, 1, (40, *env.action_space.shape))
        out = [env.reset(seed=seed)]
        for action in actions.astype(np.float32):
            out.append(env.step(action))
            if not vector and (out[-1][2] or out[-1][3]):
                out.append(env.reset())
        return out

    first, again, other = rollout(7), rollout(7), rollout(8)
    assert _tree_equal(first, again)
    assert not _tree_equal(first[0][0], other[0][0])


def test_single_env_is_one_slot_of_the_vector_env():
    """Slots are independent: the single env's first journey is slot 0's, step for step, next
    to 5 other journeys (every draw is counter-based on the user, interest drift included)."""
    single, vector = UserJourneyEnv(**SMALL), UserJourneyVectorEnv(6, **SMALL)
    obs_single, _ = single.reset(seed=4)
    obs_vector, _ = vector.reset(seed=4)
    rng = np.random.default_rng(2)
    for _ in range(200):
        assert _tree_equal(obs_single, {k: {kk: vv[0] for kk, vv in v.items()}
                                        for k, v in obs_vector.items()})
        actions = rng.uniform(-1, 1, (6, 100)).astype(np.float32)
        obs_single, r1, te1, tr1, _ = single.step(actions[0])
        obs_vector, r6, te6, tr6, _ = vector.step(actions)
        assert (r1, te1, tr1) == (r6[0], te6[0], tr6[0])
        if te1 or tr1:
            break
    else:
        pytest.fail("the journey did not end")


def test_async_vector_env_after_stepping_in_the_parent_is_deterministic():
    """gym.make_vec(..., "async") forks workers from a process whose kernels already ran (GNU
    OpenMP used to abort them); the async env equals the sync one."""
    env = gym.make(drnsim.JOURNEY_ENV_ID, **SMALL)
    env.reset(seed=0)
    env.step(env.action_space.sample())

    def rollout(mode: str):
        vec = gym.make_vec(drnsim.JOURNEY_ENV_ID, num_envs=2, vectorization_mode=mode, **SMALL)
        actions = np.random.default_rng(0).uniform(-1, 1, (15, 2, 100)).astype(np.float32)
        out = [vec.reset(seed=3)[0]]
        out += [vec.step(a)[:4] for a in actions]
        vec.close()
        return out

    assert _tree_equal(rollout("async"), rollout("sync"))


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP,
                                  AutoresetMode.DISABLED])
def test_autoreset_modes(mode):
    env = gym.make_vec(drnsim.JOURNEY_ENV_ID, num_envs=4, vectorization_mode="vector_entry_point",
                       autoreset_mode=mode, **dict(SMALL, horizon_days=0.5))
    assert env.metadata["autoreset_mode"] == mode
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(300):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        ended = terminated | truncated
        if ended.any():
            break
    else:
        pytest.fail("no journey ended")
    ended_user = info["user_id"][ended]
    if mode == AutoresetMode.SAME_STEP:
        assert info["_final_obs"].tolist() == ended.tolist()
        final = info["final_obs"][np.flatnonzero(ended)[0]]
        assert final["user"]["user_id"] == ended_user[0]
        assert (obs["user"]["user_id"][ended] != ended_user).all()  # already the next journey
    elif mode == AutoresetMode.NEXT_STEP:
        assert (obs["user"]["user_id"][ended] == ended_user).all()
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert (reward[ended] == 0).all() and not (terminated | truncated)[ended].any()
        assert (info["shown"][ended] == -1).all()
        assert (obs["user"]["user_id"][ended] != ended_user).all()
    else:
        with pytest.raises(RuntimeError, match="reset_mask"):
            env.step(env.action_space.sample())
        obs, info = env.reset(options={"reset_mask": ended})
        assert (obs["user"]["user_id"][ended] != ended_user).all()
        env.step(env.action_space.sample())


def test_reward_modes():
    clicks_only = UserJourneyVectorEnv(4, **SMALL)
    with_return = UserJourneyVectorEnv(4, reward_mode="clicks+return", reward_weight=2.0,
                                       return_tau_hours=5.0, **SMALL)
    actions = np.random.default_rng(0).uniform(-1, 1, (10, 4, 100)).astype(np.float32)
    clicks_only.reset(seed=0)
    with_return.reset(seed=0)
    for action in actions:
        _, r_clicks, *_ = clicks_only.step(action)
        _, r_return, _, _, info = with_return.step(action)
        bonus = np.where(info["shown"][:, 0] >= 0,
                         2.0 * np.exp(-info["return_gap"] / (5 * 3600.0)), 0.0)
        np.testing.assert_allclose(r_return, r_clicks + bonus)
        np.testing.assert_array_equal(r_clicks, info["clicks"].sum(axis=1))


def test_clicks_plus_dwell_reward():
    """r = clicks + w * dwell minutes, the dwell of the world's own feedback (the same
    journey with reward "clicks" reads the same dwell in its info)."""
    env = UserJourneyEnv(reward_mode="clicks+dwell", reward_weight=0.5, **SMALL)
    clicks_only = UserJourneyEnv(**SMALL)
    env.reset(seed=0)
    clicks_only.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 100)).astype(np.float32)
    read = 0.0
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        _, reward_clicks, _, _, info_clicks = clicks_only.step(action)
        dwell = info["dwell"]
        assert dwell.shape == (10,) and dwell.dtype == np.float32
        assert (dwell[~info["clicks"]] == 0).all() and (dwell[info["clicks"]] > 0).all()
        np.testing.assert_array_equal(dwell, info_clicks["dwell"])
        assert reward_clicks == info["clicks"].sum()
        assert reward == pytest.approx(reward_clicks + 0.5 * dwell.sum() / 60)
        read += dwell.sum()
        if terminated or truncated:
            break
    assert read > 0


def test_worlds_turn_over_and_are_dropped():
    env = UserJourneyVectorEnv(4, journeys_per_world=4, n_users=320, horizon_days=0.25)
    env.reset(seed=0)
    seen = set()
    for _ in range(40):
        env.step(env.action_space.sample())
        journeys = env.journeys
        seen |= set(journeys.worlds)
        in_use = set(journeys.world[journeys.world >= 0].tolist()) | {journeys.newest}
        assert set(journeys.worlds) == in_use  # a world no slot uses is dropped
    assert len(seen) >= 3 and journeys.simulated_visits > 0


# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, argument", [
    (dict(obs_mode="image"), "obs_mode"),
    (dict(action_mode="ranking"), "action_mode"),
    (dict(reward_mode="dwell"), "reward_mode"),
    (dict(background="no_such_agent"), "background"),
    (dict(horizon_days=0), "horizon_days"),
    (dict(horizon_days=-1.0), "horizon_days"),
    (dict(warmup_days=float("nan")), "warmup_days"),
    (dict(journeys_per_world=2), "journeys_per_world"),
    (dict(autoreset_mode="sometimes"), "autoreset_mode"),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        UserJourneyVectorEnv(4, **{**SMALL, **kwargs})


def test_unknown_keywords_raise_type_error():
    with pytest.raises(TypeError, match="n_userz"):
        gym.make(drnsim.JOURNEY_ENV_ID, n_userz=5)
    with pytest.raises(TypeError, match="frameskip"):
        gym.make(drnsim.ENV_ID, frameskip=4)
    with pytest.raises(TypeError, match="render_mode"):  # SB3 then retries without it
        UserJourneyEnv(render_mode="rgb_array", **SMALL)


def test_wrong_actions_name_the_action():
    env = UserJourneyEnv(action_mode="weights", **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must have shape \(13,\).*weight"):
        env.step(np.zeros(12, np.float32))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        env.step(np.full(13, 2.0, np.float32))
    vector = UserJourneyVectorEnv(3, **SMALL)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vector.step(np.zeros((3, 99), np.float32))


def test_evaluate_journeys_pairs_policies_on_the_same_journeys():
    """An agent name and a callable that ranks the same way meet the same journeys and get
    the same figures; the oracle beats random on them."""
    from drnsim.agents import make_agent
    from drnsim.envs import action_from_scores
    from drnsim.rl import evaluate_journeys, journey_summary

    kwargs = dict(n_users=300, horizon_days=1.0, journeys_per_world=512)
    popular = make_agent("popular")
    by_name = evaluate_journeys("popular", 24, seed=9, **kwargs)
    by_callable = evaluate_journeys(lambda obs: action_from_scores(popular.act(obs)), 24,
                                    seed=9, **kwargs)
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(by_name, by_callable)
    assert (by_name["user_id"] >= 300).all() and by_name["visits"].min() >= 1
    oracle = journey_summary(evaluate_journeys("oracle", 24, seed=9, **kwargs))
    random = journey_summary(evaluate_journeys("random", 24, seed=9, **kwargs))
    assert oracle["clicks_per_visit"] > random["clicks_per_visit"] + 0.5
    assert np.isnan(random["retention@3d"])  # beyond the 1-day horizon
