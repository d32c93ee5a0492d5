"""Sparse network IR: affine layers stored as (row, column, numerator) triplets over 2**exponent.

A leveled circuit's layers are wide and sparse (a neuron reads a handful of units), so a dense
[out, in] integer matrix per layer costs width^2 memory: EPFL mem_ctrl would need 413M entries.
``SparseAffineLayer`` keeps only the nonzero numerators and offers the same read interface as
``relucc.network.AffineLayer`` (``shape``, ``bias``, ``exponent``, ``roles``, ``weight``,
``weight_float``, ``bias_float``), so code written for dense layers still runs on small
networks. ``SparseNetworkBuilder`` builds these layers from linear forms, and
``densify_network`` turns them into dense layers when the dense form is small enough to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse

from relucc.dyadic import integer_array
from relucc.network import AffineLayer, LinearForm, Network, NetworkBuilder, common_exponent

# Networks whose dense layers would hold more weights than this keep the sparse IR, get the
# sparse certificate (relucc.sparse_certify) and default to the sparse ONNX layout. 4M float32
# weights are 16 MB; EPFL sin (3.0M) stays dense, adder (10M) and the larger ones go sparse.
SPARSE_THRESHOLD = 4_000_000


@dataclass(eq=False)
class SparseAffineLayer:
    """x -> (W @ x + bias) / 2**exponent with W given by nonzero triplets, sorted by row then column.

    ``values[i]`` is the integer numerator of W[rows[i], columns[i]]; ``input_width`` is the
    number of columns of W (the previous layer's width).
    """

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    bias: np.ndarray
    exponent: int
    input_width: int
    roles: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.bias.shape[0]), int(self.input_width)

    @property
    def nonzeros(self) -> int:
        return int(self.values.shape[0])

    @property
    def weight(self) -> np.ndarray:
        """The dense integer numerators [out, in], built on every access (not cached, to bound memory)."""
        dense = np.zeros(self.shape, dtype=self.values.dtype if self.values.dtype == object else np.int64)
        dense[self.rows, self.columns] = self.values
        return dense

    def weight_float(self) -> np.ndarray:
        return self.matrix().toarray()

    def bias_float(self) -> np.ndarray:
        return np.asarray(self.bias, dtype=np.float64) / float(2**self.exponent)

    def value_float(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64) / float(2**self.exponent)

    def matrix(self) -> scipy.sparse.csr_matrix:
        """Return W / 2**exponent as a float64 CSR matrix (exact for numerators below 2^53)."""
        return scipy.sparse.csr_matrix((self.value_float(), (self.rows, self.columns)), shape=self.shape)

    def fan_ins(self) -> np.ndarray:
        """Return the number of nonzero weights of each neuron."""
        return np.bincount(self.rows, minlength=self.shape[0])


def is_sparse(network: Network) -> bool:
    return any(isinstance(layer, SparseAffineLayer) for layer in network.layers)


def dense_weight_count(network: Network) -> int:
    """Return the number of entries the dense weight matrices of ``network`` hold."""
    return sum(layer.shape[0] * layer.shape[1] for layer in network.layers)


def nonzero_count(network: Network) -> int:
    return sum(layer_triplets(layer)[2].shape[0] for layer in network.layers)


def layer_triplets(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (rows, columns, numerators) of a layer's nonzero weights, sorted by row then column."""
    if isinstance(layer, SparseAffineLayer):
        return layer.rows, layer.columns, layer.values
    weight = np.asarray(layer.weight)
    rows, columns = np.nonzero(weight != 0)
    return rows.astype(np.int64), columns.astype(np.int64), integer_array(weight[rows, columns])


def sparse_layer(layer) -> SparseAffineLayer:
    """Return ``layer`` (dense or sparse) as a SparseAffineLayer."""
    if isinstance(layer, SparseAffineLayer):
        return layer
    rows, columns, values = layer_triplets(layer)
    return SparseAffineLayer(rows, columns, values, integer_array(np.asarray(layer.bias)).reshape(-1),
                             layer.exponent, layer.shape[1], list(layer.roles))


def dense_layer(layer) -> AffineLayer:
    """Return ``layer`` (dense or sparse) as a dense AffineLayer."""
    if isinstance(layer, AffineLayer):
        return layer
    return AffineLayer(layer.weight, layer.bias, layer.exponent, list(layer.roles))


def densify_network(network: Network) -> Network:
    return Network([dense_layer(layer) for layer in network.layers], network.input_dim)


def sparsify_network(network: Network) -> Network:
    return Network([sparse_layer(layer) for layer in network.layers], network.input_dim)


def build_sparse_layer(forms: list[LinearForm], width: int, roles: list[str] | None) -> SparseAffineLayer:
    """Turn linear forms over ``width`` units into one sparse layer with a common exponent."""
    exponent = common_exponent(forms)
    scale = 1 << exponent

    rows, columns, numerators, bias = [], [], [], []
    for row, form in enumerate(forms):
        for column in sorted(form.coefficients):
            numerator = int(form.coefficients[column] * scale)
            if numerator:
                rows.append(row)
                columns.append(column)
                numerators.append(numerator)
        bias.append(int(form.constant * scale))
    return SparseAffineLayer(np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64),
                             integer_array(numerators).reshape(-1), integer_array(bias).reshape(-1), exponent,
                             width, list(roles) if roles else ["hidden"] * len(forms))


class SparseNetworkBuilder(NetworkBuilder):
    """NetworkBuilder that stores each layer as triplets, so building costs O(nonzeros), not O(width^2)."""

    def _affine(self, forms: list[LinearForm], roles: list[str] | None) -> SparseAffineLayer:
        return build_sparse_layer(forms, self._width, roles)


def padded_entry_count(network: Network) -> int:
    """Return the weights the sparse ONNX layout stores: per layer, neurons times the largest fan-in."""
    total = 0
    for layer in network.layers:
        rows = layer_triplets(layer)[0]
        fan_ins = np.bincount(rows, minlength=layer.shape[0])
        total += layer.shape[0] * max(1, int(fan_ins.max()) if fan_ins.size else 1)
    return total
