"""Agents: registry, protocol, reference agents, bandits, explorers, static/online models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drnsim._validate import InvalidTypeError
from drnsim.agents import (
    Agent,
    EpsilonGreedy,
    PopularAgent,
    RandomAgent,
    UCBExplorer,
    known_agents,
    make_agent,
)
from drnsim.agents.base import Every
from drnsim.envs import NewsFeedVectorEnv, rank_slates
from drnsim.logs import collect_logs
from drnsim.loop import play

SMALL = dict(n_users=500, n_candidates=30, slate_size=5, news_per_hour=60.0, episode_days=0.5)


@pytest.fixture
def env():
    env = NewsFeedVectorEnv(num_envs=32, **SMALL)
    env.reset(seed=3)
    return env


def _obs(env):
    return env.unwrapped._runner.obs


def test_unknown_name_lists_the_known_agents():
    with pytest.raises(ValueError, match="unknown agent 'bogus'") as err:
        make_agent("bogus")
    for name in ("random", "popular", "oracle", "linucb", "hlinucb", "static:din",
                 "online:autorec", "egreedy:<agent>", "ucb:<agent>"):
        assert name in str(err.value)
    assert "online:drn" in known_agents()
    with pytest.raises(ValueError, match="unknown agent 'static:nope'"):
        make_agent("static:nope")
    with pytest.raises(ValueError, match="cannot import agent class"):
        make_agent("drnsim.agents.simple:Missing")


def test_make_agent_wrappers_route_keywords_and_import_paths():
    agent = make_agent("egreedy:popular", epsilon=0.3, window_weights=(0, 1, 0, 0))
    assert isinstance(agent, EpsilonGreedy) and agent.epsilon == 0.3
    assert isinstance(agent.base, PopularAgent) and agent.name == "egreedy:popular"
    np.testing.assert_array_equal(agent.base.window_weights, [0, 1, 0, 0])
    nested = make_agent("ucb:egreedy:random", c=2.0)
    assert isinstance(nested, UCBExplorer) and isinstance(nested.base.base, RandomAgent)
    assert isinstance(make_agent("drnsim.agents.simple:RandomAgent", seed=4), RandomAgent)
    assert isinstance(make_agent("random"), Agent)  # the runtime-checkable protocol


def test_every_fires_once_per_period_and_skips_quiet_gaps():
    every = Every(10.0)
    assert [every.due(t) for t in (5, 10, 12, 20, 55, 58, 60)] == [
        False, True, False, True, True, False, True]


def test_oracle_scores_the_true_attractiveness_and_needs_bind(env):
    oracle = make_agent("oracle")
    with pytest.raises(RuntimeError, match="bind"):
        oracle.act(_obs(env))
    oracle.bind(env)
    truth = env.world.attractiveness(env.current_batch)
    np.testing.assert_array_equal(oracle.act(_obs(env)), truth)


def test_popular_ranks_recent_clicks_first(env):
    obs = _obs(env)
    pop = obs["candidates"]["popularity"]
    pop[0, :, :] = 0.0
    pop[0, 7, 0] = 5.0
    scores = PopularAgent().act(obs)
    assert scores.shape == obs["candidates"]["mask"].shape and scores[0].argmax() == 7


def test_egreedy_zero_keeps_the_slate_and_one_explores_live_items(env):
    obs = _obs(env)
    mask = obs["candidates"]["mask"]
    base = make_agent("popular")
    greedy = EpsilonGreedy(make_agent("popular"), epsilon=0.0)
    greedy.bind(env)
    k = SMALL["slate_size"]
    np.testing.assert_array_equal(rank_slates(greedy.act(obs), mask, k),
                                  rank_slates(base.act(obs), mask, k))
    explore = EpsilonGreedy(make_agent("popular"), epsilon=1.0)
    explore.bind(env)
    slates = rank_slates(explore.act(obs), mask, k)
    assert (slates >= 0).all() and np.take_along_axis(mask, slates, 1).all()
    assert not np.array_equal(slates, rank_slates(base.act(obs), mask, k))
    assert all(len(set(row)) == k for row in slates)  # swaps never duplicate an item


def test_ucb_bonus_prefers_items_not_shown_yet(env):
    obs = _obs(env)
    ucb = UCBExplorer(make_agent("popular"), c=10.0)
    ucb.bind(env)
    first = rank_slates(ucb.act(obs), obs["candidates"]["mask"], 5)
    info = {"shown": first, "clicks": np.zeros_like(first, dtype=bool)}
    ucb.observe(obs, None, np.zeros(len(first)), info)
    again = rank_slates(ucb.act(obs), obs["candidates"]["mask"], 5)
    assert not np.isin(again[0], first[0]).any()


@pytest.mark.parametrize("name", ["linucb", "hlinucb"])
def test_bandits_learn_from_clicks(env, name):
    agent = make_agent(name)
    play(env, agent, _obs(env), days=0.1)
    if name == "linucb":
        assert np.abs(agent.theta).sum() > 0
    else:
        assert np.abs(agent.b).sum() > 0 and np.abs(agent.v).sum() > 0
    scores = agent.act(_obs(env))
    assert scores.shape == (32, SMALL["n_candidates"]) and np.isfinite(scores).all()


def test_static_model_is_frozen_after_warm_start_and_online_retrains(env):
    logs = collect_logs(SMALL, PopularAgent(), days=0.1, seed=1, batch_size=32)
    kwargs = {"fit_kwargs": {"epochs": 1}}

    def warm(name, **kw):
        agent = make_agent(name, **kwargs, **kw)
        agent.bind(env)
        agent.warm_start(logs)
        return [p.detach().clone() for p in agent.model.parameters()]

    static = make_agent("static:lr", **kwargs)
    play(env, static, _obs(env), days=0.1, logs=logs)
    frozen = zip(warm("static:lr"), static.model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in frozen)

    online_kw = {"period_hours": 0.5, "window_hours": 1.0}
    online = make_agent("online:lr", **kwargs, **online_kw)
    obs = play(env, online, _obs(env), days=0.1, logs=logs)
    moved = zip(warm("online:lr", **online_kw), online.model.parameters(), strict=True)
    assert not all(torch.equal(a, b) for a, b in moved)
    assert online.buffer and all(len(t) == len(b) for t, b in online.buffer)
    oldest = min(t.min() for t, _ in online.buffer)
    assert oldest >= env.world.clock - 2.5 * 3600  # the window slid (1 h + one period)
    scores = online.act(obs)
    assert scores.shape == (32, SMALL["n_candidates"]) and np.isfinite(scores).all()


def test_fit_cache_shares_the_warm_start_of_static_and_online_and_misses_on_any_change(
        env, tmp_path, monkeypatch):
    """static:<model> and online:<model> of one seed make the same warm-start fit: with a
    fit cache the second loads it (no fit runs) and holds the same weights as an uncached
    fit; another seed or other trainer keywords fit anew; a fit loaded is not changed on
    disk by the online agent's later refits."""
    from drnsim.models.base import RankingModel

    logs = collect_logs(SMALL, PopularAgent(), days=0.1, seed=1, batch_size=32)
    fits = []
    original = RankingModel.fit
    monkeypatch.setattr(RankingModel, "fit",
                        lambda self, *a, **k: fits.append(1) or original(self, *a, **k))

    def warm(name, fit_kwargs=None, **kw):
        agent = make_agent(name, fit_kwargs=fit_kwargs or {"epochs": 1}, **kw)
        agent.bind(env)
        agent.warm_start(logs)
        return agent

    def weights(agent):
        return [p.detach().clone() for p in agent.model.parameters()]

    plain = weights(warm("static:fm"))
    assert len(fits) == 1
    static = warm("static:fm", fit_cache=tmp_path)
    online = warm("online:fm", fit_cache=tmp_path, period_hours=0.5, window_hours=1.0)
    assert len(fits) == 2 and len(list(tmp_path.glob("*.pt"))) == 1
    for w in (weights(static), weights(online)):
        assert all(torch.equal(a, b) for a, b in zip(plain, w, strict=True))
    assert online.model is not static.model
    play(env, online, _obs(env), days=0.1, logs=logs)  # refits move the online model only
    assert not all(torch.equal(a, b) for a, b in zip(plain, weights(online), strict=True))
    fits.clear()
    again = weights(warm("static:fm", fit_cache=tmp_path))
    assert all(torch.equal(a, b) for a, b in zip(plain, again, strict=True))
    warm("static:fm", fit_cache=tmp_path, seed=1)
    warm("static:fm", fit_cache=str(tmp_path), fit_kwargs={"epochs": 1, "lr": 0.01})
    assert len(fits) == 2 and len(list(tmp_path.glob("*.pt"))) == 3
    with pytest.raises(InvalidTypeError, match="fit_cache"):
        make_agent("static:fm", fit_cache=3)
    with pytest.raises(ValueError, match="fit_cache"):
        make_agent("online:fm", fit_cache="")


