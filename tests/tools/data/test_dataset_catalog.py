from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tools.data.catalog import Catalog, DigestMismatch, NotCatalogued
from tools.data.curate import add_dataset
from tools.data.load import file_digest, load_curated, read_table
from tools.errors import DataError, InputError, PolicyError


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def test_catalog_round_trip_keeps_entries_and_stores_paths_relative(
    tmp_path, catalog, wine
) -> None:
    path = _csv(wine, tmp_path / "data" / "wine.csv")

    entry = add_dataset(
        path,
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
        curated_by="ada",
        description="UCI wine",
    )

    reloaded = Catalog.load(tmp_path / "datasets.yaml")
    assert reloaded.entries() == [entry]
    assert entry.location == "data/wine.csv"
    assert reloaded.resolve_location(entry) == str(path)
    assert (entry.rows, entry.columns, entry.task) == (178, 14, "multiclass")
    assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "datasets.yaml"]


def test_a_catalog_moved_with_its_data_still_resolves(tmp_path, catalog, wine) -> None:
    add_dataset(
        _csv(wine, tmp_path / "data" / "wine.csv"),
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
        curated_by="ada",
    )
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "data", tmp_path / "moved" / "data")
    shutil.move(tmp_path / "datasets.yaml", tmp_path / "moved" / "datasets.yaml")

    entry, frame = load_curated("wine", "v1", catalog=Catalog.load("moved/datasets.yaml"))

    assert entry.location == str(tmp_path / "moved" / "data" / "wine.csv")
    assert frame.shape == (178, 14)


def test_a_file_outside_the_catalog_directory_is_stored_absolute(tmp_path, wine) -> None:
    path = _csv(wine, tmp_path / "shared" / "wine.csv")
    catalog = Catalog.load(tmp_path / "project" / "datasets.yaml")

    entry = add_dataset(
        path, name="wine", version="v1", target="cultivar", catalog=catalog, curated_by="ada"
    )

    assert entry.location == str(path)
    assert (tmp_path / "project" / "datasets.yaml").exists()


def test_names_lists_every_version(tmp_path, catalog, wine, cancer) -> None:
    for version in ("v1", "v2"):
        wine_path = _csv(wine.iloc[: 150 if version == "v1" else 178], tmp_path / f"w{version}.csv")
        add_dataset(
            wine_path,
            name="wine",
            version=version,
            target="cultivar",
            catalog=catalog,
            curated_by="ada",
        )
    add_dataset(
        _csv(cancer, tmp_path / "cancer.csv"),
        name="cancer",
        version="v1",
        target="benign",
        catalog=catalog,
        curated_by="ada",
    )

    assert Catalog.load(catalog.path).names() == {"wine": ["v1", "v2"], "cancer": ["v1"]}


def test_not_catalogued_lists_what_exists(tmp_path, catalog, wine) -> None:
    with pytest.raises(NotCatalogued, match="is empty.*trialrun datasets examples"):
        catalog.get("wine", "v1")
    for version in ("v1", "v2"):
        add_dataset(
            _csv(wine, tmp_path / f"wine_{version}.csv"),
            name="wine",
            version=version,
            target="cultivar",
            catalog=catalog,
            curated_by="ada",
        )

    with pytest.raises(NotCatalogued) as unknown_name:
        load_curated("adult", "v1", catalog=catalog)
    with pytest.raises(NotCatalogued) as unknown_version:
        load_curated("wine", "v3", catalog=catalog)

    assert isinstance(unknown_name.value, PolicyError)
    assert "'adult'" in str(unknown_name.value) and "wine (v1, v2)" in str(unknown_name.value)
    assert "'v3'" in str(unknown_version.value) and "v1, v2" in str(unknown_version.value)


