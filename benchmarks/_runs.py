"""What the benchmark scripts share: one (agent, seed) run of `drnsim.loop.compare` in a
worker process, cached as a CSV so that a killed benchmark resumes, and a process pool over
many such runs. The runs of a seed share its pre-period (`shared_pre_period`), and the
``static:<model>`` and ``online:<model>`` runs of a seed share their warm-start fit (the
same fit: `drnsim.models.fit_cache`).

Each worker is single-threaded (torch and the simulator's numba kernels): the pool puts one
process on each core, and idle OpenMP threads of several processes would spin on the same
cores. The environment variable is set before numba is imported by the worker.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from drnsim.results import atomic_path, write_csv  # noqa: E402


def run_cached(path: Path, agent: str, seed: int, **compare_kwargs: Any) -> Path:
    """`compare([agent], seeds=[seed], **compare_kwargs)` written to ``path`` (a CSV, written
    atomically); skipped when ``path`` exists. The seed's pre-period is read from the
    pickle `shared_pre_period` left next to ``path`` (the same world and logs `compare`
    would build: the frame is the same), so that the agents of a seed share one."""
    if path.exists():
        return path
    import torch

    from drnsim.loop import run_one

    torch.set_num_threads(1)
    start = time.time()
    pre, settings = shared_pre_period(path.parent, seed, compare_kwargs)
    frame = run_one(_with_fit_cache(agent, path.parent / FITS), pre, progress=False,
                    **settings)
    write_csv(path, frame)
    print(f"  {agent:<24s} seed {seed}  {time.time() - start:7.1f} s  -> {path.name}",
          flush=True)
    return path


FITS = "fits"  # the folder of shared warm-start fits, next to the runs' CSVs


def _with_fit_cache(agent: str, folder: Path) -> Any:
    """A model agent (``static:<model>``, ``online:<model>``) built with ``fit_cache=folder``;
    any other agent name as it is."""
    from drnsim.agents import make_agent

    mode, _, model = agent.partition(":")
    return make_agent(agent, fit_cache=folder) if mode in ("static", "online") and model \
        else agent


def _pre_period_path(folder: Path, seed: int, compare_kwargs: dict[str, Any]) -> Path:
    key = hashlib.sha1(repr(sorted(compare_kwargs.items())).encode()).hexdigest()[:10]
    return folder / "pre_periods" / f"seed{seed}_{key}.pkl"


def shared_pre_period(folder: Path, seed: int, compare_kwargs: dict[str, Any]
                      ) -> tuple[Any, dict[str, Any]]:
    """The pre-period `compare` runs for ``seed`` with ``compare_kwargs`` (built and pickled
    under ``folder``/pre_periods on first use), and the keywords of `run_one` for it."""
    import inspect

    from drnsim.loop import check_compare, compare, pre_period

    call = inspect.signature(compare).bind(["random"], seeds=[seed], **compare_kwargs)
    call.apply_defaults()
    args = call.arguments
    _, _, _, cfg = check_compare(**args)
    settings = {key: args[key] for key in ("days", "bucket_hours", "with_regret")}
    path = _pre_period_path(folder, seed, compare_kwargs)
    if path.exists():
        with path.open("rb") as file:
            return pickle.load(file), settings
    pre = pre_period(cfg, seed, args["log_days"], args["logging_policy"], args["log_epsilon"],
                     args["batch_size"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        pickle.dump(pre, file, protocol=pickle.HIGHEST_PROTOCOL)
    return pre, settings


def run_all(tasks: Iterable[tuple[Path, str, int, dict[str, Any]]], jobs: int | None
            ) -> pd.DataFrame:
    """Run every (path, agent, seed, compare keywords) task with `run_cached` on ``jobs``
    processes (in the given order) and stack their frames. The pre-periods the unfinished
    tasks need are built first, one per (folder, seed, keywords), in the same pool; the
    shared fits are deleted at the end, with the pre-periods."""
    tasks = list(tasks)
    todo = {}
    for path, _, seed, kwargs in tasks:
        if not path.exists():
            todo.setdefault(_pre_period_path(path.parent, seed, kwargs),
                            (path.parent, seed, kwargs))
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count()) as pool:
        for future in [pool.submit(shared_pre_period, *job) for job in todo.values()]:
            future.result()
        futures = [pool.submit(run_cached, path, agent, seed, **kwargs)
                   for path, agent, seed, kwargs in tasks]
        paths = [future.result() for future in futures]
    for pre in todo:  # large (the world and its logs); the runs' CSVs are what is kept
        pre.unlink(missing_ok=True)
    for folder in {path.parent / FITS for path, *_ in tasks}:  # likewise the fitted models
        shutil.rmtree(folder, ignore_errors=True)
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
