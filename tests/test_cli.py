"""The `drnsim` command as a user runs it: the README's first command (at a tiny size),
results folders, resume after SIGKILL, and one-line errors with exit code 2."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_WORLD = "world: {n_users: 300, n_candidates: 20, slate_size: 5, news_per_hour: 40.0}\n"
TINY_RUN = "run: {log_days: 0.05, batch_size: 32}\n"
PNG = b"\x89PNG\r\n\x1a\n"


SCRIPT = Path(sys.executable).with_name("drnsim")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "drnsim"]


def drnsim(*args: str | Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the console script in a fresh process (`python -m drnsim` where not installed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*COMMAND, *map(str, args)],
                            capture_output=True, text=True, env=env, timeout=900, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A config file with a tiny world and pre-period (a run takes about a second)."""
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(TINY_WORLD + TINY_RUN)
    return path


def readme_command() -> list[str]:
    """The drnsim part of the README's first set-up command."""
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if "drnsim compare" in line)
    return shlex.split(line.split("&&")[-1])


def assert_complete(folder: Path, agents: list[str], seeds: list[int]) -> pd.DataFrame:
    """The results folder has every file and every (agent, seed)."""
    for name in ("config.yaml", "metrics.csv", "summary.csv"):
        assert (folder / name).stat().st_size > 0, name
    for name in ("reward.png", "ctr.png", "summary.png"):
        assert (folder / name).read_bytes()[:8] == PNG, name
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == ["agent", "seed", "time", "metric", "value"]
    assert set(zip(metrics["agent"], metrics["seed"], strict=True)) == {
        (a, s) for a in agents for s in seeds}
    summary = pd.read_csv(folder / "summary.csv")
    assert set(summary["agent"]) == set(agents)
    assert {"mean", "low", "high"} <= set(summary.columns)
    return metrics


def test_readme_first_command_at_a_tiny_size_writes_results_and_reruns_identically(tmp_path,
                                                                                  tiny):
    command = readme_command()
    assert command[:2] == ["drnsim", "compare"]
    agents = command[command.index("--agents") + 1].split(",")
    out = tmp_path / "quickstart"
    result = drnsim(*command[1:], "--config", tiny, "--days", "0.05", "--out", out,
                    "--no-progress")
    assert_complete(out, agents, [0])
    table = result.stdout.splitlines()
    assert all(any(row.startswith(agent + " ") for row in table) for agent in agents)
    assert "ctr" in table[0] and f"wrote {out}" in result.stdout

    again = tmp_path / "again"  # config.yaml holds everything needed to re-run
    drnsim("compare", "--config", out / "config.yaml", "--out", again, "--no-progress")
    assert (again / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()


def test_run_one_agent_then_replot(tmp_path, tiny):
    out = tmp_path / "one"
    drnsim("run", "--agent", "linucb", "--days", "0.05", "--seed", "3", "--config", tiny,
           "--out", out)
    assert_complete(out, ["linucb"], [3])
    (out / "ctr.png").unlink()
    result = drnsim("plot", out)
    assert (out / "ctr.png").read_bytes()[:8] == PNG and "ctr.png" in result.stdout


def test_config_sets_agent_keywords_and_a_user_class_loads_by_import_path(tmp_path, tiny):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "agents.py").write_text(
        "class Freshest:\n"
        "    name = 'freshest'\n"
        "    def act(self, obs):\n"
        "        return -obs['candidates']['age']\n"
        "    def observe(self, obs, action, reward, info):\n"
        "        pass\n"
        "    def update(self, sim_time):\n"
        "        pass\n")
    config = tmp_path / "config.yaml"
    config.write_text(TINY_WORLD + TINY_RUN + "agents: {egreedy:linucb: {epsilon: 0.3}}\n")
    out = tmp_path / "out"
    agents = ["mypkg.agents:Freshest", "egreedy:linucb"]
    drnsim("compare", "--agents", ",".join(agents), "--days", "0.05", "--config", config,
           "--out", out, "--no-progress", cwd=tmp_path)  # the user's package is in cwd
    assert_complete(out, agents, [0])
    assert "epsilon: 0.3" in (out / "config.yaml").read_text()


