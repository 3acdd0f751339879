"""Visits per second of the single and the vector env: idle, on one thread, and beside a
busy neighbour process, in one run (issue 16), plus peak memory.

    python benchmarks/env_throughput.py [--users 10000] [--seconds 5] [--quick]
                                        [--neighbours 1] [--large 1000000]
                                        [--recsim-venv DIR | --no-recsim]

Every configuration runs in a fresh subprocess (its own thread settings and peak RSS):
the simulator's default threads (``DRNSIM_THREADS`` unset: every core numba sees) and
``DRNSIM_THREADS=1``, each on an idle machine and beside ``--neighbours`` processes that
each spin on one core, which this script starts and stops itself (`_contention.py`).
Relative figures in the same run are what count: on a shared machine the absolute ones
move with the neighbours' load.

Named baselines: the figures the issue measured before the speed work (10,000 users,
100 candidates x slate 10, a 2-core machine), printed beside each ratio; and RecSim's
interest_evolution (100 candidates x slate 10, its RandomAgent, one slate per step) measured
in the same run, idle and busy, from a throwaway venv with ``recsim-no-tf`` (created under
``--recsim-venv``, reused when it exists; ``--no-recsim`` skips it).

Targets (issue 16): beside one busy neighbour single >= 15,000 and B=1024 >= 150,000
visits/s; idle single >= 25,000 and B=1024 >= 250,000; no setting below the same run's
one-thread figure (the default within 5% of it or faster, counted as "never loses"); the
long-term world (tradeoff_strength = 1) at B = 1024 at least 0.9x the same env with the
trade-off off, idle, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contention import busy_neighbour  # noqa: E402

ENVS = ("single", 64, 1024)
BEFORE = {  # the table (visits/s before the speed work), by (setting, env)
    ("idle", "default"): {"single": 17_905, 64: 112_134, 1024: 188_662},
    ("idle", "1 thread"): {"single": 16_112, 64: 97_009, 1024: 130_628},
    ("busy", "default"): {"single": 5_618, 64: 32_811, 1024: 60_268},
    ("busy", "1 thread"): {"single": 16_337, 64: 96_724, 1024: 134_860},
}
TARGETS = {("busy", "single"): 15_000, ("busy", 1024): 150_000,
           ("idle", "single"): 25_000, ("idle", 1024): 250_000}
RECSIM_SCRIPT = Path(__file__).resolve().parent / "_recsim_speed.py"


def recsim_python(venv: Path) -> Path:
    """The interpreter of a throwaway venv with RecSim (created on first use)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import recsim.environments.interest_evolution"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "recsim-no-tf", "six"],
                   check=True)
    subprocess.run(check, check=True)
    return python


def recsim_slates_per_s(python: Path, steps: int) -> float:
    out = subprocess.run([str(python), str(RECSIM_SCRIPT), "--steps", str(steps)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the RecSim run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["slates_per_s"]


def measure(n_users: int, batch: int | None, tradeoff: float, seconds: float) -> dict:
    """Run one configuration for about `seconds` (after a warm-up of 64 steps and 1 s)."""
    import numpy as np

    from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv

    try:
        from drnsim import _parallel

        layer, threads = _parallel.info()["layer"], _parallel.get_threads()
    except ImportError:  # a --baseline-tree from before the threading work
        import numba

        layer, threads = "numba default", numba.config.NUMBA_NUM_THREADS

    t_build = time.perf_counter()
    world = dict(n_users=n_users, episode_days=365.0, tradeoff_strength=tradeoff)
    env = NewsFeedEnv(**world) if batch is None else NewsFeedVectorEnv(batch, **world)
    shape = env.action_space.shape
    env.reset(seed=0)
    build = time.perf_counter() - t_build
    actions = np.random.default_rng(0).uniform(-1, 1, (64, *shape)).astype(np.float32)
    visits_per_step = 1 if batch is None else batch
    warm_end = time.perf_counter() + 1.0
    steps = 0
    while time.perf_counter() < warm_end or steps < 64:  # every code path compiled
        env.step(actions[steps % 64])
        steps += 1
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 64])
        steps += 1
    elapsed = time.perf_counter() - start
    return {"visits_per_s": steps * visits_per_step / elapsed, "build_s": build,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "layer": layer, "threads": threads}


