"""Calibration: known worlds fitted back from their logs, what the click bias means, the
fidelity report, and the command's files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from drnsim.calibrate import (
    calibrate,
    check_output_folder,
    fidelity,
    ks_distance,
    write_calibration,
)
from drnsim.cli import app
from drnsim.config import WorldConfig
from drnsim.logs import collect_logs, save_logs
from drnsim.results import Experiment

# Logs of the clicks-only return model (the long-term world's trade-off switched off where
# the config has it), which is the return model calibrate fits.
CLICKS_ONLY = ({"tradeoff_strength": 0.0}
               if "tradeoff_strength" in WorldConfig.field_names() else {})
SETTINGS = {
    "default": dict(position_bias_kappa=0.8, click_bias=-2.0, mean_return_hours=8.0,
                    news_per_hour=200.0),
    "steep, less clicky, frequent, slow news": dict(position_bias_kappa=1.2, click_bias=-3.0,
                                                    mean_return_hours=4.0, news_per_hour=100.0),
}
CHECKED = ("position_bias_kappa", "click_bias", "mean_return_hours", "news_per_hour")


def random_logs(n_users: int = 1500, days: float = 1.0, seed: int = 1, **world) -> pd.DataFrame:
    """Logs under a uniformly random ranking, so positions are randomised."""
    return collect_logs(WorldConfig(n_users=n_users, **CLICKS_ONLY, **world), None, days=days,
                        seed=seed)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_round_trip(setting):
    """Kappa, the click bias, the mean return gap and the news rate come back within 10%,
    each with an interval around the estimate."""
    truth = SETTINGS[setting]
    result = calibrate(random_logs(**truth), n_bootstrap=40, sim_users=1500, sim_seeds=2,
                       base=WorldConfig(**CLICKS_ONLY))
    table = result.parameters.set_index("parameter")
    for name in CHECKED:
        value, low, high = table.loc[name, ["value", "low", "high"]]
        assert value == pytest.approx(truth[name], rel=0.10), (name, value)
        assert low < value < high, (name, low, value, high)
        assert getattr(result.world, name) == value
    assert table.loc["n_users", "value"] == pytest.approx(1500, rel=0.05)


def test_click_bias_is_identified_only_given_the_hidden_weights():
    """The logs pin down the mean attractiveness of a shown item, not b0 itself: behind
    these logs is half the base's relevance weight, so the fit (which keeps the base's
    weight) puts b0 far from the truth, outside its own interval, while its world
    reproduces the logs' attractiveness."""
    result = calibrate(random_logs(relevance_weight=4.0), n_bootstrap=40, sim_users=1500,
                       sim_seeds=2, base=WorldConfig(**CLICKS_ONLY))
    value, low, high = result.parameters.set_index("parameter").loc[
        "click_bias", ["value", "low", "high"]]
    assert value < -2.3 and high < -2.0
    stats = result.statistics
    assert stats["simulated_log_c"] == pytest.approx(stats["real_log_c"], abs=0.05)


def test_a_noisy_simulation_fit_keeps_the_logs_attractiveness():
    """One small simulated world makes the statistics' Jacobian noisy (the dispersion's
    most): the fit takes only steps that fit the logs better, so it never walks away from
    the mean attractiveness it matched first (it once ended at log c -1.31 for -2.27)."""
    result = calibrate(random_logs(n_users=1000, relevance_weight=4.0), n_bootstrap=40,
                       sim_users=1000, sim_seeds=1, base=WorldConfig(**CLICKS_ONLY))
    stats = result.statistics
    assert stats["simulated_log_c"] == pytest.approx(stats["real_log_c"], abs=0.1)
    assert result.world.quality_weight >= 0


def test_poisson_fit_of_counts_at_one_end_is_steep_and_finite():
    """Every click at the youngest age: no maximum likelihood (the slope runs to -inf); the
    fit stops at a steep finite slope instead of failing on a singular matrix."""
    from drnsim.calibrate import _poisson_fit

    x = np.array([0.25, 10.0, 20.0, 40.0, 80.0])  # ages in hours: exp(b x) underflows
    exposure = np.array([100.0, 80, 60, 40, 20])
    a, b = _poisson_fit(x, np.array([30.0, 0, 0, 0, 0]), exposure)
    assert np.isfinite(a) and np.isfinite(b)
    assert (exposure * np.exp(a + b * x))[1:].sum() < 1e-3  # no clicks expected where none are


def test_ks_distance():
    assert ks_distance(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 0.0
    assert ks_distance(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert ks_distance(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0])) == 0.5


def test_fidelity_tells_a_wrong_world_from_the_right_one():
    """Against logs of a world, that world's simulation is closer in visits per user and
    gaps than a world whose users return 4x less often."""
    world = WorldConfig(n_users=800, **CLICKS_ONLY)
    logs = collect_logs(world, None, days=1.0, seed=4)
    right = fidelity(logs, world, seed=0).table.set_index("statistic")
    wrong = fidelity(logs, world.replace(mean_return_hours=32.0), seed=0).table.set_index(
        "statistic")
    for name in ("visits_per_user", "gap_hours", "clicks_per_user"):
        assert right.loc[name, "distance"] < right.loc[name, "critical_5pct"] * 1.5
        assert wrong.loc[name, "distance"] > 3 * right.loc[name, "distance"]
    assert right.loc["ctr_by_position", "distance"] < 0.2
    assert set(right["distance_kind"]) == {"relative L1", "Kolmogorov-Smirnov",
                                           "total variation (sorted shares)"}


@pytest.fixture(scope="module")
def frequent_logs():
    """Users who visit about hourly (every one appears in the day, so n_users' interval is
    under one user wide), 20 candidates a visit, few news (items are shown again and again)."""
    return random_logs(n_users=100, seed=3, mean_return_hours=1.0, n_candidates=20,
                       news_per_hour=5.0)


