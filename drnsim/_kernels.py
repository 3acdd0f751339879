"""Compiled per-visit loops of the simulator's hot path (numba, cached on disk).

Each kernel loops over the B visits of a batch and over that visit's few candidates and
history entries, which numpy can only express through (B, N, L) temporaries. The per-visit
ones are `dual`: compiled serial and parallel, their visits split in ``n_chunks`` chunks
(the last parameter, supplied by the call: see `drnsim._parallel` for which variant runs
when); each visit writes only its own rows, so the results do not depend on the variant or
the thread count. They hold no state and draw no random numbers: `world.py` and `users.py`
own the semantics and call these for speed; the equations are restated at each kernel.

Items are stored from id ``first`` on (`world.NewsStream`): item i is row i - first of the
item arrays. A user's clicks are a ring (`users.UserPopulation.click_ring`) that keeps each
click's item id, time, topic and provider, so that the history needs no item row (expired
items leave the store). Slot s of the chronological history (oldest first) is at ring
position start + s, wrapped at L, start = (ptr - len) mod L; the stored positions are
0..len-1 whether or not the ring has wrapped.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from drnsim._parallel import dual
from drnsim._random import absorb, counter_normal_pair, to_uniform

N_WINDOWS = 4


@njit(cache=True, inline="always")
def _ring_start(ring_ptr, ring_len, hist_len, u):
    """Ring position of user u's oldest stored click."""
    return (ring_ptr[u] - ring_len[u]) % hist_len


@njit(cache=True, inline="always")
def _chunk(chunk, n_chunks, n):
    """The first and one-past-last visit of one of ``n_chunks`` equal chunks of ``n``."""
    return chunk * n // n_chunks, (chunk + 1) * n // n_chunks


# --- observation -------------------------------------------------------------------------
@dual
def fill_observation(users, times, candidates, features, ring_items, ring_times, ring_topics,
                     ring_providers, ring_ptr, ring_len, item_topic, item_provider, item_pub,
                     item_clicks, first, click_decay, windows, n_topics, n_providers,
                     user_features, hist_items, hist_topic, hist_provider, hist_age,
                     hist_length, cand_items, cand_mask, cand_topic, cand_provider, cand_age,
                     popularity, topic_clicks, provider_clicks, recent_start, recent_times,
                     recent_cum, n_chunks):
    """Observation arrays of B visits (docs/design.md section 3): the user's static features, the
    history read from the click ring, oldest first, padding (-1) after, and the candidates
    (ids, mask, topic, provider, age).

    popularity[b, n, w] = decayed clicks of the item in window w: the counters' (clicks
    before every visit still to come) plus the recent clicks not yet in the counters that
    precede the visit (`recent_clicks`'s ``recent_start``, ``recent_times`` and
    ``recent_cum``; read at t through ``click_decay`` like the counters) (counts < 1e-6 read
    as 0);
    topic_clicks[b, n, w] = the user's clicks within window w on the candidate's topic
    (likewise providers), counted from the history."""
    n_visits = candidates.shape[0]
    for chunk in prange(n_chunks):
        # scratch per chunk, reset after each visit for the entries it touched
        topic_counts = np.zeros((n_topics, N_WINDOWS), np.float32)
        provider_counts = np.zeros((n_providers, N_WINDOWS), np.float32)
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
            u = users[b]
            for f in range(features.shape[1]):
                user_features[b, f] = features[u, f]
            hist_length[b] = ring_len[u]
            _observe_history(b, u, times[b], ring_items, ring_times, ring_topics,
                             ring_providers, ring_ptr, ring_len, windows, hist_items,
                             hist_topic, hist_provider, hist_age, topic_counts, provider_counts)
            _observe_candidates(b, times[b], candidates, item_topic, item_provider, item_pub,
                                item_clicks, first, click_decay, cand_items, cand_mask,
                                cand_topic, cand_provider, cand_age, popularity, topic_clicks,
                                provider_clicks, topic_counts, provider_counts, recent_start,
                                recent_times, recent_cum)
            for slot in range(ring_len[u]):  # leave the scratch zeroed
                topic_counts[hist_topic[b, slot], :] = 0.0
                provider_counts[hist_provider[b, slot], :] = 0.0


