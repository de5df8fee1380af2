"""The same incomplete request as in CI and the chat ends in the same outcome in a Slack thread."""

from agent.outcome import NeedsInput

from ..outcomes import INCOMPLETE, MISSING, record_outcomes


def test_a_thread_asks_for_the_same_inputs(
    slack, fake_slack, examples_catalog, tracking_store, monkeypatch
):
    outcomes = record_outcomes(monkeypatch)
    slack.start()

    thread = slack.mention(INCOMPLETE, user="U0ADA", ts="1700000000.000100")

    question = fake_slack.post_in(thread, "To run this I need")
    assert "<@U0ADA>" in question.text and "Answer in this thread" in question.text
    assert "primary metric" in question.text and "the seeds" in question.text
    [outcome] = fake_slack.wait("the turn's outcome", lambda: list(outcomes))
    assert isinstance(outcome, NeedsInput) and outcome.missing == MISSING
