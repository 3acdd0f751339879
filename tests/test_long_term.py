"""The long-term world (docs/design.md section 8), measured from simulated data against the
configured parameters: clickbait, satisfaction and dwell, boredom, engagement and what it
does to returns and churn, the two oracles, and the clicks-only world at lambda = 0. Each
parameter is tested at two settings, so that a hard-coded behaviour could not pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drnsim._random import hash_uniform
from drnsim.agents import make_agent
from drnsim.agents.simple import greedy_slate
from drnsim.config import DAY, HOUR, WorldConfig
from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv, action_from_scores
from drnsim.loop import compare
from drnsim.metrics import episode_values
from drnsim.world import VisitBatch, World


def random_slates(steps: int, batch: int = 256, seed: int = 0, **config) -> pd.DataFrame:
    """One row per shown slot of uniformly random rankings, with the hidden truth of the
    item (bait, quality) and of a click on it (satisfaction), and what was observed."""
    env = NewsFeedVectorEnv(batch, **config)
    env.reset(seed=seed)
    world, rng, rows = env.world, np.random.default_rng(seed), []
    for _ in range(steps):
        batch_ = env.current_batch
        _, _, _, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        shown = info["shown"]
        items = np.take_along_axis(batch_.candidates, np.maximum(shown, 0), 1)
        satisfaction, _ = world.satisfaction(batch_, shown)
        rows.append(pd.DataFrame({
            "rank": np.tile(np.arange(1, shown.shape[1] + 1), len(shown)),
            "bait": world.news.bait[items].ravel(), "quality": world.news.quality[items].ravel(),
            "satisfaction": satisfaction.ravel(), "click": info["clicks"].ravel(),
            "dwell": info["dwell"].ravel(), "valid": (shown >= 0).ravel()}))
        if truncated.any():
            break
    frame = pd.concat(rows, ignore_index=True)
    return frame[frame.valid]


def _world(seed: int = 0, **config) -> World:
    world = World(WorldConfig(**config))
    world.reset(seed)
    return world


# --- clickbait, satisfaction, dwell ---------------------------------------------------------
@pytest.mark.parametrize("strength", [0.5, 1.5])
def test_bait_raises_ctr_by_its_configured_weight(strength: float):
    """log P(click) rises by lambda w_bait per unit of bait. Relevance and quality are
    switched off and the click bias is low, so the sigmoid stays in its exponential regime
    (d log a / d b = lambda w_bait (1 - a)) over the bait range fitted."""
    logs = random_slates(60, n_users=6000, click_bias=-5.0, relevance_weight=0.0,
                         quality_weight=0.0, episode_days=30.0, tradeoff_strength=strength)
    logs = logs[logs.bait < 2.0]
    bins = pd.qcut(logs.bait, 8)
    by_bait = logs.groupby(bins, observed=True).agg(bait=("bait", "mean"),
                                                     ctr=("click", "mean"))
    slope = np.polyfit(by_bait.bait, np.log(by_bait.ctr), 1)[0]
    assert slope == pytest.approx(strength * 1.0, rel=0.15)


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_bait_moves_clicks_only_when_the_tradeoff_is_on(strength: float):
    logs = random_slates(60, n_users=6000, click_bias=-3.0, relevance_weight=0.0,
                         quality_weight=0.0, episode_days=30.0, tradeoff_strength=strength)
    top, bottom = logs[logs.bait > logs.bait.quantile(0.8)], logs[
        logs.bait < logs.bait.quantile(0.2)]
    ratio = top.click.mean() / bottom.click.mean()
    assert ratio == pytest.approx(1.0, abs=0.1) if strength == 0 else ratio > 2.0


@pytest.mark.parametrize("disappointment", [0.5, 2.0])
def test_satisfaction_falls_with_bait_by_the_disappointment(disappointment: float):
    logs = random_slates(10, n_users=3000, bait_disappointment=disappointment)
    slope = np.polyfit(logs.bait, logs.satisfaction - logs.quality, 1)[0]
    assert slope == pytest.approx(-disappointment, rel=0.05)
    clicked = logs[logs.click]
    assert (clicked.dwell > 0).all() and (logs[~logs.click].dwell == 0).all()


@pytest.mark.parametrize("gain", [0.3, 1.0])
def test_dwell_rises_with_satisfaction_by_its_gain(gain: float):
    """log dwell = log median + g_d s + noise: slope g_d, intercept log median."""
    logs = random_slates(30, n_users=3000, dwell_satisfaction_gain=gain,
                         dwell_median_seconds=45.0)
    clicked = logs[logs.click]
    slope, intercept = np.polyfit(clicked.satisfaction, np.log(clicked.dwell), 1)
    assert slope == pytest.approx(gain, rel=0.08)
    assert np.exp(intercept) == pytest.approx(45.0, rel=0.08)


def test_dwell_is_the_same_in_single_and_vector_env_and_in_the_logs():
    from drnsim.logs import collect_logs

    small = dict(n_users=400, episode_days=2.0)
    prefetch = 8
    single, vector = NewsFeedEnv(prefetch=prefetch, **small), NewsFeedVectorEnv(prefetch, **small)
    single.reset(seed=2)
    vector.reset(seed=2)
    actions = np.random.default_rng(0).uniform(-1, 1, (30, prefetch, 100)).astype(np.float32)
    clicked = 0
    for step in actions:
        dwell = np.stack([single.step(a)[4]["dwell"] for a in step])
        info = vector.step(step)[4]
        np.testing.assert_array_equal(dwell, info["dwell"])
        assert info["dwell"].dtype == np.float32
        clicked += int(info["clicks"].sum())
    assert clicked > 20
    logs = collect_logs(small, None, n_visits=300, seed=2)
    assert ((logs.dwell > 0) == (logs.click == 1)).all()


# --- boredom and engagement -------------------------------------------------------------------
def _visit(world: World, users: np.ndarray, times: np.ndarray, items: np.ndarray,
           clicks: np.ndarray, satisfaction: np.ndarray | None = None) -> None:
    """Apply the engagement update of a visit with the given shown item ids and clicks."""
    satisfaction = np.zeros(items.shape) if satisfaction is None else satisfaction
    world.users.update_engagement(users, times, items, clicks, satisfaction, world.news.topic)
    world.users.last_visit[users] = times


@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_monotone_slates_lower_engagement_by_the_slate_weight(weight: float):
    world = _world(n_users=600, boredom_slate_weight=weight, tradeoff_strength=1.0)
    world.news.ensure(DAY)
    users, k = np.arange(600), world.config.slate_size
    topic = world.news.topic[: len(world.news)]
    one_topic = np.flatnonzero(topic == 0)[:k]
    distinct = np.array([np.flatnonzero(topic == c)[0] for c in range(k)])
    none = np.zeros((600, k), dtype=bool)
    _visit(world, users[:300], np.zeros(300), np.tile(one_topic, (300, 1)), none[:300])
    _visit(world, users[300:], np.zeros(300), np.tile(distinct, (300, 1)), none[300:])
    np.testing.assert_allclose(world.users.engagement[:300], -weight)
    np.testing.assert_allclose(world.users.engagement[300:], 0.0)


def test_policies_with_monotone_slates_leave_users_less_engaged():
    """Measured in the env: a feed that fills each slate with one topic leaves its users
    with lower engagement than one that spreads the same candidates over topics."""
    def mean_engagement(spread: bool) -> float:
        env = NewsFeedVectorEnv(64, n_users=1500, episode_days=2.0)
        obs, _ = env.reset(seed=1)
        for _ in range(120):
            topic = obs["candidates"]["topic"]
            same = topic[:, :, None] == topic[:, None, :]
            # spread: the first candidate of each topic, then the second, ...;
            # monotone: every candidate of the row's most common topic first
            scores = -np.tril(same, k=-1).sum(2) if spread else same.sum(2)
            obs, *_ = env.step(action_from_scores(scores))
        return float(env.world.users.engagement[env.world.users.visit_count > 0].mean())

    assert mean_engagement(spread=False) < mean_engagement(spread=True) - 0.2


@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_clicks_on_satiated_topics_lower_engagement(weight: float):
    world = _world(n_users=2, boredom_satiation_weight=weight, satiation_hours=2.0)
    world.news.ensure(DAY)
    users, k = np.arange(2), world.config.slate_size
    item = np.flatnonzero(world.news.topic[: len(world.news)] == 3)[:2]
    # user 0 clicked the topic an hour ago, user 1 never
    world.users.record_clicks(np.array([0]), np.array([0.0]), item[:1][None, :],
                              world.news.vector)
    shown = np.full((2, k), -1)
    shown[:, 0] = item[1]
    clicks = np.zeros((2, k), dtype=bool)
    clicks[:, 0] = True
    _visit(world, users, np.full(2, HOUR), shown, clicks)
    satiation = np.exp(-HOUR / (2.0 * HOUR))
    np.testing.assert_allclose(world.users.engagement, [-weight * satiation, 0.0])


@pytest.mark.parametrize("tau_days", [1.0, 4.0])
def test_engagement_decays_with_its_time_constant(tau_days: float):
    world = _world(n_users=500, engagement_tau_days=tau_days)
    users = np.arange(500)
    world.users.engagement[:] = 2.0
    world.users.last_visit[:] = 0.0
    gaps = np.random.default_rng(0).uniform(0, 3 * DAY, 500)
    empty = np.full((500, world.config.slate_size), -1)
    _visit(world, users, gaps, empty, np.zeros(empty.shape, dtype=bool))
    slope = np.polyfit(gaps / DAY, np.log(world.users.engagement / 2.0), 1)[0]
    assert slope == pytest.approx(-1.0 / tau_days, rel=1e-6)


@pytest.mark.parametrize("gain", [0.2, 0.6])
def test_lower_engagement_lengthens_return_gaps(gain: float):
    """rate = r0 exp(g (c - c_bar) + lambda g_E tanh(E / E_s)): the mean gap of disengaged
    users (E -> -inf) over engaged ones (E -> +inf) is exp(2 lambda g_E)."""
    world = _world(n_users=40_000, engagement_gain=gain, churn_probability=0.0,
                   engagement_churn=0.0)
    users, pop = np.arange(40_000), world.users
    pop.engagement[:] = np.where(users % 2 == 0, 1e3, -1e3)
    times = np.zeros(40_000)
    gaps = pop.schedule_returns(users, times, np.ones(40_000)) * pop.base_rate
    ratio = gaps[1::2].mean() / gaps[0::2].mean()
    assert ratio == pytest.approx(np.exp(2 * gain), rel=0.04)


@pytest.mark.parametrize("churn", [0.05, 0.2])
def test_disengaged_users_churn_at_the_configured_probability(churn: float):
    world = _world(n_users=40_000, engagement_churn=churn, churn_probability=0.0)
    users, pop = np.arange(40_000), world.users
    pop.engagement[:] = np.where(users % 2 == 0, 1e3, -1e3)  # engaged / fully disengaged
    pop.schedule_returns(users, np.zeros(40_000), np.ones(40_000))
    assert pop.churned[0::2].mean() == 0.0
    assert pop.churned[1::2].mean() == pytest.approx(churn, abs=4 * np.sqrt(churn / 20_000))


# --- lambda = 0: the clicks-only world ----------------------------------------------------------
def test_tradeoff_zero_gives_the_clicks_only_gaps_churn_and_clicks_visit_for_visit():
    """At lambda = 0 every visit's clicks, next gap and churn follow the clicks-only
    formulas of docs/design.md section 2 with the world's own coins."""
    cfg = WorldConfig(n_users=600, episode_days=3.0, tradeoff_strength=0.0,
                      churn_probability=0.3, churn_after_empty_visits=2)
    env = NewsFeedVectorEnv(32, config=cfg)
    obs, _ = env.reset(seed=5)
    world, rng = env.world, np.random.default_rng(0)
    pop = world.users
    theta = 1.0 / np.arange(1, cfg.slate_size + 1) ** cfg.position_bias_kappa
    checked = 0
    streak = np.zeros(cfg.n_users, dtype=int)
    for _ in range(150):
        batch = env.current_batch
        logit = _clicks_only_logit(world, batch)
        scores = rng.uniform(-1, 1, (32, cfg.n_candidates))
        visit_no = pop.visit_count[batch.users].copy()
        _, _, _, truncated, info = env.step(action_from_scores(scores))
        shown = info["shown"]
        a = 1.0 / (1.0 + np.exp(-np.take_along_axis(logit, shown, 1)))
        coins = world.click_coins(batch, shown)
        np.testing.assert_array_equal(info["clicks"], coins < theta * a)
        n_clicks = info["clicks"].sum(1)
        rate = pop.base_rate[batch.users] * np.minimum(
            np.exp(cfg.satisfaction_gain * (n_clicks - cfg.clicks_baseline)),
            cfg.max_rate_multiplier)
        gap = -np.log(hash_uniform(pop.visit_key, 0, batch.users, visit_no)) / rate
        streak[batch.users] = np.where(n_clicks > 0, 0, streak[batch.users] + 1)
        churn = (streak[batch.users] >= 2) & (
            hash_uniform(pop.visit_key, 1, batch.users, visit_no) < 0.3)
        np.testing.assert_array_equal(pop.churned[batch.users], churn)
        expected = np.where(churn, np.inf, batch.times + gap)
        waiting = ~np.isin(batch.users, env.current_batch.users)  # not popped again already
        np.testing.assert_array_equal(world.queue.next_time[batch.users][waiting],
                                      expected[waiting])
        checked += int(waiting.sum())
        if truncated.any():
            break
    assert checked > 3000 and pop.churned.any()
    assert (pop.engagement == 0).all()


