"""Multi-channel user Interest Memory Network (Pi et al. 2019, arXiv:1905.09248, sec. 3).

User Interest Centre (UIC), an NTM with one read and one write head over m memory slots,
run once per request over the history (padding steps keep every state):
  controller c_t = GRU([e_t; r_{t-1}], c_{t-1});
  read (before write): w^r = softmax(beta^r cos(k^r, M_{t-1})), r_t = sum_i w^r_i M_{t-1}(i);
  write: w^w = softmax(beta^w cos(k^w, M_{t-1})), re-balanced by the memory utilisation
  regularisation (sec. 3.2): g_t = sum_{c<=t} w~^w_c, P_t = softmax(W_g g_{t-1}) (an m x m
  transfer matrix), w~^w_t = w^w_t P_t; M_t = M_{t-1} * (1 - w~^w e^T) + w~^w a^T;
  L_reg = lambda sum_i (g_T(i) - mean(g_T))^2.
Memory Induction Unit (sec. 3.3): S_t(i) = GRU(S_{t-1}(i), [M_t(i); e_t]) for the top-k slots
by read weight, the others keep their state. The candidate attends over the slots of M_T and
S_T (softmax of dot products); an MLP scores [user, both reads, candidate, dense].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP, FieldEmbedder, ntm_address, ntm_read, ntm_write


class MIMN(RankingModel):
    """UIC memory + MIU, read by the candidate."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, slots: int = 4, miu_top_k: int = 1,
                 reg_weight: float = 0.1, hidden: Sequence[int] = (200, 80),
                 activation_name: str = "dice"):
        super().__init__(spec)
        if not 1 <= miu_top_k <= slots:
            raise ValueError(f"miu_top_k must be in [1, slots={slots}], got {miu_top_k}")
        self.embed = FieldEmbedder(spec, dim)
        d = spec.n_item_fields * dim
        self.slots, self.top_k, self.reg_weight, self.memory_dim = slots, miu_top_k, reg_weight, d
        self.memory_init = nn.Parameter(torch.randn(slots, d) * 0.1)
        self.controller = nn.GRUCell(2 * d, d)
        self.read_head = nn.Linear(d, d + 1)  # key, beta
        self.write_head = nn.Linear(d, 3 * d + 1)  # key, beta, erase, add
        self.utilisation = nn.Linear(slots, slots * slots)  # W_g
        self.miu = nn.GRUCell(2 * d, d)
        self.mlp = MLP([spec.n_user_fields * dim, d, d, d + spec.dense_dim], hidden, 1,
                       activation_name)

    def uic_step(self, state: dict[str, torch.Tensor],
                 x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One behaviour e_t (B, d) through controller, read head, write head and MIU."""
        memory, b, d = state["memory"], x.shape[0], self.memory_dim
        c = self.controller(torch.cat([x, state["read"]], -1), state["controller"])
        key_r, beta_r = self.read_head(c).split([d, 1], -1)
        w_read = ntm_address(memory, key_r, F.softplus(beta_r))
        read = ntm_read(memory, w_read)  # read before write
        key_w, beta_w, erase, add = self.write_head(c).split([d, 1, d, d], -1)
        w_write = ntm_address(memory, key_w, F.softplus(beta_w))
        transfer = torch.softmax(self.utilisation(state["usage"]).view(b, self.slots,
                                                                       self.slots), -1)
        w_write = (w_write.unsqueeze(1) @ transfer).squeeze(1)
        new_memory = ntm_write(memory, w_write, torch.sigmoid(erase), torch.tanh(add))
        top = torch.zeros_like(w_read).scatter_(1, w_read.topk(self.top_k, -1).indices, 1.0)
        miu_in = torch.cat([new_memory, x.unsqueeze(1).expand(-1, self.slots, -1)], -1)
        induced = self.miu(miu_in.reshape(-1, 2 * d), state["miu"].reshape(-1, d)).view(
            b, self.slots, d)
        return {"memory": new_memory, "controller": c, "read": read,
                "usage": state["usage"] + w_write,
                "miu": torch.where(top.unsqueeze(-1) > 0, induced, state["miu"])}

    def uic(self, hist: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the memory over the history (B, L, d) once per request; returns the final
        memory M_T (B, m, d), MIU states S_T (B, m, d) and the utilisation g_T (B, m).
        Like a packed sequence, step t only runs the requests with more than t behaviours
        (valid entries come first), so padding leaves every state unchanged."""
        b, d = hist.shape[0], self.memory_dim
        zeros = hist.new_zeros(b, d)
        state = {"memory": self.memory_init.expand(b, -1, -1), "controller": zeros,
                 "read": zeros, "usage": hist.new_zeros(b, self.slots),
                 "miu": hist.new_zeros(b, self.slots, d)}
        lengths = mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        lengths, hist = lengths[order], hist[order]
        state = {k: v[order] for k, v in state.items()}
        steps = int(lengths[0]) if b else 0
        active = torch.searchsorted(-lengths, -torch.arange(steps, device=lengths.device)).tolist()
        done: list[dict[str, torch.Tensor]] = []
        for t, rows in enumerate(active):
            if rows < len(state["memory"]):
                done.append({k: v[rows:] for k, v in state.items()})
                state = {k: v[:rows] for k, v in state.items()}
            state = self.uic_step(state, hist[:rows, t])
        restore = torch.argsort(order)
        return {k: torch.cat([state[k], *(part[k] for part in reversed(done))])[restore]
                for k in state}

    def _run(self, batch: FeatureBatch) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.uic(self.embed.history(batch).flatten(2), batch.history_mask)
        cand = self.embed.items(batch).flatten(2)  # (B, N, d)
        reads = [torch.softmax(cand @ slots.transpose(1, 2), -1) @ slots
                 for slots in (state["memory"], state["miu"])]
        users = self.embed.users(batch).flatten(1).unsqueeze(1)
        logits = self.mlp(users, *reads, torch.cat([cand, batch.dense], -1)).squeeze(-1)
        usage = state["usage"]
        reg = (usage - usage.mean(-1, keepdim=True)).pow(2).sum(-1).mean()
        return logits, self.reg_weight * reg

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self._run(batch)[0]

    def forward_with_aux(self, batch: FeatureBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(batch)