@njit(cache=True)
def _observe_history(b, u, t, ring_items, ring_times, ring_topics, ring_providers, ring_ptr,
                     ring_len, windows, hist_items, hist_topic, hist_provider, hist_age,
                     topic_counts, provider_counts):
    """The history part of `fill_observation` for visit b (user u at time t); adds the
    user's clicks per topic and provider and window to the (zeroed) count scratch."""
    n_hist = ring_items.shape[1]
    length = ring_len[u]
    pos = _ring_start(ring_ptr, ring_len, n_hist, u)
    for slot in range(length):
        topic, provider = ring_topics[u, pos], ring_providers[u, pos]
        age = t - ring_times[u, pos]
        hist_items[b, slot] = ring_items[u, pos]
        hist_topic[b, slot] = topic
        hist_provider[b, slot] = provider
        hist_age[b, slot] = age
        for w in range(N_WINDOWS):
            if age < windows[w]:
                topic_counts[topic, w] += 1.0
                provider_counts[provider, w] += 1.0
        pos += 1
        if pos == n_hist:
            pos = 0
    for slot in range(length, n_hist):
        hist_items[b, slot] = -1
        hist_topic[b, slot] = -1
        hist_provider[b, slot] = -1
        hist_age[b, slot] = 0.0


@njit(cache=True)
def _observe_candidates(b, t, candidates, item_topic, item_provider, item_pub, item_clicks,
                        first, click_decay, cand_items, cand_mask, cand_topic, cand_provider,
                        cand_age, popularity, topic_clicks, provider_clicks, topic_counts,
                        provider_counts, recent_start, recent_times, recent_cum):
    """The candidate part of `fill_observation` for visit b at time t."""
    decay = click_decay[b]
    for n in range(candidates.shape[1]):
        item = candidates[b, n]
        cand_items[b, n] = item
        if item < 0:
            cand_mask[b, n] = 0
            cand_topic[b, n] = -1
            cand_provider[b, n] = -1
            cand_age[b, n] = 0.0
            for w in range(N_WINDOWS):
                popularity[b, n, w] = 0.0
                topic_clicks[b, n, w] = 0.0
                provider_clicks[b, n, w] = 0.0
            continue
        row = item - first
        topic, provider = item_topic[row], item_provider[row]
        cand_mask[b, n] = 1
        cand_topic[b, n] = topic
        cand_provider[b, n] = provider
        cand_age[b, n] = t - item_pub[row]
        last = -1  # the item's last recent click before t
        if recent_start.size:
            k = recent_start[row]
            while k < recent_start[row + 1] and recent_times[k] < t:
                last = k
                k += 1
        for w in range(N_WINDOWS):
            count = item_clicks[row, w] * decay[w]
            if last >= 0:
                count += recent_cum[last, w] * decay[w]
            popularity[b, n, w] = count if count >= 1e-6 else 0.0
            topic_clicks[b, n, w] = topic_counts[topic, w]
            provider_clicks[b, n, w] = provider_counts[provider, w]


# --- attractiveness, satiation ---------------------------------------------------------
@njit(cache=True)
def _satiation_by_topic(u, t, ring_times, ring_topics, ring_ptr, ring_len, inv_sat, needed,
                        by_topic):
    """by_topic[c] = sum over user u's stored clicks on topic c, oldest first, of
    exp(-(t - t_click) / tau_sat), for the topics with needed[c] (the others are left as
    they are); each such entry must be 0 on entry. (Summed per topic in history order, so
    each sum is the one a scan of the history for that topic gives, bit for bit.)"""
    n_hist = ring_times.shape[1]
    pos = _ring_start(ring_ptr, ring_len, n_hist, u)
    for _ in range(ring_len[u]):
        topic = ring_topics[u, pos]
        if needed[topic]:
            by_topic[topic] += np.exp(-(t - ring_times[u, pos]) * inv_sat)
        pos += 1
        if pos == n_hist:
            pos = 0


@njit(cache=True)
def _mark_topics(b, items, item_topic, first, needed, value):
    """needed[topic of each item of row b] = value (-1 items skipped)."""
    for j in range(items.shape[1]):
        item = items[b, j]
        if item >= 0:
            needed[item_topic[item - first]] = value


