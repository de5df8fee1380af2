from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools.data.catalog import Catalog


@pytest.fixture
def wine_csv(tmp_path: Path, wine: pd.DataFrame) -> Path:
    wine["taster_email"] = [f"taster{i}@example.org" for i in range(len(wine))]
    wine["lot"] = [f"L{i:05d}" for i in range(len(wine))]
    path = tmp_path / "data" / "wine.csv"
    path.parent.mkdir()
    wine.to_csv(path, index=False)
    return path


def _add(path: Path | str, *extra: str, catalog: str = "datasets.yaml") -> list[str]:
    return [
        "datasets", "add", str(path), "--name", "wine", "--version", "v1", "--target", "cultivar",
        "--id-column", "lot", "--pii-column", "taster_email", "--curated-by", "ada",
        "--catalog", catalog, *extra,
    ]  # fmt: skip


def test_add_list_and_show(capsys, tmp_path, wine_csv) -> None:
    code = main(_add(wine_csv, "--description", "UCI wine", "--task", "multiclass"))
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "Added wine@v1 (multiclass, target 'cultivar', 178 rows" in out

    assert main(["datasets", "list", "--catalog", "datasets.yaml"]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "TARGET", "TASK", "ROWS", "CURATED_BY"]
    assert lines[1].split() == ["wine", "v1", "cultivar", "multiclass", "178", "ada"]

    assert main(["datasets", "show", "wine", "--catalog", "datasets.yaml"]) == ExitCode.OK
    shown = yaml.safe_load(capsys.readouterr().out)
    entry = Catalog.load("datasets.yaml").get("wine", "v1")
    assert shown == entry.model_dump(mode="json")
    assert shown["roles"] == {"id": ["lot"], "pii": ["taster_email"]}
    assert shown["location"] == "data/wine.csv" and shown["description"] == "UCI wine"


def test_show_picks_the_latest_version_unless_one_is_named(capsys, tmp_path, wine_csv) -> None:
    assert main(_add(wine_csv)) == ExitCode.OK
    assert main([*_add(wine_csv)[:6], "v2", *_add(wine_csv)[7:]]) == ExitCode.OK
    capsys.readouterr()

    main(["datasets", "show", "wine", "--catalog", "datasets.yaml"])
    assert yaml.safe_load(capsys.readouterr().out)["version"] == "v2"
    main(["datasets", "show", "wine", "--version", "v1", "--catalog", "datasets.yaml"])
    assert yaml.safe_load(capsys.readouterr().out)["version"] == "v1"


def test_list_of_an_empty_catalog_says_how_to_add(capsys) -> None:
    assert main(["datasets", "list"]) == ExitCode.OK
    assert "No datasets in" in capsys.readouterr().out


def test_catalog_flag_beats_environment_beats_default(
    capsys, monkeypatch, tmp_path, wine_csv
) -> None:
    for catalog, version in (("datasets.yaml", "default"), ("env.yaml", "env"), ("flag.yaml", "f")):
        args = _add(wine_csv, catalog=catalog)
        args[args.index("v1")] = version
        assert main(args) == ExitCode.OK

    def listed(*args: str) -> str:
        capsys.readouterr()
        assert main(["datasets", "list", *args]) == ExitCode.OK
        return capsys.readouterr().out.splitlines()[1].split()[1]

    assert listed() == "default"
    monkeypatch.setenv("TRIALRUN_CATALOG", str(tmp_path / "env.yaml"))
    assert listed() == "env"
    assert listed("--catalog", "flag.yaml") == "f"


def _option(args: list[str], flag: str, value: str) -> list[str]:
    at = args.index(flag) + 1
    return [*args[:at], value, *args[at + 1 :]]


CLI_CASES = {
    "unknown task": (lambda a, d: [*a, "--task", "bogus"], ["'bogus'", "binary, multiclass"]),
    "missing file": (lambda a, d: _option(a, "add", str(d / "nowhere.csv")), ["No file at"]),
    "unsupported format": (lambda a, d: _option(a, "add", str(d / "wine.xlsx")), ["format"]),
    "target not in file": (lambda a, d: _option(a, "--target", "quality"), ["'quality'"]),
    "id column not in file": (lambda a, d: _option(a, "--id-column", "row_id"), ["'row_id'"]),
    "pii column not in file": (lambda a, d: _option(a, "--pii-column", "ssn"), ["'ssn'"]),
    "bad dataset name": (lambda a, d: _option(a, "--name", "wine data"), ["'wine data'"]),
    "bad version": (lambda a, d: _option(a, "--version", "v1@2"), ["'v1@2'"]),
    "identifier not declared": (lambda a, d: _option(a, "--id-column", "alcohol"), ["'lot'"]),
    "empty target name": (lambda a, d: _option(a, "--target", ""), ["target"]),
}


@pytest.mark.parametrize(("change", "expected"), CLI_CASES.values(), ids=CLI_CASES)
def test_bad_add_input_exits_2_naming_the_value(
    capsys, tmp_path, wine_csv, change, expected
) -> None:
    assert main(change(_add(wine_csv), tmp_path)) == ExitCode.USAGE

    err = capsys.readouterr().err
    assert err.startswith("Error: ")
    for text in expected:
        assert text in err
    assert not (tmp_path / "datasets.yaml").exists()


def test_duplicate_version_exits_2_and_keeps_the_entry(capsys, tmp_path, wine_csv) -> None:
    assert main(_add(wine_csv)) == ExitCode.OK
    before = (tmp_path / "datasets.yaml").read_bytes()

    assert main(_add(wine_csv, "--description", "again")) == ExitCode.USAGE

    assert "'wine@v1' is already in the catalog" in capsys.readouterr().err
    assert (tmp_path / "datasets.yaml").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show", "nope"], ["'nope'", "wine (v1)"]),
        (["show", "wine", "--version", "v9"], ["'v9'", "catalogued versions: v1"]),
    ],
)
def test_show_of_an_uncatalogued_dataset_is_refused(capsys, wine_csv, args, expected) -> None:
    assert main(_add(wine_csv)) == ExitCode.OK

    assert main(["datasets", *args]) == ExitCode.REFUSED

    err = capsys.readouterr().err
    assert all(text in err for text in expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("datasets: [unclosed", ["not valid YAML"]),
        ("- just\n- a list\n", ["'datasets' list"]),
        (
            "datasets:\n- name: wine\n  version: v1\n  colour: red\n",
            ["'wine' is malformed", "colour", "location"],
        ),
        ("datasets:\n- 1\n", ["entry '#1' is malformed"]),
        (
            "datasets:\n- {name: wine, version: v1, location: w.csv, sha256: abc, target: t,"
            " curated_by: a, added_at: 2025-01-01T00:00:00Z, rows: 1, columns: 2}\n",
            ["sha256", "'abc'"],
        ),
    ],
)
def test_a_malformed_catalog_exits_2_naming_the_problem(capsys, text, expected) -> None:
    Path("datasets.yaml").write_text(text)

    assert main(["datasets", "list"]) == ExitCode.USAGE

    err = capsys.readouterr().err
    assert all(part in err for part in expected)


def test_a_catalog_listing_a_version_twice_exits_2(capsys) -> None:
    assert main(["datasets", "examples"]) == ExitCode.OK
    document = yaml.safe_load(Path("datasets.yaml").read_text())
    document["datasets"].append(document["datasets"][0])
    Path("datasets.yaml").write_text(yaml.safe_dump(document))
    capsys.readouterr()

    assert main(["datasets", "list"]) == ExitCode.USAGE

    assert "'breast_cancer@v1' more than once" in capsys.readouterr().err
