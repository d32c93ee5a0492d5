"""Certificates: depth, size, l2 Lipschitz bounds, bit complexity and float32 exactness of a network.

Every number is computed from the weights, not assumed from the construction:
- the Lipschitz bound of an output coordinate is the smaller of two upper bounds on the l2 norm
  of its gradient: the product of the layers' spectral norms, and ||row of |W_L| ... |W_1| ||_2
  (valid because the ReLU derivatives lie in [0, 1], so every entry of the Jacobian is bounded
  by the matching entry of the product of the entrywise absolute values);
- bit complexity tau is the least tau with every weight and bias in R_tau;
- float32 exactness requires that every weight is a float32 value and that every partial sum of a
  matrix product on the exact domain is a dyadic number of at most 24 significant bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from relucc.dyadic import array_bit_complexity, float32_representable
from relucc.network import Network

# Relative margin added to LAPACK spectral norms; LAPACK's SVD error is about n * 1.1e-16 relative.
SPECTRAL_MARGIN = 1e-9
FLOAT32_MANTISSA_BITS = 24
# Per-output cone blocks larger than this use the whole layer's norm, so that certifying deep,
# wide networks (c6288: 123 layers, 32 outputs) costs one SVD per layer, not one per output.
CONE_SVD_MAX_ENTRIES = 2**12
# Layers larger than this are bounded by sqrt(||W||_1 ||W||_inf) instead of a LAPACK SVD.
SVD_MAX_ENTRIES = 2**20


@dataclass
class LayerReport:
    """Per-layer figures for ``relucc info --graph``."""

    index: int
    shape: tuple[int, int]
    nonzeros: int
    spectral_norm: float
    bit_complexity: int
    role_counts: dict[str, int]


def output_cones(network: Network) -> list[list[np.ndarray]]:
    """Return, for each output, the indices of units feeding it in each layer's output (incl. inputs at [0])."""
    cones = []
    for output in range(network.output_dim):
        needed = np.array([output])
        per_layer = [needed]
        for layer in reversed(network.layers):
            rows = np.asarray(layer.weight[needed, :] != 0)
            needed = np.nonzero(rows.any(axis=0))[0]
            per_layer.append(needed)
        cones.append(list(reversed(per_layer)))
    return cones


def spectral_norm_upper(matrix: np.ndarray) -> float:
    """Return an upper bound on ||matrix||_2: the LAPACK value enlarged by SPECTRAL_MARGIN."""
    if matrix.size == 0:
        return 0.0
    value = float(np.linalg.norm(matrix, 2))
    return value * (1 + SPECTRAL_MARGIN) + 1e-300


def operator_norm_product(network: Network, cone: list[np.ndarray] | None = None,
                          layer_norms: dict[int, float] | None = None) -> float:
    """Return prod_i ||W_i||_2, with each W_i restricted to the output's cone when given.

    A cone block with more than CONE_SVD_MAX_ENTRIES entries is bounded by the whole layer's
    norm instead, which is at least the block's; ``layer_norms`` caches those across outputs.
    """
    log_total = 0.0
    for index, layer in enumerate(network.layers):
        if cone is not None and len(cone[index + 1]) * len(cone[index]) <= CONE_SVD_MAX_ENTRIES:
            norm = spectral_norm_upper(layer.weight_float()[np.ix_(cone[index + 1], cone[index])])
        elif layer_norms is not None and index in layer_norms:
            norm = layer_norms[index]
        else:
            norm = spectral_norm_bound(layer.weight_float())
            if layer_norms is not None:
                layer_norms[index] = norm
        if norm == 0:
            return 0.0
        log_total += math.log2(norm)
    return 2.0**log_total if log_total < 1000 else math.inf


