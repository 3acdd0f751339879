"""Bad input at every public entry point: a clear error that names the argument, before any
simulation; the CLI as one ``error: ...`` line and exit code 2, never a traceback. Also what
must never happen to a user's files (results folders), the run cache's trust rules, the
imports a config file may trigger, and the memory estimate that bounds sizes.

Most CLI cases run in-process through `drnsim.cli.main` (the console script's entry point);
a few run the installed command in a subprocess, end to end."""

from __future__ import annotations

import errno
import math
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import COMMAND, TINY_WORLD, TINY_YAML, run_drnsim

from drnsim._validate import InvalidTypeError
from drnsim._yaml import MAX_BYTES, load_yaml
from drnsim.agents import make_agent
from drnsim.calibrate import calibrate, fidelity
from drnsim.cli import main
from drnsim.config import HOUR, WorldConfig
from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv
from drnsim.features import FeatureSpec, build_batch
from drnsim.logs import check_logs, collect_logs, load_logs, save_logs
from drnsim.loop import check_compare, compare, run_episode
from drnsim.metrics import COLUMNS, summarize
from drnsim.models import make_model
from drnsim.models.training import fit
from drnsim.results import (
    MANIFEST,
    Experiment,
    ResultsFolder,
    RunCache,
    code_digest,
    run_experiment,
)
from drnsim.world import World

AGENT_SOURCE = ("class {name}:\n"
                "    name = '{label}'\n"
                "    def act(self, obs):\n"
                "        return {scores}\n"
                "    def observe(self, obs, action, reward, info):\n"
                "        pass\n"
                "    def update(self, sim_time):\n"
                "        pass\n")


