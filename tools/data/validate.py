"""Checks a curated table before training and turns it into features and an encoded target.

Every failure is a :class:`~tools.errors.DataError` naming the column or value and what to do.
Identifier and PII columns are dropped first, so no later message or result carries their values.
String columns are categorical features; :class:`~tools.encoding.FrameEncoding` turns
the validated table into what the boosters read, the same way a logged model does at serving.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tools.data.catalog import DatasetEntry, Task
from tools.data.shares import check_class_sizes, check_fractions
from tools.data.task import choose_task, is_numeric, label_value
from tools.encoding import FrameEncoding
from tools.errors import DataError
from tools.redact import find_secrets, redact

MIN_ROWS = 20
"""Fewest rows a dataset may have: below this a validation share says nothing."""
MAX_CLASSES = 100
"""The most classes a target may have: a boosted model grows one tree per class and round."""
MAX_NAME_CHARS = 512
"""The longest column name: names are written into every model file and run."""
FORBIDDEN_NAME_CHARS = ',:[]{}"<'
"""Characters LightGBM (JSON specials) or XGBoost (``[``, ``]``, ``<``) refuse in feature names."""

_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|idx|index|identifier)$|^(id|uuid|guid)[_\W]")
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")
_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float"}


@dataclass(frozen=True)
class PreparedData:
    """A validated dataset ready for training.

    Attributes:
        X: Feature columns as the boosters read them (identifier and PII columns removed, the
            columns encoded by ``encoding``).
        y: The target: class codes ``0..K-1`` for classification, floats for regression.
        task: The task trained.
        n_classes: Class count for classification, None for regression.
        class_labels: The original label of each class code, None for regression.
        feature_names: The columns of ``X``, in order.
        categorical_features: The ``category`` columns of ``X``.
        dropped: Each removed column with why (``"pii"`` or ``"id"``).
        encoding: How a frame with the file's columns becomes ``X`` (training and serving).
        raw: The file's columns without the target, as read: what a user hands a logged model.
    """

    X: pd.DataFrame
    y: np.ndarray
    task: Task
    n_classes: int | None
    class_labels: list[Any] | None
    feature_names: list[str]
    categorical_features: list[str]
    dropped: dict[str, str]
    encoding: FrameEncoding
    raw: pd.DataFrame


def _quote(names: Iterable[Any]) -> str:
    return ", ".join(repr(n) for n in names)


def check_frame(df: pd.DataFrame, entry: DatasetEntry) -> dict[str, str]:
    """Check the table's shape, target and declared roles; return the columns to drop.

    Raises:
        DataError: No rows or columns, repeated column names, a missing target, a declared
            column not in the file, or a target declared id or PII.
    """
    if df.shape[1] == 0 or len(df) == 0:
        raise DataError(f"Dataset {entry.ref!r} has {len(df)} rows and {df.shape[1]} columns.")
    duplicated = list(dict.fromkeys(df.columns[df.columns.duplicated()]))
    if duplicated:
        raise DataError(f"Column names appear more than once: {_quote(duplicated)}; rename them.")
    _check_names([str(c) for c in df.columns])
    if entry.target not in df.columns:
        raise DataError(
            f"Target column {entry.target!r} is not in the file.",
            field="target",
            hint=f"Use one of the columns: {_quote(df.columns[:30])}"
            f"{' ...' if df.shape[1] > 30 else ''}.",
        )
    dropped = {c: "pii" for c in entry.roles.pii}
    dropped.update({c: "id" for c in entry.roles.id if c not in dropped})
    for role, names in (("id", entry.roles.id), ("pii", entry.roles.pii)):
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise DataError(
                f"Declared {role} column(s) {_quote(missing)} are not in the file.",
                field=f"{role}_columns",
                hint="Check the spelling against the file's header.",
            )
    if entry.target in dropped:
        raise DataError(
            f"Target {entry.target!r} is also declared an {dropped[entry.target]} column, "
            "which is dropped before training.",
            field="target",
            hint="Pick another target or remove the role.",
        )
    return dropped


def _check_names(names: list[str]) -> None:
    """Refuse column names no model file should carry: secrets, control characters, clashes."""
    hint = "Rename the column in the file and add it again."
    for name in names:
        shown = redact(name)[:80]
        secrets = find_secrets(name)
        if secrets:
            raise DataError(
                f"Column name {shown!r} holds what looks like {secrets[0].replace('-', ' ')} (a "
                "secret or personal data); column names are written into every run and model.",
                field="columns",
                hint=hint,
            )
        if not name.strip() or re.search(r"[\x00-\x1f\x7f]", name):
            raise DataError(
                f"Column name {name[:80]!r} is blank or holds a control character (a tab or "
                "newline).",
                field="columns",
                hint=hint,
            )
        if len(name) > MAX_NAME_CHARS:
            raise DataError(
                f"Column name {name[:40]!r}… is {len(name)} characters long; at most "
                f"{MAX_NAME_CHARS} are allowed.",
                field="columns",
                hint=hint,
            )
    # LightGBM writes spaces in feature names as underscores: "a b" and "a_b" would be one name.
    spelled: dict[str, str] = {}
    for name in names:
        key = re.sub(r"\s", "_", name)
        if key in spelled:
            raise DataError(
                f"Columns {spelled[key]!r} and {name!r} differ only in spaces and underscores, "
                "which LightGBM writes alike.",
                field="columns",
                hint=hint,
            )
        spelled[key] = name


def _check_target(y: pd.Series, target: str) -> None:
    nulls = int(y.isna().sum())
    if nulls:
        raise DataError(
            f"Target {target!r} has {nulls} empty value(s).",
            field="target",
            hint="Drop those rows or fill the target in before adding the file.",
        )
    if ptypes.is_float_dtype(y.dtype):
        infinite = int(np.isinf(y.to_numpy(dtype=float)).sum())
        if infinite:
            raise DataError(
                f"Target {target!r} has {infinite} infinite value(s).",
                field="target",
                hint="Drop those rows or replace the values with finite numbers.",
            )
    if ptypes.is_datetime64_any_dtype(y.dtype) or ptypes.is_timedelta64_dtype(y.dtype):
        raise DataError(
            f"Target {target!r} has unsupported dtype {str(y.dtype)!r}.",
            field="target",
            hint="Convert it to numbers or class labels.",
        )
    if y.nunique() < 2:
        raise DataError(
            f"Target {target!r} has a single value ({label_value(y.iloc[0])!r}) on every row; "
            "there is nothing to learn.",
            field="target",
            hint="Pick another target, or add rows of the other class(es).",
        )


def _encode(y: pd.Series, task: Task) -> tuple[np.ndarray, list[Any] | None]:
    if task == "regression":
        return y.to_numpy(dtype=np.float64), None
    codes, uniques = pd.factorize(y, sort=True)
    labels = [label_value(u) for u in uniques]
    return codes.astype(np.int64), labels


def _convert(name: str, col: pd.Series) -> pd.Series:
    """Return ``col`` in a dtype both boosters take, or raise naming what to convert."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype | np.dtypes.BoolDType):
        return col
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        # Nullable extension dtypes (Int64, boolean, ...) become float so NA reads as missing.
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return col.astype(np.float64)
        return col
    if ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        kind = ptypes.infer_dtype(col, skipna=True)
        if kind == "string":
            return col.astype("category")
        if kind in _NUMERIC_KINDS:
            return pd.to_numeric(col).astype(np.float64)
        raise DataError(
            f"Column {name!r} holds {kind} values in an object column.",
            field=name,
            hint="Convert it to numbers or strings before adding the file "
            "(a date, for example, to a timestamp or year).",
        )
    raise DataError(
        f"Column {name!r} has unsupported dtype {str(dtype)!r}.",
        field=name,
        hint="Convert it to numbers or strings before adding the file "
        "(a datetime, for example, to a Unix timestamp, year or day of week).",
    )


