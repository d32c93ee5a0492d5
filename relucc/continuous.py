"""Continuous generators: seed distributions, affine and pushforward stages, and their composition.

A composed generator is G = S_k o ... o S_1 applied to a seed z drawn from U_m (uniform bits),
gamma_m (standard Gaussian) or I_m (uniform on [0,1]^m). Theorem 3.1 of Chen, Li, Li and Meka
(ICLR 2022) builds G = H o J o PRG o h_xi from four such stages:

- ``h_xi`` (Lemma 3.12): h_xi(x) = phi(x/xi + 1) - phi(x/xi - 1) - 1 on every seed coordinate,
  which is sgn(x) once |x| >= xi; Lemma 3.13 picks xi so that W1(G0(U_m), G0(h_xi(gamma_m))) <= eps;
- a local function (Goldreich's PRG), lowered by the Fourier construction of Lemma 3.3;
- ``bits_to_unit`` J (Fact 3.9, Lemma 3.10): groups of n bits y to <w, y + 1>, w = (1/4, ..., 2^-(n+1));
- a pushforward H: an explicit ReLU or leaky-ReLU network, or the random expansive leaky-ReLU
  network of Lemma 2.17, with real weights rounded to multiples of 2^-tau;
- ``affine``: x -> W x + b with dyadic W and b.

Each stage lowers to the network IR of ``relucc.network`` with exact dyadic weights; ``compose``
merges the last affine layer of one stage with the first affine layer of the next (Lemma 2.8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from relucc.boolean import LocalFunction
from relucc.certify import certify_network, spectral_norm_upper
from relucc.dyadic import float32_representable, integer_array
from relucc.errors import SourceLocation
from relucc.network import AffineLayer, LinearForm, Network, NetworkBuilder, parallel

SEED_DISTRIBUTIONS = ("bits", "gaussian", "uniform01")
SEED_DOMAINS = {"bits": "{{-1,+1}}^{m}", "gaussian": "R^{m} (standard Gaussian seed)",
                "uniform01": "[0,1]^{m} (uniform seed)"}
# Unit roundoff of float32 (round to nearest), used by the forward error bound.
FLOAT32_UNIT_ROUNDOFF = 2.0**-24
# Largest tau tried when tau is chosen from a quantisation target eps.
MAX_TAU = 40


def sample_seeds(distribution: str, count: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` seeds of ``length`` coordinates as float32 from U_m, gamma_m or I_m.

    bits: ``2 * rng.integers(0, 2) - 1``; gaussian: ``rng.standard_normal``; uniform01:
    ``rng.random``, each as an array [count, length] drawn in one call, then cast to float32.
    """
    if distribution == "bits":
        return (2 * rng.integers(0, 2, size=(count, length), dtype=np.int8) - 1).astype(np.float32)
    if distribution == "gaussian":
        return rng.standard_normal((count, length)).astype(np.float32)
    if distribution == "uniform01":
        return rng.random((count, length)).astype(np.float32)
    raise ValueError(f"unknown seed distribution {distribution!r}; expected one of {', '.join(SEED_DISTRIBUTIONS)}")


# ---------------------------------------------------------------- exact arithmetic helpers


def exact_values(numerators: np.ndarray, exponent: int) -> np.ndarray:
    """Return an object array of Fractions numerators / 2**exponent."""
    denominator = 1 << exponent
    flat = [Fraction(int(v), denominator) for v in np.asarray(numerators).ravel()]
    return np.array(flat, dtype=object).reshape(np.asarray(numerators).shape)


def dyadic_inputs(values: np.ndarray, exponent: int) -> np.ndarray:
    """Return integer numerators of ``values`` (float64, each a multiple of 2**-exponent) over 2**exponent."""
    scaled = np.asarray(values, dtype=np.float64) * float(2**exponent)
    if not np.all(scaled == np.round(scaled)):
        raise ValueError(f"inputs are not multiples of 2^-{exponent}")
    return integer_array([int(v) for v in scaled.ravel()]).reshape(scaled.shape)


def _layer_from_fractions(weight: list[list[Fraction]], bias: list[Fraction], role: str) -> AffineLayer:
    rows = len(weight)
    columns = len(weight[0]) if rows else 0
    builder = NetworkBuilder(columns)
    forms = [LinearForm({j: Fraction(w) for j, w in enumerate(row) if w != 0}, Fraction(b))
             for row, b in zip(weight, bias)]
    return builder.finish(forms, [role] * rows).layers[0]


