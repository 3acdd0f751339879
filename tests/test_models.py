"""The model zoo: paper equations on hand-checked tensors, efficiency, training, bad input."""

from __future__ import annotations

import copy
import math
import pickle
import threading

import numpy as np
import pytest
import torch
from torch import nn

from drnsim.config import WorldConfig
from drnsim.envs import NewsFeedVectorEnv
from drnsim.features import FeatureBatch, FeatureSpec, batch_from_logs, build_batch
from drnsim.logs import collect_logs
from drnsim.models import MODELS, PADDED_SCORE, NonFiniteLossError, auc, gauc, make_model
from drnsim.models import dien as dien_module
from drnsim.models.layers import (
    ActivationUnit,
    AttentionGRU,
    AttentionPooling,
    CrossLayer,
    Dice,
    PReLU,
    fm_interaction,
    inner_products,
    ntm_address,
    ntm_read,
    ntm_write,
    outer_product,
)
from drnsim.models.training import evaluate, predict_logits, resolve_device

CFG = WorldConfig(n_users=300)
SPEC = FeatureSpec.from_config(CFG, n_item_buckets=2003)
NAMES = ["lr", "fm", "embedding_mlp", "autorec", "deep_crossing", "neural_cf", "pnn",
         "wide_deep", "deep_cross", "fnn", "deepfm", "nfm", "afm", "din", "dien", "mimn", "drn"]
V = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # 3 fields, k = 2


class Popular:
    def act(self, obs):
        return np.log1p(obs["candidates"]["popularity"][..., 1])


@pytest.fixture(scope="module")
def logged():
    logs = collect_logs(CFG, Popular(), n_visits=700, seed=0, batch_size=100, epsilon=0.5)
    return batch_from_logs(logs, SPEC)


@pytest.fixture(scope="module")
def obs():
    env = NewsFeedVectorEnv(num_envs=6, config=CFG)
    o, _ = env.reset(seed=1)
    for _ in range(3):
        o, *_ = env.step(np.zeros((6, CFG.n_candidates), np.float32))
    o["candidates"]["mask"][0, 90:] = 0  # some padded candidates
    return o


# ---------------------------------------------------------------- registry and bad input
def test_registry_names_and_unknown_name():
    assert list(MODELS) == NAMES
    with pytest.raises(ValueError, match="known models: lr, fm, embedding_mlp.*drn"):
        make_model("transformer", SPEC)


