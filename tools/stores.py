"""Checking that the tracking store and the Optuna storage answer, before any training.

A store that is down is found in seconds, not after MLflow's retries (minutes) or after the
baseline trained: each check connects with ``TRIALRUN_STORE_CONNECT_TIMEOUT`` (3 s) and waits for
an answer at most ``TRIALRUN_STORE_READ_TIMEOUT`` (5 s). The error names the store's URL with any
password masked and says what to check. A SQLite file's folder must already exist and be writable:
nothing is created outside it (a mistyped ``sqlite:////data/x.db`` used to create ``/data``).

Example:
    >>> check_stores(optuna=True)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tools import settings
from tools.errors import Unreachable
from tools.redact import redact

_SQLITE_HEADER = b"SQLite format 3\x00"
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433}


def check_stores(*, optuna: bool) -> None:
    """Check the tracking store, and the Optuna storage when ``optuna``.

    Raises:
        Unreachable: A store that cannot be used; the message names it and what to check.
    """
    connect, read = settings.store_timeouts()
    check_tracking_store(settings.tracking_uri(), connect=connect, read=read)
    if optuna:
        check_optuna_storage(settings.optuna_storage(), connect=connect, read=read)


def check_tracking_store(uri: str, *, connect: float, read: float) -> None:
    """Check that the MLflow tracking store at ``uri`` can be used.

    Raises:
        Unreachable: It cannot.
    """
    what = f"The MLflow tracking store {redact(uri)!r}"
    scheme = urlparse(uri).scheme.lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        _check_http(uri, what, connect=connect, read=read)
    elif scheme.startswith("sqlite"):
        _check_sqlite_file(_sqlite_path(uri), what, "MLFLOW_TRACKING_URI")
    elif scheme.split("+")[0] in _DEFAULT_PORTS:
        _check_database(uri, what, connect=connect, read=read, variable="MLFLOW_TRACKING_URI")
    elif scheme in ("", "file"):
        path = Path(urlparse(uri).path if scheme else uri)
        _check_folder(path if path.exists() else path.parent, what, "MLFLOW_TRACKING_URI")


def check_optuna_storage(url: str, *, connect: float, read: float) -> None:
    """Check that the Optuna storage at ``url`` can be used.

    Raises:
        Unreachable: It cannot.
    """
    what = f"The Optuna storage {redact(url)!r}"
    if url.startswith("sqlite"):
        _check_sqlite_file(_sqlite_path(url), what, "TRIALRUN_OPTUNA_STORAGE")
    else:
        _check_database(url, what, connect=connect, read=read, variable="TRIALRUN_OPTUNA_STORAGE")


def _sqlite_path(url: str) -> Path:
    return Path(url.split(":///", 1)[1].split("?", 1)[0])


def _check_folder(folder: Path, what: str, variable: str) -> None:
    if not folder.exists():
        raise Unreachable(
            f"{what} cannot be used: the folder {str(folder)!r} does not exist. Create it, or "
            f"point {variable} at a folder that exists."
        )
    if not folder.is_dir():
        raise Unreachable(
            f"{what} cannot be used: {str(folder)!r} is not a folder. Point {variable} at a "
            "path in a folder."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise Unreachable(
            f"{what} cannot be used: the folder {str(folder)!r} is not writable (a SQLite store "
            f"writes its journal beside the file). Fix its permissions, or point {variable} at "
            "a folder you may write."
        )


def _check_sqlite_file(path: Path, what: str, variable: str) -> None:
    _check_folder(path.absolute().parent, what, variable)
    if not path.exists():
        return
    if not path.is_file():
        raise Unreachable(
            f"{what} cannot be used: {str(path)!r} is not a file. Point {variable} at a file."
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise Unreachable(
            f"{what} cannot be used: {str(path)!r} is not readable and writable. Fix its "
            f"permissions, or point {variable} at another file."
        )
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header and header != _SQLITE_HEADER:
        raise Unreachable(
            f"{what} cannot be used: {str(path)!r} is not a SQLite database. Point {variable} "
            "at a SQLite file trialrun created, or at a new path."
        )


def _check_port(host: str, port: int, what: str, *, connect: float, hint: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=connect):
            pass
    except TimeoutError:
        raise Unreachable(
            f"{what} does not answer: no connection to {host}:{port} within {connect:g} s. {hint}"
        ) from None
    except OSError as exc:
        raise Unreachable(
            f"{what} cannot be reached: {host}:{port}: {exc.strerror or exc}. {hint}"
        ) from None


def _check_http(uri: str, what: str, *, connect: float, read: float) -> None:
    parsed = urlparse(uri)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    hint = "Check that the MLflow server runs there, and MLFLOW_TRACKING_URI."
    _check_port(parsed.hostname or "", port, what, connect=connect, hint=hint)
    request = urllib.request.Request(
        uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 1}).encode(),
        headers={"Content-Type": "application/json", **_auth_headers()},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=read) as response:  # noqa: S310 - http(s)
            body = response.read(1 << 16)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise Unreachable(
                f"{what} refused trialrun's credentials (HTTP {exc.code}). Check "
                "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN."
            ) from None
        raise Unreachable(
            f"{what} answered HTTP {exc.code} to a search: it is not an MLflow tracking server, "
            f"or it is failing. {hint}"
        ) from None
    except TimeoutError:
        raise Unreachable(
            f"{what} accepted a connection but did not answer within {read:g} s. {hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{what} cannot be reached: {reason}. {hint}") from None
    try:
        json.loads(body or b"{}")
    except ValueError:
        raise Unreachable(
            f"{what} answered, but not as an MLflow tracking server does (no JSON). {hint}"
        ) from None


def _auth_headers() -> dict[str, str]:
    import base64

    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }
    return {}


def _check_database(url: str, what: str, *, connect: float, read: float, variable: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    dialect = parsed.get_backend_name()
    hint = f"Check that the database server runs and accepts trialrun, and {variable}."
    _check_port(
        parsed.host or "localhost",
        parsed.port or _DEFAULT_PORTS.get(dialect, 5432),
        what,
        connect=connect,
        hint=hint,
    )
    outcome: dict[str, Any] = {}

    def probe() -> None:
        from sqlalchemy import create_engine, text

        args: dict[str, Any] = {"connect_timeout": max(1, round(connect))}
        engine = create_engine(url, connect_args=args, poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the driver's own error types: reported, never raised here
            outcome["error"] = exc
        finally:
            engine.dispose()

    worker = threading.Thread(target=probe, name="trialrun-store-check", daemon=True)
    worker.start()
    worker.join(connect + read)
    if worker.is_alive():
        raise Unreachable(
            f"{what} accepted a connection but did not answer within {connect + read:g} s. {hint}"
        )
    if "error" in outcome:
        exc = outcome["error"]
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        raise Unreachable(f"{what} cannot be used: {redact(detail)}. {hint}")


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


TRACKING_LOST = "the MLflow tracking server"
"""How :func:`store_failure` begins when the tracking server is the store that stopped."""


def store_failure(exc: BaseException) -> str | None:
    """Say in one line which store stopped answering, when that is why ``exc`` was raised.

    Mid-experiment, the tracking store or the Optuna storage can stop (a server restarted, a
    database connection cut). MLflow and SQLAlchemy then raise with pages of URL and driver
    detail; this names the store by its URL (password masked) and the reason in a few words.

    Example:
        >>> store_failure(ValueError("bad value")) is None
        True
    """
    for link in error_chain(exc):
        text = str(link)
        if type(link).__name__ == "MlflowException" and text.startswith("API request to "):
            found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text) or re.search(
                r"(Read timed out|Max retries exceeded)", text
            )
            reason = found.group(1) if found else "no answer"
            return (
                f"{TRACKING_LOST} {redact(settings.tracking_uri())!r} stopped answering "
                f"({reason.strip().lower()})"
            )
        if (
            type(link).__module__.startswith("sqlalchemy")
            and type(link).__name__ in ("OperationalError", "InterfaceError")
            and (getattr(link, "connection_invalidated", False) or _LOST.search(text))
        ):
            detail = str(getattr(link, "orig", None) or link).strip().splitlines()
            # The same driver errors come from MLflow's own SQL store: the frames tell which.
            mlflow_store = not any(
                "/optuna/" in frame.filename for frame in traceback.extract_tb(link.__traceback__)
            )
            what = (
                f"the MLflow tracking store {redact(settings.tracking_uri())!r}"
                if mlflow_store
                else f"the Optuna storage {redact(settings.optuna_storage())!r}"
            )
            return (
                f"{what} stopped answering ({redact(detail[0] if detail else 'no answer')[:200]})"
            )
    return None


_LOST = re.compile(
    r"closed the connection|could not connect|connection refused|terminating connection|"
    r"connection to server|connection reset|connection already closed|no connection",
    re.IGNORECASE,
)
"""How a database driver says the connection is gone (not a bad query or a schema clash)."""


def error_chain(exc: BaseException) -> list[BaseException]:
    """Return ``exc`` and every exception it was raised from or while handling, once each."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and all(link is not seen for seen in chain):
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain
