from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tools.data.curate import add_dataset
from tools.data.load import load_curated
from tools.data.split import split
from tools.data.validate import prepare

ADULT = Path("/work/shared/datasets/adult.parquet")

pytestmark = pytest.mark.skipif(
    not ADULT.exists(),
    reason=f"{ADULT} is absent: it is a shared benchmark file, not shipped with trialrun",
)

CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race"]


def test_adult_with_missing_categories_trains_in_both_boosters(catalog) -> None:
    import lightgbm as lgb
    import xgboost as xgb

    added = add_dataset(
        ADULT,
        name="adult",
        version="v1",
        target="income_gt_50k",
        catalog=catalog,
        pii_columns=["native_country", "sex"],
        curated_by="UCI",
    )
    entry, frame = load_curated("adult", "v1", catalog=catalog)
    data = prepare(frame, entry)
    parts = split(data, seed=0)

    assert (added.rows, added.task, entry.location) == (48842, "binary", str(ADULT))
    assert data.dropped == {"native_country": "pii", "sex": "pii"}
    assert data.categorical_features == CATEGORICAL
    assert data.X["workclass"].isna().sum() > 0  # missing stays missing, not a category
    assert pd.Series(parts.y_valid).mean() == pytest.approx(data.y.mean(), abs=0.005)

    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 2, "max_depth": 4},
        xgb.DMatrix(parts.X_train, parts.y_train, enable_categorical=True),
        num_boost_round=20,
    )
    model = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 2},
        lgb.Dataset(parts.X_train, parts.y_train),
        num_boost_round=20,
    )
    xgb_auc = roc_auc_score(
        parts.y_valid, booster.predict(xgb.DMatrix(parts.X_valid, enable_categorical=True))
    )
    lgb_auc = roc_auc_score(parts.y_valid, model.predict(parts.X_valid))
    assert xgb_auc > 0.88 and lgb_auc > 0.88
