"""Wall time of the README's quickstart command (issue 16): idle and beside a busy
neighbour process, after one untimed run that compiles the kernels (numba's disk cache).

    python benchmarks/quickstart_time.py [--repeats 3] [--neighbours 1] [--baseline-tree DIR]

Runs ``drnsim compare --agents random,popular,linucb,drn --seeds 0 --days 1 --world
n_users=1000`` in fresh processes, writing to a temporary folder, and prints the median
seconds of each setting. Named baseline: the issue measured 14.1 s idle and 42.8 s beside
one busy process before the speed work. Targets: under 10 s idle, under 20 s beside a busy
neighbour. On a shared machine the absolute figures move with the load; the busy/idle
ratio in the same run is the robust one, and so is ``--baseline-tree DIR`` (a checkout of
another commit, e.g. ``git worktree add --detach DIR <commit>``): its quickstart runs
interleaved with this tree's, and the ratio of the medians is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contention import busy_neighbour  # noqa: E402

COMMAND = ["-m", "drnsim", "compare", "--agents", "random,popular,linucb,drn", "--seeds", "0",
           "--days", "1", "--world", "n_users=1000"]
BEFORE = {"idle": 14.1, "busy": 42.8}
TARGETS = {"idle": 10.0, "busy": 20.0}


def run_quickstart(folder: Path, tree: str | None = None) -> float:
    """Seconds of one quickstart run writing to a new folder under ``folder``, with the
    drnsim of ``tree`` (a source checkout) when given, else the installed one."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "quickstart"
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())} if tree else None
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *COMMAND, "--out", str(out)], capture_output=True,
                            text=True, env=env, cwd=folder)
    if result.returncode != 0:
        raise RuntimeError(f"the quickstart command failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--neighbours", type=int, default=1)
    parser.add_argument("--baseline-tree", default=None,
                        help="a checkout of another commit, timed in the same run")
    args = parser.parse_args()
    if args.baseline_tree and not (Path(args.baseline_tree) / "drnsim").is_dir():
        parser.error(f"--baseline-tree must be a drnsim checkout, got {args.baseline_tree!r}")
    trees = {"this tree": None, **({"baseline": args.baseline_tree} if args.baseline_tree
                                   else {})}
    seconds = {(name, load): [] for name in trees for load in ("idle", "busy")}
    with tempfile.TemporaryDirectory(prefix="quickstart_") as folder:
        for name, tree in trees.items():
            first = run_quickstart(Path(folder), tree)
            print(f"{name}: first run (compiles or loads the kernels): {first:.1f} s",
                  flush=True)
        for _ in range(args.repeats):  # interleaved, so that a load change hits every case
            for name, tree in trees.items():
                seconds[name, "idle"].append(run_quickstart(Path(folder), tree))
                with busy_neighbour(args.neighbours):
                    seconds[name, "busy"].append(run_quickstart(Path(folder), tree))
    median = {key: statistics.median(values) for key, values in seconds.items()}
    for (name, load), values in seconds.items():
        line = (f"{name:<9} {load:<4} median {median[name, load]:5.1f} s over {len(values)} "
                f"runs ({', '.join(f'{v:.1f}' for v in values)})")
        if name == "this tree":
            line += (f"; the issue's {BEFORE[load]} s -> {median[name, load] / BEFORE[load]:.2f}x;"
                     f" target < {TARGETS[load]:g} s: "
                     f"{'meets' if median[name, load] < TARGETS[load] else 'MISSES'}")
        else:
            line += f"; this tree / baseline: {median['this tree', load] / median[name, load]:.2f}x"
        print(line)
    ratio = median["this tree", "busy"] / median["this tree", "idle"]
    print(f"busy / idle: {ratio:.2f}x (the issue's {BEFORE['busy'] / BEFORE['idle']:.2f}x)")


if __name__ == "__main__":
    main()
