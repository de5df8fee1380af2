"""The quickstart against a real ``mlflow server``, looked at as its users look at it.

Once through ``MlflowClient`` (every logged model in its run's experiment, the experiment's kind
set), and once in the MLflow UI itself, rendered by headless Chromium from the links the report
gives: the experiment's runs in the model-training view with the baseline, trials and finals
nested under the parent run, a final run with its logged model, metrics, dataset and plots, and
the logged model's page. Screenshots of each page are saved under ``TRIALRUN_SCREENSHOTS`` (default: the
test's temporary directory) for a person to look at.

The browser tier needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``); without them it skips, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from agent.adapters.cli import main

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "prompts" / "examples" / "quickstart.md"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1100",
)
PAGE_TIMEOUT = 60


@dataclass
class Quickstart:
    url: str
    client: MlflowClient
    experiment_id: str
    runs: dict[str, Any]
    parent: Any
    final: Any
    report: str


@pytest.fixture(scope="module")
def quickstart(
    mlflow_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Quickstart]:
    """Run the README's quickstart once against the server, in a directory of its own."""
    from tools.data.catalog import Catalog
    from tools.data.examples import write_examples

    work = tmp_path_factory.mktemp("quickstart")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        for name in ("TRIALRUN_HOME", "TRIALRUN_CATALOG", "TRIALRUN_OPTUNA_STORAGE"):
            patch.delenv(name, raising=False)
        write_examples(Path("data"), Catalog.load("datasets.yaml"))
        code = main(["run", str(QUICKSTART), "--report-md", "report.md"])
        assert code == 0
        client = MlflowClient(mlflow_server)
        experiment = client.get_experiment_by_name("quickstart")
        runs = {
            r.info.run_id: r
            for r in client.search_runs([experiment.experiment_id], max_results=1000)
        }
        (parent,) = [r for r in runs.values() if r.data.tags.get("trialrun.role") == "parent"]
        finals = [r for r in runs.values() if r.data.tags.get("trialrun.role") == "final"]
        final = sorted(finals, key=lambda r: r.info.run_name)[0]
        yield Quickstart(
            mlflow_server,
            client,
            experiment.experiment_id,
            runs,
            parent,
            final,
            (work / "report.md").read_text(),
        )


