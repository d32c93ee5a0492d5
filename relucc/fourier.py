"""Fourier construction of predicate networks (Lemma 3.3, proof in Appendix A.2).

A predicate P : {±1}^k -> {±1} equals sum_S Phat(S) prod_{i in S} x_i. Each monomial with a
non-zero coefficient becomes a chain of two-variable product gadgets, and a final linear layer
sums the monomials with their coefficients (Lemma A.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from relucc.boolean import Predicate
from relucc.network import LinearForm, Network, NetworkBuilder


def fourier_coefficients(truth_table: np.ndarray) -> dict[tuple[int, ...], Fraction]:
    """Return the non-zero Fourier coefficients {S: Phat(S)} of a ±1 truth table, exactly.

    Uses the fast Walsh-Hadamard transform in integer arithmetic: H[s] = sum_b f(b) (-1)^<b,s>.
    With x_i = 2 b_i - 1 (bit set = True), prod_{i in S} x_i = (-1)^|S| (-1)^<b,S>, so
    Phat(S) = (-1)^|S| H[S] / 2^k, a multiple of 2^-k. S is a sorted tuple of 0-based indices.
    """
    values = np.asarray(truth_table, dtype=np.int64).copy()
    size = values.shape[0]
    arity = size.bit_length() - 1
    step = 1
    while step < size:
        reshaped = values.reshape(-1, 2, step)
        low = reshaped[:, 0, :].copy()
        high = reshaped[:, 1, :].copy()
        reshaped[:, 0, :] = low + high
        reshaped[:, 1, :] = low - high
        values = reshaped.reshape(size)
        step *= 2
    coefficients = {}
    for mask in np.nonzero(values)[0]:
        subset = tuple(i for i in range(arity) if (int(mask) >> i) & 1)
        sign = -1 if len(subset) % 2 else 1
        coefficients[subset] = Fraction(sign * int(values[mask]), size)
    return coefficients


def evaluate_fourier(coefficients: dict[tuple[int, ...], Fraction], points: np.ndarray) -> np.ndarray:
    """Evaluate sum_S c_S prod_{i in S} x_i exactly on rows of a ±1 array; returns Fractions."""
    points = np.asarray(points, dtype=np.int64)
    result = np.zeros(points.shape[0], dtype=object)
    for subset, coefficient in coefficients.items():
        monomial = np.prod(points[:, list(subset)], axis=1) if subset else np.ones(points.shape[0], dtype=np.int64)
        result = result + coefficient * monomial.astype(object)
    return result


@dataclass(frozen=True)
class FourierSummary:
    """What the Fourier construction kept: monomials with non-zero coefficient, and their degrees."""

    arity: int
    monomials_total: int
    monomials_kept: int
    max_degree: int
    coefficients: dict[tuple[int, ...], Fraction]


def summarize(predicate: Predicate) -> FourierSummary:
    coefficients = fourier_coefficients(predicate.truth_table)
    degree = max((len(s) for s in coefficients), default=0)
    return FourierSummary(predicate.arity, 2**predicate.arity, len(coefficients), degree, coefficients)


def relay(value: LinearForm) -> tuple[list[LinearForm], callable]:
    """Identity gadget without bias: t = phi(t) - phi(-t); exact on all of R, 2 neurons, 1 layer."""
    return [value, -value], lambda units: units[0] - units[1]


def product_gadget(left: LinearForm, right: LinearForm) -> tuple[list[LinearForm], callable]:
    """Equation (15): a*b = phi(a+b) + phi(-a-b) - phi(b) - phi(-b) for a, b in {±1}.

    Exact on {±1}^2 only; 4 neurons, 1 hidden layer, no bias, weights in {0, ±1}.
    """
    neurons = [left + right, -(left + right), right, -right]
    return neurons, lambda units: units[0] + units[1] - units[2] - units[3]


def paper_network(predicate: Predicate) -> tuple[Network, FourierSummary]:
    """Build the predicate network of Lemma 3.3 as its proof in Appendix A.2 does (strategy ``paper``).

    Monomial prod_{i in S} x_i with S = (s_1 < ... < s_j) is a chain: hidden layer t multiplies
    the running product by x_{s_(t+1)} with the gadget of equation (15); variables not yet used
    are carried by identity relays, and a finished product is relayed up to the common depth
    L = max degree (at least 1). The appendix carries variables through single ReLU units, which
    loses the sign of a -1 input, so here every relay is the exact two-neuron form
    phi(t) - phi(-t). The last layer is sum_S Phat(S) * monomial_S, the empty set as the bias.
    Cost per monomial of degree j: 4(j-1) + (j-1)(j-2) neurons for the chain, 2 per padding layer.
    """
    summary = summarize(predicate)
    builder = NetworkBuilder(predicate.arity)
    inputs = builder.inputs()
    depth = max(summary.max_degree, 1)

    chains = []
    for subset in summary.coefficients:
        if subset:
            chains.append({"subset": subset, "product": inputs[subset[0]],
                           "pending": [inputs[i] for i in subset[1:]]})

    for _ in range(depth - 1):
        neurons, roles, readers = [], [], []
        for chain in chains:
            gadgets = []
            if chain["pending"]:
                gadgets.append(("product", *product_gadget(chain["product"], chain["pending"][0])))
                gadgets.extend(("relay", *relay(value)) for value in chain["pending"][1:])
            else:
                gadgets.append(("relay", *relay(chain["product"])))
            spans = []
            for role, gadget_neurons, read in gadgets:
                spans.append((len(neurons), len(gadget_neurons), read))
                neurons.extend(gadget_neurons)
                roles.extend([role] * len(gadget_neurons))
            readers.append(spans)
        units = builder.hidden_layer(neurons, roles)
        for chain, spans in zip(chains, readers):
            values = [read(units[start:start + count]) for start, count, read in spans]
            chain["product"] = values[0]
            chain["pending"] = values[1:]

    output = LinearForm.const(summary.coefficients.get((), Fraction(0)))
    for chain in chains:
        output = output + chain["product"].scale(summary.coefficients[chain["subset"]])
    return builder.finish([output], ["fourier_sum"]), summary
