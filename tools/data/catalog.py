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
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools import settings
from tools.errors import InputError, PolicyError

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
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
        if not LABEL.match(value):
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
            raise self.duplicate_error(entry.ref)
        self._entries[self._entries.index(existing)] = entry

    def duplicate_error(self, ref: str) -> InputError:
        """Return the error for adding ``ref`` when it is already catalogued."""
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
