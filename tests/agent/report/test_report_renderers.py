import io
import json
import re

import pytest
from rich.console import Console

from agent.report import print_report, render_json, render_markdown, render_rich, render_slack
from agent.report.model import Check, Failure, Report, Verification

SECTIONS = ["Plan", "Changes", "Verification", "Rollback", "Summary"]


@pytest.fixture
def every_rendering(plain):
    def render(report: Report) -> dict[str, str]:
        return {
            "json": render_json(report),
            "markdown": render_markdown(report),
            "rich": plain(render_rich(report)),
            "slack": slack_text(report),
        }

    return render


def slack_text(report: Report, **kwargs) -> str:
    return json.dumps(render_slack(report, **kwargs), ensure_ascii=False)


def test_markdown_has_a_status_title_then_the_five_sections_in_order(report: Report) -> None:
    markdown = render_markdown(report)
    assert markdown.splitlines()[0] == f"# {report.title} — {report.status.replace('_', ' ')}"
    assert re.findall(r"^## (.+)$", markdown, flags=re.M) == SECTIONS


def test_terminal_and_slack_show_the_five_sections_in_order(report: Report, plain) -> None:
    panels = re.findall(r"^╭─ (\w+)", plain(render_rich(report)), flags=re.M)
    alerts = {"Failed", "Cancelled", "Refused", "Needs"}
    assert panels[-5:] == SECTIONS and set(panels[:-5]) <= alerts
    slack = slack_text(report)
    positions = [slack.index(f'"*{name}*') for name in SECTIONS]
    assert positions == sorted(positions)


def test_a_section_with_nothing_to_say_says_so(samples, plain) -> None:
    markdown = render_markdown(samples.needs_input())
    for line in ("Nothing was created.", "No checks were run.", "Nothing to roll back."):
        assert f"\n{line}\n" in markdown
    assert "No results: no model was scored." in markdown
    assert "## Plan\n\nNothing was planned.\n" in render_markdown(samples.refused())
    assert "Nothing was planned." in plain(render_rich(samples.refused()))
    assert "Nothing was planned." in slack_text(samples.refused())


@pytest.mark.parametrize("medium", ["markdown", "rich"])
def test_a_failure_is_shown_before_the_plan_with_node_type_and_message(
    samples, every_rendering, medium: str
) -> None:
    text = every_rendering(samples.failed())[medium]
    assert text.index("Failed in tune") < text.index("Plan")
    assert "DataError: 5 trials failed in a row; the last: column 'age' has 3 NaN values" in text
    assert "Cancelled in tune" in every_rendering(samples.cancelled())[medium]


def test_refusals_and_missing_inputs_come_first_in_every_medium(
    samples, every_rendering, plain
) -> None:
    refusal = "deploying a model to production is not something trialrun does"
    for medium, text in every_rendering(samples.refused()).items():
        if medium != "json":
            assert refusal in text
            assert text.index("Refused") < text.index("Plan"), medium
    markdown = render_markdown(samples.needs_input())
    block = markdown[: markdown.index("## Plan")]
    assert "Needs input" in block
    listed = [m for m in ("dataset", "metric", "budget") if f"- {m}\n" in block]
    assert listed == ["dataset", "metric", "budget"]
    assert "• budget" in plain(render_rich(samples.needs_input()))
    assert "• budget" in slack_text(samples.needs_input())


def test_missing_inputs_are_listed_only_when_input_is_needed(samples) -> None:
    report = samples.failed()
    report.plan.missing = ["dataset"]
    assert "Needs input" not in render_markdown(report)


