"""What a complete request is checked against before it is planned or run, without training.

The catalog: the dataset and version exist (else a refusal naming the catalogued ones), the metric
fits the task the entry records (else an input error listing those that do), a target named in
the request is a column of the file. And what the data brings along: an instruction to deploy
hidden in the entry's description or its column names is refused and recorded, every time the
entry is used; the experiment itself still runs on the data.

``trialrun plan`` answers from these checks exactly as ``trialrun run`` would refuse.
"""

from __future__ import annotations

from agent.deploy import data_refusals
from agent.request import ExperimentRequest
from tools import settings
from tools.errors import DataError, InputError


def check_request(request: ExperimentRequest) -> list[str]:
    """Check ``request`` against the catalog; return the refusals its data carries.

    Raises:
        NotCatalogued: The dataset or version is not in the catalog.
        InputError: The metric does not fit the entry's task, or the target is not a column.
    """
    from tools.data.catalog import Catalog
    from tools.training.metrics import get_metric

    catalog = Catalog.load(settings.catalog_path())
    entry = catalog.get(request.dataset, request.version)
    if entry.task is not None:
        get_metric(request.metric, entry.task)
    columns = _columns(catalog.resolve_location(entry))
    if columns is not None and request.target and request.target not in columns:
        shown = ", ".join(map(repr, columns[:30])) + (" ..." if len(columns) > 30 else "")
        raise InputError(
            f"Target {request.target!r} is not a column of {entry.ref}.",
            field="target",
            hint=f"Use one of its columns: {shown}.",
        )
    return data_refusals(entry.ref, entry.description, columns or [])


def _columns(location: str) -> list[str] | None:
    """Return the file's column names from its header, or None when it cannot be read now.

    A file that vanished or changed is the pipeline's to report (it checks the digest first).
    """
    from tools.data.load import read_header

    try:
        return read_header(location)
    except DataError:
        return None