@pytest.mark.parametrize("name", NAMES)
def test_every_model_scores_observations(name, obs):
    model = make_model(name, SPEC)
    scores = model.score(obs)
    assert scores.shape == (6, CFG.n_candidates) and np.isfinite(scores).all()
    assert (scores[0, 90:] == PADDED_SCORE).all() and (scores[0, :90] > PADDED_SCORE).all()
    single = {g: {k: v[2] for k, v in d.items()} for g, d in obs.items()}
    np.testing.assert_allclose(model.score(single)[0], scores[2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_chunked_trimmed_scoring_equals_one_full_pass(name, logged):
    """`score` sorts requests by history length, scores chunks cut to their longest history:
    every model masks padding, so the scores equal one pass over the full-length batch."""
    batch = logged.index(slice(len(logged) - 60, len(logged)))  # late visits: histories vary
    model = make_model(name, SPEC, seed=1).eval()
    with torch.inference_mode():
        reference = model(batch).masked_fill(~batch.candidate_mask, PADDED_SCORE).numpy()
    model.score_chunk = 7
    lengths = batch.history_mask.sum(1)
    assert 0 < lengths.max() < SPEC.history_length and lengths.min() < lengths.max()
    short = batch.index(batch.history_order()[-7:]).trim_history()
    assert short.history_mask.shape[1] == lengths.max()  # cut to the longest real history
    np.testing.assert_allclose(model.score(batch), reference, rtol=1e-4, atol=1e-5)


def test_seeded_construction():
    a, b = make_model("din", SPEC, seed=3), make_model("din", SPEC, seed=3)
    c = make_model("din", SPEC, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.mlp.rest[-1].weight, c.mlp.rest[-1].weight)


def test_mismatched_batch_raises(obs):
    model = make_model("fm", SPEC)
    fb = build_batch(obs, SPEC)
    fb.history_fields[1, 0, 2] = 999
    with pytest.raises(ValueError, match=r"history_fields\[provider\]"):
        model.score(fb)
    other = FeatureSpec.from_config(CFG.replace(history_length=30))
    with pytest.raises(ValueError, match="history_length=30"):
        make_model("fm", other).score(build_batch(obs, SPEC))


# ---------------------------------------------------------------- FM family
def test_fm_identity_hand_checked():
    # pairs: <v1,v2> = 11, <v1,v3> = 17, <v2,v3> = 39
    assert fm_interaction(V).item() == pytest.approx(67.0)
    loops = sum(V[i] @ V[j] for i in range(3) for j in range(i + 1, 3))
    assert fm_interaction(V).item() == pytest.approx(loops.item())


def test_nfm_bi_interaction_is_a_k_vector():
    bi = fm_interaction(V, reduce_dim=False)
    assert bi.tolist() == [23.0, 44.0]  # 1*3 + 1*5 + 3*5, 2*4 + 2*6 + 4*6
    model = make_model("nfm", SPEC, dim=8)
    assert model.mlp.first[0].in_features == 8  # the MLP sees the k-vector


def test_pnn_products_hand_checked():
    assert inner_products(V).tolist() == [11.0, 17.0, 39.0]
    # OPNN: outer product of the summed embeddings f_sum = (9, 12)
    assert outer_product(V).tolist() == [81.0, 108.0, 108.0, 144.0]
    f = make_model("pnn", SPEC, product="outer", dim=4).embed.n_fields
    assert make_model("pnn", SPEC, product="outer", dim=4).mlp.first[1].in_features == 16
    assert make_model("pnn", SPEC, product="inner", dim=4).mlp.first[1].in_features == f * (
        f - 1) // 2
    with pytest.raises(ValueError, match="product"):
        make_model("pnn", SPEC, product="kernel")


def test_dcn_cross_layer_hand_checked():
    layer = CrossLayer(2)
    with torch.no_grad():
        layer.w.copy_(torch.tensor([0.5, -1.0]))
        layer.b.copy_(torch.tensor([0.1, 0.2]))
    x0, x = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
    # x^T w = 1.5 - 4 = -2.5 -> x0 * -2.5 + b + x
    assert layer(x0, x).tolist() == pytest.approx([0.6, -0.8])
    assert all(p.dim() == 1 for p in layer.parameters())  # no d x d matrix in DCN-V1
    v2 = CrossLayer(2, full=True)
    with torch.no_grad():
        v2.linear.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        v2.linear.bias.copy_(torch.tensor([0.5, 0.0]))
    # W x + b = (3.5, 7) -> x0 * (3.5, 7) + x = (6.5, 18)
    assert v2(x0, x).tolist() == pytest.approx([6.5, 18.0])
    assert isinstance(make_model("deep_cross", SPEC, version=2).cross[0].linear, nn.Linear)


def test_afm_attention_weights_sum_to_one():
    torch.manual_seed(0)
    pool = AttentionPooling(4, 3)
    products = torch.randn(2, 5, 6, 4)
    w = pool.weights(products)
    assert torch.allclose(w.sum(-1), torch.ones(2, 5))
    assert torch.allclose(pool(products), (w.unsqueeze(-1) * products).sum(-2))


# ---------------------------------------------------------------- DIN
def test_din_activation_unit_input_padding_and_no_softmax():
    torch.manual_seed(0)
    unit = ActivationUnit(3, (5, 2))
    keys, query = torch.randn(2, 4, 3), torch.randn(2, 6, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    scores = unit(keys, query, mask)
    e = keys.unsqueeze(1).expand(2, 6, 4, 3)
    a = query.unsqueeze(2).expand(2, 6, 4, 3)
    explicit = unit.rest(unit.act(unit.first(torch.cat([e, a, e - a, e * a], -1)))).squeeze(-1)
    assert torch.allclose(scores * mask.unsqueeze(1), explicit * mask.unsqueeze(1), atol=1e-6)
    assert (scores[0, :, 3] == 0).all() and (scores[1, :, 2:] == 0).all()
    # no softmax: the same behaviour twice doubles the pooled interest (intensity kept)
    one = unit(keys[:1, :1], query[:1], mask[:1, :1]) @ keys[:1, :1]
    two = unit(keys[:1, [0, 0]], query[:1], mask[:1, :2]) @ keys[:1, [0, 0]]
    assert torch.allclose(two, 2 * one, atol=1e-6)


def test_activation_unit_workspace_reuse_keeps_scores_and_is_not_shared_by_copies():
    torch.manual_seed(0)
    unit = ActivationUnit(3, (5, 2))
    big = torch.randn(3, 7, 3), torch.randn(3, 9, 3), torch.ones(3, 7, dtype=torch.bool)
    small = torch.randn(1, 4, 3), torch.randn(1, 6, 3), torch.ones(1, 4, dtype=torch.bool)
    expected = [unit(*big), unit(*small)]  # with autograd: fresh tensors
    with torch.inference_mode():
        for _ in range(2):  # big then small: the small request uses a prefix of the buffers
            for inputs, reference in zip((big, small), expected, strict=True):
                assert torch.allclose(unit(*inputs), reference, atol=1e-6)
    assert len(unit.workspace.buffers) == 2  # m and h, grown once, reused
    with torch.no_grad():  # outside inference mode its buffers are kept apart
        assert torch.allclose(unit(*small), expected[1], atol=1e-6)
    assert len(unit.workspace.buffers) == 4
    results = {}

    def score_in_thread():  # grad mode is per thread
        with torch.no_grad():
            results["out"] = unit(*big)

    thread = threading.Thread(target=score_in_thread)
    thread.start()
    thread.join()
    assert torch.allclose(results["out"], expected[0], atol=1e-6)
    assert len(unit.workspace.buffers) == 6  # another thread, its own buffers
    assert len(copy.deepcopy(unit).workspace.buffers) == 0
    assert len(pickle.loads(pickle.dumps(unit)).workspace.buffers) == 0
    assert unit.workspace.get("m", (10,), big[0]) is None  # recording gradients: no reuse
    with torch.no_grad():
        assert unit.workspace.get("m", (1 << 30,), big[0]) is None  # over max_bytes


def test_prelu_one_slope_per_last_axis_channel():
    prelu = PReLU(2)
    with torch.no_grad():
        prelu.slope.copy_(torch.tensor([0.25, -1.0]))
    x = torch.tensor([[[-2.0, -3.0], [4.0, 5.0]]])  # (1, 2, 2): channels on the last axis
    expected = torch.tensor([[[-0.5, 3.0], [4.0, 5.0]]])
    assert torch.equal(prelu(x), expected)


def test_dice_batch_statistics_and_moving_averages():
    dice = Dice(2)
    assert dice.bn.eps == 1e-8 and dice.bn.weight is None and dice.bn.bias is None
    with torch.no_grad():
        dice.alpha.copy_(torch.tensor([0.5, -1.0]))
    s = torch.tensor([[1.0, 2.0], [3.0, -2.0], [5.0, 0.0]])
    p = torch.sigmoid((s - s.mean(0)) / torch.sqrt(s.var(0, unbiased=False) + 1e-8))
    assert torch.allclose(dice(s), p * s + (1 - p) * dice.alpha * s, atol=1e-6)
    dice.eval()
    with torch.no_grad():
        dice.bn.running_mean.copy_(torch.tensor([1.0, 0.0]))
        dice.bn.running_var.copy_(torch.tensor([4.0, 1.0]))
    x = torch.tensor([[3.0, 1.0]])
    p = torch.sigmoid((x - torch.tensor([1.0, 0.0])) / torch.sqrt(torch.tensor([4.0, 1.0])
                                                                  + 1e-8))
    assert torch.allclose(dice(x), p * x + (1 - p) * dice.alpha * x, atol=1e-6)
    assert torch.allclose(dice(x), dice(torch.cat([x, 10 * x]))[:1])  # no batch statistics


def test_din_mini_batch_aware_l2(logged):
    model = make_model("din", SPEC, l2_mini_batch=0.01)
    model.prepare(logged)
    batch = logged.index(slice(0, 8))
    _, reg = model.forward_with_aux(batch)
    rows = torch.unique(model._rows(batch))
    w = model.embed.item.table.weight[rows]
    assert reg.item() == pytest.approx(
        0.01 * (w.pow(2).sum(-1) / model.id_counts[rows]).sum().item(), rel=1e-5)
    assert model.id_counts.max() > 1


# ---------------------------------------------------------------- DIEN
def paper_gru_step(cell: AttentionGRU, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """DIEN eqs. 1-4 written out."""
    w_r, w_u, w_h = cell.weight_ih.chunk(3)
    u_r, u_u, u_h = cell.weight_hh.chunk(3)
    bi_r, bi_u, bi_h = cell.bias_ih.chunk(3)
    bh_r, bh_u, bh_h = cell.bias_hh.chunk(3)
    u = torch.sigmoid(x @ w_u.T + bi_u + h @ u_u.T + bh_u)
    r = torch.sigmoid(x @ w_r.T + bi_r + h @ u_r.T + bh_r)
    cand = torch.tanh(x @ w_h.T + bi_h + r * (h @ u_h.T + bh_h))
    return (1 - u) * h + u * cand


def test_augru_attention_zero_keeps_state_one_is_gru_step():
    torch.manual_seed(0)
    cell = AttentionGRU(3, 4, "augru")
    assert cell.bias_ih is not cell.bias_hh
    assert {"bias_ih", "bias_hh"} <= {n for n, _ in cell.named_parameters()}
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    gi = cell.input_gates(x)
    assert torch.equal(cell.step(gi, h, torch.zeros(5, 1)), h)
    assert torch.allclose(cell.step(gi, h, torch.ones(5, 1)), paper_gru_step(cell, x, h),
                          atol=1e-6)
    # intermediate attention scales the update gate: u~ = a u
    a = torch.full((5, 1), 0.3)
    full = paper_gru_step(cell, x, h)
    w_u, u_u = cell.weight_ih.chunk(3)[1], cell.weight_hh.chunk(3)[1]
    u = torch.sigmoid(x @ w_u.T + cell.bias_ih.chunk(3)[1] + h @ u_u.T + cell.bias_hh.chunk(3)[1])
    cand = (full - (1 - u) * h) / u
    assert torch.allclose(cell.step(gi, h, a), (1 - 0.3 * u) * h + 0.3 * u * cand, atol=1e-5)


def test_agru_and_aigru_options():
    torch.manual_seed(1)
    x, h, a = torch.randn(4, 3), torch.randn(4, 2), torch.rand(4, 1)
    agru = AttentionGRU(3, 2, "agru")
    gru_step = paper_gru_step(agru, x, h)
    u = torch.sigmoid(x @ agru.weight_ih.chunk(3)[1].T + agru.bias_ih.chunk(3)[1]
                      + h @ agru.weight_hh.chunk(3)[1].T + agru.bias_hh.chunk(3)[1])
    cand = (gru_step - (1 - u) * h) / u
    assert torch.allclose(agru.step(agru.input_gates(x), h, a), (1 - a) * h + a * cand,
                          atol=1e-5)
    aigru = AttentionGRU(3, 2, "aigru")
    out = aigru.step(aigru.input_gates(x), h, a)
    assert torch.allclose(out, paper_gru_step(aigru, a * x, h), atol=1e-6)
    # padding steps keep the state in every mode: a padded sequence ends where it would
    # without the padding, and requests of different lengths run together
    seq, att = torch.randn(3, 5, 3), torch.rand(3, 2, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    for mode in ("augru", "agru", "aigru"):
        cell = AttentionGRU(3, 2, mode)
        both = cell(cell.input_gates(seq), att, mask)
        alone = cell(cell.input_gates(seq[:1, :3]), att[:1, :, :3], mask[:1, :3])
        assert torch.allclose(both[0], alone[0], atol=1e-6)
        h = torch.zeros(2, 2)
        for t in range(5):
            h = cell.step(cell.input_gates(seq[1, t]), h, att[1, :, t].unsqueeze(-1))
        assert torch.allclose(both[1], h, atol=1e-6) and (both[2] == 0).all()
    with pytest.raises(ValueError, match="mode"):
        AttentionGRU(3, 2, "lstm")


def test_dien_auxiliary_loss_hand_checked_and_padding():
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    pos = torch.tensor([[[2.0, 0.0], [5.0, 5.0]]])
    neg = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    valid = torch.tensor([[True, False]])
    loss = dien_module.auxiliary_loss(h, pos, neg, valid)
    expect = -math.log(1 / (1 + math.exp(-2.0))) + math.log(2.0)
    assert loss.item() == pytest.approx(expect, rel=1e-6)
    both = dien_module.auxiliary_loss(h, pos, neg, torch.tensor([[True, True]]))
    second = -math.log(1 / (1 + math.exp(-5.0))) - math.log(1 - 1 / (1 + math.exp(-1.0)))
    assert both.item() == pytest.approx((expect + second) / 2, rel=1e-6)
    none = dien_module.auxiliary_loss(h, pos, neg, torch.zeros(1, 2, dtype=torch.bool))
    assert none.item() == 0.0


def test_dien_pairs_h_t_with_next_click_and_skips_aux_at_inference(logged, monkeypatch):
    model = make_model("dien", SPEC)
    batch = logged.index(slice(100, 140))
    captured = {}
    real = dien_module.auxiliary_loss

    def spy(states, positives, negatives, valid, negative_valid=None):
        captured.update(states=states, positives=positives, valid=valid, neg_ok=negative_valid)
        return real(states, positives, negatives, valid, negative_valid)

    monkeypatch.setattr(dien_module, "auxiliary_loss", spy)
    _, aux = model.forward_with_aux(batch)
    hist = model.embed.history(batch).flatten(2)
    states, steps = model.extract(hist, batch.history_mask)
    assert torch.allclose(captured["states"], states[:, :-1])
    assert torch.equal(captured["positives"], hist[:, 1:steps])
    assert torch.equal(captured["valid"], batch.history_mask[:, 1:steps])
    assert aux.item() > 0
    calls = []
    monkeypatch.setattr(dien_module, "auxiliary_loss", lambda *a, **k: calls.append(1))
    model.eval()
    model(batch)
    model.score(batch)
    assert not calls


def test_dien_negatives_are_not_the_users_clicks(logged):
    model = make_model("dien", SPEC)
    batch = logged.index(slice(100, 200))
    hist = model.embed.history(batch).flatten(2)
    steps = int(batch.history_mask.sum(1).max())
    torch.manual_seed(0)
    negatives, ok = model.sample_negatives(batch, hist, steps)
    assert negatives.shape == (100, steps - 1, hist.shape[-1])
    pool = hist[batch.history_mask]
    assert all((pool == n).all(-1).any() for n in negatives.reshape(-1, hist.shape[-1])[:50])
    own = batch.history_fields[..., 0]
    neg_ids = []
    for row in negatives.reshape(-1, hist.shape[-1])[:50]:
        neg_ids.append(batch.history_fields[..., 0][batch.history_mask][
            (pool == row).all(-1)][0])
    flat_ok = ok.reshape(-1)[:50]
    rows = torch.arange(100).repeat_interleave(steps - 1)[:50]
    for r, nid, good in zip(rows, neg_ids, flat_ok, strict=True):
        assert bool(good) == bool((own[r] != nid).all())


def test_all_empty_history_batch(logged):
    batch = logged.index(slice(0, 10))
    batch.history_fields = torch.zeros_like(batch.history_fields)
    batch.history_mask = torch.zeros_like(batch.history_mask)
    for name in ("din", "dien", "mimn", "embedding_mlp", "autorec", "wide_deep"):
        model = make_model(name, SPEC)
        logits, aux = model.forward_with_aux(batch)
        assert torch.isfinite(logits).all() and torch.isfinite(aux), name
        (logits.sum() + aux).backward()
    assert make_model("dien", SPEC).auxiliary_loss(batch).item() == 0.0


def test_sequence_work_is_per_request_not_per_candidate(logged):
    batch = logged.index(slice(400, 412))  # 12 requests, 10 items each
    model = make_model("dien", SPEC)
    shapes = []
    model.extractor.register_forward_hook(
        lambda m, i, o: shapes.append(int(i[0].batch_sizes[0])))  # packed: sequences
    lookups = []
    model.embed.item.register_forward_hook(lambda m, i, o: lookups.append(tuple(i[0].shape)))
    model(batch)
    assert shapes == [12]
    assert sorted(lookups) == sorted([(12, 50, 3), (12, 10, 3)])
    din = make_model("din", SPEC)
    lookups.clear()
    din.embed.item.register_forward_hook(lambda m, i, o: lookups.append(tuple(i[0].shape)))
    din(batch)
    assert sorted(lookups) == sorted([(12, 50, 3), (12, 10, 3)])


# ---------------------------------------------------------------- MIMN
def test_ntm_addressing_and_write_hand_checked():
    memory = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]])
    key, beta = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0]])
    w = ntm_address(memory, key, beta)
    cos = torch.tensor([1 / math.sqrt(2), 1.0])
    assert torch.allclose(w, torch.softmax(2 * cos, 0).unsqueeze(0))
    assert torch.allclose(ntm_read(memory, w), (w.T * memory[0]).sum(0, keepdim=True))
    ones = torch.ones(1, 2, 2)
    new = ntm_write(ones, torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.5]]),
                    torch.tensor([[2.0, 3.0]]))
    assert new.tolist() == [[[2.0, 3.5], [1.0, 1.0]]]


