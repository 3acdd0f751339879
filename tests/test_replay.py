"""Bounded replay memory and DRN's next-visit transitions (drnsim.replay)."""

from __future__ import annotations

import numpy as np
import pytest

from drnsim.replay import NextVisitReplay, ReplayMemory


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
    np.testing.assert_array_equal(memory.alive([2, 3, 7, 8]), [False, True, True, False])
    with pytest.raises(KeyError, match="not held"):
        memory.get([2])  # evicted
    big = memory.push(x=np.arange(12, dtype=np.float32), v=np.zeros((12, 3)))  # > capacity
    np.testing.assert_array_equal(memory.get(memory.held_ids())["x"], [7, 8, 9, 10, 11])
    assert big[-1] == 19 and len(memory) == 5


def test_memory_checks_fields_and_samples_held_rows_reproducibly():
    memory = ReplayMemory(capacity=4)
    with pytest.raises(ValueError, match="capacity"):
        ReplayMemory(0)
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
    assert len(memory.sample(3, np.random.default_rng(0), eligible=np.array([], int))["id"]) == 0


def test_transitions_complete_with_the_same_users_next_visit():
    replay = NextVisitReplay(capacity=10, n_users=5)
    first = replay.add([0, 1, 2], activeness=[0.5, 0.5, 0.5], t=np.array([0.0, 1.0, 2.0]))
    assert len(replay) == 0  # all pending: nobody came back yet
    second = replay.add([1, 0], activeness=[0.9, 0.7], t=np.array([3.0, 4.0]))
    rows = replay.memory.get(first)
    np.testing.assert_array_equal(rows["next"], [second[1], second[0], -1])  # user 2 pending
    np.testing.assert_allclose(rows["activeness"], [0.7, 0.9, 0.0])
    np.testing.assert_array_equal(replay.completed_ids(), first[:2])
    visit, nxt = replay.sample(50, np.random.default_rng(0))
    assert set(visit["id"].tolist()) <= set(first[:2].tolist())
    # the next visit is the same user's: user 0 -> t 4, user 1 -> t 3
    np.testing.assert_array_equal(np.where(visit["t"] == 0.0, 4.0, 3.0), nxt["t"])
    with pytest.raises(ValueError, match="one visit per user"):
        replay.add([3, 3], activeness=[0, 0], t=np.zeros(2))


def test_pending_transitions_are_dropped_once_their_visit_is_evicted():
    replay = NextVisitReplay(capacity=2, n_users=3)
    replay.add([0], activeness=[0.5], t=np.zeros(1))
    replay.add([1, 2], activeness=[0.5, 0.5], t=np.ones(2))  # evicts user 0's visit
    replay.add([0], activeness=[1.0], t=np.full(1, 2.0))  # user 0 returns too late
    assert len(replay) == 0 and len(replay.memory) == 2
