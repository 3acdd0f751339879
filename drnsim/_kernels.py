"""Compiled per-visit loops of the simulator's hot path (numba, cached on disk).

Each kernel loops over the B visits of a batch and over that visit's few candidates and
history entries, which numpy can only express through (B, N, L) temporaries; the heavier ones
run the visits on all cores (`prange`; each visit writes only its own rows, so the results do
not depend on the thread count). They hold no state and draw no random numbers: `world.py`
and `users.py` own the semantics and call these for speed; the equations are restated at each
kernel.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange, uint64

from drnsim._random import absorb, counter_normal_pair, to_uniform

N_WINDOWS = 4


def n_chunks(n_visits: int) -> int:
    """Work items of a chunked parallel kernel: a few per thread, so that per-chunk scratch
    is allocated a handful of times per call rather than once per visit."""
    return max(min(n_visits, 4 * get_num_threads()), 1)


@njit(cache=True, inline="always")
def _ring_start(ring_ptr, ring_len, hist_len, u):
    """Ring position of user u's oldest stored click (slot s is at (start + s) % L)."""
    return (ring_ptr[u] - ring_len[u]) % hist_len


@njit(cache=True, parallel=True)
def fill_observation(users, times, candidates, ring_items, ring_times, ring_ptr, ring_len,
                     item_topic, item_provider, item_pub, item_clicks, click_decay, windows,
                     n_topics, n_providers, hist_items, cand_topic, cand_provider, cand_age,
                     popularity, topic_clicks, provider_clicks, hist_topic, hist_provider,
                     hist_age, n_chunks):
    """Candidate and history features of B visits (docs/design.md section 3), in `n_chunks`
    chunks of visits spread over the threads; the history is read from each user's click
    ring, oldest first, padding (-1) after.

    popularity[b, n, w] = decayed clicks of the item in window w (counts < 1e-6 read as 0);
    topic_clicks[b, n, w] = the user's clicks within window w on the candidate's topic
    (likewise providers), counted from the history."""
    n_visits = candidates.shape[0]
    for chunk in prange(n_chunks):
        # scratch per chunk, reset after each visit for the entries it touched
        topic_counts = np.zeros((n_topics, N_WINDOWS), np.float32)
        provider_counts = np.zeros((n_providers, N_WINDOWS), np.float32)
        for b in range(chunk * n_visits // n_chunks, (chunk + 1) * n_visits // n_chunks):
            _observe_visit(b, users, times, candidates, ring_items, ring_times, ring_ptr,
                           ring_len, item_topic, item_provider, item_pub, item_clicks,
                           click_decay, windows, hist_items, cand_topic, cand_provider,
                           cand_age, popularity, topic_clicks, provider_clicks, hist_topic,
                           hist_provider, hist_age, topic_counts, provider_counts)


@njit(cache=True)
def _observe_visit(b, users, times, candidates, ring_items, ring_times, ring_ptr, ring_len,
                   item_topic, item_provider, item_pub, item_clicks, click_decay, windows,
                   hist_items, cand_topic, cand_provider, cand_age, popularity, topic_clicks,
                   provider_clicks, hist_topic, hist_provider, hist_age, topic_counts,
                   provider_counts):
    """One visit of `fill_observation`; the count scratch is all zeros on entry and exit."""
    n_hist = hist_items.shape[1]
    t = times[b]
    u = users[b]
    length = ring_len[u]
    start = _ring_start(ring_ptr, ring_len, n_hist, u)
    for slot in range(n_hist):
        if slot >= length:
            hist_items[b, slot] = -1
            hist_topic[b, slot] = -1
            hist_provider[b, slot] = -1
            hist_age[b, slot] = 0.0
            continue
        pos = (start + slot) % n_hist
        item = ring_items[u, pos]
        topic, provider = item_topic[item], item_provider[item]
        age = t - ring_times[u, pos]
        hist_items[b, slot] = item
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
    for slot in range(length):  # leave the scratch zeroed
        item = hist_items[b, slot]
        topic_counts[item_topic[item], :] = 0.0
        provider_counts[item_provider[item], :] = 0.0


@njit(cache=True, parallel=True)
def attractiveness(users, times, items, interest, channel_weight, item_vector, item_quality,
                   item_bait, item_pub, item_topic, ring_items, ring_times, ring_ptr, ring_len,
                   coef, out, n_chunks):
    """a_ui = sigmoid(b0 + b1 max_m w_m <u_m, v_i> + b2 q_i + lambda w_bait b_i
    - b3 age / tau - b4 seen_ui - b5 sum_{clicks on topic c_i} exp(-(t - t_click) / tau_sat));
    0 for padded items. The visits are split in `n_chunks` chunks over the threads; the
    user's clicks are read from their ring.

    coef = (b0, b1, b2, b3 / tau, b4, b5, 1 / tau_sat, lambda w_bait)."""
    n_hist = ring_items.shape[1]
    n_visits = items.shape[0]
    for chunk in prange(n_chunks):
        recency = np.empty(n_hist)  # scratch per chunk: the visit's clicks
        clicked = np.empty(n_hist, np.int64)
        clicked_topic = np.empty(n_hist, np.int64)
        for b in range(chunk * n_visits // n_chunks, (chunk + 1) * n_visits // n_chunks):
            _visit_attractiveness(b, users, times, items, interest, channel_weight,
                                  item_vector, item_quality, item_bait, item_pub, item_topic,
                                  ring_items, ring_times, ring_ptr, ring_len, coef, out, recency,
                                  clicked, clicked_topic)


@njit(cache=True)
def _history_recency(u, t, item_topic, ring_items, ring_times, ring_ptr, ring_len, inv_sat,
                     clicked, clicked_topic, recency):
    """User u's stored clicks into scratch buffers of length L, oldest first: item, its
    topic and its satiation weight exp(-(t - t_click) / tau_sat); returns how many."""
    n_hist = ring_items.shape[1]
    length = ring_len[u]
    start = _ring_start(ring_ptr, ring_len, n_hist, u)
    for slot in range(length):
        pos = (start + slot) % n_hist
        clicked[slot] = ring_items[u, pos]
        clicked_topic[slot] = item_topic[clicked[slot]]
        recency[slot] = np.exp(-(t - ring_times[u, pos]) * inv_sat)
    return length


@njit(cache=True)
def _topic_satiation(topic, length, clicked_topic, recency):
    """sum over the stored clicks on `topic` of their satiation weights."""
    total = 0.0
    for slot in range(length):
        if clicked_topic[slot] == topic:
            total += recency[slot]
    return total


@njit(cache=True)
def _visit_attractiveness(b, users, times, items, interest, channel_weight, item_vector,
                          item_quality, item_bait, item_pub, item_topic, ring_items, ring_times,
                          ring_ptr, ring_len, coef, out, recency, clicked, clicked_topic):
    """One visit of `attractiveness`, with scratch buffers of length L."""
    b0, b1, b2, fresh, b4, b5, inv_sat = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], \
        coef[6]
    bait_weight = coef[7]
    n_channels, dim = interest.shape[1], interest.shape[2]
    t = times[b]
    u = users[b]
    length = _history_recency(u, t, item_topic, ring_items, ring_times, ring_ptr, ring_len,
                              inv_sat, clicked, clicked_topic, recency)
    for j in range(items.shape[1]):
        item = items[b, j]
        if item < 0:
            out[b, j] = 0.0
            continue
        relevance = -np.inf
        for m in range(n_channels):
            dot = 0.0
            for k in range(dim):
                dot += interest[u, m, k] * item_vector[item, k]
            relevance = max(relevance, channel_weight[u, m] * dot)
        seen = 0.0
        satiation = 0.0
        topic = item_topic[item]
        for slot in range(length):
            if clicked[slot] == item:
                seen = 1.0
            if clicked_topic[slot] == topic:
                satiation += recency[slot]
        logit = (b0 + b1 * relevance + b2 * item_quality[item] + bait_weight * item_bait[item]
                 - fresh * (t - item_pub[item]) - b4 * seen - b5 * satiation)
        out[b, j] = 1.0 / (1.0 + np.exp(-logit))


@njit(cache=True, inline="always")
def ring_push(ring_items, ring_times, ring_ptr, ring_len, u, item, t):
    """Append one click (item at time t) to user u's ring, overwriting the oldest when full."""
    n_hist = ring_items.shape[1]
    pos = ring_ptr[u]
    ring_items[u, pos] = item
    ring_times[u, pos] = t
    ring_ptr[u] = (pos + 1) % n_hist
    ring_len[u] = min(ring_len[u] + 1, n_hist)


@njit(cache=True)
def satiation(users, times, items, item_topic, ring_items, ring_times, ring_ptr, ring_len,
              inv_sat, out):
    """The satiation term of `attractiveness` alone: out[b, j] = sum over user b's stored
    clicks on item j's topic of exp(-(t - t_click) / tau_sat); 0 for padded items."""
    n_hist = ring_items.shape[1]
    recency = np.empty(n_hist)
    clicked = np.empty(n_hist, np.int64)
    clicked_topic = np.empty(n_hist, np.int64)
    for b in range(users.shape[0]):
        length = _history_recency(users[b], times[b], item_topic, ring_items, ring_times,
                                  ring_ptr, ring_len, inv_sat, clicked, clicked_topic, recency)
        for j in range(items.shape[1]):
            item = items[b, j]
            out[b, j] = 0.0 if item < 0 else _topic_satiation(item_topic[item], length,
                                                               clicked_topic, recency)


@njit(cache=True)
def satisfaction(users, visit_numbers, items, item_quality, item_bait, key, coef,
                 satisfaction_out, dwell_out):
    """What a click on item ids (B, n) would bring (docs/design.md section 8; 0 where -1):
    s = q_i - lambda d_bait (b_i - b_mean) + sigma_s z, dwell = median exp(g_d s + sigma_d z'),
    (z, z') the first `counter_normal_pair` of hash(key, user, visit number, item).

    coef = (lambda d_bait, b_mean, sigma_s, median, g_d, sigma_d)."""
    disappointment, mean_bait, sigma_s, median, gain, sigma_d = (coef[0], coef[1], coef[2],
                                                                 coef[3], coef[4], coef[5])
    for b in range(items.shape[0]):
        visit = absorb(absorb(key, uint64(users[b])), uint64(visit_numbers[b]))
        for j in range(items.shape[1]):
            item = items[b, j]
            if item < 0:
                satisfaction_out[b, j] = 0.0
                dwell_out[b, j] = 0.0
                continue
            z, z_dwell = counter_normal_pair(absorb(visit, uint64(item)), 0)
            s = item_quality[item] - disappointment * (item_bait[item] - mean_bait) + sigma_s * z
            satisfaction_out[b, j] = s
            dwell_out[b, j] = median * np.exp(gain * s + sigma_d * z_dwell)


@njit(cache=True)
def update_engagement(users, times, shown_items, clicks, satisfaction, item_topic, ring_items,
                      ring_times, ring_ptr, ring_len, last_visit, engagement, coef):
    """Engagement after each visit (docs/design.md section 8), in place:
    E <- E exp(-(t - t_last) / tau_E) + sum_clicks s_i - w_slate C - w_sat sum_clicks sat_i,
    where C = (sum_c n_c^2 / n^2 - 1 / n) / (1 - 1 / n) is the topic concentration of the n
    shown items (0: all topics distinct, 1: all one topic; 0 for n < 2) and sat_i the
    satiation of clicked item i's topic from the history before this visit's clicks.

    coef = (1 / tau_E, lambda w_slate, lambda w_sat, 1 / tau_sat)."""
    inv_tau, slate_weight, satiation_weight, inv_sat = coef[0], coef[1], coef[2], coef[3]
    n_hist, k = ring_items.shape[1], shown_items.shape[1]
    for b in range(users.shape[0]):
        u, t = users[b], times[b]
        e = engagement[u]
        if last_visit[u] >= 0:
            e *= np.exp(-(t - last_visit[u]) * inv_tau)
        n_shown, same_topic = 0, 0
        for j in range(k):
            if shown_items[b, j] < 0:
                continue
            n_shown += 1
            for i in range(k):
                if shown_items[b, i] >= 0 and \
                        item_topic[shown_items[b, i]] == item_topic[shown_items[b, j]]:
                    same_topic += 1
        if n_shown > 1:
            e -= slate_weight * (same_topic / n_shown ** 2 - 1.0 / n_shown) \
                / (1.0 - 1.0 / n_shown)
        start = _ring_start(ring_ptr, ring_len, n_hist, u)
        for j in range(k):
            if not clicks[b, j] or shown_items[b, j] < 0:
                continue
            topic = item_topic[shown_items[b, j]]
            satiation = 0.0
            for slot in range(ring_len[u]):  # the history before this visit's clicks
                pos = (start + slot) % n_hist
                if item_topic[ring_items[u, pos]] == topic:
                    satiation += np.exp(-(t - ring_times[u, pos]) * inv_sat)
            e += satisfaction[b, j] - satiation_weight * satiation
        engagement[u] = e


@njit(cache=True, parallel=True)
def record_clicks(users, times, clicked_items, item_vector, interest, channel_weight,
                  ring_items, ring_times, ring_ptr, ring_len, eta):
    """Append each visit's clicks (B, K; -1 = none) to the user's click ring, and reinforce
    the channel that best explains each click, m* = argmax_m w_m <u_m, v_i>:
    u_m* <- u_m* + eta (v_i - u_m*), every pull computed from the interests before the visit
    (docs/design.md section 2). Users of a batch are distinct: one visit per thread."""
    n_channels, dim = interest.shape[1], interest.shape[2]
    eta32 = np.float32(eta)
    for b in prange(users.shape[0]):
        u = users[b]
        pulls = np.zeros((n_channels, dim), np.float32)
        for k in range(clicked_items.shape[1]):
            item = clicked_items[b, k]
            if item < 0:
                continue
            ring_push(ring_items, ring_times, ring_ptr, ring_len, u, item, times[b])
            best, best_m = -np.inf, 0
            for m in range(n_channels):
                dot = np.float32(0.0)
                for d in range(dim):
                    dot += interest[u, m, d] * item_vector[item, d]
                if dot * channel_weight[u, m] > best:
                    best, best_m = dot * channel_weight[u, m], m
            for d in range(dim):
                pulls[best_m, d] += eta32 * (item_vector[item, d] - interest[u, best_m, d])
        for m in range(n_channels):
            for d in range(dim):
                interest[u, m, d] += pulls[m, d]


@njit(cache=True, parallel=True)
def rank_slates(scores, mask, out):
    """Top-K candidate indices per row into out (B, K): descending score, ties to the lower
    index, masked candidates never; unfilled slots -1. One pass per row with the K best so
    far kept sorted in registers-sized buffers (insertion only when a score beats the K-th)."""
    k = out.shape[1]
    for b in prange(scores.shape[0]):
        best = np.empty(k, scores.dtype)
        filled = 0
        for n in range(scores.shape[1]):
            if not mask[b, n]:
                continue
            s = scores[b, n]
            if filled == k and not s > best[k - 1]:
                continue
            pos = filled if filled < k else k - 1
            while pos > 0 and s > best[pos - 1]:
                best[pos] = best[pos - 1]
                out[b, pos] = out[b, pos - 1]
                pos -= 1
            best[pos] = s
            out[b, pos] = n
            if filled < k:
                filled += 1
        for slot in range(filled, k):
            out[b, slot] = -1


@njit(cache=True)
def add_clicks(clicks, items, times, ref_time, windows):
    """Decayed click counters: clicks[i, w] += exp((t - ref_time) / window_w) per click."""
    for j in range(items.shape[0]):
        for w in range(windows.shape[0]):
            clicks[items[j], w] += np.exp((times[j] - ref_time) / windows[w])


@njit(cache=True, parallel=True)
def evolve(users, times, last_evolved, next_jump, jump_count, channel_topic, interest,
           centroids, features, age_logits, gender_logits, region_logits, trend, trend_start,
           jump_key, jump_rate, theta, scale, drift_key, time_bits):
    """Bring each visiting user's channels forward to the visit time, in place
    (docs/design.md section 2); users of a batch are distinct, one per thread.

    Jumps first: while the channel's next jump time t_j <= t, it lands on topic
    argmax_{c != current}(trend_c(hour of t_j) + preference_c(u) + Gumbel_c), Gumbel from the
    coin hash(key, 1, channel, jump number, c): every jump changes the topic (with a single
    topic there is nowhere to go and the channel keeps it); u_m restarts at the centroid and
    the next jump follows after Exp(rho), coin hash(key, 0, channel, jump number + 1) (the
    coin `UserPopulation._jump_gaps` draws the first ones from). Then the Ornstein-Uhlenbeck
    step from the last touch (or the last jump) to t:
    u <- c + (u - c) e^{-theta dt} + scale sqrt((1 - e^{-2 theta dt}) / (2 theta)) xi, with
    xi a standard normal from the coins hash(drift_key, user, touch time's bits, channel,
    dimension) (`counter_normal_pair`, two dimensions per pair): the same for every agent that
    touches the user then."""
    n_channels, dim = interest.shape[1], interest.shape[2]
    n_topics = trend.shape[1]
    for b in prange(users.shape[0]):
        u = users[b]
        t = times[b]
        for m in range(n_channels):
            restart = last_evolved[u]
            while next_jump[u, m] <= t:
                k = jump_count[u, m]
                t_jump = next_jump[u, m]
                hour = max(int(np.floor((t_jump - trend_start) / 3600.0)), 0)
                flat = absorb(absorb(jump_key, uint64(1)), uint64(u * n_channels + m))
                state = absorb(flat, uint64(k))
                current = channel_topic[u, m]
                best, topic = -np.inf, current
                for c in range(n_topics):
                    if c == current:
                        continue
                    preference = (age_logits[features[u, 0], c] + gender_logits[features[u, 1], c]
                                  + region_logits[features[u, 2], c])
                    coin = to_uniform(absorb(state, uint64(c)))
                    value = trend[hour, c] + preference - np.log(-np.log(coin))
                    if value > best:
                        best, topic = value, c
                channel_topic[u, m] = topic
                for d in range(dim):
                    interest[u, m, d] = centroids[topic, d]
                restart = t_jump
                jump_count[u, m] = k + 1
                gap_coin = to_uniform(absorb(absorb(absorb(jump_key, uint64(0)),
                                                    uint64(u * n_channels + m)), uint64(k + 1)))
                next_jump[u, m] = t_jump - np.log(gap_coin) / jump_rate
            dt_days = max(t - restart, 0.0) / 86400.0
            decay = np.exp(-theta * dt_days)
            std = scale * np.sqrt((1.0 - decay * decay) / (2.0 * theta))
            topic = channel_topic[u, m]
            state = absorb(absorb(absorb(drift_key, uint64(u)), time_bits[b]), uint64(m))
            for d in range(dim):
                if d % 2 == 0:
                    xi, xi_next = counter_normal_pair(state, d // 2)
                else:
                    xi = xi_next
                centre = centroids[topic, d]
                interest[u, m, d] = centre + (interest[u, m, d] - centre) * decay + std * xi
        last_evolved[u] = t


@njit(cache=True, parallel=True)
def candidates(lo, hi, n_fresh, key, users, visit_numbers, out_ids):
    """Each visit's candidates: the n_fresh newest live items [hi - n_fresh, hi) newest
    first, then one item per equal stratum of the older live pool [lo, hi - n_fresh), drawn
    with the counter-based coin hash(key, user, visit number, stratum); -1 where the pool is
    too small. Live items are an index range because news is stored in publication order."""
    n_total = out_ids.shape[1]
    n_sampled = n_total - n_fresh
    for b in prange(users.shape[0]):
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
