"""The ``drnsim`` command: run, compare, plot, bench, agents, convert, calibrate.

    drnsim compare --agents random,popular,linucb,drn --seeds 0,1 --days 1 --out results/x
    drnsim run --agent drn --days 1 --seed 0 --out results/drn
    drnsim plot results/x            # redraw the PNGs from metrics.csv
    drnsim agents                    # every agent name
    drnsim bench                     # env throughput, a few seconds
    drnsim ope --logs logs.parquet --candidates cands.parquet --policy linucb
    drnsim convert ml-100k --out logs.parquet         # a public dataset as drnsim logs
    drnsim calibrate logs.parquet --out results/cal   # a world fitted to logs, with a report

``--config FILE.yaml`` sets the world, the agents' constructor keywords and the run settings
(`drnsim.results.Experiment` documents the layout; a results folder's ``config.yaml`` is one);
command-line options override it. An agent named by import path (``module:Class``) in a
config file is imported only with ``--allow-import``: opening someone's config must not run
their code. The current folder goes on ``sys.path`` (after the installed packages) only when
an import path is to be imported.

Every expected error (bad input: malformed YAML, unknown keys or agents, values out of range
or of the wrong type, a size that cannot fit in memory, a results folder that is not
drnsim's, an unwritable or full disk, an unreachable Ray cluster) ends with one line
``error: ...`` on stderr and exit code 2, before any simulation where the input decides it.
A traceback means a bug (in drnsim, or in a user's agent while it runs); ``drnsim --debug
COMMAND ...`` shows the traceback of expected errors too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from drnsim import _validate
from drnsim._validate import InvalidTypeError
from drnsim.results import DEVICES, Experiment

app = typer.Typer(help="Simulate online-learning news recommenders (DRN and its lineage).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)

F = TypeVar("F", bound=Callable[..., Any])
SUMMARY_METRICS = ("ctr", "reward", "ils", "activeness", "return_rate", "regret")
#: Longest timing `drnsim bench` accepts per configuration, in seconds.
MAX_BENCH_SECONDS = 3600.0

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="YAML with world:, agents: and run: sections (see `drnsim.results`).")]
DaysOption = Annotated[float | None, typer.Option(help="Simulated days per run [default: 1].")]
OutOption = Annotated[str, typer.Option(
    help="Results folder: new, empty, or one drnsim wrote (resumes a killed run).")]
DeviceOption = Annotated[str | None, typer.Option(
    help="Torch device of the learning agents: auto (cuda when available), cpu or cuda.")]
ProgressOption = Annotated[bool, typer.Option(help="Show progress bars.")]
WorldOption = Annotated[list[str] | None, typer.Option(
    "--world", help="Override a world setting, KEY=VALUE (repeatable), e.g. n_users=2000.")]
AllowImportOption = Annotated[bool, typer.Option(
    "--allow-import", help="Allow agents named by import path (module:Class) in --config: "
    "importing them runs that module's code.")]


class _State:
    debug = False


@app.callback()
def options(debug: Annotated[bool, typer.Option(
        "--debug", help="Show the Python traceback of errors too.")] = False) -> None:
    """Simulate online-learning news recommenders (DRN and its lineage)."""
    _State.debug = debug


def one_line(exc: BaseException) -> str:
    """An exception as one line: the message, or for an OS error the file and the reason."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror}"
    elif isinstance(exc, MemoryError):
        message = f"out of memory{': ' + str(exc) if str(exc) else ''}"
    else:
        message = str(exc)
    return " ".join(message.split()) or type(exc).__name__


@contextlib.contextmanager
def input_errors() -> Iterator[None]:
    """Around the checks of the command's input: a TypeError there (an unknown keyword, a
    value of the wrong type) is the user's input, not a bug, so it becomes a ValueError."""
    try:
        yield
    except TypeError as exc:
        if isinstance(exc, ValueError):
            raise
        raise ValueError(str(exc)) from exc


