"""The tuning benchmark's honesty: disjoint dev/test rows, failures ranked last, resumable rows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "tuning.py"
    spec = importlib.util.spec_from_file_location("bench_tuning", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dev_and_test_rows_are_disjoint_and_keep_class_shares() -> None:
    bench = _bench()
    folder = SHARED / "datasets-suite"
    if not (folder / "datasets.json").exists():
        pytest.skip("the shared suite datasets are not beside the repository")
    manifest = bench.manifests([folder])["credit_data"]
    frame = pd.read_parquet(folder / manifest["file"])
    frame["row"] = range(len(frame))
    dev, test = bench.dev_test(frame, manifest)
    assert set(dev["row"]).isdisjoint(test["row"])
    assert len(dev) + len(test) == len(frame)
    assert len(test) == pytest.approx(0.2 * len(frame), abs=1)
    target = manifest["target"]
    shares = frame[target].value_counts(normalize=True)
    assert (test[target].value_counts(normalize=True) - shares).abs().max() < 0.01


def test_a_failed_method_ranks_last_and_scores_rank_by_the_test_rows() -> None:
    bench = _bench()
    run = {"dataset": "d", "budget": 30.0, "metric": "rmse", "trials": 3, "wall": 30.0}
    rows = [
        {**run, "method": "a", "test": 2.0, "valid": 1.0},
        {**run, "method": "b", "test": 1.0, "valid": 3.0},
        {"dataset": "d", "budget": 30.0, "method": "c", "metric": "rmse", "error": "boom"},
    ]
    ranks = {r["method"]: r["rank"] for r in bench.rank(rows)}
    assert ranks == {"b": 1, "a": 2, "c": 3}
    text = bench.table(rows, ["a", "b", "c"], [30.0])
    assert "failed: boom" in text


def test_a_second_manifest_naming_the_same_dataset_is_refused(tmp_path: Path) -> None:
    bench = _bench()
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "datasets.json").write_text(json.dumps({"same": {"file": "x"}}))
    with pytest.raises(SystemExit, match="same"):
        bench.manifests([tmp_path / "one", tmp_path / "two"])