def test_mimn_read_before_write_shapes_and_utilisation(logged):
    model = make_model("mimn", SPEC, slots=3)
    batch = logged.index(slice(50, 60))
    hist = model.embed.history(batch).flatten(2)
    d = hist.shape[-1]
    state = {"memory": torch.randn(10, 3, d), "controller": torch.randn(10, d),
             "read": torch.randn(10, d), "usage": torch.rand(10, 3),
             "miu": torch.randn(10, 3, d)}
    x = hist[:, 0]
    new = model.uic_step(state, x)
    c = model.controller(torch.cat([x, state["read"]], -1), state["controller"])
    key, beta = model.read_head(c).split([d, 1], -1)
    expected_read = ntm_read(state["memory"], ntm_address(state["memory"], key,
                                                          nn.functional.softplus(beta)))
    assert torch.allclose(new["read"], expected_read, atol=1e-6)  # read from M_{t-1}
    assert not torch.allclose(new["memory"], state["memory"])
    assert torch.allclose(new["usage"].sum(-1), state["usage"].sum(-1) + 1, atol=1e-5)
    changed = (new["miu"] != state["miu"]).any(-1).sum(-1)
    assert (changed == 1).all()  # MIU updates the top-1 slot only
    final = model.uic(hist, batch.history_mask)
    row = int(batch.history_mask.sum(1).argmin())  # padding leaves the states unchanged
    n = int(batch.history_mask[row].sum())
    alone = model.uic(hist[row:row + 1, :n], batch.history_mask[row:row + 1, :n])
    assert all(torch.allclose(alone[k][0], final[k][row], atol=1e-5) for k in final)
    assert final["memory"].shape == (10, 3, d) and final["miu"].shape == (10, 3, d)
    assert torch.allclose(final["usage"].sum(-1), batch.history_mask.sum(1).float(), atol=1e-4)
    _, reg = model.forward_with_aux(batch)
    usage = final["usage"]
    assert reg.item() == pytest.approx(
        0.1 * (usage - usage.mean(-1, keepdim=True)).pow(2).sum(-1).mean().item(), rel=1e-5)


