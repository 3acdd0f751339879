"""DRN: the deep reinforcement learning news recommender of Zheng et al., "DRN: A Deep
Reinforcement Learning Framework for News Recommendation", WWW 2018 (docs/design.md section 5;
the transitions: docs/design.md section 12).

The algorithm, top to bottom (paper sections in brackets); every hyperparameter is a field of
`DRNConfig`:

1. Q-network [4.3, fig. 5]: `drnsim.models.DRN`, a dueling network
   Q(s, a) = V(s) + A(s, a) - mean_{a'} A(s, a') over the request's candidates; state s =
   user + context features, action a = news + user-news features (`drnsim.features`).
2. Push: rank the candidates by Q (greedy). DRN explores by Dueling Bandit Gradient Descent
   (step 5); the ``+eg`` / ``+ucb`` variants wrap the greedy agent in an explorer instead.
3. Feedback and memory [4.3, 4.4]: every visit (s, candidates, shown items, clicks) becomes
   exactly one transition (`drnsim.agents.replay.TransitionReplay`). It waits, one pending
   visit per user, until the same user's next visit, which is its next state s' and brings
   its return term R; a visit after which the env reports the user churned
   (``info["churned"]``) is a terminal transition (no s', future 0, R = 0); DN, which needs
   neither s' nor R, turns each visit into a transition at once. Completed transitions enter
   a bounded memory (the newest ``memory``). Reward of a shown item: r = click + beta * R,
   beta = 0.05, where R is, with ``return_reward="activeness"`` (the paper), the user's
   survival estimate S right after the return (`drnsim.metrics.ActivenessTracker`: S_0 =
   0.5, S <- S exp(-lambda0 dt), and on a return S <- min(1, S exp(-lambda0 dt) + S_a),
   lambda0 = 1.2e-5 / s, S_a = 0.32), or with ``return_reward="return"`` the true return
   R = exp(-lambda0 * gap) of the observed gap between the visit and the return (the
   survival model's decay over that gap, without its accumulation and its cap at 1, which
   make S = 1 for any user who visits more often than about once a day).
4. Major update every T_major = 60 simulated minutes [4.3]: mini-batches from the replay
   memory, Double-DQN regression of Q(s, a) on
   y = r + gamma * Q'(s', argmax_{a'} Q(s', a')), gamma = 0.4 (no future term for a
   terminal transition): the online network picks a', the target network Q' (synced every
   ``target_every`` gradient steps) evaluates it.
5. Minor update every T_minor = 30 simulated minutes [4.5, DBGD]: the explore network
   W~ = W + dW, dW = alpha * U(-1, 1) * W elementwise (alpha = 0.1), ranks beside the current
   one; the two lists are merged by probabilistic interleaving (`interleave`) and each click
   is credited to the list that contributed the item (`credit`). If the explore network
   collected more clicks over the period, W <- W + eta * dW (eta = 0.05; ``dbgd_rule="paper"``
   takes the paper's literal W <- W + eta * W~). A new dW is drawn after every update.
6. Offline pretraining [4.1]: `warm_start(logs)` turns every logged visit into a transition
   the same way (s' = the user's next logged visit, whose candidates are its logged shown
   items; a logged ``churned`` ends the user; the visits still pending at the end of the
   logs are completed by the users' first visits online), takes ``pretrain_epochs`` passes
   of major-update steps over all logged transitions, then keeps the newest ``memory``.

The paper's variants are flags, registered as agent names by `make_drn`: ``drn`` (DDQN + U +
DBGD), ``drn:dn`` (no future reward, click reward only), ``drn:ddqn``, ``drn:ddqn+u``
(+ activeness), ``drn:ddqn+r`` (+ the true return instead of the activeness),
``drn:ddqn+u+eg`` (epsilon-greedy instead of DBGD), ``drn:ddqn+u+ucb``. Without DBGD there
is no minor update: the agent pushes greedily and makes major updates.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from drnsim._validate import (
    InvalidTypeError,
    boolean,
    int_at_least,
    non_negative,
    one_of,
    positive,
    probability,
)
from drnsim.agents.base import Every, Obs, unwrap_env
from drnsim.agents.explorers import EpsilonGreedy, UCBExplorer, ranking
from drnsim.agents.learned import StaticModelAgent
from drnsim.agents.replay import TransitionReplay
from drnsim.envs import scores_from_ranking
from drnsim.features import N_ITEM_DENSE, FeatureBatch, batch_from_logs, drn_action
from drnsim.metrics import ACTIVENESS_DECAY, ActivenessTracker
from drnsim.models.training import adam, resolve_device

RETURN_REWARDS = ("activeness", "return")
DBGD_RULES = ("delta", "paper")


@dataclass(frozen=True)
class DRNConfig:
    """Hyperparameters of `DRNAgent`; the defaults are the paper's (sec. 4-5) where it gives
    them. Validated on construction: a bad value raises ValueError naming the field."""

    future: bool = True
    """Bootstrap from the next visit (DDQN, gamma > 0); False: DN, no future term."""
    activeness: bool = True
    """Add the return term beta * R to the reward (+U); False: clicks only."""
    dbgd: bool = True
    """Explore by DBGD with interleaved pushes (minor updates); False: greedy pushes."""
    gamma: float = 0.4
    """Discount of the next visit's value (paper 0.4); used when ``future``."""
    beta: float = 0.05
    """Weight of the return term R in the reward (paper 0.05); used when ``activeness``."""
    return_reward: str = "activeness"
    """R: "activeness", the paper's survival estimate S after the return; "return", the true
    return exp(-lambda0 * gap) (0 when the user churns); see the module docstring."""
    alpha: float = 0.1
    """DBGD perturbation scale: dW = alpha * U(-1, 1) * W."""
    eta: float = 0.05
    """DBGD step towards a winning explore network."""
    dbgd_rule: str = "delta"
    """"delta": W <- W + eta dW; "paper": the paper's literal W <- W + eta W~."""
    interleave_power: float = 3.0
    """Probabilistic interleaving draws ranks with P proportional to 1 / rank^power."""
    minor_minutes: float = 30.0
    """Simulated minutes between minor (DBGD) updates."""
    major_minutes: float = 60.0
    """Simulated minutes between major (Double-DQN) updates."""
    major_steps: int = 20
    """Gradient steps per major update."""
    batch_size: int = 32
    """Transitions per gradient step (all their shown items are regressed)."""
    lr: float = 1e-3
    """Adam learning rate."""
    target_every: int = 40
    """Gradient steps between target-network syncs."""
    memory: int = 8192
    """Completed transitions held by the replay memory (the newest)."""
    pretrain_epochs: float = 3.0
    """Passes over the logged transitions in `DRNAgent.warm_start` (0: none)."""
    value_hidden: tuple[int, ...] = (128, 64)
    """Hidden layer sizes of the value network V(s)."""
    advantage_hidden: tuple[int, ...] = (128, 64)
    """Hidden layer sizes of the advantage network A(s, a)."""

    def __post_init__(self) -> None:
        for name in ("future", "activeness", "dbgd"):
            boolean(name, getattr(self, name))
        probability("gamma", self.gamma)
        for name in ("beta", "alpha", "pretrain_epochs"):
            non_negative(name, getattr(self, name))
        for name in ("eta", "interleave_power", "minor_minutes", "major_minutes", "lr"):
            positive(name, getattr(self, name))
        int_at_least("major_steps", self.major_steps, 0)
        for name in ("batch_size", "target_every", "memory"):
            int_at_least(name, getattr(self, name), 1)
        one_of("return_reward", self.return_reward, RETURN_REWARDS)
        one_of("dbgd_rule", self.dbgd_rule, DBGD_RULES)
        for name in ("value_hidden", "advantage_hidden"):
            sizes = getattr(self, name)
            if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
                raise InvalidTypeError(f"{name} must be a sequence of integers >= 1, got "
                                       f"{sizes!r}")
            sizes = tuple(sizes)
            for i, size in enumerate(sizes):
                int_at_least(f"{name}[{i}]", size, 1)
            object.__setattr__(self, name, tuple(int(h) for h in sizes))

    @property
    def discount(self) -> float:
        """The gamma in effect: ``gamma`` with ``future``, else 0."""
        return self.gamma if self.future else 0.0

    @property
    def return_weight(self) -> float:
        """The beta in effect: ``beta`` with ``activeness``, else 0."""
        return self.beta if self.activeness else 0.0

    @classmethod
    def from_kwargs(cls, base: DRNConfig | None = None, **changes: Any) -> DRNConfig:
        """``base`` (default: the defaults) with some fields changed; an unknown keyword
        raises TypeError naming it and the fields."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise TypeError(f"unexpected DRN keyword argument(s) {unknown}; DRNConfig fields: "
                            f"{', '.join(names)}")
        return dataclasses.replace(base or cls(), **changes)


MINUTE = 60.0


# ---------------------------------------------------------------------------------------
# Double DQN (sec. 4.3)
@dataclass
class QInput:
    """The three tensors the DRN Q-network reads (a `FeatureBatch` has the same attributes):
    state (B, S), action (B, N, A) of the candidates, candidate_mask (B, N)."""

    state: torch.Tensor
    action: torch.Tensor
    candidate_mask: torch.Tensor


@torch.no_grad()
def double_dqn_target(online: torch.nn.Module, target: torch.nn.Module, reward: torch.Tensor,
                      next_input: QInput, gamma: float) -> torch.Tensor:
    """y = r + gamma * Q'(s', argmax_{a'} Q(s', a')): the online network picks the best valid
    candidate a' of the next visit, the target network evaluates it. ``reward`` (B, K) per
    shown item; the future term is shared by a visit's items (0 if s' has no candidate)."""
    mask = next_input.candidate_mask
    best = online(next_input).masked_fill(~mask, -math.inf).argmax(1, keepdim=True)
    future = target(next_input).gather(1, best).squeeze(1)
    future = torch.where(mask.any(1), future, torch.zeros_like(future))
    return reward + gamma * future[:, None]


# ---------------------------------------------------------------------------------------
# Dueling Bandit Gradient Descent (sec. 4.5)
def perturbation(params: Iterable[torch.Tensor], alpha: float,
                 generator: torch.Generator) -> list[torch.Tensor]:
    """dW = alpha * U(-1, 1) * W, elementwise, for every parameter tensor W."""
    return [alpha * (2.0 * torch.rand(w.shape, generator=generator, dtype=w.dtype) - 1.0)
            .to(w.device) * w.detach() for w in params]


@torch.no_grad()
def dbgd_step(params: Iterable[torch.Tensor], delta: Sequence[torch.Tensor], eta: float,
              rule: str = "delta") -> None:
    """Move W towards the winning explore network W~ = W + dW: W <- W + eta * dW
    (``rule="delta"``), or the paper's literal W <- W + eta * W~ (``rule="paper"``)."""
    for w, dw in zip(params, delta, strict=True):
        w.add_(eta * (dw if rule == "delta" else w + dw))