def test_counts_come_from_the_logs_and_every_interval_holds_its_value(frequent_logs):
    """n_users is a whole number and so are its bounds (a rounded 100 once lay below its
    unrounded interval [100.002, 100.061]); n_candidates is the logs' (20), not the base's."""
    result = calibrate(frequent_logs, n_bootstrap=20, sim_users=100, sim_seeds=1,
                       base=WorldConfig(**CLICKS_ONLY))
    table = result.parameters.set_index("parameter")
    inside = (table["low"] <= table["value"]) & (table["value"] <= table["high"])
    assert inside.all(), table[~inside]
    assert table.loc["n_users", ["low", "high"]].tolist() == [100, 101]
    assert table.loc["n_candidates", "value"] == 20 and result.world.n_candidates == 20


def test_logs_without_new_items_or_candidate_counts_keep_the_base(frequent_logs):
    """MovieLens-like logs: items dated by their first impression, each first shown in the
    first half of the span (no news to count), no n_valid_candidates column: news_per_hour
    and n_candidates stay at the base's, each with a note (news_per_hour 0 was an error)."""
    first = frequent_logs.groupby("item_id")["time"].transform("min")
    middle = (frequent_logs["time"].min() + frequent_logs["time"].max()) / 2
    logs = frequent_logs[first < middle].drop(columns="n_valid_candidates")
    logs = logs.assign(item_age=logs["time"] - first[logs.index])
    base = WorldConfig(**CLICKS_ONLY)
    result = calibrate(logs, n_bootstrap=20, sim_users=100, sim_seeds=1, base=base)
    assert result.world.news_per_hour == base.news_per_hour
    assert result.world.n_candidates == base.n_candidates
    assert not {"news_per_hour", "n_candidates"} & set(result.parameters["parameter"])
    notes = " ".join(result.notes)
    assert "news_per_hour is not identified" in notes
    assert "n_candidates is not identified" in notes


def test_a_population_under_sixteen_is_raised_with_a_note(frequent_logs):
    """Logs of 10 users fit n_users 10; the world gets 16 (the smallest that compare's
    batches allow), and the notes say so."""
    few = frequent_logs[frequent_logs["user_id"] < 10]
    result = calibrate(few, n_bootstrap=20, sim_users=100, sim_seeds=1,
                       base=WorldConfig(**CLICKS_ONLY))
    assert result.parameters.set_index("parameter").loc["n_users", "value"] == 10
    assert result.world.n_users == 16
    assert any("n_users (10) is below 16" in note for note in result.notes)


@pytest.fixture(scope="module")
def small_logs(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "logs.parquet"
    save_logs(random_logs(n_users=300, days=1.0, seed=2), path)
    return path


def test_calibrate_command_writes_a_valid_config(tmp_path, small_logs):
    out = tmp_path / "cal"
    args = ["calibrate", str(small_logs), "--out", str(out), "--bootstrap", "20",
            "--sim-users", "300", "--sim-seeds", "1", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"world.yaml", "parameters.csv", "fidelity.csv",
                                               "fidelity.png", "report.md"}
    experiment = Experiment.from_yaml(out / "world.yaml")
    parameters = pd.read_csv(out / "parameters.csv").set_index("parameter")
    assert experiment.world.click_bias == pytest.approx(parameters.loc["click_bias", "value"])
    assert set(pd.read_csv(out / "fidelity.csv")["statistic"]) >= {
        "ctr_by_position", "clicks_per_user", "visits_per_user", "gap_hours",
        "item_popularity", "click_age_hours"}
    report = (out / "report.md").read_text()
    assert "not identified by click logs" in report
    # the default base has the long-term world on; the fit is of the clicks-only world
    assert "tradeoff_strength set to 0" in report and experiment.world.tradeoff_strength == 0
    again = CliRunner().invoke(app, args)  # its own folder: rewritten
    assert again.exit_code == 0, again.output


def test_calibrate_command_errors(tmp_path, small_logs):
    runner = CliRunner()
    missing = runner.invoke(app, ["calibrate", str(tmp_path / "nope.parquet"), "--out",
                                  str(tmp_path / "o")])
    assert missing.exit_code == 2
    assert missing.output.splitlines()[-1].startswith("error: ") and "nope" in missing.output
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "report.md").write_text("my notes")
    refused = runner.invoke(app, ["calibrate", str(small_logs), "--out", str(foreign)])
    assert refused.exit_code == 2 and "not written by drnsim calibrate" in refused.output
    assert (foreign / "report.md").read_text() == "my notes"
    with pytest.raises(ValueError, match="n_bootstrap"):
        calibrate(pd.read_parquet(small_logs), n_bootstrap=3)


def test_write_calibration_refuses_a_foreign_world_yaml(tmp_path):
    (tmp_path / "world.yaml").write_text("world: {}\n")
    with pytest.raises(ValueError, match="world.yaml, not written by drnsim calibrate"):
        check_output_folder(tmp_path)
    with pytest.raises(ValueError):
        write_calibration(tmp_path, None, None)  # refused before anything is touched


def test_check_output_folder_reuses_only_a_folder_of_its_own_files(tmp_path):
    (tmp_path / "world.yaml").write_text("# written by drnsim calibrate from logs\n")
    (tmp_path / "report.md").write_text("an earlier report")
    (tmp_path / ".report.md.abcd1234.tmp").write_text("")  # left by a killed run
    assert check_output_folder(tmp_path) == tmp_path
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="out .* holds notes.txt, not written by drnsim "
                                         "calibrate"):
        check_output_folder(tmp_path)
