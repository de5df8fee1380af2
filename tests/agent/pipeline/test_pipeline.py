"""The pipeline graph end to end on a real local MLflow store and real data."""

from pathlib import Path

import mlflow
import pytest

from agent.pipeline import build_graph, run_pipeline
from agent.pipeline.events import ProgressEvent, StageStarted, TrialFinished
from agent.pipeline.state import PipelineContext
from agent.request import ExperimentRequest


def request(**changes) -> ExperimentRequest:
    fields = {
        "dataset": "breast_cancer",
        "version": "v1",
        "metric": "roc_auc",
        "model": "lightgbm",
        "budget": {"trials": 4, "seconds": 20, "cpus": 1},
        "seeds": [1, 2],
        "experiment": "pipeline-test",
    }
    fields.update(changes)
    return ExperimentRequest.model_validate(fields)


def client() -> mlflow.MlflowClient:
    from tools import settings

    return mlflow.MlflowClient(settings.tracking_uri())


def test_the_graph_has_named_nodes_in_order():
    nodes = list(build_graph().get_graph().nodes)
    assert nodes[1:-1] == [
        "validate_data",
        "baseline",
        "tune",
        "final_training",
        "verify",
        "report",
    ]


def test_a_tuning_experiment_reports_read_back_numbers(examples_catalog, tracking_store):
    report = run_pipeline(request(), PipelineContext(sources={"dataset": "front matter"}))

    assert report.status == "succeeded", report.failure
    assert report.verification.passed, [c for c in report.verification.checks if not c.passed]
    summary = report.summary
    runs = {
        r.info.run_id: r
        for r in client().search_runs([e.experiment_id for e in client().search_experiments()])
    }
    assert summary.baseline_run_id in runs and summary.best_run_id in runs
    # every number in the summary is what MLflow holds
    assert summary.baseline_value == runs[summary.baseline_run_id].data.metrics["valid_roc_auc"]
    assert summary.best_value == runs[summary.best_run_id].data.metrics["valid_roc_auc"]
    assert summary.delta == pytest.approx(summary.best_value - summary.baseline_value)
    assert [s.seed for s in summary.seeds] == [1, 2]
    served = [
        c for c in report.verification.checks if c.name == "final model serves through pyfunc"
    ]
    assert [c.run_id for c in served] == [s.run_id for s in summary.seeds]
    assert all(c.passed and "= recorded" in c.detail for c in served)
    for seed in summary.seeds:
        assert runs[seed.run_id].data.metrics["valid_roc_auc"] == seed.value
        assert runs[seed.run_id].data.metrics["test_roc_auc"] == seed.test_value
        assert runs[seed.run_id].data.tags["trialrun.seed"] == str(seed.seed)
    # the default test share: the baseline and the finals are scored on it, best vs baseline too
    assert summary.test_fraction == 0.15
    assert summary.baseline_test_value == runs[summary.baseline_run_id].data.metrics["test_roc_auc"]
    assert summary.best_test_value == runs[summary.best_run_id].data.metrics["test_roc_auc"]
    assert summary.test_delta == pytest.approx(
        summary.best_test_value - summary.baseline_test_value
    )
    parent_id = next(c.id for c in report.changes.items if c.kind == "parent_run")
    parent_params = runs[parent_id].data.params
    assert parent_params["test_fraction"] == "0.15"
    assert any("15% of the rows as a test share" in step for step in report.plan.steps)
    assert summary.output is not None and summary.output.mlflow_run_id == summary.best_run_id
    assert summary.output.test_metrics == {"test_roc_auc": summary.best_test_value}
    assert summary.output.model_artifact_path.startswith("models:/")
    assert sum(summary.trials.values()) >= 1 and summary.stop_reason
    # plan: sources and defaults
    sources = {i.name: i.source for i in report.plan.inputs}
    assert sources["dataset"] == "front matter" and sources["metric"] == "default"
    assert "direction" in report.plan.defaults_used
    assert any("tune" in step for step in report.plan.steps)
    # changes: what was created
    kinds = [c.kind for c in report.changes.items]
    for kind in (
        "experiment",
        "parent_run",
        "baseline_run",
        "study",
        "trial_runs",
        "final_run",
        "model",
    ):
        assert kind in kinds
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    assert runs[parent].info.status == "FINISHED"
    children = [r for r in runs.values() if r.data.tags.get("mlflow.parentRunId") == parent]
    assert {r.data.tags["trialrun.role"] for r in children} == {"baseline", "trial", "final"}
    assert all(r.info.status != "RUNNING" for r in runs.values())
    # rollback says how to undo
    assert any(step.endswith(f": trialrun rollback {parent}") for step in report.rollback.steps)
    assert any("model registry is untouched" in step for step in report.rollback.steps)


