"""Stands in for a trialrun process in the crash test: starts jobs, prints their ids, then waits.

Usage: python job_supervisor.py STORE_PATH JOBS_ROOT SPECS_JSON
"""

from __future__ import annotations

import json
import sys
import time

from tools.jobs import lifecycle
from tools.jobs.local import LocalBackend
from tools.jobs.model import JobSpec
from tools.jobs.store import JobStore


def main(store_path: str, jobs_root: str, specs: str) -> None:
    store = JobStore(store_path)
    backends = {"local": LocalBackend(jobs_root, grace_seconds=1.0)}
    for raw in json.loads(specs):
        job = lifecycle.submit(JobSpec.model_validate(raw), store=store, backends=backends)
        print(job.id, flush=True)
    time.sleep(600)  # until the test kills it with SIGKILL


if __name__ == "__main__":
    main(*sys.argv[1:4])