def friendly_errors(command: F) -> F:
    """Turn expected errors (ValueError, a missing module, an OS error such as a full disk,
    an unreachable Ray cluster, running out of memory) into one ``error: ...`` line on
    stderr and exit code 2; Ctrl-C into exit 130. Other exceptions are bugs: their traceback
    shows. With ``--debug``, every traceback shows."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ValueError, ImportError, ConnectionError, OSError, MemoryError) as exc:
            if _State.debug:
                raise
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            if _State.debug:
                raise
            typer.echo("interrupted: finished runs are kept; the same command resumes", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def main(args: list[str] | None = None) -> None:
    """The console script: `app`, with command-line usage errors (an unknown option, a
    value typer cannot parse) also as one ``error: ...`` line and exit code 2."""
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        code = app(args=args, prog_name="drnsim", standalone_mode=False)
    except click_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `drnsim`: the help
            typer.echo(exc.format_message())
            sys.exit(0)
        hint = (f" (see `{exc.ctx.command_path} --help`)"
                if getattr(exc, "ctx", None) is not None else "")
        typer.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


# ---------------------------------------------------------------------------------------
@app.command()
@friendly_errors
def run(agent: Annotated[str, typer.Option(help="Agent name (`drnsim agents`) or "
                                           "module:Class.")],
        out: OutOption, days: DaysOption = None,
        seed: Annotated[int | None, typer.Option(help="World seed [default: 0].")] = None,
        world: WorldOption = None, config: ConfigOption = None, device: DeviceOption = None,
        allow_import: AllowImportOption = False, progress: ProgressOption = True) -> None:
    """Run one agent on one world (after the logged pre-period) and write its results."""
    with input_errors():
        experiment = build_experiment(config, [agent], None if seed is None else [seed],
                                      days, None, device, world, allow_import)
    execute(experiment, out, "local", None, progress)


@app.command()
@friendly_errors
def compare(out: OutOption,
            agents: Annotated[str | None, typer.Option(
                help="Comma-separated agent names [default: the config's agents].")] = None,
            seeds: Annotated[str | None, typer.Option(
                help="Comma-separated world seeds [default: 0].")] = None,
            days: DaysOption = None,
            baseline: Annotated[str | None, typer.Option(
                help="Agent for the paired lift [default: random, when compared].")] = None,
            backend: Annotated[str, typer.Option(help="local, or ray (pip install "
                                                 "'drnsim[ray]').")] = "local",
            address: Annotated[str | None, typer.Option(
                help="Ray cluster address (HOST:PORT or ray://HOST:10001) [default: start "
                     "a local Ray].")] = None,
            world: WorldOption = None, config: ConfigOption = None,
            device: DeviceOption = None, allow_import: AllowImportOption = False,
            progress: ProgressOption = True) -> None:
    """Run several agents on identical worlds (same seeds) and write the comparison."""
    if backend not in ("local", "ray"):
        raise ValueError(f"--backend must be 'local' or 'ray', got {backend!r}")
    if address is not None and backend != "ray":
        raise ValueError("--address needs --backend ray")
    seed_list = None if seeds is None else parse_ints(seeds, "--seeds")
    agent_list = None if agents is None else split_names(agents)
    if agent_list is not None and len(set(agent_list)) < len(agent_list):
        repeated = sorted({a for a in agent_list if agent_list.count(a) > 1})
        raise ValueError(f"--agents names {repeated} more than once; each agent runs once")
    with input_errors():
        experiment = build_experiment(config, agent_list, seed_list, days, baseline, device,
                                      world, allow_import)
    execute(experiment, out, backend, address, progress)


@app.command()
@friendly_errors
def plot(folder: Annotated[Path, typer.Argument(help="A results folder.")]) -> None:
    """Redraw the PNG plots of a results folder from its metrics.csv."""
    from drnsim.results import CONFIG, ResultsFolder, load_metrics, write_plots

    frame = load_metrics(folder)
    results = ResultsFolder.open(folder, create=False)
    baseline = None
    if (folder / CONFIG).exists():
        baseline = Experiment.from_yaml(folder / CONFIG).baseline
    for path in write_plots(results, frame, baseline):
        typer.echo(str(path))


@app.command()
@friendly_errors
def bench(users: Annotated[int, typer.Option(help="Users in the world.")] = 10_000,
          seconds: Annotated[float, typer.Option(
              help=f"Timing per configuration (at most {MAX_BENCH_SECONDS:g}).")] = 1.0
          ) -> None:
    """Visits per second of the single-visit and the vector env, random scores (the full
    benchmark: benchmarks/env_throughput.py)."""
    from drnsim.config import WorldConfig
    from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv

    with input_errors():
        users = _validate.int_at_least("--users", users, 1)
        seconds = _validate.number("--seconds", seconds, 0.0, MAX_BENCH_SECONDS, low_open=True)
        world = WorldConfig(n_users=users, episode_days=365.0)
        world.check_memory(1024)
    typer.echo(f"{users:,} users, {seconds:g} s per configuration")
    for batch in (None, *(b for b in (64, 1024) if b <= users)):
        env = (NewsFeedEnv(config=world) if batch is None
               else NewsFeedVectorEnv(batch, config=world))
        rate = visits_per_second(env, seconds)
        typer.echo(f"  {'single env' if batch is None else f'vector B={batch}':<15}"
                   f"{rate:>12,.0f} visits/s")
        env.close()


@app.command()
@friendly_errors
def ope(logs: Annotated[Path, typer.Option(help="Logged impressions (.parquet or .csv, the "
                                           "drnsim.logs schema with propensities).")],
        policy: Annotated[str, typer.Option(help="Target policy: an agent name (`drnsim "
                                            "agents`), random or oracle.")],
        candidates: Annotated[Path | None, typer.Option(
            help="The candidates table of the logged visits (collect_logs(..., "
                 "candidates=True)); needed unless every visit showed all its "
                 "candidates.")] = None,
        estimators: Annotated[str | None, typer.Option(
            help="Comma-separated estimators [default: all of naive, dm, ips, snips, iips, "
                 "rips, pi, dr, dr_iips].")] = None,
        train_logs: Annotated[Path | None, typer.Option(
            help="Logs to train a learning target on [default: --logs itself].")] = None,
        reward_model: Annotated[str, typer.Option(
            help="Zoo model of DM and DR's reward model.")] = "lr",
        interval: Annotated[str, typer.Option(help="analytic or bootstrap.")] = "analytic",
        truth: Annotated[bool, typer.Option(
            help="Add the hidden truth on the logged visits (simulator logs with truth).")
                         ] = False,
        seed: Annotated[int, typer.Option(help="Seed of training and Monte Carlo.")] = 0,
        out: Annotated[Path | None, typer.Option(
            help="CSV to write (an earlier ope table there is replaced, any other file kept) "
                 "[default: results/ope/LOGS_POLICY.csv, never replacing a file].")] = None,
        world: WorldOption = None, config: ConfigOption = None) -> None:
    """Estimate a target policy's value from logged slates: every off-policy estimator with
    its 95% interval."""
    from drnsim.agents import import_path
    from drnsim.logs import check_logs, load_logs
    from drnsim.ope import evaluate
    from drnsim.ope.evaluate import COLUMNS
    from drnsim.results import write_csv

    base = Experiment.from_yaml(config) if config is not None else Experiment()
    cfg = base.world.replace(**parse_world(world)) if world else base.world
    if interval not in ("analytic", "bootstrap"):
        raise ValueError(f"--interval must be analytic or bootstrap, got {interval!r}")
    _validate.seed("--seed", seed)
    if out is not None:  # before any work: a path that cannot be written is refused first
        check_replaceable(out, ",".join(COLUMNS))
    frames = {name: load_logs(path) if path is not None else None for name, path in
              (("logs", logs), ("candidates", candidates), ("train", train_logs))}
    if frames["train"] is not None:  # --logs and --candidates are checked by evaluate
        try:
            check_logs(frames["train"])
        except ValueError as exc:
            raise ValueError(f"--train-logs {train_logs}: {exc}") from None
    # a user policy (module:Class) from the current folder, after the installed packages
    if import_path(policy) is not None and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    with input_errors():
        table, diagnostics = evaluate(
            frames["logs"], policy, candidates=frames["candidates"],
            estimators=None if estimators is None else split_names(estimators, "--estimators"),
            config=cfg,
            train_logs=frames["train"], reward_model=reward_model, interval=interval,
            seed=seed, with_truth=truth)
    typer.echo(format_estimates(table))
    typer.echo(f"\noverlap (share of logged slots where {policy} shows the same item): "
               f"{diagnostics.overlap:.3f}")
    if train_logs is None and policy not in ("random", "oracle"):
        typer.echo(f"note: {policy} learns (if at all) from --logs itself; give --train-logs "
                   "to keep the target independent of the rewards it is evaluated on")
    path = out if out is not None else unused_path(
        Path("results") / "ope" / f"{logs.stem}_{safe_name(policy)}.csv")
    write_csv(path, table)
    typer.echo(f"wrote {path}")


def format_estimates(table: Any) -> str:
    """Estimator x metric as 'estimate [low, high]', with the notes."""
    cells = table.assign(cell=[
        f"{e:.4g}" if math.isnan(lo) else f"{e:.4g} [{lo:.4g}, {hi:.4g}]"
        for e, lo, hi in zip(table["estimate"], table["low"], table["high"], strict=True)])
    wide = cells.pivot(index="estimator", columns="metric", values="cell")
    order = list(dict.fromkeys(table["estimator"]))
    wide = wide.reindex(order)[["clicks_per_visit", "ctr"]]
    wide["note"] = table.drop_duplicates("estimator").set_index("estimator")["note"]
    return wide.rename_axis(None).rename_axis(None, axis=1).to_string()


def safe_name(name: str) -> str:
    """A policy name as a file-name part (``static:lr`` -> ``static-lr``)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def check_replaceable(path: Path, header: str) -> None:
    """ValueError unless ``path`` is new or an earlier table with this CSV ``header`` (what
    `drnsim ope --out` may replace): a user's other file is never overwritten."""
    if not path.exists():
        return
    try:
        with path.open(encoding="utf-8") as file:
            first = file.readline().strip()
    except (OSError, UnicodeDecodeError):
        first = None
    if first != header:
        raise ValueError(f"--out {path} exists and is not a drnsim ope table: drnsim replaces "
                         "only its own tables; choose a new path or remove the file")


