"""Adding to the catalog: a file is validated, digested and recorded as a new dataset version.

Curating reads the file through the same loading, personal-data and validation steps as training
(:mod:`tools.data.load`, :mod:`tools.data.pii`, :mod:`tools.data.validate`), so this module sits
above them; :mod:`tools.data.catalog` itself only reads and writes the YAML file.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from tools import settings
from tools.data.catalog import LABEL, TASKS, Catalog, ColumnRoles, DatasetEntry, Task, is_url
from tools.data.load import file_digest, read_table
from tools.data.pii import refuse_personal_data
from tools.data.task import explain_task
from tools.data.validate import check_frame, prepare
from tools.errors import InputError


def default_curator() -> str | None:
    """Return who is adding data: ``$USER``, else ``git config user.name``, else None."""
    user = os.environ.get("USER")
    if user:
        return user
    try:
        result = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def add_dataset(
    path: str | os.PathLike[str],
    *,
    name: str,
    version: str,
    target: str,
    catalog: Catalog,
    task: Task | None = None,
    id_columns: Iterable[str] = (),
    pii_columns: Iterable[str] = (),
    curated_by: str | None = None,
    description: str | None = None,
    replace: bool = False,
    pii_allowed: Mapping[str, str] | None = None,
) -> DatasetEntry:
    """Validate a CSV or Parquet file, digest it and write its entry to ``catalog``.

    The file passes the same checks as training data (:func:`tools.data.validate.prepare`), so a
    dataset that could not be trained on never enters the catalog. When ``task`` is None the
    inferred task is recorded with how it was decided, so later training does not depend on
    the inference rule. Every column not declared PII or id is scanned for personal data and
    secrets (:mod:`tools.data.pii`); a column that looks personal is refused unless declared in
    ``pii_columns`` or kept in ``pii_allowed`` with a reason.

    Args:
        path: The file: a local path (relative to the working directory) or a URL.
        name: Dataset name.
        version: Version label; an existing ``name@version`` is refused unless ``replace``.
        target: The column to predict.
        catalog: The catalog to add to; it is saved on success.
        task: ``binary``, ``multiclass`` or ``regression``; inferred when None.
        id_columns: Identifier columns, dropped before training.
        pii_columns: Personal-data columns, dropped before training and never logged.
        curated_by: Who curated the file; default ``$USER`` or ``git config user.name``.
        description: Free text about the data.
        replace: Overwrite an existing entry with the same name and version.
        pii_allowed: Flagged columns to keep as features, each with why it is not personal data.

    Returns:
        The new entry.

    Raises:
        InputError: A bad name, version, task, allowance or duplicate entry.
        DataError: The file is missing, unreadable or fails validation.
        PersonalData: A column looks like personal data or secrets and was not declared.
    """
    if task is not None and task not in TASKS:
        raise InputError(
            f"Unknown task {task!r}.", field="task", hint=f"Use one of: {', '.join(TASKS)}."
        )
    for field, value in (("name", name), ("version", version)):
        if not LABEL.match(value):
            raise InputError(
                f"Dataset {field} {value!r} is not allowed.",
                field=field,
                hint="Use letters, digits, '.', '_' and '-' (at most 128, starting with a "
                "letter or digit).",
            )
    if catalog.find(name, version) is not None and not replace:
        raise catalog.duplicate_error(f"{name}@{version}")
    curator = curated_by or default_curator()
    if not curator:
        raise InputError(
            "Cannot tell who is curating this file: $USER and git user.name are unset.",
            field="curated_by",
            hint="Pass --curated-by NAME.",
        )
    location = str(path) if is_url(str(path)) else str(Path(path).resolve())
    frame = read_table(location)
    digest = file_digest(location)
    try:
        entry = DatasetEntry(
            name=name,
            version=version,
            location=catalog.relative_location(location),
            sha256=digest,
            target=target,
            task=task,
            roles=ColumnRoles(
                id=list(dict.fromkeys(id_columns)), pii=list(dict.fromkeys(pii_columns))
            ),
            curated_by=curator,
            description=description,
            added_at=datetime.now(UTC),
            rows=len(frame),
            columns=frame.shape[1],
            pii_allowed=dict(pii_allowed or {}),
        )
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise InputError(f"Invalid {field}: {exc.errors()[0]['msg']}.", field=field) from exc
    check_frame(frame, entry)
    refuse_personal_data(frame, entry)
    prepared = prepare(frame, entry)
    choice = explain_task(frame[target], prepared.task, given=task is not None, target=target)
    entry = entry.model_copy(
        update={
            "task": prepared.task,
            "task_reason": choice.reason,
            "task_alternative": choice.alternative,
        }
    )
    catalog.add(entry, replace=replace)
    catalog.save()
    return entry


def recatalogue_command(catalog: Catalog, entry: DatasetEntry, task: Task) -> str:
    """Return the ``trialrun datasets add`` command that catalogues ``entry`` again as ``task``.

    Every role, allowance and the curator are kept; ``--replace`` rewrites the same version
    (the file's digest is unchanged, only what it is trained as).
    """
    parts = [
        "trialrun datasets add",
        shlex.quote(catalog.resolve_location(entry)),
        f"--name {shlex.quote(entry.name)}",
        f"--version {shlex.quote(entry.version)}",
        f"--target {shlex.quote(entry.target)}",
        f"--task {task}",
        *(f"--id-column {shlex.quote(c)}" for c in entry.roles.id),
        *(f"--pii-column {shlex.quote(c)}" for c in entry.roles.pii),
        *(f"--allow-pii {shlex.quote(f'{c}={why}')}" for c, why in entry.pii_allowed.items()),
        f"--curated-by {shlex.quote(entry.curated_by)}",
        "--replace",
    ]
    if catalog.path != settings.catalog_path().resolve():
        parts.append(f"--catalog {shlex.quote(str(catalog.path))}")
    return " ".join(parts)
