"""Readers of public formats: the simulator's derived features, the documented conversions,
and errors that name the file and the line."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from drnsim.cli import app
from drnsim.config import DAY, HOUR, WorldConfig
from drnsim.datasets import logs_from_events, read_logs, read_mind, read_movielens
from drnsim.envs import visits_per_step
from drnsim.features import FeatureSpec, batch_from_logs
from drnsim.logs import LOG_COLUMNS, LOG_HISTORY, collect_logs, load_logs

GENRES = 19


# ---------------------------------------------------------------------------------------
def test_replay_gives_the_simulators_features():
    """Raw impressions of simulated logs, replayed in the env's batches, give back every
    logged column: popularity windows, histories, user-news counts, ages, gaps, clock."""
    cfg = WorldConfig(n_users=400, n_topics=6, n_providers=9, history_length=20)
    logs = collect_logs(cfg, None, days=1.5, seed=3, batch_size=64)
    batch = visits_per_step(64, cfg.n_users)
    impressions = logs[["visit_id", "user_id", "time", "position", "click", "item_id"]].assign(
        batch=logs["visit_id"] // batch)
    items = logs.assign(pub_time=logs["time"] - logs["item_age"].astype(np.float64))
    items = items.drop_duplicates("item_id")[["item_id", "topic", "provider", "pub_time"]]
    users = logs.drop_duplicates("user_id")[["user_id", "user_age", "user_gender",
                                             "user_region", "user_device"]]
    replayed = logs_from_events(impressions, items, users, history_length=20, group="batch")
    assert (replayed["hist_item_id"].map(len) > 5).any() and (replayed["pop_1h"] > 0).any()
    expect = logs.sort_values(["visit_id", "position"], ignore_index=True)
    got = replayed.sort_values(["visit_id", "position"], ignore_index=True)
    for column in LOG_COLUMNS:
        if column in LOG_HISTORY:
            for a, b in zip(got[column], expect[column], strict=True):
                # the simulator keeps click times in float32: ages differ by < 0.05 s
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=0.05, err_msg=column)
        else:
            np.testing.assert_allclose(got[column].to_numpy(np.float64),
                                       expect[column].to_numpy(np.float64), rtol=1e-5,
                                       atol=1e-5, err_msg=column)


def test_visits_at_one_time_do_not_see_each_others_clicks():
    """Default groups are timestamps: a click is visible from the next timestamp on, as a
    decayed count and in the user's history."""
    impressions = pd.DataFrame({"visit_id": [0, 1, 2], "user_id": [0, 1, 0],
                                "time": [0.0, 0.0, 1800.0], "position": [0, 0, 0],
                                "click": [1, 0, 0], "item_id": [5, 5, 5]})
    logs = logs_from_events(impressions).set_index("visit_id")
    assert logs.loc[1, "pop_1h"] == 0 and logs.loc[1, "history_length"] == 0
    assert logs.loc[2, "pop_1h"] == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert logs.loc[2, "pop_1w"] == pytest.approx(math.exp(-1800 / (7 * DAY)), rel=1e-6)
    assert list(logs.loc[2, "hist_item_id"]) == [5] and logs.loc[2, "topic_clicks_1h"] == 1
    assert logs.loc[2, "since_last_visit"] == 1800 and logs.loc[0, "since_last_visit"] == -1


@pytest.mark.parametrize("frame, items, message", [
    (dict(time=[0.0, 5.0]), None, "visit_id 0 has rows with different user_id, time"),
    (dict(position=[0, 0]), None, "two rows for visit_id 0 at position 0"),
    (dict(click=[1, 2]), None, "'click' must hold 0 or 1"),
    (dict(item_id=[1, -2]), None, "'item_id' must hold whole numbers >= 0"),
    ({}, pd.DataFrame({"item_id": [1], "topic": [0]}), "item_id 2 occurs in the impressions"),
])
def test_bad_events_name_the_problem(frame, items, message):
    base = {"visit_id": [0, 0], "user_id": [0, 0], "time": [0.0, 0.0], "position": [0, 1],
            "click": [1, 0], "item_id": [1, 2]}
    with pytest.raises(ValueError, match=message):
        logs_from_events(pd.DataFrame({**base, **frame}), items)