def compose(first: Network, second: Network) -> Network:
    """Return second o first with first's last affine layer merged into second's first (Lemma 2.8).

    With first's last layer x -> (A x + a) / 2^e and second's first y -> (B y + b) / 2^f, the merged
    layer is x -> (B A x + B a + 2^e b) / 2^(e+f), so depth is L1 + L2 - 1 and no neuron is added.
    """
    if first.output_dim != second.input_dim:
        raise ValueError(f"cannot compose: the first network has {first.output_dim} outputs, "
                         f"the second {second.input_dim} inputs")
    last, head = first.layers[-1], second.layers[0]
    weight = _integer_product(head.weight, last.weight)
    bias = _integer_product(head.weight, np.asarray(last.bias).reshape(-1, 1)).reshape(-1)
    bias = np.asarray(bias, dtype=object) + np.asarray(head.bias, dtype=object) * (1 << last.exponent)
    exponent = last.exponent + head.exponent
    weight, bias, exponent = _reduce_layer(np.asarray(weight, dtype=object), bias, exponent)
    merged = AffineLayer(integer_array(weight).reshape(weight.shape), integer_array(bias).reshape(bias.shape),
                         exponent, list(head.roles))
    return Network(first.layers[:-1] + [merged] + second.layers[1:], first.input_dim)


def _integer_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left = np.asarray(left)
    right = np.asarray(right)
    if left.dtype == np.int64 and right.dtype == np.int64:
        bound = (int(np.abs(left).max(initial=0)) * int(np.abs(right).max(initial=0)) * max(1, left.shape[1]))
        if bound < 2**62:
            return left @ right
    return np.asarray(left, dtype=object) @ np.asarray(right, dtype=object)


def _reduce_layer(weight: np.ndarray, bias: np.ndarray, exponent: int) -> tuple[np.ndarray, np.ndarray, int]:
    values = [int(v) for v in weight.ravel()] + [int(v) for v in bias.ravel()]
    common = 0
    for value in values:
        common = math.gcd(common, value)
    shift = 0
    while exponent - shift > 0 and common and common % (1 << (shift + 1)) == 0:
        shift += 1
    if shift:
        weight = np.array([int(v) >> shift for v in weight.ravel()], dtype=object).reshape(weight.shape)
        bias = np.array([int(v) >> shift for v in bias.ravel()], dtype=object).reshape(bias.shape)
    return weight, bias, exponent - shift


# ---------------------------------------------------------------- stages


