"""Slate policies: every probability against exact enumeration of all slates, sampling
frequencies against the slate probabilities, and the logs they write."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from drnsim.agents import make_agent
from drnsim.logs import CANDIDATE_COLUMNS, check_logs, collect_logs, load_logs, save_logs
from drnsim.policies import (
    EpsilonGreedyPolicy,
    EpsilonMixture,
    PlackettLuce,
    PlackettLucePolicy,
    TopKPolicy,
    UniformPolicy,
)

N, K = 5, 3
MASK = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 1, 0, 0, 0]], dtype=bool)
GREEDY = np.array([[3, 1, 0], [2, 3, 0], [1, 0, -1]])
LOGITS = np.random.default_rng(0).normal(size=(3, N)) * 1.5


def distributions():
    return {"egreedy": EpsilonMixture(GREEDY, 0.3, MASK, K),
            "uniform": EpsilonMixture(None, 1.0, MASK, K),
            "topk": EpsilonMixture(GREEDY, 0.0, MASK, K),
            "plackett-luce": PlackettLuce(LOGITS, MASK, K, n_samples=3000,
                                          rng=np.random.default_rng(1))}


def enumerate_slates(dist, b):
    """{slate: probability} of visit b from `prefix` (the exact slate probability)."""
    valid = np.flatnonzero(MASK[b])
    length = min(K, len(valid))
    probs = {}
    for slate in itertools.permutations(valid, length):
        slates = np.full((3, K), -1)
        slates[b, :length] = slate
        probs[slate] = dist.prefix(slates)[b, -1]
    return probs


@pytest.mark.parametrize("name", ["egreedy", "uniform", "topk", "plackett-luce"])
def test_probabilities_match_enumeration(name):
    """Slate probabilities sum to 1; marginals, inclusions and next-item conditionals equal
    sums over the enumerated slates (exactly, or within 4 Monte-Carlo standard errors)."""
    dist = distributions()[name]
    full, full_se = dist.marginals()
    for b in range(3):
        probs = enumerate_slates(dist, b)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-12)
        exact = np.zeros((K, N))
        for slate, p in probs.items():
            for k, a in enumerate(slate):
                exact[k, a] += p
        tolerance = 4 * full_se[b] + 1e-12
        assert (np.abs(full[b] - exact) <= tolerance).all()
        assert dist.exact_marginals == (name != "plackett-luce")
        items = np.tile(np.arange(K)[None], (3, 1))
        inclusion, inclusion_se = dist.inclusion(items)
        expect = [sum(p for s, p in probs.items() if a in s) for a in range(K)]
        assert (np.abs(inclusion[b] - expect) <= 4 * inclusion_se[b] + 1e-12).all()
        slate = max(probs, key=probs.get)
        slates = np.full((3, K), -1)
        slates[b, :len(slate)] = slate
        at, _ = dist.marginals(at=slates)
        for k, a in enumerate(slate):
            assert abs(at[b, k] - exact[k, a]) <= 4 * full_se[b, k, a] + 1e-12
        nxt, prefix = dist.next_item(slates)[b], dist.prefix(slates)[b]
        for k in range(len(slate)):
            before = prefix[k - 1] if k else 1.0
            for a in range(N):
                joint = sum(p for s, p in probs.items() if s[:k] == slate[:k] and s[k] == a)
                assert nxt[k, a] == pytest.approx(joint / before, abs=1e-12)


@pytest.mark.parametrize("name", ["egreedy", "plackett-luce"])
def test_sampled_slates_follow_their_probabilities(name):
    dist = distributions()[name]
    rng = np.random.default_rng(3)
    draws = 20_000
    counts: dict[tuple, int] = {}
    for _ in range(draws):
        slate = tuple(dist.sample(rng)[0])
        counts[slate] = counts.get(slate, 0) + 1
    probs = enumerate_slates(dist, 0)
    assert set(counts) <= set(probs)
    z = [abs(counts.get(s, 0) / draws - p) / np.sqrt(p * (1 - p) / draws)
         for s, p in probs.items() if p > 1e-4]
    assert max(z) < 4.5


def test_plackett_luce_marginals_stay_positive_when_peaked():
    """An item that almost surely takes slot 1 still has a positive probability at slot 2,
    which a count of sampled slates would put at 0."""
    logits = np.array([[12.0, 0.0, 0.0, -1.0]])
    dist = PlackettLuce(logits, np.ones((1, 4), bool), 2, n_samples=64,
                        rng=np.random.default_rng(0))
    p, _ = dist.marginals(at=np.array([[1, 0]]))
    w = np.exp(logits[0] - 12.0)
    exact_second = (w[1] / w.sum() * w[0] / (w.sum() - w[1])
                    + w[2] / w.sum() * w[0] / (w.sum() - w[2])
                    + w[3] / w.sum() * w[0] / (w.sum() - w[3]))
    assert p[0, 1] > 0
    assert p[0, 1] == pytest.approx(exact_second, rel=0.2)


def test_policy_arguments_are_checked():
    with pytest.raises(ValueError, match="epsilon must be a probability"):
        EpsilonGreedyPolicy(make_agent("popular"), 1.5)
    with pytest.raises(ValueError, match="without a scorer needs epsilon = 1"):
        EpsilonGreedyPolicy(None, 0.5)
    with pytest.raises(ValueError, match="temperature must be"):
        PlackettLucePolicy(make_agent("popular"), 0.0)
    bad = TopKPolicy(lambda obs: np.zeros((1, 3)))
    obs = {"candidates": {"mask": np.ones((2, 4), np.int8)}}
    with pytest.raises(ValueError, match=r"shape \(1, 3\); expected \(2, 4\)"):
        bad.distribution(obs, 2)


WORLD = {"n_users": 300, "n_candidates": 12, "slate_size": 4}


@pytest.fixture(scope="module")
def pl_logs():
    return collect_logs(WORLD, PlackettLucePolicy(make_agent("popular"), 0.5, n_samples=64),
                        n_visits=200, seed=1, batch_size=32, candidates=True, truth=True)


def test_plackett_luce_logs_carry_exact_slates_and_monte_carlo_marginals(pl_logs, tmp_path):
    logs, candidates = pl_logs
    check_logs(logs)
    assert logs["logging_epsilon"].isna().all()
    assert (logs["propensity"] > 0).all() and (logs["propensity_se"] > 0).any()
    assert (logs.loc[logs["position"] == 0, "propensity_se"] < 1e-12).all()  # slot 1: exact
    first = logs[logs["position"] == 0]
    np.testing.assert_allclose(first["prefix_propensity"], first["propensity"])
    last = logs.sort_values("position").groupby("visit_id").tail(1)
    np.testing.assert_allclose(last["slate_propensity"], last["prefix_propensity"])
    assert list(candidates.columns) == [*CANDIDATE_COLUMNS, "attractiveness"]
    per_visit = candidates.groupby("visit_id").size()
    n_valid = logs.drop_duplicates("visit_id").set_index("visit_id")["n_valid_candidates"]
    assert (per_visit == n_valid.loc[per_visit.index]).all()
    assert candidates["attractiveness"].between(0, 1).all()
    shown = logs.merge(candidates, on=["visit_id", "candidate_index"], suffixes=("", "_c"))
    assert len(shown) == len(logs) and (shown["item_id"] == shown["item_id_c"]).all()
    for suffix in (".csv", ".parquet"):
        back = load_logs(save_logs(logs, tmp_path / f"logs{suffix}"))
        assert back["logging_epsilon"].isna().all() and back["propensity"].dtype == float
        table = load_logs(save_logs(candidates, tmp_path / f"cands{suffix}"))
        pd.testing.assert_frame_equal(table, candidates, check_dtype=False)


def test_epsilon_greedy_logs_record_the_greedy_slate():
    logs = collect_logs(WORLD, EpsilonGreedyPolicy(make_agent("popular"), 0.4), n_visits=120,
                        seed=2, batch_size=30)
    assert (logs["logging_epsilon"] == 0.4).all()
    exploit = logs[~logs["explored"]]
    assert (exploit["greedy_candidate_index"] == exploit["candidate_index"]).all()
    matched = logs["greedy_candidate_index"] == logs["candidate_index"]
    n_valid = logs["n_valid_candidates"]
    np.testing.assert_allclose(logs["propensity"], 0.6 * matched + 0.4 / n_valid)
    uniform = collect_logs(WORLD, UniformPolicy(), n_visits=60, seed=2, batch_size=30)
    m = uniform["n_valid_candidates"]
    np.testing.assert_allclose(uniform["slate_propensity"],
                               1 / (m * (m - 1) * (m - 2) * (m - 3)))
    with pytest.raises(ValueError, match="drop epsilon"):
        collect_logs(WORLD, UniformPolicy(), n_visits=10, epsilon=0.2)
    with pytest.raises(ValueError, match="needs candidates=True"):
        collect_logs(WORLD, UniformPolicy(), n_visits=10, truth=True)
