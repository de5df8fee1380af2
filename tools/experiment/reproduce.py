"""Replaying a training run from its record, as a new run linked to the original.

Everything a baseline, trial or final run needs to be trained again is on the run: the dataset's
name, version and digest (tags), the family, hyperparameters, seed, rounds, patience and threads,
the split's seed and fractions, the task and target (parameters), and the versions of the
libraries that shape the numbers (tags). The replay refuses, saying which, when the catalogued
data's digest or one of those versions is not the recorded one; otherwise it trains the model
again for exactly the rounds the original trained (a run a deadline or the pruner stopped is
replayed to the same round) and compares every recorded score to the last digit.

The replay is a run of its own in the original's experiment, tagged ``trialrun.reproduces``
with the original's ID; the original is only read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tools import settings
from tools.errors import InputError, PolicyError
from tools.experiment.data import load_context
from tools.experiment.request import TuneRequest
from tools.tracking.context import git_state, library_versions
from tools.tracking.runs import client
from tools.training.device import choose_device
from tools.training.metrics import get_metric
from tools.training.run import TrainOptions, train_tracked

REPLAYABLE_ROLES = ("baseline", "trial", "final", "reproduction")
RECORD_PARAMS = (
    "family",
    "seed",
    "max_rounds",
    "early_stopping_rounds",
    "threads",
    "metric",
    "task",
    "target",
    "split_seed",
    "valid_fraction",
    "test_fraction",
)
"""Run parameters that describe the run; every other parameter is a hyperparameter."""
SHAPING_LIBRARIES = ("trialrun", "numpy", "pandas", "scikit-learn")
"""Libraries whose version can change a score, besides the run's own booster library."""
_INT = re.compile(r"^-?\d+$")


class NotReproducible(PolicyError):
    """Refusal to replay a run whose data or libraries are not the recorded ones."""


@dataclass(frozen=True)
class Replay:
    """A replayed run beside the original.

    Attributes:
        original_run_id: The run replayed.
        run_id: The new run.
        metrics: Each score the original recorded, as ``(recorded, replayed)``.
        identical: Every score equal to the last digit.
        notes: What could not be checked (a version the original did not record).
    """

    original_run_id: str
    run_id: str
    metrics: dict[str, tuple[float, float | None]]
    identical: bool
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """Say, in one line per score, whether the replay matched."""
        verdict = "identical" if self.identical else "different"
        lines = [f"Replayed run {self.original_run_id} as run {self.run_id}: {verdict}."]
        for key, (recorded, replayed) in self.metrics.items():
            same = "identical" if recorded == replayed else "differs"
            lines.append(f"  {key}: recorded {recorded!r}, replayed {replayed!r} ({same})")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def parameter_value(text: str) -> Any:
    """Return a logged parameter as the value it was logged from (int, float, bool or text)."""
    if _INT.match(text):
        return int(text)
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text


