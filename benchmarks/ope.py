"""How wrong is each slate off-policy estimator? Bias, RMSE and interval coverage against the
simulator's ground truth, by logging policy, target policy, logs size and overlap.

    .venv/bin/python benchmarks/ope.py [--quick] [--seeds 0 1 ...] [--sizes 1000 10000 100000]
                                       [--click-models position cascade] [--out DIR]

For each click model and seed:

1. the targets are trained on logs of *another* world seed (10,000 + seed, the same
   `WorldConfig`; `--train-visits` visits logged by epsilon-greedy popular), so a target
   never depends on the clicks it is evaluated on: random (uniform slates), popular,
   linucb (trained by replaying those logs) and static:lr (a zoo model fitted on them);
2. each logging policy serves world `seed` from the start for max(`--sizes`) visits
   (`collect_logs(..., candidates=True, truth=True)`): uniform random slates,
   epsilon-greedy popular (epsilon 0.2) and Plackett-Luce over popular's standardised scores
   (temperature 1); the first n visits are the logs of size n;
3. on each (logging policy, size) the reward model of DM and DR (`--reward-model`, a zoo
   model plus per-slot offsets) is fitted on the logs, and every estimator of
   `drnsim.ope.ESTIMATORS` estimates every target's clicks per visit with its 95% analytic
   interval;
4. two truths per target: the *logged* truth, the target's expected clicks on the logged
   visits under the hidden attractiveness (the exact estimand of every estimator), and the
   *online* truth, the target served frozen in world `seed` from the start over the same
   span of simulated time (`drnsim.ope.serve_online`, common random numbers; expected
   clicks of the slates it shows, on the visits it causes itself).

Per (click model, logging, target, size, estimator) across seeds: bias (mean error with its
95% interval across seeds), RMSE and coverage (share of seeds whose interval holds the
truth), against each truth; `overlap` is the mean share of logged slots where the target
shows the same item (E_mu[pi_k(s_k)]). Every (click model, seed) is cached under
`--out`/runs, so a killed run resumes and more seeds can be added later. Outputs:
`--out`/rows.csv (every estimate), summary.csv, rmse_by_size.png, rmse_by_overlap.png.

The default world is 10,000 users with 20 candidates and slates of 5 (slate OPE needs the
slot x item space small enough for any estimator to have overlap; `--world KEY=VALUE`
changes it). `--quick` is a smoke run: 2 seeds, 2,000 users, logs of 1,000 and 4,000
visits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import yaml

from drnsim.agents import make_agent
from drnsim.config import DAY, WorldConfig
from drnsim.logs import collect_logs
from drnsim.metrics import mean_ci
from drnsim.ope import (
    ESTIMATORS,
    LoggedSlates,
    ZooRewardModel,
    make_target,
    run_estimators,
    serve_online,
    summarize_visits,
    target_feedback,
)
from drnsim.policies import EpsilonGreedyPolicy, PlackettLucePolicy, UniformPolicy
from drnsim.results import atomic_path, write_csv, write_figure

matplotlib.use("Agg")

LOGGING = {
    "uniform": lambda: UniformPolicy(),
    "egreedy(0.2):popular": lambda: EpsilonGreedyPolicy(make_agent("popular"), 0.2),
    "pl(1):popular": lambda: PlackettLucePolicy(make_agent("popular"), 1.0),
}
TARGETS = ("random", "popular", "linucb", "static:lr")
DEFAULT_WORLD = {"n_users": 10_000, "n_candidates": 20, "slate_size": 5}
QUICK_WORLD = {"n_users": 2_000, "n_candidates": 20, "slate_size": 5}
TRAIN_SEED_OFFSET = 10_000
METRIC = "clicks_per_visit"


class SharedPredictions:
    """The reward model's predictions per chunk of visits, computed once for all targets."""

    def __init__(self, model: ZooRewardModel):
        self.model, self.cache = model, {}

    def predict(self, obs: dict, slate_size: int) -> np.ndarray:
        key = (int(obs["visit_id"][0]), len(obs["visit_id"]))
        if key not in self.cache:
            self.cache[key] = self.model.predict(obs, slate_size)
        return self.cache[key]


