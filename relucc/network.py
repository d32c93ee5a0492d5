"""Network IR: affine layers with exact dyadic weights and a ReLU between consecutive layers.

A network with layers A_1, ..., A_L computes A_L(phi(A_{L-1}(... phi(A_1 x)))), phi = ReLU, as in
Definition 1 of Chen, Li, Li and Meka: depth L counts affine layers and size S counts hidden
neurons (the outputs of A_1 .. A_{L-1}). Weights are stored as integer numerators over a
power-of-two denominator per layer, so compilation and certification never round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from relucc.dyadic import integer_array, to_numerators


@dataclass(eq=False)
class AffineLayer:
    """x -> (weight @ x + bias) / 2**exponent, with integer ``weight`` [out, in] and ``bias`` [out].

    ``roles`` names each output neuron's gadget (``product``, ``relay``, ``threshold``, ...), so
    the emitted model and ``relucc info --graph`` can say what each neuron is for.
    """

    weight: np.ndarray
    bias: np.ndarray
    exponent: int
    roles: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.weight.shape[0]), int(self.weight.shape[1])

    def weight_float(self) -> np.ndarray:
        return np.asarray(self.weight, dtype=np.float64) / float(2**self.exponent)

    def bias_float(self) -> np.ndarray:
        return np.asarray(self.bias, dtype=np.float64) / float(2**self.exponent)

    def weight_fraction(self, row: int, column: int) -> Fraction:
        return Fraction(int(self.weight[row, column]), 2**self.exponent)

    def bias_fraction(self, row: int) -> Fraction:
        return Fraction(int(self.bias[row]), 2**self.exponent)


@dataclass(eq=False)
class Network:
    """A ReLU network R^input_dim -> R^output_dim as a list of affine layers."""

    layers: list[AffineLayer]
    input_dim: int

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def output_dim(self) -> int:
        return self.layers[-1].shape[0]

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.shape[0] for layer in self.layers[:-1]]

    @property
    def size(self) -> int:
        return sum(self.hidden_sizes)

    def evaluate_exact(self, inputs: np.ndarray, input_exponent: int = 0) -> tuple[np.ndarray, int]:
        """Evaluate on integer inputs ``inputs / 2**input_exponent`` in exact integer arithmetic.

        Returns ``(numerators, exponent)`` of the outputs. Every intermediate value is kept as an
        integer over a power-of-two denominator; Python integers take over when int64 could overflow.
        """
        values = integer_array(np.asarray(inputs))
        exponent = input_exponent
        for index, layer in enumerate(self.layers):
            values = _exact_matmul(values, layer.weight.T)
            bias = integer_array(layer.bias) * (1 << exponent) if exponent < 62 else \
                np.asarray(layer.bias, dtype=object) * (1 << exponent)
            values = values + bias[None, :]
            exponent += layer.exponent
            if index < len(self.layers) - 1:
                values = np.maximum(values, 0)
            values, exponent = _reduce(values, exponent)
        return values, exponent

    def evaluate_float(self, inputs: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Evaluate in floating point (float64 by default), for comparisons and tests."""
        values = np.asarray(inputs, dtype=dtype)
        for index, layer in enumerate(self.layers):
            values = values @ layer.weight_float().astype(dtype).T + layer.bias_float().astype(dtype)
            if index < len(self.layers) - 1:
                values = np.maximum(values, 0)
        return values


def _exact_matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if left.dtype == np.int64 and right.dtype == np.int64:
        bound = _abs_max(left) * _abs_max(right) * max(1, left.shape[-1])
        if bound < 2**62:
            return left @ right
    return np.asarray(left, dtype=object) @ np.asarray(right, dtype=object)


def _abs_max(array: np.ndarray) -> int:
    return int(np.max(np.abs(array))) if array.size else 0


def _reduce(values: np.ndarray, exponent: int) -> tuple[np.ndarray, int]:
    # Divide numerators and denominator by two while every numerator is even.
    while exponent > 0 and values.size and not np.any(np.asarray(values % 2, dtype=np.int64)):
        values = values // 2
        exponent -= 1
    return integer_array(values) if values.dtype == object else values, exponent