def spectral_norm_bound(matrix: np.ndarray) -> float:
    """Return an upper bound on ||matrix||_2: LAPACK's (enlarged) up to SVD_MAX_ENTRIES entries, else
    sqrt(||matrix||_1 ||matrix||_inf), which holds for every matrix and needs no SVD."""
    if matrix.size <= SVD_MAX_ENTRIES:
        return spectral_norm_upper(matrix)
    absolute = np.abs(matrix)
    columns = float(absolute.sum(axis=0).max())
    rows = float(absolute.sum(axis=1).max())
    # Each sum of n non-negative float64 terms is within a factor 1 + n * 2^-53 of the exact one.
    enlargement = 1 + 2 * max(matrix.shape) * 2.0**-53 + SPECTRAL_MARGIN
    return math.sqrt(columns * rows) * enlargement + 1e-300


def absolute_product_bounds(network: Network) -> np.ndarray:
    """Return, per output, an upper bound on ||row of |W_L| ... |W_1| ||_2 (see the module docstring)."""
    return absolute_product_rows(np.abs(layer.weight_float()) for layer in network.layers)


def absolute_product_rows(absolute_layers) -> np.ndarray:
    """Bound the row norms of |W_L| ... |W_1| from the layers' absolute values, first layer first.

    Each item is a non-negative NumPy array or SciPy sparse matrix. The bound is computed in
    float64 with two safeguards that keep it an upper bound. Every product of non-negative
    matrices is enlarged by its rounding-error bound (1 + 2 gamma_n). The running product is
    rescaled by powers of two, so deep networks do not overflow.
    """
    unit = 2.0**-53
    product = None
    log_scale = 0
    for absolute in absolute_layers:
        absolute = absolute * (1 + 2 * unit)
        if product is None:
            product = absolute.toarray() if hasattr(absolute, "toarray") else np.asarray(absolute)
        else:
            inner = product.shape[0]
            gamma = inner * unit / (1 - inner * unit)
            product = np.asarray(absolute @ product) * (1 + 2 * gamma)
        peak = float(product.max()) if product.size else 0.0
        if peak > 0:
            shift = math.frexp(peak)[1]
            product = np.ldexp(product, -shift)
            log_scale += shift
    rows = np.sqrt(np.sum(product * product, axis=1)) * (1 + 4 * unit * (product.shape[1] + 2))
    with np.errstate(over="ignore"):
        return np.ldexp(rows, log_scale) if log_scale < 1000 else np.where(rows > 0, np.inf, 0.0)


def activation_bounds(network: Network) -> list[np.ndarray]:
    """Return per layer an interval bound on |value| of each unit for inputs in [-1, 1]^n."""
    bounds = [np.ones(network.input_dim)]
    for index, layer in enumerate(network.layers):
        bound = np.abs(layer.weight_float()) @ bounds[-1] + np.abs(layer.bias_float())
        bounds.append(bound)
    return bounds


