"""Held-out AUC and GAUC of every model trained on logged data, with and without interest
evolution.

    .venv/bin/python benchmarks/models_auc.py [--quick] [--users 2000] [--days 8] [--seeds 0 1]

For each world and seed, a popularity logging policy with epsilon-greedy exploration serves
the users for `--days` simulated days (`drnsim.logs.collect_logs`); the earliest 80 % of the
visits train (the latest 10 % of those for early stopping and for choosing each model's
learning rate among `--lrs` by validation loss), the latest 20 % are held out. A constant
predictor has AUC 0.5. GAUC (DIN's eq. 7) is the per-user AUC weighted by the user's
impressions: how well a model ranks one user's items, which is where a user's history can
help; the global AUC also rewards telling active users from idle ones. With several seeds the
tables show the means and the sequence models' gaps over embedding_mlp with 95 % intervals
across seeds (paired: same logs).
Every (world, seed) result is cached under `--out`/runs, so more seeds can be added later.

* evolving: strong interest evolution, each interest channel jumps to a new topic about twice a
  day (jump_rate_per_day=2): the recent part of the behaviour sequence matters most, so the
  sequence models (DIN, DIEN, MIMN) should beat embedding_mlp (sum pooling);
* static: interest evolution switched off (no jumps, no drift, no reinforcement by clicks):
  the issue expects the gap to shrink (the README reports what was measured);
* moderate (`--worlds`): jumps four times rarer than in `evolving` (0.5 a day; the default
  world has 0.2): whether the sequence models' lead depends on how fast interests move
  relative to how often a user's clicks reveal them;
* evolving_1ch, static_1ch (`--worlds`): the same two with one interest channel per user,
  which separates what the sequence models gain from evolution from what they gain from
  attending over a multi-interest history.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from drnsim.config import WorldConfig
from drnsim.features import FeatureSpec, batch_from_logs
from drnsim.logs import collect_logs
from drnsim.metrics import mean_ci
from drnsim.models import MODELS, make_model
from drnsim.models.training import evaluate, split_by_time
from drnsim.results import write_csv

NO_EVOLUTION = {"jump_rate_per_day": 0.0, "drift_sigma": 0.0, "reinforcement_rate": 0.0}
WORLDS = {
    "evolving": {"jump_rate_per_day": 2.0},
    "static": NO_EVOLUTION,
    # slower jumps (every two days per channel): a new interest lasts long enough to show up
    # in the clicks before it moves on again
    "moderate": {"jump_rate_per_day": 0.5},
    # the same pair with a single interest channel per user (no multi-interest history)
    "evolving_1ch": {"jump_rate_per_day": 2.0, "n_channels": 1},
    "static_1ch": {**NO_EVOLUTION, "n_channels": 1},
}
SEQUENCE_MODELS = ("din", "dien", "mimn")
EVOLUTION_PAIRS = (("evolving", "static"), ("moderate", "static"), ("evolving_1ch", "static_1ch"))


class PopularWithNoise:
    """Logging policy: recent popularity (6 h window) plus a little seeded noise."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs: dict) -> np.ndarray:
        pop = np.log1p(obs["candidates"]["popularity"][..., 1])
        return pop + 0.3 * self.rng.standard_normal(pop.shape)


def run_world(name: str, args: argparse.Namespace, models: list[str], seed: int) -> pd.DataFrame:
    config = WorldConfig(n_users=args.users, **WORLDS[name])
    start = time.perf_counter()
    logs = collect_logs(config, PopularWithNoise(seed), days=args.days, seed=seed,
                        batch_size=256, epsilon=args.epsilon)
    spec = FeatureSpec.from_config(config, n_item_buckets=args.item_buckets)
    data = batch_from_logs(logs, spec)
    train, test = split_by_time(data, 0.2)
    base_rate = float(train.labels[train.candidate_mask].mean())
    labels = test.labels[test.candidate_mask]
    constant_loss = float(torch.nn.functional.binary_cross_entropy(
        torch.full_like(labels, base_rate), labels))
    print(f"\n[{name}, seed {seed}] {WORLDS[name]}: {len(logs):,} logged "
          f"impressions, {len(data):,} visits ({len(train):,} train / {len(test):,} held out), "
          f"CTR {logs['click'].mean():.3f}, logging took {time.perf_counter() - start:.0f}s",
          flush=True)
    rows = [{"model": "constant", "auc": 0.5, "gauc": 0.5, "log_loss": constant_loss, "epochs": 0,
             "seconds": 0.0}]
    for model_name in models:
        start = time.perf_counter()
        best = None
        for lr in args.lrs:  # the learning rate with the lowest validation loss wins
            model = make_model(model_name, spec, seed=seed)
            history = model.fit(train, valid_fraction=0.1, epochs=args.epochs, batch_size=256,
                                lr=lr, patience=args.patience, seed=seed)
            valid_loss = history.valid_loss[history.best_epoch]
            if best is None or valid_loss < best[0]:
                best = (valid_loss, lr, model, len(history.train_loss))
        _, lr, model, epochs = best
        scores = evaluate(model, test)
        rows.append({"model": model_name, "auc": scores["auc"], "gauc": scores["gauc"],
                     "log_loss": scores["loss"],
                     "lr": lr, "epochs": epochs, "seconds": time.perf_counter() - start})
        print(f"  {model_name:14s} AUC {scores['auc']:.4f}  GAUC {scores['gauc']:.4f}  "
              f"log loss {scores['loss']:.4f}  "
              f"(lr {lr:g}, {epochs} epochs, {rows[-1]['seconds']:.0f}s)", flush=True)
    return pd.DataFrame(rows).assign(world=name, seed=seed)