# A linear form over the units of one layer: {unit index: coefficient} and a constant.
@dataclass
class LinearForm:
    """sum_i coefficients[i] * unit_i + constant, over the units of one layer, with exact coefficients."""

    coefficients: dict[int, Fraction] = field(default_factory=dict)
    constant: Fraction = Fraction(0)

    @staticmethod
    def unit(index: int) -> "LinearForm":
        return LinearForm({index: Fraction(1)})

    @staticmethod
    def const(value: Fraction | int) -> "LinearForm":
        return LinearForm({}, Fraction(value))

    def __add__(self, other: "LinearForm") -> "LinearForm":
        coefficients = dict(self.coefficients)
        for index, value in other.coefficients.items():
            coefficients[index] = coefficients.get(index, Fraction(0)) + value
        return LinearForm({i: v for i, v in coefficients.items() if v != 0}, self.constant + other.constant)

    def __neg__(self) -> "LinearForm":
        return self.scale(-1)

    def __sub__(self, other: "LinearForm") -> "LinearForm":
        return self + (-other)

    def scale(self, factor: Fraction | int) -> "LinearForm":
        factor = Fraction(factor)
        if factor == 0:
            return LinearForm()
        return LinearForm({i: v * factor for i, v in self.coefficients.items()}, self.constant * factor)

    def shift(self, amount: Fraction | int) -> "LinearForm":
        return LinearForm(dict(self.coefficients), self.constant + Fraction(amount))

    def substitute(self, forms: list["LinearForm"]) -> "LinearForm":
        """Compose: replace unit i by ``forms[i]``, a linear form over an earlier layer."""
        result = LinearForm.const(self.constant)
        for index, coefficient in self.coefficients.items():
            result = result + forms[index].scale(coefficient)
        return result


def common_exponent(forms: list[LinearForm]) -> int:
    """Return the least e such that every coefficient and constant of ``forms`` is a multiple of 2^-e."""
    values: list[Fraction] = []
    for form in forms:
        values.extend(form.coefficients.values())
        values.append(form.constant)
    return to_numerators(values)[1]


class NetworkBuilder:
    """Build a network layer by layer from neurons given as linear forms over the previous layer.

    A value flowing through the network is a ``LinearForm`` over the current layer's units. Adding
    a hidden layer turns a list of pre-activation forms into new units u_j = phi(form_j); the
    readout is a list of output forms over the last layer. Because values are forms, the output
    affine map of one gadget and the input affine map of the next merge into one layer.
    """

    def __init__(self, input_dim: int):
        self.input_dim = input_dim
        self.layers: list[AffineLayer] = []
        self._width = input_dim

    def inputs(self) -> list[LinearForm]:
        return [LinearForm.unit(i) for i in range(self.input_dim)]

    def hidden_layer(self, preactivations: list[LinearForm], roles: list[str] | None = None) -> list[LinearForm]:
        """Append a ReLU layer u_j = phi(preactivations[j]); return the units as forms."""
        self.layers.append(self._affine(preactivations, roles))
        self._width = len(preactivations)
        return [LinearForm.unit(j) for j in range(len(preactivations))]

    def finish(self, outputs: list[LinearForm], roles: list[str] | None = None) -> Network:
        """Append the final affine layer (no ReLU) and return the network."""
        self.layers.append(self._affine(outputs, roles or ["output"] * len(outputs)))
        return Network(self.layers, self.input_dim)

    def _affine(self, forms: list[LinearForm], roles: list[str] | None) -> AffineLayer:
        exponent = common_exponent(forms)
        scale = 1 << exponent
        weight = np.zeros((len(forms), self._width), dtype=object)
        bias = np.zeros(len(forms), dtype=object)
        for row, form in enumerate(forms):
            for column, coefficient in form.coefficients.items():
                weight[row, column] = int(coefficient * scale)
            bias[row] = int(form.constant * scale)
        return AffineLayer(integer_array(weight).reshape(len(forms), self._width),
                           integer_array(bias).reshape(len(forms)), exponent,
                           list(roles) if roles else ["hidden"] * len(forms))


def parallel(networks: list[Network], input_dim: int, selections: list[np.ndarray]) -> Network:
    """Run networks side by side on selected input coordinates (Lemma 2.8 / Lemma A.1 stacking).

    Network i reads coordinates ``selections[i]`` of the shared input; all networks must have
    the same depth. The result's outputs are the concatenation of the networks' outputs.
    """
    depth = networks[0].depth
    if any(network.depth != depth for network in networks):
        raise ValueError("networks placed in parallel must have equal depth")
    layers = []
    for index in range(depth):
        parts = [network.layers[index] for network in networks]
        exponent = max(part.exponent for part in parts)
        rows = sum(part.shape[0] for part in parts)
        columns = input_dim if index == 0 else sum(part.shape[1] for part in parts)
        weight = np.zeros((rows, columns), dtype=np.int64)
        bias = np.zeros(rows, dtype=np.int64)
        row = column = 0
        roles: list[str] = []
        for part, selection in zip(parts, selections):
            factor = 1 << (exponent - part.exponent)
            height, width = part.shape
            block = np.asarray(part.weight, dtype=np.int64) * factor
            if index == 0:
                np.add.at(weight, (slice(row, row + height), selection), block)
            else:
                weight[row:row + height, column:column + width] = block
                column += width
            bias[row:row + height] = np.asarray(part.bias, dtype=np.int64) * factor
            roles.extend(part.roles)
            row += height
        layers.append(AffineLayer(weight, bias, exponent, roles))
    return Network(layers, input_dim)
