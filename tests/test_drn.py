"""DRN (Zheng et al. 2018): dueling Q, Double-DQN target, activeness reward, DBGD, variants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from drnsim.agents import EpsilonGreedy, UCBExplorer, known_agents, make_agent
from drnsim.agents.drn import (
    DRN_VARIANTS,
    DRNAgent,
    QInput,
    credit,
    dbgd_step,
    double_dqn_target,
    interleave,
    perturbation,
)
from drnsim.envs import NewsFeedVectorEnv, action_from_scores
from drnsim.features import FeatureSpec, build_batch
from drnsim.loop import run_episode
from drnsim.metrics import ACTIVENESS_DECAY, ACTIVENESS_JUMP, ActivenessTracker
from drnsim.models import make_model

TINY = dict(n_users=300, n_candidates=20, slate_size=5, news_per_hour=40.0, episode_days=0.2)


@pytest.fixture
def env():
    env = NewsFeedVectorEnv(num_envs=32, **TINY)
    env.reset(seed=5)
    return env


def bound_agent(env, **kwargs) -> DRNAgent:
    agent = DRNAgent(seed=1, **kwargs)
    agent.bind(env)
    return agent


def test_dueling_aggregation_subtracts_the_mean_advantage_over_valid_candidates(env):
    spec = FeatureSpec.from_config(env.unwrapped.config)
    batch = build_batch(env.unwrapped._runner.obs, spec)
    batch.candidate_mask[:, -3:] = False  # a few padded candidates
    model = make_model("drn", spec, seed=2)
    with torch.no_grad():
        q, v, a = model(batch), model.value(batch), model.advantage(batch)
    mask = batch.candidate_mask.float()
    mean_a = (a * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(q, v[:, None] + a - mean_a)
    # Q - V averages to 0 over the valid candidates; padded ones do not enter the mean
    torch.testing.assert_close(((q - v[:, None]) * mask).sum(1), torch.zeros(len(q)),
                               atol=1e-5, rtol=0)


def test_advantage_skips_padded_candidates_with_the_same_values_and_gradients(env):
    """With padded candidates only the valid (request, candidate) rows go through the
    advantage network: the same A there as the full computation, 0 at padded ones, and the
    same gradients of a loss on the valid entries."""
    spec = FeatureSpec.from_config(env.unwrapped.config)
    batch = build_batch(env.unwrapped._runner.obs, spec)
    batch.candidate_mask[:, 5:] = False  # a replayed logged visit: its shown items only
    batch.candidate_mask[0, 5:12] = True
    model = make_model("drn", spec, seed=2)
    mask = batch.candidate_mask
    full = model.advantage_net(batch.state.unsqueeze(1), batch.action).squeeze(-1)
    skipped = model.advantage(batch)
    torch.testing.assert_close(skipped[mask], full[mask], atol=1e-6, rtol=0)
    assert (skipped[~mask] == 0).all()
    grads = []
    for a in (full, skipped):
        model.zero_grad()
        (a[mask] ** 2).sum().backward(retain_graph=True)
        grads.append([p.grad.clone() for p in model.advantage_net.parameters()])
    for g_full, g_skipped in zip(*grads, strict=True):
        torch.testing.assert_close(g_skipped, g_full, atol=1e-5, rtol=1e-4)


class Table(nn.Module):
    """A 'network' returning fixed Q-values (B, N), to hand-check the target."""

    def __init__(self, values: list[list[float]]):
        super().__init__()
        self.values = torch.tensor(values)

    def forward(self, batch: QInput) -> torch.Tensor:
        return self.values


def test_double_dqn_target_online_net_picks_target_net_evaluates():
    next_input = QInput(torch.zeros(2, 1), torch.zeros(2, 4, 1),
                        torch.tensor([[True, True, True, False], [False, False, False, False]]))
    online = Table([[0.1, 0.9, 0.3, 5.0], [1.0, 2.0, 3.0, 4.0]])  # masked 5.0 is ignored
    target = Table([[7.0, 2.0, 9.0, 9.0], [1.0, 1.0, 1.0, 1.0]])
    reward = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = double_dqn_target(online, target, reward, next_input, gamma=0.4)
    # visit 0: online argmax is candidate 1, the target's value there is 2.0 (not its max 9.0)
    # visit 1: no valid next candidate -> no future term
    torch.testing.assert_close(y, torch.tensor([[1.8, 0.8], [0.0, 1.0]]))


def test_activeness_decays_jumps_by_s_a_and_caps_at_one(env):
    tracker = ActivenessTracker(2)
    np.testing.assert_allclose(tracker.visit(np.array([0]), np.array([0.0])), [0.5])
    hour = 3600.0
    np.testing.assert_allclose(tracker.value(np.array([0]), 10 * hour),
                               [0.5 * math.exp(-ACTIVENESS_DECAY * 10 * hour)])
    s1 = 0.5 * math.exp(-ACTIVENESS_DECAY * hour) + ACTIVENESS_JUMP
    np.testing.assert_allclose(tracker.visit(np.array([0]), np.array([hour])), [s1])
    np.testing.assert_allclose(tracker.visit(np.array([0]), np.array([hour + 60])), [1.0])
    # the agent credits S after the return to the user's previous visit
    agent = bound_agent(env)
    k = agent.spec.slate_size
    batch = build_batch(env.unwrapped._runner.obs, agent.spec).index(slice(0, 1))
    for t in (0.0, hour, hour + 60):
        agent.remember(batch, np.arange(k)[None], np.zeros((1, k)), np.array([7]),
                       np.array([t]), np.array([t]), np.zeros(1, bool))
    rows = agent.replay.memory.get(agent.replay.memory.held_ids())
    np.testing.assert_allclose(rows["return_reward"], [s1, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(rows["next_time"], [hour, hour + 60])
    # the true return instead: exp(-lambda0 gap), whatever S was
    agent = bound_agent(env, return_reward="return")
    for t, gap in ((0.0, -1.0), (hour, hour), (hour + 60, 60.0)):
        agent.remember(batch, np.arange(k)[None], np.zeros((1, k)), np.array([7]),
                       np.array([t]), np.array([gap]), np.zeros(1, bool))
    rows = agent.replay.memory.get(agent.replay.memory.held_ids())
    np.testing.assert_allclose(rows["return_reward"], np.exp(-ACTIVENESS_DECAY
                                                             * np.array([hour, 60])), rtol=1e-6)


def test_dbgd_perturbation_scale_and_spread():
    torch.manual_seed(0)
    w = [torch.randn(300, 200), torch.randn(50)]
    delta = perturbation(w, 0.1, torch.Generator().manual_seed(3))
    for wi, di in zip(w, delta, strict=True):
        assert di.shape == wi.shape
        assert (di.abs() <= 0.1 * wi.abs() + 1e-7).all()
    ratio = (delta[0] / (0.1 * w[0])).flatten()  # ~ U(-1, 1)
    assert abs(float(ratio.mean())) < 0.01
    assert abs(float(ratio.std()) - 1 / math.sqrt(3)) < 0.01
    assert float(ratio.min()) < -0.99 and float(ratio.max()) > 0.99


def test_interleaving_draws_positions_with_probability_proportional_to_inverse_rank_cubed():
    rng = np.random.default_rng(0)
    b, n = 100_000, 6
    first = np.tile(np.arange(n, 0, -1, dtype=float), (b, 1))  # ranks: item 0 first
    second = np.tile(np.arange(n, dtype=float), (b, 1))  # reversed: item 5 first
    mask = np.ones((b, n), dtype=np.int8)
    mask[:, 4] = 0  # a padded candidate is never drawn before the valid ones are used up
    merged, source = interleave(first, second, mask, 6, rng)
    valid = [0, 1, 2, 3, 5]
    inv = np.arange(1, 6, dtype=float) ** -3.0
    p_first = dict(zip(valid, inv / inv.sum(), strict=True))  # ranks 1..5 in list 0
    p_second = dict(zip(valid[::-1], inv / inv.sum(), strict=True))
    top = merged[:, 0]
    for item in valid:
        expected = 0.5 * p_first[item] + 0.5 * p_second[item]
        assert abs(np.mean(top == item) - expected) < 0.005
        picked0 = top[source[:, 0] == 0]  # given list 0 was picked: its own distribution
        assert abs(np.mean(picked0 == item) - p_first[item]) < 0.006
    assert (np.sort(merged, 1) == np.arange(n)).all()  # a permutation: no repeats
    assert (merged[:, 5] == 4).all() and (source[:, 5] == -1).all()
    assert set(np.unique(source[:, :5])) == {0, 1}


def test_clicks_are_credited_to_the_contributing_list():
    source = np.array([[0, 1, 0, -1], [1, 1, 0, 0]])
    shown = np.array([[1, 0, 2], [3, 0, -1]])
    clicks = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)  # the empty slot's click is ignored
    np.testing.assert_array_equal(credit(source, shown, clicks), [2, 2])


def test_dbgd_update_moves_towards_the_explore_network_only_when_it_wins(env):
    agent = bound_agent(env)
    before = [p.detach().clone() for p in agent.model.parameters()]
    agent.duel_clicks[:] = [5, 3]  # explore network loses
    assert not agent.minor_update()
    for p, q in zip(agent.model.parameters(), before, strict=True):
        torch.testing.assert_close(p, q)
    explore = [p.detach().clone() for p in agent.explorer.parameters()]
    agent.duel_clicks[:] = [3, 5]  # explore network wins
    assert agent.minor_update()
    for p, w, w_tilde in zip(agent.model.parameters(), before, explore, strict=True):
        torch.testing.assert_close(p, w + 0.05 * (w_tilde - w))  # W + eta dW, towards W~
    w = [torch.ones(3)]
    dbgd_step(w, [torch.full((3,), 0.1)], 0.05, rule="paper")  # literal W + eta W~
    torch.testing.assert_close(w[0], torch.full((3,), 1 + 0.05 * 1.1))


class Visits:
    """Wraps an agent and records every visit it was served: user, time, churned."""

    def __init__(self, base):
        self.base, self.name, self.rows = base, base.name, []

    def __getattr__(self, attr):
        return getattr(self.base, attr)

    def observe(self, obs, action, reward, info):
        self.rows.append(pd.DataFrame({"user": info["user_id"], "time": info["sim_time"],
                                       "churned": info["churned"]}))
        self.base.observe(obs, action, reward, info)

    def frame(self):
        return pd.concat(self.rows, ignore_index=True)


def expected_counts(visits: pd.DataFrame) -> dict[str, int]:
    """What every visit becomes, from the visits themselves: a completed transition if its
    user visits again, terminal if the user churned after it, else pending."""
    later = visits.groupby("user")["time"].transform("max") > visits["time"]
    churned = visits["churned"].astype(bool)
    return {"visits": len(visits), "completed": int(later.sum()),
            "terminal": int(churned.sum()), "pending": int((~later & ~churned).sum())}


CHURNY = dict(TINY, churn_after_empty_visits=1, churn_probability=0.1, episode_days=0.5)


def test_every_visit_becomes_one_transition_in_a_world_much_larger_than_the_memory():
    """Online, with 10x more visits than the memory holds: each visit is exactly one
    transition, completed by its user's next visit (however late), terminal when the user
    churned, or still pending; the memory holds the newest completed ones, each linked to
    its user's next visit."""
    env = NewsFeedVectorEnv(num_envs=16, **CHURNY)
    memory = 40
    agent = Visits(DRNAgent(seed=0, memory=memory))
    run_episode(env, agent, seed=5, progress=False, with_regret=False)
    visits = agent.frame()
    stats = agent.replay_stats()
    assert stats["visits"] >= 10 * memory and stats["in_memory"] == memory
    assert {k: stats[k] for k in ("visits", "completed", "terminal", "pending")} \
        == expected_counts(visits)
    assert stats["terminal"] > 10  # churn reached the agent
    rows = agent.replay.memory.get(agent.replay.memory.held_ids())
    for i in range(len(rows["user"])):
        mine = visits[visits["user"] == rows["user"][i]]
        if rows["done"][i]:  # terminal: the user's last visit, no next state, no return
            assert rows["time"][i] == mine["time"].max() and not rows["next_mask"][i].any()
            assert rows["return_reward"][i] == 0.0
        else:  # the user's first later visit
            assert rows["next_time"][i] == mine["time"][mine["time"] > rows["time"][i]].min()


