from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.data.split import split
from tools.data.validate import prepare
from tools.errors import DataError, InputError

Frame = Callable[[pd.DataFrame], pd.DataFrame]
RNG = np.random.default_rng(0)


def _with(**columns: Callable[[pd.DataFrame], Any]) -> Frame:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        for name, make in columns.items():
            df[name] = make(df)
        return df

    return mutate


def _set(column: str, rows: slice, value: Any) -> Frame:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[df.index[rows], column] = value
        return df

    return mutate


def _per_class(n: int) -> Frame:
    return lambda df: df.groupby("cultivar").head(n).reset_index(drop=True)


@dataclass
class Case:
    mutate: Frame
    expected: tuple[str, ...]
    error: type[Exception] = DataError
    entry: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)


CULTIVAR_NAMES = {0: "barolo", 1: "grignolino", 2: "barbera"}

CASES: dict[str, Case] = {
    "no rows": Case(lambda df: df.iloc[0:0], ("0 rows",)),
    "no columns": Case(lambda df: pd.DataFrame(index=df.index), ("0 columns",)),
    "target not in file": Case(
        lambda df: df, ("'quality'", "not in the file", "'alcohol'"), entry={"target": "quality"}
    ),
    "target with nulls": Case(_set("cultivar", slice(0, 3), np.nan), ("'cultivar'", "3 empty")),
    "target with one class": Case(_with(cultivar=lambda df: 1), ("'cultivar'", "single value (1)")),
    "infinite regression target": Case(
        _set("proline", slice(0, 2), np.inf),
        ("'proline'", "2 infinite"),
        entry={"target": "proline"},
    ),
    "fewer than 20 rows": Case(_per_class(4), ("12 rows", "at least 20")),
    "class with one row": Case(
        lambda df: pd.concat([df[df.cultivar < 2], df[df.cultivar == 2].head(1)]),
        ("'cultivar'", "2 (1 row)", "at least 2 rows"),
    ),
    "class too small for a test share": Case(
        lambda df: pd.concat([df[df.cultivar < 2], df[df.cultivar == 2].head(2)]),
        ("'cultivar'", "2 (2 rows)", "at least 3 rows", "test_fraction to 0"),
        kwargs={"test_fraction": 0.15},
    ),
    "test share misses a class": Case(
        _per_class(10),
        ("2 test rows", "3 classes", "'cultivar'"),
        kwargs={"test_fraction": 0.05},
    ),
    "test fraction of one": Case(
        lambda df: df, ("test_fraction 1.0", "between 0"), InputError, kwargs={"test_fraction": 1.0}
    ),
    "validation share misses a class": Case(
        _per_class(10),
        ("2 validation", "3 classes", "'cultivar'"),
        kwargs={"valid_fraction": 0.05},
    ),
    "all-null column": Case(_with(notes=lambda df: None), ("'notes'", "empty on every row")),
    "infinite values": Case(
        _set("alcohol", slice(0, 4), np.inf), ("'alcohol' (4)", "Infinite values")
    ),
    "feature identical to target": Case(
        _with(label_copy=lambda df: df.cultivar),
        ("'label_copy' is identical to target 'cultivar'", "leaks"),
    ),
    "feature relabels the target": Case(
        _with(cultivar_name=lambda df: df.cultivar.map(CULTIVAR_NAMES)),
        ("'cultivar_name' is a one-to-one relabelling of target 'cultivar'",),
    ),
    "regression feature identical to target": Case(
        _with(proline_copy=lambda df: df.proline.astype("float32").astype("float64")),
        ("'proline_copy' is identical to target 'proline'",),
        entry={"target": "proline"},
    ),
    "identifier by name": Case(
        _with(customer_id=lambda df: RNG.choice(10**6, len(df), replace=False)),
        ("'customer_id'", "identifier", "--id-column"),
    ),
    "identifier by row numbers": Case(
        _with(**{"Unnamed: 0": lambda df: np.arange(len(df))}), ("'Unnamed: 0'", "identifier")
    ),
    "identifier by unique strings": Case(
        _with(sample_code=lambda df: [f"S-{i:04d}" for i in range(len(df))]),
        ("'sample_code'", "identifier"),
    ),
    "datetime column": Case(
        _with(harvest=lambda df: pd.date_range("2020-01-01", periods=len(df))),
        ("'harvest'", "datetime64", "Unix timestamp"),
    ),
    "timedelta column": Case(
        _with(aging=lambda df: pd.to_timedelta(np.arange(len(df)) % 7, unit="D")),
        ("'aging'", "timedelta64", "Convert"),
    ),
    "complex column": Case(
        _with(phase=lambda df: df.alcohol.to_numpy() + 1j), ("'phase'", "complex128")
    ),
    "mixed-type object column": Case(
        _with(notes=lambda df: pd.Series([1, "a"] * (len(df) // 2), dtype=object)),
        ("'notes'", "mixed", "Convert"),
    ),
    "id column not in file": Case(
        lambda df: df, ("'row_id'", "not in the file"), entry={"id": ("row_id",)}
    ),
    "pii column not in file": Case(
        lambda df: df, ("'email'", "not in the file"), entry={"pii": ("email",)}
    ),
    "target declared pii": Case(
        lambda df: df, ("'cultivar'", "pii column"), entry={"pii": ("cultivar",)}
    ),
    "regression on a string target": Case(
        _with(cultivar=lambda df: df.cultivar.map(CULTIVAR_NAMES)),
        ("'regression'", "numeric target", "'cultivar'"),
        kwargs={"task": "regression"},
    ),
    "binary on a 3-class target": Case(
        lambda df: df, ("'binary'", "exactly 2 classes", "has 3"), kwargs={"task": "binary"}
    ),
    "catalogued binary on a 3-class target": Case(
        lambda df: df, ("'binary'", "has 3"), entry={"task": "binary"}
    ),
    "multiclass on a 2-class target": Case(
        lambda df: df[df.cultivar < 2],
        ("'multiclass'", "at least 3 classes", "has 2"),
        kwargs={"task": "multiclass"},
    ),
    "unknown task": Case(
        lambda df: df,
        ("'classification'", "binary, multiclass, regression"),
        InputError,
        kwargs={"task": "classification"},
    ),
    "name a booster refuses": Case(
        lambda df: df.rename(columns={"alcohol": "alcohol[%]"}), ("'alcohol[%]'", "Rename")
    ),
    "no features left": Case(
        lambda df: df[["cultivar", "alcohol"]], ("No feature columns",), entry={"pii": ("alcohol",)}
    ),
    "duplicate column names": Case(
        lambda df: pd.concat([df, df[["alcohol"]]], axis=1), ("'alcohol'", "more than once")
    ),
    "valid fraction out of range": Case(
        lambda df: df, ("1.5", "between 0 and 1"), InputError, kwargs={"valid_fraction": 1.5}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_naming_the_column_or_value(case: Case, wine, make_entry) -> None:
    frame = case.mutate(wine)
    with pytest.raises(case.error) as raised:
        prepare(frame, make_entry(**case.entry), **case.kwargs)
    assert type(raised.value) is case.error
    for text in case.expected:
        assert text in str(raised.value)


def test_pii_and_id_columns_are_dropped_and_strings_become_categories(wine, make_entry) -> None:
    wine["email"] = [f"taster{i}@example.org" for i in range(len(wine))]
    wine["lot_id"] = np.arange(len(wine)) * 7
    wine["region"] = np.where(wine.alcohol > 13, "hills", "plain")

    data = prepare(wine, make_entry(id=("lot_id",), pii=("email",)))

    assert data.dropped == {"email": "pii", "lot_id": "id"}
    assert "email" not in data.X and "lot_id" not in data.X
    assert "cultivar" not in data.feature_names
    assert data.categorical_features == ["region"]
    assert isinstance(data.X["region"].dtype, pd.CategoricalDtype)
    assert (data.task, data.n_classes, data.class_labels) == ("multiclass", 3, [0, 1, 2])


def test_string_labels_are_encoded_in_sorted_order_and_kept(wine, make_entry) -> None:
    wine["cultivar"] = wine.cultivar.map(CULTIVAR_NAMES)

    data = prepare(wine, make_entry())

    assert data.class_labels == ["barbera", "barolo", "grignolino"]
    assert data.y.dtype == np.int64
    decoded = [data.class_labels[code] for code in data.y]
    assert decoded == wine.cultivar.tolist()


@pytest.mark.parametrize(
    ("target", "values", "task"),
    [
        ("flag", lambda n: np.arange(n) % 2 == 0, "binary"),
        ("label", lambda n: np.array(["a", "b", "c"])[np.arange(n) % 3], "multiclass"),
        ("count", lambda n: np.arange(n) % 2, "binary"),
        ("score", lambda n: np.linspace(0, 1, n), "regression"),
        ("age", lambda n: 20 + np.arange(n) % 50, "regression"),
        ("grade", lambda n: (np.arange(n) % 5).astype(float), "multiclass"),
    ],
)
def test_task_is_inferred_from_the_target(target, values, task, wine, make_entry) -> None:
    wine[target] = values(len(wine))
    data = prepare(wine.drop(columns="cultivar"), make_entry(target))
    assert data.task == task


def test_task_argument_overrides_the_catalogued_task(wine, make_entry) -> None:
    assert prepare(wine, make_entry(task="regression"), task="multiclass").task == "multiclass"
    regression = prepare(wine, make_entry(task="multiclass"), task="regression")
    assert (regression.task, regression.n_classes, regression.y.dtype) == (
        "regression",
        None,
        np.float64,
    )


def test_split_is_stratified_and_sized_by_the_fraction(wine, make_entry) -> None:
    data = prepare(wine, make_entry())

    parts = split(data, seed=0, valid_fraction=0.25, test_fraction=0)

    assert len(parts.X_valid) == 45 and len(parts.X_train) == 133
    assert len(parts.X_test) == 0 and len(parts.y_test) == 0
    assert list(parts.X_test.columns) == data.feature_names
    expected = np.bincount(data.y) / len(data.y)
    assert np.allclose(np.bincount(parts.y_valid) / len(parts.y_valid), expected, atol=0.03)
    again = split(data, seed=0, valid_fraction=0.25, test_fraction=0)
    assert parts.X_valid.index.equals(again.X_valid.index)


def test_the_test_share_is_held_out_first_stratified_and_disjoint(wine, make_entry) -> None:
    data = prepare(wine, make_entry())

    parts = split(data, seed=0)

    assert len(parts.X_test) == 27  # 15 % of 178, rounded up
    assert len(parts.X_valid) == 31 and len(parts.X_train) == 120  # 20 % of the other 151
    indices = [set(parts.X_train.index), set(parts.X_valid.index), set(parts.X_test.index)]
    assert sum(map(len, indices)) == len(set().union(*indices)) == len(data.X)
    expected = np.bincount(data.y) / len(data.y)
    assert np.allclose(np.bincount(parts.y_test) / len(parts.y_test), expected, atol=0.05)
    assert np.array_equal(parts.y_test, data.y[data.X.index.get_indexer(parts.X_test.index)])


def test_split_refuses_a_fraction_that_leaves_a_class_out(wine, make_entry) -> None:
    data = prepare(wine.groupby("cultivar").head(10), make_entry())
    with pytest.raises(DataError, match="3 classes"):
        split(data, seed=0, valid_fraction=0.05)


def test_prepared_categories_train_in_xgboost_and_lightgbm(wine, make_entry) -> None:
    import lightgbm as lgb
    import xgboost as xgb

    wine["colour"] = pd.cut(wine.color_intensity, 3, labels=["pale", "ruby", "deep"]).astype(str)
    data = prepare(wine.drop(columns="color_intensity"), make_entry())
    parts = split(data, seed=0)

    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "tree_method": "hist", "nthread": 1},
        xgb.DMatrix(parts.X_train, parts.y_train, enable_categorical=True),
        num_boost_round=5,
    )
    assert booster.feature_types[data.feature_names.index("colour")] == "c"
    model = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(parts.X_train, parts.y_train),
        num_boost_round=5,
    )
    assert model.pandas_categorical == [list(data.X["colour"].cat.categories)]
    infos = model.dump_model()["feature_infos"]
    assert infos["colour"]["values"] and not infos["alcohol"]["values"]  # categorical vs numeric
    proba = model.predict(parts.X_valid)
    assert (proba.argmax(axis=1) == parts.y_valid).mean() > 0.8