@dataclass(eq=False)
class Stage:
    """One stage of a composed generator: a map R^input_dim -> R^output_dim lowered to a network.

    ``input_dim`` is None for a stage applied coordinatewise (h_xi), whose width follows its input.
    """

    name: str
    location: SourceLocation | None = field(default=None, kw_only=True)

    kind = "stage"
    input_dim = None

    def output_dim(self, input_dim: int) -> int:
        raise NotImplementedError

    def lower(self, input_dim: int) -> Network:
        raise NotImplementedError

    def reference(self, values: np.ndarray) -> np.ndarray:
        """Evaluate the stage's formula on an object array of Fractions [N, input_dim], exactly."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind}


@dataclass(eq=False)
class InputGadget(Stage):
    """h_xi on every coordinate (Lemma 3.12): phi(x/xi + 1) - phi(x/xi - 1) - 1 (``form`` paper, or clamped).

    Exact on all of R: -1 for x <= -xi, x/xi between, +1 for x >= xi. Cost per coordinate: two
    hidden neurons, depth 2, weights 1/xi, biases +-1, Lipschitz constant 1/xi. Either ``xi`` is
    given (1/xi a positive integer) or ``eps`` is, and ``choose_xi`` applies Lemma 3.13.
    """

    xi: Fraction | None = None
    eps: Fraction | None = None
    form: str = "paper"
    xi_choice: dict = field(default_factory=dict)

    kind = "h_xi"

    def output_dim(self, input_dim: int) -> int:
        return input_dim

    def choose_xi(self, downstream_lipschitz: float, seed_length: int, output_dim: int) -> Fraction:
        """Pick xi as Lemma 3.13 does, then round 1/xi up to a power of two.

        xi' = eps / (Lambda'' sqrt((2/pi) m^3 d)) and xi = 1/ceil(1/xi'). 1/xi is an integer, so the
        weights are dyadic either way; relucc rounds 1/xi up to 2^T because then x/xi is exact in
        float32 for every float32 x, and a smaller xi only lowers the bound Lambda'' xi sqrt((2/pi) m^3 d).
        """
        if self.xi is not None:
            xi = self.xi
            self.xi_choice = {"given": "xi", "xi": str(xi)}
        else:
            factor = downstream_lipschitz * math.sqrt(2 / math.pi * seed_length**3 * output_dim)
            xi_prime = float(self.eps) / factor
            inverse = math.ceil(1 / xi_prime)
            power = 1 << max(0, (inverse - 1).bit_length())
            xi = Fraction(1, power)
            self.xi_choice = {"given": "eps", "eps": str(self.eps), "xi_prime": xi_prime,
                              "paper_inverse_xi": inverse, "inverse_xi": power,
                              "rounding": "1/xi = ceil(1/xi') rounded up to a power of two, so x/xi is exact "
                                          "in float32; a smaller xi keeps Lemma 3.13's bound"}
        self.xi = xi
        return xi

    def lower(self, input_dim: int) -> Network:
        if self.xi is None:
            raise ValueError("h_xi: xi is not chosen yet; call choose_xi first")
        inverse = 1 / self.xi
        builder = NetworkBuilder(input_dim)
        inputs = builder.inputs()
        if self.form == "clamped":
            return self._lower_clamped(builder, inputs, inverse)
        upper = [x.scale(inverse).shift(1) for x in inputs]
        lower = [x.scale(inverse).shift(-1) for x in inputs]
        units = builder.hidden_layer(upper + lower, ["h_xi"] * (2 * input_dim))
        outputs = [units[i] - units[input_dim + i] - LinearForm.const(1) for i in range(input_dim)]
        return builder.finish(outputs, ["h_xi"] * input_dim)

    def _lower_clamped(self, builder: NetworkBuilder, inputs: list[LinearForm], inverse: Fraction) -> Network:
        """h_xi(x) = 1 - 2 phi(1 - phi(x/(2 xi) + 1/2)): the same function, depth 3, one neuron per hidden layer.

        In float32 the inner value rounds monotonically, so for |x| >= xi the second hidden unit is
        exactly 0 or 1 and h_xi(x) is exactly +-1; the paper's form instead subtracts two values near
        |x|/xi, which float32 rounds.
        """
        first = builder.hidden_layer([x.scale(inverse / 2).shift(Fraction(1, 2)) for x in inputs],
                                     ["h_xi"] * len(inputs))
        second = builder.hidden_layer([LinearForm.const(1) - unit for unit in first], ["h_xi"] * len(inputs))
        return builder.finish([LinearForm.const(1) - unit.scale(2) for unit in second], ["h_xi"] * len(inputs))

    def reference(self, values: np.ndarray) -> np.ndarray:
        xi = self.xi

        def clamp(x):
            if x <= -xi:
                return Fraction(-1)
            if x >= xi:
                return Fraction(1)
            return Fraction(x) / xi

        return np.vectorize(clamp, otypes=[object])(values)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "form": self.form, "xi": str(self.xi), **self.xi_choice}


@dataclass(eq=False)
class PrgStage(Stage):
    """A local function (Goldreich's PRG) on {+-1}^m; its predicate network is the smallest the cost model finds.

    Exact on {-1,+1}^m only; outputs are +-1.
    """

    local_function: LocalFunction | None = None

    kind = "local function"

    @property
    def input_dim(self) -> int:
        return self.local_function.seed_length

    def output_dim(self, input_dim: int) -> int:
        return self.local_function.output_length

    def lower(self, input_dim: int) -> Network:
        from relucc.strategies import lower_predicate

        predicate_network = lower_predicate(self.local_function.predicate).network
        subsets = list(self.local_function.subsets)
        return parallel([predicate_network] * len(subsets), input_dim, subsets)

    def reference(self, values: np.ndarray) -> np.ndarray:
        signs = np.where(np.asarray(values > 0, dtype=bool), 1, -1)
        if np.any(np.asarray(values == 0, dtype=bool)) or np.any(np.abs(values.astype(float)) != 1):
            raise ValueError(f"{self.name}: the local function is defined on {{-1,+1}}^m only")
        table = self.local_function.evaluate(signs)
        return np.vectorize(Fraction, otypes=[object])(table.astype(np.int64))

    def describe(self) -> dict:
        function = self.local_function
        return {"name": self.name, "kind": self.kind, "m": function.seed_length, "d": function.output_length,
                "predicate": function.predicate.name, "arity": function.predicate.arity,
                "subset_seed": function.subset_seed}


@dataclass(eq=False)
class BitsToUnit(Stage):
    """J of Lemma 3.10: output i is <w, y_group_i + 1>, w = (1/4, 1/8, ..., 2^-(n+1)), group i = bits in+1..in+n.

    On {-1,+1}^s the outputs are multiples of 2^-n in [0, 1 - 2^-n], and W1(J(U_n), I_1) <= 2^-n
    (Fact 3.9). r = floor(s / n) outputs; the last s - r n bits are dropped (their weights are zero).
    One affine layer, no hidden neurons, weights in R_(n+1).
    """

    n: int = 1

    kind = "bits_to_unit"

    def output_dim(self, input_dim: int) -> int:
        return input_dim // self.n

    def weights(self, input_dim: int) -> tuple[list[list[Fraction]], list[Fraction]]:
        outputs = self.output_dim(input_dim)
        weight = [[Fraction(0)] * input_dim for _ in range(outputs)]
        bias = []
        for i in range(outputs):
            for j in range(self.n):
                weight[i][i * self.n + j] = Fraction(1, 2 ** (j + 2))
            bias.append(sum(weight[i]))
        return weight, bias

    def lower(self, input_dim: int) -> Network:
        weight, bias = self.weights(input_dim)
        return Network([_layer_from_fractions(weight, bias, "bits_to_unit")], input_dim)

    def reference(self, values: np.ndarray) -> np.ndarray:
        outputs = self.output_dim(values.shape[1])
        result = np.empty((values.shape[0], outputs), dtype=object)
        for i in range(outputs):
            total = np.zeros(values.shape[0], dtype=object)
            for j in range(self.n):
                total = total + (values[:, i * self.n + j] + 1) * Fraction(1, 2 ** (j + 2))
            result[:, i] = total
        return result

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "n": self.n}


@dataclass(eq=False)
class AffineStage(Stage):
    """x -> W x + b with exact dyadic W and b (one affine layer, no hidden neurons)."""

    weight: list[list[Fraction]] = field(default_factory=list)
    bias: list[Fraction] = field(default_factory=list)

    kind = "affine"

    @property
    def input_dim(self) -> int:
        return len(self.weight[0])

    def output_dim(self, input_dim: int) -> int:
        return len(self.weight)

    def lower(self, input_dim: int) -> Network:
        return Network([_layer_from_fractions(self.weight, self.bias, "affine")], input_dim)

    def reference(self, values: np.ndarray) -> np.ndarray:
        weight = np.array(self.weight, dtype=object)
        return values @ weight.T + np.array(self.bias, dtype=object)[None, :]

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "shape": [len(self.weight), self.input_dim]}


@dataclass(eq=False)
class PushforwardStage(Stage):
    """An MLP H(x) = W_L sigma(... sigma(W_1 x + b_1) ...) + b_L with sigma ReLU or leaky ReLU psi_lambda.

    psi_lambda(z) = (1 - lambda) phi(z) - lambda phi(-z) takes two ReLU neurons per unit, and the
    (1 - lambda, -lambda) combination merges into the next affine layer. ``real_layers`` contains the
    weights as given (float64, or Fractions when exact); ``layers`` the dyadic weights actually
    compiled, rounded to the nearest multiple of 2^-tau when the given ones are not dyadic.
    """

    real_layers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    leaky: Fraction | None = None
    tau: int | None = None
    eps: Fraction | None = None
    origin: str = ""
    layers: list[tuple[list[list[Fraction]], list[Fraction]]] = field(default_factory=list)
    quantisation: dict = field(default_factory=dict)

    kind = "pushforward"

    @property
    def input_dim(self) -> int:
        return int(np.asarray(self.real_layers[0][0]).shape[1])

    def output_dim(self, input_dim: int) -> int:
        return int(np.asarray(self.real_layers[-1][0]).shape[0])

    def quantise(self) -> None:
        """Round the weights to R_tau (tau given, or the least tau meeting ``eps``) and record the error bound."""
        if self.tau is None and self.eps is None:
            self.layers = [(_fraction_matrix(w), _fraction_vector(b)) for w, b in self.real_layers]
            self.quantisation = {"tau": None, "error_bound": 0.0, "method": "weights are dyadic as given"}
            return
        if self.tau is not None:
            tau = self.tau
        else:
            tau = next((t for t in range(1, MAX_TAU + 1) if self.error_bound(t) <= float(self.eps)), None)
            if tau is None:
                raise ValueError(f"no tau up to {MAX_TAU} brings the quantisation error below eps = {self.eps}")
        self.tau = tau
        self.layers = [(_round_matrix(w, tau), _round_vector(b, tau)) for w, b in self.real_layers]
        self.quantisation = {"tau": tau, "error_bound": self.error_bound(tau), "eps": str(self.eps) if self.eps else None,
                             "domain": f"[0,1]^{self.input_dim}",
                             "method": "sup over x in [0,1]^r of ||H(x) - H_tau(x)||_2 <= e_L, with e_0 = 0, "
                                       "e_i = ||W~_i||_2 e_(i-1) + ||W_i - W~_i||_F A_(i-1) + ||b_i - b~_i||_2, "
                                       "A_0 = sqrt(r), A_i = ||W_i||_2 A_(i-1) + ||b_i||_2 (activations are "
                                       "1-Lipschitz and fix 0); norms in float64 with a relative margin"}

    def error_bound(self, tau: int) -> float:
        """Upper bound on sup_{x in [0,1]^r} ||H(x) - H_tau(x)||_2 for weights rounded to multiples of 2^-tau."""
        margin = 1 + 1e-9
        error = 0.0
        activation = math.sqrt(self.input_dim)
        for weight, bias in self.real_layers:
            weight = np.asarray(weight, dtype=np.float64)
            bias = np.asarray(bias, dtype=np.float64)
            rounded = np.round(weight * 2.0**tau) / 2.0**tau
            rounded_bias = np.round(bias * 2.0**tau) / 2.0**tau
            difference = float(np.linalg.norm(weight - rounded)) * margin
            bias_difference = float(np.linalg.norm(bias - rounded_bias)) * margin
            error = spectral_norm_upper(rounded) * error + difference * activation + bias_difference
            activation = spectral_norm_upper(weight) * activation + float(np.linalg.norm(bias)) * margin
        return error * margin

    def lower(self, input_dim: int) -> Network:
        if not self.layers:
            self.quantise()
        builder = NetworkBuilder(input_dim)
        values = builder.inputs()
        for index, (weight, bias) in enumerate(self.layers):
            preactivations = [_affine_form(row, b, values) for row, b in zip(weight, bias)]
            if index == len(self.layers) - 1:
                return builder.finish(preactivations, ["pushforward"] * len(preactivations))
            if self.leaky is None:
                values = builder.hidden_layer(preactivations, ["relu"] * len(preactivations))
                continue
            width = len(preactivations)
            units = builder.hidden_layer(preactivations + [-form for form in preactivations],
                                         ["leaky_relu"] * (2 * width))
            values = [units[j].scale(1 - self.leaky) - units[width + j].scale(self.leaky) for j in range(width)]
        raise ValueError("a pushforward network needs at least one layer")

    def reference(self, values: np.ndarray) -> np.ndarray:
        for index, (weight, bias) in enumerate(self.layers):
            values = values @ np.array(weight, dtype=object).T + np.array(bias, dtype=object)[None, :]
            if index < len(self.layers) - 1:
                values = np.vectorize(self.activation, otypes=[object])(values)
        return values

    def activation(self, value: Fraction) -> Fraction:
        """phi(z), or psi_lambda(z) = z/2 + (1/2 - lambda)|z|: (1 - lambda) z for z >= 0, lambda z below."""
        if self.leaky is None:
            return max(value, Fraction(0))
        return (1 - self.leaky) * value if value >= 0 else self.leaky * value

    def describe(self) -> dict:
        widths = [self.input_dim] + [int(np.asarray(w).shape[0]) for w, _ in self.real_layers]
        return {"name": self.name, "kind": self.kind, "origin": self.origin, "widths": widths,
                "activation": "relu" if self.leaky is None else f"leaky relu, lambda = {self.leaky}",
                "quantisation": self.quantisation}


def _affine_form(row: list[Fraction], bias: Fraction, values: list[LinearForm]) -> LinearForm:
    form = LinearForm.const(bias)
    for coefficient, value in zip(row, values):
        if coefficient:
            form = form + value.scale(coefficient)
    return form


def _fraction_matrix(matrix) -> list[list[Fraction]]:
    return [[Fraction(v) for v in row] for row in np.asarray(matrix, dtype=object).tolist()]


def _fraction_vector(vector) -> list[Fraction]:
    return [Fraction(v) for v in np.asarray(vector, dtype=object).tolist()]


def _round_matrix(matrix, tau: int) -> list[list[Fraction]]:
    scaled = np.round(np.asarray(matrix, dtype=np.float64) * 2.0**tau)
    return [[Fraction(int(v), 2**tau) for v in row] for row in scaled.tolist()]


def _round_vector(vector, tau: int) -> list[Fraction]:
    scaled = np.round(np.asarray(vector, dtype=np.float64) * 2.0**tau)
    return [Fraction(int(v), 2**tau) for v in scaled.tolist()]


def random_leaky_network(name: str, widths: list[int], leaky: Fraction, seed: int, tau: int | None,
                         eps: Fraction | None, location: SourceLocation | None = None) -> PushforwardStage:
    """Draw the random expansive leaky-ReLU network of Lemma 2.17: W_i in R^(k_i x k_(i-1)), entries N(0, 1/k_i).

    The weights are drawn by ``np.random.default_rng(seed)`` as
    ``rng.normal(0, 1/sqrt(k_i), size=(k_i, k_(i-1)))`` for i = 1..L in turn; there are no biases,
    and psi_lambda follows every layer but the last.
    """
    rng = np.random.default_rng(seed)
    layers = []
    for previous, width in zip(widths[:-1], widths[1:]):
        layers.append((rng.normal(0.0, 1 / math.sqrt(width), size=(width, previous)), np.zeros(width)))
    return PushforwardStage(name, real_layers=layers, leaky=leaky, tau=tau, eps=eps,
                            origin=f"random expansive leaky-ReLU network (Lemma 2.17), seed {seed}",
                            location=location)


# ---------------------------------------------------------------- float32 error bound


def float32_error_bound(network: Network, low: np.ndarray, high: np.ndarray,
                        input_precision: int | None = None) -> np.ndarray:
    """Bound |float32 evaluation - exact value| per output, for float32 inputs in the box [low, high].

    Every weight must be a float32 value. While the inputs of a layer are exact multiples of 2^-p
    (``input_precision`` p for the network's input, None when unknown) and every partial sum fits
    in 24 significant bits, float32 computes the layer exactly. Past that, a dot product of length n
    in any order, with or without fused multiply-add, errs by at most gamma_n sum |w_j x_j|, gamma_n =
    n u / (1 - n u), u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1);
    the input error e propagates as |W| e and ReLU is 1-Lipschitz. |x| is bounded by interval
    arithmetic over the box; sums are formed in float64 and enlarged by 1e-12 relative.
    """
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    error = np.zeros_like(low)
    precision = input_precision
    for index, layer in enumerate(network.layers):
        weight, bias = layer.weight_float(), layer.bias_float()
        absolute = np.abs(weight)
        magnitude = np.maximum(np.abs(low), np.abs(high))
        partial_sums = absolute @ magnitude + np.abs(bias)
        if precision is not None:
            precision += layer.exponent
            if float(partial_sums.max(initial=0.0)) * 2.0**precision >= 2.0**24:
                precision = None
        if precision is not None:
            error = np.zeros(layer.shape[0])
        else:
            count = layer.shape[1] + 1
            gamma = count * FLOAT32_UNIT_ROUNDOFF / (1 - count * FLOAT32_UNIT_ROUNDOFF)
            error = (absolute @ error + gamma * (absolute @ (magnitude + error) + np.abs(bias))) * (1 + 1e-12)
        positive, negative = np.maximum(weight, 0), np.minimum(weight, 0)
        new_low = positive @ low + negative @ high + bias
        new_high = positive @ high + negative @ low + bias
        if index < len(network.layers) - 1:
            new_low, new_high = np.maximum(new_low, 0), np.maximum(new_high, 0)
        low, high = new_low, new_high
    return error


def check_float32_weights(network: Network) -> None:
    """Raise ValueError unless every weight and bias is exactly a float32 value."""
    for index, layer in enumerate(network.layers):
        for value in list(np.asarray(layer.weight).ravel()) + list(np.asarray(layer.bias).ravel()):
            if value and not float32_representable(int(value), layer.exponent):
                raise ValueError(f"layer {index + 1} has the weight {int(value)}/2^{layer.exponent}, which is not "
                                 f"a float32 value; choose a smaller tau")


def stage_figures(network: Network) -> dict:
    """Depth, size, Lipschitz bound and tau of one stage's network."""
    figures = certify_network(network, None, f"[-1,1]^{network.input_dim}")
    return {"depth": figures["depth"], "size": figures["size"], "size_per_output": figures["size_per_output"],
            "lipschitz_bound": figures["lipschitz_bound"]["value"], "bit_complexity": figures["bit_complexity"],
            "inputs": network.input_dim, "outputs": network.output_dim}
