"""The dataset tools: list the catalog, validate one catalogued dataset."""

from __future__ import annotations

from agent.tool_functions.results import result
from tools import settings


def validate_dataset(dataset: str, version: str) -> str:
    """Validate a catalogued dataset: digest, target, columns, task; no training.

    Args:
        dataset: Catalogued dataset name.
        version: Catalogued version.
    """
    from tools.data.catalog import Catalog
    from tools.data.load import load_curated
    from tools.data.validate import prepare

    entry, frame = load_curated(dataset, version, catalog=Catalog.load(settings.catalog_path()))
    data = prepare(frame, entry)
    return result(
        dataset=entry.ref,
        rows=len(data.X),
        task=data.task,
        target=entry.target,
        features=len(data.feature_names),
        categorical=data.categorical_features[:50],
        dropped=data.dropped,
        description=entry.description,
    )


def list_datasets() -> str:
    """List the catalogued datasets with their versions, targets and tasks."""
    from tools.data.catalog import Catalog

    entries = Catalog.load(settings.catalog_path()).entries()
    return result(
        datasets=[
            {
                "name": e.name,
                "version": e.version,
                "target": e.target,
                "task": e.task,
                "rows": e.rows,
            }
            for e in entries[:100]
        ],
        total=len(entries),
    )