def test_agents_lists_every_family():
    names = drnsim("agents").stdout.split()
    assert {"random", "popular", "oracle", "linucb", "hlinucb", "drn", "drn:ddqn+u+eg",
            "static:lr", "online:din", "egreedy:<agent>", "module:Class"} <= set(names)


def test_bench_prints_visits_per_second():
    result = drnsim("bench", "--users", "1500", "--seconds", "0.2")
    rates = re.findall(r"([\d,]+) visits/s", result.stdout)
    assert len(rates) == 3 and all(int(r.replace(",", "")) > 0 for r in rates)


def test_a_kill_leaves_no_partial_summary_and_a_rerun_completes(tmp_path, tiny):
    agents, seeds = ["random", "popular", "linucb", "egreedy:popular"], [0, 1, 2]
    args = ["compare", "--agents", ",".join(agents), "--seeds", "0,1,2", "--days", "0.1",
            "--config", tiny, "--no-progress"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([*COMMAND, *map(str, args), "--out", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("runs/*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, "finished before the kill"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(out.glob("runs/*.parquet")))
    assert 1 <= finished < len(agents) * len(seeds)
    assert not (out / "summary.csv").exists()
    assert not (out / "metrics.csv").exists()

    result = drnsim(*args, "--out", out)
    assert f"reusing {finished} finished run(s)" in result.stdout
    resumed = assert_complete(out, agents, seeds)
    fresh = tmp_path / "fresh"
    drnsim(*args, "--out", fresh)
    assert (fresh / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()
    assert len(resumed) > 0


@pytest.mark.parametrize("config, args, expected", [
    ("world: {n_users: 10\n", [], "malformed YAML"),
    ("world: {n_user: 10}\n", [], "unknown WorldConfig key(s) ['n_user']"),
    ("wrld: {}\n", [], "unknown key(s) ['wrld']"),
    ("agents: {linucb: {alfa: 1}}\n", [], "unknown keyword argument(s) ['alfa']"),
    (None, ["--agents", "random,nosuchagent"], "unknown agent 'nosuchagent'"),
    (None, ["--agents", "mypkg.nothere:Agent"], "cannot import agent class"),
    (None, ["--backend", "ray", "--address", "127.0.0.1:1"],
     "cannot reach a Ray cluster at 127.0.0.1:1"),
    (None, ["--seeds", "0,x"], "--seeds must be comma-separated integers"),
    (None, ["--days", "-1"], "days must be a finite number > 0"),
    (None, ["--device", "tpu"], "--device must be auto, cpu or cuda"),
])
def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path, config, args, expected):
    cli = ["compare", "--out", tmp_path / "out"]
    if config is not None:
        (tmp_path / "bad.yaml").write_text(config)
        cli += ["--config", tmp_path / "bad.yaml"]
    if "--agents" not in args:
        cli += ["--agents", "random,linucb"]
    result = drnsim(*cli, *args, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert expected in lines[0]
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_missing_results_folder_for_plot_is_an_error(tmp_path):
    result = drnsim("plot", tmp_path, check=False)
    assert result.returncode == 2 and "no metrics.csv" in result.stderr


def test_readme_config_example_loads_and_builds_its_agents(tmp_path):
    from drnsim.cli import agent_spec
    from drnsim.results import Experiment

    block = re.search(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    (tmp_path / "example.yaml").write_text(block)
    experiment = Experiment.from_yaml(tmp_path / "example.yaml")
    assert experiment.world.n_users == 2000 and experiment.seeds == [0, 1, 2]
    for name, kwargs in experiment.agents.items():
        assert agent_spec(name, kwargs, "cpu").name == name