def test_dn_does_not_wait_for_a_next_visit():
    env = NewsFeedVectorEnv(num_envs=16, **CHURNY)
    agent = Visits(make_agent("drn:dn", memory=100))
    run_episode(env, agent, days=0.2, seed=5, progress=False, with_regret=False)
    stats, expected = agent.replay_stats(), expected_counts(agent.frame())
    assert stats["pending"] == 0 and stats["terminal"] == expected["terminal"]
    assert stats["completed"] == expected["visits"] - expected["terminal"]
    assert not any(name.startswith("next_") for name in agent.replay.memory.data)


def test_warm_start_turns_every_logged_visit_into_one_transition(monkeypatch):
    """10x more logged visits than the memory holds: pretraining sees every one of them as
    a transition (completed by the user's next logged visit, terminal after a logged churn,
    or pending for the online phase), takes its epochs over all of them, then keeps the
    newest ``memory``."""
    from drnsim.agents.replay import ReplayMemory
    from drnsim.loop import pre_period

    pre = pre_period(CHURNY, seed=1, days=0.4, batch_size=16)
    logs = pre.logs
    visits = logs.drop_duplicates("visit_id").rename(columns={"user_id": "user"})
    n_visits = len(visits)
    assert n_visits >= 10 * 40 and visits["churned"].sum() > 5
    seen = {}
    resize = ReplayMemory.resize

    def spy(memory, capacity):
        seen.update(memory.get(memory.held_ids()))
        resize(memory, capacity)

    monkeypatch.setattr(ReplayMemory, "resize", spy)
    env, obs = pre.fork()
    agent = DRNAgent(seed=1, memory=40, pretrain_epochs=1.0, batch_size=64)
    agent.bind(env)
    before = [p.detach().clone() for p in agent.model.parameters()]
    agent.warm_start(logs)
    stats = agent.replay_stats()
    expected = expected_counts(visits)
    assert {k: stats[k] for k in expected} == expected and stats["in_memory"] == 40
    # every logged visit once: as a transition pretrained on, or pending
    transitions = set(zip(seen["user"].tolist(), seen["time"].tolist(), strict=True))
    assert len(transitions) == len(seen["user"]) == expected["completed"] + expected["terminal"]
    pending_users = np.flatnonzero(agent.replay.pending.slot >= 0)
    last = visits.groupby("user")["time"].max()
    assert transitions | set(zip(pending_users.tolist(), last[pending_users].tolist(),
                                     strict=True)) \
        == set(zip(visits["user"].tolist(), visits["time"].tolist(), strict=True))
    assert agent.gradient_steps == math.ceil(len(transitions) / 64)
    assert any(not torch.equal(p, q) for p, q in zip(agent.model.parameters(), before,
                                                    strict=True))
    torch.testing.assert_close(list(agent.target.parameters()), list(agent.model.parameters()))
    # the online phase completes the logged visits still pending
    back = agent.replay.pending.waiting(obs["user"]["user_id"])
    action = action_from_scores(agent.act(obs))
    _, reward, _, _, info = env.step(action)
    agent.observe(obs, action, reward, info)
    assert back.sum() > 0
    assert agent.replay_stats()["completed"] == expected["completed"] + back.sum()


