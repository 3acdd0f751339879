"""Compiled per-visit loops of the simulator's hot path (numba, cached on disk).

Each kernel loops over the B visits of a batch and over that visit's few candidates and
history entries, which numpy can only express through (B, N, L) temporaries. They hold no
state and draw no random numbers: `world.py` and `users.py` own the semantics and call these
for speed; the equations are restated at each kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from drnsim._random import absorb, to_uniform

N_WINDOWS = 4


@njit(cache=True)
def gather_history(users, ring_items, ring_times, ring_ptr, ring_len, out_items, out_times):
    """Chronological history (oldest first, padding -1 after) from each user's ring buffer."""
    hist_len = ring_items.shape[1]
    for b in range(users.shape[0]):
        u = users[b]
        length = ring_len[u]
        start = ring_ptr[u] - length
        for slot in range(hist_len):
            if slot < length:
                pos = (start + slot) % hist_len
                out_items[b, slot] = ring_items[u, pos]
                out_times[b, slot] = ring_times[u, pos]
            else:
                out_items[b, slot] = -1
                out_times[b, slot] = 0.0


@njit(cache=True)
def fill_observation(times, candidates, hist_items, hist_times, item_topic, item_provider,
                     item_pub, item_clicks, click_decay, windows, n_topics, n_providers,
                     cand_topic, cand_provider, cand_age, popularity, topic_clicks,
                     provider_clicks, hist_topic, hist_provider, hist_age):
    """Candidate and history features of B visits (DESIGN.md section 3).

    popularity[b, n, w] = decayed clicks of the item in window w (counts < 1e-6 read as 0);
    topic_clicks[b, n, w] = the user's clicks within window w on the candidate's topic
    (likewise providers), counted from the history."""
    topic_counts = np.zeros((n_topics, N_WINDOWS), np.float32)
    provider_counts = np.zeros((n_providers, N_WINDOWS), np.float32)
    n_hist = hist_items.shape[1]
    for b in range(candidates.shape[0]):
        t = times[b]
        for slot in range(n_hist):
            item = hist_items[b, slot]
            if item < 0:
                hist_topic[b, slot] = -1
                hist_provider[b, slot] = -1
                hist_age[b, slot] = 0.0
                continue
            topic, provider = item_topic[item], item_provider[item]
            age = t - hist_times[b, slot]
            hist_topic[b, slot] = topic
            hist_provider[b, slot] = provider
            hist_age[b, slot] = age
            for w in range(N_WINDOWS):
                if age < windows[w]:
                    topic_counts[topic, w] += 1.0
                    provider_counts[provider, w] += 1.0
        for n in range(candidates.shape[1]):
            item = candidates[b, n]
            if item < 0:
                cand_topic[b, n] = -1
                cand_provider[b, n] = -1
                cand_age[b, n] = 0.0
                for w in range(N_WINDOWS):
                    popularity[b, n, w] = 0.0
                    topic_clicks[b, n, w] = 0.0
                    provider_clicks[b, n, w] = 0.0
                continue
            topic, provider = item_topic[item], item_provider[item]
            cand_topic[b, n] = topic
            cand_provider[b, n] = provider
            cand_age[b, n] = t - item_pub[item]
            for w in range(N_WINDOWS):
                count = item_clicks[item, w] * click_decay[b, w]
                popularity[b, n, w] = count if count >= 1e-6 else 0.0
                topic_clicks[b, n, w] = topic_counts[topic, w]
                provider_clicks[b, n, w] = provider_counts[provider, w]
        for slot in range(n_hist):  # reset only what this visit touched
            item = hist_items[b, slot]
            if item >= 0:
                topic_counts[item_topic[item], :] = 0.0
                provider_counts[item_provider[item], :] = 0.0


