"""Registers the shared plugin for PostgreSQL and the Kubernetes control plane.

See ``tests/support/cluster.py``; ``tests/agent/conftest.py`` registers the same plugin.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CLUSTER_PLUGIN = Path(__file__).parents[1] / "support" / "cluster.py"


def pytest_configure(config: pytest.Config) -> None:
    # tests/ is not a package (importlib mode): load the shared plugin by path, once.
    if config.pluginmanager.has_plugin("trialrun-cluster"):
        return
    spec = importlib.util.spec_from_file_location("trialrun_test_cluster", CLUSTER_PLUGIN)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    config.pluginmanager.register(plugin, "trialrun-cluster")