def test_agent_seeds_reach_the_initial_weights_without_global_seeding(env):
    state = torch.get_rng_state()
    weights = {}
    for key, seed in (("a", 1), ("b", 1), ("c", 2)):
        agent = bound_agent(env) if seed == 1 else DRNAgent(seed=seed)
        if seed != 1:
            agent.bind(env)
        weights[key] = torch.cat([p.detach().flatten() for p in agent.model.parameters()])
    assert torch.equal(weights["a"], weights["b"])
    assert not torch.allclose(weights["a"], weights["c"])
    assert torch.equal(torch.get_rng_state(), state)  # torch's global generator untouched


def test_config_validates_every_keyword_by_name():
    from drnsim.agents.drn import DRNConfig

    assert DRNAgent(batch_size=16).cfg == DRNConfig(batch_size=16)
    for kwargs, field in ((dict(batch_size=0), "batch_size"), (dict(memory=0), "memory"),
                          (dict(gamma=1.5), "gamma"), (dict(lr=-1.0), "lr"),
                          (dict(major_steps=2.5), "major_steps"), (dict(dbgd="yes"), "dbgd"),
                          (dict(return_reward="clicks"), "return_reward"),
                          (dict(value_hidden=(0,)), "value_hidden")):
        with pytest.raises(ValueError, match=field):
            make_agent("drn", **kwargs)
    with pytest.raises(TypeError, match="bogus"):
        make_agent("drn:ddqn", bogus=1)


