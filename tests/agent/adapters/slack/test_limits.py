"""The caps on experiments running at once hold under many threads; the rest queue and say why."""

from concurrent.futures import ThreadPoolExecutor

REQUEST = (
    "train xgboost on breast_cancer v1 for roc_auc, baseline only, 1 trial, 20 seconds, seeds 1"
)


def request(n: int) -> str:
    # One MLflow experiment each: runs of one experiment that log the same dataset at the same
    # instant can collide in MLflow's dataset table, which is not what these tests are about.
    return f"{REQUEST}, experiment cap-{n}"


def test_twenty_threads_at_once_hold_the_workspace_cap(
    slack, fake_slack, examples_catalog, tracking_store, held_experiments
):
    slack.start(max_per_workspace=3, max_per_user=2)
    threads = [f"1700000000.{n:06d}" for n in range(1, 21)]
    with ThreadPoolExecutor(20) as senders:
        list(
            senders.map(
                lambda n: slack.mention(request(n), user=f"U{n:04d}", ts=threads[n]), range(20)
            )
        )

    def queued() -> list[str]:
        """The first edit of each progress message that says it queued."""
        found = []
        for thread in threads:
            started = [p for p in fake_slack.posts(thread) if "Starting experiment" in p.text]
            edits = fake_slack.edits(started[0].answer["ts"]) if started else []
            found += [e for e in edits[:1] if "Queued" in e]
        return found

    waiting = fake_slack.wait(
        "3 held and 17 queued",
        lambda: held_experiments.now == 3 and len(queued()) == 17 and queued(),
    )
    assert all("3 experiment(s) are running in this workspace (at most 3" in q for q in waiting)
    assert held_experiments.now == held_experiments.most == 3

    held_experiments.released.set()

    reports = [fake_slack.report(t) for t in threads]
    assert held_experiments.most == 3
    unreleased = [r.text for r in reports if "released by the test" not in r.text]
    assert not unreleased, unreleased[0][:3000]
    assert all("*cancelled*" in r.text for r in reports)
    assert slack.service.runner.limits.running("T0TEAM") == 0


def test_one_person_waits_for_their_own_experiment_to_end(
    slack, fake_slack, examples_catalog, tracking_store, held_experiments
):
    slack.start(max_per_workspace=5, max_per_user=1)
    first = slack.mention(request(1), user="U0ADA", ts="1700000000.000100")
    fake_slack.wait("the first experiment held", lambda: held_experiments.now == 1)
    second = slack.mention(request(2), user="U0ADA", ts="1700000000.000200")
    progress = fake_slack.post_in(second, "Starting experiment").answer["ts"]
    queued = fake_slack.wait("the second queued", lambda: fake_slack.edits(progress))
    assert "<@U0ADA> has 1 experiment(s) running (at most 1 at once per person)" in queued[0]
    other = slack.mention(request(3), user="U0BOB", ts="1700000000.000300")
    fake_slack.wait("someone else's experiment held", lambda: held_experiments.now == 2)

    slack.reply("cancel", user="U0ADA", thread_ts=first, ts="1700000000.000101")

    fake_slack.wait(
        "the second one running",
        lambda: (
            held_experiments.now == 2 and any("Running" in e for e in fake_slack.edits(progress))
        ),
    )
    assert "*cancelled*" in fake_slack.report(first).text
    held_experiments.released.set()
    for thread in (second, other):
        fake_slack.report(thread)
    assert held_experiments.most == 2
