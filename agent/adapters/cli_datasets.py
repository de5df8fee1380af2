"""``trialrun datasets``: add, list, show and write example datasets in the catalog.

The catalog is ``--catalog``, else ``TRIALRUN_CATALOG``, else ``./datasets.yaml``. Bad input
exits with code 2 (USAGE) and a refusal by rule (data outside the catalog) with 5 (REFUSED), each
with its message on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agent.adapters.exit_codes import exit_on_errors
from tools.errors import InputError

app = typer.Typer(
    help="Curated datasets: the only data trialrun trains on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="Catalog file (default: $TRIALRUN_CATALOG, else ./datasets.yaml).",
        dir_okay=False,
    ),
]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@app.command()
def add(
    path: Annotated[str, typer.Argument(help="CSV or Parquet file (local path or URL).")],
    name: Annotated[str, typer.Option(help="Dataset name.")],
    version: Annotated[str, typer.Option(help="Version label, e.g. v1.")],
    target: Annotated[str, typer.Option(help="Column to predict.")],
    task: Annotated[
        str | None,
        typer.Option(help="binary, multiclass or regression; inferred from the target if omitted."),
    ] = None,
    id_column: Annotated[
        list[str] | None, typer.Option(help="Identifier column to drop (repeatable).")
    ] = None,
    pii_column: Annotated[
        list[str] | None,
        typer.Option(help="Personal-data column to drop and never log (repeatable)."),
    ] = None,
    curated_by: Annotated[
        str | None, typer.Option(help="Who curated the file (default: $USER or git user.name).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the data is.")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite an existing name and version.")
    ] = False,
    allow_pii: Annotated[
        list[str] | None,
        typer.Option(
            help="COLUMN=REASON: keep a column the personal-data scan flags as a feature, "
            "recording why it is not personal data (repeatable)."
        ),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Validate a file, scan it for personal data, record its digest and add it to the catalog."""
    from tools.data.catalog import Catalog
    from tools.data.curate import add_dataset, recatalogue_command

    with exit_on_errors():
        allowed = _allowances(allow_pii or [])
        store = Catalog.load(catalog)
        entry = add_dataset(
            path,
            name=name,
            version=version,
            target=target,
            catalog=store,
            task=task,  # type: ignore[arg-type]
            id_columns=id_column or (),
            pii_columns=pii_column or (),
            curated_by=curated_by,
            description=description,
            replace=replace,
            pii_allowed=allowed,
        )
    typer.echo(
        f"Added {entry.ref} ({entry.task}, target {entry.target!r}, {entry.rows} rows, "
        f"sha256 {entry.sha256[:12]}) to {store.path}."
    )
    typer.echo(f"Task {entry.task}: {entry.task_reason}.")
    if entry.task_alternative is not None:
        reading = "class codes" if entry.task_alternative != "regression" else "quantities"
        typer.echo(
            f"Ambiguous: whole numbers can be quantities or class codes. If they are {reading}, "
            f"catalogue it as {entry.task_alternative} (--task {entry.task_alternative}):\n  "
            + recatalogue_command(store, entry, entry.task_alternative)
        )
    for column, reason in entry.pii_allowed.items():
        typer.echo(f"Kept {column!r} as a feature despite the personal-data scan: {reason}")


def _allowances(values: list[str]) -> dict[str, str]:
    allowed = {}
    for value in values:
        column, sep, reason = value.partition("=")
        if not sep or not column.strip() or not reason.strip():
            raise InputError(
                f"--allow-pii {value!r} is not COLUMN=REASON.",
                field="allow_pii",
                hint="Name the column and say why it is not personal data, e.g. "
                "--allow-pii 'support_email=the shared team address, not a person'.",
            )
        allowed[column.strip()] = reason.strip()
    return allowed


@app.command("list")
def list_(catalog: CatalogOption = None) -> None:
    """List catalogued datasets."""
    from tools.data.catalog import Catalog

    with exit_on_errors():
        store = Catalog.load(catalog)
    entries = store.entries()
    if not entries:
        typer.echo(
            f"No datasets in {store.path}. Add one with `trialrun datasets add`, or "
            "`trialrun datasets examples` for scikit-learn's bundled datasets."
        )
        return
    rows = [["NAME", "VERSION", "TARGET", "TASK", "ROWS", "CURATED_BY"]]
    rows += [
        [e.name, e.version, e.target, e.task or "-", str(e.rows), e.curated_by] for e in entries
    ]
    typer.echo(_table(rows))


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    version: Annotated[
        str | None, typer.Option(help="Version (default: the most recently added).")
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Print a catalog entry as YAML."""
    import yaml

    from tools.data.catalog import Catalog

    with exit_on_errors():
        store = Catalog.load(catalog)
        entry = store.get(name, version) if version else store.latest(name)
    document: dict[str, Any] = entry.model_dump(mode="json")
    typer.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip())


@app.command()
def examples(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write the Parquet files.", file_okay=False)
    ] = Path("data"),
    catalog: CatalogOption = None,
) -> None:
    """Write scikit-learn's bundled datasets as Parquet and catalogue them as v1."""
    from tools.data.catalog import Catalog
    from tools.data.examples import EXAMPLE_VERSION, EXAMPLES, write_examples

    with exit_on_errors():
        store = Catalog.load(catalog)
        added = write_examples(directory, store)
    if not added:
        names = ", ".join(f"{e.name}@{EXAMPLE_VERSION}" for e in EXAMPLES)
        typer.echo(f"Nothing to do: {names} are already in {store.path}.")
        return
    for entry in added:
        typer.echo(f"Added {entry.ref} ({entry.task}, target {entry.target!r}, {entry.rows} rows).")
    typer.echo(f"Catalog: {store.path}")