def reproduce(run_id: str, *, catalog: str | None = None) -> Replay:
    """Train run ``run_id`` again from its record and compare its scores.

    Args:
        run_id: A baseline, trial or final run (or an earlier reproduction).
        catalog: The dataset catalog (default: as for any experiment).

    Raises:
        InputError: No such run, or it is not a training run.
        NotReproducible: The data's digest or a library's version differs from the record.
        DigestMismatch: The catalogued file changed since it was catalogued.
    """
    run = _training_run(run_id)
    params, tags = dict(run.data.params), dict(run.data.tags)
    family = params["family"]
    notes = _check_versions(tags, family) + _code_note(tags)
    _check_device(tags, family)
    task = params.get("task")
    request = TuneRequest(
        dataset=tags["dataset.name"],
        version=tags["dataset.version"],
        metric=params["metric"],
        families=(family,),
        task=task,
        target=params.get("target"),
        split_seed=int(params.get("split_seed") or tags.get("trialrun.split_seed") or 0),
        valid_fraction=float(params.get("valid_fraction", 0.2)),
        # Runs recorded before every experiment held out a test share had none.
        test_fraction=float(params.get("test_fraction", 0.0)),
        catalog=catalog,
    )
    ctx = load_context(request)
    if ctx.entry.sha256 != tags["dataset.digest"]:
        raise NotReproducible(
            f"Run {run_id} trained on {ctx.entry.ref} with sha256 {tags['dataset.digest']!r}, "
            f"but the catalog now records {ctx.entry.sha256!r} for it: the data is not the "
            "same. Catalogue the original file again under its version to replay the run."
        )
    hyperparameters = {
        key: parameter_value(value) for key, value in params.items() if key not in RECORD_PARAMS
    }
    metric = get_metric(params["metric"], ctx.data.task)
    outcome = train_tracked(
        ctx,
        family=family,
        params=hyperparameters,
        metric=metric,
        seed=int(params["seed"]),
        experiment_id=run.info.experiment_id,
        run_name=f"reproduce-{run.info.run_name}",
        role="reproduction",
        options=TrainOptions(
            threads=int(params["threads"]),
            gpus=1 if tags.get("trialrun.device") == "cuda" else 0,
            # The rounds the original trained: a deadline or the pruner may have cut it short.
            max_rounds=int(run.data.metrics.get("rounds", params["max_rounds"])),
            early_stopping_rounds=int(params["early_stopping_rounds"]),
            log_model=False,
        ),
        tags={"trialrun.reproduces": run_id, "trialrun.reproduces_role": tags["trialrun.role"]},
    )
    replayed = {
        **outcome.output.training_metrics,
        **outcome.output.validation_metrics,
        **outcome.output.test_metrics,
    }
    scores = {
        key: (float(value), replayed.get(key))
        for key, value in sorted(run.data.metrics.items())
        if key.split("_", 1)[0] in ("train", "valid", "test") and key.endswith(metric.name)
    }
    identical = bool(scores) and all(a == b for a, b in scores.values())
    _record_verdict(outcome.output.mlflow_run_id, identical)
    return Replay(run_id, outcome.output.mlflow_run_id, scores, identical, notes)


def _training_run(run_id: str) -> Any:
    try:
        run = client().get_run(run_id)
    except Exception as exc:
        raise InputError(
            f"No run {run_id!r} in the tracking store {settings.tracking_uri()!r}.",
            field="run_id",
            hint="Pass the ID of a baseline, trial or final run (the report's Changes list them).",
        ) from exc
    role = run.data.tags.get("trialrun.role")
    if role not in REPLAYABLE_ROLES or "family" not in run.data.params:
        raise InputError(
            f"Run {run_id!r} is a {role or 'non-trialrun'!r} run, not a training run: there is "
            "no model to train again.",
            field="run_id",
            hint="Pass one of its baseline, trial or final runs.",
        )
    return run


def _check_versions(tags: dict[str, str], family: str) -> tuple[str, ...]:
    installed = library_versions()
    changed, notes = [], []
    for library in (family, *SHAPING_LIBRARIES):
        recorded = tags.get(f"trialrun.version.{library}")
        if recorded is None:
            notes.append(f"the run did not record its {library} version; not compared")
        elif recorded != installed.get(library):
            changed.append(f"{library} {recorded} recorded, {installed.get(library)} installed")
    if changed:
        raise NotReproducible(
            "The libraries that shape this run's numbers are not the recorded ones: "
            + "; ".join(changed)
            + ". Install the recorded versions (pip install "
            + " ".join(
                f"{lib}=={tags[f'trialrun.version.{lib}']}"
                for lib in (family, *SHAPING_LIBRARIES)
                if lib != "trialrun" and f"trialrun.version.{lib}" in tags
            )
            + ") to replay it."
        )
    return tuple(notes)


def _record_verdict(run_id: str, identical: bool) -> None:
    client().set_tag(run_id, "trialrun.reproduction", "identical" if identical else "different")


def _check_device(tags: dict[str, str], family: str) -> None:
    recorded = tags.get("trialrun.device", "cpu")
    if recorded == "cpu":
        return
    device, note = choose_device(family, 1)
    if device != recorded:
        raise NotReproducible(
            f"The run trained on {recorded}, and this machine cannot ({note}): a {family} model "
            "trained on another device is not the same model. Replay it where a GPU is granted."
        )


def _code_note(tags: dict[str, str]) -> tuple[str, ...]:
    recorded, now = tags.get("mlflow.source.git.commit"), git_state().sha
    if recorded and recorded != now:
        return (f"the run was recorded at code version {recorded[:12]}, this is {now[:12]}",)
    return ()
