"""Every constant of the simulated world in one typed, validated dataclass.

`WorldConfig` round-trips to and from a plain dict and YAML, so a run's world can be saved
next to its results and re-created exactly. Unknown keys and out-of-range values raise
`ValueError` naming the field and the allowed values; nothing is silently clipped.
The equations these constants enter are in docs/design.md sections 2 and 8 and in
`users.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from drnsim._validate import check_memory
from drnsim._validate import finite as _finite
from drnsim._validate import int_at_least as _int_at_least
from drnsim._validate import non_negative as _non_negative
from drnsim._validate import positive as _positive
from drnsim._validate import probability as _probability

HOUR = 3600.0
DAY = 24 * HOUR

#: Popularity and user-news count windows (DRN's 1 h / 6 h / 24 h / 1 week), in seconds.
WINDOWS_SECONDS: tuple[float, ...] = (HOUR, 6 * HOUR, DAY, 7 * DAY)
WINDOW_NAMES: tuple[str, ...] = ("1h", "6h", "24h", "1w")

CANDIDATE_MODES = ("freshest", "sampled", "mixed")
CLICK_MODELS = ("position", "cascade")


@dataclass
class WorldConfig:
    """Parameters of the simulated news world (docs/design.md section 2). Times are in seconds
    unless the name says hours or days; rates are per simulated hour or day as named."""

    # --- population and catalogue -------------------------------------------------------
    n_users: int = 10_000
    """U, number of users."""
    n_topics: int = 20
    """Number of news topics (each has a centroid mu_c in the latent space)."""
    n_providers: int = 50
    """Number of news providers; each leans towards a few topics."""
    latent_dim: int = 16
    """d, dimension of the latent space of items and interests."""
    n_channels: int = 3
    """M, independent interest channels per user (MIMN's multiple channels)."""
    n_age_buckets: int = 7
    n_genders: int = 3
    n_regions: int = 10
    n_devices: int = 3
    feature_interest_strength: float = 1.0
    """How strongly static features (age, gender, region) tilt the initial topics."""

    # --- news stream ---------------------------------------------------------------------
    news_per_hour: float = 200.0
    """Poisson arrival rate of fresh news."""
    topic_trend_volatility: float = 0.5
    """Std of the hourly random walk (per sqrt(day)) of the topic-share logits (trends)."""
    item_noise: float = 0.6
    """sigma_item: v_i = normalize(mu_c + sigma_item * eps)."""
    freshness_tau_hours: float = 4.0
    """tau of the freshness decay f_i(t) = exp(-(t - t_i) / tau)."""
    item_lifetime_hours: float = 48.0
    """Items older than this leave the candidate pool."""

    # --- requests ------------------------------------------------------------------------
    n_candidates: int = 100
    """N, candidates per request."""
    slate_size: int = 10
    """K, items shown per request."""
    history_length: int = 50
    """L, clicked items kept per user and shown in the observation."""
    candidate_mode: str = "mixed"
    """'freshest' (the N newest live items), 'sampled' (stratified uniform sample of the live
    pool), or 'mixed' (half freshest, half sampled)."""
    episode_days: float = 7.0
    """Horizon of an episode in simulated days (`truncated` after it)."""

    # --- interest evolution (DIEN / MIMN) -------------------------------------------------
    drift_reversion_per_day: float = 1.0
    """theta of the Ornstein-Uhlenbeck drift of each channel around its topic centroid."""
    drift_sigma: float = 0.35
    """sigma of the OU drift, per sqrt(day) and dimension / sqrt(d)."""
    jump_rate_per_day: float = 0.2
    """rho, hazard of a channel jumping to a new topic (default once per 5 days)."""
    reinforcement_rate: float = 0.05
    """eta, pull of a click's item vector on the channel that explains it."""
    satiation_strength: float = 1.0
    """b5, penalty per recent click on the same topic (decayed with the satiation window)."""
    satiation_hours: float = 2.0
    """Decay time of satiation."""

    # --- clicks (position-based model) ------------------------------------------------------
    click_model: str = "position"
    """'position' (PBM: theta_k * a_ui, several clicks) or 'cascade' (first click ends the scan)."""
    position_bias_kappa: float = 0.8
    """theta_k = 1 / k^kappa."""
    click_bias: float = -2.0
    """b0 of the attractiveness logit."""
    relevance_weight: float = 8.0
    """b1, weight of max_m w_m <u_m, v_i>."""
    quality_weight: float = 0.5
    """b2, weight of item quality q_i ~ N(0, 1)."""
    freshness_weight: float = 1.0
    """b3, weight of log f_i(t) = -(age / tau)."""
    seen_penalty: float = 3.0
    """b4, penalty for an item this user already clicked."""

    # --- returns (activeness) ----------------------------------------------------------------
    mean_return_hours: float = 8.0
    """Median of users' base gaps 1 / r0_u between visits."""
    return_rate_spread: float = 0.5
    """Log-normal spread of r0_u across users."""
    satisfaction_gain: float = 0.3
    """g: rate = r0_u * exp(g * (clicks - c_bar))."""
    clicks_baseline: float = 0.5
    """c_bar of the return-rate equation."""
    max_rate_multiplier: float = 10.0
    """Cap on exp(g * (clicks - c_bar)) so a burst of clicks cannot make gaps vanish."""
    churn_after_empty_visits: int = 3
    """A user with this many empty visits in a row may churn."""
    churn_probability: float = 0.05
    """Chance of churning after each visit at or beyond that empty streak."""

    # --- long-term engagement (docs/design.md section 8) -----------------------------------
    tradeoff_strength: float = 1.0
    """lambda, the master knob: scales bait's pull and disappointment, boredom, and
    engagement's weight on returns and churn together. 0 gives back the clicks-only return
    model (gaps, churn and clicks equal to it visit for visit). With the defaults, over 7
    days of a 5,000-user world, `oracle:longterm` earns about 1.6x the clicks per user of
    the myopic `oracle` at a 10% lower CTR (`benchmarks/long_term.py` measures it)."""
    bait_provider_mean: float = 0.5
    """Mean of the providers' bait propensity beta_p ~ Exp (a few providers are bait farms)."""
    bait_item_noise: float = 0.5
    """sigma of an item's log-normal bait noise: b_i = beta_p exp(sigma eps - sigma^2 / 2)."""
    bait_weight: float = 1.0
    """w_bait: bait's pull on the attractiveness logit, + lambda w_bait b_i."""
    bait_disappointment: float = 1.5
    """d_bait: a click's satisfaction s = q_i - lambda d_bait (b_i - bait_provider_mean)
    + noise (relative to the typical item's bait, so a typical click is neutral)."""
    satisfaction_noise: float = 0.5
    """Std of the satisfaction noise of a click (counter-based per user, visit and item)."""
    dwell_median_seconds: float = 30.0
    """Dwell time of a click with satisfaction 0: dwell = median exp(g_d s + sigma_d eps)."""
    dwell_satisfaction_gain: float = 0.5
    """g_d, growth of log dwell per unit of satisfaction."""
    dwell_noise: float = 0.4
    """sigma_d, std of log dwell around its satisfaction-driven mean."""
    boredom_slate_weight: float = 0.5
    """w_slate: boredom of a slate whose topics crowd together (0 all distinct, 1 all one)."""
    boredom_satiation_weight: float = 0.5
    """w_sat: boredom per unit of satiation of a clicked item's topic."""
    engagement_tau_days: float = 3.0
    """tau_E, the time constant with which engagement E_u decays towards 0."""
    engagement_scale: float = 4.0
    """E_s: engagement acts through tanh(E_u / E_s), so its effects saturate (a sum of
    experiences whose effect grew without bound would let frequent visits feed on
    themselves)."""
    engagement_gain: float = 0.3
    """g_E: rate = r0_u min(exp(g (clicks - c_bar) + lambda g_E tanh(E_u / E_s)), cap): a
    fully engaged user returns up to exp(lambda g_E) times as often, a disengaged one
    exp(-lambda g_E) times."""
    engagement_churn: float = 0.01
    """Churn probability per visit of a fully disengaged user, lambda engagement_churn
    max(0, -tanh(E_u / E_s))."""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError naming the first field outside its allowed range."""
        for name in ("n_users", "n_topics", "n_providers", "latent_dim", "n_channels",
                     "n_age_buckets", "n_genders", "n_regions", "n_devices", "n_candidates",
                     "slate_size", "history_length"):
            _int_at_least(name, getattr(self, name), 1)
        _int_at_least("churn_after_empty_visits", self.churn_after_empty_visits, 1)
        for name in ("news_per_hour", "freshness_tau_hours", "item_lifetime_hours",
                     "episode_days", "mean_return_hours", "satiation_hours",
                     "drift_reversion_per_day", "max_rate_multiplier", "engagement_tau_days",
                     "dwell_median_seconds", "engagement_scale"):
            _positive(name, getattr(self, name))
        for name in ("feature_interest_strength", "topic_trend_volatility", "item_noise",
                     "drift_sigma", "jump_rate_per_day", "satiation_strength",
                     "position_bias_kappa", "relevance_weight", "freshness_weight",
                     "seen_penalty", "return_rate_spread", "satisfaction_gain",
                     "clicks_baseline", "tradeoff_strength", "bait_provider_mean",
                     "bait_item_noise", "bait_weight", "bait_disappointment",
                     "satisfaction_noise", "dwell_satisfaction_gain", "dwell_noise",
                     "boredom_slate_weight", "boredom_satiation_weight", "engagement_gain"):
            _non_negative(name, getattr(self, name))
        for name in ("click_bias", "quality_weight"):
            _finite(name, getattr(self, name))
        _probability("reinforcement_rate", self.reinforcement_rate)
        _probability("churn_probability", self.churn_probability)
        _probability("engagement_churn", self.engagement_churn)
        if self.slate_size > self.n_candidates:
            raise ValueError(
                f"slate_size must be <= n_candidates ({self.n_candidates}), got {self.slate_size}")
        if self.candidate_mode not in CANDIDATE_MODES:
            raise ValueError(
                f"candidate_mode must be one of {CANDIDATE_MODES}, got {self.candidate_mode!r}")
        if self.click_model not in CLICK_MODELS:
            raise ValueError(f"click_model must be one of {CLICK_MODELS}, got {self.click_model!r}")

    # ------------------------------------------------------------------------------------
    @property
    def horizon_seconds(self) -> float:
        return self.episode_days * DAY

    def memory_estimate(self, batch_size: int = 1) -> dict[str, float]:
        """Estimated bytes of a world built from this config, by part (a description naming
        the fields that size it -> bytes): the per-user arrays of `users.py`, the news
        generated over the episode (item arrays that double when full, and the hourly
        topic trend), the topic x provider tables (and the largest temporary array of the
        population's set-up), and the arrays of one step of ``batch_size`` visits (the
        observation and an agent's feature tensors). An estimate of the peak of the arrays
        (within a factor of 2 of what tracemalloc measures, `tests/test_bad_input.py`), not
        of the Python runtime around them."""
        users, channels, dim, hist = (self.n_users, self.n_channels, self.latent_dim,
                                      self.history_length)
        per_user = 88 + channels * (4 + 2 + 4 + 8) + 4 * channels * dim + 8 * hist
        hours = self.episode_days * 24 + self.item_lifetime_hours
        items = 1.5 * self.news_per_hour * hours  # buffers hold 1x to 2x the items
        topics, providers = self.n_topics, self.n_providers
        setup_rows = min(users, 65_536)
        per_candidate = 80 + 4 * (topics + providers + 13)
        return {
            f"users (n_users={users}, n_channels={channels}, latent_dim={dim}, "
            f"history_length={hist})": float(users) * per_user,
            f"news (news_per_hour={self.news_per_hour:g} over episode_days="
            f"{self.episode_days:g})": items * (40 + 4 * dim) + hours * topics * 8,
            f"topics and providers (n_topics={topics}, n_providers={providers})":
                float(topics) * (providers + 2 * setup_rows * channels + dim) * 8,
            f"a step of {batch_size} visit(s) (n_candidates={self.n_candidates}, "
            f"history_length={hist})":
                float(batch_size) * (self.n_candidates * per_candidate + hist * 24),
        }

    def estimated_bytes(self, batch_size: int = 1) -> int:
        """Total of `memory_estimate`."""
        return int(sum(self.memory_estimate(batch_size).values()))

    def check_memory(self, batch_size: int = 1) -> None:
        """ValueError naming the settings that size the world when `estimated_bytes`
        exceeds the memory available (`drnsim._validate.memory_limit`)."""
        check_memory(self.memory_estimate(batch_size), "this world")

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with some fields changed (validated)."""
        return WorldConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> WorldConfig:
        """Build from a mapping; unknown keys raise ValueError listing them."""
        data = dict(data or {})
        known = set(cls.field_names())
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown WorldConfig key(s) {unknown}; allowed keys: {sorted(known)}")
        return cls(**data)

    @classmethod
    def coerce(cls, config: WorldConfig | Mapping[str, Any] | None = None,
               **overrides: Any) -> WorldConfig:
        """Accept a WorldConfig, a dict or None, plus keyword overrides."""
        base = config.to_dict() if isinstance(config, WorldConfig) else dict(config or {})
        return cls.from_dict({**base, **overrides})

    def to_yaml(self, path: str | Path | None = None) -> str:
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | Path) -> WorldConfig:
        """Load from a YAML file path or YAML text; a malformed file raises ValueError."""
        from drnsim._yaml import load_yaml, read_yaml

        data = (read_yaml(source, "world config") if _looks_like_path(source)
                else load_yaml(str(source), "world config"))
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"a world config must be a YAML mapping, got {type(data).__name__}")
        return cls.from_dict(data)


def _looks_like_path(source: str | Path) -> bool:
    if isinstance(source, Path):
        return True
    return "\n" not in source and ":" not in source and Path(source).exists()
