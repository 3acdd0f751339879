"""Bounded replay memory (docs/design.md section 5, DRN's "memory" of recent clicks and activeness).

* `ReplayMemory`: a FIFO ring buffer of rows of named numpy fields. Rows get consecutive ids
  (0, 1, 2, ... in push order); once ``capacity`` rows are held, each push overwrites the
  oldest ones, so memory stays bounded however long the run.
* `NextVisitReplay`: DRN's transitions (Zheng et al. 2018, sec. 4.3): a transition is a
  visit (s, shown items a, clicks) together with the SAME user's next visit s', which is only
  known when that user comes back. Every visit is stored once, in a `ReplayMemory`; a
  per-user pointer to the user's last stored visit is the pending transition, completed
  (linked to the new visit, with the activeness reward the return produced) when the user's
  next visit is recorded. Pending transitions whose visit was evicted before the user came
  back, and those of users who never return, are dropped: they are never sampled.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplayMemory:
    """Ring buffer of rows of named fields; storage is allocated at the first `push`, with the
    shapes (after the row axis) and dtypes of the arrays pushed."""

    def __init__(self, capacity: int):
        if int(capacity) < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
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

    def alive(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id is still held (pushed and not evicted)."""
        ids = np.asarray(ids)
        return (ids >= self.oldest) & (ids < self.pushed)

    def get(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """The rows of some held ids (copies)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not self.alive(ids).all():
            raise KeyError(f"ids {ids[~self.alive(ids)][:5].tolist()} are not held (evicted "
                           f"or never pushed); held ids: {self.oldest}..{self.pushed - 1}")
        return {name: a[ids % self.capacity] for name, a in self.data.items()}

    def set(self, ids: np.ndarray, **values: Any) -> None:
        """Overwrite some fields of held rows."""
        ids = np.asarray(ids, dtype=np.int64)
        for name, value in values.items():
            self.data[name][ids % self.capacity] = value

    def held_ids(self) -> np.ndarray:
        """Ids of every held row, oldest first."""
        return np.arange(self.oldest, self.pushed, dtype=np.int64)

    def sample(self, batch_size: int, rng: np.random.Generator,
               eligible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``batch_size`` rows drawn uniformly with replacement from the held rows (or from
        the held ids in ``eligible``), with their ``id``; empty if there are none."""
        pool = self.held_ids() if eligible is None else np.asarray(eligible, dtype=np.int64)
        ids = pool[rng.integers(len(pool), size=batch_size)] if len(pool) else pool
        return {"id": ids, **self.get(ids)}


class NextVisitReplay:
    """Visits of a bounded `ReplayMemory`, linked to the same user's next visit.

    Each visit row holds the caller's fields plus ``next`` (id of the user's next visit, -1
    while pending) and ``activeness`` (the activeness reward its completion carried)."""

    def __init__(self, capacity: int, n_users: int):
        self.memory = ReplayMemory(capacity)
        self.last = np.full(int(n_users), -1, dtype=np.int64)  # pending visit id per user

    def __len__(self) -> int:
        """Number of completed transitions held."""
        return len(self.completed_ids())

    def add(self, users: np.ndarray, activeness: np.ndarray, **visits: Any) -> np.ndarray:
        """Store visits of distinct ``users`` and complete each user's pending transition with
        it, crediting ``activeness`` (the activeness after this return) to the transition;
        returns the new visits' ids."""
        users = np.asarray(users, dtype=np.int64)
        if len(np.unique(users)) != len(users):
            raise ValueError("add() takes one visit per user; split repeated users into rounds")
        ids = self.memory.push(next=np.full(len(users), -1, dtype=np.int64),
                               activeness=np.zeros(len(users), dtype=np.float32), **visits)
        previous = self.last[users]
        pending = (previous >= 0) & self.memory.alive(previous)
        self.memory.set(previous[pending], next=ids[pending],
                        activeness=np.asarray(activeness, dtype=np.float32)[pending])
        self.last[users] = ids
        return ids

    def completed_ids(self) -> np.ndarray:
        """Ids of held visits whose next visit is known and still held."""
        ids = self.memory.held_ids()
        nxt = self.memory.data["next"][ids % self.memory.capacity] if len(ids) else ids
        return ids[(nxt >= 0) & self.memory.alive(nxt)]

    def sample(self, batch_size: int, rng: np.random.Generator
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``batch_size`` completed transitions drawn uniformly with replacement: the rows of
        the visits and the rows of their next visits."""
        rows = self.memory.sample(batch_size, rng, eligible=self.completed_ids())
        return rows, self.memory.get(rows["next"])


__all__ = ["NextVisitReplay", "ReplayMemory"]
