"""The small trainer interface every model family implements, and the round loop they share.

Each boosting round goes through :class:`RoundController`, which records the metric curves, keeps
the early-stopping state, writes checkpoints, and checks the deadline and the cancel flag — so a
budget or a cancel stops training within one round, whatever the library.

Each round's row sample is a function of ``(seed, round)``, so a run resumed from a checkpoint
draws exactly the rows it would have drawn and ends with the same model (the libraries' own
samplers keep internal state a checkpoint cannot capture): XGBoost gets the sample as row weights
from :func:`row_weights`; LightGBM's bagging is reseeded every round.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from tools.data.split import Split
from tools.encoding import booster_from_bytes, booster_to_bytes, predict_booster
from tools.errors import Cancelled
from tools.training.checkpoints import CheckpointStore, TrainingState
from tools.training.metrics import Metric, Task

StopReason = Literal["completed", "early_stopping", "deadline"]
POST_TRAINING_SHARE = 0.1
Device = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class FitSpec:
    """Everything one training run needs besides the data.

    Attributes:
        task: binary, multiclass or regression.
        n_classes: Number of classes for classification.
        metric: The primary metric (final scores use it).
        params: Hyperparameters in the family's own names (``subsample`` is handled by trialrun).
        seed: The random seed.
        max_rounds: Boosting rounds at most.
        early_stopping_rounds: Stop after this many rounds without improvement on validation.
        threads: CPU threads for the library.
        device: ``cuda`` to train on a GPU (XGBoost).
        deadline: A ``time.monotonic()`` instant after which training stops.
        cancel: When set, training stops within one round and raises ``Cancelled``.
    """

    task: Task
    n_classes: int | None
    metric: Metric
    params: dict[str, Any]
    seed: int
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    threads: int = 1
    device: Device = "cpu"
    deadline: float | None = None
    cancel: threading.Event | None = None


@dataclass
class FitResult:
    """A trained model and how training went."""

    model: Any
    best_iteration: int
    rounds: int
    stopped: StopReason
    curves: dict[str, list[float]]
    curve_metric: str
    train_score: float
    valid_score: float
    importances: dict[str, float]
    seconds: float
    device: Device
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class RoundController:
    """Shared per-round bookkeeping: curves, early stopping, checkpoints, deadline, cancel."""

    def __init__(
        self,
        spec: FitSpec,
        *,
        higher_is_better: bool,
        state: TrainingState,
        store: CheckpointStore | None,
        snapshot: Callable[[], bytes],
        best_snapshot: Callable[[int], bytes],
    ):
        self.spec = spec
        self.higher_is_better = higher_is_better
        self.state = state
        self.store = store
        self.snapshot = snapshot
        self.best_snapshot = best_snapshot
        self.stopped: StopReason = "completed"
        self.started = time.monotonic()

    def after_round(self, train_value: float, valid_value: float) -> bool:
        """Record one finished round; return True when training must stop now."""
        state = self.state
        state.rounds += 1
        state.curves["train"].append(float(train_value))
        state.curves["valid"].append(float(valid_value))
        best = state.best_score
        if best is None or (valid_value > best if self.higher_is_better else valid_value < best):
            state.best_iteration, state.best_score = state.rounds - 1, float(valid_value)
        if self.store is not None and self.store.due(state.rounds):
            self.store.save(
                self.snapshot(), state, best_model=self.best_snapshot(state.best_iteration)
            )
        if self.spec.cancel is not None and self.spec.cancel.is_set():
            raise Cancelled(f"training cancelled after round {state.rounds}")
        if state.rounds - 1 - state.best_iteration >= self.spec.early_stopping_rounds:
            self.stopped = "early_stopping"
            return True
        if self.spec.deadline is not None and self._out_of_time():
            self.stopped = "deadline"
            return True
        return False

    def _out_of_time(self) -> bool:
        # Finishing a model (slicing it at its best round, scoring, importances, writing its run)
        # takes up to a tenth of its training time (a 255-leaf, 7-class LightGBM model of 200
        # rounds: 2.2 s after 23 s); stop early enough that it fits before the deadline.
        assert self.spec.deadline is not None
        now = time.monotonic()
        return now + POST_TRAINING_SHARE * (now - self.started) >= self.spec.deadline


TRAIN_CURVE_ROWS = 10_000
"""Training metrics are measured on at most this many training rows, fixed per run.