def test_make_agent_loads_a_class_from_a_top_level_module(tmp_path, monkeypatch):
    (tmp_path / "my_agents.py").write_text(
        "class Newest:\n"
        "    def act(self, obs):\n        return -obs['candidates']['age']\n"
        "    def observe(self, obs, action, reward, info):\n        pass\n"
        "    def update(self, sim_time):\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert type(make_agent("my_agents:Newest")).__name__ == "Newest"
    with pytest.raises(ValueError, match="cannot import agent class"):
        make_agent("my_agents:Oldest")
    with pytest.raises(ValueError, match="unknown agent 'static:nosuchmodel'"):
        make_agent("static:nosuchmodel")


def test_online_refit_trains_on_its_newest_visit(env, monkeypatch):
    """The refit's training split (what the trainer's epochs run over) holds the freshest
    impression served before it, and model seeds follow the agent's seed."""
    import drnsim.models.training as training

    trained = []
    real = training._train

    def spy(model, train, *args, **kwargs):
        trained.append(train)
        return real(model, train, *args, **kwargs)

    monkeypatch.setattr(training, "_train", spy)
    agent = make_agent("online:lr", period_hours=0.5, window_hours=1.0, seed=4)
    last = {}

    class Tap:  # records the last impressions the agent observed before each update
        name = "tap"

        def bind(self, env):
            agent.bind(env)

        def act(self, obs):
            return agent.act(obs)

        def observe(self, obs, action, reward, info):
            agent.observe(obs, action, reward, info)
            last["batch"] = agent.buffer[-1][1]

        def update(self, sim_time):
            before = len(trained)
            agent.update(sim_time)
            if len(trained) > before:
                newest, train = last["batch"], trained[-1]
                assert agent.update_kwargs["valid_fraction"] == 0.0
                # the newest visit is the training split's last row
                assert torch.equal(train.user_fields[-1], newest.user_fields[-1])
                assert torch.equal(train.item_fields[-1], newest.item_fields[-1])
                last["refits"] = last.get("refits", 0) + 1

    play(env, Tap(), _obs(env), days=0.2)
    assert last["refits"] >= 2


def test_model_seeds_follow_the_agent_seed_and_leave_torch_global_state_alone(env):
    state = torch.get_rng_state()

    def weights(seed):
        agent = make_agent("static:wide_deep", seed=seed)
        agent.bind(env)
        return torch.cat([p.detach().flatten() for p in agent.model.parameters()])

    assert torch.equal(weights(1), weights(1)) and not torch.equal(weights(1), weights(2))
    logs = collect_logs(SMALL, PopularAgent(), days=0.05, seed=1, batch_size=32)
    agent = make_agent("static:wide_deep", seed=1, fit_kwargs={"epochs": 1})
    agent.bind(env)
    agent.warm_start(logs)
    assert torch.equal(torch.get_rng_state(), state)
