"""Evaluation plots of a model a person is handed, logged as images of its run.

Classification gets ROC and precision-recall curves (one per class, one-vs-rest, for more than
two classes) and a confusion matrix; regression gets residuals and predicted against actual
(scikit-learn's displays). Every model gets its feature importances. The plots are drawn on the
test share when there is one, otherwise on the validation share, and say which in their titles.
They show aggregates of the rows (curves, counts, scatter), the same as the run's metrics do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

PLOTS_DIR = "plots"
MAX_IMPORTANCES = 20
"""The features a feature-importance plot shows at most (the largest first)."""


def evaluation_figures(
    *,
    y: np.ndarray,
    predicted: np.ndarray,
    n_classes: int | None,
    class_labels: Sequence[Any] | None,
    importances: Mapping[str, float],
    share: str,
) -> dict[str, Any]:
    """Return the evaluation figures by file name (``roc_curve.png``, ...), not yet saved.

    Args:
        y: True targets (class codes for classification).
        predicted: Probabilities (binary: the positive class's; multiclass: one column a class)
            or predicted values (regression).
        n_classes: The class count, None for regression.
        class_labels: The label of each class code (legends and axes).
        importances: Feature importances by feature name.
        share: Which rows these are (``test`` or ``validation``), for the titles.
    """
    import matplotlib

    matplotlib.use("Agg")

    figures: dict[str, Any] = {}
    if n_classes is None:
        figures.update(_regression(y, predicted, share))
    else:
        labels = [str(label) for label in (class_labels or range(n_classes))]
        figures.update(_classification(y, predicted, labels, share))
    if importances:
        figures["feature_importance.png"] = _importances(importances)
    return figures


def log_evaluation(mlflow_client: Any, run_id: str, figures: Mapping[str, Any]) -> list[str]:
    """Log ``figures`` under ``plots/`` of run ``run_id``, close them; return their paths."""
    import matplotlib.pyplot as plt

    paths = []
    for name, figure in figures.items():
        path = f"{PLOTS_DIR}/{name}"
        mlflow_client.log_figure(run_id, figure, path)
        plt.close(figure)
        paths.append(path)
    return paths


def _classification(
    y: np.ndarray, predicted: np.ndarray, labels: list[str], share: str
) -> dict[str, Any]:
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
    )

    proba = np.asarray(predicted, dtype=np.float64)
    if proba.ndim == 1:  # binary: the positive class's probability
        proba = np.column_stack([1.0 - proba, proba])
    shown = [1] if proba.shape[1] == 2 else list(range(proba.shape[1]))

    def curves(display: Any, title: str) -> Any:
        figure, axes = _axes()
        for k in shown:
            display.from_predictions(
                (y == k).astype(int), proba[:, k], ax=axes, name=f"class {labels[k]}"
            )
        axes.set_title(f"{title} ({share} share)")
        return figure

    figure, axes = _axes()
    ConfusionMatrixDisplay.from_predictions(
        y,
        proba.argmax(axis=1),
        labels=list(range(len(labels))),
        display_labels=labels,
        ax=axes,
        colorbar=False,
    )
    axes.set_title(f"Confusion matrix ({share} share)")
    return {
        "roc_curve.png": curves(RocCurveDisplay, "ROC curve"),
        "precision_recall_curve.png": curves(PrecisionRecallDisplay, "Precision-recall curve"),
        "confusion_matrix.png": figure,
    }


def _regression(y: np.ndarray, predicted: np.ndarray, share: str) -> dict[str, Any]:
    from sklearn.metrics import PredictionErrorDisplay

    values = np.asarray(predicted, dtype=np.float64)

    def plot(kind: str, title: str) -> Any:
        figure, axes = _axes()
        PredictionErrorDisplay.from_predictions(y, values, kind=kind, ax=axes)
        axes.set_title(f"{title} ({share} share)")
        return figure

    return {
        "residuals.png": plot("residual_vs_predicted", "Residuals"),
        "predicted_vs_actual.png": plot("actual_vs_predicted", "Predicted vs actual"),
    }


def _importances(importances: Mapping[str, float]) -> Any:
    top = sorted(importances.items(), key=lambda kv: kv[1], reverse=True)[:MAX_IMPORTANCES]
    figure, axes = _axes(height=max(3.0, 0.3 * len(top) + 1.0))
    names = [name for name, _ in reversed(top)]
    axes.barh(names, [value for _, value in reversed(top)])
    axes.set_xlabel("importance (share of total gain)")
    shown = f"top {len(top)} of {len(importances)}" if len(importances) > len(top) else "all"
    axes.set_title(f"Feature importance ({shown} features)")
    figure.tight_layout()
    return figure


def _axes(height: float = 4.5) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    make: Callable[..., tuple[Any, Any]] = plt.subplots
    return make(figsize=(6.0, height))
