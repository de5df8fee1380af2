"""The dataset catalog: the only data trialrun trains on.

The catalog is a YAML file (``datasets.yaml`` in the working directory unless ``--catalog`` or
``TRIALRUN_CATALOG`` names another) listing each dataset by name and version with its location,
sha256 digest, target and column roles. A version is immutable: its digest pins the exact bytes,
and changed data has to be added as a new version.

Example:
    >>> catalog = Catalog.load("datasets.yaml")  # doctest: +SKIP
    >>> catalog.get("wine", "v1").target  # doctest: +SKIP
    'cultivar'
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools import settings
from tools.errors import InputError, PolicyError

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_url(location: str) -> bool:
    """Return True when ``location`` is a URL (``s3://...``) rather than a local path."""
    return "://" in location


class NotCatalogued(PolicyError):
    """Refusal to use a dataset name or version the catalog does not list.

    Args:
        name: The dataset name asked for.
        version: The version asked for, if any.
        available: Every catalogued name with its versions.
        catalog_path: The catalog file that was searched.
    """

    def __init__(
        self, name: str, version: str | None, available: dict[str, list[str]], catalog_path: Path
    ):
        self.name = name
        self.version = version
        self.available = available
        if not available:
            message = (
                f"Dataset {name!r} is not catalogued: the catalog {str(catalog_path)!r} is empty. "
                "Add it with `trialrun datasets add`, or `trialrun datasets examples` for "
                "scikit-learn's bundled datasets."
            )
        elif name in available:
            message = (
                f"Dataset {name!r} has no version {version!r} in {str(catalog_path)!r}; "
                f"catalogued versions: {', '.join(available[name])}."
            )
        else:
            listing = "; ".join(f"{n} ({', '.join(v)})" for n, v in sorted(available.items()))
            message = (
                f"Dataset {name!r} is not in the catalog {str(catalog_path)!r}. "
                f"Catalogued datasets: {listing}. Add it with `trialrun datasets add` first."
            )
        super().__init__(message)


class DigestMismatch(PolicyError):
    """Refusal to use a file whose bytes changed after its version was catalogued.

    Args:
        ref: The ``name@version`` of the entry.
        location: Where the file was read.
        expected: The digest in the catalog.
        actual: The digest of the file now.
    """

    def __init__(self, ref: str, location: str, expected: str, actual: str):
        self.ref = ref
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"The file for {ref!r} at {location!r} changed after it was catalogued: its sha256 "
            f"is {actual!r} but the catalog records {expected!r}. Re-add the file as a new "
            "version (`trialrun datasets add ... --version <new>`) instead of editing it in place."
        )


