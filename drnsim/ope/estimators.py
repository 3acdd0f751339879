"""Slate off-policy estimators of a target policy pi's value from slates logged by mu.

Notation: visit i = 1..n with context x_i, logged slate s_i = (s_i1, ..., s_iK) (candidate
indices, empty slots allowed), click r_ik at slot k, R_i = sum_k r_ik. The value is the
expected clicks per visit V(pi) = E_x E_{s ~ pi(.|x)} E[R | x, s]. Each estimator is a
function of a `SlateFeedback` (the per-visit arrays of both policies' probabilities, built
by `drnsim.ope.target_feedback` from the logs) returning per-visit terms t_i and, for a
self-normalised estimator, weights d_i: V_hat = sum_i t_i / sum_i d_i (d_i = 1 otherwise).
`value_and_interval` turns them into the estimate and a 95% interval: analytic (central limit
theorem over visits, the delta method for a ratio) or a percentile bootstrap over visits.
Both treat visits as independent and take the reward model of DM and DR as fixed (it is
fitted on the same logs, so their intervals leave out its error).

Each function's docstring gives its equation, its assumption and the logs columns it reads;
`ESTIMATORS` maps the names to them. The interface follows Open Bandit Pipeline's slate
estimators (`SlateStandardIPS`, `SlateIndependentIPS`, `SlateRewardInteractionIPS`,
`SlateCascadeDoublyRobust`), without depending on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from drnsim.metrics import t_quantile_975


@dataclass
class SlateFeedback:
    """What the estimators read, per visit (n,) or per visit and slot (n, K).

    Logging side (from the logs columns in brackets): ``logging_marginal`` mu_k(s_ik)
    [propensity], ``logging_prefix`` mu(s_i1..s_ik) [prefix_propensity], ``logging_slate``
    mu(s_i) [slate_propensity], ``logging_epsilon`` and ``greedy_match`` [g_ik = s_ik],
    ``greedy_overlap`` |g_i and s_i| [logging_epsilon, greedy_candidate_index], ``n_valid``
    [n_valid_candidates]. Target side (from pi's `drnsim.policies.SlateDistribution` on the
    logged candidates): ``target_marginal`` pi_k(s_ik), ``target_prefix``, ``target_slate``,
    ``target_inclusion`` pi(s_ik in the slate), ``target_marginal_greedy`` pi_k(g_ik),
    ``target_inclusion_greedy``. Reward model r_hat_k(x, a) (DM, DR): ``rhat`` r_hat_k(s_ik),
    ``dm_slot`` sum_a pi_k(a) r_hat_k(a), ``next_expected`` sum_a pi(a at k | s_i,<k)
    r_hat_k(a)."""

    reward: np.ndarray
    shown: np.ndarray
    logging_marginal: np.ndarray | None = None
    logging_prefix: np.ndarray | None = None
    logging_slate: np.ndarray | None = None
    logging_epsilon: np.ndarray | None = None
    greedy_match: np.ndarray | None = None
    greedy_overlap: np.ndarray | None = None
    n_valid: np.ndarray | None = None
    target_marginal: np.ndarray | None = None
    target_prefix: np.ndarray | None = None
    target_slate: np.ndarray | None = None
    target_inclusion: np.ndarray | None = None
    target_marginal_greedy: np.ndarray | None = None
    target_inclusion_greedy: np.ndarray | None = None
    rhat: np.ndarray | None = None
    dm_slot: np.ndarray | None = None
    next_expected: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.reward)

    def subset(self, rows: np.ndarray) -> SlateFeedback:
        """The feedback of some visits (a bootstrap resample)."""
        return SlateFeedback(**{f.name: None if getattr(self, f.name) is None
                                else getattr(self, f.name)[rows] for f in fields(self)})


#: Where each logging-side field comes from, for error messages.
LOGS_COLUMN = {"logging_marginal": "propensity", "logging_prefix": "prefix_propensity",
               "logging_slate": "slate_propensity", "logging_epsilon": "logging_epsilon",
               "greedy_match": "greedy_candidate_index",
               "greedy_overlap": "greedy_candidate_index",
               "n_valid": "n_valid_candidates"}

Terms = tuple[np.ndarray, np.ndarray | None]


# ---------------------------------------------------------------------------------------
def naive(d: SlateFeedback) -> Terms:
    """The logged mean, V_hat = 1/n sum_i R_i: the logging policy's own value, what a team
    assumes when it ignores that pi differs from mu (the no-correction baseline). Reads:
    click."""
    return d.reward.sum(axis=1), None


def dm(d: SlateFeedback) -> Terms:
    """Direct method: V_hat = 1/n sum_i sum_k sum_a pi_k(a | x_i) r_hat_k(x_i, a) (Dudik et
    al. 2011, eq. 1, with slot rewards). Assumes the reward model is right: clicks at a
    slot depend only on (x, item, slot) through r_hat_k = sigmoid(f(x, a) + beta_k), f a zoo
    model fitted on the logs, beta_k per-slot offsets. No propensities; biased where the
    model is wrong, low variance. Reads: the logs' features and clicks (to fit r_hat)."""
    return (d.dm_slot * d.shown).sum(axis=1), None


