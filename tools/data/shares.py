"""How rows are shared out: the test, validation and training fractions and what they need.

A stratified split needs rows of every class in every share; these checks say so with the
counts, before the library would fail with its own message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tools.errors import DataError, InputError


def check_fractions(valid_fraction: float, test_fraction: float = 0.0) -> None:
    """Raise InputError unless both fractions are shares of the rows."""
    if not 0 < valid_fraction < 1:
        raise InputError(
            f"valid_fraction {valid_fraction!r} is not between 0 and 1.",
            field="valid_fraction",
            hint="Use a share such as 0.2.",
        )
    if not 0 <= test_fraction < 1:
        raise InputError(
            f"test_fraction {test_fraction!r} is not between 0 (no test share) and 1.",
            field="test_fraction",
            hint="Use a share such as 0.15, or 0 to hold out no test rows.",
        )


def check_class_sizes(
    codes: np.ndarray,
    labels: Sequence[Any],
    valid_fraction: float,
    target: str,
    test_fraction: float = 0.0,
) -> None:
    """Raise DataError when a class has too few rows for every share to hold one."""
    counts = np.bincount(codes, minlength=len(labels))
    # Each stratified split needs two rows of a class; a test share taken first needs a third.
    fewest = 3 if test_fraction > 0 else 2
    rare = [(labels[i], int(n)) for i, n in enumerate(counts) if n < fewest]
    if rare:
        listing = ", ".join(f"{label!r} ({n} row{'' if n == 1 else 's'})" for label, n in rare[:10])
        if len(rare) > 10:
            listing += f" and {len(rare) - 10} more"
        why = (
            "A test share and a stratified train/validation split need at least 3 rows of each "
            "class."
            if test_fraction > 0
            else "A stratified split needs at least 2 rows of each class."
        )
        raise DataError(
            f"Target {target!r} has classes with fewer than {fewest} rows: {listing}. {why}",
            field="target",
            hint="Add rows, or merge or drop the rare classes"
            + (", or set test_fraction to 0." if test_fraction > 0 else "."),
        )
    n_test = math.ceil(test_fraction * len(codes)) if test_fraction > 0 else 0
    rest = len(codes) - n_test
    if n_test and min(n_test, rest) < len(labels):
        raise DataError(
            f"{len(codes)} rows with test_fraction {test_fraction} give {n_test} test rows, fewer "
            f"than the {len(labels)} classes of target {target!r}; the test share needs a row of "
            "every class.",
            field="test_fraction",
            hint="Add rows, raise test_fraction, or set it to 0.",
        )
    n_valid = math.ceil(valid_fraction * rest)
    if min(n_valid, rest - n_valid) < len(labels):
        raise DataError(
            f"{rest} rows split at valid_fraction {valid_fraction} give {n_valid} "
            f"validation and {rest - n_valid} training rows, fewer than the "
            f"{len(labels)} classes of target {target!r}; each share needs a row of every class.",
            field="valid_fraction",
            hint="Add rows or change valid_fraction.",
        )