@njit(cache=True)
def _appeal(u, t, item, interest, channel_weight, item_vector, item_quality, item_bait,
            item_pub, item_topic, first, ring_items, ring_len, coef, dots, by_topic):
    """a_ui of one item (see `attractiveness`), given the satiation per topic."""
    b0, b1, b2, fresh, b4, b5 = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5]
    bait_weight = coef[7]
    n_channels, dim = interest.shape[1], interest.shape[2]
    row = item - first
    # the channels' dot products side by side (each summed in dimension order)
    for m in range(n_channels):
        dots[m] = 0.0
    for k in range(dim):
        v = item_vector[row, k]
        for m in range(n_channels):
            dots[m] += interest[u, m, k] * v
    relevance = -np.inf
    for m in range(n_channels):
        relevance = max(relevance, channel_weight[u, m] * dots[m])
    seen = 0.0
    for pos in range(ring_len[u]):  # the stored positions, in any order
        if ring_items[u, pos] == item:
            seen = 1.0
            break
    logit = (b0 + b1 * relevance + b2 * item_quality[row] + bait_weight * item_bait[row]
             - fresh * (t - item_pub[row]) - b4 * seen - b5 * by_topic[item_topic[row]])
    return 1.0 / (1.0 + np.exp(-logit))


@dual
def attractiveness(users, times, items, interest, channel_weight, item_vector, item_quality,
                   item_bait, item_pub, item_topic, first, n_topics, ring_items, ring_times,
                   ring_topics, ring_ptr, ring_len, coef, out, n_chunks):
    """a_ui = sigmoid(b0 + b1 max_m w_m <u_m, v_i> + b2 q_i + lambda w_bait b_i
    - b3 age / tau - b4 seen_ui - b5 sum_{clicks on topic c_i} exp(-(t - t_click) / tau_sat))
    of item ids (B, n); 0 for padded items (-1).

    coef = (b0, b1, b2, b3 / tau, b4, b5, 1 / tau_sat, lambda w_bait)."""
    n_visits = items.shape[0]
    for chunk in prange(n_chunks):
        needed = np.zeros(n_topics, np.bool_)
        by_topic = np.zeros(n_topics)
        dots = np.empty(interest.shape[1])
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
            u, t = users[b], times[b]
            _mark_topics(b, items, item_topic, first, needed, True)
            _satiation_by_topic(u, t, ring_times, ring_topics, ring_ptr, ring_len, coef[6],
                                needed, by_topic)
            for j in range(items.shape[1]):
                item = items[b, j]
                out[b, j] = 0.0 if item < 0 else _appeal(
                    u, t, item, interest, channel_weight, item_vector, item_quality,
                    item_bait, item_pub, item_topic, first, ring_items, ring_len, coef, dots,
                    by_topic)
            for j in range(items.shape[1]):  # leave the scratch zeroed
                if items[b, j] >= 0:
                    topic = item_topic[items[b, j] - first]
                    needed[topic] = False
                    by_topic[topic] = 0.0


@dual
def satiation(users, times, items, item_topic, first, n_topics, ring_times, ring_topics,
              ring_ptr, ring_len, inv_sat, out, n_chunks):
    """The satiation term of `attractiveness` alone: out[b, j] = sum over user b's stored
    clicks on item j's topic of exp(-(t - t_click) / tau_sat); 0 for padded items."""
    n_visits = users.shape[0]
    for chunk in prange(n_chunks):
        needed = np.zeros(n_topics, np.bool_)
        by_topic = np.zeros(n_topics)
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
            _mark_topics(b, items, item_topic, first, needed, True)
            _satiation_by_topic(users[b], times[b], ring_times, ring_topics, ring_ptr,
                                ring_len, inv_sat, needed, by_topic)
            for j in range(items.shape[1]):
                item = items[b, j]
                out[b, j] = 0.0 if item < 0 else by_topic[item_topic[item - first]]
            for j in range(items.shape[1]):
                if items[b, j] >= 0:
                    topic = item_topic[items[b, j] - first]
                    needed[topic] = False
                    by_topic[topic] = 0.0


@njit(cache=True, inline="always")
def _clear_topics(b, items, item_topic, first, needed, by_topic):
    """Undo `_mark_topics` and the sums it asked for (leave the scratch zeroed)."""
    for j in range(items.shape[1]):
        if items[b, j] >= 0:
            topic = item_topic[items[b, j] - first]
            needed[topic] = False
            by_topic[topic] = 0.0


