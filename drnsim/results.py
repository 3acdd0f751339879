"""Experiments and their results on disk: what `drnsim run` / `drnsim compare` write.

An `Experiment` is everything needed to re-run a comparison (world, agents with their
settings, seeds, days, pre-period, device); it round-trips through YAML, so the
``config.yaml`` of a results folder is itself a valid ``--config``. `run_experiment` runs it
into a folder::

    DIR/config.yaml          the Experiment, plus the package versions (written first)
    DIR/runs/*.parquet       one cached frame per (agent, seed, settings): the resume points
    DIR/metrics.csv          tidy frame: agent, seed, time, metric, value
    DIR/reward.png, ctr.png  curves over simulated time with 95% bands across seeds
    DIR/summary.png          episode CTR per agent (lift over the baseline when there is one)
    DIR/summary.csv          agent x metric: mean, 95% interval (and paired lift); written last

Every file is written atomically (a temporary file in the same folder, then `os.replace`),
so a killed run never leaves a half-written file under a final name, and ``summary.csv``
exists only once the whole experiment is complete. Re-running the same experiment into the
same folder reuses the cached runs and completes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import yaml

from drnsim.config import WorldConfig, _int_at_least, _non_negative, _positive, _probability

OUTPUTS = ("metrics.csv", "summary.csv", "reward.png", "ctr.png", "summary.png")
SECTIONS = ("world", "agents", "run", "versions")
DEVICES = ("auto", "cpu", "cuda")


# ---------------------------------------------------------------------------------------
# Atomic writes
@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; once the block has written it, flush it to
    disk and move it onto ``path`` in one `os.replace`. On any error the temporary file is
    removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_figure(path: str | Path, figure: Any) -> Path:
    """Save a matplotlib Figure as PNG."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, format="png")
    return Path(path)


