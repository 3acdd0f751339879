"""Results on disk: atomic writes, the Experiment's YAML, resume after a crash."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
import yaml

from drnsim.config import WorldConfig
from drnsim.loop import COLUMNS
from drnsim.results import (
    OUTPUTS,
    Experiment,
    atomic_path,
    load_metrics,
    prepare_folder,
    run_experiment,
    write_csv,
)

EXPERIMENT = Experiment(agents={"random": {}, "linucb": {"alpha": 0.5}, "drn": {}},
                        world=WorldConfig(n_users=300), seeds=[0, 1], days=0.1,
                        baseline="random", device="cpu")


def test_atomic_write_leaves_no_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "summary.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("agent,metric\nrandom,")  # half a file under a temporary name
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_the_old_file_only_when_complete(tmp_path):
    target = write_csv(tmp_path / "metrics.csv", pd.DataFrame({"a": [1]}))
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert target.read_text() == "a\n1\n"
    write_csv(target, pd.DataFrame({"a": [2]}))
    assert target.read_text() == "a\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]
    mode = stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's 0600


def test_experiment_round_trips_through_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(EXPERIMENT.to_yaml())
    data = yaml.safe_load(path.read_text())
    assert set(data) == {"world", "agents", "run", "versions"}
    assert data["versions"]["drnsim"] and data["versions"]["torch"]
    assert Experiment.from_yaml(path) == EXPERIMENT


def test_experiment_agents_may_be_a_list():
    experiment = Experiment.from_dict({"agents": ["random", "drn"], "run": {"days": 2}})
    assert experiment.agents == {"random": {}, "drn": {}} and experiment.days == 2


@pytest.mark.parametrize("text, expected", [
    ("world: {n_users: 10\n", "malformed YAML"),
    ("world:\n\tn_users: 1\n", "line 2"),
    ("wrld: {n_users: 10}\n", "unknown key(s) ['wrld']"),
    ("world: {n_user: 10}\n", "n_user"),
    ("world: {n_users: -5}\n", "n_users must be an integer >= 1"),
    ("run: {days: 0}\n", "days must be a finite number > 0"),
    ("run: {seeds: 3}\n", "seeds must be a non-empty list"),
    ("run: {dayz: 1}\n", "section 'run'"),
    ("run: {device: tpu}\n", "device must be one of"),
    ("agents: {random: 3}\n", "section 'agents'"),
    ("- just\n- a list\n", "must be a YAML mapping"),
])
def test_bad_configs_raise_value_errors_naming_the_problem(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        Experiment.from_yaml(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_run_keys_change_with_every_setting_that_shapes_a_run():
    keys = {EXPERIMENT.run_key("linucb", 0)}
    for change in (dict(days=0.2), dict(world=WorldConfig(n_users=301)), dict(log_days=0.5),
                   dict(agents={**EXPERIMENT.agents, "linucb": {"alpha": 0.6}}),
                   dict(device="cuda")):
        keys.add(Experiment(**{**EXPERIMENT.__dict__, **change}).run_key("linucb", 0))
    keys.add(EXPERIMENT.run_key("linucb", 1))
    assert len(keys) == 7
    assert EXPERIMENT.run_key("linucb", 0) == Experiment.from_dict(
        yaml.safe_load(EXPERIMENT.to_yaml())).run_key("linucb", 0)


def fake_frame(agent: str, seed: int) -> pd.DataFrame:
    """A deterministic tidy frame shaped like `compare`'s (no simulation)."""
    rng = np.random.default_rng([seed, len(agent)])
    rows = [(agent, seed, float(t), metric, value)
            for t in (1, 2, 3)
            for metric, value in (("visits", 50.0), ("ctr", rng.uniform(0, 0.2)),
                                  ("reward", rng.uniform(0, 1)))]
    return pd.DataFrame(rows, columns=COLUMNS)


class FakeRunner:
    """Stands in for `compare`; can crash after some calls (a kill)."""

    def __init__(self, crash_after: int | None = None):
        self.calls: list[tuple[list[str], list[int]]] = []
        self.crash_after = crash_after

    def __call__(self, agents: list[str], seeds: list[int]) -> pd.DataFrame:
        if self.crash_after is not None and len(self.calls) == self.crash_after:
            raise KeyboardInterrupt
        self.calls.append((agents, seeds))
        return pd.concat([fake_frame(a, s) for s in seeds for a in agents], ignore_index=True)


def test_a_crashed_run_leaves_no_summary_and_a_rerun_completes_it(tmp_path):
    crashing = FakeRunner(crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(EXPERIMENT, tmp_path / "out", crashing, progress=False)
    assert (tmp_path / "out" / "config.yaml").exists()
    assert not any((tmp_path / "out" / name).exists() for name in OUTPUTS)
    assert len(list((tmp_path / "out" / "runs").glob("*.parquet"))) == 2

    resumed, messages = FakeRunner(), []
    frame = run_experiment(EXPERIMENT, tmp_path / "out", resumed, progress=False,
                           echo=messages.append)
    assert len(resumed.calls) == 4 and "reusing 2 finished run(s)" in messages[0]
    fresh = run_experiment(EXPERIMENT, tmp_path / "fresh", FakeRunner(), progress=False)
    pd.testing.assert_frame_equal(frame, fresh)
    assert ((tmp_path / "out" / "metrics.csv").read_bytes()
            == (tmp_path / "fresh" / "metrics.csv").read_bytes())
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(summary["agent"]) == set(EXPERIMENT.agents)
    assert {"mean", "low", "high", "lift", "lift_low", "lift_high"} <= set(summary.columns)
    for name in ("reward.png", "ctr.png", "summary.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pd.testing.assert_frame_equal(load_metrics(tmp_path / "out"), frame, check_dtype=False)


def test_a_parallel_backend_gets_the_missing_runs_in_few_calls(tmp_path):
    runner = FakeRunner()
    run_experiment(EXPERIMENT, tmp_path, runner, batched=True, progress=False)
    assert runner.calls == [(["random", "linucb", "drn"], [0, 1])]
    for path in (tmp_path / "runs").glob("drn-seed1-*"):
        path.unlink()
    for path in (tmp_path / "runs").glob("linucb-seed1-*"):
        path.unlink()
    again = FakeRunner()
    run_experiment(EXPERIMENT, tmp_path, again, batched=True, progress=False)
    assert again.calls == [(["linucb", "drn"], [1])]


def test_changed_settings_do_not_reuse_runs_and_stale_outputs_go(tmp_path):
    run_experiment(EXPERIMENT, tmp_path, FakeRunner(), progress=False)
    (tmp_path / ".summary.csv.abcd1234.tmp").write_text("left by a kill")
    (tmp_path / ".my-notes.abcd1234.tmp").write_text("the user's")
    prepare_folder(tmp_path, EXPERIMENT)  # the same experiment: its outputs stay
    assert (tmp_path / "summary.csv").exists()
    assert not (tmp_path / ".summary.csv.abcd1234.tmp").exists()
    assert (tmp_path / ".my-notes.abcd1234.tmp").read_text() == "the user's"
    changed = Experiment(**{**EXPERIMENT.__dict__, "days": 0.2})
    prepare_folder(tmp_path, changed)  # another experiment: drnsim's outputs of the old go
    assert not any((tmp_path / name).exists() for name in OUTPUTS)
    runner = FakeRunner()
    run_experiment(changed, tmp_path, runner, progress=False)
    assert len(runner.calls) == 6


def test_load_metrics_of_an_empty_folder_names_it(tmp_path):
    with pytest.raises(ValueError, match="no metrics.csv"):
        load_metrics(tmp_path)