def interleave(first: np.ndarray, second: np.ndarray, mask: np.ndarray, length: int,
               rng: np.random.Generator, power: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilistic interleaving (Hofmann et al. 2011) of the rankings by scores ``first``
    and ``second`` (B, N) over the valid candidates of ``mask``: each of ``length`` positions
    picks one list with a fair coin and draws from that list's remaining items with
    P(item) proportional to 1 / rank^power (rank in that list, 1 = best). Returns the merged
    ranking (B, length) of candidate indices and the contributing list per position (0 =
    first, 1 = second, -1 = a padded filler once the valid candidates are used up)."""
    valid = mask > 0
    b, n = valid.shape
    rows = np.arange(b)[:, None]
    weights = []
    for scores in (first, second):
        rank = np.empty((b, n))
        rank[rows, ranking(scores, valid)] = np.arange(1, n + 1)
        weights.append(np.where(valid, rank ** -power, 0.0))
    remaining = np.ones((b, n), dtype=bool)
    merged = np.empty((b, length), dtype=np.int64)
    source = np.empty((b, length), dtype=np.int64)
    for pos in range(length):
        pick = rng.random(b) < 0.5
        w = np.where(pick[:, None], weights[1], weights[0]) * remaining
        total = w.sum(1)
        cdf = np.cumsum(w, axis=1)
        drawn = np.minimum((cdf <= rng.random(b)[:, None] * total[:, None]).sum(1), n - 1)
        drawn = np.where(w[np.arange(b), drawn] > 0, drawn, w.argmax(1))  # float edge
        filler = remaining.argmax(1)  # no valid item left: any unused (padded) index
        merged[:, pos] = np.where(total > 0, drawn, filler)
        source[:, pos] = np.where(total > 0, pick.astype(np.int64), -1)
        remaining[np.arange(b), merged[:, pos]] = False
    return merged, source


def credit(source: np.ndarray, shown: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """Clicks credited to each list, [first, second]: ``source`` (B, N) is the list that
    contributed each candidate (-1: none), ``shown`` (B, K) the shown candidate indices
    (-1: empty slot) and ``clicks`` (B, K) their clicks."""
    contributed = np.where(shown >= 0, np.take_along_axis(source, np.maximum(shown, 0), 1), -1)
    clicked = clicks.astype(bool)
    return np.array([(clicked & (contributed == j)).sum() for j in (0, 1)], dtype=np.int64)


# ---------------------------------------------------------------------------------------
class DRNAgent(StaticModelAgent):
    """The DRN agent over the `drn` Q-network (see the module docstring for the algorithm).

    ``config``: a `DRNConfig`; keyword arguments override its fields (``DRNAgent(gamma=0.9)``).
    ``seed``: with the world's seed, draws the initial weights, the DBGD perturbations and the
    replay samples. ``device``: "cpu", "cuda" or "auto" (CUDA when available).
    `replay_stats` tells what the learner got: visits, transitions completed, terminal,
    visits pending, transitions in memory."""

    mode = "drn"

    def __init__(self, config: DRNConfig | None = None, seed: int = 0, name: str | None = None,
                 device: str = "cpu", **overrides: Any):
        self.cfg = DRNConfig.from_kwargs(config, **overrides)
        super().__init__("drn", seed=seed, name=name or "drn",
                         device=str(resolve_device(device)),
                         value_hidden=self.cfg.value_hidden,
                         advantage_hidden=self.cfg.advantage_hidden)
        self.dbgd = self.cfg.dbgd
        self.gamma, self.beta = self.cfg.discount, self.cfg.return_weight

    # -- setup -------------------------------------------------------------------------
    def bind(self, env: Any) -> None:
        """Build the online network W (`StaticModelAgent.bind`), its target copy, the
        optimiser, the replay memory, the activeness tracker and the update schedules."""
        super().bind(env)
        cfg = self.cfg
        self.target = copy.deepcopy(self.model)
        self.optimizer = adam(self.model.parameters(), lr=cfg.lr)
        self.replay = self._new_replay(cfg.memory)
        self.activeness = ActivenessTracker(self.config.n_users)
        clock = unwrap_env(env).world.clock
        self.minor = Every(cfg.minor_minutes * MINUTE, start=clock)
        self.major = Every(cfg.major_minutes * MINUTE, start=clock)
        self.gradient_steps = 0
        self.generator = torch.Generator().manual_seed(int(self.rng.integers(2 ** 62)))
        self._source_of: Obs | None = None
        self.new_duel()

    def _new_replay(self, capacity: int) -> TransitionReplay:
        """Visits wait for the next one when the learner uses it (gamma > 0 bootstraps from
        it, beta > 0 rewards the return); DN takes each visit as a transition at once."""
        return TransitionReplay(capacity, self.config.n_users,
                                wait=self.gamma > 0 or self.beta > 0, bootstrap=self.gamma > 0,
                                next_fields=("state", "items", "dense", "mask", "time"))

    def replay_stats(self) -> dict[str, int]:
        """Counts of what the learner got (`TransitionReplay.stats`): ``visits`` recorded,
        transitions ``completed`` and ``terminal``, visits ``pending`` (waiting for their
        user's next visit), transitions ``in_memory``."""
        return self.replay.stats()

    def new_duel(self) -> None:
        """Draw dW and build the explore network W~ = W + dW; reset the click credit."""
        self.delta = perturbation(self.model.parameters(), self.cfg.alpha, self.generator)
        self.explorer = copy.deepcopy(self.model)
        with torch.no_grad():
            for w, dw in zip(self.explorer.parameters(), self.delta, strict=True):
                w.add_(dw)
        self.duel_clicks = np.zeros(2, dtype=np.int64)  # [current W, explore W~]

    # -- push ----------------------------------------------------------------------------
    def act(self, obs: Obs) -> np.ndarray:
        """Q scores (greedy), or with DBGD the interleaved list of W and W~ as scores."""
        batch = self._features(obs)
        scores = self.model.score(batch)
        if not self.dbgd:
            return scores
        mask = obs["candidates"]["mask"]
        merged, source = interleave(scores, self.explorer.score(batch), mask,
                                    self.config.slate_size, self.rng, self.cfg.interleave_power)
        self._source = np.full(mask.shape, -1, dtype=np.int64)
        np.put_along_axis(self._source, merged, source, axis=1)
        self._source_of = obs
        return scores_from_ranking(merged, mask.shape[1])

    # -- feedback ------------------------------------------------------------------------
    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        """Credit the clicks to the dueling lists and record the visits (each completes its
        user's pending visit; a visit whose user churned is terminal)."""
        batch = self._features(obs)
        if self.dbgd and self._source_of is obs:
            self.duel_clicks += credit(self._source, info["shown"], info["clicks"])
        users = np.asarray(info["user_id"])
        churned = info.get("churned", np.zeros(len(users), dtype=bool))
        self.remember(batch, info["shown"], info["clicks"], users, info["sim_time"],
                      info["gap"], churned)

    def remember(self, batch: FeatureBatch, shown: np.ndarray, clicks: np.ndarray,
                 users: np.ndarray, times: np.ndarray, gaps: np.ndarray,
                 churned: np.ndarray) -> None:
        """Record visits of distinct users (a `FeatureBatch` of their candidates, the shown
        candidate indices and clicks (B, K), their times, gaps since the previous visit and
        churn flags). The return term R of each user's previous visit comes from this one:
        S right after it (activeness), or exp(-lambda0 gap) (the true return)."""
        users, times = np.asarray(users, dtype=np.int64), np.asarray(times, dtype=np.float64)
        s_after = self.activeness.visit(users, times)
        returned = (s_after if self.cfg.return_reward == "activeness" else
                    np.exp(-ACTIVENESS_DECAY * np.maximum(np.asarray(gaps, np.float64), 0.0)))
        items = batch.item_fields[..., 1:].cpu().numpy().astype(np.int16)  # topic, provider
        visits = {"state": batch.state.cpu().numpy(), "items": items,
                  "dense": batch.dense[..., :N_ITEM_DENSE].cpu().numpy().astype(np.float16),
                  "mask": batch.candidate_mask.cpu().numpy(),
                  "shown": np.asarray(shown, dtype=np.int64),
                  "clicks": np.asarray(clicks, dtype=np.float32), "user": users, "time": times}
        self.replay.add(users, visits, returned, np.asarray(churned, dtype=bool))

    # -- updates -------------------------------------------------------------------------
    def update(self, sim_time: float) -> None:
        """Minor update (DBGD) every T_minor, major update (Double DQN) every T_major; with
        DBGD a new duel (dW, W~) starts after either."""
        minor = self.dbgd and self.minor.due(sim_time)
        major = self.major.due(sim_time)
        if minor:
            self.minor_update()
        if major:
            self.major_update(self.cfg.major_steps)
        if self.dbgd and (minor or major):
            self.new_duel()

    def minor_update(self) -> bool:
        """DBGD: if the explore network won the period's clicks, step W towards it."""
        current, explore = self.duel_clicks
        if explore > current:
            dbgd_step(self.model.parameters(), self.delta, self.cfg.eta, self.cfg.dbgd_rule)
        return bool(explore > current)

    def _q_input(self, rows: dict[str, np.ndarray], prefix: str = "") -> QInput:
        """The Q-network's input from stored visit columns (``prefix="next_"``: s')."""
        def t(name: str, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(rows[prefix + name]).to(self.device, dtype)

        items = t("items", torch.long)
        action = drn_action(items[..., 0], items[..., 1], t("dense", torch.float32), self.spec)
        return QInput(t("state", torch.float32), action, t("mask", torch.bool))

    def td_loss(self, rows: dict[str, np.ndarray]) -> torch.Tensor:
        """Mean squared TD error over the shown items of a batch of transitions."""
        shown = torch.as_tensor(rows["shown"], device=self.device)
        valid = shown >= 0
        reward = (torch.as_tensor(rows["clicks"], device=self.device)
                  + self.beta * torch.as_tensor(rows["return_reward"],
                                                device=self.device)[:, None])
        y = (double_dqn_target(self.model, self.target, reward, self._q_input(rows, "next_"),
                               self.gamma) if self.gamma > 0 else reward)
        q = self.model(self._q_input(rows)).gather(1, shown.clamp_min(0))
        return F.mse_loss(q[valid], y[valid])

    def major_update(self, steps: int) -> None:
        """``steps`` Double-DQN gradient steps on mini-batches from the replay memory; the
        target network is synced every ``target_every`` steps."""
        if len(self.replay) == 0:
            return
        self.model.train()
        for _ in range(steps):
            loss = self.td_loss(self.replay.sample(self.cfg.batch_size, self.rng))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.gradient_steps += 1
            if self.gradient_steps % self.cfg.target_every == 0:
                self.target.load_state_dict(self.model.state_dict())

    # -- offline pretraining -------------------------------------------------------------
    def warm_start(self, logs: pd.DataFrame) -> None:
        """Turn every logged visit into a transition (in time order; the candidates of a
        logged visit are its shown items; the optional ``churned`` column ends users), take
        ``pretrain_epochs`` passes of major-update steps over all of them, keep the newest
        ``memory`` and sync the target network. Visits still pending wait for their users'
        first visits online."""
        batch = batch_from_logs(logs, self.spec, device=self.device)
        visits = logs.sort_values(["time", "visit_id", "position"], kind="stable") \
            .drop_duplicates("visit_id")  # the visit order of batch_from_logs
        n, k = self.spec.n_candidates, self.spec.slate_size
        logged_n = batch.candidate_mask.shape[1]
        padded = dataclasses.replace(  # the candidate axis padded to N (remember reads these)
            batch, item_fields=F.pad(batch.item_fields, (0, 0, 0, n - logged_n)),
            dense=F.pad(batch.dense, (0, 0, 0, n - logged_n)),
            candidate_mask=F.pad(batch.candidate_mask, (0, n - logged_n)))
        logged = batch.candidate_mask.cpu().numpy()
        shown = np.pad(np.where(logged, np.arange(logged_n), -1)[:, :k],
                       ((0, 0), (0, max(k - logged_n, 0))), constant_values=-1)
        clicks = np.pad(batch.labels.cpu().numpy()[:, :k], ((0, 0), (0, max(k - logged_n, 0))))
        users = visits["user_id"].to_numpy(np.int64)
        churned = (visits["churned"].to_numpy().astype(bool) if "churned" in visits
                   else np.zeros(len(visits), dtype=bool))
        self.replay = self._new_replay(max(self.cfg.memory, len(visits)))
        for sel in distinct_user_runs(users):
            rows = torch.as_tensor(sel, device=self.device)
            self.remember(padded.index(rows), shown[sel], clicks[sel], users[sel],
                          visits["time"].to_numpy(np.float64)[sel],
                          visits["gap"].to_numpy(np.float64)[sel], churned[sel])
        self.major_update(math.ceil(self.cfg.pretrain_epochs * len(self.replay)
                                    / self.cfg.batch_size))
        self.replay.memory.resize(self.cfg.memory)
        self.target.load_state_dict(self.model.state_dict())
        self.new_duel()


def distinct_user_runs(users: np.ndarray) -> list[np.ndarray]:
    """Split a time-ordered sequence of visits into consecutive runs of distinct users (a run
    ends before a user's second visit), as index arrays: each run can be recorded at once."""
    runs, start, seen = [], 0, set()
    for i, user in enumerate(users.tolist()):
        if user in seen:
            runs.append(np.arange(start, i))
            start, seen = i, set()
        seen.add(user)
    if start < len(users):
        runs.append(np.arange(start, len(users)))
    return runs


# ---------------------------------------------------------------------------------------
DRN_VARIANTS: dict[str, dict[str, Any]] = {
    "drn": dict(future=True, activeness=True, explore="dbgd"),
    "drn:dn": dict(future=False, activeness=False, explore=None),
    "drn:ddqn": dict(future=True, activeness=False, explore=None),
    "drn:ddqn+u": dict(future=True, activeness=True, explore=None),
    "drn:ddqn+r": dict(future=True, activeness=True, explore=None, return_reward="return"),
    "drn:ddqn+u+eg": dict(future=True, activeness=True, explore="egreedy"),
    "drn:ddqn+u+ucb": dict(future=True, activeness=True, explore="ucb"),
}


def make_drn(variant: str = "drn", epsilon: float = 0.1, c: float = 0.5, seed: int = 0,
             name: str | None = None, **kwargs: Any) -> Any:
    """The DRN agent of a paper variant (`DRN_VARIANTS`); the ``+eg`` / ``+ucb`` variants wrap
    the greedy DDQN+U agent in `EpsilonGreedy` (``epsilon``) / `UCBExplorer` (``c``).
    Other keyword arguments are `DRNConfig` fields (validated, naming the field; an unknown
    one raises TypeError) and override the variant's flags."""
    if variant not in DRN_VARIANTS:
        raise ValueError(f"unknown DRN variant {variant!r}; known: {', '.join(DRN_VARIANTS)}")
    flags = dict(DRN_VARIANTS[variant])
    explore = flags.pop("explore")
    name = name or variant
    flags = {**flags, "dbgd": explore == "dbgd", **kwargs}
    if explore == "egreedy":
        return EpsilonGreedy(DRNAgent(seed=seed, name=name, **flags), epsilon=epsilon,
                             seed=seed, name=name)
    if explore == "ucb":
        return UCBExplorer(DRNAgent(seed=seed, name=name, **flags), c=c, seed=seed, name=name)
    return DRNAgent(seed=seed, name=name, **flags)


__all__ = ["DRNAgent", "DRNConfig", "DRN_VARIANTS", "QInput", "credit", "dbgd_step",
           "distinct_user_runs", "double_dqn_target", "interleave", "make_drn", "perturbation"]