def ips(d: SlateFeedback) -> Terms:
    """Slate IPS: V_hat = 1/n sum_i pi(s_i | x_i) / mu(s_i | x_i) R_i (Horvitz-Thompson over
    whole slates; OBP's SlateStandardIPS). No assumption on how clicks arise; unbiased where
    mu(s) > 0 whenever pi(s) > 0, but the weights are 0 unless the logged slate is exactly
    one pi could show, so its variance grows with the number of slates. Reads:
    slate_propensity."""
    return d.target_slate / d.logging_slate * d.reward.sum(axis=1), None


def snips(d: SlateFeedback) -> Terms:
    """Self-normalised slate IPS: V_hat = sum_i w_i R_i / sum_i w_i, w_i = pi(s_i)/mu(s_i)
    (Swaminathan and Joachims 2015). Slightly biased (a ratio), lower variance than IPS;
    undefined (NaN) when no logged slate has w_i > 0. Reads: slate_propensity."""
    w = d.target_slate / d.logging_slate
    return w * d.reward.sum(axis=1), w


def iips(d: SlateFeedback) -> Terms:
    """Independent (position-based) IPS: V_hat = 1/n sum_i sum_k pi_k(s_ik) / mu_k(s_ik)
    r_ik (Li et al. 2018, "Offline evaluation of ranking policies with click models", eq. 8;
    OBP's SlateIndependentIPS). Assumes the item-position model: the click at slot k
    depends only on (x, s_k, k), as in the position-based click model; biased under a
    cascade. Needs only per-slot marginals, so far lower variance than IPS. Reads:
    propensity."""
    w = d.target_marginal / d.logging_marginal
    return (np.where(d.shown, w, 0.0) * d.reward).sum(axis=1), None


def rips(d: SlateFeedback) -> Terms:
    """Reward-interaction IPS (McInerney et al. 2020, "Counterfactual evaluation of slate
    recommendations with sequential reward interactions", eq. 9; OBP's
    SlateRewardInteractionIPS): V_hat = 1/n sum_i sum_k pi(s_i1..s_ik) / mu(s_i1..s_ik)
    r_ik. Assumes a cascade: the click at slot k depends only on the items at slots 1..k
    (true of the cascade and of the position-based click model). Variance between IIPS's
    and IPS's. Reads: prefix_propensity."""
    w = d.target_prefix / d.logging_prefix
    return (np.where(d.shown, w, 0.0) * d.reward).sum(axis=1), None


def pi_weights(d: SlateFeedback) -> np.ndarray:
    """psi_i = q_pi^T Gamma_mu^+ 1_{s_i} of the pseudo-inverse estimator, in closed form for
    a logging policy that shows a fixed slate g with probability 1 - eps and else a
    uniformly random ordered set of L = min(K, m) of the m valid candidates.

    With A, B (L x m) two slates' (or mixtures') slot indicators, A-bar their item
    inclusions, the uniform part U = E[1_s 1_s^T] has the bilinear form
    u(A, B) = A^T U^+ B = (m - 1) <A, B> + (m - 1)/(m - L) <A-bar, B-bar> - m (L - 1)/(m - L)
    (m > L; m = L: (m - 1) <A, B> - (m - 2)), and Gamma = (1 - eps) 1_g 1_g^T + eps U has
    (Sherman-Morrison inside U's range, where 1_g lies) with c = (1 - eps) / eps

        psi = (u(Q, S) - c u(Q, E) u(E, S) / (1 + c u(E, E))) / eps,

    computed in the cancellation-free form [eps u_QS + (1 - eps)(u_QS u_EE - u_QE u_ES)] /
    (eps (eps + (1 - eps) u_EE)); Q = pi's marginals, E = 1_g, S = 1_{s_i}. eps = 0 (a
    deterministic logger): Gamma^+ = 1_g 1_g^T / L^2, psi = <Q, E> <E, S> / L^2. Checked
    against numpy's pinv in the tests."""
    m = d.n_valid.astype(np.float64)
    length = d.shown.sum(axis=1).astype(np.float64)
    eps = d.logging_epsilon
    shown = d.shown
    q_s = np.where(shown, d.target_marginal, 0.0).sum(axis=1)
    q_e = np.where(shown, d.target_marginal_greedy, 0.0).sum(axis=1)
    incl_s = np.where(shown, d.target_inclusion, 0.0).sum(axis=1)
    incl_e = np.where(shown, d.target_inclusion_greedy, 0.0).sum(axis=1)
    match = (d.greedy_match & shown).sum(axis=1).astype(np.float64)
    overlap = d.greedy_overlap.astype(np.float64)
    full = m <= length  # every valid candidate is shown: permutations only
    gap = np.where(full, 1.0, m - length)
    beta = np.where(full, 0.0, (m - 1) / gap)
    gamma = np.where(full, -(m - 2), -m * (length - 1) / gap)

    def u(slot_dot: np.ndarray, inclusion_dot: np.ndarray) -> np.ndarray:
        return (m - 1) * slot_dot + beta * inclusion_dot + gamma

    u_qs, u_qe = u(q_s, incl_s), u(q_e, incl_e)
    u_es, u_ee = u(match, overlap), u(length, length)
    safe_eps = np.where(eps > 0, eps, 1.0)
    mixed = ((safe_eps * u_qs + (1 - safe_eps) * (u_qs * u_ee - u_qe * u_es))
             / (safe_eps * (safe_eps + (1 - safe_eps) * u_ee)))
    deterministic = q_e * match / np.maximum(length, 1.0) ** 2
    return np.where(eps > 0, mixed, deterministic)