@pytest.mark.parametrize(
    ("metric", "direction", "baseline", "best", "expected"),
    [
        ("roc_auc", "maximize", 0.90, 0.92, "+0.020000, better (roc_auc is maximized)"),
        ("roc_auc", "maximize", 0.92, 0.90, "-0.020000, worse (roc_auc is maximized)"),
        ("rmse", "minimize", 3.5, 3.2, "-0.30000, better (rmse is minimized)"),
        ("rmse", "minimize", 3.2, 3.5, "+0.30000, worse (rmse is minimized)"),
        # An empty direction falls back to the metric registry.
        ("log_loss", "", 0.40, 0.35, "-0.050000, better (log_loss is minimized)"),
        ("r2", "maximize", 0.75, 0.75, "+0.0000, no change (r2 is maximized)"),
    ],
)
def test_the_delta_is_signed_and_judged_by_the_metric_direction(
    samples, plain, metric: str, direction: str, baseline: float, best: float, expected: str
) -> None:
    report = samples.with_delta(metric, direction, baseline, best)
    assert f"- **Delta:** {expected}\n" in render_markdown(report)
    assert f"Delta:           {expected}" in plain(render_rich(report))
    assert f"*Delta*\\n{expected}" in slack_text(report)


def test_the_summary_shows_best_against_baseline_with_both_run_ids(samples) -> None:
    markdown = render_markdown(samples.succeeded())
    # Best is the configuration's mean over its seeds, as the Plan defines it
    best = "0.92803 validation, 0.92984 test, mean of 3 seeds"
    model = "first seed's model in `2c3d4e5f607182930a4b5c6d7e8f90a1` (final-lightgbm-seed0)"
    assert f"- **Best:** {best}; {model}\n" in markdown
    assert "- **Best:** the chosen configuration's mean score over its final runs" in markdown
    baseline = "0.91234 validation, 0.91507 test in `1b2c3d4e5f60718293a4b5c6d7e8f90a`"
    assert f"- **Baseline:** {baseline} (baseline-lightgbm)\n" in markdown
    assert "- **Over seeds:** 0.92803 ± 0.00068500 (3 seeds)\n" in markdown
    assert "- **Trials:** 50 of 50 planned (47 complete, 3 pruned)\n" in markdown
    assert "- **Stopped:** trial budget reached\n" in markdown
    assert "| 1 | `3d4e5f6071829304a5b6c7d8e9f0a1b2` | 0.92734 · test 0.92950 |" in markdown


@pytest.mark.parametrize("medium", ["markdown", "rich", "slack"])
def test_with_a_test_share_best_against_baseline_is_judged_on_it(
    samples, every_rendering, medium
) -> None:
    # Validation says the best run is better; the rows no search saw say it is worse.
    report = samples.with_delta("roc_auc", "maximize", 0.90, 0.92, tests=(0.91, 0.905))
    text = every_rendering(report)[medium]
    expected = "-0.0050000 on the test share (+0.020000 on validation), worse"
    assert expected in " ".join(text.split()), text
    assert "15% of the rows, held out before training" in " ".join(text.split())


def test_without_a_test_share_the_summary_says_the_scores_are_validation_scores(
    samples, plain
) -> None:
    report = samples.with_delta("rmse", "minimize", 3.5, 3.2)
    expected = "none (test_fraction 0): every score above is on the validation split, which chose"
    assert f"- **Test share:** {expected} the best run\n" in render_markdown(report)
    assert "Test share:      none (test_fraction 0)" in plain(render_rich(report))
    assert "- **Delta:** -0.30000, better (rmse is minimized)\n" in render_markdown(report)


@pytest.mark.parametrize("medium", ["markdown", "rich"])
def test_every_model_trainer_output_field_is_shown(samples, every_rendering, medium) -> None:
    text = every_rendering(samples.succeeded())[medium]
    for field, value in [
        ("model_artifact_path", "models:/m-5f6a7b8c9d0e"),
        ("mlflow_run_id", "2c3d4e5f607182930a4b5c6d7e8f90a1"),
        ("training_time_seconds", "14.2"),
        ("training_metrics", "train_roc_auc=0.95123"),
        ("validation_metrics", "valid_roc_auc=0.92871"),
        ("test_metrics", "test_roc_auc=0.93012"),
        ("best_hyperparameters", "learning_rate=0.0512, num_leaves=63"),
    ]:
        assert re.search(rf"{field}\W+{re.escape(value)}", text), field


