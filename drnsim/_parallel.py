"""How the simulator's compiled kernels use threads (docs/design.md section 2, "Speed and
memory"): a default that never loses much to one thread, on an idle or a busy machine.

* **Thread count.** ``DRNSIM_THREADS`` (environment) or `set_threads(n)`; default: every
  core numba sees (``NUMBA_NUM_THREADS``). Read when drnsim is imported: ``DRNSIM_THREADS=1``
  set before numba loads also keeps numba from starting any worker thread.
* **Threading layer.** Unless ``NUMBA_THREADING_LAYER`` says otherwise, numba's layer is
  TBB (the ``tbb`` wheel from PyPI, loaded from the environment's ``lib`` folder) and
  otherwise numba's own workqueue; never GNU OpenMP, whose threads wait for each other at
  the end of every parallel region: beside one busy process the issue measured the single
  env 3x and several busy processes 80x slower than one thread. TBB is fork- and
  thread-safe and work-stealing: the calling thread works too and takes over chunks that a
  descheduled thread has not started. Workqueue is fork-safe; it is not thread-safe, so a
  parallel launch from a second Python thread runs the serial variant instead.
* **torch.** Inside drnsim's loop (`loop.play`) and model training (`models.training.fit`)
  torch's intra-op threads are ``DRNSIM_TORCH_THREADS`` or `set_torch_threads(n)`, default
  1, restored on the way out (`torch_threads`). The CPU wheel's pool is GNU OpenMP: beside
  a busy process its threads spin at every op's barrier for a descheduled one:
  ``benchmarks/torch_threads.py`` (2026-12-01, 2 cores, a neighbour in its own session) ran
  DRN 43x and static:lr 13x slower on 2 threads than on 1, while idle the second thread
  gained 1.31x (DRN) and 1.04x (static:lr). One thread also gives the same numbers on any
  machine (torch's sums depend on the thread count). drnsim scales out by processes, one
  run per core (`compare --ray`, the benchmarks' pools).
* **Serial or parallel, per call.** Every kernel is compiled twice (`dual`): serial and
  with ``prange``. A call runs serial when one thread is allowed, the batch has fewer than
  `MIN_PARALLEL_VISITS` visits (a parallel region costs tens of microseconds), the process
  is a fork child of a GNU OpenMP user, or another thread is inside a parallel launch.
  Otherwise a running mean of the seconds per visit of each variant picks the faster one,
  and the other is tried again after 8, 16, ... 256 calls (so a neighbour that starts or
  stops competing for the cores is noticed). Both variants compute the same numbers (every
  visit writes only its own rows; `tests/test_env.py`), so the choice changes speed only.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MIN_PARALLEL_VISITS = 64
"""Below this many visits a call always runs serial."""
CHUNKS_PER_THREAD = 8
"""Work items per thread of a parallel call (TBB hands them out dynamically)."""
_PROBE_FIRST, _PROBE_MAX = 8, 256  # calls between tries of the slower variant
_SMOOTHING = 0.25  # weight of a new timing in the running mean


def _count_from_environment(name: str) -> int | None:
    """The thread count in environment variable ``name`` (None when unset or empty);
    ValueError naming the variable for anything but an integer >= 1."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return threads


_REQUESTED = _count_from_environment("DRNSIM_THREADS")
if _REQUESTED is not None and "numba" not in sys.modules:
    # numba sizes its thread pool from NUMBA_NUM_THREADS when it is imported
    os.environ.setdefault("NUMBA_NUM_THREADS", str(_REQUESTED))

import numba  # noqa: E402
from numba.np.ufunc import parallel as _numba_parallel  # noqa: E402

_TBB_LIBRARY = {"win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}.get(sys.platform,
                                                                      "libtbb.so.12")


