"""Stochastic slate policies and their probabilities: the logging and the target side of
off-policy evaluation (docs/design.md section 11).

A slate policy turns the candidates of B visits into a distribution over ordered slates of
K items (fewer where a visit has fewer valid candidates). ``policy.distribution(obs, K)``
returns a `SlateDistribution`, which answers every probability the estimators of
`drnsim.ope` read, for any slates ``s`` (B, K) of candidate indices (-1 = empty slot):

* ``marginals(at=s)``: P(item s_k at slot k), per slot (B, K), with a standard error (0 where
  exact); ``marginals()`` the full (B, K, N) table;
* ``inclusion(items)``: P(item anywhere in the slate);
* ``prefix(s)``: P(s_1..s_k), the probability of the slate's top k (B, K); its last column is
  the probability of the whole slate;
* ``next_item(s)``: P(item a at slot k | s_1..s_{k-1}) (B, K, N), the conditional a cascade
  estimator needs.

Policies (each wraps any scorer: an object with ``act(obs) -> (B, N)`` scores, such as every
agent of `drnsim.agents`, or a plain function of ``obs``):

* `TopKPolicy`: the scorer's K best, deterministically (what an agent does in the loop);
* `EpsilonGreedyPolicy`: with probability epsilon a uniformly random ranking of the valid
  candidates, else the scorer's top K; every probability is exact (closed forms in
  `EpsilonMixture`); `UniformPolicy` is epsilon = 1;
* `PlackettLucePolicy`: slates drawn without replacement with P(a) proportional to
  exp(z_a / temperature) over the remaining candidates, z = the scores standardised over the
  visit's valid candidates; slate and prefix probabilities are exact products, the per-slot
  marginals have no closed form and are estimated by Monte Carlo with their standard error
  (strictly positive for every candidate, so a propensity is never 0).

`sample(obs, K, rng)` draws the slates (used by `drnsim.logs.collect_logs` and by
`drnsim.ope.ground_truth`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from drnsim.envs import rank_slates

Scorer = Any
"""An object with ``act(obs) -> scores (B, N)`` (any agent) or a function ``obs -> scores``."""

#: Candidates whose Plackett-Luce logit is this far below the best are given weight
#: exp(-MAX_LOGIT_GAP) rather than 0, so every valid candidate keeps a positive probability.
MAX_LOGIT_GAP = 700.0


def candidate_scores(scorer: Scorer, obs: dict) -> np.ndarray:
    """The scorer's scores (B, N) as float64; ValueError on a wrong shape or non-finite
    scores of valid candidates."""
    act = getattr(scorer, "act", None)
    scores = np.asarray(act(obs) if callable(act) else scorer(obs), dtype=np.float64)
    mask = np.asarray(obs["candidates"]["mask"]) > 0
    if scores.shape != mask.shape:
        raise ValueError(f"the scorer returned scores of shape {scores.shape}; expected "
                         f"{mask.shape} (one score per candidate of each visit)")
    if not np.isfinite(scores[mask]).all():
        raise ValueError("the scorer returned non-finite scores (NaN or inf) for valid "
                         "candidates; scores must be finite floats, higher shown first")
    return scores


def _slot_onehot(slates: np.ndarray, n: int) -> np.ndarray:
    """(B, K, N) bool: slot k holds candidate n (empty slots hold none)."""
    b, k = slates.shape
    out = np.zeros((b, k, n), dtype=bool)
    rows, slots = np.nonzero(slates >= 0)
    out[rows, slots, slates[rows, slots]] = True
    return out


def _taken_before(slates: np.ndarray, n: int) -> np.ndarray:
    """(B, K, N) bool: candidate n is among the slate's items above slot k."""
    onehot = _slot_onehot(slates, n)
    taken = np.zeros_like(onehot)
    taken[:, 1:] = np.cumsum(onehot, axis=1)[:, :-1] > 0
    return taken