def exact_activations(network: Network, points: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Return every layer's exact post-activation values (numerators, exponent) on the given points."""
    values = [(np.asarray(points, dtype=np.int64), 0)]
    for depth in range(1, network.depth + 1):
        partial = Network(network.layers[:depth], network.input_dim)
        numerators, exponent = partial.evaluate_exact(points)
        if depth < network.depth:
            numerators = np.maximum(numerators, 0)
        values.append((numerators, exponent))
    return values


def float32_exactness(network: Network, magnitude_bounds: list[np.ndarray]) -> tuple[bool, str]:
    """Decide whether float32 evaluation on the exact domain is exact; return (flag, reason).

    Activations after layer t are multiples of 2^-(e_1 + ... + e_t), with e_i the layer
    exponents, so every product term and partial sum in layer t+1 is a multiple of
    2^-(e_1 + ... + e_(t+1)); ``magnitude_bounds`` bounds each partial sum's magnitude.
    """
    precision = 0
    for index, layer in enumerate(network.layers):
        if not all(float32_representable(int(v), layer.exponent) for v in np.asarray(layer.weight).ravel() if v):
            return False, f"layer {index + 1} has a weight that is not a float32 value"
        if not all(float32_representable(int(v), layer.exponent) for v in np.asarray(layer.bias).ravel() if v):
            return False, f"layer {index + 1} has a bias that is not a float32 value"
        precision += layer.exponent
        row_sums = np.abs(layer.weight_float()) @ magnitude_bounds[index] + np.abs(layer.bias_float())
        largest = float(row_sums.max()) if row_sums.size else 0.0
        if largest * 2.0**precision >= 2.0**FLOAT32_MANTISSA_BITS:
            return False, (f"layer {index + 1}: partial sums up to {largest:g} in steps of 2^-{precision} "
                           f"need more than {FLOAT32_MANTISSA_BITS} significant bits")
    return True, "every weight is a float32 value and every partial sum fits in 24 significant bits"


def bit_complexity(network: Network) -> int:
    tau = 0
    for layer in network.layers:
        tau = max(tau, array_bit_complexity(layer.weight, layer.exponent),
                  array_bit_complexity(layer.bias, layer.exponent))
    return tau


def lipschitz_per_output(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Return (operator-norm product, absolute-product bound) for every output coordinate."""
    cones = output_cones(network)
    layer_norms: dict[int, float] = {}
    operator = np.array([operator_norm_product(network, cone, layer_norms) for cone in cones])
    absolute = absolute_product_bounds(network)
    return operator, absolute


def certify_network(network: Network, domain_points: np.ndarray | None, domain: str) -> dict:
    """Compute the certificate figures of ``network`` on its exact domain.

    ``domain_points`` lists the whole domain when it is small enough to enumerate; otherwise
    activation magnitudes come from interval bounds over [-1, 1]^n, which contain the domain.
    """
    cones = output_cones(network)
    operator, absolute = lipschitz_per_output(network)
    best = np.minimum(operator, absolute)
    per_output_size = [sum(len(c) for c in cone[1:-1]) for cone in cones]

    if domain_points is not None:
        activations = exact_activations(network, domain_points)
        magnitude = [np.max(np.abs(values.astype(np.float64)), axis=0) / 2.0**exponent
                     for values, exponent in activations]
        hidden = [m for m in magnitude[1:-1]]
        activation_method = "exhaustive over the exact domain"
    else:
        magnitude = activation_bounds(network)
        hidden = magnitude[1:-1]
        activation_method = "interval bound over [-1, 1]^n"
    max_activation = max((float(m.max()) for m in hidden if m.size), default=0.0)
    exact32, reason = float32_exactness(network, magnitude)

    return {
        "depth": network.depth,
        "size": network.size,
        "size_per_output": int(max(per_output_size, default=0)),
        "hidden_sizes": network.hidden_sizes,
        "lipschitz_bound": {
            "value": float(best.max()),
            "method": _lipschitz_method(operator, absolute),
            "operator_norm_product": float(operator.max()),
            "absolute_product": float(absolute.max()),
        },
        "bit_complexity": bit_complexity(network),
        "max_abs_activation": {"value": max_activation, "method": activation_method},
        "exact_domain": domain,
        "float32_exact": exact32,
        "float32_reason": reason,
    }


def _lipschitz_method(operator: np.ndarray, absolute: np.ndarray) -> str:
    chosen = "absolute-value product" if absolute.max() <= operator.max() else "operator-norm product"
    return (f"min of prod_i ||W_i||_2 (LAPACK spectral norms, relative margin {SPECTRAL_MARGIN:g}) and "
            f"||row of |W_L|...|W_1| ||_2 (float64 with rounding-error enlargement), per output; "
            f"the max over outputs comes from the {chosen}")


def layer_reports(network: Network) -> list[LayerReport]:
    reports = []
    for index, layer in enumerate(network.layers):
        counts: dict[str, int] = {}
        for role in layer.roles:
            counts[role] = counts.get(role, 0) + 1
        reports.append(LayerReport(index + 1, layer.shape, int(np.count_nonzero(np.asarray(layer.weight))),
                                   spectral_norm_upper(layer.weight_float()),
                                   max(array_bit_complexity(layer.weight, layer.exponent),
                                       array_bit_complexity(layer.bias, layer.exponent)), counts))
    return reports
