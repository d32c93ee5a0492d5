"""Tests of the threshold, parity, relay and clamp gadgets and of exact margins."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucc.boolean import input_points
from relucc.errors import CheckFailure
from relucc.threshold import (
    CLOSED_FORM_KINDS,
    EXHAUSTIVE_GADGET_FAN_IN,
    Gadget,
    GateSpec,
    build_checked_gadget,
    build_gadget,
    check_clamp_gadget,
    check_gadget,
    clamp_gadget,
    closed_form_margin,
    exact_margin,
    largest_power_of_two_at_most,
    threshold_form,
)


def brute_force_margin(weights, bias):
    values = [sum(w * x for w, x in zip(weights, point)) - bias
              for point in itertools.product((-1, 1), repeat=len(weights))]
    above = min((v for v in values if v >= 0), default=None)
    below = min((-v for v in values if v < 0), default=None)
    return above, below


def random_dyadic(rng: random.Random) -> Fraction:
    return Fraction(rng.randint(-12, 12), 2 ** rng.randint(0, 3))


def distinct_spec(kind: str, fan_in: int, negated=None, weights=None, bias=None) -> GateSpec:
    negated = negated or (False,) * fan_in
    return GateSpec(kind, fan_in, tuple(range(fan_in)), tuple(negated), weights, bias)


def gadget_outputs(gadget: Gadget, points: np.ndarray) -> list[Fraction]:
    output, exponent, _, _ = gadget.evaluate(points)
    return [Fraction(int(v), 1 << exponent) for v in output]


def test_exact_margin_matches_brute_force():
    rng = random.Random(7)
    for _ in range(300):
        weights = tuple(random_dyadic(rng) for _ in range(rng.randint(1, 7)))
        if rng.random() < 0.5:
            bias = sum((w * rng.choice((-1, 1)) for w in weights), Fraction(0))  # a tie: z = 0 occurs
        else:
            bias = random_dyadic(rng)
        margin = exact_margin(weights, bias)
        above, below = brute_force_margin(weights, bias)
        assert margin.above == above
        assert margin.below == below


@pytest.mark.parametrize("kind", CLOSED_FORM_KINDS)
@pytest.mark.parametrize("fan_in", [1, 2, 3, 4, 5, 8])
def test_closed_form_margin_is_exact(kind, fan_in):
    if kind == "maj" and fan_in < 3:
        pytest.skip("majority takes at least 3 inputs")
    weights, bias = threshold_form(distinct_spec(kind, fan_in))
    exact = exact_margin(weights, bias)
    closed = closed_form_margin(kind)
    assert (exact.above, exact.below) == (closed.above, closed.below)


def test_exact_margin_wide_gate_uses_sums():
    weights = tuple(Fraction(1, 4) for _ in range(40))
    margin = exact_margin(weights, Fraction(1, 4))
    # <w, x> takes the 41 multiples of 1/2 in [-10, 10], so z = <w, x> - 1/4 comes within ±1/4 of 0.
    assert margin.above == Fraction(1, 4)
    assert margin.below == Fraction(1, 4)
    assert "41 achievable sums" in margin.method


def test_largest_power_of_two():
    assert largest_power_of_two_at_most(Fraction(3)) == 2
    assert largest_power_of_two_at_most(Fraction(1)) == 1
    assert largest_power_of_two_at_most(Fraction(3, 16)) == Fraction(1, 8)
    assert largest_power_of_two_at_most(Fraction(1, 1024)) == Fraction(1, 1024)


@pytest.mark.parametrize("kind,fan_ins", [
    ("and", range(1, 7)), ("or", range(1, 7)), ("nand", range(1, 7)), ("nor", range(1, 7)),
    ("maj", range(3, 8)), ("xor", range(2, 7)), ("xnor", range(2, 7)), ("buf", [1]), ("not", [1]),
])
def test_gadget_exact_on_whole_domain(kind, fan_ins):
    for fan_in in fan_ins:
        for negated in itertools.product((False, True), repeat=fan_in):
            spec = distinct_spec(kind, fan_in, negated)
            gadget = build_checked_gadget(spec).gadget
            points = input_points(fan_in).astype(np.int64)
            assert gadget_outputs(gadget, points) == list(spec.reference(points))


@pytest.mark.parametrize("kind,neurons", [("and", 1), ("or", 1), ("nand", 1), ("nor", 1), ("maj", 2),
                                          ("buf", 1), ("not", 1)])
def test_gadget_neuron_counts(kind, neurons):
    fan_in = 1 if kind in ("buf", "not") else 3
    assert build_checked_gadget(distinct_spec(kind, fan_in)).gadget.neurons == neurons


@pytest.mark.parametrize("fan_in", [2, 3, 5, 9])
def test_parity_gadget_has_n_neurons(fan_in):
    assert build_checked_gadget(distinct_spec("xor", fan_in)).gadget.neurons == fan_in


def test_repeated_and_negated_inputs_fold():
    # and(a, not a) is constant False; xor(a, a, b) is b; maj(a, a, b) is a.
    spec = GateSpec("and", 1, (0, 0), (False, True))
    checked = build_checked_gadget(spec)
    assert checked.gadget.neurons == 0
    assert gadget_outputs(checked.gadget, input_points(1).astype(np.int64)) == [-1, -1]
    spec = GateSpec("xor", 2, (0, 0, 1), (False, False, False))
    points = input_points(2).astype(np.int64)
    assert gadget_outputs(build_checked_gadget(spec).gadget, points) == list(points[:, 1])
    spec = GateSpec("maj", 2, (0, 0, 1), (False, False, False))
    assert gadget_outputs(build_checked_gadget(spec).gadget, points) == list(points[:, 0])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-16, 16), st.integers(0, 3), st.booleans()), min_size=1, max_size=7),
       st.integers(-40, 40), st.integers(0, 3), st.booleans())
def test_threshold_gadget_random_weights(terms, bias_numerator, bias_exponent, tie):
    weights = tuple(Fraction(n, 2**e) for n, e, _ in terms)
    negated = tuple(neg for _, _, neg in terms)
    bias = Fraction(bias_numerator, 2**bias_exponent)
    if tie:
        bias = sum((-w if neg else w) for w, neg in zip(weights, negated))  # z = 0 at the all-True point
    spec = distinct_spec("threshold", len(weights), negated, weights, bias)
    checked = build_checked_gadget(spec)
    points = input_points(len(weights)).astype(np.int64)
    assert gadget_outputs(checked.gadget, points) == list(spec.reference(points))
    assert checked.gadget.neurons <= 2
    xi = checked.gadget.xi
    if xi is not None:
        # A power of two, so that 1/xi' is dyadic.
        assert xi.numerator == 1 or xi.denominator == 1
        assert xi.numerator & (xi.numerator - 1) == 0
        assert xi.denominator & (xi.denominator - 1) == 0


def test_tie_goes_to_true():
    # sgn(x1 + x2 - 0) is +1 at x = (+1, -1): the shifted gadget must say +1 there.
    spec = distinct_spec("threshold", 2, None, (Fraction(1), Fraction(1)), Fraction(0))
    gadget = build_checked_gadget(spec).gadget
    assert gadget_outputs(gadget, np.array([[1, -1], [-1, 1], [-1, -1]])) == [1, 1, -1]
    assert gadget.margin.above == 0


def test_wrong_weight_is_caught():
    spec = distinct_spec("maj", 3)
    gadget = build_gadget(spec)
    rows = list(gadget.input_weights)
    rows[0] = (rows[0][0], rows[0][1], rows[0][2] + 1)
    broken = Gadget(gadget.role, gadget.fan_in, tuple(rows), gadget.input_biases, gadget.output_weights,
                    gadget.output_bias, gadget.margin, gadget.xi)
    with pytest.raises(CheckFailure, match="maj gate"):
        check_gadget(spec, broken)


def test_wrong_bias_is_caught():
    spec = distinct_spec("xor", 3)
    gadget = build_gadget(spec)
    biases = (gadget.input_biases[0],) + (gadget.input_biases[1] + Fraction(1, 2),) + gadget.input_biases[2:]
    broken = Gadget(gadget.role, gadget.fan_in, gadget.input_weights, biases, gadget.output_weights,
                    gadget.output_bias)
    with pytest.raises(CheckFailure):
        check_gadget(spec, broken)


def test_wide_gadget_checked_on_sums():
    fan_in = EXHAUSTIVE_GADGET_FAN_IN + 8
    weights = tuple(Fraction(i % 5 - 2, 2) for i in range(fan_in))
    spec = distinct_spec("threshold", fan_in, None, weights, Fraction(1, 2))
    checked = build_checked_gadget(spec)
    assert "achievable weighted sums" in checked.check_method

    gadget = checked.gadget
    rows = list(gadget.input_weights)
    rows[-1] = rows[-1][:-1] + (rows[-1][-1] + 1,)
    broken = Gadget(gadget.role, fan_in, tuple(rows), gadget.input_biases, gadget.output_weights,
                    gadget.output_bias, gadget.margin, gadget.xi)
    with pytest.raises(CheckFailure, match="does not read"):
        check_gadget(spec, broken)

    shifted = Gadget(gadget.role, fan_in, gadget.input_weights, tuple(b + 1 for b in gadget.input_biases),
                     gadget.output_weights, gadget.output_bias, gadget.margin, gadget.xi)
    with pytest.raises(CheckFailure):
        check_gadget(spec, shifted)


def test_wide_parity_gadget():
    fan_in = EXHAUSTIVE_GADGET_FAN_IN + 4
    spec = distinct_spec("xnor", fan_in, tuple(i % 3 == 0 for i in range(fan_in)))
    checked = build_checked_gadget(spec)
    assert checked.gadget.neurons == fan_in
    rng = np.random.default_rng(3)
    points = 2 * rng.integers(0, 2, size=(200, fan_in)) - 1
    assert gadget_outputs(checked.gadget, points) == list(spec.reference(points))


def test_clamp_gadget():
    xi = Fraction(1, 64)
    check_clamp_gadget(xi)
    gadget = clamp_gadget(xi)
    values = [Fraction(-3), -xi, -xi / 2, Fraction(0), xi / 4, xi, Fraction(1, 2)]
    points = np.array([[int(v * 256)] for v in values], dtype=object)
    scaled = Gadget(gadget.role, 1, tuple((w / 256,) for (w,) in gadget.input_weights), gadget.input_biases,
                    gadget.output_weights, gadget.output_bias)
    expected = [Fraction(-1), Fraction(-1), Fraction(-1, 2), Fraction(0), Fraction(1, 4), Fraction(1), Fraction(1)]
    assert gadget_outputs(scaled, points) == expected