def _gather(values: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """values (B, N) at the candidates of ``slates`` (B, K); 0 in empty slots."""
    out = np.take_along_axis(values, np.maximum(slates, 0), axis=1)
    return np.where(slates >= 0, out, 0.0)


class SlateDistribution(ABC):
    """A distribution over ordered slates for each of B visits (see the module docstring).

    ``length`` (B,) is the number of shown slots, min(K, valid candidates); slots beyond it
    are empty in every slate, their marginals are 0 and their prefix probability repeats the
    whole slate's."""

    #: The probability of a uniformly random slate in an epsilon-uniform mixture (NaN for
    #: other families); the pseudo-inverse estimator needs it.
    epsilon: float = math.nan
    #: Whether `marginals` and `inclusion` are exact (else Monte Carlo with a standard error).
    exact_marginals: bool = True

    def __init__(self, mask: np.ndarray, slate_size: int):
        self.mask = np.asarray(mask) > 0
        self.slate_size = int(slate_size)
        self.n_valid = self.mask.sum(axis=1)
        self.length = np.minimum(self.slate_size, self.n_valid)
        self.slot_valid = np.arange(self.slate_size)[None, :] < self.length[:, None]
        #: The policy's most likely slate where it has one (-1 = empty slot), else None.
        self.greedy: np.ndarray | None = None

    @abstractmethod
    def marginals(self, at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(P, standard error): P(candidate at slot k), at the slates ``at`` (B, K) or for
        every candidate (B, K, N) when ``at`` is None."""

    @abstractmethod
    def inclusion(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, standard error) that each of ``items`` (B, J) candidate indices appears
        anywhere in the slate (0 for -1)."""

    @abstractmethod
    def prefix(self, slates: np.ndarray) -> np.ndarray:
        """P(slate starts with s_1..s_k) for k = 1..K (B, K), exact."""

    @abstractmethod
    def next_item(self, slates: np.ndarray) -> np.ndarray:
        """P(candidate a at slot k | the slate's items above k are s_1..s_{k-1}) (B, K, N),
        exact; 0 in empty slots and where the prefix itself has probability 0."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One slate per visit (B, K)."""


class EpsilonMixture(SlateDistribution):
    """With probability 1 - epsilon the slate ``greedy`` (B, K), else a uniformly random
    ordered subset of L = min(K, m) of the m valid candidates (epsilon = 0: deterministic;
    epsilon = 1: uniform). Exact, with u_k = prod_{j<=k} 1 / (m - j) the uniform prefix:

        P(a at slot k)          = (1 - eps) [g_k = a] + eps / m
        P(a in the slate)       = (1 - eps) [a in g] + eps L / m
        P(s_1..s_k)             = (1 - eps) [s_1..s_k = g_1..g_k] + eps u_k
        P(a at k | s_1..s_k-1)  = ((1 - eps) [s_<k = g_<k] [a = g_k]
                                   + eps u_{k-1} [a valid, not in s_<k] / (m - k + 1))
                                  / P(s_1..s_k-1)"""

    def __init__(self, greedy: np.ndarray | None, epsilon: float, mask: np.ndarray,
                 slate_size: int):
        super().__init__(mask, slate_size)
        if greedy is None:
            if epsilon != 1.0:
                raise ValueError("an epsilon mixture without a greedy slate needs epsilon = 1")
            greedy = np.full((len(self.mask), self.slate_size), -1, dtype=np.int64)
        self.greedy = np.asarray(greedy, dtype=np.int64)
        self.epsilon = float(epsilon)
        m = self.n_valid[:, None].astype(np.float64)
        k = np.arange(self.slate_size)[None, :]
        step = np.where(self.slot_valid, 1.0 / np.maximum(m - k, 1.0), 1.0)
        self.uniform_prefix = np.cumprod(step, axis=1)  # u_k, constant beyond the length
        self.uniform_marginal = np.where(self.n_valid > 0, 1.0 / np.maximum(self.n_valid, 1),
                                         0.0)

    def marginals(self, at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        eps, n = self.epsilon, self.mask.shape[1]
        if at is None:
            p = (1.0 - eps) * _slot_onehot(self.greedy, n) + (
                eps * self.uniform_marginal[:, None, None] * self.mask[:, None, :])
            p = p * self.slot_valid[..., None]
        else:
            p = (1.0 - eps) * (self.greedy == at) + eps * self.uniform_marginal[:, None]
            p = np.where(self.slot_valid & (at >= 0), p * _gather(self.mask, at), 0.0)
        return p, np.zeros_like(p)

    def inclusion(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        in_greedy = ((items[:, :, None] == self.greedy[:, None, :])
                     & (self.greedy[:, None, :] >= 0)).any(axis=2)
        p = ((1.0 - self.epsilon) * in_greedy
             + self.epsilon * (self.length * self.uniform_marginal)[:, None])
        p = np.where(items >= 0, p * _gather(self.mask, items), 0.0)
        return p, np.zeros_like(p)

    def _matches(self, slates: np.ndarray) -> np.ndarray:
        """[s_1..s_k = g_1..g_k] (B, K)."""
        return np.cumprod(slates == self.greedy, axis=1).astype(bool)

    def prefix(self, slates: np.ndarray) -> np.ndarray:
        return ((1.0 - self.epsilon) * self._matches(slates)
                + self.epsilon * self.uniform_prefix)

    def next_item(self, slates: np.ndarray) -> np.ndarray:
        b, k = slates.shape
        n = self.mask.shape[1]
        before = np.ones((b, k))
        before[:, 1:] = self.prefix(slates)[:, :-1]
        matched = np.ones((b, k), dtype=bool)
        matched[:, 1:] = self._matches(slates)[:, :-1]
        uniform_before = np.ones((b, k))
        uniform_before[:, 1:] = self.uniform_prefix[:, :-1]
        left = np.maximum(self.n_valid[:, None] - np.arange(k)[None, :], 1)  # m - k + 1
        free = self.mask[:, None, :] & ~_taken_before(slates, n)
        p = ((1.0 - self.epsilon) * (matched[..., None] & _slot_onehot(self.greedy, n))
             + self.epsilon * (uniform_before / left)[..., None] * free)
        ok = self.slot_valid & (before > 0)
        return np.where(ok[..., None], p / np.where(ok, before, 1.0)[..., None], 0.0)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        explored = rng.random(len(self.mask)) < self.epsilon
        shuffled = rank_slates(rng.random(self.mask.shape), self.mask, self.slate_size)
        return np.where(explored[:, None], shuffled, self.greedy)


class PlackettLuce(SlateDistribution):
    """Plackett-Luce over logits z (B, N): slot by slot, P(a | s_<k) = w_a / R_k with
    w = exp(z) and R_k the weight of the valid candidates not yet shown. Slate and prefix
    probabilities are the exact products; the marginals P(a at k) sum over every possible
    prefix, so they are estimated by Monte Carlo over S slates (`_draws`), with the
    standard error sd / sqrt(S)."""

    exact_marginals = False

    def __init__(self, logits: np.ndarray, mask: np.ndarray, slate_size: int,
                 n_samples: int = 256, rng: np.random.Generator | None = None):
        super().__init__(mask, slate_size)
        z = np.where(self.mask, np.asarray(logits, dtype=np.float64), -np.inf)
        top = np.max(np.where(self.mask, z, -np.inf), axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        self.logits = np.where(self.mask, np.maximum(z - top, -MAX_LOGIT_GAP), -np.inf)
        self.weight = np.where(self.mask, np.exp(self.logits), 0.0)
        self.n_samples = int(n_samples)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.greedy = rank_slates(self.logits, self.mask, self.slate_size)

    def _remaining(self, slates: np.ndarray) -> np.ndarray:
        """R_k (B, K): the weight of the valid candidates not among s_<k, summed as the
        weight outside the slate plus the slate's items from k down (no cancellation)."""
        w_slate = np.where(self.slot_valid, _gather(self.weight, slates), 0.0)
        outside = self.weight.copy()
        rows, slots = np.nonzero(slates >= 0)
        outside[rows, slates[rows, slots]] = 0.0
        outside = outside.sum(axis=1)
        tail = np.cumsum(w_slate[:, ::-1], axis=1)[:, ::-1]
        return outside[:, None] + tail

    def prefix(self, slates: np.ndarray) -> np.ndarray:
        w_slate = _gather(self.weight, slates)
        remaining = self._remaining(slates)
        p = np.where(self.slot_valid, w_slate / np.where(remaining > 0, remaining, 1.0), 1.0)
        return np.cumprod(p, axis=1)

    def next_item(self, slates: np.ndarray) -> np.ndarray:
        remaining = self._remaining(slates)
        free = self.mask[:, None, :] & ~_taken_before(slates, self.mask.shape[1])
        p = self.weight[:, None, :] * free / np.where(remaining > 0, remaining, 1.0)[..., None]
        return np.where(self.slot_valid[..., None], p, 0.0)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        gumbel = -np.log(-np.log(rng.random(self.mask.shape)))
        return rank_slates(np.where(self.mask, self.logits + gumbel, -np.inf), self.mask,
                           self.slate_size)

    def _draws(self, items: np.ndarray) -> Iterator[np.ndarray]:
        """Monte-Carlo draws (B, J, K) of P(item j at slot k), S of them, each positive for
        a valid item. Over prefixes p drawn from Plackett-Luce without item a (the slate
        drawn with the Gumbel trick, a struck out: by independence from irrelevant
        alternatives the rest is such a draw), with R_j the weight left before draw j
        without a,

            P(a at k) = E_p[ prod_{j<k} R_j / (R_j + w_a) * w_a / (R_k + w_a) ],

        since P(p, then a) / P_without_a(p) is that product. Slot 1 is exact."""
        k = self.slate_size
        w_items = _gather(self.weight, items)[..., None]  # (B, J, 1)
        shift = np.arange(k)[None, None, :]
        for _ in range(self.n_samples):
            gumbel = -np.log(-np.log(self.rng.random(self.mask.shape)))
            order = rank_slates(np.where(self.mask, self.logits + gumbel, -np.inf), self.mask,
                                k + 1)
            w_order = _gather(self.weight, order)  # (B, K + 1)
            outside = self.weight.copy()
            rows, slots = np.nonzero(order >= 0)
            outside[rows, order[rows, slots]] = 0.0
            outside = outside.sum(axis=1)[:, None]
            hit = (items[:, :, None] == order[:, None, :]) & (items[:, :, None] >= 0)
            place = np.where(hit.any(axis=2), hit.argmax(axis=2), k + 1)  # (B, J)
            kept = shift + (shift >= place[..., None])  # the sample without a, first K
            w_kept = np.take_along_axis(np.broadcast_to(w_order[:, None, :], hit.shape),
                                        kept, axis=2)
            absent = place > k
            outside_a = np.maximum(outside + np.where(absent, w_order[:, None, k]
                                                      - w_items[..., 0], 0.0), 0.0)
            remaining = outside_a[..., None] + np.cumsum(w_kept[..., ::-1], axis=2)[..., ::-1]
            total = remaining + w_items
            safe = np.where(total > 0, total, 1.0)
            survive = np.ones_like(remaining)
            survive[..., 1:] = np.cumprod(remaining / safe, axis=2)[..., :-1]
            p = survive * w_items / safe
            yield np.where(self.slot_valid[:, None, :], p, 0.0)

    def marginals(self, at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if at is None:
            every = np.broadcast_to(np.arange(self.mask.shape[1]), self.mask.shape)
            mean, se = _mean_and_se(self._draws(every))  # (B, N, K)
            keep = self.mask[..., None]
            return (np.where(keep, mean, 0.0).transpose(0, 2, 1),
                    np.where(keep, se, 0.0).transpose(0, 2, 1))
        mean, se = _mean_and_se(np.diagonal(d, axis1=1, axis2=2) for d in self._draws(at))
        return np.where(at >= 0, mean, 0.0), np.where(at >= 0, se, 0.0)

    def inclusion(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, se = _mean_and_se(d.sum(axis=2) for d in self._draws(items))
        return np.where(items >= 0, mean, 0.0), np.where(items >= 0, se, 0.0)


def _mean_and_se(draws: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a stream of equally shaped draws and its standard error sd / sqrt(S),
    accumulated one draw at a time (shifted by the first draw for accuracy)."""
    count, first, total, squares = 0, None, None, None
    for draw in draws:
        if first is None:
            first, total, squares = draw, np.zeros_like(draw), np.zeros_like(draw)
        delta = draw - first
        total += delta
        squares += delta * delta
        count += 1
    mean = first + total / count
    if count < 2:
        return mean, np.zeros_like(mean)
    variance = np.maximum(squares - total * total / count, 0.0) / (count - 1)
    return mean, np.sqrt(variance / count)


# ---------------------------------------------------------------------------------------
class SlatePolicy(ABC):
    """A stochastic slate policy (see the module docstring)."""

    name: str = "policy"
    #: True for a policy that ranks by the hidden truth (the oracle): it reads
    #: ``obs["candidates"]["attractiveness"]``, which only `drnsim.ope` provides.
    reads_truth: bool = False

    @abstractmethod
    def distribution(self, obs: dict, slate_size: int,
                     rng: np.random.Generator | None = None) -> SlateDistribution:
        """The slate distribution of the visits of ``obs``; ``rng`` drives any Monte Carlo."""

    def sample(self, obs: dict, slate_size: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, SlateDistribution, np.ndarray]:
        """(slates (B, K), their distribution, explored (B,): the slate differs from the
        policy's greedy one)."""
        dist = self.distribution(obs, slate_size, rng)
        slates = dist.sample(rng)
        greedy = dist.greedy if dist.greedy is not None else slates
        return slates, dist, (slates != greedy).any(axis=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _scorer_name(scorer: Scorer) -> str:
    return str(getattr(scorer, "name", None) or getattr(scorer, "__name__", None)
               or type(scorer).__name__)


class EpsilonGreedyPolicy(SlatePolicy):
    """With probability ``epsilon`` per visit a uniformly random ranking of the valid
    candidates, else the scorer's top K (`EpsilonMixture`: every probability exact).
    ``scorer=None`` needs epsilon = 1 (`UniformPolicy`)."""

    def __init__(self, scorer: Scorer | None = None, epsilon: float = 0.1,
                 name: str | None = None):
        if not (isinstance(epsilon, (int, float)) and 0.0 <= epsilon <= 1.0):
            raise ValueError(f"epsilon must be a probability in [0, 1], got {epsilon!r}")
        if scorer is None and epsilon != 1.0:
            raise ValueError(f"epsilon-greedy without a scorer needs epsilon = 1 (uniformly "
                             f"random slates), got epsilon={epsilon!r}")
        self.scorer, self.epsilon = scorer, float(epsilon)
        self.name = name or ("random" if scorer is None
                             else f"egreedy({self.epsilon:g}):{_scorer_name(scorer)}")

    def distribution(self, obs: dict, slate_size: int,
                     rng: np.random.Generator | None = None) -> EpsilonMixture:
        mask = obs["candidates"]["mask"]
        greedy = (None if self.scorer is None
                  else rank_slates(candidate_scores(self.scorer, obs), mask, slate_size))
        return EpsilonMixture(greedy, self.epsilon, mask, slate_size)

    def sample(self, obs: dict, slate_size: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, EpsilonMixture, np.ndarray]:
        """The draws of `drnsim.logs.collect_logs` since its first version, in the same order
        (so that logs keep their seeds): explored ~ Bernoulli(epsilon) per visit, then (for
        the uniform policy) the scores it ranks, then the random scores of explored visits."""
        mask = obs["candidates"]["mask"]
        b, n = mask.shape
        explored = rng.random(b) < self.epsilon
        scores = (candidate_scores(self.scorer, obs) if self.scorer is not None
                  else rng.random((b, n)))
        shuffled = rank_slates(rng.random((b, n)), mask, slate_size)
        greedy = rank_slates(scores, mask, slate_size)
        slates = np.where(explored[:, None], shuffled, greedy)
        dist = EpsilonMixture(greedy if self.scorer is not None else None, self.epsilon, mask,
                              slate_size)
        return slates, dist, explored


class UniformPolicy(EpsilonGreedyPolicy):
    """Uniformly random slates (epsilon-greedy with epsilon = 1)."""

    def __init__(self, name: str = "random"):
        super().__init__(None, 1.0, name=name)


class TopKPolicy(EpsilonGreedyPolicy):
    """The scorer's K best candidates, deterministically (epsilon = 0): any agent as a
    frozen target policy (its ``act`` is called, never ``observe`` or ``update``)."""

    def __init__(self, scorer: Scorer, name: str | None = None):
        super().__init__(scorer, 0.0, name=name or _scorer_name(scorer))


class PlackettLucePolicy(SlatePolicy):
    """Plackett-Luce sampling over the scorer's scores (`PlackettLuce`): logits
    z = (s - mean) / sd / temperature over each visit's valid candidates with
    ``standardize`` (so a temperature means the same for any scorer's scale), else
    s / temperature. ``n_samples`` slates per visit estimate the per-slot marginals."""

    def __init__(self, scorer: Scorer, temperature: float = 1.0, standardize: bool = True,
                 n_samples: int = 256, name: str | None = None):
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
                and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
        self.scorer, self.temperature = scorer, float(temperature)
        self.standardize, self.n_samples = bool(standardize), n_samples
        self.name = name or f"pl({self.temperature:g}):{_scorer_name(scorer)}"

    def logits(self, obs: dict) -> np.ndarray:
        """z / temperature (B, N) of the valid candidates."""
        scores = candidate_scores(self.scorer, obs)
        if self.standardize:
            mask = np.asarray(obs["candidates"]["mask"]) > 0
            n = np.maximum(mask.sum(axis=1, keepdims=True), 1)
            mean = np.where(mask, scores, 0.0).sum(axis=1, keepdims=True) / n
            sd = np.sqrt(np.where(mask, (scores - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
                         / n)
            scores = (scores - mean) / np.where(sd > 0, sd, 1.0)
        return scores / self.temperature

    def distribution(self, obs: dict, slate_size: int,
                     rng: np.random.Generator | None = None) -> PlackettLuce:
        return PlackettLuce(self.logits(obs), obs["candidates"]["mask"], slate_size,
                            self.n_samples, rng)

    def sample(self, obs: dict, slate_size: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, PlackettLuce, np.ndarray]:
        mc = np.random.default_rng(rng.integers(2**63))  # the marginals' own stream
        dist = self.distribution(obs, slate_size, mc)
        slates = dist.sample(rng)
        return slates, dist, (slates != dist.greedy).any(axis=1)


def slate_scores(slates: np.ndarray, n_candidates: int) -> np.ndarray:
    """Env scores (B, N) that show ``slates`` (B, K) in order: 1, 1 - 1/K, ... for the
    slate's candidates, -1 for every other one (the env never shows a masked candidate)."""
    b, k = slates.shape
    scores = np.full((b, n_candidates), -1.0, dtype=np.float32)
    rows, slots = np.nonzero(slates >= 0)
    scores[rows, slates[rows, slots]] = 1.0 - slots / k
    return scores


def is_slate_policy(policy: Any) -> bool:
    """Whether ``policy`` follows the `SlatePolicy` protocol (``distribution`` and
    ``sample``)."""
    return all(callable(getattr(policy, name, None)) for name in ("distribution", "sample"))


__all__ = ["EpsilonGreedyPolicy", "EpsilonMixture", "PlackettLuce", "PlackettLucePolicy",
           "SlateDistribution", "SlatePolicy", "TopKPolicy", "UniformPolicy",
           "candidate_scores", "is_slate_policy", "slate_scores"]
