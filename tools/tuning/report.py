"""Optimisation results written on the parent run: best parameters, trials table, plots."""

from __future__ import annotations

import json
import warnings
from typing import Any

import optuna

from tools.tracking.runs import RunWriter, scratch_dir
from tools.tuning.storage import StudyOutcome


def write_study_artifacts(writer: RunWriter, outcome: StudyOutcome) -> None:
    """Log the trials table, the best value and trial, and two plots on the parent run.

    Everything here may be written again when an interrupted experiment resumes and its study
    goes on; the best parameters, which MLflow never lets change, wait for
    :func:`write_best_params` once the experiment has finished.
    """
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    table = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "mlflow_run_id": t.user_attrs.get("mlflow_run_id"),
            "pruned_by": t.user_attrs.get("pruned_by"),
            "seconds": t.duration.total_seconds() if t.duration else None,
        }
        for t in study.get_trials(deepcopy=False)
    ]
    writer.log_text(json.dumps(table, indent=1, default=str), "optuna/trials.json")
    writer.log(
        metrics=(
            {"tuning/best_trial_value": outcome.best_value}
            if outcome.best_value is not None
            else {}
        ),
        tags={
            "optuna.stop_reason": outcome.stop_reason,
            "optuna.best_trial": outcome.best_trial,
            "optuna.best_run_id": outcome.best_run_id,
            **{f"optuna.trials.{k.lower()}": v for k, v in outcome.counts.items()},
        },
    )
    _plots(writer, study)


def write_best_params(writer: RunWriter, outcome: StudyOutcome) -> None:
    """Log the best trial's parameters as ``best_<name>`` params of the finished parent run.

    Called once, when the experiment ends successfully: a cancelled or killed attempt logs none,
    so resuming it can never clash with a value it logged. A parent written before that rule
    (it holds ``best_*`` params already) keeps them, and the ones that differ are left out
    rather than failing the finished experiment; ``optuna.best_trial`` names the real best.
    """
    best = {f"best_{k}": v for k, v in outcome.best_params.items()}
    if outcome.best_family:
        best["best_family"] = outcome.best_family
    logged = writer.client.get_run(writer.run_id).data.params
    writer.log(params={k: v for k, v in best.items() if k not in logged})


def _plots(writer: RunWriter, study: optuna.Study) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    plots: list[tuple[str, Any]] = [("optimization_history.png", ovm.plot_optimization_history)]
    if len(complete) >= 2 and len({json.dumps(t.params, sort_keys=True) for t in complete}) >= 2:
        plots.append(("param_importances.png", ovm.plot_param_importances))
    with scratch_dir() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, plot in plots:
            try:
                axes = plot(study)
            except (ValueError, RuntimeError):
                continue  # e.g. importances undefined when every trial scored the same
            figure: Any = axes.figure
            path = tmp / name
            figure.savefig(path, dpi=80, bbox_inches="tight")
            plt.close(figure)
            writer.log_file(path, "optuna")
