"""Boolean encodings of a network's inputs and outputs: ±1 (relucc's own) or {0,1}, True = 1 in both.

The {0,1} network computes the same function after the affine change of variables
x = 2u - 1 on the inputs and y = (v + 1) / 2 on the outputs. Both maps are folded into the
first and last affine layers, so depth and size do not change; the weights, and with them the
Lipschitz bound and the bit complexity, do change and are recomputed.
"""

from __future__ import annotations

import numpy as np

from relucc.boolean import input_points
from relucc.certify import certify_network
from relucc.dyadic import integer_array
from relucc.errors import UsageError
from relucc.network import AffineLayer, Network

ENCODINGS = ("pm1", "01")
# Figures that depend on the weights or the domain; an encoded certificate recomputes them.
RECOMPUTED_KEYS = ("lipschitz_bound", "bit_complexity", "max_abs_activation", "float32_exact", "float32_reason")


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise UsageError(f"unknown encoding {encoding!r}; expected pm1 (inputs and outputs in {{-1,+1}}) "
                         f"or 01 (inputs and outputs in {{0,1}}), True = +1 or 1")
    return encoding


def domain_label(length: int, encoding: str) -> str:
    return f"{{-1,+1}}^{length}" if encoding == "pm1" else f"{{0,1}}^{length}"


def domain_points(length: int, encoding: str) -> np.ndarray:
    """Return every point of the exact domain in the given encoding, as int64 [2^length, length]."""
    points = input_points(length).astype(np.int64)
    return points if encoding == "pm1" else (points + 1) // 2


def encode_network(network: Network, encoding: str) -> Network:
    """Return the network in ``encoding``: ``network`` itself for pm1, the folded network for 01."""
    check_encoding(encoding)
    return network if encoding == "pm1" else fold_01(network)


def fold_01(network: Network) -> Network:
    """Fold x = 2u - 1 into the first layer and y = (v + 1) / 2 into the last one.

    With layer 1 as (W x + b) / 2^e, substituting x = 2u - 1 gives (2W u + b - W 1) / 2^e.
    With the last layer as (W h + b) / 2^e, (v + 1) / 2 is (W h + b + 2^e) / 2^(e+1).
    Both are exact in integer arithmetic; a one-layer network gets both changes.
    """
    layers = list(network.layers)
    first = layers[0]
    weight = _integers(first.weight)
    layers[0] = _reduced(weight * 2, _integers(first.bias) - weight.sum(axis=1), first.exponent, first.roles)

    last = layers[-1]
    bias = _integers(last.bias) + (1 << last.exponent)
    layers[-1] = _reduced(_integers(last.weight), bias, last.exponent + 1, last.roles)
    return Network(layers, network.input_dim)


def _integers(array: np.ndarray) -> np.ndarray:
    # Python integers, so that doubling and row sums cannot overflow int64.
    return np.asarray(array, dtype=object)


def _reduced(weight: np.ndarray, bias: np.ndarray, exponent: int, roles: list[str]) -> AffineLayer:
    """Build the layer with the numerators and 2**exponent divided by their largest common power of two."""
    values = [int(v) for v in np.concatenate([weight.ravel(), bias.ravel()])]
    while exponent > 0 and all(v % 2 == 0 for v in values):
        weight, bias, exponent = weight // 2, bias // 2, exponent - 1
        values = [v // 2 for v in values]
    return AffineLayer(integer_array(weight).reshape(weight.shape), integer_array(bias).reshape(bias.shape),
                       exponent, list(roles))


def encoded_figures(network: Network, input_length: int, encoding: str, enumerate_limit: int = 16) -> dict:
    """Certify an already encoded network on its exact domain, enumerated when input_length <= enumerate_limit.

    Larger domains fall back on interval bounds over [-1, 1]^n, which contain {0,1}^n as well.
    """
    points = domain_points(input_length, encoding) if input_length <= enumerate_limit else None
    return certify_network(network, points, domain_label(input_length, encoding))


def encoded_certificate(certificate: dict, figures: dict, input_length: int, encoding: str) -> dict:
    """Return a copy of ``certificate`` for ``encoding``, with the weight-dependent figures from ``figures``.

    ``figures`` is ``certify_network``'s output for the encoded network (the predicate network of
    a local function). Depth and sizes are unchanged by the folding, so they are kept.
    """
    encoded = dict(certificate)
    encoded["encoding"] = encoding
    if encoding == "pm1":
        return encoded
    for key in RECOMPUTED_KEYS:
        encoded[key] = figures[key]
    encoded["exact_domain"] = domain_label(input_length, encoding)
    encoded["encoding_note"] = ("inputs u and outputs y in {0,1} (True = 1): x = 2u - 1 is folded into the "
                                "first affine layer and y = (v + 1)/2 into the last; depth and size are "
                                "those of the ±1 network")
    return encoded


def encode_local_function(compiled, encoding: str) -> tuple[Network, dict]:
    """Return a compiled local function's predicate network and certificate in ``encoding``.

    For 01 the folded predicate network is checked against the predicate's truth table on all
    of {0,1}^k in exact arithmetic, and the check is recorded in the certificate.
    """
    check_encoding(encoding)
    network = encode_network(compiled.predicate_network, encoding)
    if encoding == "pm1":
        return network, encoded_certificate(compiled.certificate, {}, compiled.input_length, encoding)
    predicate = compiled.local_function.predicate
    figures = encoded_figures(network, predicate.arity, encoding)
    certificate = encoded_certificate(compiled.certificate, figures, compiled.input_length, encoding)
    certificate["verification"] = list(certificate.get("verification", [])) + [
        verify_encoded_predicate(predicate, network, encoding)]
    return network, certificate


def verify_encoded_predicate(predicate, network: Network, encoding: str) -> dict:
    """Check the encoded predicate network on its whole domain in exact arithmetic; raise CheckFailure if wrong."""
    from relucc.errors import CheckFailure

    points = domain_points(predicate.arity, encoding)
    numerators, exponent = network.evaluate_exact(points)
    truth = predicate.truth_table.astype(np.int64)
    expected = truth if encoding == "pm1" else (truth + 1) // 2
    wrong = np.nonzero((numerators[:, 0] != expected) | (exponent != 0))[0]
    if wrong.size:
        row = int(wrong[0])
        raise CheckFailure(f"the {encoding}-encoded predicate network of {predicate.name} is wrong at "
                           f"u = {points[row].tolist()}: expected {int(expected[row])}, computed "
                           f"{int(numerators[row, 0])}/2^{exponent}")
    return {"kind": "exhaustive, exact arithmetic", "inputs": len(points), "result": "passed",
            "scope": f"{encoding}-encoded predicate network on all of {domain_label(predicate.arity, encoding)}"}