# ---------------------------------------------------------------------------------------
# The experiment
@dataclass
class Experiment:
    """A comparison to run (the arguments of `drnsim.loop.compare`, plus each agent's
    constructor keywords and the device). YAML layout::

        world:  {n_users: 2000, ...}           # any WorldConfig field
        agents: {linucb: {alpha: 0.5}, drn: {}} # name -> constructor keywords (or a list)
        run:    {seeds: [0, 1], days: 1.0, ...} # the other fields below
    """

    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    world: WorldConfig = field(default_factory=WorldConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    days: float = 1.0
    log_days: float = 1.0
    logging_policy: str = "popular"
    log_epsilon: float = 0.1
    batch_size: int = 256
    bucket_hours: float = 1.0
    baseline: str | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        """Raise ValueError naming the first field outside its allowed values."""
        if not isinstance(self.seeds, list) or not self.seeds or any(
                isinstance(s, bool) or not isinstance(s, int) for s in self.seeds):
            raise ValueError(f"seeds must be a non-empty list of integers, got {self.seeds!r}")
        _positive("days", self.days)
        _positive("bucket_hours", self.bucket_hours)
        _non_negative("log_days", self.log_days)
        _probability("log_epsilon", self.log_epsilon)
        _int_at_least("batch_size", self.batch_size, 1)
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.baseline is not None and self.agents and self.baseline not in self.agents:
            raise ValueError(f"baseline {self.baseline!r} is not among the agents "
                             f"{list(self.agents)}")

    @classmethod
    def run_keys(cls) -> list[str]:
        """The keys of the ``run:`` section."""
        return [f.name for f in fields(cls) if f.name not in ("agents", "world")]

    def to_dict(self) -> dict[str, Any]:
        run = {key: getattr(self, key) for key in self.run_keys()}
        return {"world": self.world.to_dict(), "agents": self.agents, "run": run,
                "versions": versions()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> Experiment:
        """Build from the YAML layout; unknown sections or keys raise ValueError naming them
        (``versions`` is informational and ignored)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source} must be a YAML mapping with sections {SECTIONS[:3]}, "
                             f"got {type(data).__name__}")
        _no_unknown(data, SECTIONS, source)
        run = _section(data, "run", source)
        _no_unknown(run, cls.run_keys(), f"{source} section 'run'")
        try:
            world = WorldConfig.from_dict(_section(data, "world", source))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source} section 'world': {exc}") from exc
        agents = data.get("agents") or {}
        if isinstance(agents, list):
            agents = {name: {} for name in agents}
        if not isinstance(agents, Mapping) or not all(
                isinstance(kw, Mapping) or kw is None for kw in agents.values()):
            raise ValueError(f"{source} section 'agents' must map agent names to keyword "
                             "arguments (or list agent names)")
        try:
            return cls(agents={str(k): dict(v or {}) for k, v in agents.items()}, world=world,
                       **run)
        except ValueError as exc:
            raise ValueError(f"{source} section 'run': {exc}") from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        """Load a ``--config`` file; a missing file or malformed YAML raises ValueError."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ValueError(f"cannot read config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"malformed YAML in {path}{where}: {problem}") from exc
        return cls.from_dict(data or {}, source=f"config {path}")

    def compare_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `drnsim.loop.compare` (all but agents, seeds and backend)."""
        return dict(days=self.days, world=self.world, batch_size=self.batch_size,
                    log_days=self.log_days, logging_policy=self.logging_policy,
                    log_epsilon=self.log_epsilon, bucket_hours=self.bucket_hours)

    def run_key(self, agent: str, seed: int) -> str:
        """A digest of everything that determines the frame of one (agent, seed) run."""
        settings = {**self.compare_kwargs(), "world": self.world.to_dict(), "seed": seed,
                    "agent": agent, "kwargs": self.agents[agent], "device": self.device,
                    "drnsim": versions()["drnsim"]}
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _no_unknown(data: Mapping[str, Any], allowed: Any, where: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {list(allowed)}")


def _section(data: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{source} section {name!r} must be a mapping, "
                         f"got {type(value).__name__}")
    return dict(value)


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("drnsim", "numpy", "pandas", "torch", "gymnasium", "numba"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


# ---------------------------------------------------------------------------------------
# Running into a folder
class RunCache:
    """One parquet file per finished (agent, seed) run of an experiment, under DIR/runs;
    file names carry the experiment's `run_key`, so changed settings never reuse a run."""

    def __init__(self, folder: str | Path, experiment: Experiment):
        self.folder = Path(folder)
        self.experiment = experiment

    def path(self, agent: str, seed: int) -> Path:
        key = self.experiment.run_key(agent, seed)
        return self.folder / f"{quote(agent, safe='')}-seed{seed}-{key}.parquet"

    def has(self, agent: str, seed: int) -> bool:
        return self.path(agent, seed).exists()

    def save(self, agent: str, seed: int, frame: pd.DataFrame) -> None:
        with atomic_path(self.path(agent, seed)) as tmp:
            frame.to_parquet(tmp, index=False)

    def load(self, agent: str, seed: int) -> pd.DataFrame:
        return pd.read_parquet(self.path(agent, seed))


def prepare_folder(out: str | Path) -> Path:
    """Create ``out`` and remove the outputs of an earlier run in it (and temporary files a
    killed run left), so that what is there always belongs to the run in progress."""
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    for stale in [*out.glob(".*.tmp"), *(out / "runs").glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    return out


def run_experiment(experiment: Experiment, out: str | Path,
                   run: Callable[[list[str], list[int]], pd.DataFrame],
                   batched: bool = False, progress: bool = True,
                   echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Run ``experiment`` into the folder ``out`` and write its results (module docstring).

    ``run(agents, seeds)`` returns the frame of those agents on those seeds (e.g.
    `drnsim.loop.compare` with the experiment's settings). Local runs go one (agent, seed)
    at a time, each cached as soon as it ends; with ``batched`` (a parallel backend) the
    missing runs go out together, grouped into as few (agents x seeds) calls as possible.
    Cached runs are reused, so re-running after a kill completes the experiment."""
    from tqdm.auto import tqdm

    out = prepare_folder(out)
    write_text(out / "config.yaml", experiment.to_yaml())
    cache = RunCache(out / "runs", experiment)
    agents, seeds = list(experiment.agents), experiment.seeds
    missing = [(a, s) for s in seeds for a in agents if not cache.has(a, s)]
    if len(missing) < len(agents) * len(seeds):
        echo(f"reusing {len(agents) * len(seeds) - len(missing)} finished run(s) from "
             f"{out / 'runs'}")
    groups = _rectangles(missing) if batched else [([a], [s]) for a, s in missing]
    with tqdm(total=len(missing), unit="run", desc="runs", disable=not progress) as bar:
        for group_agents, group_seeds in groups:
            bar.set_postfix_str(f"{','.join(group_agents)} seed {','.join(map(str, group_seeds))}")
            frame = run(group_agents, group_seeds)
            for seed in group_seeds:
                for agent in group_agents:
                    part = frame[(frame["agent"] == agent) & (frame["seed"] == seed)]
                    cache.save(agent, seed, part.reset_index(drop=True))
                    bar.update()
    frame = pd.concat([cache.load(a, s) for s in seeds for a in agents], ignore_index=True)
    write_results(out, frame, experiment.baseline)
    return frame


def _rectangles(pairs: list[tuple[str, int]]) -> list[tuple[list[str], list[int]]]:
    """Group (agent, seed) pairs into (agents, seeds) products: seeds missing the same set
    of agents go together (one group on a fresh run)."""
    by_seed: dict[int, list[str]] = {}
    for agent, seed in pairs:
        by_seed.setdefault(seed, []).append(agent)
    groups: dict[tuple[str, ...], list[int]] = {}
    for seed, agents in by_seed.items():
        groups.setdefault(tuple(agents), []).append(seed)
    return [(list(agents), seeds) for agents, seeds in groups.items()]


def summary_table(frame: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """`drnsim.loop.summarize` as a flat table (agent, metric, mean, low, high, ...)."""
    from drnsim.loop import summarize

    return summarize(frame, baseline=baseline).reset_index()


def write_plots(out: str | Path, frame: pd.DataFrame, baseline: str | None = None) -> list[Path]:
    """Reward and CTR curves with 95% bands, and the CTR summary bars, as PNGs in ``out``."""
    from drnsim.plotting import plot_curves, plot_summary

    out = Path(out)
    return [write_figure(out / "reward.png", plot_curves(frame, "reward")),
            write_figure(out / "ctr.png", plot_curves(frame, "ctr")),
            write_figure(out / "summary.png", plot_summary(frame, "ctr", baseline=baseline))]


def write_results(out: str | Path, frame: pd.DataFrame, baseline: str | None = None) -> None:
    """metrics.csv, the plots, then summary.csv (last: its presence marks a complete run)."""
    out = Path(out)
    write_csv(out / "metrics.csv", frame)
    write_plots(out, frame, baseline)
    write_csv(out / "summary.csv", summary_table(frame, baseline))


def load_metrics(out: str | Path) -> pd.DataFrame:
    """The tidy frame of a results folder; ValueError when it has none."""
    path = Path(out) / "metrics.csv"
    if not path.exists():
        raise ValueError(f"no metrics.csv in {out}: run `drnsim compare --out {out}` first")
    return pd.read_csv(path)


__all__ = [
    "Experiment", "RunCache", "atomic_path", "load_metrics", "prepare_folder",
    "run_experiment", "summary_table", "versions", "write_csv", "write_figure", "write_plots",
    "write_results", "write_text",
]
