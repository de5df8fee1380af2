"""Where trialrun keeps its state, following each engine's own conventions, and its variables.

MLflow: ``MLFLOW_TRACKING_URI`` when set, otherwise a SQLite store ``mlflow.db`` in the working
directory (artifacts in ``mlartifacts/``); ``MLFLOW_EXPERIMENT_NAME`` names the default
experiment. Optuna: ``TRIALRUN_OPTUNA_STORAGE`` when set, otherwise ``optuna.db`` beside the
MLflow store. Checkpoints, job records and logs live under ``TRIALRUN_HOME`` (default
``.trialrun/`` in the working directory).

Every variable is checked when a command starts (:func:`environment_problems`): a bad value is one
line naming the variable, the value and what to set instead, before anything runs. An empty
variable counts as unset.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from tools.errors import ConfigError

DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 5.0
CONNECT_TIMEOUT_ENV = "TRIALRUN_STORE_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "TRIALRUN_STORE_READ_TIMEOUT"
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql", "oracle")
_TRACKING_SCHEMES = (*_SQL_SCHEMES, "http", "https", "file", "databricks", "databricks-uc")


def _get(name: str) -> str | None:
    raw = os.environ.get(name)
    return raw if raw else None


def home() -> Path:
    """Return trialrun's state directory, created on first use.

    Raises:
        ConfigError: ``TRIALRUN_HOME`` names a file, or the directory cannot be created.
    """
    path = Path(_get("TRIALRUN_HOME") or ".trialrun").resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(
            f"TRIALRUN_HOME={str(path)!r} is not a directory; point TRIALRUN_HOME at a directory "
            "(or unset it for ./.trialrun)."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot create trialrun's state directory {str(path)!r}: {exc.strerror}; point "
            "TRIALRUN_HOME at a directory you may write."
        ) from None
    return path


def tracking_uri() -> str:
    """Return the MLflow tracking URI trialrun writes to."""
    uri = _get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path('mlflow.db').resolve()}"


def default_experiment(dataset: str, version: str) -> str:
    """Return the experiment a request names none for: ``MLFLOW_EXPERIMENT_NAME``, else its data.

    MLflow's own convention: the variable names the experiment runs and models go to; without
    it, one experiment per dataset version (``<dataset>-<version>``).
    """
    return _get("MLFLOW_EXPERIMENT_NAME") or f"{dataset}-{version}"


def artifact_root() -> str | None:
    """Return the artifact root for experiments trialrun creates on a local store."""
    if _get("MLFLOW_TRACKING_URI"):
        return None
    return Path("mlartifacts").resolve().as_uri()


def optuna_storage() -> str:
    """Return the Optuna storage URL (any RDB URL Optuna accepts)."""
    url = _get("TRIALRUN_OPTUNA_STORAGE")
    if url:
        return url
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"
    return f"sqlite:///{home() / 'optuna.db'}"


def catalog_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the dataset catalog path: the flag, then ``TRIALRUN_CATALOG``, then ``./datasets.yaml``."""
    if explicit:
        return Path(explicit)
    return Path(_get("TRIALRUN_CATALOG") or "datasets.yaml")


def env_int(name: str, default: int, *, minimum: int = 1) -> int:
    """Return the whole number in variable ``name`` (``default`` when unset).

    Raises:
        ConfigError: Not a whole number, or below ``minimum``.
    """
    raw = _get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(
            f"{name}={_show(raw)} is not a whole number of at least {minimum}; set it to one, "
            f"or unset it for the default ({default})."
        )
    return value


def env_number(
    name: str, default: float, *, minimum: float = 0.0, maximum: float = math.inf
) -> float:
    """Return the number in variable ``name`` (``default`` when unset).

    Raises:
        ConfigError: Not a finite number, or outside ``minimum``..``maximum``.
    """
    raw = _get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not minimum <= value <= maximum:
        limits = f"at least {minimum:g}" + (
            f" and at most {maximum:g}" if maximum < math.inf else ""
        )
        raise ConfigError(
            f"{name}={_show(raw)} is not a number {limits}; set it to one, or unset it for the "
            f"default ({default:g})."
        )
    return value


def store_timeouts() -> tuple[float, float]:
    """Return the connect and read timeouts, in seconds, for reaching the stores."""
    return (
        env_number(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, minimum=0.1, maximum=600),
        env_number(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT, minimum=0.1, maximum=600),
    )