def unused_path(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3, ... before the suffix if it exists (a default
    output never replaces a file)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


@app.command("calibrate")
@friendly_errors
def calibrate_command(
        logs: Annotated[Path, typer.Argument(
            help="Logs: a .parquet/.csv logs file, or a MIND or MovieLens-100k folder.")],
        out: Annotated[Path, typer.Option(help="Folder for world.yaml, parameters.csv, "
                                          "fidelity.csv, fidelity.png, report.md.")],
        config: Annotated[Path | None, typer.Option(
            "--config", help="YAML whose world: section is the base for what the logs "
                             "leave open [default: the default world].")] = None,
        world: WorldOption = None,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the "
                                          "simulations.")] = 0,
        bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of users "
                                               "(intervals), 20 to 10000.")] = 200,
        sim_users: Annotated[int, typer.Option(help="Users in the simulations that fit the "
                                               "attractiveness weights, at least 16.")] = 2000,
        sim_seeds: Annotated[int, typer.Option(help="Simulated worlds averaged in that "
                                               "fit, 1 to 100.")] = 3,
        progress: ProgressOption = True) -> None:
    """Fit a world to logs (the parameters logs identify, with 95% intervals) and write it
    as world.yaml (a --config for compare), with a fidelity report of real vs simulated
    statistics."""
    from drnsim.calibrate import (
        calibrate,
        check_options,
        check_output_folder,
        fidelity,
        write_calibration,
    )
    from drnsim.datasets import read_logs

    check_options(seed, bootstrap, sim_users, sim_seeds, flags=True)
    check_output_folder(out, "--out")
    base = Experiment.from_yaml(config).world if config is not None else Experiment().world
    if world:
        base = base.replace(**parse_world(world))
    echo = typer.echo if progress else (lambda _: None)
    echo(f"reading {logs}")
    frame = read_logs(logs)
    result = calibrate(frame, base=base, seed=seed, n_bootstrap=bootstrap,
                       sim_users=sim_users, sim_seeds=sim_seeds, echo=echo)
    echo("simulating the fitted world for the fidelity report")
    report = fidelity(frame, result.world, seed=seed)
    paths = write_calibration(out, result, report, source=str(logs))
    table = result.parameters[["parameter", "value", "low", "high"]]
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    typer.echo("")
    typer.echo(report.table[["statistic", "real_mean", "sim_mean", "distance",
                             "distance_kind"]].to_string(index=False,
                                                         float_format=lambda v: f"{v:.4g}"))
    typer.echo(f"\nwrote {', '.join(str(p) for p in paths)}")


