"""The reliability corpus runs each case in a directory of its own, filled from one template.

The template (the examples catalog: breast_cancer, wine, diabetes) is written once per session;
copying it costs a few milliseconds where writing it costs a second.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # harness and cases are plain modules beside the tests


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness import make_template

    return make_template(tmp_path_factory.mktemp("reliability-template"))
