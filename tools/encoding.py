"""How a table becomes what a booster reads, and a booster's output what a person reads.

Training and serving use this one module: every training frame is encoded by
:meth:`FrameEncoding.encode`, and every logged model carries a copy of this file and encodes the
frame a user hands it with the same method, so the two can never encode differently.

- Number columns (integers, floats, booleans, nullable extension types, numbers held as text)
  become ``float64``; missing values stay missing.
- Category columns (``category``, string or object) become ``category`` columns of the integer
  codes ``0..K-1`` of the levels seen in the catalogued table; a value never seen there, or a
  missing one, is missing. The boosters therefore only ever see codes: no level is written into
  a booster's model file.
- Columns the model was not trained on are ignored; a missing one is an error naming it.
- Class codes map back to the original labels, in the catalogued target's dtype.

Logged models load this file by its path, outside trialrun's import path, so it imports nothing
but numpy, pandas and (lazily) the booster libraries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

Kind = Literal["number", "category"]
Declared = Literal["double", "boolean", "any"]
FORMAT_VERSION = 1
BOOSTER_FILES = {"xgboost": "model.ubj", "lightgbm": "model.txt"}


def _plain(value: Any) -> Any:
    """Return a numpy scalar as the Python value (JSON and messages read it naturally)."""
    return value.item() if isinstance(value, np.generic) else value


def _key(value: Any) -> str:
    # Levels match by their text, so a level stored as "1" matches 1 from a CSV and vice versa.
    return str(_plain(value))


@dataclass(frozen=True)
class Column:
    """One feature column: how it is encoded and how a caller may pass it.

    Attributes:
        name: The column name.
        kind: ``number`` or ``category``.
        declared: The type a model signature declares: ``double`` for float columns,
            ``boolean`` for bool columns, ``any`` where callers legitimately pass several dtypes
            (integers that may arrive with missing values as floats; categories as
            ``category``, string or object).
        levels: The category levels, in code order (category columns only).
        example: A typical value (the median, or the most frequent level), for input examples.
    """

    name: str
    kind: Kind
    declared: Declared
    levels: tuple[Any, ...] = ()
    example: Any = None


@dataclass(frozen=True)
class FrameEncoding:
    """The features a model reads and the labels it predicts.

    Attributes:
        columns: The feature columns, in the order the boosters read them.
        task: ``binary``, ``multiclass`` or ``regression``.
        labels: The original class label of each class code (classification).
        label_dtype: The catalogued target's dtype, which predicted labels are returned in.
    """

    columns: tuple[Column, ...]
    task: str
    labels: tuple[Any, ...] | None = None
    label_dtype: str | None = None
    _lookups: dict[str, dict[str, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def fit(
        cls,
        raw: pd.DataFrame,
        converted: pd.DataFrame,
        *,
        task: str,
        labels: Sequence[Any] | None = None,
        label_dtype: str | None = None,
    ) -> FrameEncoding:
        """Learn the encoding of ``converted``'s columns.

        Args:
            raw: The feature columns as the file holds them (their dtypes shape the signature).
            converted: The same columns validated: numbers, booleans and ``category`` columns.
            task: The task trained.
            labels: The class labels in code order (classification).
            label_dtype: The target's dtype in the file.
        """
        columns = []
        for name in converted.columns:
            values = converted[name]
            declared = _declared(raw[name].dtype)
            if isinstance(values.dtype, pd.CategoricalDtype):
                observed = set(values.dropna().unique())
                levels = tuple(_plain(c) for c in values.cat.categories if c in observed)
                counts = values.value_counts(sort=True)
                mode = _plain(counts.index[0]) if len(counts) else None
                columns.append(Column(str(name), "category", "any", levels, mode))
                continue
            numbers = pd.to_numeric(values.astype("float64"), errors="coerce")
            median = numbers.median()
            example: Any = None if pd.isna(median) else float(median)
            if declared == "boolean":
                example = bool(example is not None and example >= 0.5)
            elif example is not None and ptypes.is_integer_dtype(raw[name].dtype):
                example = int(round(example))
            columns.append(Column(str(name), "number", declared, (), example))
        return cls(
            tuple(columns),
            task,
            None if labels is None else tuple(_plain(v) for v in labels),
            label_dtype,
        )

    @property
    def feature_names(self) -> list[str]:
        """Return the feature column names, in order."""
        return [c.name for c in self.columns]

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``frame``'s feature columns as the boosters read them (same index).

        Raises:
            ValueError: A feature column is missing, or a number column holds a value that is
                not a number; the message names the column and the value.
        """
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise ValueError(
                f"The input lacks column(s) {', '.join(map(repr, missing))} the model was "
                "trained on. Pass the catalogued file's columns (the target is not needed)."
            )
        encoded = {
            c.name: (
                self._numbers(c, frame[c.name])
                if c.kind == "number"
                else self._codes(c, frame[c.name])
            )
            for c in self.columns
        }
        return pd.DataFrame(encoded, index=frame.index)

    def _numbers(self, column: Column, values: pd.Series) -> pd.Series:
        if ptypes.is_bool_dtype(values.dtype) or (
            ptypes.is_numeric_dtype(values.dtype) and not ptypes.is_complex_dtype(values.dtype)
        ):
            return values.astype("float64")
        try:
            return pd.to_numeric(values.astype(object), errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"Column {column.name!r} holds numbers in training, but the input has a value "
                f"that is not one: {exc}. Pass numbers (or leave the cell empty)."
            ) from exc

    def _codes(self, column: Column, values: pd.Series) -> pd.Categorical:
        lookup = self._lookups.get(column.name)
        if lookup is None:
            lookup = {}
            for code, level in enumerate(column.levels):
                lookup.setdefault(_key(level), code)
            self._lookups[column.name] = lookup
        if isinstance(values.dtype, pd.CategoricalDtype):
            positions, uniques = values.cat.codes.to_numpy(), values.cat.categories
        else:
            positions, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
        mapped = np.array([lookup.get(_key(u), -1) for u in uniques] + [-1], dtype=np.int64)
        # Position -1 (a missing value) picks the trailing -1 of ``mapped``.
        codes = mapped[positions]
        dtype = pd.CategoricalDtype(pd.RangeIndex(len(column.levels)))
        return pd.Categorical.from_codes(codes, dtype=dtype)

    def labels_of(self, codes: np.ndarray) -> pd.Series:
        """Return class codes as the original labels, in the catalogued target's dtype."""
        if self.labels is None:
            raise ValueError("A regression model has no class labels.")
        values = np.asarray(self.labels, dtype=object)[np.asarray(codes, dtype=np.int64)]
        if self.label_dtype == "category":
            return pd.Series(pd.Categorical(values, categories=list(self.labels)))
        try:
            return pd.Series(values).astype(self.label_dtype or object)
        except (TypeError, ValueError):
            return pd.Series(values)

    def to_dict(self) -> dict[str, Any]:
        """Return the encoding as JSON-ready data."""
        return {
            "format_version": FORMAT_VERSION,
            "task": self.task,
            "labels": None if self.labels is None else list(self.labels),
            "label_dtype": self.label_dtype,
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "declared": c.declared,
                    "levels": list(c.levels),
                    "example": c.example,
                }
                for c in self.columns
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameEncoding:
        """Rebuild an encoding from :meth:`to_dict`'s output."""
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"Encoding format {data.get('format_version')!r} is not {FORMAT_VERSION}: the "
                "model was written by another trialrun version."
            )
        columns = tuple(
            Column(c["name"], c["kind"], c["declared"], tuple(c["levels"]), c["example"])
            for c in data["columns"]
        )
        labels = data["labels"]
        return cls(
            columns, data["task"], None if labels is None else tuple(labels), data["label_dtype"]
        )

    def to_json(self) -> str:
        """Return the encoding as JSON text."""
        return json.dumps(self.to_dict(), indent=1)