def test_no_tuning_skips_the_tune_node(examples_catalog, tracking_store):
    report = run_pipeline(request(optimize=False, seeds=[3], test_fraction=0))
    assert report.status == "succeeded"
    # with the test share off, no run carries a test score and the summary says so
    assert report.summary.test_fraction == 0
    assert report.summary.best_test_value is None and report.summary.seeds[0].test_value is None
    assert report.summary.trials == {}
    assert "study" not in [c.kind for c in report.changes.items]
    roles = {
        r.data.tags.get("trialrun.role")
        for r in client().search_runs([e.experiment_id for e in client().search_experiments()])
    }
    assert "trial" not in roles and {"parent", "baseline", "final"} <= roles
    assert report.plan.trials == 0


def test_a_failing_node_ends_in_the_report_not_a_traceback(
    examples_catalog, tracking_store, monkeypatch, tmp_path
):
    # The Optuna storage's folder is there when the pipeline starts and gone when tuning begins:
    # the tune node fails after the baseline was trained.
    folder = tmp_path / "optuna"
    folder.mkdir()
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", f"sqlite:///{folder / 'optuna.db'}")

    def remove_storage_before_tuning(event: ProgressEvent) -> None:
        if isinstance(event, StageStarted) and event.name == "tune":
            folder.rmdir()

    report = run_pipeline(request(), PipelineContext(progress=remove_storage_before_tuning))
    assert report.status == "failed"
    assert report.failure.node == "tune"
    assert "optuna" in report.failure.message.lower()
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    assert client().get_run(parent).info.status == "FAILED"
    # what was created is still verified: the baseline is there and finished
    assert any(c.name.startswith("baseline run") and c.passed for c in report.verification.checks)
    assert any(c.name == "parent run status" and c.passed for c in report.verification.checks)


def test_an_unusable_optuna_storage_stops_the_request_before_anything_is_created(
    examples_catalog, tracking_store, monkeypatch
):
    from tools.errors import Unreachable

    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", "sqlite:////nonexistent/dir/optuna.db")
    with pytest.raises(Unreachable, match="'/nonexistent/dir' does not exist"):
        run_pipeline(request())
    assert mlflow.MlflowClient(tracking_store).search_runs(["0"]) == []
    assert not Path("/nonexistent").exists()


def test_uncatalogued_data_is_refused(examples_catalog, tracking_store):
    report = run_pipeline(request(dataset="churn", version="v3"))
    assert report.status == "refused"
    assert report.failure.node == "validate_data"
    assert "breast_cancer" in report.failure.message  # says what does exist


def test_a_changed_data_file_is_refused(examples_catalog, tracking_store):
    entry = examples_catalog.get("breast_cancer", "v1")
    path = Path(examples_catalog.resolve_location(entry))
    path.write_bytes(path.read_bytes() + b"\0")
    report = run_pipeline(request())
    assert report.status == "refused"
    assert "changed after it was catalogued" in report.failure.message


def test_cancel_during_tuning_kills_the_runs_and_says_so(examples_catalog, tracking_store):
    context = PipelineContext()

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, TrialFinished):
            context.cancel.set()

    context.progress = progress
    report = run_pipeline(request(budget={"trials": 50, "seconds": 60, "cpus": 1}), context)
    assert report.status == "cancelled"
    assert report.rollback.cancelled and report.rollback.cancelled_at is not None
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    assert client().get_run(parent).info.status == "KILLED"
    runs = client().search_runs([e.experiment_id for e in client().search_experiments()])
    assert all(r.info.status != "RUNNING" for r in runs)
    assert report.summary.trials.get("COMPLETE", 0) + report.summary.trials.get("PRUNED", 0) < 50


def test_verification_fails_a_final_model_whose_served_score_is_not_the_recorded_one(
    examples_catalog, tracking_store
):
    from agent.pipeline.verify import check_model_serves
    from tools.experiment.data import load_context
    from tools.experiment.parent import open_parent
    from tools.experiment.request import TuneRequest
    from tools.experiment.train import train_finals

    treq = TuneRequest(dataset="breast_cancer", version="v1", metric="roc_auc", max_rounds=20)
    ctx = load_context(treq)
    (final,) = train_finals(treq, ctx, open_parent(treq, ctx), family="lightgbm", params={})

    recorded = final.fit.valid_score
    assert check_model_serves(final, ctx, metric="roc_auc", recorded=recorded).passed
    off = check_model_serves(final, ctx, metric="roc_auc", recorded=recorded - 0.01)
    assert not off.passed and f"{recorded - 0.01!r} recorded" in off.detail
