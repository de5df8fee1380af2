"""The run query tools answer in bounded size, whatever the store holds, and name what they cut."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from pydantic import BaseModel

from tools import settings
from tools.errors import InputError
from tools.tracking import query
from tools.tracking.runs import ensure_experiment
from tools.training.metrics import get_metric
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked


@pytest.fixture
def trained(
    example_contexts: dict[str, DataContext], tracking_store: str
) -> dict[str, TrainOutcome]:
    ctx = example_contexts["breast_cancer"]
    experiment_id = ensure_experiment("cancer")
    return {
        family: train_tracked(
            ctx,
            family=family,
            params={"learning_rate": rate},
            metric=get_metric("roc_auc", "binary"),
            seed=0,
            experiment_id=experiment_id,
            run_name=f"{family}-run",
            role="trial",
            options=TrainOptions(max_rounds=30, log_model=False),
        )
        for family, rate in (("xgboost", 0.3), ("lightgbm", 0.1))
    }


@pytest.fixture
def huge_run(tracking_store: str) -> str:
    """A run far bigger than any answer may be: 300 params, a 10 kB value, 5000 history points."""
    client = MlflowClient(tracking_store)
    run_id = client.create_run(ensure_experiment("huge"), run_name="huge").info.run_id
    params = [Param(f"p{i:03d}", str(i)) for i in range(300)] + [Param("long", "x" * 5000)]
    history = [Metric("round_valid_rmse", 100.0 - i / 100, 0, i) for i in range(5000)]
    history[1234] = Metric("round_valid_rmse", -1.0, 0, 1234)
    extra = [Metric(f"m{i:03d}", float(i), 0, 0) for i in range(100)]
    client.log_batch(run_id, params=params, metrics=history + extra)
    client.set_terminated(run_id)
    return run_id


def size(answer: BaseModel) -> int:
    return len(json.dumps(answer.model_dump(mode="json")))


def test_search_runs_returns_the_experiments_runs_in_the_order_asked(
    trained: dict[str, TrainOutcome],
) -> None:
    found = query.search_runs("cancer", order_by="params.learning_rate DESC", limit=5)

    assert found.experiments == ["cancer"]
    assert [r.name for r in found.runs] == ["xgboost-run", "lightgbm-run"]
    assert found.more is False
    first = found.runs[0]
    assert first.run_id == trained["xgboost"].output.mlflow_run_id
    assert first.status == "FINISHED" and first.role == "trial"
    assert first.metrics["valid_roc_auc"] == pytest.approx(trained["xgboost"].fit.valid_score)
    assert first.params["family"] == "xgboost"


def test_search_runs_filters_limits_and_says_when_more_runs_match(
    trained: dict[str, TrainOutcome],
) -> None:
    only_lightgbm = query.search_runs("cancer", filter="params.family = 'lightgbm'")
    one = query.search_runs(None, limit=1)

    assert [r.name for r in only_lightgbm.runs] == ["lightgbm-run"]
    assert len(one.runs) == 1 and one.more is True
    assert "cancer" in one.experiments


def test_search_runs_lowers_a_limit_above_the_cap_and_says_so(
    trained: dict[str, TrainOutcome],
) -> None:
    found = query.search_runs("cancer", limit=10_000)

    assert found.cut == [f"limit 10000 lowered to {query.MAX_RUNS}"]


def test_an_unknown_experiment_is_refused_listing_the_existing_ones(
    trained: dict[str, TrainOutcome],
) -> None:
    with pytest.raises(InputError, match=r"'no-such-experiment'.*'cancer'") as refused:
        query.search_runs("no-such-experiment")
    assert refused.value.field == "experiment"


@pytest.mark.parametrize(
    ("filter", "order_by"), [("metrics.valid_roc_auc >>> 1", None), (None, "nonsense DESC DESC")]
)
def test_a_filter_or_order_mlflow_cannot_parse_is_refused_with_an_example(
    trained: dict[str, TrainOutcome], filter: str | None, order_by: str | None
) -> None:
    with pytest.raises(InputError, match="MLflow's search syntax") as refused:
        query.search_runs("cancer", filter=filter, order_by=order_by)
    assert refused.value.field == "filter"


def test_a_limit_below_one_is_refused(tracking_store: str) -> None:
    with pytest.raises(InputError, match="limit 0"):
        query.search_runs(None, limit=0)


def test_get_run_shows_params_metrics_tags_dataset_and_artifacts(
    trained: dict[str, TrainOutcome],
) -> None:
    outcome = trained["lightgbm"]

    run = query.get_run(outcome.output.mlflow_run_id)

    assert run.name == "lightgbm-run"
    assert run.params["learning_rate"] == "0.1"
    assert run.metrics["rounds"] == outcome.fit.rounds
    assert run.tags["trialrun.family"] == "lightgbm"
    assert run.tags["dataset.name"] == "breast_cancer"
    assert run.datasets == [f"breast_cancer@v1 (digest {outcome_digest(outcome)})"]
    assert "feature_importances.json" in run.artifacts
    assert run.duration_seconds is not None and run.duration_seconds >= 0
    assert run.cut == []


def outcome_digest(outcome: TrainOutcome) -> str:
    run = MlflowClient(settings.tracking_uri()).get_run(outcome.output.mlflow_run_id)
    return str(run.inputs.dataset_inputs[0].dataset.digest)


def test_an_unknown_run_is_refused_saying_how_to_find_runs(tracking_store: str) -> None:
    with pytest.raises(InputError, match=r"'0123456789abcdef'.*search_runs") as refused:
        query.get_run("0123456789abcdef")
    assert refused.value.field == "run_id"


def test_answers_about_a_huge_run_are_bounded_and_say_what_was_cut(huge_run: str) -> None:
    run = query.get_run(huge_run)
    listed = query.search_runs("huge")
    history = query.metric_history(huge_run, "round_valid_rmse")

    assert len(run.params) == query.MAX_KEYS and len(run.metrics) == query.MAX_KEYS
    assert "261 more params not shown (301 in all)" in run.cut
    assert "61 more metrics not shown (101 in all)" in run.cut
    assert len(listed.runs[0].params) == query.MAX_LIST_KEYS
    assert size(run) < 10_000 and size(listed) < 5_000

    assert history.total_points == 5000
    assert len(history.points) == query.MAX_POINTS
    assert history.points[0] == (0, 100.0) and history.points[-1] == (4999, 100.0 - 4999 / 100)
    assert history.min == (1234, -1.0)  # kept although downsampling skips step 1234
    assert history.max == (0, 100.0)
    assert history.cut and "5000 points downsampled" in history.cut[0]
    assert size(history) < 10_000


def test_a_long_value_is_cut_and_the_cut_named(tracking_store: str) -> None:
    client = MlflowClient(tracking_store)
    run_id = client.create_run(ensure_experiment("long")).info.run_id
    client.log_param(run_id, "note", "y" * 5000)

    run = query.get_run(run_id)

    assert run.params["note"] == "y" * query.MAX_TEXT + "..."
    assert f"1 params cut to {query.MAX_TEXT} characters: 'note'" in run.cut


def test_compare_runs_puts_values_side_by_side_with_differing_params_first(
    trained: dict[str, TrainOutcome],
) -> None:
    xgb_id = trained["xgboost"].output.mlflow_run_id
    lgb_id = trained["lightgbm"].output.mlflow_run_id

    compared = query.compare_runs([xgb_id, lgb_id])

    assert compared.run_ids == [xgb_id, lgb_id]
    assert compared.params["family"] == {xgb_id: "xgboost", lgb_id: "lightgbm"}
    assert compared.params["learning_rate"] == {xgb_id: "0.3", lgb_id: "0.1"}
    assert compared.params["seed"] == {xgb_id: "0", lgb_id: "0"}
    assert set(compared.differing_params) == {"family", "learning_rate"}
    assert list(compared.params)[:2] == compared.differing_params
    assert compared.metrics["valid_roc_auc"][lgb_id] == pytest.approx(
        trained["lightgbm"].fit.valid_score
    )


def test_compare_runs_needs_two_known_runs(trained: dict[str, TrainOutcome]) -> None:
    run_id = trained["xgboost"].output.mlflow_run_id

    with pytest.raises(InputError, match="2 to 10 distinct run IDs"):
        query.compare_runs([run_id, run_id])
    with pytest.raises(InputError, match="'feedface'"):
        query.compare_runs([run_id, "feedface"])


def test_metric_history_gives_one_point_per_round(trained: dict[str, TrainOutcome]) -> None:
    outcome = trained["xgboost"]

    history = query.metric_history(outcome.output.mlflow_run_id, "round_valid_auc")

    assert history.total_points == outcome.fit.rounds
    assert [v for _, v in history.points] == pytest.approx(outcome.fit.curves["valid"])
    assert history.cut == []


def test_metric_history_of_an_unknown_key_lists_the_runs_metrics(
    trained: dict[str, TrainOutcome],
) -> None:
    run_id = trained["xgboost"].output.mlflow_run_id

    with pytest.raises(InputError, match=r"no metric 'valid_rmse'.*round_valid_auc") as refused:
        query.metric_history(run_id, "valid_rmse")
    assert refused.value.field == "key"
