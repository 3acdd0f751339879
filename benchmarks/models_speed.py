"""Training throughput and scoring latency of every model on CPU, and DIN / DIEN against
DeepCTR-Torch's DIN and DIEN in the same run.

    .venv/bin/python benchmarks/models_speed.py [--quick] [--threads 2] [--dct-venv PATH]

Training: Adam steps on batches shaped like the logs (256 requests x 10 shown items = 2,560
samples, random history lengths 1..50); samples/s = scored (user, item) pairs per second.
Scoring: one request, 100 candidates, a full history of 50, `model.score` on a FeatureBatch
(eval mode, no gradients, no auxiliary loss). Sizes as in ../shared/peers/bench_dct.py:
10,000 users, 20,000 items, 20 topics, embedding 16 per field, history 50.

DeepCTR-Torch is installed into a throwaway virtual environment (never the project's): a fresh
venv that sees this interpreter's packages through a .pth file (so it uses this very torch
2.13.0), plus `pip install deepctr-torch==0.3.0 scikit-learn requests`. Its benchmark script is
../shared/peers/bench_dct.py, run with the same thread count. The comparison runs in paired
rounds (theirs, then ours straight after) and reports the median of the rounds' ratios: a
shared machine's speed drifts over minutes, and pairs measured together see the same drift. On
this VM a process also sits in one of two speed states for seconds or for its whole life (our
DIN scores in 1.0 or 1.85 ms, with the same code, buffers and no page faults), so theirs and
ours in separate processes can land in different states. Scoring is therefore also timed
interleaved in one process (`scoring_interleaved.py`: blocks of 10 calls of theirs, then 10 of
ours, 20 blocks, 10 with --quick), in 3 fresh processes (1 with --quick), once with glibc's
default allocator and once with its dynamic mmap/trim thresholds pinned high
(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, the same for both libraries): with the
defaults, a call's large temporaries can be handed back to the kernel and page-faulted in again
on the next call (ours keeps its DIN attention buffers across calls and does not fault; theirs
does, by milliseconds in some processes).
"""

from __future__ import annotations

import argparse
import json
import os
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from drnsim.config import WorldConfig
from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models import MODELS, make_model
from drnsim.models.training import adam, masked_bce

ROOT = Path(__file__).resolve().parents[1]
BENCH_DCT = ROOT.parent / "shared" / "peers" / "bench_dct.py"
N_ITEMS, BATCH_REQUESTS, SHOWN, N_CANDIDATES = 20_000, 256, 10, 100


def synthetic_batch(spec: FeatureSpec, b: int, n: int, full_history: bool,
                    generator: torch.Generator) -> FeatureBatch:
    """Random requests with ids inside the spec's vocabularies (history lengths 1..L)."""
    big_l = spec.history_length
    lengths = (torch.full((b,), big_l) if full_history
               else torch.randint(1, big_l + 1, (b,), generator=generator))
    mask = torch.arange(big_l)[None] < lengths[:, None]

    def items(shape):
        return torch.stack([torch.randint(1, N_ITEMS + 1, shape, generator=generator),
                            torch.randint(1, spec.n_topics + 1, shape, generator=generator),
                            torch.randint(1, spec.n_providers + 1, shape, generator=generator)],
                           -1)

    users = torch.stack([torch.randint(1, v, (b,), generator=generator)
                         for v in spec.user_vocab], -1)
    return FeatureBatch(
        user_fields=users, item_fields=items((b, n)),
        dense=torch.rand(b, n, spec.dense_dim, generator=generator),
        history_fields=items((b, big_l)) * mask.unsqueeze(-1), history_mask=mask,
        candidate_mask=torch.ones(b, n, dtype=torch.bool),
        state=torch.rand(b, spec.state_dim, generator=generator),
        action=torch.rand(b, n, spec.action_dim, generator=generator),
        labels=torch.randint(0, 2, (b, n), generator=generator).float())