# --- a visit's reactions and their consequences -----------------------------------------
@njit(cache=True)
def _satisfaction(key, user, visit_number, item, row, item_quality, item_bait, coef):
    """Satisfaction and dwell seconds of a click on item (see `satisfaction`)."""
    visit = absorb(absorb(key, uint64(user)), uint64(visit_number))
    z, z_dwell = counter_normal_pair(absorb(visit, uint64(item)), 0)
    s = item_quality[row] - coef[0] * (item_bait[row] - coef[1]) + coef[2] * z
    return s, coef[3] * np.exp(coef[4] * s + coef[5] * z_dwell)


@dual
def satisfaction(users, visit_numbers, items, item_quality, item_bait, first, key, coef,
                 satisfaction_out, dwell_out, n_chunks):
    """What a click on item ids (B, n) would bring (docs/design.md section 8; 0 where -1):
    s = q_i - lambda d_bait (b_i - b_mean) + sigma_s z, dwell = median exp(g_d s + sigma_d z'),
    (z, z') the first `counter_normal_pair` of hash(key, user, visit number, item).

    coef = (lambda d_bait, b_mean, sigma_s, median, g_d, sigma_d)."""
    n_visits = items.shape[0]
    for chunk in prange(n_chunks):
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
            for j in range(items.shape[1]):
                item = items[b, j]
                if item < 0:
                    satisfaction_out[b, j] = 0.0
                    dwell_out[b, j] = 0.0
                else:
                    satisfaction_out[b, j], dwell_out[b, j] = _satisfaction(
                        key, users[b], visit_numbers[b], item, item - first, item_quality,
                        item_bait, coef)


@dual
def serve(users, times, visit_numbers, candidates, shown, interest, channel_weight,
          item_vector, item_quality, item_bait, item_pub, item_topic, first, n_topics,
          ring_items, ring_times, ring_topics, ring_ptr, ring_len, coef, click_key,
          position_bias, cascade, satisfaction_key, satisfaction_coef, items_out, clicks_out,
          dwell_out, satisfaction_out, n_chunks):
    """How B users react to the slates ``shown`` (B, K candidate indices, -1 = empty slot),
    without consequences: the shown item ids, clicks, and for each click its dwell seconds
    and satisfaction (0 elsewhere).

    A shown item with appeal a (`attractiveness`, coef as there) at rank k is clicked iff
    its coin hash(click_key, user, visit number, item) < theta_k a (position model: any
    number of clicks) or, with ``cascade``, iff it is the first of the slate with
    coin < a. Dwell and satisfaction as in `satisfaction` (satisfaction_coef as there)."""
    n_visits = users.shape[0]
    k = shown.shape[1]
    for chunk in prange(n_chunks):
        needed = np.zeros(n_topics, np.bool_)
        by_topic = np.zeros(n_topics)
        dots = np.empty(interest.shape[1])
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
            u, t = users[b], times[b]
            for j in range(k):
                items_out[b, j] = candidates[b, shown[b, j]] if shown[b, j] >= 0 else -1
            _mark_topics(b, items_out, item_topic, first, needed, True)
            _satiation_by_topic(u, t, ring_times, ring_topics, ring_ptr, ring_len, coef[6],
                                needed, by_topic)
            state = absorb(absorb(click_key, uint64(u)), uint64(visit_numbers[b]))
            scanning = True  # cascade: until the first click
            for j in range(k):
                item = items_out[b, j]
                clicked = False
                if item >= 0 and scanning:
                    appeal = _appeal(u, t, item, interest, channel_weight, item_vector,
                                     item_quality, item_bait, item_pub, item_topic, first,
                                     ring_items, ring_len, coef, dots, by_topic)
                    coin = to_uniform(absorb(state, uint64(item)))
                    if cascade:
                        clicked = coin < appeal
                        scanning = not clicked
                    else:
                        clicked = coin < position_bias[j] * appeal
                clicks_out[b, j] = clicked
                if clicked:
                    satisfaction_out[b, j], dwell_out[b, j] = _satisfaction(
                        satisfaction_key, u, visit_numbers[b], item, item - first,
                        item_quality, item_bait, satisfaction_coef)
                else:
                    satisfaction_out[b, j] = 0.0
                    dwell_out[b, j] = 0.0
            _clear_topics(b, items_out, item_topic, first, needed, by_topic)


