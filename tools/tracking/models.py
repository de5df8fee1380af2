"""Logging models the way MLflow users load them: one pyfunc model per run, in its experiment.

Every logged model is :mod:`tools.tracking.served_model` (MLflow models-from-code) with one or
more member boosters and the encoding of the data they were trained on, so
``mlflow.pyfunc.load_model(uri).predict(frame)`` works on the frame a user has, in an
environment holding only the model's requirements. A plain model has one member; an ensemble
has several, averaged by weight.

The model is created in the run's own experiment (MLflow would otherwise put it in the active
or the default experiment) and its artifacts go under that experiment's artifact location. Its
signature and input example describe the columns with a synthetic row (medians and most
frequent levels) and a row of missing values: never a row of the data.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tools import encoding as encoding_module
from tools.encoding import BOOSTER_FILES, FrameEncoding, booster_to_bytes
from tools.redact import redact_mapping
from tools.tracking import served_model
from tools.tracking.context import library_versions
from tools.tracking.runs import client, scratch_dir

if TYPE_CHECKING:
    from mlflow.models.signature import ModelSignature

SERVING_REQUIREMENTS = ("mlflow", "numpy", "pandas")
FAMILY_LIBRARIES = {"xgboost": "xgboost", "lightgbm": "lightgbm"}


@dataclass(frozen=True)
class Member:
    """One booster of a logged model.

    Attributes:
        family: ``xgboost`` or ``lightgbm``.
        booster: The trained booster (``xgboost.Booster`` or ``lightgbm.Booster``).
        weight: Its weight in the ensemble's mean (any positive number; one member: ignored).
    """

    family: str
    booster: Any
    weight: float = 1.0


def log_model(
    members: Sequence[Member],
    *,
    encoding: FrameEncoding,
    run_id: str,
    name: str = "model",
    tags: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    dataset: tuple[str, str] | None = None,
) -> str:
    """Log ``members`` as one pyfunc model of run ``run_id``; return its ``models:/`` URI.

    Example:
        >>> uri = log_model([Member("lightgbm", fit.model)], encoding=data.encoding,
        ...                 run_id=run_id)  # doctest: +SKIP
        >>> mlflow.pyfunc.load_model(uri).predict(frame)  # doctest: +SKIP

    Args:
        members: The boosters, with their families and weights.
        encoding: The encoding of the data they were trained on
            (:attr:`tools.data.validate.PreparedData.encoding`).
        run_id: The run the model belongs to; the model is created in its experiment.
        name: The model's name (what the experiment's Models tab lists).
        tags: Extra tags on the logged model (redacted like every tag).
        metrics: The model's scores, recorded on the model as well as on its run.
        dataset: The ``(name, digest)`` of the dataset input those scores were measured on,
            which links the model to the dataset ("Datasets used" on the model's page).

    Raises:
        ValueError: No member, an unknown family, or a weight that is not positive.
    """
    import mlflow.pyfunc
    from mlflow.models import Model

    _check_members(members)
    families = sorted({m.family for m in members})
    mlflow_client = client()
    run = mlflow_client.get_run(run_id)
    logged = mlflow_client.create_logged_model(
        experiment_id=run.info.experiment_id,
        name=name,
        source_run_id=run_id,
        params=dict(run.data.params),
        tags=redact_mapping(
            {"trialrun.families": ",".join(families), "trialrun.members": len(members)}
            | dict(tags or {})
        ),
    )
    with scratch_dir() as tmp:
        folder = _write_serving_folder(tmp / served_model.SERVING_ARTIFACT, members, encoding)
        info = Model.log(
            artifact_path=None,
            name=name,
            flavor=mlflow.pyfunc,
            run_id=run_id,
            model_id=logged.model_id,
            python_model=served_model.__file__,
            artifacts={served_model.SERVING_ARTIFACT: str(folder)},
            signature=signature(encoding),
            input_example=input_example(encoding),
            pip_requirements=pip_requirements(families),
        )
    if metrics:
        _log_model_metrics(mlflow_client, run_id, logged.model_id, metrics, dataset)
    return str(info.model_uri)


def _log_model_metrics(
    mlflow_client: Any,
    run_id: str,
    model_id: str,
    metrics: Mapping[str, float],
    dataset: tuple[str, str] | None,
) -> None:
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.utils.time import get_current_time_millis

    now = get_current_time_millis()
    name, digest = dataset if dataset is not None else (None, None)
    rows = [
        MlflowMetric(
            key, float(value), now, 0, model_id=model_id, dataset_name=name, dataset_digest=digest
        )
        for key, value in metrics.items()
    ]
    mlflow_client.log_batch(run_id, metrics=rows)


def _check_members(members: Sequence[Member]) -> None:
    if not members:
        raise ValueError("A logged model needs at least one member booster.")
    for member in members:
        if member.family not in BOOSTER_FILES:
            raise ValueError(
                f"Unknown model family {member.family!r}; use one of: {', '.join(BOOSTER_FILES)}."
            )
        if not member.weight > 0:
            raise ValueError(f"Member weight {member.weight!r} must be a positive number.")


def _write_serving_folder(folder: Path, members: Sequence[Member], encoding: FrameEncoding) -> Path:
    folder.mkdir(parents=True)
    shutil.copyfile(encoding_module.__file__, folder / served_model.ENCODING_FILE)
    spec_members = []
    for index, member in enumerate(members):
        file = f"member-{index}-{BOOSTER_FILES[member.family]}"
        (folder / file).write_bytes(booster_to_bytes(member.family, member.booster))
        spec_members.append({"family": member.family, "weight": member.weight, "file": file})
    spec = {"members": spec_members, "encoding": encoding.to_dict()}
    (folder / served_model.SPEC_FILE).write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return folder


def pip_requirements(families: Sequence[str]) -> list[str]:
    """Return the model's pip requirements: mlflow, numpy, pandas and its booster libraries.

    Explicit and pinned to the versions trained with (MLflow's inference costs seconds a model).
    """
    versions = library_versions()
    wanted = [*SERVING_REQUIREMENTS, *(FAMILY_LIBRARIES[f] for f in families)]
    return [f"{name}=={versions[name]}" if name in versions else name for name in wanted]


def signature(encoding: FrameEncoding) -> ModelSignature:
    """Return the model's signature: its input columns, its output, its ``predict_method``."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    declared = {"double": DataType.double, "boolean": DataType.boolean}
    inputs = Schema(
        [ColSpec(type=declared.get(c.declared) or AnyType(), name=c.name) for c in encoding.columns]
    )
    output_type: Any = DataType.double
    if encoding.labels is not None:
        output_type = _label_type(encoding.labels)
    params = ParamSchema(
        [ParamSpec("predict_method", DataType.string, served_model.PREDICT_METHODS[0])]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(output_type)]), params=params)