def train_speed(model, batches: list[FeatureBatch], warmup: int = 2) -> float:
    """Samples (scored items) per second over Adam steps on `batches` (the trainer's
    optimiser, `drnsim.models.training.adam`)."""
    optimizer = adam(model.parameters(), lr=1e-3)
    model.train()

    def step(batch):
        logits, aux = model.forward_with_aux(batch)
        loss = masked_bce(logits, batch) + aux
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for batch in batches[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    seconds = time.perf_counter() - start
    return sum(int(b.candidate_mask.sum()) for b in batches[warmup:]) / seconds


def median_ms(call, calls: int) -> float:
    """Median milliseconds of `calls` calls of `call()`."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def score_latency(model, request: FeatureBatch, calls: int, warmup: int = 5) -> float:
    """Median milliseconds of `model.score` on one request, in eval mode (where `fit` leaves
    a model)."""
    model.eval()
    for _ in range(warmup):
        model.score(request)
    return median_ms(lambda: model.score(request), calls)


def deepctr_venv(path: str | None) -> Path:
    """A throwaway venv with deepctr-torch that reuses this interpreter's torch."""
    venv = Path(path) if path else Path(tempfile.mkdtemp(prefix="dct_venv_"))
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import deepctr_torch, sklearn, torch; print(torch.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    Path(target, "_drnsim_parent_site.pth").write_text(site.getsitepackages()[0] + "\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + ["--no-deps", "deepctr-torch==0.3.0"], check=True)
    subprocess.run(pip + ["scikit-learn", "requests"], check=True)
    version = subprocess.run(check, check=True, capture_output=True, text=True).stdout.strip()
    if not version.startswith("2.13.0"):
        raise RuntimeError(f"the throwaway venv sees torch {version}, expected 2.13.0")
    return python


def run_deepctr(python: Path, n: int, reps: int, threads: int) -> dict[str, dict]:
    """Run bench_dct.py; {model: {'train': samples/s, 'predict': ms, 'forward': ms}}."""
    with tempfile.TemporaryDirectory() as out:
        source = BENCH_DCT.read_text().replace("torch.set_num_threads(2)",
                                               f"torch.set_num_threads({threads})")
        script = Path(out, "bench_dct.py")
        script.write_text(source)
        proc = subprocess.run([str(python), str(script), "--models", "din,dien", "--n", str(n),
                               "--reps", str(reps), "--out", out],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"bench_dct.py failed:\n{proc.stderr[-3000:]}")
        results = {}
        for name in ("din", "dien"):
            data = json.loads(Path(out, f"results_{name}.json").read_text())
            results[name] = {"train": data["train_samples_per_s"]["median"],
                             "predict": data["predict100_median_ms"]["median"],
                             "forward": data["forward100_median_ms"]["median"]}
        return results


#: glibc settings that keep freed memory in the process (no page faults on re-allocation)
PINNED_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20),
                    "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


def run_interleaved(python: Path, threads: int, blocks: int, env: dict[str, str]) -> dict:
    """scoring_interleaved.py in the throwaway venv; {model: {'theirs_ms', 'ours_ms'}}."""
    proc = subprocess.run([str(python), str(ROOT / "benchmarks" / "scoring_interleaved.py"),
                           str(BENCH_DCT.parent), "--blocks", str(blocks),
                           "--threads", str(threads)],
                          capture_output=True, text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        raise RuntimeError(f"scoring_interleaved.py failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and calls")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (bench_dct uses 2)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--dct-venv", default=None, help="reuse/create the throwaway venv here")
    ap.add_argument("--no-deepctr", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps, calls = (6, 20) if args.quick else (20, 50)
    spec = FeatureSpec.from_config(WorldConfig(n_users=10_000, n_topics=20),
                                   n_item_buckets=N_ITEMS + 1)
    gen = torch.Generator().manual_seed(0)
    batches = [synthetic_batch(spec, BATCH_REQUESTS, SHOWN, False, gen) for _ in range(steps)]
    request = synthetic_batch(spec, 1, N_CANDIDATES, True, gen)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; training batches: "
          f"{BATCH_REQUESTS} requests x {SHOWN} items; scoring: 1 request x {N_CANDIDATES} "
          f"candidates, history {spec.history_length}")
    rows, built = {}, {}
    print(f"{'model':15s} {'train samples/s':>16s} {'score 100 (ms)':>15s}")
    for name in args.models.split(","):
        kwargs = {"pretrain": False} if name == "neural_cf" else {}
        model = built[name] = make_model(name, spec, **kwargs)
        rows[name] = (train_speed(model, batches), score_latency(model, request, calls))
        print(f"{name:15s} {rows[name][0]:16,.0f} {rows[name][1]:15.2f}", flush=True)
    if args.no_deepctr or not {"din", "dien"} <= set(rows):
        return
    python = deepctr_venv(args.dct_venv)
    n, rounds = (20_000, 1) if args.quick else (200_000, 3)
    print(f"\nDeepCTR-Torch 0.3.0 vs ours, {args.threads} threads, {rounds} paired rounds: "
          f"theirs ({n:,} samples, one rep of ../shared/peers/bench_dct.py), then ours at once "
          "(the machine's speed drifts; each round's ratio compares neighbours in time)")
    print(f"{'round':5s} {'model':6s} {'ours train/s':>13s} {'theirs train/s':>15s} "
          f"{'ratio':>6s} | {'ours ms':>8s} {'theirs predict ms':>18s} {'ratio':>6s} "
          f"{'theirs fwd ms':>14s} {'ratio':>6s}")
    ratios: dict[str, list[tuple[float, float]]] = {"din": [], "dien": []}
    for round_ in range(rounds):
        theirs = run_deepctr(python, n, 1, args.threads)
        for name in ("din", "dien"):
            ours_train = train_speed(built[name], batches)
            ours_ms = score_latency(built[name], request, calls)
            t = theirs[name]
            ratios[name].append((ours_train / t["train"], t["predict"] / ours_ms))
            print(f"{round_:5d} {name:6s} {ours_train:13,.0f} {t['train']:15,.0f} "
                  f"{ours_train / t['train']:5.2f}x | {ours_ms:8.2f} {t['predict']:18.2f} "
                  f"{t['predict'] / ours_ms:5.2f}x {t['forward']:14.2f} "
                  f"{t['forward'] / ours_ms:5.2f}x", flush=True)
    for name, pairs in ratios.items():
        train_r, score_r = zip(*pairs, strict=True)
        print(f"{name}: median ratio over rounds: training {statistics.median(train_r):.2f}x "
              f"(range {min(train_r):.2f}-{max(train_r):.2f}), scoring "
              f"{statistics.median(score_r):.2f}x (range {min(score_r):.2f}-{max(score_r):.2f})")
    blocks, processes = (10, 1) if args.quick else (20, 3)
    print(f"\nScoring interleaved in one process ({blocks} blocks of 10 calls each, theirs "
          "predict then our score; ratio = theirs / ours per block), in "
          f"{processes} fresh processes per allocator setting (a process may keep one speed "
          "state throughout)")
    for label, env in (("default allocator", {}), ("pinned allocator", PINNED_ALLOCATOR)):
        pooled: dict[str, list[float]] = {"din": [], "dien": []}
        for process in range(processes):
            for name, times in run_interleaved(python, args.threads, blocks, env).items():
                ratio = [t / o for t, o in zip(times["theirs_ms"], times["ours_ms"], strict=True)]
                pooled[name] += ratio
                print(f"  {label:17s} process {process} {name:5s} theirs "
                      f"{statistics.median(times['theirs_ms']):6.2f} ms  ours "
                      f"{statistics.median(times['ours_ms']):5.2f} ms  ratio median "
                      f"{statistics.median(ratio):.2f}x (blocks {min(ratio):.2f}-{max(ratio):.2f})")
        for name, ratio in pooled.items():
            print(f"  {label:17s} {name:5s} all blocks: ratio median "
                  f"{statistics.median(ratio):.2f}x (blocks {min(ratio):.2f}-{max(ratio):.2f})")
    print("targets: training >= 1.5x, scoring 100 candidates >= 3x faster (predict ratio)")


if __name__ == "__main__":
    main()
