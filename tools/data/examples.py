"""Example datasets from scikit-learn's bundled data, so a fresh machine can train at once.

Nothing is downloaded: ``load_breast_cancer``, ``load_wine`` and ``load_diabetes`` ship inside
scikit-learn. Each is written as Parquet and catalogued as version ``v1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tools.data.catalog import Catalog, DatasetEntry, Task, temp_path_beside
from tools.data.load import file_digest
from tools.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

EXAMPLE_VERSION = "v1"
CURATOR = "scikit-learn"


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    # scikit-learn codes 0 = malignant; the catalogued target reads 1 = malignant.
    frame["malignant"] = (frame.pop("target") == 0).astype("int64")
    # Spaces in names ("mean radius") make LightGBM warn and rename them; underscores avoid that.
    return frame.rename(columns=lambda c: str(c).replace(" ", "_"))


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    return frame.rename(columns={"target": "cultivar"})


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    return frame.rename(columns={"target": "progression"})


@dataclass(frozen=True)
class _Example:
    name: str
    target: str
    task: Task
    description: str
    build: Callable[[], pd.DataFrame]


EXAMPLES: tuple[_Example, ...] = (
    _Example(
        "breast_cancer",
        "malignant",
        "binary",
        "Wisconsin diagnostic breast cancer (scikit-learn load_breast_cancer): 30 cell-nucleus "
        "measurements; target malignant, 1 = malignant, 0 = benign.",
        _breast_cancer,
    ),
    _Example(
        "wine",
        "cultivar",
        "multiclass",
        "UCI wine recognition (scikit-learn load_wine): 13 chemical measurements; target "
        "cultivar, one of 3 classes 0, 1, 2.",
        _wine,
    ),
    _Example(
        "diabetes",
        "progression",
        "regression",
        "Diabetes (scikit-learn load_diabetes): age, sex, BMI, blood pressure and 6 serum "
        "measurements, mean-centred and scaled; target progression, a measure of disease "
        "progression one year after baseline.",
        _diabetes,
    ),
)


def _check_existing(existing: DatasetEntry, path: Path, catalog: Catalog) -> None:
    """Return when ``existing`` is the example at ``path``, unchanged; raise otherwise."""
    location = catalog.resolve_location(existing)
    if location != str(path):
        raise InputError(
            f"{existing.ref!r} is already catalogued in {str(catalog.path)!r} with the file "
            f"{location!r}, not {str(path)!r}.",
            field="dir",
            hint="Run the examples with that --dir, use another --catalog, or remove the entry.",
        )
    if not path.is_file() or file_digest(location) != existing.sha256:
        raise InputError(
            f"{existing.ref!r} is already catalogued in {str(catalog.path)!r}, but its file "
            f"{location!r} is missing or changed since.",
            field="catalog",
            hint="Use another --catalog, or remove the entry and run the examples again.",
        )


def _stage(example: _Example, path: Path, catalog: Catalog) -> tuple[DatasetEntry, Path] | None:
    """Write one example beside ``path``; return its entry and the staged file, or None."""
    from tools.data.validate import prepare

    existing = catalog.find(example.name, EXAMPLE_VERSION)
    if existing is not None:
        _check_existing(existing, path, catalog)
        return None
    frame = example.build()
    tmp = temp_path_beside(path)
    try:
        frame.to_parquet(tmp, index=False)
        digest = file_digest(str(tmp))
        if path.exists() and file_digest(str(path)) != digest:
            raise InputError(
                f"{str(path)!r} exists and is not the {example.name} example.",
                field="dir",
                hint="Choose another --dir, or move the file away.",
            )
        entry = DatasetEntry(
            name=example.name,
            version=EXAMPLE_VERSION,
            location=catalog.relative_location(str(path)),
            sha256=digest,
            target=example.target,
            task=example.task,
            curated_by=CURATOR,
            description=example.description,
            added_at=datetime.now(UTC),
            rows=len(frame),
            columns=frame.shape[1],
        )
        prepare(frame, entry)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return entry, tmp


def write_examples(directory: Path, catalog: Catalog) -> list[DatasetEntry]:
    """Write scikit-learn's bundled datasets as Parquet under ``directory`` and catalogue them.

    ``breast_cancer`` (binary, target ``malignant``, 1 = malignant), ``wine`` (multiclass, target
    ``cultivar``) and ``diabetes`` (regression, target ``progression``), each as version ``v1``
    curated by ``scikit-learn``. Running it again with the files and entries in place changes
    nothing.

    Example:
        >>> added = write_examples(Path("data"), Catalog.load())  # doctest: +SKIP
        >>> [e.ref for e in added]  # doctest: +SKIP
        ['breast_cancer@v1', 'wine@v1', 'diabetes@v1']

    Args:
        directory: Where the Parquet files go (created if missing).
        catalog: The catalog to add the entries to; saved when anything was added.

    Returns:
        The entries added; empty when every example was already in place.

    Raises:
        InputError: An example name is catalogued with another file, or a different file sits
            where an example would be written.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[DatasetEntry, Path, Path]] = []
    try:
        # Stage every file before placing any, so a conflict leaves nothing half-written.
        for example in EXAMPLES:
            path = directory / f"{example.name}.parquet"
            item = _stage(example, path, catalog)
            if item is not None:
                staged.append((*item, path))
        for entry, tmp, path in staged:
            os.replace(tmp, path)
            catalog.add(entry)
    finally:
        for _, tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    if staged:
        catalog.save()
    return [entry for entry, _, _ in staged]
