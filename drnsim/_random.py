"""Counter-based random numbers: a uniform that is a pure function of (stream key, counters).

Common random numbers between agents (docs/design.md section 2, "Randomness") need coins that do
not depend on the order in which the simulation asks for them: the click coin of item i in
visit v, the exponential gap after a user's n-th visit, the time of a channel's k-th topic
jump. Hashing the counters with SplitMix64 gives exactly that, vectorised over numpy arrays
(a compiled ufunc, so each counter costs one pass). Stream keys come from
`np.random.SeedSequence.spawn`, so every number still derives from the one episode seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64, vectorize

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def _absorb_scalar(state, counter):
    """Fold one counter into the hash state: SplitMix64 finaliser of (state ^ counter) + phi."""
    x = (state ^ counter) + uint64(_GOLDEN)
    x = (x ^ (x >> uint64(30))) * uint64(_M1)
    x = (x ^ (x >> uint64(27))) * uint64(_M2)
    return x ^ (x >> uint64(31))


# One definition, compiled twice: a numpy ufunc for array code, a scalar for kernels.
_absorb = vectorize([uint64(uint64, uint64)], cache=True)(_absorb_scalar)
absorb = njit(cache=True)(_absorb_scalar)


@njit(cache=True)
def to_uniform(state):
    """53 hash bits -> a uniform in (0, 1) (the +0.5 keeps log() finite)."""
    return (float(state >> uint64(11)) + 0.5) * 2.0 ** -53


@njit(cache=True)
def counter_normal_pair(state, j):
    """The j-th pair of independent standard normals of a hash state: Box-Muller on its
    coins 2j and 2j + 1, (r cos phi, r sin phi)."""
    radius = np.sqrt(-2.0 * np.log(to_uniform(absorb(state, uint64(2 * j)))))
    phi = 2.0 * np.pi * to_uniform(absorb(state, uint64(2 * j + 1)))
    return radius * np.cos(phi), radius * np.sin(phi)


def stream_key(seed_sequence: np.random.SeedSequence) -> np.uint64:
    """A 64-bit key for one spawned stream."""
    return np.uint64(seed_sequence.generate_state(1, dtype=np.uint64)[0])


def hash_uniform(key: np.uint64, *counters: np.ndarray | int) -> np.ndarray:
    """Uniform floats in (0, 1), one per broadcast element of the integer counters."""
    state = np.uint64(key)
    for counter in counters:
        state = _absorb(state, np.asarray(counter).astype(np.uint64, copy=False))
    return ((np.asarray(state) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


@njit(cache=True)
def _stream_uniforms(key, streams, first, second, out):
    for s in range(streams.size):
        base = absorb(key, uint64(streams[s]))
        for i in range(first.size):
            out[s, i] = to_uniform(absorb(absorb(base, uint64(first[i])), uint64(second[i])))


def stream_uniforms(key: np.uint64, streams: tuple[int, ...], first: np.ndarray,
                    second: np.ndarray) -> np.ndarray:
    """``hash_uniform(key, s, first, second)`` for each stream number s, as rows of an
    (S, B) array, in one compiled pass (the same numbers bit for bit: integer hashing and
    an exact conversion; it saves the per-counter passes on small batches)."""
    first, second = np.asarray(first), np.asarray(second)
    out = np.empty((len(streams), first.size))
    _stream_uniforms(np.uint64(key), np.asarray(streams, dtype=np.int64), first.ravel(),
                     second.ravel(), out)
    return out


def counter_normals(key: np.uint64, *counters: np.ndarray | int) -> np.ndarray:
    """Standard normals, one per broadcast element of the counters: the first of
    `counter_normal_pair` with j = 0, Box-Muller on the coins hash(key, counters..., 0) and
    hash(key, counters..., 1)."""
    radius = np.sqrt(-2.0 * np.log(hash_uniform(key, *counters, 0)))
    return radius * np.cos(2.0 * np.pi * hash_uniform(key, *counters, 1))
