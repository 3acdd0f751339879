"""The Ray backend gives the same results as the local one (needs the `ray` extra)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray", reason="the Ray backend needs the extra: pip install -e '.[ray]'")

from conftest import run_drnsim as drnsim  # noqa: E402
from test_cli import assert_complete  # noqa: E402

AGENTS = ["random", "linucb", "online:lr", "drn"]


def test_ray_and_local_backends_write_identical_metrics(tmp_path, tiny):
    args = ["compare", "--agents", ",".join(AGENTS), "--seeds", "0,1", "--days", "0.1",
            "--config", tiny, "--no-progress"]
    drnsim(*args, "--out", tmp_path / "local")
    result = drnsim(*args, "--backend", "ray", "--out", tmp_path / "ray")
    assert "drn " in result.stdout
    assert_complete(tmp_path / "ray", AGENTS, [0, 1])
    for name in ("metrics.csv", "summary.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