@dual
def consequences(users, times, items, clicks, satisfaction, item_vector, item_topic,
                 item_provider, first, n_topics, interest, channel_weight, ring_items,
                 ring_times, ring_topics, ring_providers, ring_ptr, ring_len, last_visit,
                 engagement, engagement_coef, eta, engage, record, n_chunks):
    """What B visits leave behind, in place (users of a batch are distinct); ``items`` (B, K)
    the shown item ids (-1 = empty slot), ``clicks`` (B, K).

    With ``engage``, engagement (docs/design.md section 8):
    E <- E exp(-(t - t_last) / tau_E) + sum_clicks s_i - w_slate C - w_sat sum_clicks sat_i,
    where C = (sum_c n_c^2 / n^2 - 1 / n) / (1 - 1 / n) is the topic concentration of the n
    shown items (0: all topics distinct, 1: all one topic; 0 for n < 2) and sat_i the
    satiation of clicked item i's topic from the history before this visit's clicks;
    engagement_coef = (1 / tau_E, lambda w_slate, lambda w_sat, 1 / tau_sat).

    With ``record``, the clicks join the user's click ring, and each reinforces the channel
    that best explains it, m* = argmax_m w_m <u_m, v_i>: u_m* <- u_m* + eta (v_i - u_m*),
    every pull computed from the interests before the visit (docs/design.md section 2)."""
    n_visits = users.shape[0]
    n_channels, dim = interest.shape[1], interest.shape[2]
    for chunk in prange(n_chunks):
        needed = np.zeros(n_topics, np.bool_)
        by_topic = np.zeros(n_topics)
        pulls = np.zeros((n_channels, dim), np.float32)
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
            if engage:
                _engage(b, users, times, items, clicks, satisfaction, item_topic, first,
                        ring_times, ring_topics, ring_ptr, ring_len, last_visit, engagement,
                        engagement_coef, needed, by_topic)
            if record:
                _record(b, users, times, items, clicks, item_vector, item_topic, item_provider,
                        first, interest, channel_weight, ring_items, ring_times, ring_topics,
                        ring_providers, ring_ptr, ring_len, eta, pulls)


@njit(cache=True)
def _engage(b, users, times, items, clicks, satisfaction, item_topic, first, ring_times,
            ring_topics, ring_ptr, ring_len, last_visit, engagement, coef, needed, by_topic):
    """The engagement update of `consequences` for visit b."""
    inv_tau, slate_weight, satiation_weight, inv_sat = coef[0], coef[1], coef[2], coef[3]
    k = items.shape[1]
    u, t = users[b], times[b]
    e = engagement[u]
    if last_visit[u] >= 0:
        e *= np.exp(-(t - last_visit[u]) * inv_tau)
    n_shown, same_topic = 0, 0
    for j in range(k):
        if items[b, j] < 0:
            continue
        n_shown += 1
        topic = item_topic[items[b, j] - first]
        for i in range(k):
            if items[b, i] >= 0 and item_topic[items[b, i] - first] == topic:
                same_topic += 1
    if n_shown > 1:
        e -= slate_weight * (same_topic / n_shown ** 2 - 1.0 / n_shown) / (1.0 - 1.0 / n_shown)
    any_click = False
    for j in range(k):
        if clicks[b, j] and items[b, j] >= 0:
            needed[item_topic[items[b, j] - first]] = True
            any_click = True
    if not any_click:
        engagement[u] = e
        return
    # the satiation of the history before this visit's clicks
    _satiation_by_topic(u, t, ring_times, ring_topics, ring_ptr, ring_len, inv_sat, needed,
                        by_topic)
    for j in range(k):
        if clicks[b, j] and items[b, j] >= 0:
            e += satisfaction[b, j] - satiation_weight * by_topic[
                item_topic[items[b, j] - first]]
    engagement[u] = e
    _clear_topics(b, items, item_topic, first, needed, by_topic)


