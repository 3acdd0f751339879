"""What the benchmark scripts share: one (agent, seed) run of `drnsim.loop.compare` in a
worker process, cached as a CSV so that a killed benchmark resumes, and a process pool over
many such runs.

Each worker is single-threaded (torch and the simulator's numba kernels): the pool puts one
process on each core, and idle OpenMP threads of several processes would spin on the same
cores. The environment variable is set before numba is imported by the worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from drnsim.results import write_csv  # noqa: E402


def run_cached(path: Path, agent: str, seed: int, **compare_kwargs: Any) -> Path:
    """`compare([agent], seeds=[seed], **compare_kwargs)` written to ``path`` (a CSV, written
    atomically); skipped when ``path`` exists."""
    if path.exists():
        return path
    import torch

    from drnsim.loop import compare

    torch.set_num_threads(1)
    start = time.time()
    frame = compare([agent], seeds=[seed], progress=False, **compare_kwargs)
    write_csv(path, frame)
    print(f"  {agent:<24s} seed {seed}  {time.time() - start:7.1f} s  -> {path.name}",
          flush=True)
    return path


def run_all(tasks: Iterable[tuple[Path, str, int, dict[str, Any]]], jobs: int | None
            ) -> pd.DataFrame:
    """Run every (path, agent, seed, compare keywords) task with `run_cached` on ``jobs``
    processes (in the given order) and stack their frames."""
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count()) as pool:
        futures = [pool.submit(run_cached, path, agent, seed, **kwargs)
                   for path, agent, seed, kwargs in tasks]
        paths = [future.result() for future in futures]
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