def _looks_like_id(name: str, col: pd.Series) -> bool:
    if col.isna().any() or col.nunique() != len(col):
        return False
    if _ID_NAME.search(name.lower()) or _CAMEL_ID.search(name):
        return True
    if isinstance(col.dtype, pd.CategoricalDtype):
        return True
    if is_numeric(col):
        values = np.sort(col.to_numpy(dtype=float))
        return bool(np.all(np.diff(values) == 1))
    return False


def _leaks(col: pd.Series, y: pd.Series, codes: np.ndarray, task: Task) -> str | None:
    """Return how ``col`` copies the target, or None."""
    if task == "regression":
        if is_numeric(col) and np.array_equal(col.to_numpy(dtype=float), y.to_numpy(dtype=float)):
            return "is identical to"
        return None
    if col.nunique(dropna=False) != codes.max() + 1:
        return None
    pairs = pd.DataFrame({"feature": col.to_numpy(), "code": codes})
    per_value = pairs.groupby("feature", dropna=False, observed=True)["code"].nunique()
    if not (per_value == 1).all():
        return None
    same = col.astype(object).reset_index(drop=True).equals(y.astype(object).reset_index(drop=True))
    return "is identical to" if same else "is a one-to-one relabelling of"


def _prepare_features(
    features: pd.DataFrame, y: pd.Series, codes: np.ndarray, task: Task, target: str
) -> pd.DataFrame:
    if features.shape[1] == 0:
        raise DataError(
            f"No feature columns are left besides target {target!r} once identifier and PII "
            "columns are dropped.",
            hint="Add feature columns to the file.",
        )
    empty = list(features.columns[features.isna().all()])
    if empty:
        raise DataError(
            f"Column(s) {_quote(empty)} are empty on every row.",
            field=str(empty[0]),
            hint="Drop them from the file.",
        )
    X = pd.DataFrame({name: _convert(name, features[name]) for name in features.columns})
    infinite = {
        name: int(np.isinf(X[name].to_numpy()).sum())
        for name in X.columns
        if ptypes.is_float_dtype(X[name].dtype)
    }
    infinite = {name: n for name, n in infinite.items() if n}
    if infinite:
        listing = ", ".join(f"{name!r} ({n})" for name, n in infinite.items())
        raise DataError(
            f"Infinite values in column(s) {listing}.",
            field=next(iter(infinite)),
            hint="Replace them with finite numbers, or leave the cells empty to mark them missing.",
        )
    for name in X.columns:
        if _looks_like_id(name, X[name]):
            raise DataError(
                f"Column {name!r} has a different value on every row and looks like an "
                "identifier; a model would only memorise it.",
                field=name,
                hint=f"Declare it an id column (--id-column {name!r}) so it is dropped, or remove "
                "it from the file.",
            )
        how = _leaks(X[name], y, codes, task)
        if how:
            raise DataError(
                f"Feature {name!r} {how} target {target!r}: it leaks the answer into training.",
                field=name,
                hint="Remove the column from the file, or declare it an id column to drop it.",
            )
    bad = [n for n in X.columns if any(ch in FORBIDDEN_NAME_CHARS for ch in str(n))]
    if bad:
        raise DataError(
            f"Column name(s) {_quote(bad)} contain characters XGBoost or LightGBM refuse "
            f"({' '.join(FORBIDDEN_NAME_CHARS)}).",
            field=str(bad[0]),
            hint="Rename the columns in the file.",
        )
    return X


