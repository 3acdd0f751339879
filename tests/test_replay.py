"""The DRN agent's replay memory (drnsim.agents.replay): bounded memory, one pending visit per
user, every visit exactly one transition."""

from __future__ import annotations

import numpy as np
import pytest

from drnsim.agents.replay import PendingVisits, ReplayMemory, TransitionReplay


def test_memory_is_bounded_and_evicts_the_oldest_rows():
    memory = ReplayMemory(capacity=5)
    for start in range(0, 8, 2):  # 8 rows in pushes of 2
        ids = memory.push(x=np.arange(start, start + 2, dtype=np.float32),
                          v=np.ones((2, 3)) * start)
        np.testing.assert_array_equal(ids, [start, start + 1])
    assert len(memory) == 5 and memory.pushed == 8 and memory.oldest == 3
    assert all(a.shape[0] == 5 for a in memory.data.values())  # storage never grows
    np.testing.assert_array_equal(memory.held_ids(), [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(memory.get([3, 7])["x"], [3, 7])
    with pytest.raises(KeyError, match="not held"):
        memory.get([2])  # evicted
    big = memory.push(x=np.arange(12, dtype=np.float32), v=np.zeros((12, 3)))  # > capacity
    np.testing.assert_array_equal(memory.get(memory.held_ids())["x"], [7, 8, 9, 10, 11])
    assert big[-1] == 19 and len(memory) == 5
    memory.resize(3)  # the newest three, same ids
    assert len(memory) == 3 and memory.data["x"].shape == (3,)
    np.testing.assert_array_equal(memory.get([17, 18, 19])["x"], [9, 10, 11])


def test_memory_checks_fields_and_samples_held_rows_reproducibly():
    with pytest.raises(ValueError, match="capacity"):
        ReplayMemory(0)
    memory = ReplayMemory(capacity=4)
    with pytest.raises(ValueError, match="same number of rows"):
        memory.push(x=np.zeros(2), y=np.zeros(3))
    memory.push(x=np.arange(6.0))
    with pytest.raises(ValueError, match="push fields"):
        memory.push(y=np.zeros(1))
    a = memory.sample(64, np.random.default_rng(1))
    b = memory.sample(64, np.random.default_rng(1))
    np.testing.assert_array_equal(a["id"], b["id"])
    assert set(a["x"].tolist()) <= {2.0, 3.0, 4.0, 5.0}
    np.testing.assert_array_equal(a["x"], a["id"].astype(float))


def test_pending_visits_hold_one_per_user_and_reuse_their_slots():
    pending = PendingVisits(n_users=1000)
    pending.put(np.arange(100), {"x": np.arange(100.0)})
    assert len(pending) == 100
    np.testing.assert_array_equal(pending.take(np.array([5, 7]))["x"], [5.0, 7.0])
    size = len(pending.pool["x"])
    pending.put(np.array([5, 7]), {"x": np.array([50.0, 70.0])})  # the freed slots again
    assert len(pending.pool["x"]) == size
    pending.put(np.arange(100, 1000), {"x": np.arange(100.0, 1000.0)})  # grows to all users
    np.testing.assert_array_equal(pending.take(np.array([7, 999, 0]))["x"], [70.0, 999.0, 0.0])
    assert len(pending) == 997 and not pending.waiting(np.array([7]))[0]


def visit(users, times):
    users = np.asarray(users)
    return {"state": np.asarray(times, dtype=np.float32)[:, None], "user": users,
            "time": np.asarray(times, dtype=np.float64)}


def test_a_late_return_still_completes_its_visit_and_churn_ends_a_user():
    """A visit waits for its user however many other visits come in between (here 50x the
    memory's capacity); churn makes a terminal transition at once."""
    replay = TransitionReplay(capacity=4, n_users=500, next_fields=("state", "time"))
    replay.add(np.array([0]), visit([0], [0.0]), np.zeros(1), np.zeros(1, bool))
    for t in range(1, 201):  # 200 other users' visits, each completing nothing
        replay.add(np.array([t]), visit([t], [float(t)]), np.zeros(1), np.zeros(1, bool))
    replay.add(np.array([0, 1]), visit([0, 1], [300.0, 301.0]), np.array([0.7, 0.2]),
               np.array([False, True]))
    assert replay.stats() == {"visits": 203, "completed": 2, "terminal": 1, "pending": 200,
                              "in_memory": 3}
    rows = replay.memory.get(replay.memory.held_ids())
    late = rows["user"] == 0
    assert rows["time"][late] == 0.0 and rows["next_time"][late] == 300.0
    assert rows["return_reward"][late] == pytest.approx(0.7) and not rows["done"][late]
    terminal = rows["done"]
    assert rows["time"][terminal] == 301.0 and rows["return_reward"][terminal] == 0.0
    with pytest.raises(ValueError, match="one visit per user"):
        replay.add(np.array([3, 3]), visit([3, 3], [1.0, 2.0]), np.zeros(2), np.zeros(2, bool))


def test_without_waiting_every_visit_is_a_transition_at_once():
    replay = TransitionReplay(capacity=10, n_users=5, wait=False, bootstrap=False)
    replay.add(np.array([0, 1]), visit([0, 1], [0.0, 1.0]), np.zeros(2), np.array([False, True]))
    replay.add(np.array([0]), visit([0], [2.0]), np.ones(1), np.zeros(1, bool))
    assert replay.stats() == {"visits": 3, "completed": 2, "terminal": 1, "pending": 0,
                              "in_memory": 3}
    assert not any(name.startswith("next_") for name in replay.memory.data)
    with pytest.raises(ValueError, match="wait"):
        TransitionReplay(capacity=10, n_users=5, wait=False, bootstrap=True)