@njit(cache=True, inline="always")
def ring_push(ring_items, ring_times, ring_topics, ring_providers, ring_ptr, ring_len, u, item,
              t, topic, provider):
    """Append one click (item at time t, its topic and provider) to user u's ring,
    overwriting the oldest when full."""
    n_hist = ring_items.shape[1]
    pos = ring_ptr[u]
    ring_items[u, pos] = item
    ring_times[u, pos] = t
    ring_topics[u, pos] = topic
    ring_providers[u, pos] = provider
    ring_ptr[u] = pos + 1 if pos + 1 < n_hist else 0
    ring_len[u] = min(ring_len[u] + 1, n_hist)


@njit(cache=True)
def _record(b, users, times, items, clicks, item_vector, item_topic, item_provider, first,
            interest, channel_weight, ring_items, ring_times, ring_topics, ring_providers,
            ring_ptr, ring_len, eta, pulls):
    """The click ring and reinforcement of `consequences` for visit b."""
    n_channels, dim = interest.shape[1], interest.shape[2]
    eta32 = np.float32(eta)
    u = users[b]
    pulled = False
    for j in range(items.shape[1]):
        item = items[b, j]
        if item < 0 or not clicks[b, j]:
            continue
        row = item - first
        ring_push(ring_items, ring_times, ring_topics, ring_providers, ring_ptr, ring_len, u,
                  item, times[b], item_topic[row], item_provider[row])
        best, best_m = -np.inf, 0
        for m in range(n_channels):
            dot = np.float32(0.0)
            for d in range(dim):
                dot += interest[u, m, d] * item_vector[row, d]
            if dot * channel_weight[u, m] > best:
                best, best_m = dot * channel_weight[u, m], m
        for d in range(dim):
            pulls[best_m, d] += eta32 * (item_vector[row, d] - interest[u, best_m, d])
        pulled = True
    if pulled:
        for m in range(n_channels):
            for d in range(dim):
                interest[u, m, d] += pulls[m, d]
                pulls[m, d] = 0.0


# --- ranking, popularity, interests, candidates -----------------------------------------
@njit(cache=True)
def schedule_returns(users, times, n_clicks, log_gap_coin, growth, churn_coin, disengage_coin,
                     engagement, base_rate, visit_count, last_visit, empty_streak, churned,
                     max_rate_multiplier, churn_after, churn_probability, disengage_scale,
                     max_streak, next_times):
    """The arithmetic of `users.UserPopulation.schedule_returns` after its exp, log and tanh
    (numpy's, passed in): rate = r0_u min(growth, cap), gap = -log(coin) / rate, the empty
    streak, both churn coins; writes each user's state and next visit time (inf =
    churned)."""
    for b in range(users.size):
        u = users[b]
        visit_count[u] += 1
        last_visit[u] = times[b]
        rate = base_rate[u] * min(growth[b], max_rate_multiplier)
        streak = 0 if n_clicks[b] > 0 else empty_streak[u] + 1
        empty_streak[u] = min(streak, max_streak)
        churn = streak >= churn_after and churn_coin[b] < churn_probability
        churn = churn or disengage_coin[b] < disengage_scale * max(-engagement[b], 0.0)
        if churn:
            churned[u] = True
        next_times[b] = np.inf if churn else times[b] + -log_gap_coin[b] / rate


@njit(cache=True)
def merge_window(win_users, win_times, users, times, horizon):
    """`world.VisitQueue`'s window (sorted by time) with the visits (users, times) that fall
    inside its horizon merged in: finite times <= horizon, stably sorted, each after the
    window's visits at the same time. Returns the new (users, times), or the old arrays when
    none falls inside."""
    inside = np.flatnonzero(np.isfinite(times) & (times <= horizon))
    if inside.size == 0:
        return win_users, win_times
    order = inside[np.argsort(times[inside], kind="mergesort")]
    n_old, n_new = win_users.size, order.size
    out_users = np.empty(n_old + n_new, dtype=win_users.dtype)
    out_times = np.empty(n_old + n_new, dtype=win_times.dtype)
    i = j = 0
    for k in range(n_old + n_new):
        if j < n_new and (i == n_old or times[order[j]] < win_times[i]):
            out_users[k], out_times[k] = users[order[j]], times[order[j]]
            j += 1
        else:
            out_users[k], out_times[k] = win_users[i], win_times[i]
            i += 1
    return out_users, out_times