def test_every_logged_model_sits_in_its_runs_experiment_of_model_training_kind(
    quickstart: Quickstart,
) -> None:
    client = quickstart.client
    experiment = client.get_experiment(quickstart.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    models = client.search_logged_models(
        [e.experiment_id for e in client.search_experiments()], max_results=1000
    )
    # the baseline and the two final seeds: each in the experiment of the run that logged it
    assert sorted(m.name for m in models) == [
        "lightgbm-baseline",
        "lightgbm-final-seed1",
        "lightgbm-final-seed2",
    ]
    for model in models:
        run = quickstart.runs[model.source_run_id]
        assert model.experiment_id == run.info.experiment_id == quickstart.experiment_id
    headline = quickstart.parent.data.metrics
    assert {"best_valid_roc_auc", "best_test_roc_auc", "baseline_valid_roc_auc"} <= set(headline)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver, with a fresh profile."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        reason = (
            "Chromium is not installed (apt-get install -y chromium chromium-driver): "
            "the MLflow UI browser tier cannot run"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: required)", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"trialrun-chromium-{os.getpid()}"
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(str(driver)), options=options)
    try:
        yield session
    finally:
        session.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("TRIALRUN_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def show(browser: Any, url: str, *expected: str) -> str:
    """Open ``url`` and wait until the rendered page shows every ``expected`` text."""
    browser.get(url)
    return shown(browser, *expected)


def shown(browser: Any, *expected: str) -> str:
    """Wait until the page shows every ``expected`` text; return the page's text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def showing(driver: Any) -> str | bool:
        text = driver.find_element(By.TAG_NAME, "body").text
        return text if all(e in text for e in expected) else False

    try:
        return str(WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5).until(showing))
    except Exception:
        text = browser.find_element(By.TAG_NAME, "body").text
        missing = [e for e in expected if e not in text]
        pytest.fail(
            f"{browser.current_url} did not show {missing} within {PAGE_TIMEOUT} s; it "
            f"showed:\n{text}"
        )


MODEL_TRAINING_NAV = ("Model training", "Runs", "Models", "Model registry")
"""What the model-training view's sidebar shows; the GenAI view shows these instead:"""
GENAI_NAV = ("Observability", "Evaluation runs", "Training runs")


def model_training_view(text: str) -> None:
    """Fail unless the rendered page is MLflow's model-training view, not its GenAI one."""
    lines = set(text.splitlines())
    assert set(MODEL_TRAINING_NAV) <= lines, text
    assert not set(GENAI_NAV) & lines, text


def close_assistant(browser: Any) -> None:
    """Close the UI's assistant panel, which would cover half of every screenshot."""
    from selenium.webdriver.common.by import By

    for button in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        if button.is_displayed():
            button.click()


def test_the_mlflow_ui_shows_the_experiment_runs_models_metrics_dataset_and_plots(
    quickstart: Quickstart, browser: Any, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tools.tracking.links import WORKFLOW_QUERY, ui_link

    base = f"{quickstart.url}/#/experiments/{quickstart.experiment_id}"
    parent, final = quickstart.parent, quickstart.final
    children = [r for r in quickstart.runs.values() if r is not parent]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)

    # the report links the experiment the way a person opens it: its runs, in the model-training
    # view, with the parent run and its dataset
    experiment_link = ui_link(quickstart.url, quickstart.experiment_id)
    assert f"({experiment_link})" in quickstart.report
    text = show(browser, experiment_link, parent.info.run_name, "breast_cancer@v1")
    model_training_view(text)
    close_assistant(browser)

    # the parent nests its children: expanded, the baseline, every trial and the finals show
    expand = browser.find_element(
        By.XPATH,
        f"//div[@role='row' and @row-id='{parent.info.run_id}']"
        "//div[@col-id='attributes.`Run Name`']//button",
    )
    expand.click()
    names = sorted(r.info.run_name for r in children)
    assert "baseline-lightgbm" in names and "trial-000" in names
    assert "final-lightgbm-seed1" in names and "final-lightgbm-seed2" in names
    text = shown(browser, *names)
    rows = {
        row.get_attribute("row-id")
        for row in browser.find_elements(By.CSS_SELECTOR, "div[role='row'][row-id]")
    }
    assert {parent.info.run_id, *(r.info.run_id for r in children)} <= rows, text
    browser.save_screenshot(str(screenshots / "experiment-runs-nested.png"))

    # a final run, from the report's link: its logged model, headline metrics and dataset
    final_link = ui_link(quickstart.url, quickstart.experiment_id, final.info.run_id)
    assert f"({final_link})" in quickstart.report
    text = show(
        browser,
        final_link,
        final.info.run_name,
        "lightgbm-final-seed",
        "valid_roc_auc",
        "breast_cancer@v1",
    )
    model_training_view(text)
    assert "Logged models (0)" not in text
    close_assistant(browser)
    logged = browser.find_element(
        By.XPATH, "//*[starts-with(normalize-space(text()), 'Logged models')]"
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", logged)
    browser.save_screenshot(str(screenshots / "final-run-with-model.png"))

    # its ROC curve, rendered as an image in the artifact view
    show(
        browser,
        f"{base}/runs/{final.info.run_id}/artifacts/plots/roc_curve.png?{WORKFLOW_QUERY}",
        "roc_curve.png",
    )

    def drawn(driver: Any) -> bool:
        return any(
            driver.execute_script("return arguments[0].naturalWidth", image) > 0
            for image in driver.find_elements(By.CSS_SELECTOR, "img")
        )

    WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5).until(drawn)
    close_assistant(browser)
    browser.save_screenshot(str(screenshots / "final-run-roc-curve.png"))

    # the experiment's models, and the final model's own page with the dataset it was scored on
    text = show(
        browser, f"{base}/models?{WORKFLOW_QUERY}", "lightgbm-final-seed1", "lightgbm-baseline"
    )
    model_training_view(text)
    close_assistant(browser)
    browser.save_screenshot(str(screenshots / "experiment-models.png"))
    model = next(
        m
        for m in quickstart.client.search_logged_models([quickstart.experiment_id])
        if m.source_run_id == final.info.run_id
    )
    text = show(
        browser, f"{base}/models/{model.model_id}?{WORKFLOW_QUERY}", model.name, "breast_cancer@v1"
    )
    assert "valid_roc_auc" in text
    close_assistant(browser)
    browser.save_screenshot(str(screenshots / "final-model.png"))
