"""Certificates of sparse networks: the bounds of relucc.certify, computed from the nonzero weights.

The figures are the same upper bounds as for dense layers, computed so that memory and time
grow with the number of nonzero weights, not with width^2:
- a whole layer's spectral norm is bounded by sqrt(||W||_1 ||W||_inf), which holds for every
  matrix (no SVD); an output cone's block of at most CONE_SVD_MAX_ENTRIES entries still gets
  its LAPACK norm, as in ``relucc.certify.operator_norm_product``;
- ||row of |W_L| ... |W_1| ||_2 is accumulated as a scipy.sparse product times a dense
  [units, inputs] array, with the rounding-error enlargement of
  ``relucc.certify.absolute_product_bounds``;
- bit complexity and float32 exactness read each distinct numerator once.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse

from relucc.certify import (
    CONE_SVD_MAX_ENTRIES,
    FLOAT32_MANTISSA_BITS,
    SPECTRAL_MARGIN,
    absolute_product_rows,
    spectral_norm_upper,
)
from relucc.dyadic import array_bit_complexity, float32_representable
from relucc.network import Network
from relucc.sparse_network import sparse_layer

# Level matrices of the circuit certificate (Lemma 4.4's product) with more entries than this
# are bounded by sqrt(||R||_1 ||R||_inf) instead of an SVD: a 2000-wide level takes seconds in LAPACK.
LEVEL_SVD_MAX_ENTRIES = 2**16


def norm_bound_from_sums(matrix: scipy.sparse.spmatrix) -> float:
    """Return sqrt(||matrix||_1 ||matrix||_inf), an upper bound on ||matrix||_2, enlarged for float64 sums."""
    if matrix.nnz == 0:
        return 0.0
    absolute = abs(matrix)
    columns = float(np.asarray(absolute.sum(axis=0)).max())
    rows = float(np.asarray(absolute.sum(axis=1)).max())
    # Each sum of n non-negative float64 terms is within a factor 1 + n * 2^-53 of the exact one.
    enlargement = 1 + 2 * max(matrix.shape) * 2.0**-53 + SPECTRAL_MARGIN
    return math.sqrt(columns * rows) * enlargement + 1e-300


def small_block_norm(block: np.ndarray) -> float:
    """Return an upper bound on ||block||_2: the enlarged l2 norm for a single row or column, else LAPACK's.

    Relays make most cone blocks 1 x 1 or a single row, and an SVD per block dominated the
    certificate's time on EPFL adder.
    """
    if block.size == 0:
        return 0.0
    if min(block.shape) == 1:
        # sqrt of a sum of n squares in float64 is within a factor 1 + (n + 2) * 2^-53 of the exact norm.
        value = float(np.sqrt(np.sum(block * block)))
        return value * (1 + (block.size + 2) * 2.0**-53 + SPECTRAL_MARGIN) + 1e-300
    return spectral_norm_upper(block)


def cone_figures(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Return per output (hidden neurons in its cone, prod_i of norm bounds over the cone).

    The cone of an output is traced backwards through the nonzero pattern; a cone block of at
    most CONE_SVD_MAX_ENTRIES entries gets its own LAPACK norm, a larger one the whole layer's
    sqrt(||W||_1 ||W||_inf), which is at least the block's norm.
    """
    matrices = [sparse_layer(layer).matrix() for layer in network.layers]
    layer_norms = [norm_bound_from_sums(matrix) for matrix in matrices]
    sizes = np.zeros(network.output_dim, dtype=np.int64)
    products = np.zeros(network.output_dim)
    for output in range(network.output_dim):
        needed = np.array([output])
        log_total, size, zero = 0.0, 0, False
        for index in range(len(matrices) - 1, -1, -1):
            block_rows, block_columns, block_values = _row_entries(matrices[index], needed)
            columns = np.unique(block_columns)
            if needed.size * columns.size <= CONE_SVD_MAX_ENTRIES:
                block = np.zeros((needed.size, columns.size))
                block[block_rows, np.searchsorted(columns, block_columns)] = block_values
                norm = small_block_norm(block)
            else:
                norm = layer_norms[index]
            if norm == 0:
                zero = True
            else:
                log_total += math.log2(norm)
            needed = columns
            if index > 0:
                size += columns.size
        sizes[output] = size
        products[output] = 0.0 if zero else (2.0**log_total if log_total < 1000 else math.inf)
    return sizes, products


