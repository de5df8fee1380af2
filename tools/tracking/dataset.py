"""Recording the dataset a run trained on, as metadata only.

The run gets an MLflow dataset input (``mlflow.data``) with the catalog name and version, the
file's digest, its location, the schema of the columns trained on, and row and column counts.
No row is ever sent to the tracking store, and dropped PII columns appear neither in the schema
nor anywhere else.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tools.data.catalog import DatasetEntry
from tools.data.validate import PreparedData
from tools.redact import redact

if TYPE_CHECKING:
    from mlflow.types import Schema

MLFLOW_DIGEST_LENGTH = 36
"""The longest digest MLflow's stores keep for a dataset; the full sha256 goes in a tag."""


def _column_type(series: pd.Series | np.ndarray) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(dtype):
        return "string"
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "long" if np.dtype(dtype).itemsize > 4 else "integer"
    if ptypes.is_float_dtype(dtype):
        return "double" if np.dtype(dtype).itemsize > 4 else "float"
    return "string"


def dataset_schema(entry: DatasetEntry, data: PreparedData) -> Schema:
    """Return the MLflow schema of the columns trained on: the features, then the target."""
    from mlflow.types import ColSpec, DataType, Schema, TensorSpec

    specs: list[ColSpec | TensorSpec] = [
        ColSpec(
            type=DataType[_column_type(data.X[name])],
            name=name,
            required=not bool(data.X[name].isna().any()),
        )
        for name in data.feature_names
    ]
    specs.append(ColSpec(type=DataType[_column_type(data.y)], name=entry.target))
    return Schema(specs)


def dataset_profile(data: PreparedData) -> dict[str, Any]:
    """Return counts describing the data: never a value from it."""
    rows = len(data.X)
    return {
        "num_rows": rows,
        "num_elements": rows * (len(data.feature_names) + 1),
        "num_features": len(data.feature_names),
        "num_categorical_features": len(data.categorical_features),
        "num_dropped_columns": len(data.dropped),
        "num_classes": data.n_classes,
    }


def _curated_dataset_class() -> type:
    """Build the dataset class lazily so importing this module does not import mlflow."""
    from mlflow.data.meta_dataset import MetaDataset

    class CuratedDataset(MetaDataset):
        """A metadata-only dataset (``MetaDataset``) that also carries a count profile."""

        def __init__(self, *, profile: dict[str, Any], **kwargs: Any):
            self._profile = profile
            super().__init__(**kwargs)

        @property
        def profile(self) -> dict[str, Any]:
            """Row and column counts of the data trained on."""
            return self._profile

        def to_dict(self) -> dict[str, str]:
            """Add the profile to ``MetaDataset``'s name, digest, source and schema."""
            config = super().to_dict()
            config["profile"] = json.dumps(self._profile)
            return config

    return CuratedDataset


def _uri_source_class() -> type:
    """Build, lazily, a source for URLs whose scheme MLflow has no artifact store for."""
    from mlflow.data.dataset_source import DatasetSource

    class UriDatasetSource(DatasetSource):
        """A dataset read through fsspec from a URL MLflow does not resolve (``gcs://``, ...)."""

        def __init__(self, uri: str):
            self._uri = uri

        @staticmethod
        def _get_source_type() -> str:
            return "uri"

        def load(self) -> str:
            """Return the URL; trialrun reads it with fsspec."""
            return self._uri

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: Any) -> DatasetSource:
            return cls(str(raw_source))

        def to_dict(self) -> dict[str, Any]:
            """Return the source as ``{"uri": ...}``, like MLflow's file sources."""
            return {"uri": self._uri}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> DatasetSource:
            """Rebuild the source from :meth:`to_dict`'s output."""
            return cls(source_dict["uri"])

    return UriDatasetSource


def _source(location: str) -> Any:
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.exceptions import MlflowException

    with warnings.catch_warnings():
        # MLflow registers two local-file source classes (schemes "" and "file") and warns
        # that a path matches both; either one records the same source.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interp")
        try:
            return resolve_dataset_source(location)
        except MlflowException:
            return _uri_source_class()(location)


def dataset_tags(entry: DatasetEntry) -> dict[str, str]:
    """Return the run tags that name the dataset (set when the run is created)."""
    return {
        "dataset.name": entry.name,
        "dataset.version": entry.version,
        "dataset.digest": entry.sha256,
    }


def log_dataset(
    entry: DatasetEntry,
    data: PreparedData,
    *,
    run_id: str | None = None,
    context: str = "training",
) -> None:
    """Record ``entry`` as a dataset input of a run.

    The dataset input is named ``name@version``; its digest is the sha256 cut to the
    :data:`MLFLOW_DIGEST_LENGTH` characters MLflow stores, and the input's tags and the run
    tags from :func:`dataset_tags` hold the full values. The source is the entry's location
    (:func:`tools.data.load.load_curated` returns it resolved).

    Example:
        >>> with mlflow.start_run():  # doctest: +SKIP
        ...     log_dataset(entry, data)

    Args:
        entry: The catalog entry trained on.
        data: The prepared data (its features define the schema; PII columns are already gone).
        run_id: The run to record it on, whose creator set :func:`dataset_tags` (``RunWriter``
            does, saving a write per trial). When None, the active MLflow run, which also gets
            the :func:`dataset_tags` here.
        context: What the data was used for, stored as the input's ``mlflow.data.context`` tag.

    Raises:
        RuntimeError: ``run_id`` is None and no MLflow run is active.
    """
    import mlflow
    from mlflow.entities import DatasetInput, InputTag

    tags = {
        "mlflow.data.context": context,
        "dataset.version": entry.version,
        "dataset.sha256": entry.sha256,
    }
    dataset_input = DatasetInput(
        dataset=_dataset_entity(entry, data),
        tags=[InputTag(key=k, value=v) for k, v in tags.items()],
    )
    if run_id is not None:
        from tools.tracking.runs import client

        client().log_inputs(run_id, datasets=[dataset_input])
        return
    active = mlflow.active_run()
    if active is None:
        raise RuntimeError(
            "log_dataset needs run_id or an active MLflow run: call it inside start_run()."
        )
    mlflow.MlflowClient().log_inputs(active.info.run_id, datasets=[dataset_input])
    mlflow.set_tags(dataset_tags(entry))


# Holds the prepared data beside its entity so its id() cannot be reused while cached.
_ENTITIES: dict[tuple[str, str, str, int], tuple[PreparedData, Any]] = {}


def _dataset_entity(entry: DatasetEntry, data: PreparedData) -> Any:
    """Build the dataset entity once per dataset and prepared data (trials reuse it)."""
    key = (entry.ref, entry.sha256, entry.location, id(data))
    if key not in _ENTITIES:
        source = _source(redact(entry.location))
        dataset = _curated_dataset_class()(
            source=source,
            name=entry.ref,
            digest=entry.sha256[:MLFLOW_DIGEST_LENGTH],
            schema=dataset_schema(entry, data),
            profile=dataset_profile(data),
        )
        _ENTITIES.clear()
        _ENTITIES[key] = (data, dataset._to_mlflow_entity())
    return _ENTITIES[key][1]
