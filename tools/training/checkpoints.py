"""Checkpoints of a training run: the latest every K rounds, the best so far, the last N kept.

A checkpoint is the model's bytes plus the training state needed to continue exactly where it
stopped: rounds done, early-stopping state and the metric curves so far. A fingerprint of the run's
inputs (data digest, parameters, seed) guards against resuming someone else's checkpoint.

Runs with the same inputs share a folder (identical requests in two Slack threads, say), so every
read and write of a folder holds an exclusive ``flock`` on it: two runs saving the same round at
once would otherwise rename one's half-written checkpoint from under the other.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class TrainingState:
    """Where a training run stands after ``rounds`` boosting rounds."""

    rounds: int = 0
    best_iteration: int = -1
    best_score: float | None = None
    curves: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "valid": []})


@dataclass(frozen=True)
class Checkpoint:
    """A saved checkpoint: model bytes and the state they belong to."""

    model: bytes
    state: TrainingState


class CheckpointStore:
    """Checkpoints of one training run in ``directory``.

    Args:
        directory: Where this run's checkpoints live.
        fingerprint: Identifies the run's inputs; a checkpoint with another is never resumed.
        every: Save a checkpoint every this many rounds.
        keep: Keep this many latest checkpoints; older ones are deleted.
    """

    def __init__(self, directory: Path, fingerprint: str, *, every: int = 25, keep: int = 2):
        if every < 1 or keep < 1:
            raise ValueError(f"checkpoint every={every!r} and keep={keep!r} must be >= 1")
        self.directory = directory
        self.fingerprint = fingerprint
        self.every = every
        self.keep = keep

    def due(self, rounds: int) -> bool:
        """Return True when a checkpoint is due after ``rounds`` rounds."""
        return rounds > 0 and rounds % self.every == 0

    def save(self, model: bytes, state: TrainingState, *, best_model: bytes | None = None) -> Path:
        """Write a checkpoint atomically, then prune to the last ``keep``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"round-{state.rounds:06d}"
        with self._locked():
            tmp = path.with_suffix(".tmp")
            tmp.mkdir(exist_ok=True)
            (tmp / "model.bin").write_bytes(model)
            meta = {"fingerprint": self.fingerprint, "state": asdict(state)}
            (tmp / "state.json").write_text(json.dumps(meta))
            if path.exists():
                # Another run's checkpoint at the same round (never resumed here): replace it.
                _remove(path)
            os.replace(tmp, path)
            if best_model is not None:
                _atomic_write(self.directory / "best.bin", best_model)
            self._prune()
        return path

    def latest(self) -> Checkpoint | None:
        """Return the newest checkpoint with this run's fingerprint, or None."""
        if not self.directory.exists():
            return None
        with self._locked():
            for path in reversed(self._paths()):
                meta = json.loads((path / "state.json").read_text())
                if meta.get("fingerprint") != self.fingerprint:
                    continue
                return Checkpoint((path / "model.bin").read_bytes(), TrainingState(**meta["state"]))
        return None

    def best(self) -> bytes | None:
        """Return the best model saved so far, or None."""
        path = self.directory / "best.bin"
        if not self.directory.exists():
            return None
        with self._locked():
            return path.read_bytes() if path.exists() else None

    def clear(self) -> None:
        """Delete every checkpoint of this run (after it finished)."""
        if not self.directory.exists():
            return
        with self._locked():
            for path in self._paths():
                _remove(path)
            (self.directory / "best.bin").unlink(missing_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # A new descriptor per holder, so the lock excludes this process's other threads too.
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _paths(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(p for p in self.directory.glob("round-*") if p.suffix != ".tmp")

    def _prune(self) -> None:
        for path in self._paths()[: -self.keep]:
            _remove(path)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _remove(checkpoint: Path) -> None:
    for child in checkpoint.iterdir():
        child.unlink()
    checkpoint.rmdir()
