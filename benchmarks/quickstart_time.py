"""Wall time of the README's quickstart command (issue 16): idle and beside a busy
neighbour process, after one untimed run that compiles the kernels (numba's disk cache).

    python benchmarks/quickstart_time.py [--repeats 3] [--neighbours 1]

Runs ``drnsim compare --agents random,popular,linucb,drn --seeds 0 --days 1 --world
n_users=1000`` in fresh processes, writing to a temporary folder, and prints the median
seconds of each setting. Named baseline: the issue measured 14.1 s idle and 42.8 s beside
one busy process before the speed work. Targets: under 10 s idle, under 20 s beside a busy
neighbour. On a shared machine the absolute figures move with the load; the busy/idle
ratio in the same run is the robust one.
"""

from __future__ import annotations

import argparse
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


def run_quickstart(folder: Path) -> float:
    """Seconds of one quickstart run writing to a new folder under ``folder``."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "quickstart"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *COMMAND, "--out", str(out)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the quickstart command failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--neighbours", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quickstart_") as folder:
        first = run_quickstart(Path(folder))
        print(f"first run (compiles or loads the kernels): {first:.1f} s", flush=True)
        seconds = {"idle": [], "busy": []}
        for _ in range(args.repeats):  # interleaved, so that a load change hits both
            seconds["idle"].append(run_quickstart(Path(folder)))
            with busy_neighbour(args.neighbours):
                seconds["busy"].append(run_quickstart(Path(folder)))
    for load, values in seconds.items():
        median = statistics.median(values)
        print(f"{load:<5} median {median:5.1f} s over {len(values)} runs "
              f"({', '.join(f'{v:.1f}' for v in values)}); the issue's {BEFORE[load]} s "
              f"-> {median / BEFORE[load]:.2f}x; target < {TARGETS[load]:g} s: "
              f"{'meets' if median < TARGETS[load] else 'MISSES'}")
    ratio = statistics.median(seconds["busy"]) / statistics.median(seconds["idle"])
    print(f"busy / idle: {ratio:.2f}x (the issue's {BEFORE['busy'] / BEFORE['idle']:.2f}x)")


if __name__ == "__main__":
    main()
