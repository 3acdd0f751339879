"""Metrics on hand-made cases (docs/design.md section 6)."""

import math

import numpy as np
import pandas as pd
import pytest

from drnsim import metrics as m


def test_ndcg_of_perfect_ranking_is_one_and_worse_rankings_less():
    relevance = np.array([[3.0, 2.0, 1.0, 0.0]])
    assert m.ndcg_at_k(relevance)[0] == pytest.approx(1.0)
    assert m.ndcg_at_k(relevance[:, ::-1])[0] < 1.0
    # clicks at ranks 1 and 3: DCG = 1 + 1/2, IDCG = 1 + 1/log2(3)
    clicks = np.array([[1.0, 0.0, 1.0, 0.0]])
    assert m.ndcg_at_k(clicks)[0] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert math.isnan(m.ndcg_at_k(np.zeros((1, 4)))[0])  # nothing relevant


def test_ils_identical_items_is_one_orthogonal_zero_single_click_nan():
    v = np.array([1.0, 2.0, 0.5])
    same = np.stack([v, 2 * v, v])[None]
    assert m.intra_list_similarity(same, np.array([[True, True, True]]))[0] == pytest.approx(1)
    eye = np.eye(3)[None]
    assert m.intra_list_similarity(eye, np.array([[True, True, False]]))[0] == pytest.approx(0)
    assert math.isnan(m.intra_list_similarity(eye, np.array([[True, False, False]]))[0])


def test_precision_at_5_and_ctr():
    shown = np.array([[0, 1, 2, 3, 4, 5], [7, 8, -1, -1, -1, -1]])
    clicks = np.array([[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(m.precision_at_k(clicks, shown, 5), [2 / 5, 1 / 2])
    assert m.ctr(clicks, shown) == pytest.approx(4 / 8)


def test_activeness_decay_and_capped_jump():
    dt = 3600.0
    assert m.activeness_decay(0.5, dt) == pytest.approx(0.5 * math.exp(-1.2e-5 * dt))
    assert m.activeness_return(0.5, dt) == pytest.approx(0.5 * math.exp(-1.2e-5 * dt) + 0.32)
    assert m.activeness_return(0.9, 1.0) == 1.0  # capped at 1
    tracker = m.ActivenessTracker(n_users=3)
    np.testing.assert_allclose(tracker.visit(np.array([0, 1]), np.array([0.0, 10.0])), 0.5)
    s = tracker.visit(np.array([0]), np.array([dt]))
    assert s[0] == pytest.approx(min(1.0, 0.5 * math.exp(-1.2e-5 * dt) + 0.32))
    assert tracker.value(np.array([2]), 5 * dt)[0] == 0.0  # never seen
    assert tracker.mean(2 * dt) == pytest.approx(
        (s[0] * math.exp(-1.2e-5 * dt) + 0.5 * math.exp(-1.2e-5 * (2 * dt - 10))) / 2)


def test_regret_is_zero_for_the_oracle_order_and_positive_otherwise():
    a = np.array([[0.1, 0.5, 0.3, 0.0]])
    theta = 1.0 / np.arange(1, 3) ** 0.8
    assert m.regret(a, np.array([[1, 2]]), theta)[0] == pytest.approx(0.0)
    worse = m.regret(a, np.array([[2, 1]]), theta)[0]
    assert worse == pytest.approx((0.5 + 0.3 * theta[1]) - (0.3 + 0.5 * theta[1]))
    cascade = m.regret(a, np.array([[0, -1]]), theta, "cascade")[0]
    assert cascade == pytest.approx((1 - 0.5 * 0.7) - 0.1)


def test_mean_ci_uses_student_t():
    mean, low, high = m.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert m.mean_ci([5.0]) == (5.0, 5.0, 5.0)


def test_episode_values_weight_rates_by_visits_and_take_last_cumulative():
    frame = pd.DataFrame({
        "agent": "a", "seed": 0, "time": [1.0, 2.0] * 3,
        "metric": ["ctr", "ctr", "visits", "visits", "cumulative_reward", "cumulative_reward"],
        "value": [0.1, 0.4, 30.0, 10.0, 5.0, 9.0]})
    values = m.episode_values(frame).set_index("metric")["value"]
    assert values["ctr"] == pytest.approx((0.1 * 30 + 0.4 * 10) / 40)
    assert values["cumulative_reward"] == 9.0 and values["visits"] == 40.0


def test_activeness_tracker_rejects_a_user_twice_in_one_call():
    from drnsim.metrics import ActivenessTracker

    tracker = ActivenessTracker(5)
    with pytest.raises(ValueError, match="distinct"):
        tracker.visit(np.array([1, 1]), np.array([0.0, 10.0]))


def test_long_run_metrics_by_hand():
    """clicks_per_user, visits_per_user_day and dwell (docs/design.md section 8) on three
    visits in two one-hour buckets, with 4 users active at the start of the horizon."""
    hour = 3600.0
    visits = pd.DataFrame({
        "time": [0.5 * hour, 0.7 * hour, 1.5 * hour], "user": [0, 1, 0],
        "clicks": [2, 0, 1], "impressions": [10, 10, 10], "p5": [0.2, 0.0, 0.2],
        "ndcg": [1.0, np.nan, 0.6], "ils": [0.3, np.nan, np.nan], "gap": [-1.0, -1.0, hour],
        "dwell": [50.0, 0.0, 10.0]})
    snapshots = pd.DataFrame({"bucket": [0, 1], "activeness": [0.5, 0.6], "churn": [0.0, 0.0]})
    rows = m.bucket_metrics(visits, snapshots, 1.0, n_users=10, slate_size=10, n_active=4)
    table = rows.pivot(index="time", columns="metric", values="value")
    np.testing.assert_allclose(table["clicks_per_user"], [2 / 4, 3 / 4])
    np.testing.assert_allclose(table["visits_per_user_day"], [2 / 4 * 24, 1 / 4 * 24])
    np.testing.assert_allclose(table["return_rate"], [2 / 10 * 24, 1 / 10 * 24])
    np.testing.assert_allclose(table["dwell"], [50.0 / 2, 10.0 / 1])
    values = m.episode_values(rows.assign(agent="a", seed=0)).set_index("metric")["value"]
    assert values["clicks_per_user"] == 3 / 4  # the last bucket: the whole horizon
    assert values["visits_per_user_day"] == pytest.approx((12 + 6) / 2)


def test_day_n_retention_by_hand():
    day = 86400.0
    users = np.array([1, 2, 3, 1, 2, 1, 4])
    times = np.array([0.1, 0.5, 0.9, 1.2, 1.5, 3.5, 3.6]) * day
    # day-0 cohort {1, 2, 3}: on day 1 users 1 and 2 come back, on day 3 user 1 (4 is new)
    assert m.retention(users, times, horizon=4 * day) == {1: 2 / 3, 3: 1 / 3}
    assert m.retention(users, times, horizon=8 * day) == {1: 2 / 3, 3: 1 / 3, 7: 0.0}
    assert m.retention(users, times, horizon=3.9 * day) == {1: 2 / 3}  # day 3 incomplete
