"""The threading layer of the simulator's kernels (`drnsim._parallel`): thread settings,
the serial/parallel choice, fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from drnsim import _parallel
from drnsim.envs import NewsFeedVectorEnv


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("NUMBA_NUM_THREADS", "DRNSIM_THREADS", "NUMBA_THREADING_LAYER")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**environment, **env}, timeout=240)


def test_async_vector_env_runs_after_the_parent_stepped_an_env():
    """Gymnasium's async vector env forks its workers; a parent whose kernels already ran
    in parallel (GNU OpenMP would kill the children) still gets working workers."""
    run = _python("""
        import gymnasium as gym, numpy as np, drnsim
        from numba.np.ufunc import parallel
        from drnsim import _parallel
        from drnsim.envs import NewsFeedVectorEnv
        env = NewsFeedVectorEnv(64, n_users=1000)
        env.reset(seed=0)
        with _parallel.force_variant("parallel"):
            for _ in range(3):
                env.step(env.action_space.sample())
        assert parallel._is_initialized  # the parent's thread pool is running
        vec = gym.make_vec(drnsim.ENV_ID, num_envs=4, vectorization_mode="async",
                           n_users=300)
        vec.reset(seed=1)
        total = 0.0
        for _ in range(30):
            total += vec.step(vec.action_space.sample())[1].sum()
        vec.close()
        print("workers ok", total > 0)
    """, DRNSIM_THREADS="2")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "workers ok True" in run.stdout


def test_drnsim_threads_sets_the_kernels_threads_and_numbas_pool():
    run = _python("""
        import drnsim, numba  # drnsim first: it sizes numba's pool
        from drnsim import _parallel
        print(_parallel.get_threads(), numba.config.NUMBA_NUM_THREADS, _parallel.LAYER)
    """, DRNSIM_THREADS="1")
    assert run.returncode == 0, run.stderr[-2000:]
    threads, pool, layer = run.stdout.split()
    assert (threads, pool) == ("1", "1")
    assert layer in ("tbb", "workqueue")  # never GNU OpenMP unless asked for


@pytest.mark.parametrize("variable", ["DRNSIM_THREADS", "DRNSIM_TORCH_THREADS"])
@pytest.mark.parametrize("value", ["0", "two", "-3", "1.5"])
def test_bad_thread_count_variable_is_named(variable: str, value: str):
    run = _python("import drnsim", **{variable: value})
    assert run.returncode != 0
    assert f"{variable} must be an integer >= 1, got {value!r}" in run.stderr


@pytest.mark.parametrize("setter", [_parallel.set_threads, _parallel.set_torch_threads])
@pytest.mark.parametrize("value", [0, 2.0, "2", True])
def test_thread_setters_reject_non_counts(setter, value):
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        setter(value)


def test_torch_runs_on_drnsims_torch_threads_inside_the_loop_and_training_only():
    """`play` and `fit` switch torch to get_torch_threads() and restore the caller's count
    after (also when they raise)."""
    import torch

    from drnsim.loop import play

    seen = []

    class Spy:
        def act(self, obs):
            seen.append(torch.get_num_threads())
            raise RuntimeError("stop")

    previous = torch.get_num_threads()
    _parallel.set_torch_threads(3)
    try:
        torch.set_num_threads(2)
        env = NewsFeedVectorEnv(16, n_users=200)
        obs, _ = env.reset(seed=0)
        with pytest.raises(RuntimeError, match="stop"):
            play(env, Spy(), obs, days=0.1)
        assert seen == [3]
        assert torch.get_num_threads() == 2
    finally:
        _parallel.set_torch_threads(1)
        torch.set_num_threads(previous)


def test_set_threads_above_numbas_pool_names_the_limit():
    pool = _parallel.info()["pool"]
    with pytest.raises(ValueError, match=f"allowed: 1..{pool}"):
        _parallel.set_threads(pool + 1)


def test_force_variant_names_the_allowed_values():
    with pytest.raises(ValueError, match="'serial' or 'parallel'"), \
            _parallel.force_variant("fast"):
        pass


def test_the_faster_variant_is_chosen_and_the_slower_retried_ever_less_often():
    """The per-call choice (`_Timing`): both variants are timed once warm, the faster runs,
    the slower is tried again after 8 calls, then 16, 32, ... while it keeps losing, and
    takes over as soon as a try (or the running mean of the other) says it is faster."""
    timing = _parallel._Timing()
    cost = {0: 1.0, 1: 2.0}  # seconds per visit: serial is faster

    def call() -> int:
        variant = timing.choose()
        probed = timing.calls >= timing.probe_at and timing.cost[variant] is not None
        timing.record(variant, cost[variant], probed)
        return variant

    assert [call(), call()] == [0, 1]  # each variant timed once
    picks = [call() for _ in range(200)]
    tries = [i for i, v in enumerate(picks) if v == 1]
    gaps = [b - a for a, b in zip(tries, tries[1:], strict=False)]
    assert gaps[:3] == [16, 32, 64]  # backing off while the parallel variant loses
    cost[1] = 0.5  # the neighbour left: parallel is now faster
    picks = [call() for _ in range(300)]
    assert picks[-250:].count(0) <= 5  # serial only in its ever rarer tries
    cost[1] = 3.0  # a neighbour arrived: the running mean of parallel rises, serial is back
    picks = [call() for _ in range(20)]
    assert picks[-10:] == [0] * 10


@pytest.mark.parametrize("click_model", ["position", "cascade"])
def test_same_seed_same_numbers_serial_and_on_two_threads(click_model: str):
    """The kernels' serial and parallel variants give bit-identical episodes on a pool of
    two threads (the dev setting NUMBA_NUM_THREADS=1 cannot show a split of the visits)."""
    run = _python(f"""
        import numpy as np
        from drnsim import _parallel
        from drnsim.envs import NewsFeedVectorEnv
        assert _parallel.get_threads() == 2

        def rollout(variant):
            env = NewsFeedVectorEnv(96, n_users=800, episode_days=2.0,
                                    click_model={click_model!r})
            actions = np.random.default_rng(0).uniform(-1, 1, (50, 96, 100))
            with _parallel.force_variant(variant):
                out = [env.reset(seed=5)[0]]
                for a in actions:
                    obs, reward, *_ = env.step(a.astype(np.float32))
                    out += [obs, reward]
            world = env.world
            return out + [world.users.interest, world.users.engagement,
                          world.news.table.clicks]

        def leaves(x):
            if isinstance(x, dict):
                return [leaf for key in sorted(x) for leaf in leaves(x[key])]
            return [np.asarray(x)]

        serial = [leaf for x in rollout("serial") for leaf in leaves(x)]
        parallel = [leaf for x in rollout("parallel") for leaf in leaves(x)]
        same = all(a.dtype == b.dtype and a.tobytes() == b.tobytes()
                   for a, b in zip(serial, parallel, strict=True))
        print("identical", same, len(serial))
    """, DRNSIM_THREADS="2")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "identical True" in run.stdout
