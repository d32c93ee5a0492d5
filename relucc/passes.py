"""Optimisation passes on the network IR that keep the computed function on the exact domain.

Each pass returns a new network equal to its input on every point of the domain:

- ``remove_dead_neurons``: a hidden neuron whose outgoing weights are all zero is dropped;
- ``fold_constant_neurons``: a hidden neuron whose value is the same constant c on the whole
  domain is dropped and c times its outgoing weights is added to the next layer's bias;
- ``merge_duplicate_neurons``: neurons of one layer with proportional incoming weights and bias,
  row_j' = lambda row_j with lambda > 0 dyadic, compute phi(z_j') = lambda phi(z_j), so one is
  dropped and lambda times its outgoing weights is added to the other's;
- ``merge_linear_layers``: a hidden layer whose pre-activations are all >= 0 on the domain
  passes through ReLU unchanged there, so it is composed with the next affine layer;
- ``fold_constant_inputs``: inputs fixed to known values are folded into the first layer's bias.

"Constant" and "non-negative" are decided on the exact domain: by exact evaluation on every
domain point when the caller lists them, otherwise by interval arithmetic over [-1, 1]^n in
exact rationals, which contains {±1}^n and so only ever under-reports.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from relucc.dyadic import integer_array, is_dyadic, to_numerators
from relucc.network import AffineLayer, Network

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Layer algebra on integer numerators.


def _object(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=object)


def _normalize(weight: np.ndarray, bias: np.ndarray, exponent: int, roles: list[str]) -> AffineLayer:
    """Return the layer with the smallest exponent that keeps every numerator an integer."""
    weight, bias = _object(weight), _object(bias)
    while exponent > 0 and all(int(v) % 2 == 0 for v in weight.ravel()) and all(int(v) % 2 == 0 for v in bias):
        weight = weight // 2
        bias = bias // 2
        exponent -= 1
    return AffineLayer(integer_array(weight).reshape(weight.shape), integer_array(bias).reshape(bias.shape),
                       exponent, list(roles))


def compose_affine_layers(inner: AffineLayer, outer: AffineLayer) -> AffineLayer:
    """Return the single affine layer x -> outer(inner(x)), exactly (composing stages, no ReLU between).

    (W2 (W1 x + b1) / 2^e1 + b2) / 2^e2 = (W2 W1 x + W2 b1 + 2^e1 b2) / 2^(e1 + e2).
    """
    weight = _object(outer.weight) @ _object(inner.weight)
    bias = _object(outer.weight) @ _object(inner.bias) + _object(outer.bias) * (1 << inner.exponent)
    weight = np.asarray(weight, dtype=object).reshape(outer.shape[0], inner.shape[1])
    bias = np.asarray(bias, dtype=object).reshape(outer.shape[0])
    return _normalize(weight, bias, inner.exponent + outer.exponent, outer.roles)


def _add_to_bias(layer: AffineLayer, column: np.ndarray, value: Fraction) -> AffineLayer:
    """Return ``layer`` with ``value * column`` (column in the layer's numerators) added to its bias."""
    (numerator,), shift = to_numerators([value])
    scale = 1 << shift
    weight = _object(layer.weight) * scale
    bias = _object(layer.bias) * scale + _object(column) * numerator
    return _normalize(weight, bias, layer.exponent + shift, layer.roles)


def _drop_neurons(network: Network, index: int, keep: np.ndarray) -> Network:
    """Return the network without the hidden neurons of layer ``index`` where ``keep`` is False."""
    layers = list(network.layers)
    layer = layers[index]
    layers[index] = AffineLayer(layer.weight[keep], layer.bias[keep], layer.exponent,
                                [role for role, kept in zip(layer.roles, keep) if kept])
    following = layers[index + 1]
    layers[index + 1] = AffineLayer(following.weight[:, keep], following.bias, following.exponent,
                                    list(following.roles))
    return Network(layers, network.input_dim)


# ---------------------------------------------------------------------------------------------
# Values on the domain: exact evaluation or exact interval bounds.


@dataclass
class DomainFacts:
    """Per hidden layer, the least and greatest pre-activation of each neuron on the domain (as Fractions).

    ``method`` says how they were found: exact evaluation on the listed points, or interval
    arithmetic over [-1, 1]^n (bounds that contain the true range).
    """

    low: list[np.ndarray]
    high: list[np.ndarray]
    method: str


def domain_facts(network: Network, domain_points: np.ndarray | None) -> DomainFacts:
    if domain_points is not None:
        return _exhaustive_facts(network, np.asarray(domain_points))
    return _interval_facts(network)


def _exhaustive_facts(network: Network, points: np.ndarray) -> DomainFacts:
    low, high = [], []
    for depth in range(1, network.depth):
        numerators, exponent = Network(network.layers[:depth], network.input_dim).evaluate_exact(points)
        low.append(np.array([Fraction(int(v), 2**exponent) for v in numerators.min(axis=0)], dtype=object))
        high.append(np.array([Fraction(int(v), 2**exponent) for v in numerators.max(axis=0)], dtype=object))
    return DomainFacts(low, high, f"exact evaluation on all {points.shape[0]} domain points")


def _interval_facts(network: Network) -> DomainFacts:
    lower = np.array([Fraction(-1)] * network.input_dim, dtype=object)
    upper = np.array([Fraction(1)] * network.input_dim, dtype=object)
    low, high = [], []
    for layer in network.layers[:-1]:
        weight = _object(layer.weight)
        positive = np.where(weight > 0, weight, 0)
        negative = np.where(weight < 0, weight, 0)
        scale = Fraction(1, 2**layer.exponent)
        pre_low = (positive @ lower + negative @ upper + _object(layer.bias)) * scale
        pre_high = (positive @ upper + negative @ lower + _object(layer.bias)) * scale
        pre_low = np.asarray(pre_low, dtype=object).reshape(layer.shape[0])
        pre_high = np.asarray(pre_high, dtype=object).reshape(layer.shape[0])
        low.append(pre_low)
        high.append(pre_high)
        lower = np.array([max(v, Fraction(0)) for v in pre_low], dtype=object)
        upper = np.array([max(v, Fraction(0)) for v in pre_high], dtype=object)
    return DomainFacts(low, high, "interval arithmetic over [-1, 1]^n")


# ---------------------------------------------------------------------------------------------
# The passes. Each returns (network, neurons removed).


def remove_dead_neurons(network: Network) -> tuple[Network, int]:
    """Drop hidden neurons with all outgoing weights zero; from the top down, so chains of them go too."""
    removed = 0
    for index in range(network.depth - 2, -1, -1):
        outgoing = np.asarray(network.layers[index + 1].weight)
        keep = np.any(outgoing != 0, axis=0)
        if not keep.all():
            removed += int((~keep).sum())
            network = _drop_neurons(network, index, keep)
    return network, removed


def fold_constant_neurons(network: Network, domain_points: np.ndarray | None = None) -> tuple[Network, int]:
    """Fold hidden neurons that are constant on the domain into the next layer's bias.

    A neuron is constant when its pre-activation is constant, or when it is <= 0 on the whole
    domain (the neuron is then 0). Layers are handled bottom-up, each after re-evaluating, so a
    neuron that becomes constant because an earlier one was folded is caught in a later run.
    """
    removed = 0
    for index in range(network.depth - 1):
        facts = domain_facts(network, domain_points)
        low, high = facts.low[index], facts.high[index]
        constant = [(j, max(low[j], Fraction(0))) for j in range(len(low)) if high[j] <= 0 or low[j] == high[j]]
        if not constant:
            continue
        following = network.layers[index + 1]
        for j, value in constant:
            if value != 0:
                following = _add_to_bias(following, np.asarray(following.weight)[:, j], value)
        layers = list(network.layers)
        layers[index + 1] = following
        keep = np.ones(len(low), dtype=bool)
        keep[[j for j, _ in constant]] = False
        network = _drop_neurons(Network(layers, network.input_dim), index, keep)
        removed += len(constant)
    return network, removed


def merge_duplicate_neurons(network: Network) -> tuple[Network, int]:
    """Merge neurons of one layer whose (weights, bias) rows are positive dyadic multiples of each other.

    phi(lambda z) = lambda phi(z) for lambda > 0, so the later neuron's outgoing weights times
    lambda move onto the earlier one, which keeps the next layer's numerators integer over a
    larger exponent when lambda has a power-of-two denominator.
    """
    removed = 0
    for index in range(network.depth - 1):
        layer = network.layers[index]
        rows = np.concatenate([_object(layer.weight), _object(layer.bias)[:, None]], axis=1)
        first_of: dict[tuple, tuple[int, int]] = {}
        merges: list[tuple[int, int, Fraction]] = []
        for j, row in enumerate(rows):
            values = [int(v) for v in row]
            divisor = math.gcd(*values)
            if divisor == 0:
                continue
            key = tuple(v // divisor for v in values)
            if key in first_of:
                target, target_divisor = first_of[key]
                ratio = Fraction(int(divisor), int(target_divisor))
                if is_dyadic(ratio):
                    merges.append((j, target, ratio))
                    continue
            else:
                first_of[key] = (j, divisor)
        if not merges:
            continue
        network = _apply_merges(network, index, merges)
        removed += len(merges)
    return network, removed


def _apply_merges(network: Network, index: int, merges: list[tuple[int, int, Fraction]]) -> Network:
    following = network.layers[index + 1]
    shift = max(to_numerators([ratio])[1] for _, _, ratio in merges)
    weight = _object(following.weight) * (1 << shift)
    for source, target, ratio in merges:
        weight[:, target] = weight[:, target] + _object(following.weight)[:, source] * int(ratio * (1 << shift))
    layers = list(network.layers)
    layers[index + 1] = _normalize(weight, _object(following.bias) * (1 << shift), following.exponent + shift,
                                   following.roles)
    keep = np.ones(network.layers[index].shape[0], dtype=bool)
    keep[[source for source, _, _ in merges]] = False
    return _drop_neurons(Network(layers, network.input_dim), index, keep)


def merge_linear_layers(network: Network, domain_points: np.ndarray | None = None) -> tuple[Network, int]:
    """Compose a hidden layer with the next one when all its pre-activations are >= 0 on the domain."""
    removed = 0
    index = 0
    while index < network.depth - 1:
        facts = domain_facts(network, domain_points)
        if len(facts.low[index]) and all(value >= 0 for value in facts.low[index]):
            layers = list(network.layers)
            removed += layers[index].shape[0]
            layers[index:index + 2] = [compose_affine_layers(layers[index], layers[index + 1])]
            network = Network(layers, network.input_dim)
            continue
        index += 1
    return network, removed


def fold_constant_inputs(network: Network, constants: dict[int, Fraction | int]) -> Network:
    """Fix inputs ``i`` to ``constants[i]``: fold them into the first layer's bias and drop their columns.

    The result reads the remaining inputs in their original order.
    """
    first = network.layers[0]
    for column, value in constants.items():
        if not 0 <= column < network.input_dim:
            raise ValueError(f"input {column} is out of range for a network with {network.input_dim} inputs")
        first = _add_to_bias(first, np.asarray(first.weight)[:, column], Fraction(value))
    keep = np.ones(network.input_dim, dtype=bool)
    keep[list(constants)] = False
    first = AffineLayer(first.weight[:, keep], first.bias, first.exponent, list(first.roles))
    return Network([first] + list(network.layers[1:]), int(keep.sum()))


def collapse_empty_layers(network: Network) -> Network:
    """Replace a network with an empty hidden layer by the one affine layer it equals: a constant."""
    if all(width > 0 for width in network.hidden_sizes):
        return network
    numerators, exponent = network.evaluate_exact(np.zeros((1, network.input_dim), dtype=np.int64))
    constant = AffineLayer(np.zeros((network.output_dim, network.input_dim), dtype=np.int64),
                           integer_array(numerators[0]), exponent, list(network.layers[-1].roles))
    return Network([constant], network.input_dim)


# ---------------------------------------------------------------------------------------------
# The pipeline.


PASS_NAMES = ("remove_dead_neurons", "fold_constant_neurons", "merge_duplicate_neurons", "merge_linear_layers")


def optimize_network(network: Network, domain_points: np.ndarray | None = None,
                     max_rounds: int = 10) -> tuple[Network, dict]:
    """Run the passes until none changes the network (at most ``max_rounds`` rounds); return a report.

    The report lists the size and depth before and after, the neurons each pass removed, and
    how constant and non-negative neurons were decided.
    """
    before = {"size": network.size, "depth": network.depth}
    removed = {name: 0 for name in PASS_NAMES}
    for _ in range(max_rounds):
        changed = 0
        network, count = remove_dead_neurons(network)
        removed["remove_dead_neurons"] += count
        changed += count
        network, count = fold_constant_neurons(network, domain_points)
        removed["fold_constant_neurons"] += count
        changed += count
        network, count = merge_duplicate_neurons(network)
        removed["merge_duplicate_neurons"] += count
        changed += count
        network, count = merge_linear_layers(network, domain_points)
        removed["merge_linear_layers"] += count
        changed += count
        if not changed:
            break
    network = collapse_empty_layers(network)
    method = (f"exact evaluation on all {len(domain_points)} domain points" if domain_points is not None
              else "interval arithmetic over [-1, 1]^n")
    report = {"passes": list(PASS_NAMES), "neurons_removed": removed, "decided_by": method,
              "before": before, "after": {"size": network.size, "depth": network.depth}}
    logger.info("optimisation passes: %d -> %d neurons, depth %d -> %d", before["size"], network.size,
                before["depth"], network.depth)
    return network, report
