"""Counter-based random numbers: a uniform that is a pure function of (stream key, counters).

Common random numbers between agents (DESIGN.md section 2, "Randomness") need coins that do
not depend on the order in which the simulation asks for them: the click coin of item i in
visit v, the exponential gap after a user's n-th visit, the time of a channel's k-th topic
jump. Hashing the counters with SplitMix64 gives exactly that, vectorised over numpy arrays.
Stream keys come from `np.random.SeedSequence.spawn`, so every number still derives from the
one episode seed.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (wrapping uint64 arithmetic)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def stream_key(seed_sequence: np.random.SeedSequence) -> np.uint64:
    """A 64-bit key for one spawned stream."""
    return np.uint64(seed_sequence.generate_state(1, dtype=np.uint64)[0])


def hash_uniform(key: np.uint64, *counters: np.ndarray | int) -> np.ndarray:
    """Uniform floats in (0, 1), one per broadcast element of the integer counters."""
    with np.errstate(over="ignore"):
        h = np.full(np.broadcast_shapes(*(np.shape(c) for c in counters)), key, dtype=np.uint64)
        for counter in counters:
            h = _mix((h ^ np.asarray(counter).astype(np.uint64)) + _GOLDEN)
    # 53 random bits -> (0, 1); the +0.5 keeps log() finite for exponential draws.
    return ((h >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)