def prepare(
    df: pd.DataFrame,
    entry: DatasetEntry,
    *,
    task: Task | None = None,
    valid_fraction: float = 0.2,
    test_fraction: float = 0.0,
) -> PreparedData:
    """Validate ``df`` against its catalog entry and return features and an encoded target.

    The task is ``task`` when given, else the entry's task, else inferred from the target: a
    bool, string or whole-number target with at most :data:`MAX_INFERRED_CLASSES` values is
    binary or multiclass, any other numeric target is regression.

    Example:
        >>> data = prepare(frame, entry)  # doctest: +SKIP
        >>> data.task, data.n_classes  # doctest: +SKIP
        ('binary', 2)

    Raises:
        DataError: The table fails a check; the message names the column or value.
        InputError: ``task``, ``valid_fraction`` or ``test_fraction`` is not a valid choice.
    """
    check_fractions(valid_fraction, test_fraction)
    df = df.reset_index(drop=True)
    dropped = check_frame(df, entry)
    y = df[entry.target]
    _check_target(y, entry.target)
    if len(df) < MIN_ROWS:
        raise DataError(
            f"Dataset {entry.ref!r} has {len(df)} rows; training needs at least {MIN_ROWS}.",
            hint="Add rows to the file.",
        )
    chosen = choose_task(y, task or entry.task, entry.target)
    codes, labels = _encode(y, chosen)
    if labels is not None and len(labels) > MAX_CLASSES:
        raise DataError(
            f"Target {entry.target!r} has {len(labels)} classes; at most {MAX_CLASSES} are "
            "supported.",
            field="target",
            hint="Group rare classes, or, for a numeric target, catalogue it with --task regression.",
        )
    if labels is not None:
        check_class_sizes(codes, labels, valid_fraction, entry.target, test_fraction)
    features = df.drop(columns=[entry.target, *dropped])
    converted = _prepare_features(features, y, codes, chosen, entry.target)
    encoding = FrameEncoding.fit(
        features, converted, task=chosen, labels=labels, label_dtype=str(y.dtype)
    )
    X = encoding.encode(features)
    return PreparedData(
        X=X,
        y=codes,
        task=chosen,
        n_classes=None if labels is None else len(labels),
        class_labels=labels,
        feature_names=[str(c) for c in X.columns],
        categorical_features=[
            str(c) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)
        ],
        dropped=dropped,
        encoding=encoding,
        raw=df.drop(columns=[entry.target]),
    )