# ---------------------------------------------------------------------------------------
# MovieLens-100k in its own format, written here
MONDAY = 1_041_811_200  # 2003-01-06 00:00 UTC, a Monday


def movie_line(movie: int, genres: list[int]) -> str:
    flags = ["1" if g in genres else "0" for g in range(GENRES)]
    return "|".join([str(movie), f"Movie {movie} (1995)", "01-Jan-1995", "", "http://x"]
                    + flags)


def write_movielens(folder: Path, ratings: list[tuple[int, int, int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    (folder / "u.item").write_text("\n".join([movie_line(1, [5, 8]), movie_line(2, [1]),
                                              movie_line(3, [])]) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|T8H1N\n"
                                   "3|17|M|student|05201\n")
    return folder


@pytest.fixture
def movielens(tmp_path):
    hour = 3600
    ratings = [(1, 1, 5, MONDAY + 10 * hour), (1, 2, 3, MONDAY + 10 * hour + 60),
               (1, 3, 4, MONDAY + 10 * hour + 120),  # one session of user 1, 3 ratings
               (2, 1, 4, MONDAY + 11 * hour),  # 1 h after user 1's click on movie 1
               (1, 2, 2, MONDAY + DAY + 10 * hour)]  # user 1 again the next day
    return write_movielens(tmp_path / "ml", ratings)


def test_movielens_conversion(movielens):
    logs = read_movielens(movielens, slate_size=2)
    assert list(logs["rating"]) == [5, 3, 4, 4, 2]
    assert list(logs["click"]) == [1, 0, 1, 1, 0]  # rating >= 4
    # user 1's session of 3 ratings -> slates of 2 and 1, then one visit each
    assert list(logs["visit_id"]) == [0, 0, 1, 2, 3]
    assert list(logs["position"]) == [0, 1, 0, 0, 0]
    assert list(logs["topic"]) == [5, 1, 0, 5, 1]  # first genre flag; none -> 0 (unknown)
    first = logs.iloc[0]
    assert (first["hour"], first["weekday"]) == (10, 0) and first["time"] == 10 * HOUR
    by_user = logs.drop_duplicates("user_id").set_index("user_key")
    assert by_user.loc[1, ["user_age", "user_gender", "user_region"]].tolist() == [1, 0, 8]
    assert by_user.loc[2, ["user_age", "user_gender", "user_region"]].tolist() == [5, 1, 10]
    assert logs["provider"].eq(0).all() and logs["user_device"].eq(0).all()
    later = logs.iloc[3]  # user 2 rates movie 1 an hour after user 1 clicked it
    assert later["item_age"] == HOUR and later["pop_1h"] == pytest.approx(math.exp(-1))
    assert later["history_length"] == 0
    last = logs.iloc[4]  # user 1 the next day: clicks on movies 1 and 3 in the history
    assert list(last["hist_item_id"]) == [0, 2] and last["topic_clicks_24h"] == 0
    assert last["since_last_visit"] == pytest.approx(DAY - 120)
    spec = FeatureSpec.from_logs(logs)
    assert (spec.n_users, spec.n_item_buckets, spec.n_topics) == (2, 3, 6)
    assert (spec.n_providers, spec.n_devices, spec.slate_size) == (1, 1, 2)
    batch = batch_from_logs(logs, spec).validate(spec)
    assert batch.labels.sum() == 3 and batch.item_fields[..., 0].max() == 3  # no hashing


@pytest.mark.parametrize("name, content, message", [
    ("u.data", "1\t1\t5\n", "u.data line 1: expected 4 tab-separated columns"),
    ("u.data", f"1\t1\t5\t{MONDAY}\n1\t2\t4\tnoon\n", "u.data line 2: timestamp must be a "
                                                      "whole number"),
    ("u.data", "", "u.data line 1: the file is empty"),
    *(("u.data", f"1\t1\t5\t{MONDAY}\n1\t2\t4\t{stamp}\n",
       rf"u.data line 2: timestamp must be a whole number from 0 to 9223372036 \(Unix "
       rf"seconds up to 2262-04-11 23:47:16 UTC, pandas' last time\), got '{stamp}'")
      for stamp in ("1e30", "99999999999999999999", "9000000000000000000", "9223372037",
                    "-5", "1.5")),
    *(("u.data", f"1\t1\t5\t{MONDAY}\n1\t2\t{rating}\t{MONDAY}\n",
       f"u.data line 2: rating must be a whole number from 1 to 5, got '{rating}'")
      for rating in ("9", "-3", "0", "4.5")),
    ("u.data", f"1e30\t1\t5\t{MONDAY}\n", "u.data line 1: user id must be a whole number "
                                            "from 0 to 9007199254740992, got '1e30'"),
    ("u.data", f"1\t9\t5\t{MONDAY}\n", "u.data line 1: item id 9 is not in u.item"),
    ("u.user", "1|24|M|technician\n", "u.user line 1: expected 5 '|'-separated columns"),
    ("u.item", "", "u.item line 1: the file is empty"),
    (None, None, "u.user: no such file"),
])
def test_movielens_bad_input_names_file_and_line(tmp_path, name, content, message):
    folder = write_movielens(tmp_path / "ml", [(1, 1, 5, MONDAY)])
    if name is None:
        (folder / "u.user").unlink()
    else:
        (folder / name).write_text(content)
    with pytest.raises(ValueError, match=message), warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning before the error
        read_movielens(folder)


def test_movielens_accepts_the_last_timestamp_pandas_holds(tmp_path):
    folder = write_movielens(tmp_path / "ml", [(1, 1, 5, MONDAY), (1, 2, 4, 9223372036)])
    logs = read_movielens(folder)
    assert logs["time"].max() == 9223372036 - MONDAY and list(logs["rating"]) == [5, 4]


# ---------------------------------------------------------------------------------------
# MIND in its own format, written here
NEWS = ["N1\tsports\tsoccer\tT1\tA1\thttp://n1\t[]\t[]", "N2\tnews\tus\tT2\t\thttp://n2\t[]\t[]",
        "N3\tsports\tgolf\tT3\tA3\thttp://n3\t[]\t[]"]
BEHAVIORS = ["7\tU9\t11/12/2019 9:05:00 AM\tN3 N2\tN1-1 N2-0",
             "8\tU4\t11/12/2019 9:35:00 AM\t\tN2-0 N1-1 N3-0",
             "9\tU9\t11/13/2019 2:00:00 PM\tN3 N2\tN3-1 N2-0"]


def write_mind(folder: Path, behaviors: list[str] = BEHAVIORS, news: list[str] = NEWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.tsv").write_text("\n".join(news) + "\n")
    (folder / "behaviors.tsv").write_text("\n".join(behaviors) + "\n")
    return folder


def test_mind_conversion(tmp_path):
    logs = read_mind(write_mind(tmp_path / "mind"))
    assert list(logs["visit_id"]) == [7, 7, 8, 8, 8, 9, 9]
    assert list(logs["position"]) == [0, 1, 0, 1, 2, 0, 1]
    assert list(logs["click"]) == [1, 0, 0, 1, 0, 1, 0]
    assert list(logs["item_key"]) == ["N1", "N2", "N2", "N1", "N3", "N3", "N2"]
    assert list(logs["topic"]) == [1, 0, 0, 1, 1, 1, 0]  # categories sorted: news, sports
    first = logs.iloc[0]  # Tuesday 9:05: seconds from Monday 00:00
    assert first["time"] == DAY + 9 * HOUR + 5 * 60
    assert (first["hour"], first["weekday"]) == (9, 1)
    # the prior history sits a week before that Monday: in no window, but in the history
    assert list(first["hist_item_id"]) == [2, 1] and first["topic_clicks_1w"] == 0
    assert first["hist_age"][0] == pytest.approx(first["time"] + 7 * DAY)
    second = logs.iloc[2]  # U4 half an hour later sees U9's click on N1 as popularity
    assert logs.iloc[3]["pop_1h"] == pytest.approx(math.exp(-0.5))
    assert second["history_length"] == 0
    last = logs.iloc[5]  # U9 the next day: the click on N1 joins the prior history
    assert list(last["hist_item_id"]) == [2, 1, 0] and last["topic_clicks_1w"] == 1
    assert last["since_last_visit"] == pytest.approx(DAY + 5 * HOUR - 5 * 60)
    spec = FeatureSpec.from_logs(logs)
    assert (spec.n_users, spec.n_providers, spec.n_age_buckets, spec.slate_size) == (2, 1, 1, 3)
    assert read_logs(tmp_path / "mind")["visit_id"].tolist() == logs["visit_id"].tolist()


@pytest.mark.parametrize("edit, message", [
    (lambda b, n: (b[:1] + ["8\tU4\t11/12/2019 9:35:00 AM\tN2-0"], n),
     "behaviors.tsv line 2: expected 5 tab-separated columns"),
    (lambda b, n: (b[:2] + ["9\tU9\t13/13/2019 2:00:00 PM\t\tN3-1"], n),
     "behaviors.tsv line 3: cannot parse the time '13/13/2019 2:00:00 PM'"),
    (lambda b, n: (b[:1] + ["8\tU4\t11/12/2019 9:35:00 AM\t\tN2 N1"], n),
     "behaviors.tsv line 2: impression 'N2' has no click label"),
    (lambda b, n: (b[:1] + ["8\tU4\t11/12/2019 9:35:00 AM\t\tN2-0 N1-2"], n),
     "behaviors.tsv line 2: impression 'N1-2' has the click label '-2', not -0 or -1"),
    (lambda b, n: (b[:1] + ["8\tU4\t11/12/2019 9:35:00 AM\tN7\tN2-1"], n),
     "behaviors.tsv line 2: news id 'N7' is not in news.tsv"),
    (lambda b, n: (b, n[:1] + ["N2\tnews\tus"]), "news.tsv line 2: expected 8 tab-separated"),
])
def test_mind_bad_input_names_file_and_line(tmp_path, edit, message):
    behaviors, news = edit(list(BEHAVIORS), list(NEWS))
    folder = write_mind(tmp_path / "mind", behaviors, news)
    with pytest.raises(ValueError, match=message):
        read_mind(folder)


def test_mind_missing_and_empty_files(tmp_path):
    folder = write_mind(tmp_path / "mind")
    (folder / "behaviors.tsv").write_text("")
    with pytest.raises(ValueError, match="behaviors.tsv line 1: the file is empty"):
        read_mind(folder)
    (folder / "news.tsv").unlink()
    with pytest.raises(ValueError, match="news.tsv: no such file"):
        read_mind(folder)


def test_convert_command(tmp_path, movielens):
    runner = CliRunner()
    out = tmp_path / "logs.parquet"
    result = runner.invoke(app, ["convert", str(movielens), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 impressions, 3 visits, 2 users" in result.output
    assert len(load_logs(out)) == 5
    again = runner.invoke(app, ["convert", str(movielens), "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output
    empty = tmp_path / "nothing"
    empty.mkdir()
    bad = runner.invoke(app, ["convert", str(empty), "--out", str(tmp_path / "x.parquet")])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "MovieLens" in bad.output
