from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import ValidationError

from agent.planner.reading.intent import Action, Intent
from agent.planner.reading.message import read_message
from agent.planner.reading.metric import SYNONYMS
from agent.request import REQUIRED_FIELDS, Budget, RequestDraft
from tools.training.metrics import METRICS

TABLE = yaml.safe_load((Path(__file__).parent / "phrasings.yaml").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(TABLE["now"])
CASES: list[dict[str, Any]] = TABLE["cases"]


def _catalog(case: dict[str, Any]) -> dict[str, list[str]] | None:
    known = case.get("known")
    return TABLE["catalogs"][known] if isinstance(known, str) else known


def _read(case: dict[str, Any]) -> Intent:
    return read_message(case["text"], known=_catalog(case), now=NOW)


def _id(case: dict[str, Any]) -> str:
    return case["text"][:60] + (" [catalog]" if case.get("known") else "")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_phrasing(case: dict[str, Any]) -> None:
    intent = _read(case)
    expected = case.get("fields", {})

    assert intent.action == case["action"]
    invented = [name for name in REQUIRED_FIELDS if name in intent.fields and name not in expected]
    assert not invented, f"invented {invented} from {intent.spans}"
    for name, value in expected.items():
        assert intent.fields.get(name) == value, name
    assert intent.fields == expected
    assert intent.deploy_requested == case.get("deploy", [])
    assert intent.run_ids == case.get("run_ids", [])
    assert intent.job_id == case.get("job_id")
    assert intent.metric_key == case.get("metric_key")
    assert intent.experiment == case.get("experiment")
    assert intent.order == case.get("order")
    assert intent.order_by == case.get("order_by")
    assert sorted(intent.rejected) == sorted(case.get("rejected", []))
    since = case.get("since")
    assert intent.since == (datetime.fromisoformat(since) if since else None)


def test_the_table_covers_what_the_planner_must_read() -> None:
    deploy = [c for c in CASES if c.get("deploy")]
    lookalikes = [c for c in CASES if "deploy-lookalike" in c.get("tags", [])]
    assert len(CASES) >= 150
    assert len(deploy) >= 25
    assert len(lookalikes) >= 10
    assert {c["action"] for c in CASES} == set(get_args(Action))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["action"] in ("run_experiment", "answer")], ids=_id
)
def test_fields_are_request_draft_values(case: dict[str, Any]) -> None:
    fields = dict(_read(case).fields)
    budget = fields.pop("budget", {})
    assert set(budget) <= set(Budget.model_fields)
    # Kubernetes without a namespace is the one partial value the parser returns on purpose.
    if fields.get("runtime") == {"kubernetes": {}}:
        fields.pop("runtime")
    RequestDraft.model_validate(fields)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("train xgboost on churn v3 and maximize logloss", "contradicts metric 'log_loss'"),
        ("train on churn v3 in namespace ML_Dev", "'ML_Dev' is not a DNS-1123 label"),
    ],
)
def test_a_contradiction_is_returned_as_written_for_the_request_to_refuse(
    text: str, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        RequestDraft.model_validate(read_message(text).fields)


def test_spans_quote_the_person_not_the_folded_text() -> None:
    intent = read_message(
        "Train XGBoost on Churn V3 to predict Churned, 20 Trials, Seeds 1, 2 and 3"
    )

    assert intent.spans == {
        "target": "predict Churned",
        "dataset": "Churn V3",
        "version": "Churn V3",
        "budget.trials": "20 Trials",
        "seeds": "Seeds 1, 2 and 3",
        "model": "XGBoost",
    }


def test_spans_name_where_run_query_values_came_from() -> None:
    intent = read_message("best run by AUC in experiment churn-bench this week", now=NOW)

    assert intent.spans == {
        "experiment": "experiment churn-bench",
        "metric": "AUC",
        "since": "this week",
        "order": "best",
    }


def test_catalog_names_come_back_in_the_catalog_spelling() -> None:
    intent = read_message("train on Churn-Data V3", known={"churn_data": ["v1", "V3"]})

    assert intent.fields == {"dataset": "churn_data", "version": "V3"}


def test_a_number_is_read_once() -> None:
    intent = read_message("seeds 1 2 3 20 trials 4 workers")

    assert intent.fields == {"seeds": [1, 2, 3], "budget": {"trials": 20, "parallel": 4}}


def test_a_seed_range_too_long_for_a_request_is_not_expanded() -> None:
    intent = read_message("train on churn v3 with seeds 1-1000")

    assert "seeds" not in intent.fields


def test_time_windows_count_back_from_now_by_default() -> None:
    before = datetime.now(UTC)
    intent = read_message("list runs from the last 2 days")

    assert intent.since is not None
    assert before - timedelta(days=2, seconds=5) <= intent.since <= datetime.now(UTC)


def test_time_windows_follow_a_naive_now() -> None:
    intent = read_message("runs since yesterday", now=datetime(2025, 3, 12, 15, 30))

    assert intent.since == datetime(2025, 3, 11)


def test_every_metric_spelling_names_a_registered_metric() -> None:
    assert set(SYNONYMS.values()) == set(METRICS)


def test_an_intent_refuses_unknown_attributes() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Intent(action="help", fields={}, priority="high")  # type: ignore[call-arg]


def test_a_message_with_nothing_understood_is_unknown() -> None:
    intent = read_message("")

    assert intent == Intent(action="unknown", fields={})
