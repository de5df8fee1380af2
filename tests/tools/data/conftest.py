from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tools.data.catalog import Catalog, ColumnRoles, DatasetEntry


@pytest.fixture(autouse=True)
def _no_ambient_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A catalog named by the person running the tests must never be read or written.
    monkeypatch.delenv("TRIALRUN_CATALOG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.load(tmp_path / "datasets.yaml")


@pytest.fixture(scope="session")
def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})


@pytest.fixture
def wine(_wine: pd.DataFrame) -> pd.DataFrame:
    """scikit-learn's wine data: 178 rows, 13 float features, target cultivar (3 classes)."""
    return _wine.copy()


@pytest.fixture(scope="session")
def _cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame.rename(columns={"target": "benign"})


@pytest.fixture
def cancer(_cancer: pd.DataFrame) -> pd.DataFrame:
    """scikit-learn's breast cancer data: 569 rows, 30 float features, target benign (0/1)."""
    return _cancer.copy()


EntryFactory = Callable[..., DatasetEntry]


@pytest.fixture
def make_entry() -> EntryFactory:
    """Build an entry for a frame that is not on disk (validation does not read the file)."""

    def build(
        target: str = "cultivar",
        *,
        task: str | None = None,
        id: tuple[str, ...] = (),
        pii: tuple[str, ...] = (),
        rows: int = 0,
    ) -> DatasetEntry:
        return DatasetEntry(
            name="sample",
            version="v1",
            location="sample.csv",
            sha256="0" * 64,
            target=target,
            task=task,  # type: ignore[arg-type]
            roles=ColumnRoles(id=list(id), pii=list(pii)),
            curated_by="tests",
            added_at=datetime.now(UTC),
            rows=rows,
            columns=0,
        )

    return build
