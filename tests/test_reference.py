"""The README's reference tables (observation, step info, logs columns, metrics) match what
the live environment, `collect_logs` and `compare` produce: every key documented, nothing
documented that does not exist, shapes and dtypes as written."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import drnsim
from drnsim.agents import make_agent
from drnsim.logs import LOG_COLUMNS, collect_logs

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = {"n_users": 300, "n_candidates": 30, "slate_size": 5,
         "history_length": 12}


def table(heading: str) -> list[list[str]]:
    """The rows (cells as text) of the first Markdown table after `heading`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    rows, started = [], False
    for line in text[start:].splitlines()[2:]:
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set(cells[0]) <= set("-: "):
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # drop the header


def names(cell: str) -> list[str]:
    """The backticked names of a cell: "`a`, `b`" -> ["a", "b"]."""
    return re.findall(r"`([^`]+)`", cell)


def documented(heading: str, dtype_column: int) -> dict[str, tuple[str, ...]]:
    """name -> (shape or '', dtype) for every name in the table under `heading`."""
    out = {}
    for row in table(heading):
        keys = names(row[0])
        dtypes = [d.strip() for d in row[dtype_column].split(",")]
        if len(dtypes) == 1:
            dtypes *= len(keys)
        assert len(dtypes) == len(keys), f"{heading}: one dtype per name in {row[0]}"
        shape = row[1].strip("`") if dtype_column == 2 else ""
        out.update({k: (shape, d) for k, d in zip(keys, dtypes, strict=True)})
    return out


def resolve_shape(shape: str, config: drnsim.WorldConfig) -> tuple[int, ...]:
    sizes = {"N": config.n_candidates, "K": config.slate_size, "H": config.history_length,
             "W": 4}
    inner = shape.strip("()").replace(" ", "")
    return tuple(sizes[p] if p in sizes else int(p) for p in inner.split(",") if p)


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = np.asarray(value)
    return out


@pytest.fixture(scope="module")
def stepped():
    env = gym.make(drnsim.ENV_ID, **SMALL)
    obs, _ = env.reset(seed=0)
    for _ in range(50):  # past the first visits, so that the info has clicks and gaps
        obs, _, _, _, info = env.step(env.action_space.sample())
    config = env.unwrapped.config
    env.close()
    return obs, info, config


def check_arrays(live: dict[str, np.ndarray], docs: dict[str, tuple[str, ...]],
                 config: drnsim.WorldConfig) -> None:
    assert sorted(live) == sorted(docs), "README table and live keys differ"
    for key, value in live.items():
        shape, dtype = docs[key]
        assert value.shape == resolve_shape(shape, config), key
        assert value.dtype == np.dtype(dtype), key


def test_observation_table_matches_the_live_observation(stepped):
    obs, _, config = stepped
    check_arrays(flatten(obs), documented("### Observation (`obs_mode=\"dict\"`)", 2), config)


def test_info_table_matches_the_live_step_info(stepped):
    _, info, config = stepped
    check_arrays(flatten(info), documented("### Step `info`", 2), config)


def test_logs_table_matches_the_collected_logs():
    logs = collect_logs(drnsim.WorldConfig(**SMALL), make_agent("popular"), days=0.05,
                        seed=0, epsilon=0.3)
    docs = documented("### Logs columns (`collect_logs`, one row per shown item)", 1)
    assert sorted(docs) == sorted(logs.columns), "README logs table and live columns differ"
    for column, (_, dtype) in docs.items():
        expected = np.dtype(object) if dtype == "list" else np.dtype(dtype)
        assert logs[column].dtype == expected, column
    required = {name for row in table("### Logs columns (`collect_logs`, one row per shown item)")
                if row[-1].startswith("no") for name in names(row[0])}
    assert required == set(LOG_COLUMNS), "the 'optional' column disagrees with LOG_COLUMNS"


def test_metrics_table_names_every_metric_of_a_run():
    frame = drnsim.compare(["popular"], seeds=(0,), days=2.0, world=SMALL, progress=False)
    docs = {n.replace("@K", f"@{SMALL['slate_size']}")
            for row in table("### Metrics (`compare`'s tidy frame, `summary.csv`)")
            for n in names(row[0])}
    produced = set(frame["metric"].unique())
    assert produced <= docs, f"undocumented metrics: {produced - docs}"
    missing = docs - produced
    assert all(re.fullmatch(r"retention@\d+d", m) for m in missing), missing
    assert "retention@1d" in produced  # two days cover day 1