def test_training_data_whose_file_changed_is_refused(tmp_path, catalog, wine) -> None:
    path = _csv(wine, tmp_path / "wine.csv")
    entry = add_dataset(
        path, name="wine", version="v1", target="cultivar", catalog=catalog, curated_by="ada"
    )
    with path.open("a") as handle:
        handle.write(",".join(["1"] * 13) + ",0\n")

    with pytest.raises(DigestMismatch) as raised:
        load_curated("wine", "v1", catalog=catalog)

    message = str(raised.value)
    assert entry.sha256 in message and file_digest(str(path)) in message
    assert "new version" in message
    add_dataset(path, name="wine", version="v2", target="cultivar", catalog=catalog, curated_by="a")
    assert len(load_curated("wine", "v2", catalog=catalog)[1]) == 179


def test_adding_an_existing_version_needs_replace(tmp_path, catalog, wine) -> None:
    path = _csv(wine, tmp_path / "wine.csv")
    add_dataset(path, name="wine", version="v1", target="cultivar", catalog=catalog, curated_by="a")
    with pytest.raises(InputError, match="'wine@v1' is already in the catalog.*--replace"):
        add_dataset(
            path, name="wine", version="v1", target="cultivar", catalog=catalog, curated_by="b"
        )

    add_dataset(
        path,
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
        curated_by="b",
        replace=True,
    )

    assert [e.curated_by for e in Catalog.load(catalog.path).entries()] == ["b"]


def test_a_file_failing_validation_never_enters_the_catalog(tmp_path, catalog, wine) -> None:
    wine["customer_id"] = range(1000, 1000 + 3 * len(wine), 3)
    path = _csv(wine, tmp_path / "wine.csv")

    with pytest.raises(DataError, match="'customer_id'"):
        add_dataset(
            path, name="wine", version="v1", target="cultivar", catalog=catalog, curated_by="a"
        )

    assert not catalog.path.exists()
    entry = add_dataset(
        path,
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
        id_columns=["customer_id"],
        curated_by="a",
    )
    assert entry.roles.id == ["customer_id"]


def test_curator_defaults_to_the_user(monkeypatch, tmp_path, catalog, wine) -> None:
    monkeypatch.setenv("USER", "grace")
    entry = add_dataset(
        _csv(wine, tmp_path / "wine.csv"),
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
    )
    assert entry.curated_by == "grace"


@pytest.mark.parametrize(
    ("name", "write", "expected"),
    [
        ("missing.csv", None, "No file at"),
        ("empty.csv", b"", "is empty"),
        ("header.csv", b"a,b,target\n", "has no rows (columns: a, b, target)"),
        ("broken.parquet", b"PAR1 this is not parquet", "Cannot read"),
        ("table.json", b"{}", "Cannot tell the format"),
        ("folder.csv", "dir", "is a directory"),
    ],
)
def test_unreadable_files_are_data_errors_naming_the_file(tmp_path, name, write, expected) -> None:
    path = tmp_path / name
    if write == "dir":
        path.mkdir()
    elif write is not None:
        path.write_bytes(write)

    with pytest.raises(DataError) as raised:
        file_digest(str(path)) if expected == "is a directory" else read_table(str(path))

    assert expected in str(raised.value) and name in str(raised.value)


@pytest.mark.skipif(
    importlib.util.find_spec("fsspec") is not None, reason="fsspec is installed here"
)
def test_a_url_without_fsspec_says_what_to_install() -> None:
    with pytest.raises(DataError, match="needs fsspec.*pip install fsspec s3fs"):
        file_digest("s3://bucket/wine.parquet")


def test_a_url_location_is_read_through_fsspec(catalog, wine) -> None:
    fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed")
    with fsspec.open("memory://curated/wine.csv", "w") as handle:
        wine.to_csv(handle, index=False)

    entry = add_dataset(
        "memory://curated/wine.csv",
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
        curated_by="ada",
    )

    assert entry.location == "memory://curated/wine.csv"
    assert load_curated("wine", "v1", catalog=catalog)[1].shape == (178, 14)
