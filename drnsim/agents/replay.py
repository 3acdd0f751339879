"""The DRN agent's replay memory: every visit becomes exactly one transition
(docs/design.md section 12; Zheng et al. 2018, sec. 4.3 "memory").

* `ReplayMemory`: a FIFO ring buffer of rows of named numpy fields. Once ``capacity`` rows are
  held, each push overwrites the oldest ones, so memory stays bounded however long the run.
* `PendingVisits`: at most one visit per user, waiting for what comes after it; slots are
  reused, so it holds as many visits as there are users waiting, never a window of visits.
* `TransitionReplay`: DRN's transitions. A transition is a visit (state s, candidates, shown
  items, clicks) with what followed it for the same user, which decides its reward's return
  term and, with bootstrapping, its next state s'. A visit

  - waits in `PendingVisits` (when the learner needs what follows: gamma > 0 or a return
    reward) until the user comes back, however late: the return completes it, with s' =
    the new visit and the return reward the agent computed from it;
  - is a terminal transition (future 0, return reward 0) when the env says its user
    churned after it (``info["churned"]``): nothing will ever follow;
  - is a transition at once when nothing needs to follow (DN: no future, no return term);
  - stays pending at the end of the episode (it is never sampled).

  Completed and terminal transitions go into a bounded `ReplayMemory` (the newest
  ``capacity``). Counts: visits = completed + terminal + pending at any time.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplayMemory:
    """Ring buffer of rows of named fields; storage is allocated at the first `push`, with the
    shapes (after the row axis) and dtypes of the arrays pushed."""

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) \
                or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = int(capacity)
        self.pushed = 0  # rows ever pushed: the id of the next row
        self.data: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return min(self.pushed, self.capacity)

    @property
    def oldest(self) -> int:
        """Id of the oldest row still held."""
        return max(self.pushed - self.capacity, 0)

    def push(self, **rows: Any) -> np.ndarray:
        """Append n rows (every field an array with leading axis n); returns their ids. When
        the memory is full the oldest rows are overwritten (FIFO eviction)."""
        arrays = {name: np.asarray(value) for name, value in rows.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"every field needs the same number of rows, got "
                             f"{ {name: len(a) for name, a in arrays.items()} }")
        if not self.data:
            self.data = {name: np.zeros((self.capacity,) + a.shape[1:], dtype=a.dtype)
                         for name, a in arrays.items()}
        elif set(arrays) != set(self.data):
            raise ValueError(f"push fields {sorted(arrays)}, the memory holds {sorted(self.data)}")
        n = lengths.pop()
        ids = np.arange(self.pushed, self.pushed + n, dtype=np.int64)
        keep = slice(max(n - self.capacity, 0), n)  # more rows than capacity: the last ones
        for name, a in arrays.items():
            self.data[name][ids[keep] % self.capacity] = a[keep]
        self.pushed += n
        return ids

    def held_ids(self) -> np.ndarray:
        """Ids of every held row, oldest first."""
        return np.arange(self.oldest, self.pushed, dtype=np.int64)

    def get(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """The rows of some held ids (copies)."""
        ids = np.asarray(ids, dtype=np.int64)
        held = (ids >= self.oldest) & (ids < self.pushed)
        if not held.all():
            raise KeyError(f"ids {ids[~held][:5].tolist()} are not held (evicted or never "
                           f"pushed); held ids: {self.oldest}..{self.pushed - 1}")
        return {name: a[ids % self.capacity] for name, a in self.data.items()}

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` held rows drawn uniformly with replacement, with their ``id``;
        empty if the memory is."""
        pool = self.held_ids()
        ids = pool[rng.integers(len(pool), size=batch_size)] if len(pool) else pool
        return {"id": ids, **self.get(ids)}

    def resize(self, capacity: int) -> None:
        """Keep the newest ``capacity`` rows (ids unchanged) in storage of that size."""
        ids = self.held_ids()[-capacity:]
        rows = self.get(ids) if self.data else {}
        self.capacity, self.pushed = int(capacity), 0
        self.data = {}
        if rows:
            self.pushed = int(ids[0])
            self.data = {name: np.zeros((self.capacity,) + a.shape[1:], dtype=a.dtype)
                         for name, a in rows.items()}
            self.push(**rows)