def pseudo_inverse(d: SlateFeedback) -> Terms:
    """Pseudo-inverse estimator (Swaminathan et al. 2017, "Off-policy evaluation for slate
    recommendation", eq. 4): V_hat = 1/n sum_i R_i q_pi(x_i)^T Gamma_mu(x_i)^+ 1_{s_i}, with
    1_s the slot x item indicator of slate s, q_pi = E_pi[1_s] and Gamma_mu = E_mu[1_s 1_s^T].
    Assumes linearity: E[R | x, s] = sum_k phi_x(k, s_k), additive slot rewards (the
    position-based click model is; a cascade is not); then unbiased wherever the slot x item
    pairs pi uses are covered by mu, with far lower variance than IPS. Reads only the slate's
    total clicks, and needs Gamma_mu in closed form (`pi_weights`): logs from an
    epsilon-uniform logging policy (logging_epsilon, greedy_candidate_index,
    n_valid_candidates)."""
    return pi_weights(d) * d.reward.sum(axis=1), None


def dr(d: SlateFeedback) -> Terms:
    """Cascade doubly robust (Kiyohara et al. 2022, "Doubly robust off-policy evaluation for
    ranking policies under the cascade behavior model", eq. 4; OBP's SlateCascadeDoublyRobust):

        V_hat = 1/n sum_i sum_k [ w_i,1:k (r_ik - Q_hat_k(x_i, s_i,1:k))
                                  + w_i,1:k-1 E_{a ~ pi(. | x_i, s_i,<k)} Q_hat_k(x_i, s_i,<k, a) ]

    with prefix weights w_1:k = pi(s_1..s_k) / mu(s_1..s_k) (w_1:0 = 1) and
    Q_hat_k(x, s_1:k) = r_hat_k(s_k) + sum_{l > k} sum_a pi_l(a) r_hat_l(a). The terms
    telescope, so V_hat is unbiased when the prefix propensities are right (RIPS's cascade
    assumption) whatever r_hat is, and equals DM when no logged prefix matches pi's; a good
    r_hat lowers RIPS's variance. Reads: prefix_propensity and the reward model."""
    shown = d.shown
    w = np.where(shown, d.target_prefix / d.logging_prefix, 0.0)
    w_before = np.ones_like(w)
    w_before[:, 1:] = w[:, :-1]
    slot_value = np.where(shown, d.dm_slot, 0.0)
    tail = np.cumsum(slot_value[:, ::-1], axis=1)[:, ::-1] - slot_value  # sum over l > k
    terms = (w * (d.reward - d.rhat - tail) + w_before * (d.next_expected + tail))
    return np.where(shown, terms, 0.0).sum(axis=1), None


def dr_iips(d: SlateFeedback) -> Terms:
    """Doubly robust with independent per-slot weights: V_hat = 1/n sum_i sum_k
    [ sum_a pi_k(a) r_hat_k(a) + pi_k(s_ik) / mu_k(s_ik) (r_ik - r_hat_k(s_ik)) ] (Dudik et
    al. 2011's DR applied per slot under IIPS's item-position model, as in Kiyohara et al.
    2022, sec. 3). Unbiased when the click at a slot depends only on (x, item, slot) and the
    propensities are right, or when r_hat is right; lower variance than IIPS with a good
    r_hat. Reads: propensity and the reward model."""
    w = d.target_marginal / d.logging_marginal
    terms = d.dm_slot + w * (d.reward - d.rhat)
    return np.where(d.shown, terms, 0.0).sum(axis=1), None


