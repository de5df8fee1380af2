"""Runs with the same inputs share a checkpoint folder: saving the same rounds at once loses none."""

from __future__ import annotations

import threading

from tools.training.checkpoints import CheckpointStore, TrainingState


def test_two_runs_saving_the_same_rounds_at_once_both_succeed_and_leave_a_whole_checkpoint(
    tmp_path,
):
    folder = tmp_path / "checkpoints" / "baseline-lightgbm"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run(worker: int) -> None:
        store = CheckpointStore(folder, "same-inputs", every=1, keep=2)
        start.wait()
        try:
            for rounds in range(1, 200):
                store.save(b"model %d" % rounds, TrainingState(rounds=rounds), best_model=b"best")
                assert store.latest() is not None
        except BaseException as exc:  # noqa: BLE001 - the test reports what a run raised
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    latest = CheckpointStore(folder, "same-inputs").latest()
    assert latest is not None
    assert (latest.model, latest.state.rounds) == (b"model 199", 199)
    assert sorted(p.name for p in folder.iterdir()) == ["best.bin", "round-000198", "round-000199"]