class PendingVisits:
    """At most one waiting visit per user: ``slot[u]`` points into a pool of rows that grows
    (doubling) with the number of users waiting at once; a taken row is reused."""

    def __init__(self, n_users: int):
        self.slot = np.full(int(n_users), -1, dtype=np.int64)
        self.pool: dict[str, np.ndarray] = {}
        self.free: list[int] = []

    def __len__(self) -> int:
        return int((self.slot >= 0).sum())

    def waiting(self, users: np.ndarray) -> np.ndarray:
        """Whether each user has a pending visit."""
        return self.slot[users] >= 0

    def take(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """Remove and return the pending visits of ``users`` (each must have one)."""
        rows = self.slot[users]
        self.slot[users] = -1
        self.free.extend(rows.tolist())
        return {name: a[rows] for name, a in self.pool.items()}

    def put(self, users: np.ndarray, visits: dict[str, np.ndarray]) -> None:
        """Make ``visits`` the pending visits of ``users`` (distinct, none pending)."""
        n = len(users)
        if not self.pool:
            self.pool = {name: np.zeros((max(n, 64),) + a.shape[1:], dtype=a.dtype)
                         for name, a in visits.items()}
            self.free = list(range(len(next(iter(self.pool.values())))))[::-1]
        if len(self.free) < n:
            size = len(next(iter(self.pool.values())))
            grown = max(2 * size, size + n)
            self.pool = {name: np.concatenate([a, np.zeros((grown - size,) + a.shape[1:],
                                                           a.dtype)])
                         for name, a in self.pool.items()}
            self.free.extend(range(grown - 1, size - 1, -1))
        rows = np.array([self.free.pop() for _ in range(n)], dtype=np.int64)
        for name, a in visits.items():
            self.pool[name][rows] = a
        self.slot[users] = rows


class TransitionReplay:
    """Every visit as one transition (module docstring): a `PendingVisits` store and a bounded
    `ReplayMemory` of completed and terminal transitions.

    ``wait``: visits wait for their user's next visit (gamma > 0 or a return reward);
    ``bootstrap``: transitions keep the next visit's state and candidates (``next_*``
    fields; gamma > 0). A transition row holds the visit's fields, ``return_reward`` (the
    return term the completing visit carried; 0 when terminal), ``done`` (terminal) and, with
    ``bootstrap``, ``next_<field>`` for each of ``next_fields``."""

    def __init__(self, capacity: int, n_users: int, wait: bool = True, bootstrap: bool = True,
                 next_fields: tuple[str, ...] = ("state", "items", "dense", "mask")):
        if bootstrap and not wait:
            raise ValueError("bootstrapping needs the next visit: wait must be True")
        self.memory = ReplayMemory(capacity)
        self.pending = PendingVisits(n_users)
        self.wait, self.bootstrap, self.next_fields = wait, bootstrap, next_fields
        self.counts = {"visits": 0, "completed": 0, "terminal": 0}

    def __len__(self) -> int:
        """Transitions held in the bounded memory (those that can be sampled)."""
        return len(self.memory)

    def stats(self) -> dict[str, int]:
        """Counts: ``visits`` added, transitions ``completed`` (by a return, or at once
        without waiting) and ``terminal`` (churn), visits ``pending`` now, transitions
        ``in_memory`` now (visits = completed + terminal + pending)."""
        return {**self.counts, "pending": len(self.pending), "in_memory": len(self.memory)}

    def add(self, users: np.ndarray, visits: dict[str, np.ndarray], return_reward: np.ndarray,
            churned: np.ndarray) -> None:
        """Record visits of distinct ``users`` (fields with a leading visit axis). Each
        completes its user's pending visit, which becomes a transition with this visit's
        ``return_reward``; then it is itself a terminal transition if ``churned``, else it
        waits (``wait``) or is a transition at once."""
        users = np.asarray(users, dtype=np.int64)
        if len(np.unique(users)) != len(users):
            raise ValueError("add() takes one visit per user; split repeated users into rounds")
        churned = np.asarray(churned, dtype=bool)
        self.counts["visits"] += len(users)
        back = self.pending.waiting(users)
        if back.any():
            before = self.pending.take(users[back])
            after = {f"next_{name}": visits[name][back] for name in self.next_fields
                     } if self.bootstrap else {}
            self._push(before, after, np.asarray(return_reward, np.float32)[back], done=False)
            self.counts["completed"] += int(back.sum())
        now = {name: a[churned] for name, a in visits.items()}
        if churned.any():
            after = ({f"next_{name}": np.zeros_like(now[name]) for name in self.next_fields}
                     if self.bootstrap else {})
            self._push(now, after, np.zeros(int(churned.sum()), np.float32), done=True)
            self.counts["terminal"] += int(churned.sum())
        stay = ~churned
        if not stay.any():
            return
        rest = {name: a[stay] for name, a in visits.items()}
        if self.wait:
            self.pending.put(users[stay], rest)
        else:
            self._push(rest, {}, np.zeros(int(stay.sum()), np.float32), done=False)
            self.counts["completed"] += int(stay.sum())

    def _push(self, visits: dict[str, np.ndarray], after: dict[str, np.ndarray],
              return_reward: np.ndarray, done: bool) -> None:
        self.memory.push(**visits, **after, return_reward=return_reward,
                         done=np.full(len(return_reward), done))

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement from the memory."""
        return self.memory.sample(batch_size, rng)


__all__ = ["PendingVisits", "ReplayMemory", "TransitionReplay"]
