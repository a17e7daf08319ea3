"""The run's choice of the headline estimator (com.estimator: auto): the most precise estimator that measured every
shot, the first moment when the chosen one drifts from it with the pump cycles, estimators that locked onto something
else screened out; and the per-cycle consistency check the report shows."""

import numpy as np
import pytest

from atompump.stages.com import choose_estimator, estimator_consistency, estimator_outliers


def columns(rng, n=60, *, drift=0.0, fit_err=0.02, template_err=0.01, wild=None):
    """Per-shot columns of a run: 60 pumped shots at cycles 0-4, both directions, true positions 30 + d nu dl c."""
    cycle = np.tile(np.arange(5.0), n // 5)
    direction = np.repeat([1, -1], n // 2)
    x = 30 + direction * 0.7368 * cycle + rng.normal(0, 0.3, n)  # the cloud's jitter
    cols = {
        "cycle": cycle, "direction": direction, "reference": np.zeros(n, bool),
        "x_moment_um": x + rng.normal(0, 0.05, n), "x_moment_err_um": np.full(n, 0.05),
        "x_fit_um": x + 0.4 + rng.normal(0, fit_err, n), "x_fit_err_um": np.full(n, fit_err),
        # the template's reference point drifts from the centre of mass when the cloud changes shape
        "x_template_um": x + 0.1 + drift * direction * cycle + rng.normal(0, template_err, n),
        "x_template_err_um": np.full(n, template_err),
        "fit_problem": np.full(n, "", dtype=object), "template_problem": np.full(n, "", dtype=object),
    }
    if wild is not None:
        cols["x_fit_um"][wild] += 15.0  # locked onto a residual fringe, with a small quoted error
    return cols


def test_auto_takes_the_most_precise_estimator_that_follows_the_first_moment():
    rng = np.random.default_rng(1)
    cols = columns(rng)
    used = np.ones(60, bool)
    chosen, why, consistency = choose_estimator("auto", cols, used)
    assert chosen == "template" and "does not describe the cloud as well as the run's own mean shape" in why
    assert "drift" in why and set(consistency) == {"fit", "template"}
    # a fit as precise as the template is kept (the template must be 5 % more precise to be preferred)
    assert choose_estimator("auto", columns(rng, fit_err=0.0102), used)[0] == "fit"
    # a fixed choice is respected
    assert choose_estimator("moment", cols, used)[:2] == ("moment", "com.estimator: moment (set in the config)")


def test_a_template_that_drifts_from_the_first_moment_gives_way_to_it():
    rng = np.random.default_rng(2)
    cols = columns(rng, drift=0.02, fit_err=0.05)  # 20 nm per cycle: the cloud changes shape as it is pumped
    chosen, why, consistency = choose_estimator("auto", cols, np.ones(60, bool))
    assert chosen == "moment" and "the cloud changes shape as it is pumped" in why
    check = consistency["template"]
    assert check["slope_um_per_cycle"] == pytest.approx(0.02, abs=4 * check["slope_err_um_per_cycle"])
    assert abs(check["slope_sigma"]) > 3
    groups = {(g["cycle"], g["direction"]): g for g in check["groups"]}
    assert len(groups) == 10 and all(g["n"] == 6 for g in groups.values())
    assert groups[(4.0, 1)]["mean_um"] - groups[(0.0, 1)]["mean_um"] == pytest.approx(0.08, abs=0.03)


def test_consistency_of_a_constant_offset():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, 100)
    cycle, direction = np.tile(np.arange(5.0), 20), np.repeat([1, -1], 50)
    check = estimator_consistency(x + 0.3 + rng.normal(0, 0.01, 100), x, cycle, direction)
    assert abs(check["slope_sigma"]) < 3.5 and check["n"] == 100
    assert all(g["mean_um"] == pytest.approx(0.3, abs=0.02) for g in check["groups"])


def test_an_estimator_that_locked_onto_something_else_is_screened_out():
    rng = np.random.default_rng(4)
    cols = columns(rng, fit_err=0.005, wild=17)  # the fit would be the most precise, but shot 17 is wrong
    used = np.ones(60, bool)
    found = estimator_outliers(cols, used)
    assert list(found["fit"]) == [17] and found["template"] == {}
    assert "disagrees with the first moment by +15 um" in found["fit"][17]
    # a noisy first moment far off is no reason to doubt a precise estimator: the two errors combined decide
    cols["x_moment_um"][5] += 3.0
    cols["x_moment_err_um"][5] = 2.0
    assert 5 not in estimator_outliers(cols, used)["template"]
    for i, reason in found["fit"].items():
        cols["fit_problem"][i] = reason
    chosen, why, _ = choose_estimator("auto", cols, used)
    assert chosen == "template" and "fit" not in why.split("(")[1].split(")")[0]  # the fit was not eligible