def _load_tbb() -> bool:
    """Whether numba's TBB layer can load; the pip wheel of ``tbb`` puts the library in the
    environment's ``lib`` folder, which the dynamic loader does not search, so it is loaded
    from there first (by full path; numba then finds it by name)."""
    for folder in (Path(sys.prefix) / "lib", Path(sys.prefix) / "Library" / "bin",
                   Path(sys.base_prefix) / "lib"):
        candidate = folder / _TBB_LIBRARY
        if candidate.exists():
            try:
                ctypes.CDLL(str(candidate), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError:
                continue
            break
    try:
        _numba_parallel._check_tbb_version_compatible()
        from numba.np.ufunc import tbbpool  # noqa: F401
    except ImportError:
        return False
    return True


def _choose_layer() -> str:
    """Set numba's threading layer before its first parallel launch (see the module
    docstring); returns the layer that will be (or already is) used."""
    if _numba_parallel._is_initialized:
        return numba.threading_layer()
    if "NUMBA_THREADING_LAYER" in os.environ:
        return str(numba.config.THREADING_LAYER)
    numba.config.THREADING_LAYER = "tbb" if _load_tbb() else "workqueue"
    return numba.config.THREADING_LAYER


LAYER = _choose_layer()
_POOL = int(numba.config.NUMBA_NUM_THREADS)


def _check_count(threads: Any, source: str) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{source} must be an integer >= 1, got {threads!r}")
    return threads


def _check_threads(threads: Any, source: str) -> int:
    """`_check_count`, at most numba's pool."""
    _check_count(threads, source)
    if threads > _POOL:
        raise ValueError(f"{source}={threads} exceeds the {_POOL} threads numba was started "
                         f"with (NUMBA_NUM_THREADS); allowed: 1..{_POOL}. Set DRNSIM_THREADS "
                         "before drnsim (and numba) are imported to start more")
    return threads


_threads = _check_threads(_REQUESTED, "DRNSIM_THREADS") if _REQUESTED is not None else _POOL


_torch_threads = _count_from_environment("DRNSIM_TORCH_THREADS") or 1
_forced: int | None = None  # force_variant: 0 serial, 1 parallel, None: choose
_launch = threading.Lock()  # one parallel launch at a time (workqueue is not thread-safe)
_parent_pid = os.getpid()


def set_threads(threads: int) -> None:
    """Threads of the simulator's kernels from now on (1 = always serial); at most the
    ``NUMBA_NUM_THREADS`` numba was started with."""
    global _threads
    _threads = _check_threads(threads, "threads")


def get_threads() -> int:
    """Threads the simulator's kernels may use (`set_threads`, ``DRNSIM_THREADS``)."""
    return _threads


def set_torch_threads(threads: int) -> None:
    """torch's intra-op threads inside drnsim's loop and training from now on (`torch_threads`;
    default 1, or ``DRNSIM_TORCH_THREADS``)."""
    global _torch_threads
    _torch_threads = _check_count(threads, "threads")


def get_torch_threads() -> int:
    """torch's intra-op threads inside drnsim's loop and training (`set_torch_threads`)."""
    return _torch_threads


@contextmanager
def torch_threads() -> Iterator[None]:
    """Within the block torch (when it is imported) runs on `get_torch_threads()` intra-op
    threads; the caller's setting is restored after it (module docstring: why one)."""
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    if previous is not None and previous != _torch_threads:
        torch.set_num_threads(_torch_threads)
    try:
        yield
    finally:
        if previous is not None and torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextmanager
def force_variant(variant: str) -> Iterator[None]:
    """Within the block every dual kernel runs its ``"serial"`` or ``"parallel"`` variant,
    whatever the batch size (tests compare the two; benchmarks time them)."""
    global _forced
    if variant not in ("serial", "parallel"):
        raise ValueError(f"variant must be 'serial' or 'parallel', got {variant!r}")
    previous, _forced = _forced, int(variant == "parallel")
    try:
        yield
    finally:
        _forced = previous


def _parallel_allowed() -> bool:
    if _threads == 1:
        return False
    # GNU OpenMP cannot run a parallel region in a child forked after the parent used it
    return not (os.getpid() != _parent_pid and _numba_parallel._is_initialized
                and numba.threading_layer() == "omp")


class _Timing:
    """Running means of seconds per visit of the two variants, for one kernel and one size
    class of calls, and when to try the slower one again."""

    __slots__ = ("cost", "calls", "probe_at", "gap")

    def __init__(self) -> None:
        self.cost: list[float | None] = [None, None]  # serial, parallel
        self.calls = 0
        self.probe_at = _PROBE_FIRST
        self.gap = _PROBE_FIRST

    def choose(self) -> int:
        serial, parallel = self.cost
        if serial is None:
            return 0
        if parallel is None:
            return 1
        best = int(parallel < serial)
        self.calls += 1
        if self.calls >= self.probe_at:
            return 1 - best
        return best

    def record(self, variant: int, seconds_per_visit: float, probed: bool) -> None:
        old = self.cost[variant]
        other = self.cost[1 - variant]
        if probed:  # a try of the slower variant: its old mean is stale
            self.cost[variant] = seconds_per_visit
            won = other is not None and seconds_per_visit < other
            self.gap = _PROBE_FIRST if won else min(2 * self.gap, _PROBE_MAX)
            self.probe_at = self.calls + self.gap
        else:
            self.cost[variant] = (seconds_per_visit if old is None
                                  else old + _SMOOTHING * (seconds_per_visit - old))


class DualKernel:
    """A kernel compiled serial and parallel; calling it picks one (module docstring). The
    kernel's last parameter is the number of chunks its visits are split in, which the
    call supplies: 1 for the serial variant, a few per thread for the parallel one; its
    first argument has one row per visit."""

    def __init__(self, func: Callable[..., Any]):
        self.__name__, self.__doc__ = func.__name__, func.__doc__
        self.serial = numba.njit(cache=True)(_twin(func, "_serial"))
        self.parallel = numba.njit(cache=True, parallel=True)(_twin(func, "_parallel"))
        self._warm = [False, False]  # first calls compile or load from the cache: untimed
        self._timings: dict[int, _Timing] = {}

    def __call__(self, *args: Any) -> Any:
        visits = len(args[0])
        if _forced is not None:
            return self.serial(*args, 1) if _forced == 0 else self._run_parallel(args, visits)
        if visits < MIN_PARALLEL_VISITS or not _parallel_allowed():
            return self.serial(*args, 1)
        timing = self._timings.setdefault(visits.bit_length(), _Timing())
        variant = timing.choose()
        if variant == 1 and not _launch.acquire(blocking=False):
            return self.serial(*args, 1)  # another thread is inside a parallel launch
        probed = timing.calls >= timing.probe_at
        start = time.perf_counter()
        try:
            result = (self.serial(*args, 1) if variant == 0
                      else self._run_parallel(args, visits))
        finally:
            if variant == 1:
                _launch.release()
        if self._warm[variant]:
            timing.record(variant, (time.perf_counter() - start) / visits, probed)
        self._warm[variant] = True
        return result

    def _run_parallel(self, args: tuple, visits: int) -> Any:
        if numba.get_num_threads() != _threads:  # thread-local in numba
            numba.set_num_threads(_threads)
        previous = numba.set_parallel_chunksize(1)  # each chunk a work item: dynamic
        try:
            return self.parallel(*args, max(min(visits, CHUNKS_PER_THREAD * _threads), 1))
        finally:
            numba.set_parallel_chunksize(previous)

    def choices(self) -> dict[int, str]:
        """The variant each size class of calls (visits up to 2^k - 1) uses now."""
        return {2 ** k - 1: ("parallel" if t.cost[1] is not None and t.cost[0] is not None
                             and t.cost[1] < t.cost[0] else "serial")
                for k, t in sorted(self._timings.items())}


def dual(func: Callable[..., Any]) -> DualKernel:
    """Compile ``func`` (a loop over ``prange(n_chunks)``) serial and parallel."""
    return DualKernel(func)


def _twin(func: Callable[..., Any], suffix: str) -> Callable[..., Any]:
    """A copy of ``func`` under another qualified name: numba's disk cache keys compiled
    code by name and signature, not by the parallel flag, so the two variants need two
    names."""
    clone = types.FunctionType(func.__code__, func.__globals__, func.__name__ + suffix,
                               func.__defaults__, func.__closure__)
    clone.__qualname__ = func.__qualname__ + suffix
    clone.__module__ = func.__module__
    clone.__doc__ = func.__doc__
    return clone


def info() -> dict[str, Any]:
    """The threading settings in use: layer, threads, and each dual kernel's current
    variant per size class (for benchmarks and bug reports)."""
    from drnsim import _kernels

    kernels = {name: k.choices() for name, k in vars(_kernels).items()
               if isinstance(k, DualKernel)}
    layer = numba.threading_layer() if _numba_parallel._is_initialized else LAYER
    return {"layer": layer, "threads": _threads, "pool": _POOL, "torch_threads": _torch_threads,
            "kernels": kernels}


__all__ = ["CHUNKS_PER_THREAD", "DualKernel", "LAYER", "MIN_PARALLEL_VISITS", "dual",
           "force_variant", "get_threads", "get_torch_threads", "info", "set_threads",
           "set_torch_threads", "torch_threads"]
