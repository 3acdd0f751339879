"""Real logs in: MovieLens-100k through the reader, the model zoo and `calibrate`.

    .venv/bin/python benchmarks/real_logs.py [--models lr fm deepfm din dien] [--seeds 0 1 2]

1. **Data**: the real MovieLens-100k files, fetched by this script (not by drnsim, and not a
   project dependency) with the package manager from RecBole's wheel, which ships them in
   RecBole's atomic format: ``ml-100k.inter`` holds u.data's rows in u.data's order,
   ``ml-100k.user`` u.user's, ``ml-100k.item`` the movie, its year and its genres as words.
   They are written back as u.data, u.user and u.item (the 19 genre flags from the words;
   the release date as 01-Jan-year) and read with `drnsim.datasets.read_movielens`.
2. **Models**: `FeatureSpec.from_logs`, the latest 20% of the visits held out (time split),
   `fit` of each model with two recipes: ``default`` (the trainer's defaults: lr 1e-3, at
   most 10 epochs) and ``tuned`` (lr chosen among --lrs by the validation loss of seed 0,
   at most 40 epochs, patience 3); AUC and GAUC on the held-out visits, mean and 95%
   interval across seeds, and the paired gap to the baseline.
3. **Baseline**: each movie's smoothed click rate on the training visits,
   (clicks + m p) / (ratings + m), p the overall rate, m chosen on the validation visits;
   and, for the diagnosis, single features as scores (1-week popularity, item age).
4. **Calibrate**: `drnsim.calibrate` on the same logs, the fitted parameters and the
   fidelity table; the report lands in --out/calibration (fidelity.png: the figures).

Results are cached per (model, recipe, seed) under --out/runs, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from drnsim.calibrate import calibrate, fidelity, write_calibration
from drnsim.datasets import MOVIELENS_GENRES, read_movielens
from drnsim.features import FeatureBatch, FeatureSpec, batch_from_logs
from drnsim.metrics import mean_ci
from drnsim.models import make_model
from drnsim.models.training import auc, evaluate, gauc, split_by_time
from drnsim.results import write_csv, write_text

RECBOLE = "recbole==1.2.1"
ATOMIC = "recbole/dataset_example/ml-100k/ml-100k"


def fetch_movielens(cache: Path) -> Path:
    """u.data, u.item, u.user under cache/ml-100k, from RecBole's wheel (pip download)."""
    folder = cache / "ml-100k"
    if all((folder / name).exists() for name in ("u.data", "u.item", "u.user")):
        return folder
    wheels = sorted(cache.glob("recbole-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", RECBOLE, "--no-deps",
                        "--quiet", "-d", str(cache)], check=True)
        wheels = sorted(cache.glob("recbole-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        def rows(kind: str) -> list[list[str]]:
            text = wheel.read(f"{ATOMIC}.{kind}").decode("utf-8")
            return [line.split("\t") for line in text.splitlines()[1:] if line]

        inter, items, users = rows("inter"), rows("item"), rows("user")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join("\t".join(r) + "\n" for r in inter))
    lines = []
    for movie, title, year, genres in items:
        words = set(genres.split())
        flags = ["1" if g in words else "0" for g in MOVIELENS_GENRES]
        date = f"01-Jan-{year}" if year else ""
        lines.append("|".join([movie, title, date, "", ""] + flags))
    (folder / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("".join("|".join(r) + "\n" for r in users))
    return folder


def flat(data: FeatureBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, item bucket, user and dense features of the valid impressions."""
    mask = data.candidate_mask
    users = data.user_fields[:, :1].expand_as(mask)[mask].numpy()
    return (data.labels[mask].numpy(), data.item_fields[..., 0][mask].numpy(), users,
            data.dense[mask].numpy())


def baseline(train: FeatureBatch, valid: FeatureBatch, test: FeatureBatch,
             size: int) -> tuple[dict[str, float], float]:
    """Smoothed item click rate (prior strength chosen on `valid`) on `test`."""
    y, item, _, _ = flat(train)
    clicks, shown = np.bincount(item, y, size), np.bincount(item, None, size)
    prior = y.mean()

    def score(data: FeatureBatch, strength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        labels, items, users, _ = flat(data)
        return labels, (clicks[items] + strength * prior) / (shown[items] + strength), users

    best = max((1.0, 5.0, 20.0, 100.0), key=lambda m: auc(*score(valid, m)[:2]))
    labels, scores, users = score(test, best)
    return {"auc": auc(labels, scores), "gauc": gauc(labels, scores, users)}, best


def train_model(name: str, spec: FeatureSpec, train: FeatureBatch, test: FeatureBatch,
                seed: int, lr: float, epochs: int, patience: int) -> dict[str, float]:
    torch.manual_seed(seed)
    model = make_model(name, spec, seed=seed)
    started = time.perf_counter()
    history = model.fit(train, epochs=epochs, lr=lr, patience=patience, seed=seed)
    scores = evaluate(model, test)
    return {**scores, "valid_loss": min(history.valid_loss), "best_epoch": history.best_epoch,
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lr", "fm", "deepfm", "din", "dien"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--recipes", nargs="+", default=["default", "tuned"],
                        choices=["default", "tuned"])
    parser.add_argument("--parts", nargs="+", default=["models", "calibrate"],
                        choices=["models", "calibrate"],
                        help="models: the AUC/GAUC table; calibrate: the fidelity report")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("results/real_logs"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    pd.set_option("display.width", 200)
    runs = args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)

    folder = fetch_movielens(args.out / "data")
    logs = read_movielens(folder)
    spec = FeatureSpec.from_logs(logs)
    print(f"MovieLens-100k: {len(logs):,} ratings, {logs['visit_id'].nunique():,} visits, "
          f"{spec.n_users} users, {spec.n_item_buckets} movies, click rate "
          f"{logs['click'].mean():.3f}\n{spec}", flush=True)
    if "models" in args.parts:
        models_table(args, logs, spec, runs)
    if "calibrate" in args.parts:
        calibration(args, logs)


def models_table(args: argparse.Namespace, logs: pd.DataFrame, spec: FeatureSpec,
                 runs: Path) -> None:
    """Fit every model with each recipe and seed (cached per run), print the AUC/GAUC table
    against the smoothed item rate and the single-feature scores."""
    data = batch_from_logs(logs, spec)
    train, test = split_by_time(data, 0.2)
    fit_part, valid = split_by_time(train, 0.1)  # what `fit` validates on
    base, strength = baseline(fit_part, valid, test, spec.n_item_buckets + 1)
    labels, _, users, dense = flat(test)
    single = {name: {"auc": auc(labels, sign * dense[:, j]),
                     "gauc": gauc(labels, sign * dense[:, j], users)}
              for name, j, sign in (("pop_1w", 4, 1.0), ("item_age (newer first)", 0, -1.0))}
    rows = [{"model": f"item rate (m={strength:g})", "recipe": "-", "seed": 0, **base},
            *({"model": n, "recipe": "-", "seed": 0, **s} for n, s in single.items())]

    for name in args.models:
        for recipe in args.recipes:
            if recipe == "default":
                lr, epochs, patience = 1e-3, 10, 2
            else:
                epochs, patience = 40, 3
                trials = {}
                for candidate in args.lrs:
                    path = runs / f"{name}-lr{candidate:g}-seed{args.seeds[0]}.json"
                    if not path.exists():
                        write_text(path, json.dumps(train_model(
                            name, spec, train, test, args.seeds[0], candidate, epochs,
                            patience)))
                    trials[candidate] = json.loads(path.read_text())["valid_loss"]
                lr = min(trials, key=trials.get)
            for seed in args.seeds:
                path = (runs / f"{name}-default-seed{seed}.json" if recipe == "default"
                        else runs / f"{name}-lr{lr:g}-seed{seed}.json")
                if not path.exists():
                    write_text(path, json.dumps(train_model(name, spec, train, test, seed, lr,
                                                            epochs, patience)))
                result = json.loads(path.read_text())
                rows.append({"model": name, "recipe": f"{recipe} (lr {lr:g})", "seed": seed,
                             **{k: result[k] for k in ("auc", "gauc", "best_epoch",
                                                       "seconds")}})
                print(f"{name} {recipe} lr {lr:g} seed {seed}: AUC {result['auc']:.4f} GAUC "
                      f"{result['gauc']:.4f} (best epoch {result['best_epoch']}, "
                      f"{result['seconds']:.0f} s)", flush=True)
    frame = pd.DataFrame(rows)
    write_csv(args.out / "auc.csv", frame)
    table = []
    for (model, recipe), group in frame.groupby(["model", "recipe"], sort=False):
        row = {"model": model, "recipe": recipe, "seeds": len(group)}
        for metric in ("auc", "gauc"):
            mean, low, high = mean_ci(group[metric])
            gap, gap_low, gap_high = mean_ci(group[metric] - base[metric])
            row[metric] = f"{mean:.4f} [{low:.4f}, {high:.4f}]"
            row[f"{metric} - item rate"] = f"{gap:+.4f} [{gap_low:+.4f}, {gap_high:+.4f}]"
        table.append(row)
    table = pd.DataFrame(table)
    write_csv(args.out / "auc_table.csv", table)
    print("\nHeld-out AUC / GAUC (time split, latest 20% of visits), mean [95% interval across "
          "seeds], gap to the smoothed item rate:")
    print(table.to_string(index=False))


def calibration(args: argparse.Namespace, logs: pd.DataFrame) -> None:
    """`calibrate` and `fidelity` on the logs; the report under --out/calibration."""
    print("\ncalibrate:", flush=True)
    result = calibrate(logs, n_bootstrap=args.bootstrap, echo=print)
    report = fidelity(logs, result.world)
    out = args.out / "calibration"
    write_calibration(out, result, report, source="MovieLens-100k")
    print(result.parameters.drop(columns=["estimator"]).to_string(
        index=False, float_format=lambda v: f"{v:.4g}"))
    print(report.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\n".join(result.notes))
    print(f"\nwrote {out}/(world.yaml, parameters.csv, fidelity.csv, fidelity.png, report.md)")


if __name__ == "__main__":
    main()