@dual
def rank_slates(scores, mask, out, n_chunks):
    """Top-K candidate indices per row into out (B, K): descending score, ties to the lower
    index, masked candidates never; unfilled slots -1. One pass per row with the K best so
    far kept sorted (insertion only when a score beats the K-th). Returns how many scores
    are NaN or outside [-1, 1] (the env rejects such actions)."""
    k = out.shape[1]
    n_rows, n = scores.shape
    bad = 0
    for chunk in prange(n_chunks):
        best = np.empty(k, scores.dtype)
        lo, hi = _chunk(chunk, n_chunks, n_rows)
        for b in range(lo, hi):
            filled = 0
            for i in range(n):
                s = scores[b, i]
                if not (-1.0 <= s <= 1.0):
                    bad += 1
                if not mask[b, i]:
                    continue
                if filled == k and not s > best[k - 1]:
                    continue
                pos = filled if filled < k else k - 1
                while pos > 0 and s > best[pos - 1]:
                    best[pos] = best[pos - 1]
                    out[b, pos] = out[b, pos - 1]
                    pos -= 1
                best[pos] = s
                out[b, pos] = i
                if filled < k:
                    filled += 1
            for slot in range(filled, k):
                out[b, slot] = -1
    return bad


@njit(cache=True)
def add_clicks(clicks, items, times, first, ref_time, windows):
    """Decayed click counters: clicks[i, w] += exp((t - ref_time) / window_w) per click."""
    for j in range(items.shape[0]):
        for w in range(windows.shape[0]):
            clicks[items[j] - first, w] += np.exp((times[j] - ref_time) / windows[w])


@njit(cache=True)
def recent_clicks(items, times, ref_time, windows, first, n_rows):
    """Clicks not yet in the decayed counters, as `fill_observation` reads them: ``start``
    (n_rows + 1,) the offsets of each stored item row's clicks (row = item - first), their
    ``times`` in order, and ``cum`` each item's running sum of exp((t - ref_time) /
    window_w) over its clicks so far (the counters' terms, so both read at t through
    ``click_decay``). No clicks: an empty ``start``."""
    if items.shape[0] == 0:
        return np.empty(0, np.int64), times[:0], np.empty((0, windows.shape[0]))
    order = np.argsort(times, kind="mergesort")
    order = order[np.argsort(items[order], kind="mergesort")]
    items, times = items[order], times[order]
    start = np.zeros(n_rows + 1, np.int64)
    for k in range(items.shape[0]):
        start[items[k] - first + 1] += 1
    for r in range(n_rows):
        start[r + 1] += start[r]
    cum = np.empty((items.shape[0], windows.shape[0]))
    for k in range(items.shape[0]):
        same = k > 0 and items[k - 1] == items[k]
        for w in range(windows.shape[0]):
            term = np.exp((times[k] - ref_time) / windows[w])
            cum[k, w] = cum[k - 1, w] + term if same else term
    return start, times, cum


@dual
def evolve(users, times, last_evolved, next_jump, jump_count, channel_topic, interest,
           centroids, features, age_logits, gender_logits, region_logits, trend, trend_start,
           jump_key, jump_rate, theta, scale, drift_key, time_bits, n_chunks):
    """Bring each visiting user's channels forward to the visit time, in place
    (docs/design.md section 2); users of a batch are distinct.

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
    n_visits = users.shape[0]
    for chunk in prange(n_chunks):
        lo, hi = _chunk(chunk, n_chunks, n_visits)
        for b in range(lo, hi):
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
                        preference = (age_logits[features[u, 0], c]
                                      + gender_logits[features[u, 1], c]
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


@dual
def candidates(lo, hi, n_fresh, key, users, visit_numbers, out_ids, n_chunks):
    """Each visit's candidates: the n_fresh newest live items [hi - n_fresh, hi) newest
    first, then one item per equal stratum of the older live pool [lo, hi - n_fresh), drawn
    with the counter-based coin hash(key, user, visit number, stratum); -1 where the pool is
    too small. Live items are an index range because news is stored in publication order."""
    n_total = out_ids.shape[1]
    n_sampled = n_total - n_fresh
    n_visits = users.shape[0]
    for chunk in prange(n_chunks):
        begin, end = _chunk(chunk, n_chunks, n_visits)
        for b in range(begin, end):
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