@app.command()
@friendly_errors
def convert(source: Annotated[Path, typer.Argument(
                help="A MIND folder (behaviors.tsv, news.tsv) or a MovieLens-100k folder "
                     "(u.data, u.item, u.user).")],
            out: Annotated[Path, typer.Option(help="Logs file to write (.parquet or .csv); "
                                              "must not exist.")]) -> None:
    """Turn a public dataset into drnsim logs (see drnsim.datasets for the conversion)."""
    from drnsim.datasets import read_logs
    from drnsim.logs import save_logs

    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--out must end in .parquet or .csv, got {out.name!r}")
    if out.exists():
        raise ValueError(f"--out {out} already exists; remove it or choose another path")
    if not source.is_dir():
        raise ValueError(f"{source}: not a folder (give a MIND or MovieLens-100k folder)")
    frame = read_logs(source)
    save_logs(frame, out)
    typer.echo(f"{len(frame):,} impressions, {frame['visit_id'].nunique():,} visits, "
               f"{frame['user_id'].nunique():,} users -> {out}")


@app.command("agents")
def list_agents() -> None:
    """List every agent name (patterns for the wrappers and user classes)."""
    from drnsim.agents import known_agents

    for name in known_agents():
        typer.echo(name)


# ---------------------------------------------------------------------------------------
def split_names(text: str, option: str = "--agents") -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty list or an empty entry (``"a,,b"``, ``"a,"``)
    is an error naming the option."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(f"{option} expects comma-separated names with none empty, got "
                         f"{text!r}")
    return names