def print_gaps(table: pd.DataFrame, metric: str, worlds: list[str]) -> None:
    """The sequence models' lead over embedding_mlp per world, and how much it changes
    between each evolving world and its evolution-free twin (paired per seed)."""
    values = table.pivot_table(index=["world", "seed"], columns="model", values=metric)
    if "embedding_mlp" not in values.columns:
        return
    models = [m for m in SEQUENCE_MODELS if m in values.columns]
    gap = {m: (values[m] - values["embedding_mlp"]).unstack("world") for m in models}
    print(f"\nSequence model {metric.upper()} minus embedding_mlp {metric.upper()}, paired per "
          "seed (positive = the sequence model is better), mean [95% interval]:")
    for model in models:
        cells = [f"{world} {fmt_ci(gap[model][world])}" for world in worlds]
        print(f"  {model:6s} " + "   ".join(cells))
    pairs = [(e, st) for e, st in EVOLUTION_PAIRS if e in worlds and st in worlds]
    if pairs:
        print(f"How much the {metric.upper()} gap shrinks without evolution (evolving gap minus "
              "static gap, per seed), mean [95% interval]:")
        for model in models:
            cells = [f"{e} - {st} {fmt_ci(gap[model][e] - gap[model][st])}" for e, st in pairs]
            print(f"  {model:6s} " + "   ".join(cells))


def fmt_ci(values: pd.Series) -> str:
    mean, low, high = mean_ci(values.dropna())
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller world and fewer epochs; worlds after the first: embedding_mlp + "
                         "sequence models only")
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--days", type=float, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lrs", type=float, nargs="+", default=[2e-3, 5e-4],
                    help="learning rates tried per model (chosen by validation loss)")
    ap.add_argument("--patience", type=int, default=1,
                    help="epochs without validation improvement before early stopping")
    ap.add_argument("--epsilon", type=float, default=0.3)
    ap.add_argument("--item-buckets", type=int, default=100_003)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--worlds", nargs="+", default=["evolving", "static"], choices=list(WORLDS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("results/models_auc"),
                    help="per (world, seed) results are cached under OUT/runs/ (a re-run with "
                         "the same settings resumes) and the whole table goes to OUT/auc.csv")
    args = ap.parse_args()
    args.users = args.users or (600 if args.quick else 2000)
    args.days = args.days or (6.0 if args.quick else 8.0)
    args.epochs = args.epochs or (6 if args.quick else 8)
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    others = ([m for m in models if m in ("embedding_mlp", *SEQUENCE_MODELS)]
              if args.quick else models)  # models of the worlds after the first
    tag = (f"u{args.users}_d{args.days:g}_e{args.epochs}_p{args.patience}_eps{args.epsilon:g}"
           f"_lr{'-'.join(f'{lr:g}' for lr in args.lrs)}_b{args.item_buckets}")
    frames = []
    for seed in args.seeds:
        for world in args.worlds:
            wanted = models if world == args.worlds[0] else others
            path = args.out / "runs" / f"{world}_seed{seed}_{tag}.csv"
            cached = pd.read_csv(path) if path.exists() else None
            if (cached is None or "gauc" not in cached
                    or not set(wanted) <= set(cached["model"])):
                cached = run_world(world, args, wanted, seed)
                write_csv(path, cached)
            frames.append(cached[cached["model"].isin(["constant", *wanted])])
    table = pd.concat(frames, ignore_index=True)
    write_csv(args.out / "auc.csv", table)
    for world, frame in table.groupby("world", sort=False):
        print(f"\nHeld-out AUC, {world} world, mean over seeds {args.seeds} (constant = 0.5):")
        summary = frame.groupby("model", sort=False).agg(
            auc=("auc", "mean"), gauc=("gauc", "mean"), log_loss=("log_loss", "mean"),
            epochs=("epochs", "mean"),
            lr=("lr", lambda lrs: ",".join(f"{x:g}" for x in lrs)))
        print(summary.to_string(float_format="%.4f"))
    for metric in ("auc", "gauc"):
        print_gaps(table, metric, args.worlds)
    beaten = table[(table.model != "constant") & (table.auc <= 0.5)]
    print("\nevery model beats the constant predictor" if beaten.empty else
          f"\nmodels not beating the constant predictor: {beaten[['world', 'model']].values}")


if __name__ == "__main__":
    main()
