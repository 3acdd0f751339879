"""Package layout rules a newcomer relies on: every module's `__all__` is a literal list of
names the module defines, and the light modules (env, metrics, plotting) do not pull in torch."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import drnsim

MODULES = sorted(m.name for m in pkgutil.walk_packages(drnsim.__path__, "drnsim.")
                 if m.name != "drnsim.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_all_is_a_static_list_of_defined_names(name):
    module = importlib.import_module(name)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    assigned = [node for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "__all__" for t in node.targets)]
    if not assigned:
        return
    value = assigned[-1].value
    assert isinstance(value, ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts), name
    names = [e.value for e in value.elts]
    assert len(names) == len(set(names)), f"{name}.__all__ repeats a name"
    for exported in names:
        assert getattr(module, exported, None) is not None, f"{name}.{exported}"


def test_env_metrics_and_plotting_import_without_torch():
    code = ("import sys, gymnasium as gym, drnsim, drnsim.metrics, drnsim.plotting\n"
            "gym.make(drnsim.ENV_ID, n_users=100)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
