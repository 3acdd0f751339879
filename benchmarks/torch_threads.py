"""torch agents in drnsim's loop: one intra-op thread (drnsim's default) vs all cores, on an
idle machine and beside a busy neighbour process, in one run (issue 16).

    python benchmarks/torch_threads.py [--agents drn static:din] [--days 0.25] [--repeats 2]

Each configuration runs `drnsim.compare` (1,000 users, seed 0, a 1-day pre-period, then
``--days`` online) for one agent in a fresh subprocess with ``DRNSIM_TORCH_THREADS`` set,
and prints the median seconds of the online part and of the whole call. The neighbour
spins on one core in its own session (`_contention.py`: why that matters on Linux). Named
baseline: ``DRNSIM_TORCH_THREADS=1`` in the same run; the default must never lose to it.
The simulator's numba kernels keep their own thread setting (``DRNSIM_THREADS``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contention import busy_neighbour  # noqa: E402


def measure(agent: str, days: float) -> dict:
    """Seconds of one `compare` call for ``agent`` (after an untimed warm-up that compiles
    the kernels and imports torch)."""
    import torch

    import drnsim

    world = {"n_users": 1000}
    drnsim.compare(["random"], seeds=[0], days=0.05, world=world, progress=False)
    started = time.perf_counter()
    frame = drnsim.compare([agent], seeds=[0], days=days, world=world, progress=False)
    total = time.perf_counter() - started
    ctr = frame[frame["metric"] == "ctr"]["value"].mean()
    return {"seconds": total, "ctr": float(ctr), "torch_threads": drnsim._parallel
            .get_torch_threads(), "torch_default": torch.get_num_threads()}


def run_one(agent: str, days: float, torch_threads: str) -> dict:
    env = dict(os.environ, DRNSIM_TORCH_THREADS=torch_threads)
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps([agent, days])],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"the measuring subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="+", default=["drn", "static:din"])
    parser.add_argument("--days", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        agent, days = json.loads(args.one)
        print(json.dumps(measure(agent, days)))
        return
    cores = str(os.cpu_count() or 1)
    print(f"{'setting':<6} {'agent':<12} {'torch threads':>13} {'seconds':>8} {'vs 1 thread':>11}"
          f"  CTR")
    for setting in ("idle", "busy"):
        with busy_neighbour(1) if setting == "busy" else nullcontext():
            for agent in args.agents:
                seconds = {}
                for threads in ("1", cores):
                    runs = [run_one(agent, args.days, threads) for _ in range(args.repeats)]
                    seconds[threads] = statistics.median(r["seconds"] for r in runs)
                    ratio = seconds["1"] / seconds[threads]
                    print(f"{setting:<6} {agent:<12} {threads:>13} {seconds[threads]:8.2f} "
                          f"{ratio:10.2f}x  {runs[0]['ctr']:.4f}", flush=True)


if __name__ == "__main__":
    main()