def _declared(dtype: Any) -> Declared:
    if ptypes.is_bool_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "boolean"
    if ptypes.is_float_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "double"
    return "any"


def booster_to_bytes(family: str, booster: Any) -> bytes:
    """Serialise a booster: XGBoost's UBJSON, LightGBM's text format."""
    if family == "xgboost":
        return bytes(booster.save_raw("ubj"))
    return str(booster.model_to_string()).encode()


def booster_from_bytes(family: str, data: bytes) -> Any:
    """Load a booster serialised by :func:`booster_to_bytes`."""
    if family == "xgboost":
        import xgboost as xgb

        return xgb.Booster(model_file=bytearray(data))
    import lightgbm as lgb

    return lgb.Booster(model_str=data.decode())


def predict_booster(family: str, booster: Any, X: pd.DataFrame) -> np.ndarray:
    """Return a booster's probabilities (classification) or values (regression) for encoded ``X``.

    Binary classification gives the positive class's probability per row, multiclass one row
    of class probabilities, regression the values.
    """
    if family == "xgboost":
        import xgboost as xgb

        return np.asarray(booster.predict(xgb.DMatrix(X, enable_categorical=True)))
    return np.asarray(booster.predict(X))


def predict_members(members: Sequence[tuple[str, Any, float]], X: pd.DataFrame) -> np.ndarray:
    """Return the weighted mean of the members' predictions (one member: its own, unchanged).

    Args:
        members: ``(family, booster, weight)`` per member; weights need not sum to one.
        X: Encoded features.
    """
    if len(members) == 1:
        family, booster, _ = members[0]
        return predict_booster(family, booster, X)
    total = float(sum(weight for _, _, weight in members))
    mean: np.ndarray | None = None
    for family, booster, weight in members:
        part = predict_booster(family, booster, X).astype(np.float64) * (weight / total)
        mean = part if mean is None else mean + part
    assert mean is not None
    return mean


def probability_matrix(pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Return predictions as one column of probabilities per class (binary: two columns)."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 1:
        return np.column_stack([1.0 - pred, pred])
    return pred.reshape(len(pred), n_classes)
