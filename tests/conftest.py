"""Shared test set-up: one torch thread (tests of small models stay fast and their timings do
not depend on the core count), the tiny world most end-to-end tests run, and the `drnsim`
command run in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

#: A world small enough for a compare run of about a second.
TINY_WORLD = {"n_users": 300, "n_candidates": 20, "slate_size": 5, "news_per_hour": 40.0}
#: The same world and a short pre-period as a config file's text.
TINY_YAML = ("world: {n_users: 300, n_candidates: 20, slate_size: 5, news_per_hour: 40.0}\n"
             "run: {log_days: 0.05, batch_size: 32}\n")

_SCRIPT = Path(sys.executable).with_name("drnsim")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "drnsim"]


def run_drnsim(*args: str | Path, check: bool = True,
               **kwargs) -> subprocess.CompletedProcess:
    """Run the console script in a fresh process (`python -m drnsim` where not installed),
    one thread for torch and numba; ``check`` asserts exit code 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           **kwargs.pop("env", {})}
    result = subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True,
                            env=env, timeout=900, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def drnsim_cli() -> Callable[..., subprocess.CompletedProcess]:
    """`run_drnsim`: the drnsim command in a fresh process."""
    return run_drnsim


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A config file with the tiny world and a short pre-period."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML)
    return path
