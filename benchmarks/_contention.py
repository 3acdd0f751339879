"""A busy neighbour for the speed benchmarks: a separate process that keeps one core busy
(as a second simulation, an RL library's trainer or another user of a shared machine
would), started and stopped by the benchmark itself.

The neighbour runs in its own session, as another terminal's job or another user's process
does. That matters on Linux: with ``kernel.sched_autogroup_enabled`` (the default) each
session is one scheduling group with a fair share of the CPU, so on 2 cores a neighbour in
another session keeps a whole core and the benchmark's threads share the other one. Measured
on 2026-12-01 (2 cores): torch with 2 GNU OpenMP threads ran 3x slower than with one beside
a neighbour in the same session and 55x slower beside one in its own session. The neighbour
never yields (an earlier one called ``time.sleep(0)`` in its loop, which a simulation or a
trainer does not, and measured 2-thread torch 1.7x slower only)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_SPIN = "while True:\n    sum(i * i for i in range(10_000))\n"  # never yields, as a simulation


@contextmanager
def busy_neighbour(processes: int = 1) -> Iterator[None]:
    """Within the block ``processes`` Python processes each spin on one core."""
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN], start_new_session=True)
                for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them start spinning
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            spinner.wait(timeout=10)
