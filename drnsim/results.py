"""Experiments and their results on disk: what `drnsim run` / `drnsim compare` write.

An `Experiment` is everything needed to re-run a comparison (world, agents with their
settings, seeds, days, pre-period, device); it round-trips through YAML, so the
``config.yaml`` of a results folder is itself a valid ``--config``. `run_experiment` runs it
into a folder::

    DIR/.drnsim-manifest.json  the files drnsim wrote here, with their SHA-256 checksums
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

A results folder is drnsim's only through its manifest (`ResultsFolder`): drnsim writes into
a new or empty folder, or one with a manifest, and refuses any other; it overwrites or removes
only files its manifest lists, with the checksum it recorded, so a user's own files in the
folder survive every run, failed or killed. A cached run is reused only when its key (every
setting, the drnsim version and source, and the source of a user's agent class: `code_digest`)
matches and its checksum verifies; otherwise it is run again.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import numbers
import os
import platform
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from drnsim import _validate
from drnsim._yaml import read_yaml
from drnsim.config import WorldConfig, _int_at_least, _non_negative, _positive, _probability

OUTPUTS = ("metrics.csv", "summary.csv", "reward.png", "ctr.png", "summary.png")
MANIFEST = ".drnsim-manifest.json"
CONFIG = "config.yaml"
RUNS = "runs"
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
        """Raise ValueError naming the first field outside its allowed values
        (InvalidTypeError, also a ValueError, for a value of the wrong type)."""
        if not isinstance(self.seeds, list) or not self.seeds:
            raise _validate.InvalidTypeError(f"seeds must be a non-empty list of integers in "
                                             f"[0, 2**63), got {self.seeds!r}")
        self.seeds = _validate.seeds("seeds", self.seeds)
        if not isinstance(self.agents, dict) or not all(
                isinstance(k, str) and isinstance(v, dict) for k, v in self.agents.items()):
            raise _validate.InvalidTypeError(f"agents must map agent names to keyword "
                                             f"dicts, got {self.agents!r}")
        if not isinstance(self.world, WorldConfig):
            raise _validate.InvalidTypeError(f"world must be a WorldConfig, got "
                                             f"{type(self.world).__name__}")
        for name in ("logging_policy", "device"):
            if not isinstance(getattr(self, name), str):
                raise _validate.InvalidTypeError(f"{name} must be a string, got "
                                                 f"{getattr(self, name)!r}")
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
        return _plain({"world": self.world.to_dict(), "agents": self.agents, "run": run,
                       "versions": versions()})

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
        world_section = _section(data, "world", source)
        try:
            world = WorldConfig.from_dict(world_section)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source} section 'world': {exc}") from exc
        agents = data.get("agents") or {}
        if isinstance(agents, list):
            bad = [name for name in agents if not isinstance(name, str)]
            if bad:
                raise ValueError(f"{source} section 'agents' must list agent names (strings), "
                                 f"got {bad[0]!r}")
            agents = {name: {} for name in agents}
        if not isinstance(agents, Mapping) or not all(
                isinstance(kw, Mapping) or kw is None for kw in agents.values()):
            raise ValueError(f"{source} section 'agents' must map agent names to keyword "
                             "arguments (or list agent names)")
        bad = [name for name in agents if not isinstance(name, str)]
        if bad:
            raise ValueError(f"{source} section 'agents': agent names must be strings, got "
                             f"{bad[0]!r}")
        try:
            return cls(agents={str(k): dict(v or {}) for k, v in agents.items()}, world=world,
                       **run)
        except ValueError as exc:
            raise ValueError(f"{source} section 'run': {exc}") from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        """Load a ``--config`` file (`drnsim._yaml.read_yaml`: bounded, YAML 1.2 numbers); a
        missing, unreadable, oversized or malformed file raises ValueError naming it."""
        path = Path(path)
        data = read_yaml(path, "config")
        return cls.from_dict(data or {}, source=f"config {path}")

    def compare_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `drnsim.loop.compare` (all but agents, seeds and backend)."""
        return dict(days=self.days, world=self.world, batch_size=self.batch_size,
                    log_days=self.log_days, logging_policy=self.logging_policy,
                    log_epsilon=self.log_epsilon, bucket_hours=self.bucket_hours)

    def run_key(self, agent: str, seed: int) -> str:
        """A digest of everything that determines the frame of one (agent, seed) run: the
        settings, the drnsim version and the source code behind the agent (`code_digest`;
        "unverifiable" when it cannot be read, and `RunCache` then never reuses the run)."""
        settings = {**self.compare_kwargs(), "world": self.world.to_dict(), "seed": seed,
                    "agent": agent, "kwargs": self.agents[agent], "device": self.device,
                    "drnsim": versions()["drnsim"],
                    "code": code_digest(agent) or "unverifiable"}
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars (and tuples) turned into plain Python for YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str | None):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# ---------------------------------------------------------------------------------------
# What decides a run besides its settings: the code
@functools.lru_cache(maxsize=1)
def drnsim_source_digest() -> str:
    """SHA-256 over drnsim's own source files, so that a changed simulator or agent in an
    editable install never reuses runs of the old code (the version alone would)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_digest(agent: str) -> str | None:
    """SHA-256 of the code behind agent ``agent``: drnsim's source (`drnsim_source_digest`)
    and, for a user's class named by import path (also inside ``egreedy:``/``ucb:``), the
    source of the class and of its module (`inspect.getsource`). None when that source
    cannot be read (a class defined in a notebook or an interactive session): such a run
    cannot be verified, and is never reused from the cache."""
    from drnsim.agents import import_path

    digest = hashlib.sha256(drnsim_source_digest().encode())
    target = import_path(agent)
    if target is not None:
        import importlib

        try:
            module = importlib.import_module(target[0])
            cls = getattr(module, target[1])
            digest.update(inspect.getsource(module).encode())
            digest.update(inspect.getsource(cls).encode())
        except (ImportError, AttributeError, OSError, TypeError, SyntaxError):
            return None
    return digest.hexdigest()


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
# Results folders: drnsim's files only
def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ResultsFolder:
    """A folder of results that records, in ``.drnsim-manifest.json``, every file drnsim
    wrote into it with its SHA-256, so that drnsim only ever replaces or removes its own files.

    `open` accepts a new path (created), an empty folder, or a folder with a manifest, and
    refuses anything else (a file, a folder of someone else's files) with a ValueError that
    names it and what it holds. `write` replaces a file only if the manifest lists it: a file
    of the user's with the same name is never overwritten. The manifest is written before the
    file is moved into place (with the old and the new checksum), so a kill at any moment
    leaves a folder whose files all verify."""

    def __init__(self, path: Path, files: dict[str, list[str]]):
        self.path = path
        self.files = files  # relative path -> accepted SHA-256 digests (newest first)

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> ResultsFolder:
        if isinstance(path, str) and not path.strip():
            raise ValueError("the results folder (--out) must be a path, got an empty string")
        if not isinstance(path, str | os.PathLike):
            raise _validate.InvalidTypeError(f"the results folder (--out) must be a path, "
                                             f"got {path!r}")
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"the results folder {path} is a file, not a folder: choose "
                             "another --out")
        manifest = path / MANIFEST
        if manifest.is_file():
            return cls(path, cls._read_manifest(manifest))
        if path.is_dir():
            held = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
            if held:
                shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5
                                               else "")
                legacy = (" (results of an older drnsim have no manifest: move them away)"
                          if CONFIG in held and RUNS + "/" in held else "")
                raise ValueError(f"{path} is not a drnsim results folder: it already holds "
                                 f"{shown}{legacy}; drnsim writes only into a new or empty "
                                 "folder, or one it wrote, so choose another --out")
        if not create:
            raise ValueError(f"{path} is not a drnsim results folder (no {MANIFEST})")
        path.mkdir(parents=True, exist_ok=True)
        folder = cls(path, {})
        folder._save()
        return folder

    @staticmethod
    def _read_manifest(manifest: Path) -> dict[str, list[str]]:
        try:
            data = json.loads(manifest.read_text())
            files = data["files"]
            assert isinstance(files, dict) and all(
                isinstance(k, str) and isinstance(v, list) for k, v in files.items())
        except (OSError, ValueError, KeyError, AssertionError, TypeError):
            raise ValueError(f"{manifest} is damaged: drnsim cannot tell which files in "
                             f"{manifest.parent} are its own; choose another --out") from None
        return files

    def _save(self) -> None:
        text = json.dumps({"drnsim_results": 1, "files": self.files}, indent=1, sort_keys=True)
        with atomic_path(self.path / MANIFEST) as tmp:
            tmp.write_text(text + "\n")

    def owns(self, name: str) -> bool:
        """True when drnsim wrote ``name`` (a path relative to the folder)."""
        return name in self.files

    def intact(self, name: str) -> bool:
        """True when ``name`` is drnsim's and still has a checksum drnsim recorded."""
        path = self.path / name
        return self.owns(name) and path.is_file() and file_digest(path) in self.files[name]

    def check_writable(self, name: str) -> None:
        """ValueError when ``name`` exists but is not drnsim's (a user's file)."""
        path = self.path / name
        if (path.exists() or path.is_symlink()) and not self.owns(name):
            raise ValueError(f"{path} exists and drnsim did not write it: refusing to "
                             "overwrite it; move it away or choose another --out")

    def write(self, name: str, writer: Callable[[Path], Any]) -> Path:
        """Write ``name`` atomically with ``writer(temporary_path)``; refuses to replace a
        file drnsim did not write."""
        self.check_writable(name)
        target = self.path / name
        with atomic_path(target) as tmp:
            writer(tmp)
            new = file_digest(tmp)
            self.files[name] = [new, *[d for d in self.files.get(name, []) if d != new][:1]]
            self._save()
        return target

    def remove(self, name: str) -> None:
        """Delete ``name`` if it is drnsim's and unchanged since drnsim wrote it."""
        if self.intact(name):
            (self.path / name).unlink()
        if not (self.path / name).exists():
            self.files.pop(name, None)
            self._save()

    def remove_temporary_files(self) -> None:
        """Delete the temporary files a killed run left (`atomic_path`'s names for drnsim's
        own files: ``.NAME.XXXXXXXX.tmp``); nothing else."""
        names = {*OUTPUTS, CONFIG, MANIFEST, *self.files}
        for folder in (self.path, self.path / RUNS):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
                match = TEMPORARY_NAME.match(tmp.name)
                if match and (str(tmp.parent.relative_to(self.path) / match.group(1))
                              .removeprefix("./") in names or _RUN_FILE.match(match.group(1))):
                    tmp.unlink(missing_ok=True)


#: `atomic_path`'s temporary file names, ``.NAME.XXXXXXXX.tmp`` (group 1: NAME).
TEMPORARY_NAME = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{8}\.tmp$")
_RUN_FILE = re.compile(r"^[A-Za-z0-9_.+@=-]{1,40}-seed\d+-[0-9a-f]{16}\.parquet$")


def _slug(agent: str) -> str:
    """A short, safe file-name prefix for an agent name (the key keeps names apart)."""
    return re.sub(r"[^A-Za-z0-9_.+@=-]", "_", agent)[:40] or "agent"


class RunCache:
    """One parquet file per finished (agent, seed) run of an experiment, under DIR/runs.
    File names are short (`_slug` of the agent, the seed, the 16-digit `run_key`), so that
    changed settings or code never reuse a run; a file is reused only when the folder's
    manifest verifies its checksum and the agent's code could be read (`code_digest`).
    ``notes`` collects one line per run that could not be reused, for the user."""

    def __init__(self, folder: ResultsFolder, experiment: Experiment):
        self.folder = folder
        self.experiment = experiment
        self.notes: list[str] = []

    def name(self, agent: str, seed: int) -> str:
        return f"{RUNS}/{_slug(agent)}-seed{seed}-{self.experiment.run_key(agent, seed)}.parquet"

    def path(self, agent: str, seed: int) -> Path:
        return self.folder.path / self.name(agent, seed)

    def has(self, agent: str, seed: int) -> bool:
        name = self.name(agent, seed)
        if not (self.folder.path / name).exists():
            return False
        if code_digest(agent) is None:
            self.notes.append(f"note: agent {agent!r}: its source cannot be read, so its "
                              f"cached run (seed {seed}) cannot be verified; running it again")
            return False
        if not self.folder.intact(name):
            self.notes.append(f"note: {self.folder.path / name} does not match the checksum "
                              "drnsim recorded (changed or damaged); running it again")
            return False
        return True

    def save(self, agent: str, seed: int, frame: pd.DataFrame) -> None:
        self.folder.write(self.name(agent, seed),
                          lambda tmp: frame.to_parquet(tmp, index=False))

    def load(self, agent: str, seed: int) -> pd.DataFrame:
        name = self.name(agent, seed)
        if not self.folder.intact(name):
            raise ValueError(f"{self.folder.path / name} changed while the experiment ran")
        return pd.read_parquet(self.folder.path / name)


def prepare_folder(out: str | Path, experiment: Experiment | None = None) -> ResultsFolder:
    """Open ``out`` as a `ResultsFolder` (refusing a file or another program's folder) and
    check, before anything runs, that every output drnsim will write is its own to replace.
    Temporary files of a killed run go. When the folder holds the outputs of a different
    experiment, those outputs (drnsim's, unchanged) are removed, so that a folder never shows
    results next to a config.yaml they do not belong to; a re-run of the same experiment
    removes nothing."""
    folder = ResultsFolder.open(out)
    for name in (CONFIG, *OUTPUTS):
        folder.check_writable(name)
        if (folder.path / name).exists() and not folder.intact(name):
            raise ValueError(f"{folder.path / name} changed since drnsim wrote it: refusing to "
                             "overwrite it; move it away or choose another --out")
    (folder.path / RUNS).mkdir(exist_ok=True)
    folder.remove_temporary_files()
    if experiment is not None and (folder.path / CONFIG).exists():
        previous = read_yaml(folder.path / CONFIG, "config")
        current = experiment.to_dict()
        if not isinstance(previous, dict) or {k: previous.get(k) for k in SECTIONS[:3]} != {
                k: current[k] for k in SECTIONS[:3]}:
            for name in OUTPUTS:
                folder.remove(name)
    return folder


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

    folder = prepare_folder(out, experiment)
    folder.write(CONFIG, lambda tmp: tmp.write_text(experiment.to_yaml()))
    cache = RunCache(folder, experiment)
    agents, seeds = list(experiment.agents), experiment.seeds
    missing = [(a, s) for s in seeds for a in agents if not cache.has(a, s)]
    for note in cache.notes:
        echo(note)
    if len(missing) < len(agents) * len(seeds):
        echo(f"reusing {len(agents) * len(seeds) - len(missing)} finished run(s) from "
             f"{folder.path / RUNS}")
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
    if frame.empty:
        raise ValueError(f"no visit was served in days={experiment.days:g} of this world "
                         f"(n_users={experiment.world.n_users}, mean_return_hours="
                         f"{experiment.world.mean_return_hours:g}): nothing to summarize; "
                         "simulate more days or more users")
    write_results(folder, frame, experiment.baseline, agents)
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


def summary_table(frame: pd.DataFrame, baseline: str | None = None,
                  agents: list[str] | None = None) -> pd.DataFrame:
    """`drnsim.loop.summarize` as a flat table (agent, metric, mean, low, high, ...), sorted
    by agent (in the order of ``agents``, else of the frame) and then by metric name."""
    from drnsim.metrics import summarize

    table = summarize(frame, baseline=baseline).reset_index()
    order = list(dict.fromkeys([*(agents or []), *frame["agent"].unique()]))
    rank = table["agent"].map({agent: i for i, agent in enumerate(order)})
    return (table.assign(_rank=rank).sort_values(["_rank", "metric"], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def _folder(out: str | Path | ResultsFolder) -> ResultsFolder:
    return out if isinstance(out, ResultsFolder) else ResultsFolder.open(out, create=False)


def write_plots(out: str | Path | ResultsFolder, frame: pd.DataFrame,
                baseline: str | None = None) -> list[Path]:
    """Reward and CTR curves with 95% bands, and the CTR summary bars, as PNGs in ``out``
    (a results folder: drnsim replaces only its own files)."""
    from drnsim.plotting import plot_curves, plot_summary

    folder = _folder(out)
    figures = {"reward.png": plot_curves(frame, "reward"), "ctr.png": plot_curves(frame, "ctr"),
               "summary.png": plot_summary(frame, "ctr", baseline=baseline)}
    return [folder.write(name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=120, format="png"))
            for name, fig in figures.items()]


def write_results(out: str | Path | ResultsFolder, frame: pd.DataFrame,
                  baseline: str | None = None, agents: list[str] | None = None) -> None:
    """metrics.csv, the plots, then summary.csv (last: its presence marks a complete run)."""
    folder = _folder(out)
    folder.write("metrics.csv", lambda tmp: frame.to_csv(tmp, index=False))
    write_plots(folder, frame, baseline)
    summary = summary_table(frame, baseline, agents)
    folder.write("summary.csv", lambda tmp: summary.to_csv(tmp, index=False))


def load_metrics(out: str | Path) -> pd.DataFrame:
    """The tidy frame of a results folder; ValueError when it has none."""
    path = Path(out) / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"no metrics.csv in {out}: run `drnsim compare --out {out}` first")
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    from drnsim.metrics import COLUMNS

    if list(frame.columns) != COLUMNS:
        raise ValueError(f"{path} is not a drnsim metrics file: its columns are "
                         f"{list(frame.columns)}, expected {COLUMNS}")
    return frame


__all__ = [
    "TEMPORARY_NAME", "Experiment", "ResultsFolder", "RunCache", "atomic_path", "code_digest",
    "file_digest", "load_metrics", "prepare_folder", "run_experiment", "summary_table",
    "versions", "write_csv", "write_figure", "write_plots", "write_results", "write_text",
]
