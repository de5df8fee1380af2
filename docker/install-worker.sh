#!/bin/sh
# Install the trialrun worker into a new virtual environment: the pinned dependencies of
# docker/requirements.txt, then trialrun itself from its built wheel, nothing resolved anew.
# The Dockerfile runs this script, and so does the test that proves the image's install works
# (tests/docker/test_worker_install.py), so both install exactly the same way.
#
# Usage: install-worker.sh VENV REQUIREMENTS WHEEL
set -eu
venv=$1 requirements=$2 wheel=$3
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --no-cache-dir --quiet --no-deps --requirement "$requirements"
"$venv/bin/python" -m pip install --no-cache-dir --quiet --no-deps "$wheel"
# Every requirement of every installed package is met by the pinned set: nothing is missing.
"$venv/bin/python" -m pip check
