"""Sample reports and snapshot checking for the renderer tests.

The samples cover each outcome a user can meet. They are built from the real report model with
fixed IDs and times, shaped like the reports agent/pipeline/report.py builds, so snapshots stay
stable. Tests reach them through fixtures (the suite imports test modules in importlib mode, so
a helper module beside them cannot be imported by name): a test taking ``sample`` runs once per
sample, ``report`` is that sample's report, and ``samples`` gives the builders.

Snapshots are compared exactly and never created silently: a missing one is written and the test
fails, so it is reviewed before it counts. ``TRIALRUN_UPDATE_SNAPSHOTS=1`` rewrites them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console, RenderableType

from agent.report.model import (
    Change,
    Changes,
    Check,
    Failure,
    Plan,
    PlanInput,
    Report,
    Rollback,
    SeedResult,
    Summary,
    Verification,
)
from tools.experiment.results import BEST_DEFINITION
from tools.tracking.links import ui_link
from tools.training.run import ModelTrainerOutput

SNAPSHOTS = Path(__file__).parent / "snapshots"

UI = "http://mlflow.internal:5000"
EXPERIMENT = "7"
PARENT = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
BASELINE = "1b2c3d4e5f60718293a4b5c6d7e8f90a"
FINALS = (
    "2c3d4e5f607182930a4b5c6d7e8f90a1",
    "3d4e5f6071829304a5b6c7d8e9f0a1b2",
    "4e5f60718293a4b5c6d7e8f90a1b2c3d",
)
STUDY = "adult-v1-roc_auc-0a1b2c3d"
BEST_TRIAL = "9e8d7c6b5a4f43218765fedcba098765"
SECRET_PASSWORD = "hunter2pass"
SECRET_KEY = "sk-proj-Zq8xT3vLm2Nw9Kp4Rj7Yb1Hc"


def _link(run_id: str | None = None) -> str:
    return ui_link(UI, EXPERIMENT, run_id)


def _plan(*, trials: int = 50) -> Plan:
    budget = {"trials": trials, "seconds": 600.0, "cpus": 2, "gpus": 0, "parallel": 1}
    return Plan(
        inputs=[
            PlanInput(name="dataset", value="adult", source="front matter"),
            PlanInput(name="version", value="v1", source="front matter"),
            PlanInput(name="metric", value="roc_auc", source="text"),
            PlanInput(name="budget", value=budget, source="front matter"),
            PlanInput(name="seeds", value=[0, 1, 2], source="text"),
            PlanInput(name="target", value="income", source="catalog"),
            PlanInput(name="model", value="lightgbm", source="default"),
            PlanInput(name="optimize", value=True, source="default"),
            PlanInput(name="runtime", value="local", source="default"),
            PlanInput(name="direction", value="maximize", source="default"),
        ],
        defaults_used=["model", "optimize", "runtime", "direction"],
        steps=[
            "validate the dataset (catalog entry, digest, columns)",
            "baseline: lightgbm with library defaults, seed 0",
            f"tune: Optuna TPE (seed 0) over lightgbm, up to {trials} trials, 1 at a time",
            "final: the best configuration once per seed [0, 1, 2]",
            "verify every run by reading it back from MLflow",
        ],
        trials=trials,
        best=BEST_DEFINITION,
        rerun="new experiment: no interrupted attempt of this request was found (a finished one "
        "asked again is a new experiment, with a parent run and a study of its own)",
        stopping_rule=(
            "each model early-stops after 50 rounds without improvement on the validation split; "
            "tuning ends at the trial budget or when 600 s would be exceeded"
        ),
        budget=budget,
    )


def _run_checks(label: str, run_id: str, value: float) -> list[Check]:
    return [
        Check(name=f"{label} exists", passed=True, run_id=run_id),
        Check(name=f"{label} status", passed=True, run_id=run_id, detail="FINISHED"),
        Check(name=f"{label} metrics", passed=True, run_id=run_id, detail=f"valid_roc_auc={value}"),
    ]


def succeeded() -> Report:
    """A tuning experiment that finished: baseline, 50 trials, three final seeds, links."""
    values = (0.92871, 0.92734, 0.92805)
    tests = (0.93012, 0.92950, 0.92991)
    output = ModelTrainerOutput(
        model_artifact_path="models:/m-5f6a7b8c9d0e",
        training_metrics={"train_roc_auc": 0.9512345},
        validation_metrics={"valid_roc_auc": values[0]},
        test_metrics={"test_roc_auc": tests[0]},
        best_hyperparameters={
            "learning_rate": 0.0512,
            "num_leaves": 63,
            "min_child_samples": 24,
            "n_estimators": 412,
        },
        mlflow_run_id=FINALS[0],
        training_time_seconds=14.237,
    )
    items = [
        Change(kind="experiment", id=EXPERIMENT, name="adult-v1", link=_link()),
        Change(kind="parent_run", id=PARENT, link=_link(PARENT), detail="created"),
        Change(kind="baseline_run", id=BASELINE, name="baseline-lightgbm", link=_link(BASELINE)),
        Change(kind="study", id=STUDY, name="sqlite:///optuna.db", detail="47 complete, 3 pruned"),
        Change(
            kind="trial_runs",
            id=BEST_TRIAL,
            name="trial-031 (best trial)",
            link=_link(BEST_TRIAL),
            detail="the best of 50 trial runs, all children of the parent run",
        ),
    ]
    for seed, run_id in enumerate(FINALS):
        items.append(
            Change(
                kind="final_run", id=run_id, name=f"final-lightgbm-seed{seed}", link=_link(run_id)
            )
        )
    items.append(
        Change(kind="model", id="models:/m-5f6a7b8c9d0e", detail="logged model (not registered)")
    )
    checks = _run_checks("baseline run lightgbm", BASELINE, 0.91234)
    for run_id, value in zip(FINALS, values, strict=True):
        checks += _run_checks("final run lightgbm", run_id, value)
    checks.append(
        Check(
            name="final model serves through pyfunc",
            passed=True,
            run_id=FINALS[0],
            detail="valid_roc_auc 0.92871 = recorded",
        )
    )
    checks.append(
        Check(
            name="final run lightgbm git SHA",
            passed=True,
            warning=True,
            run_id=FINALS[0],
            detail="not a git checkout: the code version is not recorded",
        )
    )
    return Report(
        title="adult-v1: roc_auc on adult@v1",
        status="succeeded",
        plan=_plan(),
        changes=Changes(tracking_uri=UI, items=items),
        verification=Verification(checks=checks),
        rollback=Rollback(
            steps=[
                "undo it (the parent run, every baseline, trial and final run, their logged "
                f"models and the Optuna study): trialrun rollback {PARENT}",
                "nothing was registered, aliased, staged or deployed: the registry is untouched",
            ]
        ),
        summary=Summary(
            metric="roc_auc",
            direction="maximize",
            baseline_run_id=BASELINE,
            baseline_value=0.91234,
            best_run_id=FINALS[0],
            best_value=sum(values) / 3,
            delta=sum(values) / 3 - 0.91234,
            test_fraction=0.15,
            baseline_test_value=0.91507,
            best_test_value=sum(tests) / 3,
            test_delta=sum(tests) / 3 - 0.91507,
            seeds=[
                SeedResult(seed=s, run_id=r, value=v, test_value=t)
                for s, (r, v, t) in enumerate(zip(FINALS, values, tests, strict=True))
            ],
            mean=sum(values) / 3,
            std=0.000685,
            trials={"PRUNED": 3, "COMPLETE": 47},
            stop_reason="trial budget reached",
            reproducibility="With one trial at a time the seeded sampler proposes the same trials.",
            output=output,
        ),
        notes=["device: cpu (2 threads)"],
        trialrun_version="0.1.0",
        timings={"validate": 0.412, "baseline": 2.31, "tune": 171.2, "finals": 6.05, "verify": 1.9},
    )


def failed() -> Report:
    """An experiment whose tune node failed after the baseline finished; no UI links."""
    return Report(
        title="adult-v1: roc_auc on adult@v1",
        status="failed",
        plan=_plan(),
        changes=Changes(
            tracking_uri="sqlite:///mlruns.db",
            items=[
                Change(kind="experiment", id=EXPERIMENT, name="adult-v1"),
                Change(kind="parent_run", id=PARENT, detail="created"),
                Change(kind="baseline_run", id=BASELINE, name="baseline-lightgbm"),
            ],
        ),
        verification=Verification(checks=_run_checks("baseline run lightgbm", BASELINE, 0.91234)),
        rollback=Rollback(steps=[f"undo it: trialrun rollback {PARENT}"]),
        summary=Summary(
            metric="roc_auc",
            direction="maximize",
            baseline_run_id=BASELINE,
            baseline_value=0.91234,
            test_fraction=0.15,
            baseline_test_value=0.91507,
        ),
        failure=Failure(
            node="tune",
            error_type="DataError",
            message="5 trials failed in a row; the last: column 'age' has 3 NaN values",
        ),
    )


def refused() -> Report:
    """A request to deploy the model, refused by policy before anything ran."""
    return Report(
        title="deploy-adult.md: refused",
        status="refused",
        plan=Plan(
            refusals=[
                "deploying a model to production is not something trialrun does: it trains, "
                "tunes and tracks; register and deploy through your release process"
            ]
        ),
    )


def needs_input() -> Report:
    """A request missing its dataset, metric and budget."""
    return Report(
        title="churn experiment",
        status="needs_input",
        plan=Plan(
            inputs=[PlanInput(name="seeds", value=[0], source="conversation")],
            missing=["dataset", "metric", "budget"],
        ),
    )


def cancelled() -> Report:
    """An experiment cancelled during tuning: partial trials, what was stopped and when."""
    report = failed()
    return report.model_copy(
        update={
            "status": "cancelled",
            "failure": Failure(
                node="tune", error_type="Cancelled", message="cancelled by trialrun jobs cancel"
            ),
            "rollback": Rollback(
                steps=[
                    "stop it: trialrun jobs cancel job-20240501-0001",
                    f"undo it: trialrun rollback {PARENT}",
                ],
                cancelled=["cancelled during tune"],
                cancelled_at=datetime(2024, 5, 1, 12, 3, 4, tzinfo=UTC),
            ),
            "summary": report.summary.model_copy(
                update={"trials": {"COMPLETE": 11, "PRUNED": 2}, "stop_reason": "cancelled"}
            ),
        }
    )


SAMPLES = {
    "succeeded": succeeded,
    "failed": failed,
    "refused": refused,
    "needs_input": needs_input,
    "cancelled": cancelled,
}


def with_delta(
    metric: str,
    direction: str,
    baseline: float,
    best: float,
    *,
    tests: tuple[float, float] | None = None,
) -> Report:
    """The succeeded report with another metric and best/baseline values.

    ``tests`` are the baseline's and the best run's test scores; without them the experiment
    held out no test share.
    """
    report = succeeded()
    summary = report.summary.model_copy(
        update={
            "metric": metric,
            "direction": direction,
            "baseline_value": baseline,
            "best_value": best,
            "delta": best - baseline,
            "test_fraction": 0.15 if tests else 0.0,
            "baseline_test_value": tests[0] if tests else None,
            "best_test_value": tests[1] if tests else None,
            "test_delta": tests[1] - tests[0] if tests else None,
        }
    )
    return report.model_copy(update={"summary": summary})


def with_secrets() -> Report:
    """The failed report with a password and an API key planted in every free-text field."""
    leak = f"postgresql://trialrun:{SECRET_PASSWORD}@db:5432/optuna OPENAI_API_KEY={SECRET_KEY}"
    report = failed()
    checks = [*report.verification.checks, Check(name="study storage", passed=False, detail=leak)]
    return report.model_copy(
        update={
            "failure": Failure(node="tune", error_type="OperationalError", message=f"at {leak}"),
            "verification": Verification(checks=checks),
            "rollback": Rollback(steps=[f"optuna delete-study --storage '{leak}'"]),
            "notes": [f"storage: {leak}"],
            "plan": report.plan.model_copy(update={"refusals": [f"not sending {SECRET_KEY}"]}),
        }
    )


def with_checks(n: int) -> Report:
    """The succeeded report with ``n`` checks, every third one failed with a long detail."""
    checks = [
        Check(
            name=f"trial run {i} metrics",
            passed=i % 3 != 0,
            run_id=f"{i:032x}",
            detail=f"missing ['valid_roc_auc'] after {i} rounds; " + "x" * 60,
        )
        for i in range(n)
    ]
    return succeeded().model_copy(update={"verification": Verification(checks=checks)})


def rich_text(renderable: RenderableType) -> str:
    """Render to plain text at a fixed width, trailing spaces removed from each line."""
    console = Console(
        record=True, width=100, color_system=None, force_terminal=False, file=io.StringIO()
    )
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sample" in metafunc.fixturenames:
        metafunc.parametrize("sample", list(SAMPLES))


@pytest.fixture
def report(sample: str) -> Report:
    """The report of the sample this test runs for."""
    return SAMPLES[sample]()


@pytest.fixture
def samples() -> SimpleNamespace:
    """The sample builders and the secrets planted by ``with_secrets``."""
    return SimpleNamespace(
        **SAMPLES,
        with_delta=with_delta,
        with_secrets=with_secrets,
        with_checks=with_checks,
        SECRET_PASSWORD=SECRET_PASSWORD,
        SECRET_KEY=SECRET_KEY,
        with_secrets_message=f"password={SECRET_PASSWORD} key={SECRET_KEY}",
    )


@pytest.fixture
def snapshot(snapshot_at: Callable[[Path, str], None]) -> Callable[[str, str], None]:
    """Check text against ``snapshots/<name>``."""
    return lambda name, text: snapshot_at(SNAPSHOTS / name, text)


@pytest.fixture
def plain() -> Callable[[RenderableType], str]:
    """Render a rich renderable to plain text the way the snapshots do."""
    return rich_text
