"""The simulator's dynamics, measured from simulated data against the configured parameters
(docs/design.md section 2). Each parameter is tested at two settings, so that a hard-coded
behaviour could not pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drnsim.config import DAY, HOUR, WorldConfig
from drnsim.envs import NewsFeedVectorEnv, action_from_scores
from drnsim.world import World


def random_rollout(steps: int, batch: int = 512, seed: int = 0, **config) -> pd.DataFrame:
    """One row per shown slot of random rankings: user, time, rank, item age, click."""
    env = NewsFeedVectorEnv(batch, **config)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(steps):
        ages = obs["candidates"]["age"]
        obs, _, _, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        shown = info["shown"]
        rows.append(pd.DataFrame({
            "user": np.repeat(info["user_id"], shown.shape[1]),
            "time": np.repeat(info["sim_time"], shown.shape[1]),
            "rank": np.tile(np.arange(1, shown.shape[1] + 1), len(shown)),
            "age_h": np.take_along_axis(ages, np.maximum(shown, 0), 1).ravel() / HOUR,
            "click": info["clicks"].ravel(),
            "valid": (shown >= 0).ravel()}))
        if truncated.any():
            break
    frame = pd.concat(rows, ignore_index=True)
    return frame[frame.valid]


@pytest.mark.parametrize("kappa", [0.5, 1.2])
def test_position_bias_recovered_from_random_rankings(kappa: float):
    logs = random_rollout(60, n_users=5000, position_bias_kappa=kappa, episode_days=30.0)
    ctr = logs.groupby("rank").click.mean()
    slope = np.polyfit(np.log(ctr.index.to_numpy()), np.log(ctr.to_numpy() / ctr.iloc[0]), 1)[0]
    assert slope == pytest.approx(-kappa, abs=0.12)


@pytest.mark.parametrize("tau_hours", [3.0, 8.0])
def test_ctr_decays_with_item_age_as_configured(tau_hours: float):
    # the clicks-only world: clickbait's extra spread of appeal saturates more sigmoids
    logs = random_rollout(60, n_users=5000, candidate_mode="sampled", episode_days=30.0,
                          freshness_tau_hours=tau_hours, tradeoff_strength=0.0)
    young = logs[logs.age_h < 12]
    by_age = young.groupby(np.floor(young.age_h / 2) * 2 + 1).click.mean()
    slope = np.polyfit(by_age.index.to_numpy(), np.log(by_age.to_numpy()), 1)[0]
    # log a_ui falls by 1/tau per hour; the log of an average of sigmoids falls less,
    # since the most attractive items saturate (d log sigmoid(x) / dx = 1 - sigmoid(x)).
    assert -1.05 / tau_hours < slope < -0.5 / tau_hours


def _world(seed: int = 0, **config) -> World:
    world = World(WorldConfig(**config))
    world.reset(seed)
    return world


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_topic_jump_rate(rate: float):
    world = _world(n_users=2000, jump_rate_per_day=rate)
    users = np.arange(2000)
    days = 10.0
    before = world.users.channel_topic.copy()
    world.users.evolve(users, np.full(2000, days * DAY), world.news)
    jumps = world.users.jump_count.mean()
    assert jumps == pytest.approx(rate * days, abs=0.15)
    changed = (world.users.channel_topic != before).mean()
    assert (changed > 0.5) if rate else (changed == 0)


@pytest.mark.parametrize("rate", [0.5, 2.0])
def test_realised_topic_switch_rate_equals_the_jump_rate(rate: float):
    """Every jump lands on a different topic, so the topic changes seen between frequent
    touches happen at rho per channel and day (a jump that kept its topic would be invisible
    and the realised rate would fall short of rho)."""
    world = _world(n_users=2000, n_topics=3, jump_rate_per_day=rate)
    users, days, step = np.arange(2000), 6.0, 0.02
    previous, switches = world.users.channel_topic.copy(), 0
    for t in np.arange(step, days + step / 2, step):
        world.users.evolve(users, np.full(2000, t * DAY), world.news)
        switches += int((world.users.channel_topic != previous).sum())
        previous = world.users.channel_topic.copy()
    channel_days = 2000 * world.config.n_channels * days
    assert switches / channel_days == pytest.approx(rate, rel=0.06)
    # every jump is seen as a switch, but for the pairs of jumps inside one interval (a share
    # of about rho * step of the jumps)
    assert switches >= (1 - 1.5 * rate * step) * world.users.jump_count.sum()


def test_jumps_are_exogenous_whatever_the_touch_pattern():
    """Jump times and destinations do not depend on when a user is touched, so every agent
    meets the same interest jumps (common random numbers)."""
    once, often = _world(n_users=300), _world(n_users=300)
    users = np.arange(300)
    once.users.evolve(users, np.full(300, 6 * DAY), once.news)
    for t in np.linspace(0.3, 6, 20):
        often.users.evolve(users, np.full(300, t * DAY), often.news)
    np.testing.assert_array_equal(once.users.jump_count, often.users.jump_count)
    np.testing.assert_array_equal(once.users.channel_topic, often.users.channel_topic)


def test_drift_noise_depends_on_user_and_time_not_on_batch_order():
    one, other = _world(n_users=400), _world(n_users=400)
    users = np.arange(200)
    one.users.evolve(users, np.full(200, 0.7 * DAY), one.news)
    # the same users at the same time, in another order and batched with other users
    mixed = np.concatenate([users[::-1][:100], np.arange(200, 300)])
    other.users.evolve(mixed, np.full(200, 0.7 * DAY), other.news)
    other.users.evolve(users[::-1][100:], np.full(100, 0.7 * DAY), other.news)
    np.testing.assert_array_equal(one.users.interest[users], other.users.interest[users])


def test_two_agents_give_identical_interests_to_users_they_treat_identically():
    """Users whose visits fell at the same times with no clicks under two different agents
    (so no reinforcement and the same return coins) end with the same interests, although
    the agents' batches held different users in a different order."""
    trajectories = []
    for flip in (False, True):
        # few clicks and the clicks-only return model: many users treated alike
        env = NewsFeedVectorEnv(64, n_users=1500, episode_days=3.0, drift_sigma=0.8,
                                click_bias=-6.0, tradeoff_strength=0.0)
        obs, _ = env.reset(seed=4)
        visits, clicked = {}, set()
        for _ in range(150):
            scores = obs["candidates"]["age"] / 1e6  # oldest first, or newest first
            obs, _, _, _, info = env.step(action_from_scores(-scores if flip else scores))
            for user, time, clicks in zip(info["user_id"], info["sim_time"],
                                          info["clicks"].any(1), strict=True):
                visits.setdefault(int(user), []).append(float(time))
                if clicks:
                    clicked.add(int(user))
        clicked.update(env.unwrapped.current_batch.users.tolist())  # evolved, not yet served
        trajectories.append((visits, clicked, env.unwrapped.world.users.interest.copy()))
    (visits_a, clicked_a, interest_a), (visits_b, clicked_b, interest_b) = trajectories
    same = [u for u in visits_a if visits_a[u] == visits_b.get(u)
            and u not in clicked_a | clicked_b and len(visits_a[u]) > 1]
    assert len(same) > 100
    np.testing.assert_array_equal(interest_a[same], interest_b[same])
    differ = [u for u in visits_a if u in visits_b and visits_a[u] != visits_b[u]]
    assert not np.array_equal(interest_a[differ], interest_b[differ])


