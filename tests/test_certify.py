"""Certificates: Lipschitz bounds are upper bounds, tau and float32 exactness are computed right."""

from fractions import Fraction

import numpy as np
import pytest

from relucc.boolean import Predicate, input_points
from relucc.certify import absolute_product_bounds, bit_complexity, certify_network, operator_norm_product
from relucc.dyadic import bit_complexity_of, float32_representable
from relucc.fourier import paper_network
from relucc.network import LinearForm, NetworkBuilder


def product_network():
    builder = NetworkBuilder(2)
    x, y = builder.inputs()
    units = builder.hidden_layer([x + y, -(x + y), y, -y])
    return builder.finish([units[0] + units[1] - units[2] - units[3]])


def test_product_gadget_bounds_by_hand():
    network = product_network()
    # |W2| |W1| = [1 1 1 1] [[1 1], [1 1], [0 1], [0 1]] = [2 4], norm sqrt(20).
    assert absolute_product_bounds(network)[0] == pytest.approx(np.sqrt(20), rel=1e-12)
    assert absolute_product_bounds(network)[0] >= np.sqrt(20)
    # ||W1||^2 = largest eigenvalue of [[2, 2], [2, 4]] = 3 + sqrt(5); ||W2|| = 2.
    assert operator_norm_product(network) == pytest.approx(2 * np.sqrt(3 + np.sqrt(5)), rel=1e-8)
    assert operator_norm_product(network) >= 2 * np.sqrt(3 + np.sqrt(5))


def empirical_lipschitz(network, rng, trials=4000, step=1e-4):
    points = rng.normal(scale=2.0, size=(trials, network.input_dim))
    directions = rng.normal(size=(trials, network.input_dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    low = network.evaluate_float(points)
    high = network.evaluate_float(points + step * directions)
    return float(np.max(np.abs(high - low)) / step)


@pytest.mark.parametrize("seed", range(12))
def test_lipschitz_bound_above_finite_differences(seed):
    rng = np.random.default_rng(seed)
    k = 2 + seed % 5
    table = rng.choice(np.array([-1, 1], dtype=np.int8), size=2**k)
    network, _ = paper_network(Predicate("p", k, table))
    certificate = certify_network(network, input_points(k), f"{{-1,+1}}^{k}")
    assert certificate["lipschitz_bound"]["value"] >= empirical_lipschitz(network, rng)


def test_bit_complexity_of_values():
    assert bit_complexity_of(Fraction(0)) == 0
    assert bit_complexity_of(Fraction(1)) == 0
    assert bit_complexity_of(Fraction(1, 2)) == 1
    assert bit_complexity_of(Fraction(3, 1)) == 2
    assert bit_complexity_of(Fraction(4, 1)) == 2
    assert bit_complexity_of(Fraction(5, 1)) == 3
    assert bit_complexity_of(Fraction(-3, 8)) == 3


def test_bit_complexity_of_network():
    builder = NetworkBuilder(1)
    (x,) = builder.inputs()
    units = builder.hidden_layer([x.scale(Fraction(1, 8)), x.scale(6)])
    network = builder.finish([units[0] + units[1]])
    assert bit_complexity(network) == 3


def test_float32_representable():
    assert float32_representable(1, 0)
    assert float32_representable(2**24 - 1, 0)
    assert not float32_representable(2**24 + 1, 0)
    assert not float32_representable(2**30 + 1, 30)


def test_float32_exact_flag_false_for_fine_weights():
    builder = NetworkBuilder(1)
    (x,) = builder.inputs()
    units = builder.hidden_layer([x.scale(1 + Fraction(1, 2**30))])
    network = builder.finish([units[0]])
    certificate = certify_network(network, input_points(1), "{-1,+1}^1")
    assert certificate["float32_exact"] is False


def test_float32_exact_flag_false_for_wide_sums():
    builder = NetworkBuilder(2)
    x, y = builder.inputs()
    units = builder.hidden_layer([x.scale(2**23) + y.scale(Fraction(1, 2))])
    network = builder.finish([units[0]])
    certificate = certify_network(network, input_points(2), "{-1,+1}^2")
    assert certificate["float32_exact"] is False


def test_max_activation_exhaustive():
    certificate = certify_network(product_network(), input_points(2), "{-1,+1}^2")
    assert certificate["max_abs_activation"]["value"] == 2.0
    assert certificate["size"] == 4
    assert certificate["depth"] == 2
    assert certificate["bit_complexity"] == 0


def test_linear_form_composition():
    inner = [LinearForm({0: Fraction(2)}, Fraction(1)), LinearForm({1: Fraction(-1)})]
    outer = LinearForm({0: Fraction(1, 2), 1: Fraction(3)}, Fraction(-1))
    composed = outer.substitute(inner)
    assert composed.coefficients == {0: Fraction(1), 1: Fraction(-3)}
    assert composed.constant == Fraction(-1, 2)