# ---------------------------------------------------------------- two-stage models, DRN
def test_fnn_embeddings_come_from_the_trained_fm(logged):
    fm = make_model("fm", SPEC)
    fm.fit(logged, epochs=1, batch_size=128)
    fnn = make_model("fnn", SPEC)
    fnn.init_from_fm(fm)
    assert torch.equal(fnn.embed.item.table.weight, fm.embed.item.table.weight)
    assert torch.equal(fnn.linear.weights.user.table.weight, fm.linear.weights.user.table.weight)
    # the two-stage path of fit: stage 1 trains an FM with the same settings and seed
    staged = make_model("fnn", SPEC)
    staged.prepare(logged, epochs=1, batch_size=128, seed=0)
    assert staged.initialised_from_fm
    assert torch.allclose(staged.embed.item.table.weight, fm.embed.item.table.weight)


def test_neumf_prediction_layer_from_pretrained_halves(logged):
    gmf = make_model("neural_cf", SPEC, variant="gmf", seed=1)
    mlp = make_model("neural_cf", SPEC, variant="mlp", seed=2)
    neumf = make_model("neural_cf", SPEC)
    neumf.load_pretrained(gmf, mlp)
    assert torch.allclose(neumf.predict.weight, torch.cat([0.5 * gmf.predict.weight,
                                                           0.5 * mlp.predict.weight], 1))
    batch = logged.index(slice(0, 20))
    assert torch.allclose(neumf(batch), 0.5 * gmf(batch) + 0.5 * mlp(batch), atol=1e-6)
    assert torch.equal(neumf.gmf_user.weight, gmf.gmf_user.weight)
    before = neumf.predict.weight.clone()
    neumf.prepare(logged)  # pretrained already: an online refit must not start over
    assert torch.equal(neumf.predict.weight, before)


