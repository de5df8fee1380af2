"""After a whole experiment, no raw value of a personal-data column is anywhere it wrote.

Values are planted in every kind of column the scan knows (each declared ``--pii-column``), a
tuning experiment runs over both families from a prompt file, and every byte of the tracking
store, the artifacts, the Optuna storage, checkpoints, job records, the catalog and the reports
is searched for them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode

PROMPT = """---
dataset: tasting
version: v1
model: both
metric: log_loss
budget: {trials: 4, seconds: 30, cpus: 1}
seeds: [0, 1]
experiment: pii-audit
---
"""


def planted(rows: int) -> dict[str, list[str]]:
    """One distinct value per row for every kind of personal data the scan detects."""
    cards = ["4111111111111111", "5500000000000004", "340000000000009", "6011000990139424"]
    return {
        "email": [f"taster.{i:04d}@wine-panel.example" for i in range(rows)],
        "phone": [f"+44 20 7946 {i:04d}" for i in range(rows)],
        "card": [f"{cards[i % 4][:-4]} {i:04d}" for i in range(rows)],
        "iban": [f"DE89 3704 0044 05{i:02d} 1300 {i:02d}" for i in range(rows)],
        "ssn": [f"{100 + i:03d}-45-{1000 + i:04d}" for i in range(rows)],
        "ip": [f"203.0.{i // 250}.{i % 250}" for i in range(rows)],
        "secret": [f"sk-proj-plantedsecret{i:06d}abcdefgh" for i in range(rows)],
    }


def needles(values: dict[str, list[str]]) -> set[bytes]:
    found = set()
    for column in values.values():
        for value in column:
            found.add(value.encode())
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 9:
                found.add(digits.encode())  # the same number written without separators
    return found


def test_no_planted_personal_value_reaches_the_store_artifacts_or_reports(
    tracking_store: str, capsys
) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    wine.columns = [c.replace("/", "_") for c in wine.columns]
    values = planted(len(wine))
    frame = wine.assign(
        region=[("north", "south", "east")[i % 3] for i in range(len(wine))], **values
    )
    Path("data").mkdir()
    frame.to_parquet("data/tasting.parquet", index=False)
    add = ["datasets", "add", "data/tasting.parquet", "--name", "tasting", "--version", "v1"]
    add += ["--target", "cultivar", "--curated-by", "audit"]
    for column in values:
        add += ["--pii-column", column]
    assert main(add) == ExitCode.OK, capsys.readouterr().err
    Path("tasting.md").write_text(PROMPT)

    code = main(["run", "tasting.md", "--report-json", "out/r.json", "--report-md", "out/r.md"])

    printed = capsys.readouterr()
    assert code == ExitCode.OK, printed.err
    assert json.loads(Path("out/r.json").read_text())["verification"]["checks"]
    written = [p for p in Path(".").rglob("*") if p.is_file() and p != Path("data/tasting.parquet")]
    assert any(p.name == "MLmodel" for p in written) and Path("optuna.db").exists()
    hits = {
        str(path): sorted(n.decode() for n in needles(values) if n in path.read_bytes())
        for path in written
    }
    assert {path: found for path, found in hits.items() if found} == {}
    screen = (printed.out + printed.err).encode()
    assert [n for n in needles(values) if n in screen] == []
