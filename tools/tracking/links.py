"""Links into the MLflow UI that open trialrun's records in its model-training view.

MLflow 3's UI chooses between its GenAI and its model-training view with the sidebar's workflow
switch, not with the experiment's ``mlflow.experimentKind`` tag: the ``workflowType`` parameter
of the page's URL when there is one, else the choice the browser last remembered, which is GenAI
in a browser that never chose. Every link trialrun prints therefore names the view.
"""

from __future__ import annotations

WORKFLOW_QUERY = "workflowType=machine_learning"
"""The URL parameter that opens a page of MLflow 3's UI in its model-training view."""


def ui_link(ui: str, experiment_id: str, run_id: str | None = None) -> str:
    """Return the UI page of an experiment's runs, or of one run, in the model-training view.

    Example:
        >>> ui_link("http://mlflow:5000/", "7", "ab12")
        'http://mlflow:5000/#/experiments/7/runs/ab12?workflowType=machine_learning'
    """
    page = f"{ui.rstrip('/')}/#/experiments/{experiment_id}"
    return f"{page}/runs/{run_id}?{WORKFLOW_QUERY}" if run_id else f"{page}?{WORKFLOW_QUERY}"