@pytest.mark.parametrize("theta", [0.5, 2.0])
def test_interest_drift_follows_the_configured_reversion(theta: float):
    world = _world(n_users=3000, jump_rate_per_day=0.0, drift_reversion_per_day=theta)
    users, pop = np.arange(3000), world.users
    deviation = pop.interest - world.centroids[pop.channel_topic]
    start = pop.interest.copy()
    cosines = []
    for delta in (0.25, 0.5, 1.0):
        pop.evolve(users, np.full(3000, delta * DAY), world.news)
        now = pop.interest - world.centroids[pop.channel_topic]
        autocorrelation = (deviation * now).sum() / (deviation * deviation).sum()
        assert autocorrelation == pytest.approx(np.exp(-theta * delta), abs=0.03)
        cos = (start * pop.interest).sum(-1) / (np.linalg.norm(start, axis=-1)
                                                * np.linalg.norm(pop.interest, axis=-1))
        cosines.append(cos.mean())
    assert cosines[0] > cosines[1] > cosines[2]  # a user's interest drifts away from itself


def _visits(gain: float, days: float = 4.0) -> pd.DataFrame:
    env = NewsFeedVectorEnv(256, n_users=3000, satisfaction_gain=gain, episode_days=days,
                            churn_probability=0.0, tradeoff_strength=0.0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    frames, truncated = [], np.zeros(1, bool)
    while not truncated.any():
        _, _, _, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        frames.append(pd.DataFrame({"user": info["user_id"], "time": info["sim_time"],
                                    "clicks": info["clicks"].sum(1)}))
    visits = pd.concat(frames).sort_values(["user", "time"])
    visits["next_gap"] = visits.groupby("user").time.shift(-1) - visits.time
    return visits.dropna()


@pytest.mark.parametrize("gain", [0.0, 0.5])
def test_return_gaps_shorter_after_satisfying_visits(gain: float):
    visits = _visits(gain)
    empty = visits[visits.clicks == 0].next_gap.mean()
    one = visits[visits.clicks == 1].next_gap.mean()
    # rate = r0 exp(g (clicks - c_bar)): one click shortens the mean gap by exp(g).
    assert empty / one == pytest.approx(np.exp(gain), rel=0.12)


def test_churn_happens_after_empty_streaks_and_only_then():
    world_cfg = dict(n_users=2000, episode_days=5.0, click_bias=-5.0, tradeoff_strength=0.0)
    for probability in (0.0, 0.2):
        env = NewsFeedVectorEnv(256, churn_probability=probability, **world_cfg)
        env.reset(seed=0)
        truncated = np.zeros(1, bool)
        while not truncated.any():
            _, _, _, truncated, _ = env.step(np.zeros(env.action_space.shape))
        users = env.world.users
        if probability == 0:
            assert users.churned.sum() == 0
        else:
            assert users.churned.sum() > 100
            assert (users.empty_streak[users.churned] >= 3).all()
            assert np.isinf(env.world.queue.next_time[users.churned]).all()


def test_oracle_beats_popularity_beats_random():
    def ctr(policy) -> float:
        env = NewsFeedVectorEnv(256, n_users=3000, episode_days=1.0)
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(1)
        clicks = shown = 0
        truncated = np.zeros(1, bool)
        while not truncated.any():
            scores = policy(env, obs, rng)
            obs, _, _, truncated, info = env.step(action_from_scores(scores))
            clicks += info["clicks"].sum()
            shown += (info["shown"] >= 0).sum()
        return clicks / shown

    oracle = ctr(lambda env, obs, rng: env.world.attractiveness(env.current_batch))
    popular = ctr(lambda env, obs, rng: obs["candidates"]["popularity"][..., 0]  # last hour
                  + 1e-3 * rng.random(obs["candidates"]["age"].shape))
    random = ctr(lambda env, obs, rng: rng.random(obs["candidates"]["age"].shape))
    print(f"CTR oracle {oracle:.4f}, popularity {popular:.4f}, random {random:.4f}; "
          f"oracle / random = {oracle / random:.1f}x")
    assert oracle > 2.5 * random
    assert random < popular < oracle


def test_exogenous_world_is_the_same_for_different_agents():
    """Common random numbers: news arrivals and the first visits do not depend on what the
    agent shows (docs/design.md section 2, "Randomness")."""
    def run(policy):
        env = NewsFeedVectorEnv(64, n_users=1000, episode_days=0.5)
        obs, _ = env.reset(seed=5)
        first = env.current_batch.users.copy()
        truncated = np.zeros(1, bool)
        while not truncated.any():
            obs, _, _, truncated, _ = env.step(action_from_scores(policy(env, obs)))
        return env.world, first

    oracle, oracle_first = run(lambda env, obs: env.world.attractiveness(env.current_batch))
    fresh, fresh_first = run(lambda env, obs: -obs["candidates"]["age"])
    np.testing.assert_array_equal(oracle_first, fresh_first)
    n = min(len(oracle.news), len(fresh.news))
    for name in ("pub_time", "topic", "provider", "vector", "quality"):
        np.testing.assert_array_equal(getattr(oracle.news, name)[:n], getattr(fresh.news, name)[:n])
    assert oracle.users.hist_len.sum() != fresh.users.hist_len.sum()  # behaviour did differ


def test_click_reinforces_the_explaining_channel_by_eta():
    world = _world(n_users=50, reinforcement_rate=0.2)
    users = world.users
    world.news.ensure(0.0)
    item = 0
    vector = world.news.vector[item]
    before = users.interest[7].copy()
    explain = np.argmax((before @ vector) * users.channel_weight[7])
    users.record_clicks(np.array([7]), np.array([10.0]), np.array([[item]]), world.news)
    np.testing.assert_allclose(users.interest[7, explain],
                               before[explain] + 0.2 * (vector - before[explain]), rtol=1e-5)
    others = [m for m in range(3) if m != explain]
    np.testing.assert_array_equal(users.interest[7, others], before[others])
    assert users.hist_item[7, 0] == item and users.hist_len[7] == 1


def test_satiation_lowers_appeal_of_a_recent_topic_then_wears_off():
    world = _world(n_users=50, satiation_strength=1.5, satiation_hours=2.0, seen_penalty=0.0,
                   reinforcement_rate=0.0)
    world.news.ensure(0.0)
    recent = np.flatnonzero(world.news.pub_time[:] <= 0)[::-1]  # newest first
    topic = world.news.topic[recent]
    same = recent[topic == topic[0]][:6]
    other = recent[topic != topic[0]][:3]
    user, t0 = np.array([3]), 0.0
    probe = np.concatenate([same[3:], other])[None, :]

    def appeal(t):
        return world.users.attractiveness(user, np.array([t]), probe, world.news)[0]

    fresh = appeal(t0)
    clicked = same[:3][None, :]
    world.users.record_clicks(user, np.array([t0]), clicked, world.news)
    after = appeal(t0)
    assert (after[:3] < fresh[:3]).all()  # three recent clicks on the topic satiate it
    np.testing.assert_allclose(after[3:], fresh[3:])  # other topics unaffected
    late = 48 * HOUR  # satiation decays as e^{-t / 2h}: only the freshness term is left
    def logit(p):
        return np.log(p / (1 - p))

    np.testing.assert_allclose(logit(appeal(late)) - logit(fresh),
                               -late / (world.config.freshness_tau_hours * HOUR), atol=1e-6)


# --- configuration ------------------------------------------------------------------------
def test_config_round_trips_dict_and_yaml(tmp_path):
    config = WorldConfig(n_users=123, click_model="cascade", jump_rate_per_day=1.5)
    assert WorldConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "world.yaml"
    config.to_yaml(path)
    assert WorldConfig.from_yaml(path) == config
    assert config.replace(n_users=5).n_users == 5 and config.n_users == 123


@pytest.mark.parametrize("overrides, field", [
    ({"n_userz": 3}, "n_userz"),
    ({"n_users": 0}, "n_users"),
    ({"news_per_hour": -1.0}, "news_per_hour"),
    ({"jump_rate_per_day": -0.1}, "jump_rate_per_day"),
    ({"slate_size": 101}, "slate_size"),
    ({"churn_probability": 1.5}, "churn_probability"),
    ({"candidate_mode": "best"}, "candidate_mode"),
    ({"click_model": "dbn"}, "click_model"),
    ({"n_topics": 2.5}, "n_topics"),
    ({"freshness_tau_hours": float("nan")}, "freshness_tau_hours"),
])
def test_bad_config_values_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        WorldConfig.coerce(None, **overrides)


def test_malformed_yaml_is_a_value_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("n_users: [1, 2\n")
    with pytest.raises(ValueError, match="malformed YAML"):
        WorldConfig.from_yaml(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        WorldConfig.from_yaml(path)


def test_cascade_model_clicks_at_most_once():
    env = NewsFeedVectorEnv(128, n_users=1000, click_model="cascade", click_bias=0.0)
    env.reset(seed=0)
    total = 0
    for _ in range(10):
        _, reward, _, _, info = env.step(np.zeros(env.action_space.shape))
        assert reward.max() <= 1
        total += reward.sum()
    assert total > 100  # with a high click bias nearly every scan ends in a click


def test_memory_per_user_is_bounded():
    """Per-user state is flat arrays; about 0.7 kB per user keeps 1,000,000 users near
    0.7 GB (the design target is 1.5 GB; benchmarks/env_throughput.py measures RSS)."""
    world = _world(n_users=20_000)
    users = world.users
    per_user = sum(v.nbytes for v in vars(users).values() if isinstance(v, np.ndarray)
                   and v.shape[:1] == (20_000,)) / 20_000
    per_user += world.queue.next_time.nbytes / 20_000
    assert per_user < 1000


def test_the_item_store_stays_bounded_and_histories_outlive_their_items():
    """Items two lifetimes old leave the store (`NewsStream.forget_before`): over 12 days of
    6-hour lifetimes the rows kept stay near the items of the last two lifetimes, while the
    users' histories keep the ids, topics and providers of items that have left it."""
    world = _world(n_users=2000, item_lifetime_hours=6.0, news_per_hour=400.0,
                   episode_days=12.0)
    news, rng = world.news, np.random.default_rng(0)
    k = world.config.slate_size
    stored = []
    # (a batch's visits span under an hour here; the store also holds the items a batch's
    # span adds: `World.next_batch`)
    while (batch := world.next_batch(64)) is not None and batch.times[0] < world.horizon:
        world.feedback(batch, np.argsort(-rng.random(batch.candidates.shape), axis=1)[:, :k])
        stored.append(len(news.table.pub_time))
    published = len(news)
    bound = 2 * 400 * (2 * 6 + 6) + 4096  # twice two lifetimes and a chunk, plus 4,096
    assert published > 2 * bound and news.first > 0
    assert max(stored) <= bound and news.capacity <= 2 * bound
    # a forgotten id raises, naming what is stored; -1 and stored ids read by id
    with pytest.raises(IndexError, match=f"ids {news.first}.."):
        news.topic[news.first - 1]
    np.testing.assert_array_equal(news.take("topic", np.array([-1, news.first])),
                                  [0, news.table.topic[0]])
    # histories still describe items that left the store
    obs = world.observe(world.next_batch(1) or batch)
    old = obs["history"]["item_id"] < news.first
    assert ((obs["history"]["item_id"] >= 0) & old).any()
    assert (obs["history"]["topic"][old & (obs["history"]["item_id"] >= 0)] >= 0).all()


def test_compiled_visit_coins_are_hash_uniforms_bit_for_bit():
    from drnsim._random import hash_uniform, stream_uniforms

    users = np.array([0, 7, 123_456, 2**40], dtype=np.int64)
    numbers = np.array([0, 3, 1, 99], dtype=np.int32)
    key = np.uint64(0xDEADBEEF12345678)
    coins = stream_uniforms(key, (0, 1, 3), users, numbers)
    for row, stream in enumerate((0, 1, 3)):
        assert np.array_equal(coins[row], hash_uniform(key, stream, users, numbers))


@pytest.mark.parametrize("seed", range(5))
def test_visit_queue_push_keeps_the_window_sorted_as_a_stable_insert(seed: int):
    """Pushed visits inside the horizon join the window after any visit at the same time
    (and in their own order among equal times); inf and later ones stay out of it."""
    from drnsim.world import VisitQueue

    rng = np.random.default_rng(seed)
    n = 50
    queue = VisitQueue(rng.integers(0, 20, n).astype(float), window_size=30)
    users, times = queue.pop(10)
    pushed = rng.integers(0, 25, 10).astype(float)
    pushed[rng.random(10) < 0.2] = np.inf
    expected_users, expected_times = list(queue.win_users), list(queue.win_times)
    for user, time in sorted(zip(users, pushed, strict=True), key=lambda pair: pair[1]):
        if time <= queue.horizon:
            at = int(np.searchsorted(expected_times, time, side="right"))
            expected_users.insert(at, user)
            expected_times.insert(at, time)
    queue.push(users, pushed)
    assert list(queue.win_users) == expected_users
    assert list(queue.win_times) == expected_times
    assert np.array_equal(queue.next_time[users], pushed)


@pytest.mark.parametrize("single", [False, True])
def test_popularity_counts_every_known_click_before_the_visit_and_none_after(single,
                                                                           monkeypatch):
    """A user who returns within a batch's span is served after the batch, before some of
    its clicks: the popularity a visit observes is the decayed count of the clicks the world
    has served (before this batch; the single env: before this micro-batch) that precede
    the visit, exactly, and none of its future (docs/design.md section 10.3a)."""
    from drnsim.config import WINDOWS_SECONDS
    from drnsim.envs import NewsFeedEnv

    known: list[tuple[np.ndarray, np.ndarray]] = []  # clicks handed to the counters
    observed = []
    count_clicks, observe = World.count_clicks, World.observe

    def counting(world, batch, items, clicks):
        b, j = np.nonzero(clicks)
        known.append((items[b, j], batch.times[b]))
        count_clicks(world, batch, items, clicks)

    def observing(world, batch, popularity=None):
        obs = observe(world, batch, popularity)
        clicks = [np.concatenate(part) for part in zip(*known, strict=True)] if known else \
            [np.empty(0, np.int64), np.empty(0)]
        observed.append((batch.times, batch.candidates, obs["candidates"]["popularity"],
                         *clicks))
        return obs

    monkeypatch.setattr(World, "count_clicks", counting)
    monkeypatch.setattr(World, "observe", observing)
    # many quick returners (short gaps, 64 visits a step of 800 users): late visits abound
    world = dict(n_users=800, mean_return_hours=2.0, episode_days=30.0)
    env = NewsFeedEnv(prefetch=64, **world) if single else NewsFeedVectorEnv(64, **world)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(64 * 12 if single else 12):
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    windows = np.asarray(WINDOWS_SECONDS)
    late = 0
    for times, candidates, popularity, click_items, click_times in observed:
        late += int((click_times[:, None] >= times).any(0).sum()) if len(click_times) else 0
        expected = np.zeros(popularity.shape)
        for item in np.unique(candidates[candidates >= 0]):
            tc = click_times[click_items == item]
            rows, cols = np.nonzero(candidates == item)
            age = times[rows, None] - tc[None, :]
            weight = np.where(age[..., None] > 0, np.exp(-np.maximum(age, 0)[..., None]
                                                         / windows), 0.0)
            expected[rows, cols] = weight.sum(1)
        expected[expected < 1e-6] = 0.0
        np.testing.assert_allclose(popularity, expected, rtol=1e-4, atol=1e-5)
    assert late > 10  # visits served after later clicks were known: the case at stake