The library's metric over the whole training share every round (a sort for AUC) cost several
times the round itself on tens of thousands of rows, and scoring every training row at the end
cost seconds per model with thousands of trees. A fixed sample keeps the curve's shape and the
final training metric's value to within sampling error; validation metrics use every row.
"""


def train_curve_rows(n_rows: int) -> np.ndarray:
    """Return the training rows the per-round training curve is measured on."""
    if n_rows <= TRAIN_CURVE_ROWS:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(0).choice(n_rows, TRAIN_CURVE_ROWS, replace=False))


_SAME_AS = {
    "roc_auc": ("auc",),
    "log_loss": ("binary_logloss", "multi_logloss"),
    "rmse": ("rmse",),
    "mae": ("l1",),
}
_ONE_MINUS = {"accuracy": ("binary_error", "multi_error")}


def metric_from_curve(metric: Metric, curve_metric: str, value: float) -> float | None:
    """Return ``metric`` from a LightGBM curve value when the library computed it already.

    LightGBM's own auc, log loss, rmse, l1 and error over a data set are the primary metric (or
    one minus it) to double precision, so the best round's curve value saves predicting every
    row with every tree again, which took seconds for models of thousands of trees.
    """
    if curve_metric in _SAME_AS.get(metric.name, ()):
        return float(value)
    if curve_metric in _ONE_MINUS.get(metric.name, ()):
        return 1.0 - float(value)
    return None


def row_weights(seed: int, round_index: int, fraction: float, n_rows: int) -> np.ndarray:
    """Return the 0/1 row sample of one round, a pure function of ``(seed, round_index)``."""
    rng = np.random.default_rng((seed, round_index))
    return (rng.random(n_rows) < fraction).astype(np.float32)


class Trainer(abc.ABC):
    """One model family behind one small interface."""

    family: ClassVar[str]
    eval_metrics: ClassVar[Mapping[tuple[str, str], tuple[str, bool]]]
    """The library's early-stopping metric for a ``(primary metric, task)``, higher-is-better."""
    classification_loss: ClassVar[Mapping[str, tuple[str, bool]]]
    """The library's loss for each classification task, watched when no metric matches."""
    absolute_error: ClassVar[str]
    """The library's name for mean absolute error."""

    @abc.abstractmethod
    def default_params(self) -> dict[str, Any]:
        """Return the library's default hyperparameters (the baseline trains with these)."""

    @abc.abstractmethod
    def fit(
        self,
        split: Split,
        spec: FitSpec,
        *,
        checkpoints: CheckpointStore | None = None,
        callbacks: Sequence[Any] = (),
    ) -> FitResult:
        """Train on ``split.X_train``, early-stopping on ``split.X_valid``.

        Args:
            split: The train/validation split.
            spec: What to train and within which limits.
            checkpoints: Where to checkpoint; a matching checkpoint there is resumed.
            callbacks: Extra library callbacks (Optuna's pruning callbacks).
        """

    def resume(self, checkpoints: CheckpointStore | None) -> tuple[TrainingState, Any]:
        """Return the state and model to continue from: the latest checkpoint, or a fresh start."""
        latest = checkpoints.latest() if checkpoints else None
        if latest is None:
            return TrainingState(), None
        return latest.state, self.from_bytes(latest.model)

    def predict(self, model: Any, X: Any) -> np.ndarray:
        """Return probabilities (classification) or values (regression) for encoded ``X``."""
        return predict_booster(self.family, model, X)

    def to_bytes(self, model: Any) -> bytes:
        """Serialise ``model`` (checkpoints and logged models use the same format)."""
        return booster_to_bytes(self.family, model)

    def from_bytes(self, data: bytes) -> Any:
        """Load a model serialised by :meth:`to_bytes`."""
        return booster_from_bytes(self.family, data)

    def stopping_metric(self, spec: FitSpec) -> tuple[str, bool]:
        """Return the library metric that early stopping watches and whether higher is better.

        It is the library's own name for the primary metric where the library has one, else the
        task's loss (:attr:`eval_metrics`, :attr:`classification_loss`, :attr:`absolute_error`).
        """
        if spec.task == "regression":
            return (self.absolute_error, False) if spec.metric.name == "mae" else ("rmse", False)
        return self.eval_metrics.get(
            (spec.metric.name, spec.task), self.classification_loss[spec.task]
        )