def first_visits(logs: pd.DataFrame, candidates: pd.DataFrame, n: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The logs (and candidates) of the first n visits in time order."""
    visits = logs["visit_id"].drop_duplicates().iloc[:n]
    return (logs[logs["visit_id"].isin(visits)].reset_index(drop=True),
            candidates[candidates["visit_id"].isin(visits)].reset_index(drop=True))


def run_seed(world: WorldConfig, click_model: str, seed: int, sizes: list[int],
             train_visits: int, reward_model: str, reward_epochs: int,
             log=print) -> pd.DataFrame:
    """Every estimate of one (click model, seed), with both truths and the overlap."""
    cfg = world.replace(click_model=click_model)
    started = time.perf_counter()
    train = collect_logs(cfg, EpsilonGreedyPolicy(make_agent("popular"), 0.2),
                         n_visits=train_visits, seed=TRAIN_SEED_OFFSET + seed)
    targets = {name: make_target(name, cfg, train, seed) for name in TARGETS}
    fields = set().union(*(spec.reads for spec in ESTIMATORS.values()))
    rows, spans = [], []
    for logging_name, make_logging in LOGGING.items():
        logs, candidates = collect_logs(cfg, make_logging(), n_visits=max(sizes), seed=seed,
                                        candidates=True, truth=True)
        for size in sizes:
            part, part_candidates = first_visits(logs, candidates, size)
            data = LoggedSlates.from_logs(part, part_candidates, cfg)
            model = SharedPredictions(ZooRewardModel(
                reward_model, cfg, seed=seed, fit_kwargs={"epochs": reward_epochs}).fit(part))
            span = float(part["time"].max())
            spans.append(span)
            for target_name, target in targets.items():
                feedback, diagnostics = target_feedback(data, target, fields, model, seed=seed,
                                                        truth=True)
                table = run_estimators(feedback, list(ESTIMATORS), explicit=False)
                table = table[table["metric"] == METRIC]
                rows.append(table.assign(
                    click_model=click_model, seed=seed, logging=logging_name,
                    target=target_name, size=size, span=span, overlap=diagnostics.overlap,
                    logged_truth=float(diagnostics.logged_truth.mean())))
            log(f"  {click_model} seed {seed} {logging_name} {size:,} visits "
                f"({time.perf_counter() - started:.0f} s)")
    frame = pd.concat(rows, ignore_index=True)
    online = {}
    for target_name, target in targets.items():
        visits, _ = serve_online(target, cfg, seed, days=max(spans) / DAY + 1e-6)
        online[target_name] = visits
    truths = []
    for (target_name, span), _ in frame.groupby(["target", "span"]):
        visits = online[target_name]
        values = summarize_visits(visits[visits["time"] <= span])
        truths.append({"target": target_name, "span": span,
                       "online_truth": values["expected_clicks_per_visit"],
                       "online_realised": values["clicks_per_visit"]})
    log(f"  {click_model} seed {seed} online truths ({time.perf_counter() - started:.0f} s)")
    return frame.merge(pd.DataFrame(truths), on=["target", "span"])


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Bias (with its 95% interval across seeds), RMSE and coverage against both truths."""
    keys = ["click_model", "logging", "target", "size", "estimator"]
    out = []
    for key, group in rows.groupby(keys, sort=False):
        record = dict(zip(keys, key, strict=True))
        record.update(n_seeds=int(group["estimate"].notna().sum()),
                      overlap=group["overlap"].mean(),
                      mean_width=(group["high"] - group["low"]).mean())
        for truth in ("logged", "online"):
            error = group["estimate"] - group[f"{truth}_truth"]
            bias, low, high = mean_ci(error)
            covered = (group["low"] <= group[f"{truth}_truth"]) & (
                group[f"{truth}_truth"] <= group["high"])
            defined = error[error.notna()]
            rmse = float(np.sqrt((defined ** 2).mean())) if len(defined) else float("nan")
            record.update({f"bias_{truth}": bias, f"bias_{truth}_low": low,
                           f"bias_{truth}_high": high, f"rmse_{truth}": rmse,
                           f"coverage_{truth}": float(covered[group["estimate"].notna()]
                                                      .mean())})
        out.append(record)
    return pd.DataFrame(out)


def plot_rmse(summary: pd.DataFrame, out: Path, truth: str) -> None:
    """RMSE against logs size (median over logging x target configurations, per estimator)
    and against overlap (every configuration at the largest size)."""
    from matplotlib import ticker
    from matplotlib.figure import Figure

    for click_model, part in summary.groupby("click_model"):
        figure = Figure(figsize=(11, 4.2))
        by_size, by_overlap = figure.subplots(1, 2)
        largest = part[part["size"] == part["size"].max()]
        for name, group in part.groupby("estimator", sort=False):
            curve = group.groupby("size")[f"rmse_{truth}"].median()
            by_size.plot(curve.index, curve.values, marker="o", label=name)
            points = largest[largest["estimator"] == name]
            by_overlap.scatter(points["overlap"], points[f"rmse_{truth}"], label=name, s=18)
        for axes, label in ((by_size, "logged visits"), (by_overlap, "overlap with the target")):
            axes.set_xscale("log")
            axes.set_yscale("log")
            axes.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            axes.xaxis.set_minor_formatter(ticker.NullFormatter())
            axes.set_xlabel(label)
            axes.set_ylabel(f"RMSE vs the {truth} truth (clicks per visit)")
        by_size.set_title(f"{click_model} clicks: median over logging x target")
        by_overlap.set_title("largest logs, each logging x target")
        by_overlap.legend(fontsize=7, ncol=2)
        figure.tight_layout()
        write_figure(out / f"rmse_{truth}_{click_model}.png", figure)


def print_tables(summary: pd.DataFrame) -> None:
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    for click_model, part in summary.groupby("click_model", sort=False):
        for truth in ("logged", "online"):
            for value in (f"rmse_{truth}", f"coverage_{truth}"):
                table = part.pivot_table(index=["logging", "target", "size"],
                                         columns="estimator", values=value, sort=False)
                print(f"\n== {click_model} clicks: {value} ==")
                print(table.round(3).to_string())
        overlap = part.pivot_table(index=["logging", "size"], columns="target",
                                   values="overlap", sort=False)
        print(f"\n== {click_model} clicks: overlap (E_mu[pi_k(s_k)]) ==")
        print(overlap.round(3).to_string())
        columns = ["rmse_logged", "coverage_logged", "rmse_online", "coverage_online"]
        pooled = {c: "median" if c.startswith("rmse") else "mean" for c in columns}
        by_size = part.groupby(["size", "estimator"], sort=False)[columns].agg(pooled)
        print(f"\n== {click_model} clicks: per size, RMSE median and coverage mean over "
              "logging x target ==")
        print(by_size.round(3).to_string())
        overall = part.groupby("estimator", sort=False)[columns].median()
        print(f"\n== {click_model} clicks: median over logging x target x size ==")
        print(overall.round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, small world and logs")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--click-models", nargs="+", default=["position"],
                        choices=["position", "cascade"])
    parser.add_argument("--train-visits", type=int, default=None)
    parser.add_argument("--reward-model", default="lr")
    parser.add_argument("--reward-epochs", type=int, default=3)
    parser.add_argument("--world", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("results/ope_bench"))
    args = parser.parse_args()
    world = dict(QUICK_WORLD if args.quick else DEFAULT_WORLD)
    for setting in args.world:
        key, _, value = setting.partition("=")
        world[key] = yaml.safe_load(value)
    cfg = WorldConfig.coerce(world)
    seeds = args.seeds or ([0, 1] if args.quick else list(range(20)))
    sizes = sorted(args.sizes or ([1_000, 4_000] if args.quick else [1_000, 10_000, 100_000]))
    train_visits = args.train_visits or (4_000 if args.quick else 20_000)
    settings = {"world": cfg.to_dict(), "sizes": sizes, "train_visits": train_visits,
                "reward_model": args.reward_model, "reward_epochs": args.reward_epochs,
                "logging": list(LOGGING), "targets": list(TARGETS), "version": 2}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    runs = args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    frames = []
    started = time.perf_counter()
    for click_model in args.click_models:
        for seed in seeds:
            path = runs / f"{click_model}-seed{seed}-{key}.parquet"
            if not path.exists():
                print(f"{click_model} seed {seed}: running", flush=True)
                frame = run_seed(cfg, click_model, seed, sizes, train_visits,
                                 args.reward_model, args.reward_epochs)
                with atomic_path(path) as tmp:
                    frame.to_parquet(tmp, index=False)
            frames.append(pd.read_parquet(path))
    rows = pd.concat(frames, ignore_index=True)
    summary = summarize(rows)
    write_csv(args.out / "rows.csv", rows)
    write_csv(args.out / "summary.csv", summary)
    for truth in ("logged", "online"):
        plot_rmse(summary, args.out, truth)
    print_tables(summary)
    print(f"\n{len(seeds)} seed(s) x {len(args.click_models)} click model(s) in "
          f"{time.perf_counter() - started:.0f} s; wrote {args.out}/{{rows.csv, summary.csv, "
          "rmse_*.png}")


if __name__ == "__main__":
    main()