def test_variants_by_name():
    assert set(DRN_VARIANTS) <= set(known_agents())
    dn, ddqn, drn = make_agent("drn:dn"), make_agent("drn:ddqn"), make_agent("drn")
    assert (dn.gamma, dn.beta, dn.dbgd) == (0.0, 0.0, False)
    assert (ddqn.gamma, ddqn.beta, ddqn.dbgd) == (0.4, 0.0, False)
    assert (drn.gamma, drn.beta, drn.dbgd, drn.name) == (0.4, 0.05, True, "drn")
    assert make_agent("drn:ddqn+u").beta == 0.05 and not make_agent("drn:ddqn+u").dbgd
    eg = make_agent("drn:ddqn+u+eg", epsilon=0.2)
    assert isinstance(eg, EpsilonGreedy) and eg.epsilon == 0.2 and not eg.base.dbgd
    assert eg.name == "drn:ddqn+u+eg"
    assert isinstance(make_agent("drn:ddqn+u+ucb"), UCBExplorer)
    assert make_agent("drn", gamma=0.9, alpha=0.2).gamma == 0.9
    with pytest.raises(ValueError, match="unknown DRN variant"):
        make_agent("drn:bogus")
    with pytest.raises(ValueError, match="dbgd_rule"):
        DRNAgent(dbgd_rule="sideways")


@pytest.mark.parametrize("name", ["drn", "drn:ddqn+u+eg"])
def test_same_seed_same_scores_and_frames(name):
    def episode():
        env = NewsFeedVectorEnv(num_envs=32, **TINY)
        agent = make_agent(name, seed=3)
        frame = run_episode(env, agent, days=0.1, seed=4, progress=False, with_regret=False)
        env.reset(seed=9)
        return frame, agent.act(env.unwrapped._runner.obs)

    (f1, s1), (f2, s2) = episode(), episode()
    pd.testing.assert_frame_equal(f1, f2)
    np.testing.assert_array_equal(s1, s2)