# ---------------------------------------------------------------------------------------
# Helpers
def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `drnsim ARGS` in this process; (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as ended:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return ended.value.code, out, err


def assert_one_line(code: int, err: str, *names: str) -> str:
    """Exit 2, exactly one line on stderr, starting with 'error: ', naming ``names``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def write_module(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh cwd and a sys.path restored afterwards (the CLI may append the cwd)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("DRNSIM_MAX_MEMORY", "16G")  # the same bound on every machine
    return tmp_path


# ---------------------------------------------------------------------------------------
# CLI: options
@pytest.mark.parametrize("args, names", [
    (["--seeds", "-1"], ["seeds", "-1", "2**63"]),
    (["--seeds", str(2**63)], ["seeds", str(2**63), "2**63"]),
    (["--seeds", "0.5"], ["--seeds", "0.5"]),
    (["--seeds", "0,0"], ["seeds", "distinct"]),
    (["--seeds", ","], ["--seeds"]),
    (["--days", "0"], ["days", "> 0"]),
    (["--days", "-2"], ["days", "-2"]),
    (["--days", "nan"], ["days", "nan"]),
    (["--days", "inf"], ["days", "inf"]),
    (["--days", "1e9"], ["days=1e+09", "memory"]),
    (["--days", "abc"], ["--days", "valid number"]),
    (["--world", "n_users=1000000000"], ["n_users=1000000000", "memory"]),
    (["--world", "n_candidates=100000000"], ["n_candidates=100000000", "memory"]),
    (["--world", "n_topics=2000000"], ["n_topics=2000000", "memory"]),
    (["--world", "n_users=0"], ["n_users", ">= 1", "0"]),
    (["--world", "n_users=x"], ["n_users", "integer", "'x'"]),
    (["--world", "n_users=1.5"], ["n_users", "integer", "1.5"]),
    (["--world", "n_users=true"], ["n_users", "integer", "True"]),
    (["--world", "item_noise=-1e-3"], ["item_noise", ">= 0", "-0.001"]),
    (["--world", "slate_size=30"], ["slate_size", "n_candidates"]),
    (["--world", "click_model=logit"], ["click_model", "position", "'logit'"]),
    (["--world", "n_user=5"], ["n_user", "allowed keys"]),
    (["--world", "n_users"], ["--world", "KEY=VALUE"]),
    (["--world", "n_users=[1"], ["--world n_users", "malformed"]),
    (["--device", "tpu"], ["--device", "tpu"]),
    (["--backend", "spark"], ["--backend", "spark"]),
    (["--address", "127.0.0.1:1"], ["--address", "--backend ray"]),
    (["--agents", ","], ["--agents"]),
    (["--agents", "random,,popular"], ["--agents", "none empty"]),
    (["--seeds", "0,1,"], ["--seeds", "'0,1,'"]),
    (["--world", "n_users=200", "--world", "n_users=300"], ["--world n_users", "twice"]),
    (["--agents", "random,random"], ["--agents", "random"]),
    (["--agents", "nosuchagent"], ["nosuchagent", "known agents"]),
    (["--agents", "static:nosuchmodel"], ["static:nosuchmodel"]),
    (["--agents", "egreedy:nosuch"], ["nosuch"]),
    (["--agents", "os:system"], ["os:system", "not a class"]),
    (["--agents", "subprocess:Popen"], ["subprocess:Popen", "lacks act"]),
    (["--agents", "nosuchmodule_xyz:Agent"], ["nosuchmodule_xyz", "cannot import"]),
    (["--bogus-option"], ["--bogus-option"]),
])
def test_compare_options_are_one_line_errors(capsys, isolated, tiny, args, names):
    base = ["compare", "--out", isolated / "out", "--config", tiny, "--no-progress"]
    if "--agents" not in args:
        base += ["--agents", "random"]
    code, _, err = cli(capsys, *base, *args)
    assert_one_line(code, err, *names)
    assert not (isolated / "out").exists()  # checked before the folder is touched


@pytest.mark.parametrize("config, names", [
    ("agents: [[random]]\n", ["agents", "['random']"]),
    ("agents: [3]\n", ["agents", "3"]),
    ("agents: {random: 3}\n", ["agents"]),
    ("agents: {drn: {batch_size: 0}}\n", ["batch_size", ">= 1", "0"]),
    ("agents: {drn: {memory: 0}}\n", ["memory", ">= 1"]),
    ("agents: {drn: {gamma: 1.5}}\n", ["gamma", "[0, 1]"]),
    ("agents: {drn: {lr: -1}}\n", ["lr", "> 0"]),
    ("agents: {drn: {lr: .nan}}\n", ["lr", "nan"]),
    ("agents: {drn: {dbgd_rule: fast}}\n", ["dbgd_rule", "'fast'"]),
    ("agents: {drn: {value_hidden: [0]}}\n", ["value_hidden", ">= 1"]),
    ("agents: {linucb: {alpha: x}}\n", ["alpha", "a number", "'x'"]),
    ("agents: {linucb: {alpha: -1}}\n", ["alpha", ">= 0"]),
    ("agents: {linucb: {topics: yes please}}\n", ["topics", "True or False"]),
    ("agents: {linucb: {seed: 0.5}}\n", ["seed", "integer", "0.5"]),
    ("agents: {linucb: {alfa: 1}}\n", ["alfa", "unknown keyword", "alpha"]),
    ("agents: {egreedy:random: {epsilon: 2}}\n", ["epsilon", "[0, 1]"]),
    ("agents: {ucb:random: {c: -1}}\n", ["c must be", ">= 0"]),
    ("agents: {popular: {window_weights: [1, 2]}}\n", ["window_weights", "4"]),
    ("agents: {hlinucb: {hidden_dim: 0}}\n", ["hidden_dim", ">= 1"]),
    ("agents: {static:lr: {foo: 1}}\n", ["foo", "unknown keyword"]),
    ("agents: {static:din: {dim: 0}}\n", ["dim", ">= 1"]),
    ("agents: {static:din: {dim: 8.5}}\n", ["dim", "integer", "8.5"]),
    ("agents: {static:din: {hidden: [64, 0]}}\n", ["hidden[1]", ">= 1"]),
    ("agents: {static:lr: {fit_kwargs: {epochs: 0}}}\n", ["epochs", ">= 1"]),
    ("agents: {static:lr: {fit_kwargs: {epoch: 3}}}\n", ["epoch", "unknown keyword"]),
    ("agents: {online:lr: {period_hours: 0}}\n", ["period_hours", "> 0"]),
    ("agents: {online:lr: {update_kwargs: {lr: -1}}}\n", ["lr", "> 0"]),
    ("run: {seeds: [-1]}\n", ["seeds", "2**63"]),
    ("run: {seeds: [0.7]}\n", ["seeds", "integer", "0.7"]),
    ("run: {seeds: 3}\n", ["seeds", "list"]),
    ("run: {batch_size: 0}\n", ["batch_size", ">= 1"]),
    ("run: {bucket_hours: -1}\n", ["bucket_hours", "> 0"]),
    ("run: {bucket_hours: 1e-6}\n", ["bucket_hours", "buckets"]),
    ("run: {log_epsilon: 2}\n", ["log_epsilon", "[0, 1]"]),
    ("run: {log_days: -1}\n", ["log_days", ">= 0"]),
    ("run: {logging_policy: nosuch}\n", ["logging_policy", "nosuch"]),
    ("run: {days: '1'}\n", ["days", "a number"]),
    ("run: {dayz: 1}\n", ["dayz", "section 'run'"]),
    ("world: {n_users: 1.5}\n", ["n_users", "integer"]),
    ("world: {item_noise: 1e-3, n_users: -1}\n", ["n_users", ">= 1"]),
    ("world: [1, 2]\n", ["world", "mapping"]),
    ("world:\n  n_users: 200\n  n_users: 300\n", ["n_users", "twice", "line 3"]),
    ("- a\n- list\n", ["mapping"]),
    ("world: {n_users: 10\n", ["malformed YAML", "line"]),
])
def test_config_values_are_one_line_errors(capsys, isolated, config, names):
    path = isolated / "bad.yaml"
    path.write_text(config)
    args = ["compare", "--config", path, "--out", isolated / "out", "--days", "0.05",
            "--no-progress"]
    if "agents:" not in config:
        args += ["--agents", "random"]
    code, _, err = cli(capsys, *args)
    line = assert_one_line(code, err, *names)
    assert line.count(str(path)) <= 1  # the file is named once
    assert not (isolated / "out").exists()


def test_yaml_1_2_numbers_are_numbers(isolated):
    path = isolated / "c.yaml"
    path.write_text("world: {item_noise: 1e-3, news_per_hour: 2E2}\nrun: {days: 5e-1}\n")
    experiment = Experiment.from_yaml(path)
    assert experiment.world.item_noise == 0.001 and experiment.world.news_per_hour == 200.0
    assert experiment.days == 0.5
    assert load_yaml("a: '1e-3'", "x") == {"a": "1e-3"}  # quoted stays a string


def _no_simulation(*args, **kwargs):
    raise AssertionError("a world was built before the bad input was refused")


@pytest.mark.parametrize("content, names", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", ["junk.yaml", "not UTF-8"]),
    (b"world: {n_users: \x00}\n", ["junk.yaml", "malformed"]),
    (b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n".encode()
        for i in range(9)), ["junk.yaml", "alias"]),
    (b"world: " + b"[" * 5000 + b"]" * 5000 + b"\n", ["junk.yaml"]),
    (b"# " + b"x" * (MAX_BYTES + 10) + b"\n", ["junk.yaml", "larger than"]),
])
def test_unreadable_configs_name_the_file_and_fail_fast(capsys, isolated, monkeypatch,
                                                        content, names):
    (isolated / "junk.yaml").write_bytes(content)
    monkeypatch.setattr(World, "reset", _no_simulation)
    code, _, err = cli(capsys, "compare", "--config", isolated / "junk.yaml", "--agents",
                       "random", "--out", isolated / "out")
    assert_one_line(code, err, *names)  # an alias bomb is refused, not expanded


@pytest.mark.parametrize("args, names", [
    (["--seed", "-1"], ["seed", "-1"]),
    (["--seed", str(2**64)], ["seed", "2**63"]),
    (["--agent", "nosuch"], ["nosuch"]),
    (["--days", "0"], ["days"]),
])
def test_run_options_are_one_line_errors(capsys, isolated, tiny, args, names):
    base = ["run", "--out", isolated / "out", "--config", tiny]
    if "--agent" not in args:
        base += ["--agent", "random"]
    assert_one_line(*cli(capsys, *base, *args)[::2], *names)


@pytest.mark.parametrize("args, names", [
    (["--seconds", "inf"], ["--seconds", "inf"]),
    (["--seconds", "nan"], ["--seconds", "nan"]),
    (["--seconds", "0"], ["--seconds", "0"]),
    (["--seconds", "1e9"], ["--seconds", "3600"]),
    (["--users", "0"], ["--users", ">= 1"]),
    (["--users", "1000000000"], ["n_users=1000000000", "memory"]),
])
def test_bench_bounds_are_one_line_errors(capsys, isolated, args, names):
    assert_one_line(*cli(capsys, "bench", *args)[::2], *names)


@pytest.mark.parametrize("args, names", [
    (["--seed", "-1"], ["--seed", "[0, 2**63)", "-1"]),
    (["--seed", str(2**63)], ["--seed", "2**63", str(2**63)]),
    (["--bootstrap", "5"], ["--bootstrap", "[20, 10000]", "5"]),
    (["--bootstrap", "1000000000"], ["--bootstrap", "[20, 10000]", "1000000000"]),
    (["--sim-users", "0"], ["--sim-users", ">= 16", "0"]),
    (["--sim-seeds", "0"], ["--sim-seeds", "[1, 100]", "0"]),
])
def test_calibrate_options_are_one_line_errors_before_the_logs(capsys, isolated, args, names):
    """Named by their flags, before the logs (which do not exist here) are read."""
    code, out, err = cli(capsys, "calibrate", isolated / "missing.parquet", "--out",
                         isolated / "cal", *args)
    assert_one_line(code, err, *names)
    assert "reading" not in out and not (isolated / "cal").exists()


@pytest.mark.parametrize("kwargs, names", [
    ({"seed": -1}, ["seed", "[0, 2**63)"]),
    ({"n_bootstrap": 5}, ["n_bootstrap", "[20, 10000]"]),
    ({"n_bootstrap": 10**9}, ["n_bootstrap", "[20, 10000]"]),
    ({"sim_users": 0}, ["sim_users", ">= 16"]),
    ({"sim_seeds": True}, ["sim_seeds", "integer"]),
])
def test_calibrate_checks_its_keywords_before_the_logs(kwargs, names):
    with pytest.raises(ValueError) as caught:
        calibrate(pd.DataFrame(), **kwargs)
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        fidelity(pd.DataFrame(), WorldConfig(), seed=-1)


def test_calibrate_refuses_a_folder_holding_a_users_file(capsys, isolated):
    out = isolated / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    code, stdout, err = cli(capsys, "calibrate", isolated / "missing.parquet", "--out", out)
    assert_one_line(code, err, "--out", "notes.txt", "not written by drnsim calibrate")
    assert "reading" not in stdout
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes"


def test_plot_of_a_folder_drnsim_did_not_write_is_refused(capsys, isolated):
    folder = isolated / "mine"
    folder.mkdir()
    (folder / "metrics.csv").write_text("my,own\n1,2\n")
    line = assert_one_line(*cli(capsys, "plot", folder)[::2], str(folder))
    assert "metrics.csv" in line and (folder / "metrics.csv").read_text() == "my,own\n1,2\n"
    assert_one_line(*cli(capsys, "plot", isolated / "missing")[::2], "missing")


# ---------------------------------------------------------------------------------------
# CLI: agents by import path
@pytest.mark.parametrize("source, names", [
    ("class NoAct:\n    def observe(self, *a): pass\n    def update(self, t): pass\n",
     ["NoAct", "lacks act"]),
    ("class NoAct:\n    act = 3\n    def observe(self, *a): pass\n    def update(self, t): pass\n",
     ["NoAct", "lacks act"]),
    ("class NoAct(:\n    pass\n", ["NoAct", "SyntaxError"]),
    ("import nosuchdependency_xyz\nclass NoAct:\n    pass\n", ["NoAct", "nosuchdependency_xyz"]),
])
def test_a_broken_user_agent_is_an_error_before_any_simulation(capsys, isolated, tiny, source,
                                                              names):
    module = f"user_agents_{abs(hash(source)) % 10**8}"
    write_module(isolated, module, source)
    code, _, err = cli(capsys, "compare", "--agents", f"{module}:NoAct,random", "--config",
                       tiny, "--out", isolated / "out", "--no-progress")
    assert_one_line(code, err, *names)
    assert not (isolated / "out").exists()


def test_a_config_cannot_run_code_without_consent_nor_call_a_function(capsys, isolated):
    marker = isolated / "pwned"
    write_module(isolated, "evil_cfg", f"import pathlib\npathlib.Path({str(marker)!r})"
                 ".write_text('imported')\nclass Agent:\n    pass\n")
    config = isolated / "c.yaml"
    config.write_text(f"agents: {{evil_cfg:Agent: {{}}, os:system: {{command: 'touch {marker}'}}}}"
                      "\n")
    line = assert_one_line(*cli(capsys, "compare", "--config", config, "--out",
                                isolated / "out")[::2], "--allow-import")
    assert "evil_cfg:Agent" in line and not marker.exists()  # not even imported
    config.write_text(f"agents: {{os:system: {{command: 'touch {marker}'}}}}\n")
    assert_one_line(*cli(capsys, "compare", "--config", config, "--allow-import", "--out",
                         isolated / "out")[::2], "os:system", "not a class")
    assert not marker.exists()


def test_the_current_folder_is_not_on_the_path_unless_an_agent_is_imported(tmp_path):
    """A matplotlib.py in the current folder is never executed (end to end, both entry
    points of the command), and an agent from the current folder still loads."""
    marker = tmp_path / "shadowed"
    write_module(tmp_path, "matplotlib", f"open({str(marker)!r}, 'w').write('ran')\n")
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    for command in ([*COMMAND], [sys.executable, "-m", "drnsim"]):
        result = subprocess.run([*command, "compare", "--agents", "random", "--days", "0.03",
                                 "--config", "tiny.yaml", "--out", "out", "--no-progress"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "NUMBA_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr[-2000:]
        assert not marker.exists() and (tmp_path / "out" / "ctr.png").exists()
    write_module(tmp_path, "cwd_agents", AGENT_SOURCE.format(
        name="Newest", label="newest", scores="-obs['candidates']['age']"))
    run_drnsim("compare", "--agents", "cwd_agents:Newest", "--days", "0.03", "--config",
               "tiny.yaml", "--out", "out2", "--no-progress", cwd=tmp_path)
    assert not marker.exists()  # the current folder comes after the installed packages


def test_debug_shows_the_traceback_of_an_expected_error(tmp_path):
    plain = run_drnsim("compare", "--agents", "random", "--days", "-1", "--out",
                       tmp_path / "o", check=False)
    assert plain.returncode == 2 and plain.stderr.count("\n") == 1
    debug = run_drnsim("--debug", "compare", "--agents", "random", "--days", "-1", "--out",
                       tmp_path / "o", check=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    assert "days must be a finite number > 0" in debug.stderr


# ---------------------------------------------------------------------------------------
# CLI: what the input decides but the run reveals
def test_no_visit_in_the_period_is_a_clear_error(capsys, isolated, tiny):
    code, _, err = cli(capsys, "compare", "--agents", "random", "--config", tiny, "--days",
                       "0.01", "--world", "n_users=1", "--out", isolated / "out",
                       "--no-progress")
    assert_one_line(code, err, "no visit was served", "n_users=1", "days=0.01")


def test_items_that_expire_at_once_give_an_undefined_ctr_not_a_crash(capsys, isolated, tiny):
    code, out, err = cli(capsys, "compare", "--agents", "random,popular", "--config", tiny,
                         "--days", "0.03", "--world", "item_lifetime_hours=1e-9", "--out",
                         isolated / "out", "--no-progress")
    assert code == 0, err
    summary = pd.read_csv(isolated / "out" / "summary.csv")
    ctr = summary[summary["metric"] == "ctr"]
    assert list(ctr["agent"]) == ["random", "popular"]
    assert ctr["mean"].isna().all() and (ctr["n_seeds"] == 0).all()
    visits = summary[summary["metric"] == "visits"]
    assert (visits["mean"] > 0).all()


def test_forty_nested_explorers_keep_run_file_names_short(capsys, isolated, tiny):
    name = "egreedy:" * 40 + "random"
    code, _, err = cli(capsys, "compare", "--agents", name, "--config", tiny, "--days", "0.02",
                       "--out", isolated / "out", "--no-progress")
    assert code == 0, err
    (run,) = (isolated / "out" / "runs").glob("*.parquet")
    assert len(run.name) <= 80


# ---------------------------------------------------------------------------------------
# Results folders: the user's files are never lost
def user_files(folder: Path) -> dict[str, bytes]:
    """Put the user's own files in ``folder`` (some with names drnsim uses nearby)."""
    files = {"notes.txt": b"my notes", "data/raw.csv": b"a,b\n1,2\n", ".hidden": b"h",
             "runs/mine.parquet": b"not drnsim's", "my.tmp": b"t", "plot.png": b"\x89PNG me"}
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return files


def assert_survive(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        assert (folder / name).read_bytes() == content, name


def fake_run(agents: list[str], seeds: list[int]) -> pd.DataFrame:
    rows = [(a, s, t, m, v) for s in seeds for a in agents for t in (1.0, 2.0)
            for m, v in (("ctr", 0.1), ("reward", 0.5), ("visits", 10.0))]
    return pd.DataFrame(rows, columns=COLUMNS)


EXPERIMENT = Experiment(agents={"random": {}, "popular": {}}, world=WorldConfig(**TINY_WORLD),
                        seeds=[0, 1], days=0.05, device="cpu")


def test_a_folder_of_someone_elses_files_is_refused_and_left_alone(capsys, isolated, tiny):
    folder = isolated / "theirs"
    folder.mkdir()
    (folder / "metrics.csv").write_text("precious")
    (folder / "ctr.png").write_text("also precious")
    for out in (folder, "."):  # a named folder, and the current one (what --out '' was)
        line = assert_one_line(*cli(capsys, "compare", "--agents", "random", "--config", tiny,
                                    "--days", "0.02", "--out", out)[::2],
                               "not a drnsim results folder")
        assert "metrics.csv" in line or "theirs" in line
    assert (folder / "metrics.csv").read_text() == "precious"
    assert_one_line(*cli(capsys, "compare", "--agents", "random", "--out", "")[::2], "--out")
    assert not (isolated / MANIFEST).exists()


def test_an_out_that_is_a_file_or_under_a_file_is_one_line(capsys, isolated, tiny):
    (isolated / "afile").write_text("x")
    assert_one_line(*cli(capsys, "compare", "--agents", "random", "--config", tiny,
                         "--out", isolated / "afile")[::2], "afile", "is a file")
    assert_one_line(*cli(capsys, "compare", "--agents", "random", "--config", tiny,
                         "--out", isolated / "afile" / "sub")[::2], "afile")
    assert (isolated / "afile").read_text() == "x"


def test_a_full_disk_is_one_line_and_loses_nothing(capsys, isolated, tiny, monkeypatch):
    out = isolated / "out"
    out.mkdir()
    ResultsFolder.open(out)
    files = user_files(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[1]))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    code, _, err = cli(capsys, "compare", "--agents", "random", "--config", tiny, "--days",
                       "0.02", "--out", out, "--no-progress")
    assert_one_line(code, err, "No space left on device")
    assert_survive(out, files)
    assert not list((out / "runs").glob(".*.tmp"))


def test_user_files_survive_a_run_a_failed_run_and_a_rerun(isolated):
    out = isolated / "out"
    run_experiment(EXPERIMENT, out, fake_run, progress=False)
    files = user_files(out)
    run_experiment(EXPERIMENT, out, fake_run, progress=False)  # same experiment
    assert_survive(out, files)

    def failing(agents, seeds):
        raise RuntimeError("the agent crashed")

    changed = Experiment(**{**EXPERIMENT.__dict__, "days": 0.07})
    with pytest.raises(RuntimeError):
        run_experiment(changed, out, failing, progress=False)
    assert_survive(out, files)
    run_experiment(changed, out, fake_run, progress=False)
    assert_survive(out, files)
    assert (out / "summary.csv").exists()


def test_drnsim_refuses_to_replace_a_file_it_did_not_write(isolated):
    out = isolated / "out"
    run_experiment(EXPERIMENT, out, fake_run, progress=False)
    (out / "summary.csv").write_text("edited by hand")  # drnsim's file, changed by the user
    with pytest.raises(ValueError, match="summary.csv changed since drnsim wrote it"):
        run_experiment(EXPERIMENT, out, fake_run, progress=False)
    assert (out / "summary.csv").read_text() == "edited by hand"
    (out / "summary.csv").unlink()
    folder = ResultsFolder.open(out)
    (out / "extra.csv").write_text("mine")
    with pytest.raises(ValueError, match="drnsim did not write it"):
        folder.write("extra.csv", lambda tmp: tmp.write_text("drnsim's"))
    assert (out / "extra.csv").read_text() == "mine"
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        ResultsFolder.open(out)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_user_files_survive_a_killed_run(tmp_path, sig, code):
    out = tmp_path / "out"
    run_experiment(EXPERIMENT, out, fake_run, progress=False)
    files = user_files(out)
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    args = ["compare", "--agents", "random,popular,linucb", "--seeds", "0,1,2,3", "--days",
            "0.1", "--config", tmp_path / "tiny.yaml", "--out", out, "--no-progress"]
    before = set((out / "runs").glob("*.parquet"))
    proc = subprocess.Popen([*COMMAND, *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    deadline = time.monotonic() + 300
    while set((out / "runs").glob("*.parquet")) == before and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code
    if sig == signal.SIGINT:
        assert err.strip().splitlines()[-1].startswith("interrupted")
    assert_survive(out, files)
    assert not (out / "summary.csv").exists()  # the new experiment did not finish


# ---------------------------------------------------------------------------------------
# The run cache
def test_editing_an_agent_source_reruns_it_and_a_tampered_run_is_rerun(isolated):
    write_module(isolated, "cache_agents", AGENT_SOURCE.format(
        name="Mine", label="mine", scores="obs['candidates']['age']"))
    sys.path.insert(0, str(isolated))
    experiment = Experiment(agents={"cache_agents:Mine": {}, "random": {}},
                            world=WorldConfig(**TINY_WORLD), seeds=[0], days=0.05,
                            device="cpu")
    calls: list[list[str]] = []

    def runner(agents, seeds):
        calls.append(agents)
        return fake_run(agents, seeds)

    out = isolated / "out"
    run_experiment(experiment, out, runner, progress=False)
    run_experiment(experiment, out, runner, progress=False)
    assert calls == [["cache_agents:Mine"], ["random"]]  # the second run reused both
    write_module(isolated, "cache_agents", AGENT_SOURCE.format(
        name="Mine", label="mine", scores="-obs['candidates']['age']"))
    notes: list[str] = []
    run_experiment(experiment, out, runner, progress=False, echo=notes.append)
    assert calls[2:] == [["cache_agents:Mine"]]  # edited: run again; random reused

    cache = RunCache(ResultsFolder.open(out), experiment)
    path = cache.path("random", 0)
    frame = pd.read_parquet(path)
    frame.loc[frame["metric"] == "ctr", "value"] = 0.99
    frame.to_parquet(path, index=False)  # a tampered cached run
    run_experiment(experiment, out, runner, progress=False, echo=notes.append)
    assert calls[3:] == [["random"]]
    assert any("checksum" in note and "random" in note for note in notes)
    assert pd.read_csv(out / "metrics.csv").query("metric == 'ctr'")["value"].max() == 0.1


def test_an_agent_without_readable_source_is_never_reused(isolated, monkeypatch):
    import types

    module = types.ModuleType("sourceless_agents")
    exec(AGENT_SOURCE.format(name="Ghost", label="ghost", scores="0"), module.__dict__)
    monkeypatch.setitem(sys.modules, "sourceless_agents", module)
    assert code_digest("sourceless_agents:Ghost") is None
    assert code_digest("random") is not None
    experiment = Experiment(agents={"sourceless_agents:Ghost": {}}, seeds=[0], days=0.05,
                            world=WorldConfig(**TINY_WORLD), device="cpu")
    calls, notes = [], []
    for _ in range(2):
        run_experiment(experiment, isolated / "out", lambda a, s: calls.append(a) or
                       fake_run(a, s), progress=False, echo=notes.append)
    assert len(calls) == 2 and any("cannot be verified" in note for note in notes)


def test_summary_csv_is_sorted_by_agent_order_then_metric(isolated):
    experiment = Experiment(agents={"zeta": {}, "alpha": {}, "mid": {}}, seeds=[0, 1],
                            days=0.05, world=WorldConfig(**TINY_WORLD), device="cpu")
    run_experiment(experiment, isolated / "out", fake_run, progress=False)
    summary = pd.read_csv(isolated / "out" / "summary.csv")
    assert list(dict.fromkeys(summary["agent"])) == ["zeta", "alpha", "mid"]
    for _, rows in summary.groupby("agent", sort=False):
        assert list(rows["metric"]) == sorted(rows["metric"])


# ---------------------------------------------------------------------------------------
# Python API: compare, run_episode, summarize
class Scorer:
    name = "scorer"

    def act(self, obs):
        return -obs["candidates"]["age"]

    def observe(self, obs, action, reward, info):
        pass

    def update(self, sim_time):
        pass


class NoObserve:
    def act(self, obs):
        return obs["candidates"]["age"]

    def update(self, sim_time):
        pass


@pytest.mark.parametrize("kwargs, error, names", [
    (dict(agents=[]), ValueError, ["agents", "empty"]),
    (dict(agents="random"), TypeError, ["agents", "['random']"]),
    (dict(agents=None), TypeError, ["agents"]),
    (dict(agents=[NoObserve()]), TypeError, ["lacks observe"]),
    (dict(agents=[object()]), TypeError, ["lacks act"]),
    (dict(agents=["random", "random"]), ValueError, ["unique", "random"]),
    (dict(agents=[3]), TypeError, ["lacks act"]),
    (dict(agents=["nosuch"]), ValueError, ["nosuch"]),
    (dict(seeds=(0.5,)), TypeError, ["seeds[0]", "integer", "0.5"]),
    (dict(seeds=(0.7,)), TypeError, ["seeds[0]", "0.7"]),
    (dict(seeds=(1.0,)), TypeError, ["seeds[0]", "1.0"]),
    (dict(seeds=(-1,)), ValueError, ["seeds[0]", "2**63"]),
    (dict(seeds=(2**63,)), ValueError, ["seeds[0]", "2**63"]),
    (dict(seeds=(True,)), TypeError, ["seeds[0]", "True"]),
    (dict(seeds=("0",)), TypeError, ["seeds[0]", "'0'"]),
    (dict(seeds="01"), TypeError, ["seeds"]),
    (dict(seeds=()), ValueError, ["seeds", "at least one"]),
    (dict(seeds=(1, 1)), ValueError, ["seeds", "distinct"]),
    (dict(days=0), ValueError, ["days", "> 0"]),
    (dict(days=-1.0), ValueError, ["days", "-1.0"]),
    (dict(days=math.nan), ValueError, ["days", "nan"]),
    (dict(days=math.inf), ValueError, ["days", "inf"]),
    (dict(days="1"), TypeError, ["days", "'1'"]),
    (dict(days=True), TypeError, ["days", "True"]),
    (dict(days=None), TypeError, ["days"]),
    (dict(days=1e9), ValueError, ["days=1e+09", "memory"]),
    (dict(batch_size=0), ValueError, ["batch_size", ">= 1", "0"]),
    (dict(batch_size=-5), ValueError, ["batch_size", "-5"]),
    (dict(batch_size=2.5), TypeError, ["batch_size", "2.5"]),
    (dict(batch_size=True), TypeError, ["batch_size", "True"]),
    (dict(bucket_hours=-1), ValueError, ["bucket_hours", "> 0", "-1"]),
    (dict(bucket_hours=0), ValueError, ["bucket_hours"]),
    (dict(bucket_hours=math.nan), ValueError, ["bucket_hours", "nan"]),
    (dict(bucket_hours=1e-9), ValueError, ["bucket_hours", "buckets"]),
    (dict(log_days=-1), ValueError, ["log_days", ">= 0"]),
    (dict(log_days=math.inf), ValueError, ["log_days", "inf"]),
    (dict(log_epsilon=1.5), ValueError, ["log_epsilon", "[0, 1]"]),
    (dict(log_epsilon=-0.1), ValueError, ["log_epsilon"]),
    (dict(logging_policy="nosuch"), ValueError, ["nosuch"]),
    (dict(logging_policy=3), TypeError, ["agent name", "3"]),
    (dict(backend="spark"), ValueError, ["backend", "'spark'", "'local'"]),
    (dict(address=6379, backend="ray"), TypeError, ["address", "6379"]),
    (dict(with_regret="yes"), TypeError, ["with_regret", "'yes'"]),
    (dict(progress=1), TypeError, ["progress", "1"]),
    (dict(world={"n_users": 0}), ValueError, ["n_users", ">= 1"]),
    (dict(world={"n_user": 5}), ValueError, ["n_user"]),
    (dict(world={"n_users": 10**9}), ValueError, ["n_users=1000000000", "memory"]),
    (dict(world={"n_candidates": 10**8}), ValueError, ["n_candidates=100000000", "memory"]),
    (dict(world={"episode_days": -1}), ValueError, ["episode_days"]),
])
def test_compare_checks_every_argument_before_running(monkeypatch, kwargs, error, names):
    monkeypatch.setenv("DRNSIM_MAX_MEMORY", "16G")
    arguments = dict(agents=["random"], seeds=(0,), days=0.05, world=TINY_WORLD,
                     log_days=0.05, batch_size=32, progress=False)
    arguments.update(kwargs)
    monkeypatch.setattr(World, "reset", _no_simulation)  # nothing is simulated first
    with pytest.raises(error) as raised:
        compare(**arguments)
    for name in names:
        assert name in str(raised.value), (name, str(raised.value))


def test_compare_accepts_numpy_seeds_and_numbers():
    specs, _, seeds, cfg = check_compare(["random", Scorer()], np.arange(3), np.float64(0.5),
                                         TINY_WORLD, np.int64(32), log_days=np.float32(0.25))
    assert seeds == [0, 1, 2] and all(type(s) is int for s in seeds)
    assert cfg.episode_days == 0.75 and len(specs) == 2


@pytest.fixture(scope="module")
def env():
    return NewsFeedVectorEnv(16, **TINY_WORLD)


@pytest.mark.parametrize("kwargs, error, names", [
    (dict(days=0), ValueError, ["days"]),
    (dict(days=-1), ValueError, ["days"]),
    (dict(days=math.nan), ValueError, ["days", "nan"]),
    (dict(days="1"), TypeError, ["days"]),
    (dict(seed=0.5), TypeError, ["seed", "0.5"]),
    (dict(seed=-1), ValueError, ["seed", "2**63"]),
    (dict(seed=2**64), ValueError, ["seed"]),
    (dict(bucket_hours=-1), ValueError, ["bucket_hours", "-1"]),
    (dict(bucket_hours=1e-7), ValueError, ["bucket_hours", "buckets"]),
    (dict(name=5), TypeError, ["name", "5"]),
    (dict(with_regret=None), TypeError, ["with_regret"]),
    (dict(agent=NoObserve()), TypeError, ["lacks observe"]),
    (dict(agent="random"), TypeError, ["lacks act"]),
    (dict(env="drnsim/NewsFeed-v0"), TypeError, ["env", "str"]),
])
def test_run_episode_checks_its_arguments(env, kwargs, error, names):
    arguments = dict(env=env, agent=Scorer(), days=0.02, seed=0, progress=False)
    arguments.update(kwargs)
    with pytest.raises(error) as raised:
        run_episode(**arguments)
    for name in names:
        assert name in str(raised.value)


@pytest.mark.parametrize("frame, baseline, error, names", [
    (pd.DataFrame(columns=COLUMNS), None, ValueError, ["no rows"]),
    ([1, 2], None, TypeError, ["frame", "list"]),
    (pd.DataFrame({"a": [1]}), None, TypeError, ["frame", "columns"]),
    (fake_run(["a", "b"], [0]), "c", ValueError, ["baseline", "'c'"]),
])
def test_summarize_checks_its_frame(frame, baseline, error, names):
    with pytest.raises(error) as raised:
        summarize(frame, baseline=baseline)
    for name in names:
        assert name in str(raised.value)


# ---------------------------------------------------------------------------------------
# make_agent
@pytest.mark.parametrize("name, kwargs, error, names", [
    ("linucb", dict(alpha="x"), InvalidTypeError, ["alpha", "'x'"]),
    ("linucb", dict(alpha=-1.0), ValueError, ["alpha", ">= 0"]),
    ("linucb", dict(alpha=math.nan), ValueError, ["alpha", "nan"]),
    ("linucb", dict(ridge=0), ValueError, ["ridge", "> 0"]),
    ("linucb", dict(topics=1), InvalidTypeError, ["topics", "True or False"]),
    ("linucb", dict(seed=0.5), InvalidTypeError, ["seed", "0.5"]),
    ("linucb", dict(seed=-3), ValueError, ["seed", "-3"]),
    ("linucb", dict(seed=True), InvalidTypeError, ["seed", "True"]),
    ("linucb", dict(name=5), InvalidTypeError, ["name", "5"]),
    ("linucb", dict(alfa=1), TypeError, ["alfa", "alpha"]),
    ("random", dict(epsilon=0.1), TypeError, ["epsilon", "unknown keyword"]),
    ("popular", dict(window_weights=(1.0, 2.0)), ValueError, ["window_weights", "4"]),
    ("popular", dict(window_weights="abcd"), InvalidTypeError, ["window_weights"]),
    ("hlinucb", dict(hidden_dim=0), ValueError, ["hidden_dim", ">= 1"]),
    ("hlinucb", dict(ridge_item=-1), ValueError, ["ridge_item"]),
    ("egreedy:random", dict(epsilon=2), ValueError, ["epsilon", "[0, 1]"]),
    ("egreedy:random", dict(epsilon="x"), InvalidTypeError, ["epsilon", "'x'"]),
    ("egreedy:linucb", dict(alfa=1), TypeError, ["alfa"]),
    ("ucb:random", dict(c=-1), ValueError, ["c must be", ">= 0"]),
    ("drn", dict(batch_size=0), ValueError, ["batch_size", ">= 1"]),
    ("drn", dict(batch_size=-2), ValueError, ["batch_size", "-2"]),
    ("drn", dict(memory=0), ValueError, ["memory", ">= 1"]),
    ("drn", dict(gamma=1.5), ValueError, ["gamma"]),
    ("drn", dict(lr=0), ValueError, ["lr", "> 0"]),
    ("drn", dict(major_steps=-1), ValueError, ["major_steps", ">= 0"]),
    ("drn", dict(target_every=0), ValueError, ["target_every"]),
    ("drn", dict(pretrain_epochs=math.inf), ValueError, ["pretrain_epochs", "inf"]),
    ("drn", dict(alpha="big"), InvalidTypeError, ["alpha", "'big'"]),
    ("drn", dict(future="no"), InvalidTypeError, ["future", "True or False"]),
    ("drn", dict(device="tpu"), RuntimeError, ["tpu"]),
    ("drn:ddqn+u+eg", dict(epsilon=-0.5), ValueError, ["epsilon"]),
    ("drn", dict(value_hidden=(64, 0)), ValueError, ["value_hidden[1]", ">= 1"]),
    ("drn", dict(nosuch=1), TypeError, ["nosuch", "unknown keyword"]),
    ("static:lr", dict(foo=1), TypeError, ["foo", "unknown keyword"]),
    ("static:din", dict(dim=0), ValueError, ["dim", ">= 1"]),
    ("static:din", dict(dim=16.0), InvalidTypeError, ["dim", "16.0"]),
    ("static:din", dict(hidden=(64, -1)), ValueError, ["hidden[1]"]),
    ("static:dien", dict(alpha=-1.0), ValueError, ["alpha", ">= 0"]),
    ("static:lr", dict(fit_kwargs={"epochs": 0}), ValueError, ["epochs", ">= 1"]),
    ("static:lr", dict(fit_kwargs={"epoch": 1}), TypeError, ["epoch", "unknown keyword"]),
    ("static:lr", dict(fit_kwargs=[1]), InvalidTypeError, ["fit_kwargs"]),
    ("static:lr", dict(device="tpu"), RuntimeError, ["tpu"]),
    ("online:lr", dict(period_hours=0), ValueError, ["period_hours", "> 0"]),
    ("online:lr", dict(window_hours=math.nan), ValueError, ["window_hours", "nan"]),
    ("online:lr", dict(update_kwargs={"lr": -1}), ValueError, ["lr", "> 0"]),
    ("static:nosuchmodel", {}, ValueError, ["static:nosuchmodel"]),
    ("nosuch", {}, ValueError, ["nosuch", "known agents"]),
    ("os:system", dict(command="echo hi"), InvalidTypeError, ["os:system", "not a class"]),
    ("os:getcwd", {}, InvalidTypeError, ["os:getcwd", "not a class"]),
    ("subprocess:Popen", dict(args=["true"]), InvalidTypeError, ["Popen", "lacks act"]),
    ("json:JSONDecoder", {}, InvalidTypeError, ["JSONDecoder", "lacks act"]),
    ("nosuchmodule_xyz:Agent", {}, ValueError, ["nosuchmodule_xyz"]),
    ("drnsim.agents:NoSuchClass", {}, ValueError, ["NoSuchClass"]),
])
def test_make_agent_checks_names_keywords_and_values(name, kwargs, error, names):
    with pytest.raises(error) as raised:
        make_agent(name, **kwargs)
    for part in names:
        assert part in str(raised.value), (part, str(raised.value))


def test_make_agent_never_calls_a_function_named_by_import_path(tmp_path, monkeypatch):
    marker = tmp_path / "called"
    write_module(tmp_path, "callable_agents", "import pathlib\n"
                 f"def run(**kw):\n    pathlib.Path({str(marker)!r}).write_text('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidTypeError, match="not a class"):
        make_agent("callable_agents:run", x=1)
    assert not marker.exists()
    with pytest.raises(InvalidTypeError):
        make_agent(["random"])


# ---------------------------------------------------------------------------------------
# Models: make_model, fit, score
SPEC = FeatureSpec.from_config(WorldConfig(**TINY_WORLD), n_item_buckets=503)


@pytest.mark.parametrize("name, kwargs, error, names", [
    ("lr", dict(dim=8), TypeError, ["dim", "unknown keyword", "none"]),
    ("din", dict(dimension=8), TypeError, ["dimension", "attention_hidden"]),
    ("din", dict(dim=0), ValueError, ["dim", ">= 1"]),
    ("din", dict(dim="8"), InvalidTypeError, ["dim", "'8'"]),
    ("din", dict(hidden=[0]), ValueError, ["hidden[0]"]),
    ("din", dict(activation_name=3), InvalidTypeError, ["activation_name"]),
    ("nosuch", {}, ValueError, ["nosuch", "known models"]),
    ("lr", dict(seed=0.5), InvalidTypeError, ["seed", "0.5"]),
    ("lr", dict(spec="spec"), InvalidTypeError, ["spec", "FeatureSpec"]),
])
def test_make_model_names_the_bad_keyword(name, kwargs, error, names):
    spec = kwargs.pop("spec", SPEC)
    with pytest.raises(error) as raised:
        make_model(name, spec, **kwargs)
    for part in names:
        assert part in str(raised.value)


@pytest.mark.parametrize("kwargs, error, names", [
    (dict(epochs=0), ValueError, ["epochs", ">= 1", "0"]),
    (dict(epochs=-1), ValueError, ["epochs"]),
    (dict(epochs=2.5), InvalidTypeError, ["epochs", "2.5"]),
    (dict(batch_size=0), ValueError, ["batch_size"]),
    (dict(lr=0.0), ValueError, ["lr", "> 0"]),
    (dict(lr=math.nan), ValueError, ["lr", "nan"]),
    (dict(patience=0), ValueError, ["patience"]),
    (dict(valid_fraction=1.0), ValueError, ["valid_fraction", "[0, 1)"]),
    (dict(valid_fraction=-0.1), ValueError, ["valid_fraction"]),
    (dict(weight_decay=-1e-4), ValueError, ["weight_decay", ">= 0"]),
    (dict(seed=0.5), InvalidTypeError, ["seed"]),
    (dict(progress="yes"), InvalidTypeError, ["progress"]),
    (dict(device=0), InvalidTypeError, ["device"]),
    (dict(logs=[1, 2]), InvalidTypeError, ["logs", "list"]),
])
def test_fit_checks_its_arguments_before_training(kwargs, error, names):
    model = make_model("lr", SPEC)
    before = [p.detach().clone() for p in model.parameters()]
    logs = kwargs.pop("logs", pd.DataFrame())
    with pytest.raises(error) as raised:
        fit(model, logs, **kwargs)
    for part in names:
        assert part in str(raised.value)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_fit_reports_epochs_and_validation_loss():
    logs = collect_logs(TINY_WORLD, make_agent("popular"), days=0.1, seed=3, batch_size=16,
                        epsilon=0.5)
    model = make_model("lr", FeatureSpec.from_config(WorldConfig(**TINY_WORLD)))
    history = model.fit(logs, epochs=3, patience=3)
    assert model.history is history and history.epochs == 3 == history.max_epochs
    assert len(history.valid_loss) == 3 and not history.stopped_early
    assert history.best_loss == min(history.valid_loss)
    assert "3 of 3 epochs" in str(history) and "validation loss" in str(history)


@pytest.fixture(scope="module")
def observation():
    env = NewsFeedEnv(**TINY_WORLD)
    obs, _ = env.reset(seed=0)
    return obs


def _broken(obs, change):
    out = {group: dict(values) for group, values in obs.items()}
    change(out)
    return out


@pytest.mark.parametrize("change, error, names", [
    (lambda o: o.pop("candidates"), ValueError, ["candidates"]),
    (lambda o: o["history"].pop("length"), ValueError, ["history", "length"]),
    (lambda o: o.update(user=[1, 2]), ValueError, ["user"]),
    (lambda o: o["candidates"].update(topic=o["candidates"]["topic"][:-1]), ValueError,
     ["candidates.topic", "(B, N)"]),
    (lambda o: o["user_news"].update(topic_clicks=np.zeros((3, 4), np.float32)), ValueError,
     ["user_news.topic_clicks"]),
    (lambda o: o["history"].update(item_id=o["history"]["item_id"][:10]), ValueError,
     ["history.item_id", "history_length"]),
    (lambda o: o["candidates"].update(topic=o["candidates"]["topic"] + 1000), ValueError,
     ["candidates.topic", "n_topics"]),
])
def test_score_names_what_does_not_fit_the_spec(observation, change, error, names):
    model = make_model("lr", FeatureSpec.from_config(WorldConfig(**TINY_WORLD)))
    with pytest.raises(error) as raised:
        model.score(_broken(observation, change))
    for part in names:
        assert part in str(raised.value)


def test_score_rejects_a_non_observation_and_a_batch_of_another_spec(observation):
    model = make_model("lr", FeatureSpec.from_config(WorldConfig(**TINY_WORLD)))
    with pytest.raises(InvalidTypeError, match="obs must be an observation dict"):
        model.score([1, 2, 3])
    other = FeatureSpec.from_config(WorldConfig(**{**TINY_WORLD, "history_length": 20}))
    with pytest.raises(ValueError, match="history_length=50"):
        model.score(_other_batch(other))


def _other_batch(spec: FeatureSpec):
    env = NewsFeedEnv(**{**TINY_WORLD, "history_length": 20})
    obs, _ = env.reset(seed=1)
    return build_batch(obs, spec)


# ---------------------------------------------------------------------------------------
# Sizes bounded by their memory
OVERSIZED = [
    (dict(n_users=10**9), "n_users=1000000000"),
    (dict(history_length=10**7), "history_length=10000000"),
    (dict(n_candidates=10**9), "n_candidates=1000000000"),
    (dict(n_topics=10**6, n_providers=10**5), "n_topics=1000000"),
    (dict(episode_days=1e9), "episode_days=1e+09"),
    (dict(news_per_hour=1e12), "news_per_hour=1e+12"),
]
OVERSIZED_SCRIPT = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # a bug cannot take the machine
import gymnasium as gym
from drnsim.config import WorldConfig
from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv
messages = []
for fields in json.loads(sys.argv[1]):
    config = WorldConfig(**fields)  # a config is only numbers: building it is fine
    for build in (lambda: NewsFeedEnv(config=config), lambda: NewsFeedVectorEnv(64, config=config),
                  lambda: gym.make("drnsim/NewsFeed-v0", **fields)):
        try:
            build()
            messages.append("built")
        except ValueError as exc:
            messages.append(str(exc))
print(json.dumps(messages))
"""


def test_worlds_that_cannot_fit_fail_before_allocating():
    """Every env entry point refuses a world larger than the memory limit before it
    allocates (in a subprocess whose address space is capped at 6 GiB)."""
    import json

    result = subprocess.run(
        [sys.executable, "-c", OVERSIZED_SCRIPT, json.dumps([f for f, _ in OVERSIZED])],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "DRNSIM_MAX_MEMORY": "64G", "NUMBA_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    messages = json.loads(result.stdout)
    for i, (fields, name) in enumerate(OVERSIZED):
        assert WorldConfig(**fields).estimated_bytes() > 64 * 2**30
        for message in messages[3 * i:3 * i + 3]:
            assert name in message and "DRNSIM_MAX_MEMORY" in message, message


def test_the_memory_limit_variable_is_checked(monkeypatch):
    monkeypatch.setenv("DRNSIM_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="DRNSIM_MAX_MEMORY"):
        WorldConfig().check_memory()
    monkeypatch.setenv("DRNSIM_MAX_MEMORY", "1M")
    with pytest.raises(ValueError, match="n_users=10000"):
        WorldConfig().check_memory()
    monkeypatch.setenv("DRNSIM_MAX_MEMORY", "0")  # off
    WorldConfig(n_users=10**9).check_memory()


@pytest.mark.parametrize("fields", [
    dict(n_users=40_000),
    dict(n_users=3_000, n_topics=1_000, n_providers=300),
    dict(n_users=1_000, episode_days=20.0, news_per_hour=1_000.0),
])
def test_the_memory_estimate_is_within_a_factor_of_two_of_the_measured_peak(fields):
    config = WorldConfig(**fields)
    tracemalloc.start()
    try:
        env = NewsFeedVectorEnv(16, config=config)
        env.reset(seed=0)
        action = np.zeros((16, config.n_candidates), np.float32)
        for _ in range(5):
            env.step(action)
        news = env.unwrapped.world.news
        for t in np.arange(0.0, config.horizon_seconds + HOUR, 6 * HOUR):
            # the whole episode's news as a run holds it (`World.next_batch`): items leave
            # the store two lifetimes after publication
            news.ensure(t)
            news.forget_before(t - 2 * config.item_lifetime_hours * HOUR)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.5 < config.estimated_bytes(16) / peak < 2.0, (config.estimated_bytes(16), peak)


# ---------------------------------------------------------------------------------------
# Plots: bands in range, seeds counted
def test_plot_bands_stay_in_the_metric_range_and_titles_count_seeds():
    from drnsim.plotting import metric_range, plot_curves, plot_summary

    ctr = {0: 0.0, 1: 0.0, 2: 0.9}  # a wide t-interval around a small mean
    rows = [(agent, s, t, metric, value) for agent in ("a", "b") for s in range(3)
            for t in (1.0, 2.0, 3.0)
            for metric, value in (("ctr", ctr[s] if agent == "a" else 0.1), ("visits", 10.0))]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    fig = plot_curves(frame, "ctr")
    ax = fig.axes[0]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 0.0 and band.max() <= 1.0  # the raw interval goes below 0
    assert "3 seeds" in ax.get_title()
    summary = plot_summary(frame, "ctr")
    summary.canvas.draw()
    bars = summary.axes[0]
    assert "3 seeds" in bars.get_title()
    ends = np.concatenate([p.vertices[:, 0] for p in bars.containers[0].lines[2][0].get_paths()])
    assert np.isfinite(ends).all() and ends.min() == 0.0 and ends.max() <= 1.0
    assert metric_range("ndcg@10") == (0.0, 1.0) and metric_range("retention@7d") == (0.0, 1.0)
    assert metric_range("my_metric") == (-np.inf, np.inf)
    with pytest.raises(ValueError, match="no rows for metric 'nosuch'"):
        plot_curves(frame, "nosuch")
    with pytest.raises(ValueError, match="no visit was served"):
        plot_curves(frame.iloc[:0], "ctr")


# ---------------------------------------------------------------------------------------
# The environments
ENV_IDS = ["drnsim/NewsFeed-v0", "drnsim/UserJourney-v0"]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("kwargs, error, names", [
    (dict(n_user=5), TypeError, ["n_user"]),
    (dict(obs_mode="flat"), ValueError, ["obs_mode", "flat", "flat_dict"]),
    (dict(action_mode="ranking"), ValueError, ["action_mode", "ranking", "weights"]),
    (dict(render_mode="rgb"), ValueError, ["render_mode", "rgb"]),
    (dict(n_users=0), ValueError, ["n_users"]),
    (dict(slate_size=50), ValueError, ["slate_size", "n_candidates"]),
    (dict(tradeoff_strength=-1.0), ValueError, ["tradeoff_strength"]),
])
@pytest.mark.filterwarnings("ignore:.*render_mode")
def test_env_constructors_name_the_bad_argument(env_id, kwargs, error, names):
    import gymnasium as gym

    with pytest.raises(error) as caught:
        gym.make(env_id, **{**TINY_WORLD, **kwargs})
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("vector", [False, True])
def test_env_step_and_reset_name_what_is_wrong(env_id, vector):
    import gymnasium as gym

    env = (gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                        **TINY_WORLD) if vector else gym.make(env_id, **TINY_WORLD).unwrapped)
    with pytest.raises(RuntimeError, match=r"reset\(\)"):
        env.step(env.action_space.sample())
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['resetmask'\]"):
        env.reset(seed=0, options={"resetmask": 1})
    with pytest.raises(ValueError, match="options must be a dict"):
        env.reset(seed=0, options=["reset_mask"])
    env.reset(seed=0)
    shape = env.action_space.shape
    for action, names in [("abc", ["action", "numbers", str(shape)]),
                          (np.zeros(shape, complex), ["action", "numbers", str(shape)]),
                          (np.full(shape, "0.5"), ["action", "numbers", str(shape)]),
                          (np.zeros(shape[:-1] + (shape[-1] + 1,)), ["action", "shape"]),
                          (np.full(shape, np.nan), ["action", "NaN"]),
                          (np.full(shape, 3.0), ["action", "[-1, 1]"])]:
        with pytest.raises(ValueError) as caught:
            env.step(action)
        for name in names:
            assert name in str(caught.value), (name, str(caught.value))
    env.close()


# ---------------------------------------------------------------------------------------
# Logs: reading, writing and checking
@pytest.fixture(scope="module")
def small_logs():
    logs = collect_logs(TINY_WORLD, make_agent("popular"), days=0.05, seed=0)
    return logs.drop(columns=["prefix_propensity"])  # the column checks come first


@pytest.mark.parametrize("column, value, names", [
    ("time", "text", ["time", "numbers"]),
    ("topic", "text", ["topic", "numbers"]),
    ("time", np.inf, ["time", "finite"]),
    ("position", 10**9, ["position", "[0, 1023]", "1000000000"]),
    ("position", 1.5, ["position", "whole numbers"]),
    ("user_id", -5, ["user_id", ">= 0", "-5"]),
    ("item_id", -3, ["item_id", ">= 0"]),
    ("hour", 30, ["hour", "[0, 23]"]),
    ("weekday", 7, ["weekday", "[0, 6]"]),
    ("user_device", -1, ["user_device", ">= 0"]),
    ("click", 2, ["click", "0 or 1"]),
    ("dwell", -1.0, ["dwell", ">= 0"]),
    ("user_id", None, ["missing values", "user_id"]),
])
def test_check_logs_names_the_column_and_the_value(small_logs, column, value, names):
    logs = small_logs.copy()
    if isinstance(value, str):
        logs[column] = logs[column].astype(str)
    else:
        if isinstance(value, float) or value is None:
            logs[column] = logs[column].astype(np.float64)
        logs.loc[0, column] = np.nan if value is None else value
    with pytest.raises(ValueError) as caught:
        check_logs(logs)
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))


@pytest.mark.parametrize("name, content, names", [
    ("junk.parquet", b"junk", ["junk.parquet", "PARQUET"]),
    ("junk.csv", b'a,b\n"1', ["junk.csv", "CSV"]),
    ("logs.json", b"{}", [".parquet or .csv", "logs.json"]),
])
def test_load_logs_names_a_file_it_cannot_read(tmp_path, name, content, names):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError) as caught:
        load_logs(tmp_path / name)
    for part in names:
        assert part in str(caught.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_logs(tmp_path / "missing.csv")


@pytest.mark.parametrize("call, error, names", [
    (lambda: save_logs([1, 2], "x.csv"), ValueError,
     ["df", "DataFrame"]),
    (lambda: collect_logs("x", None, days=0.05), TypeError, ["world config", "str"]),
    (lambda: collect_logs(TINY_WORLD, None, days=0), ValueError, ["days"]),
    (lambda: collect_logs(TINY_WORLD, None, n_visits=-1), ValueError, ["n_visits"]),
    (lambda: collect_logs(TINY_WORLD, None, days=0.05, batch_size=0), ValueError,
     ["batch_size"]),
    (lambda: collect_logs(TINY_WORLD, None, days=0.05, seed=0.5), TypeError, ["seed"]),
    (lambda: collect_logs(TINY_WORLD, "popular", days=0.05), ValueError, ["policy", "act"]),
    (lambda: collect_logs(TINY_WORLD, None, days=0.05, truth=True), ValueError,
     ["truth", "candidates"]),
])
def test_collect_and_save_logs_name_the_bad_argument(call, error, names):
    with pytest.raises(error) as caught:
        call()
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))