class ColumnRoles(BaseModel):
    """Columns with a role other than feature: identifiers and personal data, both dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: list[str] = []
    pii: list[str] = []


class DatasetEntry(BaseModel):
    """One catalogued dataset version; immutable once written.

    Attributes:
        name: Dataset name (letters, digits, ``.``, ``_``, ``-``).
        version: Version label, same characters as the name.
        location: Local path (relative to the catalog file's directory, or absolute) or URL.
        sha256: Hex digest of the file's bytes.
        target: The column to predict.
        task: The task when fixed by the curator; inferred from the target otherwise.
        roles: Identifier and PII columns, dropped before training.
        curated_by: Who added this version.
        description: Free text about the data.
        added_at: When the version was added (UTC).
        rows: Row count of the file.
        columns: Column count of the file, target included.
        task_reason: How the task was decided (given, or what the target holds).
        task_alternative: The other reading of an ambiguous whole-number target.
        pii_allowed: Columns the personal-data scan flagged that the curator kept as features,
            each with the reason they gave.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    location: str = Field(min_length=1)
    sha256: str
    target: str = Field(min_length=1)
    task: Task | None = None
    roles: ColumnRoles = Field(default_factory=ColumnRoles)
    curated_by: str = Field(min_length=1)
    description: str | None = None
    added_at: datetime
    rows: int = Field(ge=0)
    columns: int = Field(ge=0)
    task_reason: str | None = None
    task_alternative: Task | None = None
    pii_allowed: dict[str, str] = Field(default_factory=dict)

    @field_validator("name", "version")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(
                f"{value!r} may hold only letters, digits, '.', '_' and '-' (at most 128, "
                "starting with a letter or digit)"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError(f"{value!r} is not a sha256 hex digest (64 lowercase hex digits)")
        return value

    @property
    def ref(self) -> str:
        """Return ``name@version``, the dataset's reference in logs and reports."""
        return f"{self.name}@{self.version}"


class Catalog:
    """The catalog file and its entries; load it, read it, add to it, save it atomically.

    Args:
        path: The catalog file.
        entries: Its entries, in file order.
    """

    def __init__(self, path: Path, entries: Iterable[DatasetEntry] = ()):
        self.path = path
        self._entries = list(entries)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        """Read the catalog at ``path`` (default: :func:`tools.settings.catalog_path`).

        A missing file is an empty catalog. A file that is not valid YAML, or an entry that does
        not fit :class:`DatasetEntry`, is an :class:`~tools.errors.InputError` naming the entry.
        """
        resolved = settings.catalog_path(path).resolve()
        if not resolved.exists():
            return cls(resolved)
        from tools.userfiles import UserFileError, decode_text, load_yaml

        if resolved.is_dir():
            raise InputError(
                f"The catalog {str(resolved)!r} is a directory.",
                field="catalog",
                hint="Point --catalog or TRIALRUN_CATALOG at the catalog file (datasets.yaml).",
            )
        try:
            raw = load_yaml(decode_text(resolved.read_bytes()), aliases=True)
        except (UserFileError, OSError) as exc:
            raise InputError(
                f"The catalog {str(resolved)!r} is not valid YAML: {exc}.",
                field="catalog",
                hint="Fix the file, or point --catalog at another one.",
            ) from None
        raw = {} if raw is None else raw
        if not isinstance(raw, dict) or not isinstance(raw.get("datasets") or [], list):
            raise InputError(
                f"The catalog {str(resolved)!r} must be a mapping with a 'datasets' list.",
                field="catalog",
                hint="Write it as 'datasets:' followed by one entry per dataset version.",
            )
        items = enumerate(raw.get("datasets") or [])
        catalog = cls(resolved, (_parse_entry(resolved, i, item) for i, item in items))
        refs = [e.ref for e in catalog.entries()]
        repeated = sorted({ref for ref in refs if refs.count(ref) > 1})
        if repeated:
            raise InputError(
                f"The catalog {str(resolved)!r} lists {', '.join(map(repr, repeated))} more than "
                "once.",
                field="catalog",
                hint="Keep one entry per name and version.",
            )
        return catalog

    def entries(self) -> list[DatasetEntry]:
        """Return every entry, in file order."""
        return list(self._entries)

    def names(self) -> dict[str, list[str]]:
        """Return each dataset name with its versions, in the order they were added."""
        names: dict[str, list[str]] = {}
        for entry in self._entries:
            names.setdefault(entry.name, []).append(entry.version)
        return names

    def find(self, name: str, version: str) -> DatasetEntry | None:
        """Return the entry for ``name`` and ``version``, or None when there is none."""
        return next((e for e in self._entries if (e.name, e.version) == (name, version)), None)

    def get(self, name: str, version: str) -> DatasetEntry:
        """Return the entry for ``name`` and ``version``.

        Raises:
            NotCatalogued: When the catalog has no such entry; the message lists what it has.
        """
        entry = self.find(name, version)
        if entry is None:
            raise NotCatalogued(name, version, self.names(), self.path)
        return entry

    def latest(self, name: str) -> DatasetEntry:
        """Return the most recently added version of ``name`` (NotCatalogued when none)."""
        versions = [e for e in self._entries if e.name == name]
        if not versions:
            raise NotCatalogued(name, None, self.names(), self.path)
        return max(versions, key=lambda e: e.added_at)

    def resolve_location(self, entry: DatasetEntry) -> str:
        """Return the entry's location as a URL or an absolute path.

        A relative path is taken relative to the catalog file's directory, so a catalog and its
        data can move together.
        """
        if is_url(entry.location):
            return entry.location
        return os.path.normpath(self.path.parent / entry.location)

    def relative_location(self, location: str) -> str:
        """Return how to store ``location``: relative when under the catalog's directory."""
        if is_url(location):
            return location
        absolute = Path(location).resolve()
        try:
            return absolute.relative_to(self.path.parent).as_posix()
        except ValueError:
            return str(absolute)

    def add(self, entry: DatasetEntry, *, replace: bool = False) -> None:
        """Add ``entry`` in memory (call :meth:`save` to write it).

        Raises:
            InputError: When ``name@version`` is already catalogued and ``replace`` is False.
        """
        existing = self.find(entry.name, entry.version)
        if existing is None:
            self._entries.append(entry)
            return
        if not replace:
            raise self._duplicate(entry.ref)
        self._entries[self._entries.index(existing)] = entry

    def _duplicate(self, ref: str) -> InputError:
        return InputError(
            f"Dataset {ref!r} is already in the catalog {str(self.path)!r}.",
            field="version",
            hint="Catalogued versions are immutable: add the new data under another "
            "--version, or pass --replace to overwrite the entry.",
        )

    def save(self) -> None:
        """Write the catalog atomically: a temporary file beside it, then ``os.replace``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"datasets": [e.model_dump(mode="json") for e in self._entries]}
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        tmp = temp_path_beside(self.path)
        try:
            with tmp.open("x", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def temp_path_beside(path: Path) -> Path:
    """Return an unused hidden name in ``path``'s directory, for writing then ``os.replace``.

    Unlike ``tempfile.mkstemp`` the file is created by whoever writes it, so it gets the usual
    permissions (umask) rather than owner-only ones.
    """
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _parse_entry(path: Path, index: int, item: Any) -> DatasetEntry:
    try:
        return DatasetEntry.model_validate(item)
    except ValidationError as exc:
        label = item.get("name", f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InputError(
            f"Catalog {str(path)!r}, entry {label!r} is malformed: {problems}.",
            field="catalog",
            hint="Fix the entry, or remove it and add the file again with `trialrun datasets add`.",
        ) from exc


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
    from tools.data.load import file_digest, read_table
    from tools.data.pii import refuse_personal_data
    from tools.data.validate import check_frame, explain_task, prepare

    if task is not None and task not in TASKS:
        raise InputError(
            f"Unknown task {task!r}.", field="task", hint=f"Use one of: {', '.join(TASKS)}."
        )
    for field, value in (("name", name), ("version", version)):
        if not _LABEL.match(value):
            raise InputError(
                f"Dataset {field} {value!r} is not allowed.",
                field=field,
                hint="Use letters, digits, '.', '_' and '-' (at most 128, starting with a "
                "letter or digit).",
            )
    if catalog.find(name, version) is not None and not replace:
        raise catalog._duplicate(f"{name}@{version}")
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
    import shlex

    from tools import settings

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