@njit(cache=True)
def attractiveness(times, items, interest, channel_weight, item_vector, item_quality, item_pub,
                   item_topic, hist_items, hist_times, coef, out):
    """a_ui = sigmoid(b0 + b1 max_m w_m <u_m, v_i> + b2 q_i - b3 age / tau - b4 seen_ui
    - b5 sum_{clicks on topic c_i} exp(-(t - t_click) / tau_sat)); 0 for padded items.

    coef = (b0, b1, b2, b3 / tau, b4, b5, 1 / tau_sat)."""
    b0, b1, b2, fresh, b4, b5, inv_sat = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], \
        coef[6]
    n_hist = hist_items.shape[1]
    recency = np.zeros(n_hist)
    hist_topic = np.full(n_hist, -1)
    n_channels, dim = interest.shape[1], interest.shape[2]
    for b in range(items.shape[0]):
        t = times[b]
        for slot in range(n_hist):
            item = hist_items[b, slot]
            if item >= 0:
                recency[slot] = np.exp(-(t - hist_times[b, slot]) * inv_sat)
                hist_topic[slot] = item_topic[item]
            else:
                recency[slot] = 0.0
                hist_topic[slot] = -1
        for j in range(items.shape[1]):
            item = items[b, j]
            if item < 0:
                out[b, j] = 0.0
                continue
            relevance = -np.inf
            for m in range(n_channels):
                dot = 0.0
                for k in range(dim):
                    dot += interest[b, m, k] * item_vector[item, k]
                relevance = max(relevance, channel_weight[b, m] * dot)
            seen = 0.0
            satiation = 0.0
            topic = item_topic[item]
            for slot in range(n_hist):
                if hist_items[b, slot] == item:
                    seen = 1.0
                if hist_topic[slot] == topic:
                    satiation += recency[slot]
            logit = (b0 + b1 * relevance + b2 * item_quality[item] - fresh * (t - item_pub[item])
                     - b4 * seen - b5 * satiation)
            out[b, j] = 1.0 / (1.0 + np.exp(-logit))


@njit(cache=True)
def rank_slates(scores, mask, out):
    """Top-K candidate indices per row into out (B, K): descending score, ties to the lower
    index, masked candidates never; unfilled slots -1."""
    k = out.shape[1]
    for b in range(scores.shape[0]):
        filled = 0
        for n in range(scores.shape[1]):
            if not mask[b, n]:
                continue
            s = scores[b, n]
            if filled == k and not s > scores[b, out[b, k - 1]]:
                continue
            pos = filled if filled < k else k - 1
            while pos > 0 and s > scores[b, out[b, pos - 1]]:
                out[b, pos] = out[b, pos - 1]
                pos -= 1
            out[b, pos] = n
            if filled < k:
                filled += 1
        for slot in range(filled, k):
            out[b, slot] = -1


@njit(cache=True)
def ou_step(users, dt_days, interest, channel_topic, centroids, theta, scale, noise):
    """Ornstein-Uhlenbeck drift of each visiting user's channels over dt, in place:
    u <- c + (u - c) e^{-theta dt} + scale sqrt((1 - e^{-2 theta dt}) / (2 theta)) xi."""
    for b in range(users.shape[0]):
        u = users[b]
        for m in range(interest.shape[1]):
            decay = np.exp(-theta * dt_days[b, m])
            std = scale * np.sqrt((1.0 - decay * decay) / (2.0 * theta))
            centre = centroids[channel_topic[u, m]]
            for k in range(interest.shape[2]):
                interest[u, m, k] = (centre[k] + (interest[u, m, k] - centre[k]) * decay
                                     + std * noise[b, m, k])


@njit(cache=True)
def candidates(lo, hi, n_fresh, key, users, visit_numbers, out_ids):
    """Each visit's candidates: the n_fresh newest live items [hi - n_fresh, hi) newest
    first, then one item per equal stratum of the older live pool [lo, hi - n_fresh), drawn
    with the counter-based coin hash(key, user, visit number, stratum); -1 where the pool is
    too small. Live items are an index range because news is stored in publication order."""
    n_total = out_ids.shape[1]
    n_sampled = n_total - n_fresh
    for b in range(users.shape[0]):
        for j in range(n_fresh):
            item = hi[b] - 1 - j
            out_ids[b, j] = item if item >= lo[b] else -1
        pool_lo = lo[b]
        size = max(hi[b] - n_fresh, pool_lo) - pool_lo
        state = absorb(absorb(key, uint64(users[b])), uint64(visit_numbers[b]))
        for j in range(n_sampled):
            start = pool_lo + (size * j) // n_sampled
            width = pool_lo + (size * (j + 1)) // n_sampled - start
            if width > 0:
                coin = to_uniform(absorb(state, uint64(j)))
                out_ids[b, n_fresh + j] = start + int(coin * width)
            else:
                out_ids[b, n_fresh + j] = -1
