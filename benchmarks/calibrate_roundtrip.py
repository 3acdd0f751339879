"""Round trip of `drnsim calibrate`: logs simulated with known parameters under a uniformly
random ranking (so positions are randomised) are fitted back.

    .venv/bin/python benchmarks/calibrate_roundtrip.py [--users 10000] [--days 3] [--seeds 0 1 2]

For each setting and seed it prints the true value, the estimate, its 95% interval, the
relative error, and whether the interval covers the truth; then per parameter whether the
estimate is within 10% of the truth in every run ("holds" / "does not hold") and how many
intervals covered it. The baseline is the truth itself. The click bias is fitted given the
hidden weights at their true (base) values: what the logs identify is the mean
attractiveness of a shown item (tests/test_calibrate.py shows the fit moving b0 when the
hidden relevance weight differs). The long-term world's trade-off, where the config has it,
is switched off: calibrate fits the clicks-only return model. Tables go to `--out`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from drnsim.calibrate import calibrate
from drnsim.config import WorldConfig
from drnsim.logs import collect_logs
from drnsim.results import write_csv

CLICKS_ONLY = ({"tradeoff_strength": 0.0}
               if "tradeoff_strength" in WorldConfig.field_names() else {})
SETTINGS = {
    "default": {},
    "steep-rare-frequent-slow": dict(position_bias_kappa=1.2, click_bias=-3.0,
                                     mean_return_hours=4.0, news_per_hour=100.0),
    "flat-clicky-slow-fast": dict(position_bias_kappa=0.5, click_bias=-1.0,
                                  mean_return_hours=16.0, news_per_hour=400.0),
}
CHECKED = ("position_bias_kappa", "click_bias", "mean_return_hours", "news_per_hour",
           "return_rate_spread", "freshness_tau_hours", "quality_weight", "n_users")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--sim-users", type=int, default=5000)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--out", type=Path, default=Path("results/calibrate_roundtrip"))
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    rows = []
    for setting in args.settings:
        world = WorldConfig(n_users=args.users, **CLICKS_ONLY, **SETTINGS[setting])
        for seed in args.seeds:
            started = time.perf_counter()
            logs = collect_logs(world, None, days=args.days, seed=seed)
            result = calibrate(logs, base=WorldConfig(**CLICKS_ONLY), seed=seed,
                               n_bootstrap=args.bootstrap, sim_users=args.sim_users)
            table = result.parameters.set_index("parameter")
            for name in CHECKED:
                truth = float(getattr(world, name))
                value, low, high = (float(v) for v in table.loc[name, ["value", "low", "high"]])
                rows.append({"setting": setting, "seed": seed, "parameter": name,
                             "truth": truth, "estimate": value, "low": low, "high": high,
                             "rel_error": value / truth - 1, "covered": low <= truth <= high})
            print(f"{setting} seed {seed}: {len(logs):,} impressions, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    frame = pd.DataFrame(rows)
    write_csv(args.out / "roundtrip.csv", frame)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    summary = frame.groupby("parameter").agg(
        max_abs_rel_error=("rel_error", lambda e: e.abs().max()),
        covered=("covered", "sum"), runs=("covered", "size"))
    summary["within 10%"] = summary["max_abs_rel_error"].map(
        lambda e: "holds" if e <= 0.10 else "does not hold")
    write_csv(args.out / "summary.csv", summary.reset_index())
    print("\n" + summary.loc[list(CHECKED)].to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
