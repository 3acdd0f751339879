"""Shared layers of the model zoo (docs/design.md section 4); each cites its paper equation.

Request-level work is done once per request and broadcast over its N candidates: user
embeddings, history embeddings and pooling, DIEN's extractor GRU and the input-side gates of
its evolving GRU, MIMN's memory; `MLP` splits its first layer by input part so that a
request-level part is multiplied once, not N times (the same linear map as on the concat).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from functools import reduce

import torch
import torch.nn.functional as F
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec


class OffsetEmbedding(nn.Module):
    """One table for several categorical fields (field j's index i -> row offset_j + i)."""

    def __init__(self, vocab: Sequence[int], dim: int, init_std: float = 0.01):
        super().__init__()
        offsets = torch.tensor([0, *list(vocab)[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.table = nn.Embedding(int(sum(vocab)), dim)
        nn.init.normal_(self.table.weight, std=init_std)

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """(..., F) field indices -> (..., F, dim)."""
        return self.table(indices + self.offsets)


def masked_pool(x: torch.Tensor, mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Sum or mean of x (B, L, ...) over the valid positions of mask (B, L); 0 if none."""
    m = mask.to(x.dtype).reshape(mask.shape + (1,) * (x.dim() - 2))
    total = (x * m).sum(1)
    if mode == "sum":
        return total
    return total / m.sum(1).clamp_min(1.0)


class FieldEmbedder(nn.Module):
    """Field embeddings of a request: user/context fields, candidate item fields, the pooled
    history (items share the candidates' tables), and the dense group as one field whose
    vector is sum_i x_i v_i (FM's embedding of numerical features, Rendle 2010)."""

    def __init__(self, spec: FeatureSpec, dim: int, pooling: str = "mean"):
        super().__init__()
        if pooling not in ("mean", "sum"):
            raise ValueError(f"pooling must be 'mean' or 'sum', got {pooling!r}")
        self.spec, self.dim, self.pooling = spec, dim, pooling
        self.user = OffsetEmbedding(spec.user_vocab, dim)
        self.item = OffsetEmbedding(spec.item_vocab, dim)
        self.dense = nn.Linear(spec.dense_dim, dim, bias=False)

    @property
    def n_fields(self) -> int:
        return self.spec.n_user_fields + 2 * self.spec.n_item_fields + 1

    def users(self, batch: FeatureBatch) -> torch.Tensor:
        return self.user(batch.user_fields)  # (B, Fu, d)

    def items(self, batch: FeatureBatch) -> torch.Tensor:
        return self.item(batch.item_fields)  # (B, N, Fi, d)

    def history(self, batch: FeatureBatch) -> torch.Tensor:
        return self.item(batch.history_fields)  # (B, L, Fi, d)

    def pooled_history(self, batch: FeatureBatch) -> torch.Tensor:
        return masked_pool(self.history(batch), batch.history_mask, self.pooling)  # (B, Fi, d)

    def fields(self, batch: FeatureBatch) -> torch.Tensor:
        """All field vectors per candidate, (B, N, F, d), F = Fu + Fi (candidate) + Fi
        (pooled history) + 1 (dense). Lookups are per request, then broadcast."""
        b, n = batch.item_fields.shape[:2]
        request = torch.cat([self.users(batch), self.pooled_history(batch)], 1)
        request = request.unsqueeze(1).expand(b, n, -1, -1)
        return torch.cat([request, self.items(batch), self.dense(batch.dense).unsqueeze(2)], 2)


class FirstOrder(nn.Module):
    """Logistic-regression part: w0 + sum of one weight per feature (and w . dense)."""

    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.weights = FieldEmbedder(spec, 1)
        nn.init.zeros_(self.weights.user.table.weight)
        nn.init.zeros_(self.weights.item.table.weight)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self.weights.fields(batch).sum((-1, -2)) + self.bias  # (B, N)


def fm_interaction(v: torch.Tensor, reduce_dim: bool = True) -> torch.Tensor:
    """FM's pairwise term sum_{i<j} <v_i, v_j> = 0.5 * ((sum_i v_i)^2 - sum_i v_i^2)
    (Rendle 2010, eq. 5) over fields v (..., F, k); with reduce_dim=False it is NFM's
    bi-interaction pooling f_BI (He & Chua 2017, eq. 4), kept as a k-vector."""
    bi = 0.5 * (v.sum(-2).pow(2) - v.pow(2).sum(-2))
    return bi.sum(-1) if reduce_dim else bi


def pair_indices(n_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (i, j), i < j, of n fields."""
    return torch.triu_indices(n_fields, n_fields, offset=1)


def inner_products(v: torch.Tensor) -> torch.Tensor:
    """IPNN's p: pairwise inner products <f_i, f_j>, i < j, of fields v (..., F, k)
    (Qu et al. 2016, sec. 3.2) -> (..., F (F - 1) / 2)."""
    i, j = pair_indices(v.shape[-2])
    return (v[..., i, :] * v[..., j, :]).sum(-1)


def outer_product(v: torch.Tensor) -> torch.Tensor:
    """OPNN's p = f_sum f_sum^T with f_sum = sum_i f_i (Qu et al. 2016, sec. 3.3, the
    superposition form of PNN2) -> (..., k * k)."""
    s = v.sum(-2)
    return (s.unsqueeze(-1) * s.unsqueeze(-2)).flatten(-2)


def pairwise_products(v: torch.Tensor) -> torch.Tensor:
    """AFM's element-wise products v_i * v_j, i < j (Xiao et al. 2017, eq. 2) -> (..., P, k)."""
    i, j = pair_indices(v.shape[-2])
    return v[..., i, :] * v[..., j, :]


class AttentionPooling(nn.Module):
    """AFM's attention net: a_ij = softmax(h^T ReLU(W (v_i * v_j) + b)), pooled sum of
    a_ij (v_i * v_j) (Xiao et al. 2017, eqs. 4-5); the weights sum to one."""

    def __init__(self, dim: int, attention_dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, attention_dim)
        self.h = nn.Linear(attention_dim, 1, bias=False)

    def weights(self, products: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.h(torch.relu(self.proj(products))).squeeze(-1), -1)

    def forward(self, products: torch.Tensor) -> torch.Tensor:
        return (self.weights(products).unsqueeze(-1) * products).sum(-2)


class CrossLayer(nn.Module):
    """DCN's cross layer x_{l+1} = x_0 (x_l^T w_l) + b_l + x_l (Wang et al. 2017, eq. 3), with
    the scalar x_l^T w_l computed first (O(d), no d x d matrix); `full=True` is DCN-V2's
    x_{l+1} = x_0 * (W_l x_l + b_l) + x_l (Wang et al. 2021, eq. 1)."""

    def __init__(self, dim: int, full: bool = False):
        super().__init__()
        self.full = full
        if full:
            self.linear = nn.Linear(dim, dim)
        else:
            self.w = nn.Parameter(torch.randn(dim) / dim ** 0.5)
            self.b = nn.Parameter(torch.zeros(dim))

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.full:
            return x0 * self.linear(x) + x
        return x0 * (x @ self.w).unsqueeze(-1) + self.b + x


class Dice(nn.Module):
    """DIN's Dice (Zhou et al. 2018, eq. 9): f(s) = p(s) s + (1 - p(s)) alpha s with
    p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps)), eps = 1e-8: batch normalisation without
    affine parameters over all rows of the mini-batch; moving averages at inference."""

    def __init__(self, dim: int, momentum: float = 0.1):
        super().__init__()
        self.bn = nn.BatchNorm1d(dim, eps=1e-8, momentum=momentum, affine=False)
        self.alpha = nn.Parameter(torch.zeros(dim))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        if self.training:
            p = torch.sigmoid(self.bn(s.reshape(-1, s.shape[-1])).reshape(s.shape))
        else:  # the moving averages fold into one affine map: two passes instead of four
            scale = (self.bn.running_var + self.bn.eps).rsqrt()
            p = torch.sigmoid(torch.addcmul(-self.bn.running_mean * scale, s, scale))
        return s * torch.addcmul(self.alpha, p, 1.0 - self.alpha)  # p s + (1 - p) alpha s


class PReLU(nn.Module):
    """PReLU with one slope per channel of the last axis (torch's uses axis 1)."""

    def __init__(self, dim: int, init: float = 0.25):
        super().__init__()
        self.slope = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch's fused kernel on a (rows, channels) view: one pass instead of three
        return F.prelu(x.reshape(-1, x.shape[-1]), self.slope).view(x.shape)


def activation(name: str, dim: int) -> nn.Module:
    """'relu', 'prelu' or 'dice'."""
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return PReLU(dim)
    if name == "dice":
        return Dice(dim)
    raise ValueError(f"activation must be 'relu', 'prelu' or 'dice', got {name!r}")


class MLP(nn.Module):
    """Fully connected tower. The first layer takes several input parts and adds their linear
    maps with broadcasting: W [x_1; x_2] = W_1 x_1 + W_2 x_2, so a request-level part of
    shape (B, 1, d) is multiplied once for all N candidates."""

    def __init__(self, in_dims: int | Sequence[int], hidden: Sequence[int],
                 out_dim: int | None = 1, activation_name: str = "relu", dropout: float = 0.0):
        super().__init__()
        in_dims = (in_dims,) if isinstance(in_dims, int) else tuple(in_dims)
        sizes = list(hidden) + ([out_dim] if out_dim is not None else [])
        if not sizes:
            raise ValueError("an MLP needs hidden layers or an output dimension")
        self.first = nn.ModuleList(nn.Linear(d, sizes[0], bias=i == 0)
                                   for i, d in enumerate(in_dims))
        self.out_dim = sizes[-1]
        layers: list[nn.Module] = []
        for i, size in enumerate(sizes):
            if i > 0:
                layers.append(nn.Linear(sizes[i - 1], size))
            if i < len(hidden):
                layers.append(activation(activation_name, size))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.rest = nn.Sequential(*layers)

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        if len(parts) != len(self.first):
            raise ValueError(f"MLP expects {len(self.first)} input parts, got {len(parts)}")
        h = reduce(torch.add, (layer(x) for layer, x in zip(self.first, parts, strict=True)))
        return self.rest(h)


class InferenceWorkspace:
    """Buffers that a layer reuses across calls without autograd, one set per thread, device,
    dtype and inference mode. A DIN request's (history x candidates x hidden) intermediates
    are ~1 MB each; allocated afresh on every call, glibc gives the freed heap back to the
    OS and the next call faults its pages in again, which cost more than the arithmetic
    (~900 minor faults and +1.2 ms per 1.0 ms `score` call, benchmarks/models_speed.py).
    Buffers above `max_bytes` are not kept (the default holds `score`'s chunks of 8 requests
    x 100 candidates, not a 512-request evaluation batch); copies and pickles start empty."""

    def __init__(self, max_bytes: int = 16 << 20):
        self.max_bytes = max_bytes
        self.buffers: dict[tuple, torch.Tensor] = {}

    def get(self, name: str, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor | None:
        """A tensor of `shape` (contents undefined) to pass as `out=`, or None (allocate
        afresh) while gradients are recorded or when it is over `max_bytes`."""
        numel = math.prod(shape)
        if torch.is_grad_enabled() or numel * like.element_size() > self.max_bytes:
            return None
        key = (threading.get_ident(), name, like.device, like.dtype,
               torch.is_inference_mode_enabled())
        buffer = self.buffers.get(key)
        if buffer is None or buffer.numel() < numel:
            buffer = self.buffers[key] = torch.empty(numel, dtype=like.dtype, device=like.device)
        return buffer[:numel].view(shape)

    def __getstate__(self) -> dict:
        return {"max_bytes": self.max_bytes, "buffers": {}}

    def __deepcopy__(self, memo: dict) -> InferenceWorkspace:
        return InferenceWorkspace(self.max_bytes)


class ActivationUnit(nn.Module):
    """DIN's local activation unit (Zhou et al. 2018, eq. 3 and fig. 2): an MLP on
    [e_j, a, e_j - a, e_j * a] gives the weight of history item e_j for candidate a; no
    softmax (the sum keeps the interest intensity) and padded positions weigh 0.
    The first layer W [e; a; e - a; e * a] + b is evaluated as M_a e + c_a with the
    per-candidate matrix M_a = W_p diag(a) + W_e + W_d and c_a = (W_a - W_d) a + b, as one
    batched matrix product over each request's shared history (no (N, L, d) product tensor);
    at inference M and the first hidden layer live in an `InferenceWorkspace`."""

    def __init__(self, dim: int, hidden: Sequence[int] = (64, 16),
                 activation_name: str = "prelu"):
        super().__init__()
        self.first = nn.Linear(4 * dim, hidden[0])
        self.dim = dim
        self.rest = MLP(hidden[0], hidden[1:], 1, activation_name)
        self.act = activation(activation_name, hidden[0])
        self.workspace = InferenceWorkspace()

    def forward(self, keys: torch.Tensor, query: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """keys (B, L, d) history, query (B, N, d) candidates, mask (B, L) -> (B, N, L)."""
        b, n, d = query.shape
        w_e, w_a, w_d, w_p = self.first.weight.split(self.dim, dim=1)  # (H, d) each
        hid = w_e.shape[0]
        # M_a laid out (B, d, N, H) so that keys (B, L, d) @ M -> (B, L, N * H)
        m = torch.addcmul((w_e + w_d).t()[None, :, None, :],
                          query.transpose(1, 2).unsqueeze(-1), w_p.t()[None, :, None, :],
                          out=self.workspace.get("m", (b, d, n, hid), query))
        c = F.linear(query, w_a - w_d, self.first.bias)  # (B, N, H)
        h = torch.baddbmm(c.reshape(b, 1, n * hid), keys, m.reshape(b, d, n * hid),
                          out=self.workspace.get("h", (b, keys.shape[1], n * hid), query))
        del m, c  # the activation's output can take their memory
        scores = self.rest(self.act(h.view(b, -1, n, hid))).squeeze(-1)  # (B, L, N)
        return scores.transpose(1, 2) * mask.unsqueeze(1).to(scores.dtype)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to mask; all-masked rows give zeros."""
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, -1)
    return torch.nan_to_num(weights, nan=0.0)


GRU_MODES = ("augru", "agru", "aigru")


class AttentionGRU(nn.Module):
    """DIEN's interest evolving GRU with attention (Zhou et al. 2019, eqs. 1-4, 8, 11-12).
    GRU (eqs. 1-4): u = sigma(W_u i + b_iu + U_u h + b_hu), r likewise,
    h~ = tanh(W_h i + b_ih + r * (U_h h + b_hh)), h_t = (1 - u) * h_{t-1} + u * h~; input and
    hidden biases are separate parameters. Modes: 'augru' (eq. 12: u~ = a_t u, so a_t = 0 keeps
    the state and a_t = 1 is a GRU step), 'agru' (eq. 11: h_t = (1 - a_t) h_{t-1} + a_t h~),
    'aigru' (eq. 10: input a_t i_t). Padding steps are skipped, so they keep the state."""

    def __init__(self, input_dim: int, hidden_dim: int, mode: str = "augru"):
        super().__init__()
        if mode not in GRU_MODES:
            raise ValueError(f"mode must be one of {GRU_MODES}, got {mode!r}")
        self.mode, self.hidden_dim = mode, hidden_dim
        bound = hidden_dim ** -0.5

        def uniform(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

        self.weight_ih = uniform(3 * hidden_dim, input_dim)
        self.weight_hh = uniform(3 * hidden_dim, hidden_dim)
        self.bias_ih = uniform(3 * hidden_dim)
        self.bias_hh = uniform(3 * hidden_dim)

    def input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """W [r; u; h] x + b_i, (..., 3H): computed once per request, shared by candidates."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gi: torch.Tensor, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One step: gi = input_gates(i_t) (..., 3H), h (..., H), attention a (..., 1)."""
        if self.mode == "aigru":  # gates of the input a_t i_t
            gi = torch.addcmul(self.bias_ih, a, gi - self.bias_ih)
        two = 2 * self.hidden_dim
        gh = F.linear(h, self.weight_hh, self.bias_hh)
        r, u = torch.sigmoid(gi[..., :two] + gh[..., :two]).chunk(2, -1)
        cand = torch.tanh(torch.addcmul(gi[..., two:], r, gh[..., two:]))
        if self.mode == "augru":
            u = a * u
        elif self.mode == "agru":
            u = a
        return torch.lerp(h, cand, u)  # (1 - u) h + u h~

    def forward(self, gates: torch.Tensor, attention: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """gates (B, T, 3H) from `input_gates` (once per request), attention (B, N, T), mask
        (B, T) with valid steps first -> final states (B, N, H). Like a packed sequence, step t
        only updates the requests whose history is longer than t (padding steps keep the
        state in every mode, so skipping them changes nothing)."""
        b, n, steps = attention.shape
        lengths = mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        lengths = lengths[order]
        gates = gates[order].unsqueeze(2)  # (B, T, 1, 3H)
        attention = attention[order].transpose(1, 2).unsqueeze(-1).contiguous()  # (B, T, N, 1)
        active = torch.searchsorted(-lengths, -torch.arange(steps, device=lengths.device),
                                    right=False).tolist()  # requests with length > t
        h = gates.new_zeros(b, n, self.hidden_dim)
        done: list[torch.Tensor] = []
        for t, rows in enumerate(active):
            if rows < h.shape[0]:
                done.append(h[rows:])
                h = h[:rows]
            if rows == 0:
                break
            h = self.step(gates[:rows, t], h, attention[:rows, t])
        final = torch.cat([h, *reversed(done)], 0)
        return final[torch.argsort(order)]


def ntm_address(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """NTM content addressing w_i = softmax_i(beta * cos(k, M_i)) (MIMN, arXiv:1905.09248,
    eq. 1): memory (B, m, d), key (B, d), beta (B, 1) -> (B, m)."""
    cos = F.cosine_similarity(memory, key.unsqueeze(1), dim=-1, eps=1e-8)
    return torch.softmax(beta * cos, -1)


def ntm_read(memory: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """r = sum_i w_i M_i (MIMN eq. 2) -> (B, d)."""
    return (weights.unsqueeze(-1) * memory).sum(1)


def ntm_write(memory: torch.Tensor, weights: torch.Tensor, erase: torch.Tensor,
              add: torch.Tensor) -> torch.Tensor:
    """M <- M * (1 - w e^T) + w a^T (MIMN eqs. 3-4): erase e in [0, 1]^d, add a (B, d)."""
    w = weights.unsqueeze(-1)
    return memory * (1.0 - w * erase.unsqueeze(1)) + w * add.unsqueeze(1)


class DeepTower(nn.Module):
    """Embedding & MLP, the Base model of DIN (Zhou et al. 2018, sec. 4.2): the MLP takes
    [user fields, pooled history] (once per request) and [candidate fields, dense features]
    (per candidate)."""

    def __init__(self, embed: FieldEmbedder, hidden: Sequence[int],
                 activation_name: str = "relu", dropout: float = 0.0):
        super().__init__()
        spec, d = embed.spec, embed.dim
        self.embed = embed
        request_dim = (spec.n_user_fields + spec.n_item_fields) * d
        self.mlp = MLP([request_dim, spec.n_item_fields * d + spec.dense_dim], hidden, 1,
                       activation_name, dropout)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        e = self.embed
        request = torch.cat([e.users(batch).flatten(1), e.pooled_history(batch).flatten(1)], 1)
        candidate = torch.cat([e.items(batch).flatten(2), batch.dense], -1)
        return self.mlp(request.unsqueeze(1), candidate).squeeze(-1)
