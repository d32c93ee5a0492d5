"""Optimisation passes: each keeps the function on the exact domain and shrinks a crafted network."""

from fractions import Fraction

import numpy as np
import pytest

from relucc import passes
from relucc.boolean import Predicate, input_points
from relucc.fourier import paper_network
from relucc.network import AffineLayer, LinearForm, Network, NetworkBuilder

POINTS = input_points(3)


def crafted_network() -> Network:
    """A 3-input network computing x1*x2 + x3/2 with one of each kind of removable neuron.

    Layer 1: the product pair, an exact duplicate of its first neuron, a copy scaled by 2,
    a dead neuron (no outgoing weight), a neuron that is always 0 on the domain, a neuron that
    is the constant 3, and a carry of x3. Layer 2 is an identity layer (all pre-activations
    are >= 0 on the domain), which the linear-layer pass composes away.
    """
    builder = NetworkBuilder(3)
    x = builder.inputs()
    one = LinearForm.const(1)
    units = builder.hidden_layer([
        x[0] + x[1] - one,              # 0: product neuron
        -x[0] - x[1] - one,             # 1: product neuron
        x[0] + x[1] - one,              # 2: duplicate of 0
        (x[0] + x[1] - one).scale(2),   # 3: 2 x neuron 0
        x[2],                           # 4: dead
        x[0] + x[1] + x[2] - LinearForm.const(3),  # 5: always <= 0
        LinearForm.const(3),            # 6: constant 3
        x[2] + one,                     # 7: carry of x3, in [0, 2]
    ])
    value = units[0] + units[2].scale(Fraction(1, 2)) + units[3].scale(Fraction(1, 4)) + units[1].scale(2) - one
    value = value + units[5].scale(7) + units[6] - LinearForm.const(3)
    carry = units[7].scale(Fraction(1, 2)) - LinearForm.const(Fraction(1, 2))
    middle = builder.hidden_layer([value + LinearForm.const(1), carry + LinearForm.const(1)])
    return builder.finish([middle[0] + middle[1] - LinearForm.const(2)])


def expected_values() -> np.ndarray:
    x = POINTS.astype(np.int64)
    return x[:, 0] * x[:, 1] + Fraction(1, 2) * x[:, 2]


def exact_outputs(network: Network) -> list[Fraction]:
    numerators, exponent = network.evaluate_exact(POINTS)
    return [Fraction(int(v), 2**exponent) for v in numerators[:, 0]]


def test_crafted_network_is_right():
    assert exact_outputs(crafted_network()) == list(expected_values())


@pytest.mark.parametrize("points", [POINTS, None], ids=["exhaustive", "interval"])
def test_optimize_keeps_values_and_shrinks(points):
    network = crafted_network()
    optimized, report = passes.optimize_network(network, points)
    assert exact_outputs(optimized) == list(expected_values())
    assert report["before"] == {"size": 10, "depth": 3}
    removed = report["neurons_removed"]
    assert removed["remove_dead_neurons"] >= 1
    assert removed["merge_duplicate_neurons"] == 2
    assert removed["fold_constant_neurons"] >= 2
    assert removed["merge_linear_layers"] == 2
    assert optimized.depth == 2
    assert optimized.hidden_sizes == [3]


def test_remove_dead_neurons_alone():
    network, removed = passes.remove_dead_neurons(crafted_network())
    assert removed == 1
    assert exact_outputs(network) == list(expected_values())


def test_fold_constant_neurons_alone():
    network, removed = passes.fold_constant_neurons(crafted_network(), POINTS)
    assert removed == 2
    assert exact_outputs(network) == list(expected_values())


def test_interval_reasoning_finds_always_off_neuron():
    network, removed = passes.fold_constant_neurons(crafted_network(), None)
    assert removed == 2
    assert exact_outputs(network) == list(expected_values())


def test_merge_duplicates_alone():
    network, removed = passes.merge_duplicate_neurons(crafted_network())
    assert removed == 2
    assert network.hidden_sizes[0] == 6
    assert exact_outputs(network) == list(expected_values())


def test_merge_linear_layers_alone():
    network, removed = passes.merge_linear_layers(crafted_network(), POINTS)
    assert removed == 2
    assert network.depth == 2
    assert exact_outputs(network) == list(expected_values())


def test_passes_shrink_paper_construction():
    points = input_points(5).astype(np.int64)
    table = np.where(points[:, 0] * points[:, 1] * points[:, 2] *
                     np.where((points[:, 3] > 0) & (points[:, 4] > 0), 1, -1) > 0, 1, -1)
    network, _ = paper_network(Predicate("TSA", 5, table))
    optimized, report = passes.optimize_network(network, points)
    assert network.size == 82
    assert optimized.size < network.size
    assert report["neurons_removed"]["merge_duplicate_neurons"] == network.size - optimized.size
    numerators, exponent = optimized.evaluate_exact(points)
    assert exponent == 0
    assert np.array_equal(numerators[:, 0], table)


def test_constant_network_collapses():
    builder = NetworkBuilder(2)
    x = builder.inputs()
    units = builder.hidden_layer([x[0] + x[1] - LinearForm.const(5)])
    network = builder.finish([units[0] + LinearForm.const(1)])
    optimized, _ = passes.optimize_network(network, input_points(2))
    assert optimized.depth == 1
    assert optimized.size == 0
    numerators, exponent = optimized.evaluate_exact(input_points(2))
    assert exponent == 0
    assert numerators[:, 0].tolist() == [1, 1, 1, 1]


def test_fold_constant_inputs():
    network = crafted_network()
    folded = passes.fold_constant_inputs(network, {2: 1})
    assert folded.input_dim == 2
    keep = POINTS[:, 2] == 1
    numerators, exponent = folded.evaluate_exact(POINTS[keep][:, :2])
    expected = [v for v, k in zip(expected_values(), keep) if k]
    assert [Fraction(int(v), 2**exponent) for v in numerators[:, 0]] == expected


def test_fold_constant_inputs_rejects_bad_index():
    with pytest.raises(ValueError, match="input 7 is out of range"):
        passes.fold_constant_inputs(crafted_network(), {7: 1})


def test_compose_affine_layers():
    inner = AffineLayer(np.array([[1, -2], [3, 0]]), np.array([1, 1]), 1, ["a", "a"])
    outer = AffineLayer(np.array([[2, 5]]), np.array([-3]), 2, ["b"])
    composed = passes.compose_affine_layers(inner, outer)
    rng = np.random.default_rng(0)
    values = rng.integers(-4, 5, size=(20, 2))
    sequential = Network([inner], 2).evaluate_float(values) @ outer.weight_float().T + outer.bias_float()
    assert np.array_equal(Network([composed], 2).evaluate_float(values), sequential)
