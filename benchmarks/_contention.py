"""A busy neighbour for the speed benchmarks: a separate process that keeps one core busy
(as a second simulation, an RL library's trainer or another user of a shared machine
would), started and stopped by the benchmark itself."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_SPIN = "import time\nwhile True:\n    sum(i * i for i in range(10_000))\n    time.sleep(0)\n"


@contextmanager
def busy_neighbour(processes: int = 1) -> Iterator[None]:
    """Within the block ``processes`` Python processes each spin on one core."""
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them start spinning
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            spinner.wait(timeout=10)
