"""Reading catalogued files: digests, tables, and the digest check before any use.

Local paths are read directly; URLs (``s3://``, ``gs://``, ...) go through fsspec, which pandas
uses too, so they work once fsspec and the filesystem's package (s3fs, gcsfs, ...) are installed
and configured the way those packages document (credentials from the environment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Literal
from urllib.parse import urlparse

from tools.data.catalog import Catalog, DatasetEntry, DigestMismatch, is_url
from tools.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

_CHUNK = 1 << 20
_COMPRESSION = (".gz", ".bz2", ".zip", ".xz", ".zst")
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", *(f".csv{c}" for c in _COMPRESSION))


def _check_local(location: str) -> Path:
    path = Path(location)
    if path.is_dir():
        raise DataError(
            f"{location!r} is a directory.",
            field="path",
            hint="Catalog one CSV or Parquet file per dataset version.",
        )
    if not path.exists():
        raise DataError(
            f"No file at {location!r}.", field="path", hint="Check the path and try again."
        )
    return path


def _missing_fsspec(location: str, exc: ImportError) -> DataError:
    scheme = urlparse(location).scheme
    return DataError(
        f"Reading {location!r} needs fsspec and the package for {scheme!r} URLs ({exc}).",
        field="path",
        hint="Install them (for example `pip install fsspec s3fs` for s3://), "
        "or copy the file locally.",
    )


def _open(location: str) -> IO[bytes]:
    if not is_url(location):
        try:
            return _check_local(location).open("rb")
        except OSError as exc:
            raise DataError(f"Cannot read {location!r}: {exc.strerror}.", field="path") from exc
    try:
        import fsspec
    except ImportError as exc:
        raise _missing_fsspec(location, exc) from exc
    try:
        return fsspec.open(location, "rb").open()
    except FileNotFoundError as exc:
        raise DataError(f"No file at {location!r}.", field="path") from exc
    except ImportError as exc:
        raise _missing_fsspec(location, exc) from exc
    except (ValueError, OSError) as exc:
        raise DataError(f"Cannot open {location!r}: {exc}", field="path") from exc


def file_digest(location: str) -> str:
    """Return the sha256 hex digest of the file's bytes, read in 1 MiB chunks.

    Example:
        >>> file_digest("data/wine.parquet")  # doctest: +SKIP
        '5c1e...'

    Raises:
        DataError: The file is missing, a directory, or cannot be opened.
    """
    digest = hashlib.sha256()
    with _open(location) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _format(location: str) -> Literal["csv", "parquet"]:
    name = PurePosixPath(urlparse(location).path if is_url(location) else location).name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv") or any(name.endswith(f".csv{c}") for c in _COMPRESSION):
        return "csv"
    raise DataError(
        f"Cannot tell the format of {location!r} from its name.",
        field="path",
        hint=f"Use a file ending in one of: {', '.join(SUPPORTED_SUFFIXES)}.",
    )


def read_table(location: str) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by suffix) into a DataFrame.

    Raises:
        DataError: The suffix is unknown, or the file is missing, unreadable, or has no rows or
            no columns.
    """
    import pandas as pd

    if not is_url(location) and Path(location).is_dir():
        _check_local(location)
    kind = _format(location)
    if not is_url(location):
        _check_local(location)
    with _read_errors(location, f"{location!r} as {kind.upper()}"):
        frame = pd.read_parquet(location) if kind == "parquet" else pd.read_csv(location)
    if kind == "csv":
        _check_header(location, read_header(location))
    if frame.shape[1] == 0:
        raise DataError(f"{location!r} has no columns.", field="path")
    if len(frame) == 0:
        raise DataError(
            f"{location!r} has no rows (columns: {', '.join(map(str, frame.columns[:30]))}).",
            field="path",
            hint="Add the rows below the header.",
        )
    return frame


@contextmanager
def _read_errors(location: str, what: str) -> Iterator[None]:
    """Turn what pandas and pyarrow raise while reading ``location`` into one DataError."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"{location!r} is empty.", field="path", hint="Give a file with a header and rows."
        ) from exc
    except FileNotFoundError as exc:
        raise DataError(f"No file at {location!r}.", field="path") from exc
    except ImportError as exc:
        raise _missing_fsspec(location, exc) from exc
    except (OSError, ValueError) as exc:
        raise DataError(
            f"Cannot read {what}: {exc}",
            field="path",
            hint="Check that the file is a valid, uncorrupted CSV or Parquet file.",
        ) from exc


def read_header(location: str) -> list[str]:
    """Return the file's column names as written (pandas renames repeated CSV names ``a.1``).

    Raises:
        DataError: The file is missing or cannot be read.
    """
    import pandas as pd

    kind = _format(location)
    if not is_url(location):
        _check_local(location)
    with _read_errors(location, f"the header of {location!r}"):
        if kind == "parquet":
            import pyarrow.parquet as pq

            return [str(name) for name in pq.read_schema(location).names]
        first = pd.read_csv(location, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in first.iloc[0].tolist()] if len(first) else []


def _check_header(location: str, names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"{location!r} names column(s) {', '.join(map(repr, repeated[:10]))} more than once.",
            field="path",
            hint="Give every column its own name in the header.",
        )
    blank = [i + 1 for i, n in enumerate(names) if not n.strip()]
    if blank:
        raise DataError(
            f"{location!r} has column(s) without a name (position {', '.join(map(str, blank[:10]))}).",
            field="path",
            hint="Name every column in the header.",
        )


def load_curated(name: str, version: str, *, catalog: Catalog) -> tuple[DatasetEntry, pd.DataFrame]:
    """Load a catalogued dataset after checking its file still has the catalogued digest.

    The returned entry carries the resolved location (absolute path or URL), so it can be logged
    or reported without the catalog beside it.

    Example:
        >>> entry, frame = load_curated("wine", "v1", catalog=Catalog.load())  # doctest: +SKIP

    Raises:
        NotCatalogued: ``name@version`` is not in the catalog.
        DigestMismatch: The file's bytes changed since it was catalogued.
        DataError: The file is missing or unreadable.
    """
    entry = catalog.get(name, version)
    location = catalog.resolve_location(entry)
    actual = file_digest(location)
    if actual != entry.sha256:
        raise DigestMismatch(entry.ref, location, entry.sha256, actual)
    return entry.model_copy(update={"location": location}), read_table(location)
