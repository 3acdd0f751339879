"""DRN: the deep reinforcement learning news recommender of Zheng et al., "DRN: A Deep
Reinforcement Learning Framework for News Recommendation", WWW 2018 (docs/design.md section 5).

The algorithm, top to bottom (paper sections in brackets):

1. Q-network [4.3, fig. 5]: `drnsim.models.DRN`, a dueling network
   Q(s, a) = V(s) + A(s, a) - mean_{a'} A(s, a') over the request's candidates; state s =
   user + context features, action a = news + user-news features (`drnsim.features`).
2. Push: rank the candidates by Q (greedy). DRN explores by Dueling Bandit Gradient Descent
   (step 5); the ``+eg`` / ``+ucb`` variants wrap the greedy agent in an explorer instead.
3. Feedback and memory [4.3, 4.4]: every visit (s, shown items, clicks) is stored in a bounded
   `drnsim.replay.NextVisitReplay`; it is the next state s' of the same user's previous visit,
   which it completes. Reward of a shown item: r = click + beta * activeness, beta = 0.05,
   where activeness is the user's survival estimate S right after that return
   (`drnsim.metrics.ActivenessTracker`: S_0 = 0.5, S <- S exp(-lambda0 dt), and on a return
   S <- min(1, S exp(-lambda0 dt) + S_a), lambda0 = 1.2e-5 / s, S_a = 0.32). Transitions
   of users who never come back, or come back after their visit left the memory, are
   dropped (never sampled): the agent is not told when the episode ends.
4. Major update every T_major = 60 simulated minutes [4.3]: mini-batches from the replay
   memory, Double-DQN regression of Q(s, a) on
   y = r + gamma * Q'(s', argmax_{a'} Q(s', a')), gamma = 0.4: the online network picks a',
   the target network Q' (synced every ``target_every`` gradient steps) evaluates it.
5. Minor update every T_minor = 30 simulated minutes [4.5, DBGD]: the explore network
   W~ = W + dW, dW = alpha * U(-1, 1) * W elementwise (alpha = 0.1), ranks beside the current
   one; the two lists are merged by probabilistic interleaving (`interleave`) and each click
   is credited to the list that contributed the item (`credit`). If the explore network
   collected more clicks over the period, W <- W + eta * dW (eta = 0.05; ``dbgd_rule="paper"``
   takes the paper's literal W <- W + eta * W~). A new dW is drawn after every update.
6. Offline pretraining [4.1]: `warm_start(logs)` stores the logged visits as transitions
   (s' = the user's next logged visit, whose candidates are its logged shown items) and
   takes major-update steps on them.

The paper's variants are flags, registered as agent names by `make_drn`: ``drn`` (DDQN + U +
DBGD), ``drn:dn`` (no future reward, click reward only), ``drn:ddqn``, ``drn:ddqn+u``
(+ activeness), ``drn:ddqn+u+eg`` (epsilon-greedy instead of DBGD), ``drn:ddqn+u+ucb``.
Without DBGD there is no minor update: the agent pushes greedily and makes major updates.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from drnsim._validate import int_at_least, non_negative, positive, probability
from drnsim.agents.base import Every, Obs, unwrap_env
from drnsim.agents.explorers import EpsilonGreedy, UCBExplorer, ranking
from drnsim.agents.learned import StaticModelAgent
from drnsim.envs import scores_from_ranking
from drnsim.features import batch_from_logs
from drnsim.metrics import ActivenessTracker
from drnsim.models.training import adam, resolve_device
from drnsim.replay import NextVisitReplay

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
def _check_drn_settings(**settings: Any) -> None:
    """ValueError naming the first DRN hyperparameter outside its range."""
    probability("gamma", settings.pop("gamma"))
    for name in ("minor_minutes", "major_minutes", "lr"):
        positive(name, settings.pop(name))
    for name, low in (("major_steps", 0), ("batch_size", 1), ("target_every", 1),
                      ("memory", 1)):
        int_at_least(name, settings.pop(name), low)
    for name, value in settings.items():
        non_negative(name, value)


class DRNAgent(StaticModelAgent):
    """The DRN agent over the `drn` Q-network (see the module docstring for the algorithm).

    Flags: ``future`` (gamma > 0: DDQN; False: DN), ``activeness`` (beta > 0: +U), ``dbgd``
    (minor updates by DBGD with interleaved pushes; False: greedy pushes, major updates
    only). ``memory``: visits held by the replay memory; ``batch_size``: visits per gradient
    step (all their shown items are regressed); ``major_steps``: gradient steps per major
    update; ``pretrain_epochs``: passes over the logged transitions in `warm_start`.
    ``device``: "cpu", "cuda" or "auto" (CUDA when available)."""

    mode = "drn"

    def __init__(self, future: bool = True, activeness: bool = True, dbgd: bool = True,
                 gamma: float = 0.4, beta: float = 0.05, alpha: float = 0.1, eta: float = 0.05,
                 dbgd_rule: str = "delta", interleave_power: float = 3.0,
                 minor_minutes: float = 30.0, major_minutes: float = 60.0,
                 major_steps: int = 20, batch_size: int = 32, lr: float = 1e-3,
                 target_every: int = 40, memory: int = 8192, pretrain_epochs: float = 3.0,
                 seed: int = 0, name: str | None = None, device: str = "cpu",
                 **model_kwargs: Any):
        if dbgd_rule not in ("delta", "paper"):
            raise ValueError(f"dbgd_rule must be 'delta' or 'paper', got {dbgd_rule!r}")
        _check_drn_settings(gamma=gamma, beta=beta, alpha=alpha, eta=eta,
                            interleave_power=interleave_power, minor_minutes=minor_minutes,
                            major_minutes=major_minutes, major_steps=major_steps,
                            batch_size=batch_size, lr=lr, target_every=target_every,
                            memory=memory, pretrain_epochs=pretrain_epochs)
        super().__init__("drn", seed=seed, name=name or "drn",
                         device=str(resolve_device(device)), **model_kwargs)
        self.dbgd = dbgd
        self.gamma = gamma if future else 0.0
        self.beta = beta if activeness else 0.0
        self.alpha, self.eta, self.dbgd_rule = alpha, eta, dbgd_rule
        self.interleave_power = interleave_power
        self.minor_minutes, self.major_minutes = minor_minutes, major_minutes
        self.major_steps, self.batch_size, self.lr = major_steps, batch_size, lr
        self.target_every, self.memory, self.pretrain_epochs = target_every, memory, pretrain_epochs

    # -- setup -------------------------------------------------------------------------
    def bind(self, env: Any) -> None:
        """Build the online network W (`StaticModelAgent.bind`), its target copy, the
        optimiser, the replay memory, the activeness tracker and the update schedules."""
        super().bind(env)
        self.target = copy.deepcopy(self.model)
        self.optimizer = adam(self.model.parameters(), lr=self.lr)
        self.replay = NextVisitReplay(self.memory, self.config.n_users)
        self.activeness = ActivenessTracker(self.config.n_users)
        clock = unwrap_env(env).world.clock
        self.minor = Every(self.minor_minutes * MINUTE, start=clock)
        self.major = Every(self.major_minutes * MINUTE, start=clock)
        self.gradient_steps = 0
        self.generator = torch.Generator().manual_seed(int(self.rng.integers(2 ** 62)))
        self._source_of: Obs | None = None
        self.new_duel()

    def new_duel(self) -> None:
        """Draw dW and build the explore network W~ = W + dW; reset the click credit."""
        self.delta = perturbation(self.model.parameters(), self.alpha, self.generator)
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
                                    self.config.slate_size, self.rng, self.interleave_power)
        self._source = np.full(mask.shape, -1, dtype=np.int64)
        np.put_along_axis(self._source, merged, source, axis=1)
        self._source_of = obs
        return scores_from_ranking(merged, mask.shape[1])

    # -- feedback ------------------------------------------------------------------------
    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        """Credit the clicks to the dueling lists and store the visits (completing each
        user's previous visit)."""
        batch = self._features(obs)
        if self.dbgd and self._source_of is obs:
            self.duel_clicks += credit(self._source, info["shown"], info["clicks"])
        self.remember(batch.state, batch.action, batch.candidate_mask, info["shown"],
                      info["clicks"], info["user_id"], info["sim_time"])

    def remember(self, state: torch.Tensor, action: torch.Tensor, mask: torch.Tensor,
                 shown: np.ndarray, clicks: np.ndarray, users: np.ndarray,
                 times: np.ndarray) -> None:
        """Store visits of distinct users; the activeness S right after each (re)visit is the
        activeness reward of that user's previous transition, which this visit completes."""
        users, times = np.asarray(users, dtype=np.int64), np.asarray(times, dtype=np.float64)
        s_after = self.activeness.visit(users, times)
        self.replay.add(users, s_after, user=users, time=times, state=state.cpu().numpy(),
                        action=action.cpu().numpy().astype(np.float16),
                        mask=mask.cpu().numpy(), shown=np.asarray(shown, dtype=np.int64),
                        clicks=np.asarray(clicks, dtype=np.float32))

    # -- updates -------------------------------------------------------------------------
    def update(self, sim_time: float) -> None:
        """Minor update (DBGD) every T_minor, major update (Double DQN) every T_major; with
        DBGD a new duel (dW, W~) starts after either."""
        minor = self.dbgd and self.minor.due(sim_time)
        major = self.major.due(sim_time)
        if minor:
            self.minor_update()
        if major:
            self.major_update(self.major_steps)
        if self.dbgd and (minor or major):
            self.new_duel()

    def minor_update(self) -> bool:
        """DBGD: if the explore network won the period's clicks, step W towards it."""
        current, explore = self.duel_clicks
        if explore > current:
            dbgd_step(self.model.parameters(), self.delta, self.eta, self.dbgd_rule)
        return bool(explore > current)

    def _tensors(self, rows: dict[str, np.ndarray]) -> QInput:
        def t(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(x).to(self.device, dtype)

        return QInput(t(rows["state"], torch.float32), t(rows["action"], torch.float32),
                      t(rows["mask"], torch.bool))

    def td_loss(self, rows: dict[str, np.ndarray], nxt: dict[str, np.ndarray]) -> torch.Tensor:
        """Mean squared TD error over the shown items of a batch of transitions."""
        shown = torch.as_tensor(rows["shown"], device=self.device)
        valid = shown >= 0
        reward = (torch.as_tensor(rows["clicks"], device=self.device)
                  + self.beta * torch.as_tensor(rows["activeness"], device=self.device)[:, None])
        y = (double_dqn_target(self.model, self.target, reward, self._tensors(nxt), self.gamma)
             if self.gamma > 0 else reward)
        q = self.model(self._tensors(rows)).gather(1, shown.clamp_min(0))
        return F.mse_loss(q[valid], y[valid])

    def major_update(self, steps: int) -> None:
        """``steps`` Double-DQN gradient steps on mini-batches from the replay memory; the
        target network is synced every ``target_every`` steps."""
        if len(self.replay) == 0:
            return
        self.model.train()
        for _ in range(steps):
            loss = self.td_loss(*self.replay.sample(self.batch_size, self.rng))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.gradient_steps += 1
            if self.gradient_steps % self.target_every == 0:
                self.target.load_state_dict(self.model.state_dict())

    # -- offline pretraining -------------------------------------------------------------
    def warm_start(self, logs: pd.DataFrame) -> None:
        """Store the logged visits as transitions (per user in time order; the candidates of
        a logged visit are its shown items) and take ``pretrain_epochs`` passes of major-update
        steps over them; then sync the target network."""
        batch = batch_from_logs(logs, self.spec, device=self.device)
        visits = logs.sort_values(["time", "visit_id", "position"], kind="stable") \
            .drop_duplicates("visit_id")  # the visit order of batch_from_logs
        n, k = self.spec.n_candidates, self.spec.slate_size
        logged_n = batch.action.shape[1]
        pad = n - logged_n
        action = F.pad(batch.action, (0, 0, 0, pad))
        logged = batch.candidate_mask.cpu().numpy()
        mask = torch.as_tensor(np.pad(logged, ((0, 0), (0, pad))))
        shown = np.where(logged, np.arange(logged_n), -1)[:, :k]
        clicks = batch.labels.cpu().numpy()[:, :k]
        shown = np.pad(shown, ((0, 0), (0, k - shown.shape[1])), constant_values=-1)
        clicks = np.pad(clicks, ((0, 0), (0, k - clicks.shape[1])))
        users, times = visits["user_id"].to_numpy(), visits["time"].to_numpy(np.float64)
        rounds = visits.groupby("user_id").cumcount().to_numpy()  # distinct users per round
        for r in range(int(rounds.max()) + 1):
            sel = np.flatnonzero(rounds == r)
            idx = torch.as_tensor(sel, device=self.device)
            self.remember(batch.state[idx], action[idx], mask[idx], shown[sel], clicks[sel],
                          users[sel], times[sel])
        steps = math.ceil(self.pretrain_epochs * len(self.replay) / self.batch_size)
        self.major_update(steps)
        self.target.load_state_dict(self.model.state_dict())
        self.new_duel()


# ---------------------------------------------------------------------------------------
DRN_VARIANTS: dict[str, dict[str, Any]] = {
    "drn": dict(future=True, activeness=True, explore="dbgd"),
    "drn:dn": dict(future=False, activeness=False, explore=None),
    "drn:ddqn": dict(future=True, activeness=False, explore=None),
    "drn:ddqn+u": dict(future=True, activeness=True, explore=None),
    "drn:ddqn+u+eg": dict(future=True, activeness=True, explore="egreedy"),
    "drn:ddqn+u+ucb": dict(future=True, activeness=True, explore="ucb"),
}


def make_drn(variant: str = "drn", epsilon: float = 0.1, c: float = 0.5, seed: int = 0,
             name: str | None = None, **kwargs: Any) -> Any:
    """The DRN agent of a paper variant (`DRN_VARIANTS`); the ``+eg`` / ``+ucb`` variants wrap
    the greedy DDQN+U agent in `EpsilonGreedy` (``epsilon``) / `UCBExplorer` (``c``).
    Other keyword arguments go to `DRNAgent` and override the variant's flags."""
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


__all__ = ["DRNAgent", "DRN_VARIANTS", "QInput", "credit", "dbgd_step", "double_dqn_target",
           "interleave", "make_drn", "perturbation"]
