"""The push -> feedback -> update loop: tidy frames, identical worlds, compare, summarize."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import drnsim  # noqa: F401  (registers the env id)
from drnsim.agents import make_agent
from drnsim.envs import NewsFeedVectorEnv
from drnsim.loop import compare, play, run_episode
from drnsim.metrics import COLUMNS, summarize

SMALL = dict(n_users=500, n_candidates=30, slate_size=5, news_per_hour=60.0, episode_days=1.0)


def vec_env(**overrides):
    return NewsFeedVectorEnv(num_envs=32, **{**SMALL, **overrides})


class Recorder:
    """Wraps an agent and records who was served when."""

    def __init__(self, base):
        self.base, self.name, self.visits = base, base.name, []

    def bind(self, env):
        self.base.bind(env)

    def act(self, obs):
        return self.base.act(obs)

    def observe(self, obs, action, reward, info):
        self.visits.append((info["user_id"].copy(), info["sim_time"].copy()))
        self.base.observe(obs, action, reward, info)

    def update(self, sim_time):
        self.base.update(sim_time)


def test_frame_is_tidy_and_covers_the_days_in_hourly_buckets():
    frame = run_episode(vec_env(), make_agent("popular"), days=0.5, seed=0, progress=False)
    assert list(frame.columns) == COLUMNS
    assert set(frame["agent"]) == {"popular"} and set(frame["seed"]) == {0}
    assert sorted(frame["time"].unique()) == [float(h) for h in range(1, 13)]
    metrics = set(frame["metric"])
    assert {"ctr", "precision@5", "ndcg@5", "ils", "activeness", "return_rate",
            "return_gap_h", "reward", "cumulative_reward", "regret", "cumulative_regret",
            "churn", "visits"} <= metrics
    ctr = frame[frame["metric"] == "ctr"]["value"]
    assert ((ctr > 0) & (ctr < 1)).all()
    cumulative = frame[frame["metric"] == "cumulative_reward"]["value"].to_numpy()
    assert (np.diff(cumulative) >= 0).all()


def test_two_identical_agents_give_identical_frames():
    frames = [run_episode(vec_env(), make_agent("egreedy:linucb", epsilon=0.2), days=0.5,
                          seed=5, progress=False) for _ in range(2)]
    pd.testing.assert_frame_equal(*frames)
    other = run_episode(vec_env(), make_agent("egreedy:linucb", epsilon=0.2), days=0.5,
                        seed=6, progress=False)
    assert not frames[0]["value"].equals(other["value"])


def test_different_agents_see_the_same_first_visits():
    runs = []
    for name in ("random", "oracle"):
        recorder = Recorder(make_agent(name))
        run_episode(vec_env(), recorder, days=0.3, seed=2, progress=False, with_regret=False)
        runs.append(recorder.visits)
    (users_a, times_a), (users_b, times_b) = runs[0][0], runs[1][0]
    np.testing.assert_array_equal(users_a, users_b)
    np.testing.assert_array_equal(times_a, times_b)
    # Later the oracle's clicks bring users back sooner: the visit streams diverge.
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(runs[0], runs[1], strict=False))


def test_single_visit_env_and_a_user_class_returning_one_row():
    class Freshest:
        name = "freshest"

        def act(self, obs):
            return -obs["candidates"]["age"][0]  # (N,): accepted for a batch of one

        def observe(self, obs, action, reward, info):
            assert obs["candidates"]["mask"].shape[0] == 1 and info["shown"].shape[0] == 1

        def update(self, sim_time):
            pass

    env = gym.make("drnsim/NewsFeed-v0", **SMALL)
    frame = run_episode(env, Freshest(), days=0.1, seed=0, progress=False)
    assert set(frame["agent"]) == {"freshest"}
    assert frame[frame["metric"] == "visits"]["value"].sum() > 50


def test_wrong_shapes_are_reported_with_the_agent_name_and_shape():
    class Broken:
        name = "broken"

        def act(self, obs):
            return np.zeros((3, 4))

        def observe(self, *args):
            pass

        def update(self, sim_time):
            pass

    with pytest.raises(ValueError, match=r"agent 'broken' returned scores of shape \(3, 4\)"):
        run_episode(vec_env(), Broken(), days=0.1, progress=False)


def test_ordering_on_a_small_world():
    frame = compare(["oracle", "popular", "linucb", "random"], seeds=(0,), days=1.0,
                    world=dict(SMALL, n_users=1000), batch_size=64, log_days=0.0,
                    progress=False)
    ctr = summarize(frame).xs("ctr", level="metric")["mean"]
    assert ctr["oracle"] > ctr["popular"] > ctr["random"]
    assert ctr["linucb"] > ctr["random"]
    regret = summarize(frame).xs("regret", level="metric")["mean"]
    assert regret["oracle"] == pytest.approx(0.0, abs=1e-9) and regret["random"] > 0


class WarmRecorder:
    """A user agent with a warm_start: records the logs it was given."""

    name = "warm"

    def __init__(self):
        self.logs = None

    def warm_start(self, logs):
        self.logs = logs

    def act(self, obs):
        return obs["candidates"]["popularity"][..., 0]

    def observe(self, *args):
        pass

    def update(self, sim_time):
        pass


def test_compare_warm_starts_from_pre_period_logs_and_summarizes_paired_lifts():
    template = WarmRecorder()
    frame = compare([template, "popular", "random"], seeds=(0, 1), days=0.25,
                    world=SMALL, batch_size=32, log_days=0.25, progress=False)
    assert template.logs is None  # objects are deep-copied per seed
    assert list(frame.columns) == COLUMNS
    assert set(frame["agent"]) == {"warm", "popular", "random"}
    assert set(frame["seed"]) == {0, 1} and frame["time"].max() == 6.0
    table = summarize(frame, baseline="random")
    assert {"mean", "low", "high", "n_seeds", "lift", "lift_low", "lift_high"} <= set(
        table.columns)
    random_lift = table.loc[("random", "ctr")]
    assert random_lift["lift"] == 0.0 and random_lift["lift_low"] == 0.0
    # "warm" ranks like popular's last-hour counts: a paired lift from the same worlds
    row = table.loc[("popular", "ctr")]
    assert row["lift"] == pytest.approx(row["mean"] - table.loc[("random", "ctr"), "mean"])
    with pytest.raises(ValueError, match="baseline 'nobody'"):
        summarize(frame, baseline="nobody")


def test_compare_pre_period_logs_precede_the_evaluation(monkeypatch):
    seen = {}

    class Spy(WarmRecorder):
        def warm_start(self, logs):
            seen["last_log_time"] = logs["time"].max()

        def bind(self, env):
            seen["start"] = env.unwrapped.current_batch.times.min()

    compare([Spy()], seeds=(0,), days=0.1, world=SMALL, batch_size=32, log_days=0.2,
            progress=False)
    boundary = 0.2 * 86400
    assert seen["last_log_time"] < boundary
    # The pre-period serves whole batches that end before the boundary, so the agent takes
    # over with the batch that straddles it (no visit after the boundary was pre-served).
    assert abs(seen["start"] - boundary) < 3600


def test_compare_rejects_duplicates_bad_backend_and_explains_missing_ray():
    with pytest.raises(ValueError, match="repeated"):
        compare(["random", "random"], world=SMALL, progress=False)
    with pytest.raises(ValueError, match="backend"):
        compare(["random"], world=SMALL, backend="dask", days=0.01, log_days=0,
                progress=False)
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install 'drnsim\[ray\]'"):
            compare(["random"], world=SMALL, backend="ray", days=0.01, log_days=0,
                    progress=False)


def test_play_continues_from_the_current_state():
    env = vec_env()
    obs, _ = env.reset(seed=0)
    obs = play(env, make_agent("popular"), obs, days=0.1)
    assert env.world.clock >= 0.1 * 86400


def test_pre_period_logs_are_the_trajectory_of_the_world_it_hands_over():
    """Replaying the logged slates on a fresh world of the same seed reproduces every logged
    visit (user, time, slate, clicks) and ends in the handed-over world's state: the logs are
    exactly the visits of the world the agents continue from."""
    from drnsim.envs import scores_from_ranking
    from drnsim.loop import pre_period

    pre = pre_period(SMALL, seed=3, days=0.3, batch_size=32)
    logs, world = pre.logs, pre.env.world
    visits = logs.drop_duplicates("visit_id").sort_values("visit_id")  # batch by batch
    n_slots = pre.env.num_envs
    assert len(visits) == world.served - n_slots  # every served visit but the next batch
    np.testing.assert_array_equal(visits["visit_id"], np.arange(len(visits)))
    replay = NewsFeedVectorEnv(num_envs=n_slots, config=pre.env.config)
    replay.reset(seed=3)
    slates = logs.pivot(index="visit_id", columns="position", values="candidate_index")
    clicks = logs.pivot(index="visit_id", columns="position", values="click")
    for first in range(0, len(visits), n_slots):
        rows = slice(first, first + n_slots)
        info = replay.step(scores_from_ranking(slates.iloc[rows].to_numpy(),
                                               SMALL["n_candidates"]))[4]
        np.testing.assert_array_equal(info["user_id"], visits["user_id"].iloc[rows])
        np.testing.assert_array_equal(info["sim_time"], visits["time"].iloc[rows])
        np.testing.assert_array_equal(info["shown"], slates.iloc[rows])
        np.testing.assert_array_equal(info["clicks"], clicks.iloc[rows].astype(bool))
    done = replay.world
    for name in ("visit_count", "last_visit", "engagement", "churned", "hist_item"):
        np.testing.assert_array_equal(getattr(done.users, name), getattr(world.users, name))
    np.testing.assert_array_equal(done.news.clicks, world.news.clicks)
    np.testing.assert_array_equal(replay.current_batch.users, pre.env.current_batch.users)
    assert pre.obs is pre.env._runner.obs


def test_compare_runs_one_pre_period_per_seed_and_gives_each_agent_its_own_world(monkeypatch):
    import drnsim.loop as loop

    calls, worlds = [], []
    real = loop.pre_period
    monkeypatch.setattr(loop, "pre_period", lambda *a, **k: calls.append(a[1]) or real(*a, **k))

    class Spy(WarmRecorder):
        def bind(self, env):
            worlds.append((env.unwrapped.world, env.unwrapped.world.clock,
                           env.unwrapped.world.served))

    spies = [type("A", (Spy,), {"name": "a"})(), type("B", (Spy,), {"name": "b"})()]
    compare([*spies, "random"], seeds=(0, 1), days=0.05, world=SMALL, batch_size=32,
            log_days=0.1, progress=False)
    assert calls == [0, 1]
    assert len({id(w) for w, _, _ in worlds}) == 4  # a copy per (agent, seed)
    assert worlds[0][1:] == worlds[1][1:] and worlds[2][1:] == worlds[3][1:]


def test_single_and_vector_env_give_the_same_activeness_and_churn_snapshots():
    """Per hourly bucket, activeness (mean DRN S) and churn count exactly the visits before
    the bucket's end, whether the visits come one per step or 16 per step (a batch can span
    a bucket's end); both equal a direct computation from the served visits."""
    from drnsim.envs import NewsFeedEnv
    from drnsim.metrics import ActivenessTracker

    world = dict(SMALL, churn_after_empty_visits=1, churn_probability=0.2)
    frames, recorders = [], []
    for env in (NewsFeedEnv(prefetch=16, **world), NewsFeedVectorEnv(num_envs=16, **world)):
        recorders.append(Recorder(make_agent("random", seed=4)))
        frames.append(run_episode(env, recorders[-1], days=0.3, seed=1, progress=False,
                                  with_regret=False))
    for metric in ("activeness", "churn", "ctr"):
        a, b = (f[f["metric"] == metric]["value"].to_numpy() for f in frames)
        np.testing.assert_array_equal(a, b)
    users = np.concatenate([u for u, _ in recorders[1].visits])
    times = np.concatenate([t for _, t in recorders[1].visits])
    snapshots = frames[1][frames[1]["metric"] == "activeness"]
    for hour, value in zip(snapshots["time"], snapshots["value"], strict=True):
        edge = times.min() + min(hour, 0.3 * 24) * 3600  # from the first visit to the end
        tracker = ActivenessTracker(SMALL["n_users"])
        for u, t in zip(users[times < edge], times[times < edge], strict=True):
            tracker.visit(np.array([u]), np.array([t]))
        assert value == pytest.approx(tracker.mean(edge), rel=1e-12)
    assert frames[1][frames[1]["metric"] == "churn"]["value"].iloc[-1] > 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=-1), "seed"), (dict(seed=0.5), "seed"), (dict(days=-1.0), "days"),
    (dict(epsilon=1.5), "epsilon"), (dict(batch_size=0), "batch_size"),
    (dict(record="yes"), "record")])
def test_pre_period_names_a_bad_argument(kwargs, message):
    from drnsim.loop import pre_period

    with pytest.raises(ValueError, match=message):
        pre_period(SMALL, **{"seed": 0, **kwargs})