def _clicks_only_logit(world: World, batch: VisitBatch) -> np.ndarray:
    """The attractiveness logit of docs/design.md section 2 without clickbait, recomputed
    in numpy from the world's state before the visit."""
    cfg, pop, news = world.config, world.users, world.news
    items = np.maximum(batch.candidates, 0)
    relevance = np.einsum("bmd,bnd->bnm", pop.interest[batch.users], news.vector[items])
    relevance = (relevance * pop.channel_weight[batch.users][:, None, :]).max(-1)
    ring_items, ring_times, _, ring_len = pop.click_ring
    hist = ring_items[batch.users]
    stored = np.arange(cfg.history_length)[None, :] < ring_len[batch.users][:, None]
    seen = ((hist[:, None, :] == items[:, :, None]) & stored[:, None, :]).any(-1)
    recency = np.exp(-(batch.times[:, None] - ring_times[batch.users])
                     / (cfg.satiation_hours * HOUR)) * stored
    same_topic = news.topic[np.maximum(hist, 0)][:, None, :] == news.topic[items][:, :, None]
    satiation = (same_topic * recency[:, None, :]).sum(-1)
    age = batch.times[:, None] - news.pub_time[items]
    return (cfg.click_bias + cfg.relevance_weight * relevance
            + cfg.quality_weight * news.quality[items]
            - cfg.freshness_weight * age / (cfg.freshness_tau_hours * HOUR)
            - cfg.seen_penalty * seen - cfg.satiation_strength * satiation)


