"""Load: twenty Slack threads at once, each asking for a small experiment, through the real app.

The app runs as in production (Bolt over HTTP, signed events) against the Web API stand-in of
``conftest.py`` (its limits are written there) and a real MLflow store and Optuna storage; every
experiment really trains (LightGBM on wine, the smallest example dataset, two trials). Two of the
twenty also ask to deploy the best model, which their reports must refuse. Every thread must get
exactly one final answer, its report or why it failed; the caps must hold by MLflow's own record
of when each parent run started and ended; every experiment is a job that ended; nothing is left RUNNING and
nothing registered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest

from tools.jobs.store import JobStore

THREADS = 20
PER_WORKSPACE, PER_USER = 4, 2
USERS = 7  # three threads each for most, so the per-person cap queues some too
SMALL = "tune lightgbm on wine v1 for accuracy, 2 trials, 30 seconds, seeds 1, experiment load-{n}"
REFUSED = {
    3: SMALL + " and deploy the best model",
    11: SMALL + " then register the best model",
}


def request(n: int) -> str:
    # One MLflow experiment each: runs of one experiment that log the same dataset at the same
    # instant can collide in MLflow's dataset table, which is not what this test is about.
    return REFUSED.get(n, SMALL).format(n=n)


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (one that ends as another starts does not overlap)."""
    events = sorted([(end, -1) for _, end in spans] + [(start, 1) for start, _ in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def final_answers(fake_slack, thread: str) -> list:
    """The thread's reports and its failure messages: what ends a request."""
    return [
        p
        for p in fake_slack.posts(thread)
        if any(b.get("type") == "header" for b in p.params.get("blocks") or [])
        or p.text.startswith(":x:")
    ]


@pytest.mark.slow
def test_twenty_threads_at_once_all_end_in_their_thread_under_the_caps(
    slack, fake_slack, examples_catalog, tracking_store
):
    slack.start(max_per_workspace=PER_WORKSPACE, max_per_user=PER_USER)
    threads = [f"1700000000.{n:06d}" for n in range(1, THREADS + 1)]
    with ThreadPoolExecutor(THREADS) as senders:
        list(
            senders.map(
                lambda n: slack.mention(request(n), user=f"U{n % USERS:04d}", ts=threads[n]),
                range(THREADS),
            )
        )

    for thread in threads:
        fake_slack.wait(
            f"the final answer in {thread}", lambda t=thread: final_answers(fake_slack, t), 600
        )
    fake_slack.wait(
        "every experiment's slot given back",
        lambda: slack.service.runner.limits.running("T0TEAM") == 0 or None,
    )
    slack.stop()  # every turn has ended: nothing can post any more

    for n, thread in enumerate(threads):
        final = final_answers(fake_slack, thread)
        assert len(final) == 1, [p.text[:300] for p in final]  # none lost, none answered twice
        text = final[0].text
        assert "Traceback" not in text, text[:3000]
        assert "*succeeded*" in text, text[:3000]
        refused = "trialrun never deploys, registers, promotes, stages or serves models" in text
        assert refused == (n in REFUSED), text[:3000]
    queued = [e for c in fake_slack.of("chat.update") for e in [c.text] if "*Queued*" in e]
    assert queued  # the caps were reached: some waited, and said why

    client = mlflow.MlflowClient(tracking_store)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=1000)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    parents = [r for r in runs if r.data.tags.get("trialrun.role") == "parent"]
    assert sorted(r.info.status for r in parents) == ["FINISHED"] * THREADS
    spans = {r.info.experiment_id: (r.info.start_time, r.info.end_time) for r in parents}
    assert most_at_once(list(spans.values())) <= PER_WORKSPACE
    user_of = {
        e.experiment_id: int(e.name.removeprefix("load-")) % USERS
        for e in client.search_experiments()
        if e.name.startswith("load-")
    }
    for user in range(USERS):
        mine = [span for id_, span in spans.items() if user_of[id_] == user]
        assert most_at_once(mine) <= PER_USER
    assert client.search_registered_models() == []

    jobs = JobStore().list(limit=100)
    assert len(jobs) == THREADS and all(j.state.finished for j in jobs)