def _label_type(labels: Sequence[Any]) -> Any:
    from mlflow.types import DataType
    from mlflow.types.schema import AnyType

    kinds = {type(label) for label in labels}
    if kinds == {bool}:
        return DataType.boolean
    if kinds == {int}:
        return DataType.long
    if kinds <= {int, float}:
        return DataType.double
    if kinds == {str}:
        return DataType.string
    return AnyType()


def input_example(encoding: FrameEncoding) -> pd.DataFrame:
    """Return a synthetic input example: a typical row, then a row of missing values.

    The typical row holds each number column's median and each category column's most frequent
    level; no row of the data is copied.
    """
    rows: dict[str, list[Any]] = {}
    for column in encoding.columns:
        rows[column.name] = [column.example, None]
    frame = pd.DataFrame(rows)
    for column in encoding.columns:
        if column.declared == "double":
            frame[column.name] = frame[column.name].astype("float64")
        else:
            frame[column.name] = frame[column.name].astype(object)
    return frame


def served_predictions(model_uri: str, frame: pd.DataFrame, n_classes: int | None) -> np.ndarray:
    """Load a logged model as its users do (``mlflow.pyfunc``) and predict ``frame`` for scoring.

    Classification returns ``predict_proba`` (the positive class's column for binary, as training
    scores it), regression ``predict``: what :func:`tools.training.metrics.score` takes.

    Args:
        model_uri: The model's ``models:/`` (or ``runs:/``) URI.
        frame: Rows as a user has them: the catalogued file's columns.
        n_classes: The class count (None for regression).
    """
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_uri)
    if n_classes is None:
        return np.asarray(model.predict(frame), dtype=np.float64)
    proba = np.asarray(model.predict(frame, params={"predict_method": "predict_proba"}))
    return proba[:, 1] if proba.shape[1] == 2 else proba
