"""What an experiment is asked to do: the dataset, the metric, the families and the budget."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tools import settings as paths
from tools.redact import redact
from tools.training.metrics import Task


@dataclass(frozen=True)
class TuneRequest:
    """What to tune, on which data, within which budget."""

    dataset: str
    version: str
    metric: str
    families: tuple[str, ...] = ("lightgbm",)
    trials: int = 20
    seconds: float = 300.0
    cpus: int = 1
    gpus: int = 0
    parallel: int = 1
    seeds: tuple[int, ...] = (0,)
    experiment: str | None = None
    optimize: bool = True
    task: Task | None = None
    target: str | None = None
    split_seed: int = 0
    valid_fraction: float = 0.2
    test_fraction: float = 0.15
    storage: str | None = None
    catalog: str | None = None
    max_failures: int = 5
    max_rounds: int = 2000
    early_stopping_rounds: int = 50

    @property
    def experiment_name(self) -> str:
        """Return the MLflow experiment name, redacted: it names the experiment and the study."""
        return redact(self.experiment or paths.default_experiment(self.dataset, self.version))

    def fingerprint(self) -> str:
        """Return a stable hash of everything that defines the study (not the time budget)."""
        keys = (
            "dataset",
            "version",
            "metric",
            "families",
            "split_seed",
            "valid_fraction",
            "test_fraction",
            "task",
            "target",
        )
        blob = json.dumps(
            {k: getattr(self, k) for k in keys} | {"seed": self.seeds[0]}, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