def parse_ints(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in split_names(text, option)]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}") from None


def parse_device(device: str) -> str:
    """--device: 'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without one is an
    error (`drnsim.models.training.resolve_device` decides)."""
    if device not in DEVICES:
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    from drnsim.models.training import resolve_device as torch_device

    return torch_device(device).type


def parse_world(settings: list[str]) -> dict[str, Any]:
    """``["n_users=2000", "click_model=cascade"]`` -> a dict (values parsed as YAML 1.2,
    bounded: ``item_noise=1e-3`` is a number)."""
    from drnsim._yaml import load_yaml

    pairs = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--world must be KEY=VALUE, got {setting!r}")
        if key.strip() in pairs:
            raise ValueError(f"--world {key.strip()} is given twice; give each key once")
        pairs[key.strip()] = load_yaml(value, f"the value of --world {key.strip()}")
    return pairs


def build_experiment(config: Path | None, agents: list[str] | None, seeds: list[int] | None,
                     days: float | None, baseline: str | None, device: str | None,
                     world: list[str] | None = None, allow_import: bool = False) -> Experiment:
    """The config file's Experiment (or the defaults) with the command-line overrides: world
    settings, the agent list (keeping the config's keywords of the agents it names), seeds,
    days, baseline (default: ``random`` when it is compared) and the resolved device. An
    import path among the config's agents needs ``allow_import`` (the user's consent)."""
    base = Experiment.from_yaml(config) if config is not None else Experiment()
    if world:
        base = dataclasses.replace(base, world=base.world.replace(**parse_world(world)))
    chosen = base.agents if agents is None else {a: base.agents.get(a, {}) for a in agents}
    if not chosen:
        raise ValueError("no agents: give --agents/--agent or an 'agents:' section in --config")
    check_import_consent([a for a in chosen if agents is None or a not in agents], config,
                         allow_import)
    if baseline is None:
        baseline = base.baseline if base.baseline in chosen else None
        baseline = baseline or ("random" if "random" in chosen and len(chosen) > 1 else None)
    changes = {"seeds": seeds, "days": days}
    return dataclasses.replace(base, agents=chosen, baseline=baseline,
                               device=parse_device(device or base.device),
                               **{k: v for k, v in changes.items() if v is not None})


def check_import_consent(names: list[str], config: Path | None, allow_import: bool) -> None:
    """ValueError when an agent of the config file is an import path (its module's code
    would run on import) and the user has not passed --allow-import."""
    from drnsim.agents import import_path

    imported = [name for name in names if import_path(name) is not None]
    if imported and not allow_import:
        raise ValueError(f"config {config} names agent(s) {imported} by import path: "
                         "importing them runs their module's code, so drnsim does it only "
                         "with --allow-import (use it for configs you trust)")