@dataclass(frozen=True)
class Estimator:
    """An estimator: its function, what it assumes (one line) and the `SlateFeedback`
    fields it reads."""

    function: Callable[[SlateFeedback], Terms]
    assumption: str
    reads: tuple[str, ...]


ESTIMATORS: dict[str, Estimator] = {
    "naive": Estimator(naive, "none (the logging policy's own value)", ("reward",)),
    "dm": Estimator(dm, "the reward model is right", ("dm_slot",)),
    "ips": Estimator(ips, "none (full slate support)", ("logging_slate", "target_slate")),
    "snips": Estimator(snips, "none (full slate support); a ratio", ("logging_slate",
                                                                     "target_slate")),
    "iips": Estimator(iips, "item-position model (PBM)", ("logging_marginal",
                                                          "target_marginal")),
    "rips": Estimator(rips, "cascade: a click depends on the items above it",
                      ("logging_prefix", "target_prefix")),
    "pi": Estimator(pseudo_inverse, "additive slot rewards; epsilon-uniform logging",
                    ("logging_epsilon", "greedy_match", "greedy_overlap", "n_valid",
                     "target_marginal", "target_marginal_greedy", "target_inclusion",
                     "target_inclusion_greedy")),
    "dr": Estimator(dr, "cascade propensities right, or the reward model right",
                    ("logging_prefix", "target_prefix", "rhat", "dm_slot", "next_expected")),
    "dr_iips": Estimator(dr_iips, "item-position propensities right, or the reward model "
                         "right", ("logging_marginal", "target_marginal", "rhat", "dm_slot")),
}


def missing_inputs(name: str, d: SlateFeedback) -> list[str]:
    """The inputs of estimator ``name`` that ``d`` lacks, as logs columns where they come
    from the logs (an epsilon-uniform `logging_epsilon` must also be a number)."""
    missing = []
    for field_name in ESTIMATORS[name].reads:
        value = getattr(d, field_name)
        absent = value is None or (field_name == "logging_epsilon" and np.isnan(value).any())
        if absent:
            missing.append(LOGS_COLUMN.get(field_name, field_name))
    return sorted(set(missing), key=missing.index)


# ---------------------------------------------------------------------------------------
def value_and_interval(terms: np.ndarray, weights: np.ndarray | None = None,
                       interval: str = "analytic", n_bootstrap: int = 1000,
                       seed: int = 0) -> tuple[float, float, float, float]:
    """(V_hat, low, high, se) of V_hat = sum t / sum d (d = 1 without weights), 95%.
    ``analytic``: V_hat +- t_{0.975, n-1} se, se = sd(t - V_hat d) / (mean(d) sqrt(n)) (the
    CLT, with the delta method for a ratio); ``bootstrap``: the 2.5% and 97.5% quantiles of
    V_hat over ``n_bootstrap`` resamples of the visits (seeded), se their sd."""
    t = np.asarray(terms, dtype=np.float64)
    d = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    n = len(t)
    if n == 0 or d.sum() == 0:
        return math.nan, math.nan, math.nan, math.nan
    value = float(t.sum() / d.sum())
    if interval == "bootstrap":
        rng = np.random.default_rng(seed)
        draws = np.empty(n_bootstrap)
        for start in range(0, n_bootstrap, 64):
            count = min(64, n_bootstrap - start)
            rows = rng.integers(0, n, size=(count, n))
            with np.errstate(invalid="ignore", divide="ignore"):
                draws[start:start + count] = t[rows].sum(axis=1) / d[rows].sum(axis=1)
        low, high = np.nanquantile(draws, [0.025, 0.975])
        return value, float(low), float(high), float(np.nanstd(draws, ddof=1))
    if interval != "analytic":
        raise ValueError(f"interval must be 'analytic' or 'bootstrap', got {interval!r}")
    if n == 1:
        return value, value, value, 0.0
    se = float(np.std(t - value * d, ddof=1) / (d.mean() * math.sqrt(n)))
    half = t_quantile_975(n - 1) * se
    return value, value - half, value + half, se


__all__ = ["ESTIMATORS", "Estimator", "LOGS_COLUMN", "SlateFeedback", "dm", "dr", "dr_iips",
           "iips", "ips", "missing_inputs", "naive", "pi_weights", "pseudo_inverse", "rips",
           "snips", "value_and_interval"]
