"""Training, validation and test shares of a prepared dataset, seeded and stratified."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tools.data.shares import check_class_sizes, check_fractions
from tools.data.validate import PreparedData


@dataclass(frozen=True)
class Split:
    """Training, validation and test shares of a :class:`PreparedData`.

    The test share is held out before anything else: training, early stopping, pruning, the
    search and the choice of the final model use only the training and validation shares, and
    the final models are scored on the test share once. It is empty when ``test_fraction`` is 0.
    """

    X_train: pd.DataFrame
    X_valid: pd.DataFrame
    y_train: np.ndarray
    y_valid: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray


def split(
    data: PreparedData, *, seed: int, valid_fraction: float = 0.2, test_fraction: float = 0.15
) -> Split:
    """Hold out the test share, then split the rest into training and validation shares.

    Both splits are seeded and stratified by class for classification. ``test_fraction`` is a
    share of all rows; ``valid_fraction`` a share of the rows left after the test share, so
    training and validation keep the same proportions whatever the test share.

    Example:
        >>> parts = split(data, seed=0)  # doctest: +SKIP
        >>> rest = len(data.X) - len(parts.X_test)  # doctest: +SKIP
        >>> len(parts.X_test) / len(data.X), len(parts.X_valid) / rest  # doctest: +SKIP
        (0.15, 0.2)

    Raises:
        DataError: A class cannot be represented in every share at these fractions.
        InputError: ``valid_fraction`` or ``test_fraction`` is not a valid share.
    """
    from sklearn.model_selection import train_test_split

    check_fractions(valid_fraction, test_fraction)
    classes = data.class_labels is not None
    if classes:
        check_class_sizes(data.y, data.class_labels or [], valid_fraction, "target", test_fraction)
    X, y = data.X, data.y
    X_test, y_test = X.iloc[:0], y[:0]
    if test_fraction > 0:
        X, X_test, y, y_test = train_test_split(
            X, y, test_size=test_fraction, random_state=seed, stratify=y if classes else None
        )
        if classes:
            # The test share may take a rare class's rows unevenly; say so rather than fail in
            # the second split with the library's message.
            check_class_sizes(y, data.class_labels or [], valid_fraction, "target")
    X_train, X_valid, y_train, y_valid = train_test_split(
        X, y, test_size=valid_fraction, random_state=seed, stratify=y if classes else None
    )
    return Split(
        X_train=X_train,
        X_valid=X_valid,
        y_train=y_train,
        y_valid=y_valid,
        X_test=X_test,
        y_test=y_test,
    )