def test_metric_values_keep_five_significant_digits_at_any_scale(samples) -> None:
    large = render_markdown(samples.with_delta("rmse", "minimize", 45600.1234, 45123.678))
    assert "- **Best:** 45124, mean of 3 seeds" in large
    assert "- **Baseline:** 45600 in" in large
    assert "- **Delta:** -476.45, better" in large
    small = render_markdown(samples.with_delta("log_loss", "minimize", 0.0123456, 0.00987654321))
    assert "- **Best:** 0.0098765, mean of 3 seeds" in small
    assert "- **Baseline:** 0.012346 in" in small


def test_no_renderer_shows_a_planted_secret(report: Report, samples, every_rendering) -> None:
    planted = report.model_copy(
        update={
            "failure": Failure(
                node="tune", error_type="OperationalError", message=samples.with_secrets_message
            ),
            "notes": [f"key {samples.SECRET_KEY}"],
        }
    )
    for medium, text in [
        *every_rendering(planted).items(),
        *every_rendering(samples.with_secrets()).items(),
    ]:
        assert samples.SECRET_PASSWORD not in text, medium
        assert samples.SECRET_KEY not in text, medium
        assert "[REDACTED]" in text, medium


def test_redaction_keeps_the_rest_of_a_failure_message(samples) -> None:
    markdown = render_markdown(samples.with_secrets())
    assert (
        "> **Failed in tune:** OperationalError: at postgresql://trialrun:[REDACTED]@db:5432/optuna "
        "OPENAI_API_KEY=[REDACTED]\n" in markdown
    )


def test_pipes_in_table_cells_are_escaped(samples) -> None:
    report = samples.succeeded()
    report.verification = Verification(
        checks=[Check(name="a | b", passed=False, run_id="r1", detail="x|y")]
    )
    row = next(line for line in render_markdown(report).splitlines() if line.startswith("| ✗"))
    assert row == "| ✗ | a \\| b | `r1` | x\\|y |"
    assert len(re.findall(r"(?<!\\)\|", row)) == 5


def test_json_reads_back_as_the_same_report_and_is_stable(report: Report, sample, samples) -> None:
    text = render_json(report)
    assert Report.model_validate_json(text) == report
    assert render_json(getattr(samples, sample)()) == text


def test_the_terminal_shows_brackets_as_written_not_as_markup(samples, plain) -> None:
    report = samples.failed()
    report.failure = Failure(node="tune", error_type="ValueError", message="[bold]x[/bold] [y]")
    assert "ValueError: [bold]x[/bold] [y]" in plain(render_rich(report))


def colours(report: Report, *texts: str) -> dict[str, str | None]:
    """Return the colour the terminal gives each of ``texts`` where it appears whole."""
    console = Console(width=100, color_system="truecolor", force_terminal=True, file=io.StringIO())
    return {
        s.text: s.style.color.name if s.style and s.style.color else None
        for s in console.render(render_rich(report))
        if s.text in texts
    }


def test_the_terminal_colours_checks_and_status(samples) -> None:
    report = samples.succeeded()
    report.verification = Verification(
        checks=[Check(name="ok", passed=True), Check(name="bad", passed=False)]
    )
    assert colours(report, "✓", "✗", "succeeded") == {
        "✓": "green",
        "✗": "red",
        "succeeded": "green",
    }
    assert colours(samples.failed(), "failed") == {"failed": "red"}
    assert colours(samples.needs_input(), "needs input") == {"needs input": "cyan"}


def test_print_report_writes_to_the_given_console_or_stdout(samples, capsys) -> None:
    console = Console(record=True, width=100, file=io.StringIO())
    print_report(samples.refused(), console=console)
    assert "deploy-adult.md: refused — refused" in console.export_text()
    print_report(samples.refused())
    assert "Nothing was created." in capsys.readouterr().out
