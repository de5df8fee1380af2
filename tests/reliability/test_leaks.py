"""Secrets and personal data planted in every input of a real tuning experiment land nowhere."""

from __future__ import annotations

from pathlib import Path

from harness import leak_scan


def test_no_planted_secret_reaches_any_store_artifact_log_or_output(template, tmp_path) -> None:
    outcome, hits, scanned = leak_scan(tmp_path / "leak", template)

    assert outcome.code == 0, outcome.output[-3000:]
    assert scanned > 100_000  # the stores, the Optuna storage, the model files and reports
    assert (tmp_path / "leak" / "optuna.db").exists()
    assert hits == {}
    assert "[REDACTED]" in Path(tmp_path / "leak" / "r.md").read_text()