def _show(raw: str) -> str:
    from tools.redact import redact

    text = redact(raw)
    return repr(text if len(text) <= 80 else text[:80] + "…")


def _check_tracking_uri(raw: str) -> str | None:
    scheme = urlparse(raw).scheme.lower() if "://" in raw else ""
    base = scheme.split("+")[0]
    if scheme and base not in _TRACKING_SCHEMES:
        return f"has scheme {scheme!r}; use one of {', '.join(_TRACKING_SCHEMES)} or a path"
    if base == "sqlite":
        return _check_sqlite(raw)
    if base in ("http", "https") and not urlparse(raw).hostname:
        return "names no host; write it as http://HOST:PORT"
    if base in _SQL_SCHEMES:
        return _check_sql_url(raw)
    return None


def _check_sqlite(raw: str) -> str | None:
    if not raw.startswith("sqlite:///") or raw in ("sqlite:///", "sqlite:///:memory:"):
        return "is not a SQLite file; write it as sqlite:///PATH (an in-memory store keeps nothing)"
    return None


def _check_sql_url(raw: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        return f"is not a database URL ({str(exc)[:120]}); write it as DIALECT://USER@HOST:PORT/DB"
    if url.get_backend_name() == "sqlite":
        return _check_sqlite(raw)
    if not url.host:
        return "names no database host; write it as DIALECT://USER@HOST:PORT/DB"
    return None


def _check_optuna_storage(raw: str) -> str | None:
    if "://" not in raw or urlparse(raw).scheme.split("+")[0].lower() not in _SQL_SCHEMES:
        return (
            "is not a database URL Optuna can use; write it as sqlite:///PATH or "
            "postgresql+psycopg2://USER@HOST:PORT/DB"
        )
    return _check_sql_url(raw)


def _check_directory(raw: str) -> str | None:
    path = Path(raw).expanduser()
    if path.exists():
        return None if path.is_dir() else "is a file, not a directory; point it at a directory"
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        return "cannot be created: no existing directory above it"
    if not os.access(parent, os.W_OK):
        return f"cannot be created: {str(parent)!r} is not writable"
    return None


def _check_catalog(raw: str) -> str | None:
    path = Path(raw).expanduser()
    if path.is_dir():
        return "is a directory; point it at the catalog file (datasets.yaml)"
    if path.exists() and not os.access(path, os.R_OK):
        return "cannot be read; check its permissions"
    return None


def _check_timeout(raw: str) -> str | None:
    try:
        value = float(raw)
    except ValueError:
        return "is not a number of seconds"
    return None if 0.1 <= value <= 600 else "must be between 0.1 and 600 seconds"


def _check_job_id(raw: str) -> str | None:
    return None if re.fullmatch(r"j-[0-9a-f]{4,32}", raw) else "is not a job id (j-3f9a2c)"


CHECKS: dict[str, Callable[[str], str | None]] = {
    "MLFLOW_TRACKING_URI": _check_tracking_uri,
    "TRIALRUN_OPTUNA_STORAGE": _check_optuna_storage,
    "TRIALRUN_CATALOG": _check_catalog,
    "TRIALRUN_HOME": _check_directory,
    CONNECT_TIMEOUT_ENV: _check_timeout,
    READ_TIMEOUT_ENV: _check_timeout,
    "TRIALRUN_JOB_ID": _check_job_id,
}
"""The variables the tools read, each with its check (the agent adds its own)."""


def environment_problems(checks: dict[str, Callable[[str], str | None]] = CHECKS) -> list[str]:
    """Return one line per variable whose value ``checks`` refuses (empty when all are fine).

    Example:
        >>> os.environ["TRIALRUN_STORE_READ_TIMEOUT"] = "soon"  # doctest: +SKIP
        >>> environment_problems()  # doctest: +SKIP
        ["TRIALRUN_STORE_READ_TIMEOUT='soon' is not a number of seconds; fix it or unset it."]
    """
    problems = []
    for name, check in checks.items():
        raw = os.environ.get(name)
        if not raw:
            continue
        problem = "is blank" if not raw.strip() else check(raw)
        if problem:
            problems.append(f"{name}={_show(raw)} {problem}; fix it or unset it.")
    return problems
