from __future__ import annotations

from pathlib import Path

import pandas as pd

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools.data.catalog import Catalog
from tools.data.load import load_curated
from tools.data.validate import prepare


def _state(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_examples_catalogue_three_trainable_datasets_once(capsys, tmp_path) -> None:
    assert main(["datasets", "examples"]) == ExitCode.OK
    assert capsys.readouterr().out.count("Added ") == 3
    first = _state(tmp_path)

    assert main(["datasets", "examples"]) == ExitCode.OK

    assert "Nothing to do" in capsys.readouterr().out
    assert _state(tmp_path) == first
    assert sorted(first) == [
        "data/breast_cancer.parquet",
        "data/diabetes.parquet",
        "data/wine.parquet",
        "datasets.yaml",
    ]
    catalog = Catalog.load()
    expected = {
        ("breast_cancer", "malignant", "binary", 2),
        ("wine", "cultivar", "multiclass", 3),
        ("diabetes", "progression", "regression", None),
    }
    seen = set()
    for entry in catalog.entries():
        assert (entry.version, entry.curated_by) == ("v1", "scikit-learn")
        assert entry.location == f"data/{entry.name}.parquet"
        loaded, frame = load_curated(entry.name, entry.version, catalog=catalog)
        data = prepare(frame, loaded)
        seen.add((entry.name, entry.target, data.task, data.n_classes))
    assert seen == expected


def test_breast_cancer_target_reads_one_for_malignant(tmp_path) -> None:
    assert main(["datasets", "examples", "--dir", "examples"]) == ExitCode.OK

    frame = pd.read_parquet(tmp_path / "examples" / "breast_cancer.parquet")

    # scikit-learn's data has 212 malignant and 357 benign tumours.
    assert frame["malignant"].value_counts().to_dict() == {0: 357, 1: 212}
    assert "mean_radius" in frame.columns


def test_examples_never_overwrite_a_different_file(capsys, tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wine.parquet").write_bytes(b"my own data")

    assert main(["datasets", "examples"]) == ExitCode.USAGE

    assert "wine.parquet" in capsys.readouterr().err
    assert (tmp_path / "data" / "wine.parquet").read_bytes() == b"my own data"
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["wine.parquet"]


def test_examples_refuse_a_changed_catalogued_file(capsys, tmp_path) -> None:
    assert main(["datasets", "examples"]) == ExitCode.OK
    capsys.readouterr()
    with (tmp_path / "data" / "diabetes.parquet").open("ab") as handle:
        handle.write(b"\0")

    assert main(["datasets", "examples"]) == ExitCode.USAGE

    err = capsys.readouterr().err
    assert "'diabetes@v1' is already catalogued" in err and "missing or changed" in err