def _row_entries(matrix: scipy.sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (position in ``rows``, column, value) of every entry in the given rows of a CSR matrix.

    Plain numpy on indptr, because scipy's fancy row indexing costs about 100 microseconds a call
    and the cone trace makes one call per output and layer.
    """
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    positions = offsets + np.arange(total)
    return np.repeat(np.arange(rows.size), lengths), matrix.indices[positions], matrix.data[positions]


def absolute_product_bounds(network: Network) -> np.ndarray:
    """Return per output an upper bound on ||row of |W_L| ... |W_1| ||_2 from sparse layers.

    The same float64 bound as ``relucc.certify.absolute_product_bounds``, with SciPy sparse
    products in place of dense ones.
    """
    return absolute_product_rows(abs(sparse_layer(layer).matrix()) for layer in network.layers)


def lipschitz_figures(network: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (cone sizes, operator-norm products, absolute-product bounds) per output."""
    sizes, operator = cone_figures(network)
    return sizes, operator, absolute_product_bounds(network)


def bit_complexity(network: Network) -> int:
    tau = 0
    for layer in network.layers:
        values = np.unique(np.asarray(sparse_layer(layer).values))
        tau = max(tau, array_bit_complexity(values, layer.exponent),
                  array_bit_complexity(np.unique(np.asarray(layer.bias)), layer.exponent))
    return tau


def activation_bounds(network: Network) -> list[np.ndarray]:
    """Return per layer an interval bound on |value| of each unit for inputs in [-1, 1]^n."""
    bounds = [np.ones(network.input_dim)]
    for layer in network.layers:
        absolute = abs(sparse_layer(layer).matrix())
        bounds.append(absolute @ bounds[-1] + np.abs(layer.bias_float()))
    return bounds


def float32_exactness(network: Network, magnitude_bounds: list[np.ndarray]) -> tuple[bool, str]:
    """``relucc.certify.float32_exactness`` for sparse layers: same reasoning, same reason strings.

    Activations after layer t are multiples of 2^-(e_1 + ... + e_t), so every partial sum of
    layer t+1, in any order and over any subset of its terms, is a multiple of
    2^-(e_1 + ... + e_(t+1)) bounded by sum_j |w_j| |x_j| + |b|; below 2^24 steps it is exact.
    """
    precision = 0
    for index, layer in enumerate(network.layers):
        sparse = sparse_layer(layer)
        if not all(float32_representable(int(v), layer.exponent) for v in np.unique(np.asarray(sparse.values))):
            return False, f"layer {index + 1} has a weight that is not a float32 value"
        if not all(float32_representable(int(v), layer.exponent) for v in np.unique(np.asarray(layer.bias))):
            return False, f"layer {index + 1} has a bias that is not a float32 value"
        precision += layer.exponent
        row_sums = abs(sparse.matrix()) @ magnitude_bounds[index] + np.abs(layer.bias_float())
        largest = float(row_sums.max()) if row_sums.size else 0.0
        if largest * 2.0**precision >= 2.0**FLOAT32_MANTISSA_BITS:
            return False, (f"layer {index + 1}: partial sums up to {largest:g} in steps of 2^-{precision} "
                           f"need more than {FLOAT32_MANTISSA_BITS} significant bits")
    return True, "every weight is a float32 value and every partial sum fits in 24 significant bits"


def lipschitz_method() -> str:
    return ("per output, the lesser of prod_i ||W_i||_2 over the output's cone (LAPACK norms for cone "
            "blocks up to 4096 entries, else the layer's sqrt(||W||_1 ||W||_inf)) and "
            "||row of |W_L|...|W_1| ||_2 (scipy.sparse products in float64 with rounding-error enlargement)")


def certify_sparse_network(network: Network, domain: str) -> dict:
    """Compute the certificate figures of a sparse network from its weights alone.

    Activation magnitudes come from interval bounds over [-1, 1]^n, which contain the exact
    domain, so they are upper bounds that grow with depth.
    """
    sizes, operator, absolute = lipschitz_figures(network)
    best = np.minimum(operator, absolute)
    magnitude = activation_bounds(network)
    hidden = magnitude[1:-1]
    max_activation = max((float(m.max()) for m in hidden if m.size), default=0.0)
    exact32, reason = float32_exactness(network, magnitude)
    return {
        "depth": network.depth,
        "size": network.size,
        "size_per_output": int(sizes.max()) if sizes.size else 0,
        "hidden_sizes": network.hidden_sizes,
        "lipschitz_bound": {
            "value": float(best.max()),
            "method": lipschitz_method(),
            "operator_norm_product": float(operator.max()),
            "absolute_product": float(absolute.max()),
        },
        "bit_complexity": bit_complexity(network),
        "max_abs_activation": {"value": max_activation, "method": "interval bound over [-1, 1]^n"},
        "exact_domain": domain,
        "float32_exact": exact32,
        "float32_reason": reason,
    }


def level_matrix_norm(matrix: scipy.sparse.spmatrix) -> float:
    """Return an upper bound on a level matrix's ||R||_2: LAPACK up to LEVEL_SVD_MAX_ENTRIES, else from sums."""
    if matrix.shape[0] * matrix.shape[1] <= LEVEL_SVD_MAX_ENTRIES:
        return spectral_norm_upper(matrix.toarray())
    return norm_bound_from_sums(matrix)