def agent_spec(name: str, kwargs: dict[str, Any], device: str) -> Any:
    """What `drnsim.loop.compare` gets for one agent: the name itself when it needs no
    keywords, else an agent built with them (named ``name``). The device goes to agents whose
    constructor takes one. Unknown names or keywords raise ValueError naming the agent."""
    from drnsim.agents import make_agent

    extra = {"device": device} if device != "cpu" and "device" not in kwargs else {}
    try:
        try:
            agent = make_agent(name, **extra, **kwargs)
        except TypeError as exc:
            if not extra or isinstance(exc, InvalidTypeError) or "'device'" not in str(exc):
                raise
            agent = make_agent(name, **kwargs)  # an agent without a torch model
    except (TypeError, ValueError) as exc:
        message = str(exc)
        raise ValueError(message if repr(name) in message else f"agent {name!r}: {message}"
                         ) from exc
    if not (extra or kwargs):
        return name
    agent.name = name
    return agent


def execute(experiment: Experiment, out: str, backend: str, address: str | None,
            progress: bool) -> None:
    """Check everything (agents built once, the comparison's settings and memory, the
    results folder), then run the experiment into ``out`` and print the summary table and
    the files written."""
    from drnsim.agents import import_path
    from drnsim.loop import check_compare
    from drnsim.loop import compare as compare_agents
    from drnsim.results import OUTPUTS, prepare_folder, run_experiment, summary_table

    # user agents (module:Class) from the current folder; installed packages come first, so
    # that a file there cannot stand in for one of them
    if any(import_path(name) for name in experiment.agents) and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    with input_errors():
        specs = {name: agent_spec(name, kwargs, experiment.device)
                 for name, kwargs in experiment.agents.items()}
        check_compare(list(specs.values()), experiment.seeds, backend=backend,
                      address=address, progress=progress, **experiment.compare_kwargs())
    prepare_folder(out, experiment)
    if backend == "ray":
        from drnsim.loop import start_ray

        start_ray(address)
    started = time.perf_counter()

    def run_group(agents: list[str], seeds: list[int]) -> Any:
        return compare_agents([specs[a] for a in agents], seeds=seeds, backend=backend,
                              progress=progress and backend == "local",
                              **experiment.compare_kwargs())

    frame = run_experiment(experiment, out, run_group, batched=backend == "ray",
                           progress=progress and backend == "ray", echo=typer.echo)
    typer.echo(format_summary(summary_table(frame, experiment.baseline, list(specs)),
                              list(specs), experiment.baseline))
    typer.echo(f"\n{len(experiment.agents)} agent(s) x {len(experiment.seeds)} seed(s) x "
               f"{experiment.days:g} day(s) in {time.perf_counter() - started:.0f} s; wrote "
               f"{out}/{{config.yaml, {', '.join(OUTPUTS)}}}")


def format_summary(table: Any, agents: list[str], baseline: str | None) -> str:
    """Agents (rows, in the given order) x headline metrics as 'mean ±half-width of the 95%
    interval', and the paired CTR lift over the baseline."""
    import pandas as pd

    rows = table[table["metric"].isin(SUMMARY_METRICS)]
    cells = rows.assign(cell=[plus_minus(m, lo, h, n) for m, lo, h, n in zip(
        rows["mean"], rows["low"], rows["high"], rows["n_seeds"], strict=True)])
    wide = cells.pivot(index="agent", columns="metric", values="cell")
    wide = wide[[m for m in SUMMARY_METRICS if m in wide.columns]]
    if baseline is not None:
        lift = table[table["metric"] == "ctr"].set_index("agent")
        wide[f"ctr lift vs {baseline}"] = pd.Series({
            a: plus_minus(r.lift, r.lift_low, r.lift_high, r.n_seeds, "+")
            for a, r in lift.iterrows()})
    return wide.reindex(agents).rename_axis(None).rename_axis(None, axis=1).to_string()


def plus_minus(mean: float, low: float, high: float, n_seeds: int, sign: str = "") -> str:
    """'mean ±half-width' (just the mean for a single seed: no interval)."""
    text = f"{mean:{sign}.4g}"
    return text if n_seeds < 2 else f"{text} ±{(high - low) / 2:.2g}"


def visits_per_second(env: Any, seconds: float) -> float:
    """Step ``env`` with random scores for about ``seconds`` after a short warm-up."""
    import numpy as np

    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (16, *env.action_space.shape))
    actions = actions.astype(np.float32)
    per_step = getattr(env, "num_envs", 1)
    for action in actions[:4]:
        env.step(action)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % len(actions)])
        steps += 1
    return steps * per_step / (time.perf_counter() - start)


if __name__ == "__main__":
    app()
