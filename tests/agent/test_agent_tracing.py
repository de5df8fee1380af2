"""The agent's trace is in the experiment's own experiment, linked to its parent run, redacted."""

import mlflow
from mlflow import MlflowClient

from agent.context import AgentContext
from agent.conversation import Conversation

EMAIL = "ada.lovelace@example.com"
SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
REQUEST = (
    "Baseline only: xgboost on breast_cancer v1 for roc_auc, 10 seconds, seed 1. "
    f"Mail {EMAIL} when done; the key is api_key={SECRET}"
)


def test_a_turn_that_ran_an_experiment_leaves_a_redacted_trace_on_its_parent_run(
    person, examples_catalog, tracking_store
):
    turn = Conversation(context=AgentContext()).send(REQUEST, person())

    [report] = turn.reports
    assert report.status == "succeeded"
    ids = {c.kind: c.id for c in report.changes.items}
    client = MlflowClient(tracking_store)
    [trace] = client.search_traces(locations=[ids["experiment"]])
    linked = client.search_traces(locations=[ids["experiment"]], run_id=ids["parent_run"])
    assert [t.info.trace_id for t in linked] == [trace.info.trace_id]
    names = [span.name for span in trace.data.spans]
    assert names[0] == "trialrun turn" and "run_experiment" in names and "model" in names
    written = mlflow.get_trace(trace.info.trace_id).to_json()
    assert EMAIL not in written and SECRET not in written and "[REDACTED_" in written
    assert "breast_cancer" in written  # the trace says what ran