# --- the two oracles ------------------------------------------------------------------------
def test_greedy_slate_trades_gain_for_topic_spread_by_hand():
    gain = np.array([[1.0, 0.9, 0.5, 0.2]])
    topics = np.array([[0, 0, 1, 1]])
    mask = np.ones((1, 4), dtype=bool)
    theta = np.array([1.0, 0.5])
    # no crowding cost: the two best, in order
    np.testing.assert_array_equal(greedy_slate(gain, 0.0, topics, mask, theta), [[0, 1]])
    # slot 2: item 1 is worth 0.5 * 0.9 - c * 3, item 2 is worth 0.5 * 0.5 - c * 1
    np.testing.assert_array_equal(greedy_slate(gain, 0.11, topics, mask, theta), [[0, 2]])
    np.testing.assert_array_equal(greedy_slate(gain, 0.09, topics, mask, theta), [[0, 1]])
    # a padded candidate is never taken while a valid one is left
    np.testing.assert_array_equal(
        greedy_slate(gain, 0.0, topics, np.array([[False, True, True, True]]), theta), [[1, 2]])


def test_longterm_oracle_is_the_myopic_one_without_the_tradeoff():
    env = NewsFeedVectorEnv(32, n_users=800, tradeoff_strength=0.0)
    obs, _ = env.reset(seed=0)
    myopic, longterm = make_agent("oracle"), make_agent("oracle:longterm")
    myopic.bind(env)
    longterm.bind(env)
    k = env.config.slate_size
    for _ in range(5):
        top = np.argsort(-myopic.act(obs), axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(np.argsort(-longterm.act(obs), axis=1, kind="stable")[:, :k],
                                      top)
        obs, *_ = env.step(action_from_scores(myopic.act(obs)))


def test_looking_ahead_pays_only_when_the_tradeoff_is_on():
    """The measured proof on a small world, seed by seed on identical worlds: with the
    trade-off the far-sighted oracle earns more clicks per user at a lower CTR; without it
    the two tie (benchmarks/long_term.py has the figures with paired intervals)."""
    def per_seed(strength: float) -> pd.DataFrame:
        frame = compare(["oracle", "oracle:longterm"], seeds=(0, 1, 2), days=3.0,
                        log_days=0.0, world=dict(n_users=1000, tradeoff_strength=strength),
                        batch_size=64, with_regret=False, progress=False)
        values = episode_values(frame)
        return values.pivot_table(index=["metric", "seed"], columns="agent", values="value")

    on, off = per_seed(1.0), per_seed(0.0)
    gain = on["oracle:longterm"] - on["oracle"]
    assert (gain["clicks_per_user"] > 0).all() and (gain["ctr"] < 0).all()
    np.testing.assert_array_equal(off["oracle:longterm"], off["oracle"])


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("tradeoff_strength", -0.5), ("tradeoff_strength", float("nan")), ("bait_weight", -1.0),
    ("bait_disappointment", float("nan")), ("bait_provider_mean", -0.1),
    ("bait_item_noise", float("inf")), ("satisfaction_noise", -1.0), ("dwell_noise", -0.1),
    ("dwell_satisfaction_gain", float("nan")), ("boredom_slate_weight", -2.0),
    ("boredom_satiation_weight", float("nan")), ("engagement_gain", -0.3),
    ("engagement_tau_days", 0.0), ("engagement_tau_days", -1.0),
    ("engagement_tau_days", float("nan")), ("engagement_scale", 0.0),
    ("dwell_median_seconds", 0.0), ("engagement_churn", 1.5), ("engagement_churn", -0.01),
])
def test_bad_long_term_settings_name_the_field(field: str, value: float):
    with pytest.raises(ValueError, match=field):
        WorldConfig(**{field: value})


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_dwell_in_logs_names_the_column(bad: float):
    from drnsim.features import FeatureSpec, batch_from_logs
    from drnsim.logs import collect_logs

    cfg = WorldConfig(n_users=200)
    logs = collect_logs(cfg, None, n_visits=30, seed=0)
    logs.loc[logs.index[3], "dwell"] = bad
    with pytest.raises(ValueError, match="'dwell'"):
        batch_from_logs(logs, FeatureSpec.from_config(cfg))