def test_collaborative_models_use_ids_only(logged):
    batch = logged.index(slice(0, 20))
    changed = batch.index(slice(None))
    changed.dense = torch.rand_like(batch.dense)
    changed.item_fields = batch.item_fields.clone()
    changed.item_fields[..., 1:] = 1
    changed.user_fields = batch.user_fields.clone()
    changed.user_fields[:, 1:] = 1
    for name, kwargs in (("neural_cf", {}), ("autorec", {}), ("autorec", {"variant": "item"})):
        model = make_model(name, SPEC, **kwargs)
        if kwargs:
            model.prepare(logged)
        assert torch.allclose(model(batch), model(changed)), name


def test_drn_dueling_decomposition(obs):
    model = make_model("drn", SPEC)
    fb = build_batch(obs, SPEC)
    q, v, a = model(fb), model.value(fb), model.advantage(fb)
    mask = fb.candidate_mask
    mean = (a * mask).sum(1) / mask.sum(1)
    assert torch.allclose(q, v[:, None] + a - mean[:, None], atol=1e-5)
    assert torch.allclose(((q - v[:, None]) * mask).sum(1), torch.zeros(6), atol=1e-4)


# ---------------------------------------------------------------- training
def test_training_beats_constant_and_is_seeded(logged):
    model = make_model("embedding_mlp", SPEC)
    history = model.fit(logged, valid_fraction=0.3, epochs=4, batch_size=64, lr=3e-3)
    assert history.best_epoch >= 0 and history.valid_auc[history.best_epoch] > 0.55
    again = make_model("embedding_mlp", SPEC)
    history2 = again.fit(logged, valid_fraction=0.3, epochs=4, batch_size=64, lr=3e-3)
    assert history.train_loss == history2.train_loss
    drn = make_model("drn", SPEC)
    assert max(drn.fit(logged, valid_fraction=0.3, epochs=3, batch_size=64).valid_auc) > 0.55
    assert len(history.to_frame()) == len(history.train_loss)
    scores = evaluate(model, logged)  # GAUC groups the held-out impressions by user id
    logits, mask = predict_logits(model, logged), logged.candidate_mask
    users = logged.user_fields[:, :1].expand_as(mask)[mask].numpy()
    assert scores["gauc"] == pytest.approx(gauc(logged.labels[mask].numpy(),
                                                logits[mask].numpy(), users))
    assert 0.5 < scores["gauc"] < 1.0