def run_one(users: int, batch: int | None, seconds: float, tradeoff: float,
            threads: str | None, tree: str | None = None) -> dict:
    """`measure` in a fresh subprocess with DRNSIM_THREADS = ``threads`` (None: unset), on
    the drnsim source tree at ``tree`` (None: the installed one)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DRNSIM_THREADS", "NUMBA_NUM_THREADS")}
    if threads is not None:
        env["DRNSIM_THREADS"] = threads
        env["NUMBA_NUM_THREADS"] = threads  # a baseline tree may not know DRNSIM_THREADS
    if tree is not None:
        env["PYTHONPATH"] = tree
    out = subprocess.run([sys.executable, __file__, "--seconds", str(seconds), "--one",
                          json.dumps([users, batch, tradeoff])],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"the measuring subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def env_name(env: str | int) -> str:
    return "single" if env == "single" else f"vector B={env}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--neighbours", type=int, default=1,
                        help="busy processes beside the 'busy' settings")
    parser.add_argument("--large", type=int, default=0,
                        help="also time this many users (default threads, idle)")
    parser.add_argument("--quick", action="store_true", help="2 s per configuration")
    parser.add_argument("--baseline-tree", default=None,
                        help="also time each configuration on this drnsim source tree (e.g. "
                        "`git archive <commit> | tar -x -C DIR`), interleaved, same run")
    parser.add_argument("--recsim-venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "drnsim_recsim_venv",
                        help="throwaway venv for RecSim (created if missing)")
    parser.add_argument("--no-recsim", action="store_true", help="skip the RecSim baseline")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*json.loads(args.one), seconds=args.seconds)))
        return
    if args.quick:
        args.seconds = 2.0
    print(f"{args.users:,} users, 100 candidates x slate 10, {os.cpu_count()} cores, "
          f"{args.seconds:g} s per configuration; 'busy' = {args.neighbours} spinning "
          "process(es) started by this script", flush=True)
    results: dict[tuple[str, str, str | int], float] = {}
    recsim: dict[str, float] = {}
    python = None if args.no_recsim else recsim_python(args.recsim_venv)
    for load in ("idle", "busy"):
        if python is not None:
            with busy_neighbour(args.neighbours) if load == "busy" else nullcontext():
                recsim[load] = recsim_slates_per_s(python, 5_000 if args.quick else 20_000)
            print(f"{load:<5} RecSim interest_evolution {recsim[load]:>10,.0f} slates/s "
                  "(100 candidates x slate 10, one thread)", flush=True)
        for setting, threads in (("default", None), ("1 thread", "1")):
            for env in ENVS:
                batch = None if env == "single" else int(env)
                with busy_neighbour(args.neighbours) if load == "busy" else nullcontext():
                    r = run_one(args.users, batch, args.seconds, 1.0, threads)
                    base = (run_one(args.users, batch, args.seconds, 1.0, threads,
                                    args.baseline_tree) if args.baseline_tree else None)
                results[load, setting, env] = r["visits_per_s"]
                before = BEFORE[load, setting][env]
                versus = "" if base is None else (
                    f"; baseline tree {base['visits_per_s']:,.0f}/s: "
                    f"{r['visits_per_s'] / base['visits_per_s']:.2f}x")
                print(f"{load:<5} {setting:<9} {env_name(env):<14} {r['visits_per_s']:>10,.0f} "
                      f"visits/s  ({r['visits_per_s'] / before:5.2f}x the issue's {before:,}"
                      f"{versus}; layer {r['layer']}, {r['threads']} thread(s), peak RSS "
                      f"{r['peak_rss_mb']:,.0f} MB)", flush=True)
    print("\nDefault vs one thread in the same run (>= 0.95x: never loses):")
    for load in ("idle", "busy"):
        for env in ENVS:
            ratio = results[load, "default", env] / results[load, "1 thread", env]
            print(f"  {load:<5} {env_name(env):<14} {ratio:5.2f}x "
                  f"{'ok' if ratio >= 0.95 else 'LOSES'}")
    print("\nTargets (issue 16):")
    for (load, env), target in TARGETS.items():
        value = results[load, "default", env]
        versus = (f"; {value / recsim[load]:.1f}x RecSim interest_evolution in the same "
                  "setting" if load in recsim else "")
        print(f"  {load:<5} {env_name(env):<14} {value:>10,.0f} / {target:,} "
              f"{'meets' if value >= target else 'BELOW'}{versus}")
    without = run_one(args.users, 1024, args.seconds, 0.0, None)["visits_per_s"]
    print(f"\nthe long-term world at B = 1024, idle: "
          f"{results['idle', 'default', 1024] / without:.3f}x the visits/s of "
          f"tradeoff_strength = 0 ({without:,.0f}/s; target >= 0.90x)")
    if args.large:
        for env in ENVS:
            batch = None if env == "single" else int(env)
            r = run_one(args.large, batch, args.seconds, 1.0, None)
            print(f"{args.large:,} users, idle default, {env_name(env):<14} "
                  f"{r['visits_per_s']:>10,.0f} visits/s, build {r['build_s']:.1f} s, "
                  f"peak RSS {r['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
