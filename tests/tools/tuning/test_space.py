"""Every configuration the search spaces can propose trains: a corner must not fail a trial."""

from __future__ import annotations

import optuna
import pytest

from tools.errors import InputError
from tools.training import get_trainer
from tools.training.base import FitSpec
from tools.training.metrics import DEFAULT_METRIC, get_metric
from tools.training.run import DataContext
from tools.tuning.space import suggest

SAMPLING = {"subsample", "feature_fraction"}


def corner(family: str, end: str) -> dict[str, object]:
    """Every parameter of ``family``'s space at its low or high end.

    ``coarse`` is the hardest regularisation: every parameter high but the sampling fractions
    low. On a small table it leaves no split possible, which a trainer must survive.
    """
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    suggest(probe, family)
    return {
        name: dist.low if end == "low" or (end == "coarse" and name in SAMPLING) else dist.high
        for name, dist in probe.distributions.items()
    }


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("end", ["low", "high", "coarse"])
@pytest.mark.parametrize("dataset", ["breast_cancer", "wine", "diabetes"])
def test_every_corner_of_the_search_space_trains(
    family: str, end: str, dataset: str, example_contexts: dict[str, DataContext]
) -> None:
    ctx = example_contexts[dataset]
    params = suggest(optuna.trial.FixedTrial(corner(family, end)), family)
    task = ctx.data.task
    spec = FitSpec(
        task=task,
        n_classes=ctx.data.n_classes,
        metric=get_metric(DEFAULT_METRIC[task], task),
        params=params,
        seed=0,
        max_rounds=15,
    )

    fit = get_trainer(family).fit(ctx.split, spec)

    assert fit.rounds >= 1
    assert len(fit.curves["valid"]) == fit.rounds


def test_an_unknown_family_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"'catboost'.*'xgboost' or 'lightgbm'"):
        get_trainer("catboost")


@pytest.mark.parametrize("families", [("lightgbm",), ("xgboost",), ("lightgbm", "xgboost")])
def test_every_starting_point_lies_in_its_search_space(families: tuple[str, ...]) -> None:
    from tools.tuning.space import starting_points

    points = starting_points(families)

    assert len(points) >= 2
    for point in points:
        family = point.get("family", families[0])
        assert family in families
        params = {k: v for k, v in point.items() if k != "family"}
        probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        suggest(probe, family)
        assert set(params) == set(probe.distributions)
        for name, value in params.items():
            assert probe.distributions[name]._contains(
                probe.distributions[name].to_internal_repr(value)
            ), f"{family} {name}={value} is outside its search space"