def test_nan_loss_names_step_and_batch(logged):
    bad = logged.index(slice(None))
    bad.dense = bad.dense.clone()
    bad.dense[:] = float("nan")
    model = make_model("lr", SPEC)
    with pytest.raises(NonFiniteLossError, match=r"step 0 \(epoch 0, batch 0"):
        model.fit(bad, epochs=1, batch_size=64)


def test_auc_and_devices():
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1, 1], [0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(auc([1, 1], [0.1, 0.2]))
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_gauc_weights_per_user_auc_by_impressions_and_skips_one_class_users():
    # user 7: 4 impressions, AUC 0.75; user 8: 2 impressions, AUC 0; user 9: clicks only
    labels = [0, 0, 1, 1, 1, 0, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.5]
    users = [7, 7, 7, 7, 8, 8, 9]
    assert gauc(labels, scores, users) == pytest.approx((4 * 0.75 + 2 * 0.0) / 6)
    # a score shift that differs by user leaves GAUC alone but changes the global AUC
    shifted = np.asarray(scores) + np.where(np.asarray(users) == 8, 10.0, 0.0)
    assert gauc(labels, shifted, users) == pytest.approx(gauc(labels, scores, users))
    assert auc(labels, shifted) != pytest.approx(auc(labels, scores))
    assert math.isnan(gauc([1, 0], [0.3, 0.2], [1, 2]))
    with pytest.raises(ValueError, match="same size"):
        gauc([1, 0], [0.3], [1, 1])


def test_featurebatch_to_moves_every_tensor(logged):
    moved = logged.index(slice(0, 3)).to("cpu")
    assert isinstance(moved, FeatureBatch) and moved.labels.shape == (3, CFG.slate_size)
