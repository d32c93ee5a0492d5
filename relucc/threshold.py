"""Threshold-gate gadgets: one hidden ReLU layer per gate on ±1 inputs (Lemma 3.12, Lemma 4.4).

Lemma 3.12 of Chen, Li, Li and Meka (ICLR 2022) writes the clamp
h_xi(t) = phi(t/xi + 1) - phi(t/xi - 1) - 1, which is -1 for t <= -xi, t/xi between and +1 for
t >= xi, with two ReLUs. Equation (14) in the proof of Lemma 4.4 uses it to compute a threshold
gate sgn(<w,x> - b) on Boolean inputs: once xi' is at most the gate's margin, h_xi' of the
(shifted) pre-activation is exactly ±1. Every gate of a leveled circuit becomes a ``Gadget``:

    out = c_0 + sum_j c_j phi(<A_j, x> + a_j)          (one hidden layer, x in {±1}^k)

so a level of gates is one hidden ReLU layer and consecutive levels merge their affine maps.
XOR and XNOR are not threshold gates and get a parity gadget of their own; relays (and
folded NOT/BUF gates) get a one-neuron gadget.

``build_checked_gadget`` builds a gate's gadget and checks it exhaustively on its whole domain,
once per distinct ``GateSpec`` (cached), so a big circuit costs one check per gadget kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from relucc.boolean import Gate, evaluate_gate, input_points
from relucc.dyadic import is_dyadic, to_numerators
from relucc.errors import CheckFailure, Diagnostic

# Gate kinds lowered through the threshold gadget, with their canonical form in ``threshold_form``.
THRESHOLD_KINDS = ("and", "or", "nand", "nor", "maj", "threshold")
# Kinds whose margin is known in closed form when every input is a distinct signal.
CLOSED_FORM_KINDS = ("and", "or", "nand", "nor", "maj")
PARITY_KINDS = ("xor", "xnor")
RELAY_KINDS = ("buf", "not")

# Gadgets with at most this many distinct inputs are checked on every point of {±1}^k; wider
# ones on every achievable value of the weighted sum they depend on.
EXHAUSTIVE_GADGET_FAN_IN = 16
# The exact margin keeps the set of achievable sums <w, x>; more distinct sums than this are
# rejected, because the margin could not be computed exactly in reasonable memory.
MAX_DISTINCT_SUMS = 2**20


@dataclass(frozen=True)
class GateSpec:
    """A gate's function on its k distinct input signals, the key of the gadget cache.

    ``occurrence[i]`` is the distinct-signal index that the gate's input i reads and
    ``negated[i]`` whether it is read negated (the leveling folds NOT gates into these).
    """

    kind: str
    fan_in: int
    occurrence: tuple[int, ...]
    negated: tuple[bool, ...]
    weights: tuple[Fraction, ...] | None = None
    bias: Fraction | None = None
    value: int | None = None

    def reference(self, points: np.ndarray) -> np.ndarray:
        """Evaluate the gate with the Boolean IR's semantics on rows of a ±1 array [N, k]."""
        operands = [(points[:, index] > 0) ^ negated for index, negated in zip(self.occurrence, self.negated)]
        gate = Gate("gadget", self.kind, tuple(f"x{i}" for i in self.occurrence), weights=self.weights,
                    bias=self.bias, value=self.value)
        result = evaluate_gate(gate, operands, points.shape[0])
        return np.where(result, 1, -1).astype(np.int64)


@dataclass(frozen=True)
class ThresholdMargin:
    """Where z = <w,x> - b falls over x in {±1}^k, with sgn(0) = +1.

    ``above`` is the least z >= 0 (None when z < 0 everywhere), ``below`` the least -z over
    z < 0 (None when z >= 0 everywhere). ``margin`` is the least non-zero |z|, and ``method``
    records how the figures were obtained (closed form or exact enumeration of achievable sums).
    """

    above: Fraction | None
    below: Fraction | None
    method: str

    @property
    def constant(self) -> int | None:
        """The gate's constant value when z keeps one sign on the whole cube, else None."""
        if self.below is None:
            return 1
        if self.above is None:
            return -1
        return None

    @property
    def margin(self) -> Fraction | None:
        values = [v for v in (self.above, self.below) if v is not None and v != 0]
        return min(values) if values else None

    @property
    def gap(self) -> Fraction:
        """above + below: the width of the interval (-below, above) that contains no value of z."""
        return self.above + self.below


@dataclass(frozen=True, eq=False)
class Gadget:
    """One hidden ReLU layer: out(x) = output_bias + sum_j output_weights[j] * phi(<A_j, x> + a_j).

    ``input_weights`` is A (one row per hidden neuron, one column per distinct input) and
    ``input_biases`` is a. ``role`` names the gadget kind in the emitted model's layer names.
    """

    role: str
    fan_in: int
    input_weights: tuple[tuple[Fraction, ...], ...]
    input_biases: tuple[Fraction, ...]
    output_weights: tuple[Fraction, ...]
    output_bias: Fraction
    margin: ThresholdMargin | None = None
    xi: Fraction | None = None

    @property
    def neurons(self) -> int:
        return len(self.input_biases)

    def evaluate(self, points: np.ndarray) -> tuple[np.ndarray, int, np.ndarray, int]:
        """Evaluate exactly on rows of an integer array [N, k].

        Returns (output numerators, output exponent, hidden numerators, hidden exponent):
        the outputs are ``numerators / 2**exponent``, and likewise the hidden activations.
        """
        rows = [value for row in self.input_weights for value in row] + list(self.input_biases)
        numerators, hidden_exponent = to_numerators(rows)
        count = self.neurons * self.fan_in
        weight = _integers(numerators[:count]).reshape(self.neurons, self.fan_in)
        bias = _integers(numerators[count:])
        points = _integers(points)
        hidden = np.maximum(points @ weight.T + bias[None, :], 0) if self.neurons else \
            np.zeros((points.shape[0], 0), dtype=np.int64)

        readout, readout_exponent = to_numerators(list(self.output_weights) + [self.output_bias])
        readout = _integers(readout)
        output = hidden @ readout[:-1] + readout[-1] * (1 << hidden_exponent)
        return output, hidden_exponent + readout_exponent, hidden, hidden_exponent

    def max_abs_hidden(self, points: np.ndarray) -> np.ndarray:
        """Return each hidden neuron's largest activation over the given points, as floats."""
        _, _, hidden, exponent = self.evaluate(points)
        if not self.neurons:
            return np.zeros(0)
        return np.max(np.abs(hidden), axis=0).astype(np.float64) / 2.0**exponent


def _integers(values) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.size == 0 or max(abs(int(v)) for v in array.ravel()) < 2**31:
        return array.astype(np.int64)
    return array


@dataclass(frozen=True, eq=False)
class CheckedGadget:
    """A gadget with the result of its exhaustive check and its activation bound on the domain."""

    spec: GateSpec
    gadget: Gadget
    points_checked: int
    check_method: str
    max_abs_hidden: np.ndarray


# ---------------------------------------------------------------------------------------------
# Margins
# ---------------------------------------------------------------------------------------------


def closed_form_margin(kind: str) -> ThresholdMargin:
    """Margins of AND, OR, NAND, NOR and MAJ on k distinct inputs, in the form of ``threshold_form``.

    With s = sum of the k literals, AND is sgn(s - (k-1)), OR sgn(s + (k-1)), NAND
    sgn(-s + (k-1)), NOR sgn(-s - (k-1)), MAJ sgn(s) for odd k and sgn(s - 1) for even k.
    s has the parity of k, so z is an odd integer: it is never 0, and both z = +1 and z = -1
    occur (AND: s = k and s = k - 2; MAJ: s = ±1 or s = 2, 0). So above = below = margin = 1.
    """
    if kind not in CLOSED_FORM_KINDS:
        raise ValueError(f"no closed-form margin for {kind!r}")
    return ThresholdMargin(Fraction(1), Fraction(1), f"closed form for {kind}: z is an odd integer")


def achievable_sums(weights: list[int]) -> np.ndarray:
    """Return the sorted distinct values of <w, x> over x in {±1}^k, for integer weights.

    Dynamic programming over the weights: the set after weight w is (S + w) union (S - w).
    Raises ValueError when the set grows past MAX_DISTINCT_SUMS.
    """
    sums = np.zeros(1, dtype=object if _needs_objects(weights) else np.int64)
    for weight in weights:
        if weight == 0:
            continue
        # Both halves are sorted, so a stable sort (timsort) merges them in linear time.
        merged = np.concatenate([sums - abs(weight), sums + abs(weight)])
        merged.sort(kind="stable")
        keep = np.ones(merged.size, dtype=bool)
        keep[1:] = merged[1:] != merged[:-1]
        sums = merged[keep]
        if sums.size > MAX_DISTINCT_SUMS:
            raise ValueError(f"more than {MAX_DISTINCT_SUMS} distinct weighted sums")
    return sums


def _needs_objects(weights: list[int]) -> bool:
    return sum(abs(w) for w in weights) >= 2**62


def exact_margin(weights: tuple[Fraction, ...], bias: Fraction) -> ThresholdMargin:
    """Compute a threshold gate's margin exactly from its dyadic weights and bias.

    Scales everything to integers by the common power-of-two denominator, enumerates the
    achievable sums (``achievable_sums``) and reads off the least z >= 0 and the least -z < 0.
    """
    numerators, exponent = to_numerators(list(weights) + [bias])
    sums = achievable_sums(numerators[:-1])
    z = sums - numerators[-1]
    scale = Fraction(1, 1 << exponent)
    non_negative = z[z >= 0]
    negative = z[z < 0]
    above = Fraction(int(non_negative.min())) * scale if non_negative.size else None
    below = Fraction(int(-negative.max())) * scale if negative.size else None
    return ThresholdMargin(above, below, f"exact: {sums.size} achievable sums enumerated")


# ---------------------------------------------------------------------------------------------
# Canonical forms of gate kinds
# ---------------------------------------------------------------------------------------------


def literal_signs(spec: GateSpec) -> list[int]:
    """Return the sum of literal signs per distinct input: the input's coefficient in s = sum of literals."""
    signs = [0] * spec.fan_in
    for index, negated in zip(spec.occurrence, spec.negated):
        signs[index] += -1 if negated else 1
    return signs


def threshold_form(spec: GateSpec) -> tuple[tuple[Fraction, ...], Fraction]:
    """Return (w, b) over the distinct inputs with gate = sgn(<w, x> - b) on {±1}^k.

    A negated input x-bar = -x folds into the sign of its weight, and repeated inputs add up.
    """
    count = len(spec.occurrence)
    if spec.kind == "threshold":
        merged = [Fraction(0)] * spec.fan_in
        for weight, index, negated in zip(spec.weights, spec.occurrence, spec.negated):
            merged[index] += -weight if negated else weight
        return tuple(merged), Fraction(spec.bias)
    signs = [Fraction(s) for s in literal_signs(spec)]
    if spec.kind == "and":
        return tuple(signs), Fraction(count - 1)
    if spec.kind == "or":
        return tuple(signs), Fraction(-(count - 1))
    if spec.kind == "nand":
        return tuple(-s for s in signs), Fraction(-(count - 1))
    if spec.kind == "nor":
        return tuple(-s for s in signs), Fraction(count - 1)
    if spec.kind == "maj":
        return tuple(signs), Fraction(1 if count % 2 == 0 else 0)
    raise ValueError(f"{spec.kind!r} is not a threshold gate kind")


def gate_margin(spec: GateSpec) -> ThresholdMargin:
    """Return the margin of a threshold-family gate: closed form when it applies, else exact."""
    distinct = len(set(spec.occurrence)) == len(spec.occurrence)
    if spec.kind in CLOSED_FORM_KINDS and distinct:
        return closed_form_margin(spec.kind)
    weights, bias = threshold_form(spec)
    return exact_margin(weights, bias)


# ---------------------------------------------------------------------------------------------
# Gadgets
# ---------------------------------------------------------------------------------------------


def largest_power_of_two_at_most(value: Fraction) -> Fraction:
    """Return the largest 2**e (e any integer) with 2**e <= value, for value > 0."""
    exponent = value.numerator.bit_length() - value.denominator.bit_length()
    candidate = Fraction(2) ** exponent
    while candidate > value:
        candidate /= 2
    while candidate * 2 <= value:
        candidate *= 2
    return candidate


def threshold_gadget(weights: tuple[Fraction, ...], bias: Fraction, margin: ThresholdMargin) -> Gadget:
    """Equation (14) of Lemma 4.4: sgn(<w,x> - b) = h_xi'(z + c) on x in {±1}^k, z = <w,x> - b.

    h_xi(t) = phi(t/xi + 1) - phi(t/xi - 1) - 1 (Lemma 3.12) is exactly ±1 when |t| >= xi. With
    p = ``margin.above`` (least z >= 0) and q = ``margin.below`` (least -z over z < 0), the shift
    c = (q - p)/2 moves the empty interval (-q, p) to be symmetric about 0, so |z + c| >= (p+q)/2
    on the whole cube, z = 0 included (sgn(0) = +1 lands on +1). xi' is the largest power of two
    <= (p+q)/2, so 1/xi' and every weight w/xi' stay dyadic. Since h_xi is odd, the gadget may
    compute -h_xi'(-(z + c)) instead, whichever keeps the activations smaller.

    Domain: {±1}^k, exact everywhere. Cost: 2 neurons, 1 hidden layer. Weights w/xi', biases
    (c - b)/xi' ± 1, readout (1, -1) and -1. A gate that is constant on the cube (z keeps one
    sign) costs 0 neurons: its output is the constant.
    """
    if margin.constant is not None:
        return constant_gadget(len(weights), margin.constant, margin)
    half_gap = margin.gap / 2
    xi = largest_power_of_two_at_most(half_gap)
    shift = (margin.below - margin.above) / 2
    row = tuple(w / xi for w in weights)
    centre = (shift - bias) / xi
    reach = sum(abs(w) for w in row)
    if reach + centre > reach - centre:
        # h_xi is odd, so -h_xi(-t) computes the same values with the ReLUs facing the side
        # where t reaches less far (OR and NAND), which keeps activations small.
        negated_row = tuple(-w for w in row)
        return Gadget("threshold", len(weights), (negated_row, negated_row), (1 - centre, -1 - centre),
                      (Fraction(-1), Fraction(1)), Fraction(1), margin, xi)
    return Gadget("threshold", len(weights), (row, row), (centre + 1, centre - 1),
                  (Fraction(1), Fraction(-1)), Fraction(-1), margin, xi)


def parity_gadget(signs: list[int], count: int, negate: bool) -> Gadget:
    """XOR (or XNOR when ``negate``) of n literals as a function of s = sum of the literals.

    With t of the n literals True, s = 2t - n, and XOR is +1 exactly when t is odd. On the
    achievable sums s_j = -n + 2j (j = 0..n) the function alternates, so it is the
    piecewise-linear interpolation f(s) = f(s_0) + sum_{j<n} a_j phi(s - s_j), with a_0 the first
    slope (±1) and a_j the change of slope at s_j (±2). ``signs`` gives each distinct input's
    coefficient in s (repeated inputs add up, a negated one counts -1) and ``count`` is n, the
    number of gate inputs.

    Domain: {±1}^k, exact everywhere. Cost: n neurons, 1 hidden layer.
    """
    row = tuple(Fraction(s) for s in signs)

    def value(j: int) -> int:
        # XOR of n literals with j of them True is +1 when j is odd; XNOR is its negation.
        parity = 1 if j % 2 == 1 else -1
        return -parity if negate else parity

    input_biases, output_weights = [], []
    previous_slope = Fraction(0)
    for j in range(count):
        slope = Fraction(value(j + 1) - value(j), 2)
        input_biases.append(Fraction(count - 2 * j))  # phi(s - s_j), s_j = -n + 2j
        output_weights.append(slope - previous_slope)
        previous_slope = slope
    return Gadget("xnor" if negate else "xor", len(signs), tuple(row for _ in range(count)),
                  tuple(input_biases), tuple(output_weights), Fraction(value(0)))


def relay_gadget(sign: int) -> Gadget:
    """Build a relay (BUF) or NOT on one ±1 input: sign * x = sign * (phi(x + 1) - 1).

    Domain: x >= -1, so all of {±1}. Cost: 1 neuron, 1 hidden layer. It carries a signal across
    a level of the leveled circuit (Lemma 2.11), and folded NOT gates cost nothing extra.
    """
    return Gadget("relay", 1, ((Fraction(1),),), (Fraction(1),), (Fraction(sign),), Fraction(-sign))


def constant_gadget(fan_in: int, value: int, margin: ThresholdMargin | None = None) -> Gadget:
    """A gate that is constant on its domain: out = value. Cost: 0 neurons."""
    return Gadget("constant", fan_in, (), (), (), Fraction(value), margin)


def clamp_gadget(xi: Fraction) -> Gadget:
    """h_xi of Lemma 3.12 on one real input: phi(x/xi + 1) - phi(x/xi - 1) - 1.

    Equal to sgn(x) exactly on |x| >= xi (-1 at and below -xi, +1 at and above xi), x/xi between;
    1/xi-Lipschitz. Cost: 2 neurons, 1 hidden layer. The critic form f o h_xi (Lemma 4.4) puts
    one per input in front of the circuit network.
    """
    scale = 1 / xi
    return Gadget("clamp", 1, ((scale,), (scale,)), (Fraction(1), Fraction(-1)),
                  (Fraction(1), Fraction(-1)), Fraction(-1), None, xi)


def build_gadget(spec: GateSpec) -> Gadget:
    """Lower one gate to its gadget (threshold, parity, relay or constant)."""
    if spec.kind == "const":
        return constant_gadget(spec.fan_in, 1 if spec.value > 0 else -1)
    if spec.kind in RELAY_KINDS:
        sign = -1 if (spec.kind == "not") != spec.negated[0] else 1
        return relay_gadget(sign)
    if spec.kind in PARITY_KINDS:
        return parity_gadget(literal_signs(spec), len(spec.occurrence), spec.kind == "xnor")
    if spec.kind in THRESHOLD_KINDS:
        weights, bias = threshold_form(spec)
        return threshold_gadget(weights, bias, gate_margin(spec))
    raise ValueError(f"unknown gate kind {spec.kind!r}")


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def check_gadget(spec: GateSpec, gadget: Gadget) -> CheckedGadget:
    """Check ``gadget`` against the gate's reference on its whole domain; raise CheckFailure if wrong.

    Up to EXHAUSTIVE_GADGET_FAN_IN distinct inputs every point of {±1}^k is evaluated in exact
    integer arithmetic. Wider gadgets are threshold or parity gadgets, whose neurons must all
    read one fixed direction v (checked), so they are evaluated on every achievable value of
    <v, x> instead, which covers the same domain.
    """
    if spec.fan_in <= EXHAUSTIVE_GADGET_FAN_IN:
        points = input_points(spec.fan_in).astype(np.int64)
        expected = spec.reference(points)
        evaluated = gadget
        method = f"exhaustive over {{-1,+1}}^{spec.fan_in}"
    else:
        points, expected, evaluated = _sum_view(spec, gadget)
        method = f"every one of the {points.shape[0]} achievable weighted sums over {{-1,+1}}^{spec.fan_in}"

    output, exponent, _, _ = evaluated.evaluate(points)
    target = np.asarray(expected, dtype=object) * (1 << exponent)
    wrong = np.nonzero(np.asarray(output, dtype=object) != target)[0]
    if wrong.size:
        row = int(wrong[0])
        got = Fraction(int(output[row]), 1 << exponent)
        raise CheckFailure(f"{gadget.role} gadget for a {spec.kind} gate with {spec.fan_in} inputs is wrong "
                           f"at {points[row].tolist()}: expected {int(expected[row]):+d}, computed {got}")
    return CheckedGadget(spec, gadget, int(points.shape[0]), method, evaluated.max_abs_hidden(points))


def _sum_view(spec: GateSpec, gadget: Gadget) -> tuple[np.ndarray, np.ndarray, Gadget]:
    """Return (achievable sums T as a column, expected outputs, the gadget as a function of T)."""
    if spec.kind in PARITY_KINDS:
        direction = tuple(Fraction(s) for s in literal_signs(spec))
        bias = Fraction(0)
    elif spec.kind in THRESHOLD_KINDS:
        direction, bias = threshold_form(spec)
    else:
        raise ValueError(f"{spec.kind} gates have at most one input")
    numerators, exponent = to_numerators(list(direction) + [bias])
    scale = Fraction(1, 1 << exponent)

    ratios = []
    for row in gadget.input_weights:
        ratio = _proportionality(row, direction)
        if ratio is None:
            raise CheckFailure(f"{gadget.role} gadget for a {spec.kind} gate with {spec.fan_in} inputs has a "
                               f"neuron that does not read <v, x> for the gate's direction v")
        ratios.append(ratio)

    sums = achievable_sums(numerators[:-1])
    if spec.kind in PARITY_KINDS:
        true_count = (sums + len(spec.occurrence)) // 2
        odd = true_count % 2 == 1
        expected = np.where(odd != (spec.kind == "xnor"), 1, -1)
    else:
        expected = np.where(sums - numerators[-1] >= 0, 1, -1)
    line = Gadget(gadget.role, 1, tuple((ratio * scale,) for ratio in ratios), gadget.input_biases,
                  gadget.output_weights, gadget.output_bias, gadget.margin, gadget.xi)
    return np.asarray(sums).reshape(-1, 1), expected, line


def _proportionality(row: tuple[Fraction, ...], direction: tuple[Fraction, ...]) -> Fraction | None:
    """Return r with row = r * direction, or None when there is none."""
    pivot = next((i for i, v in enumerate(direction) if v != 0), None)
    if pivot is None:
        return Fraction(0) if all(v == 0 for v in row) else None
    ratio = row[pivot] / direction[pivot]
    if all(v == ratio * d for v, d in zip(row, direction)):
        return ratio
    return None


@lru_cache(maxsize=65536)
def build_checked_gadget(spec: GateSpec) -> CheckedGadget:
    """Build a gate's gadget, drop its dead neurons and check it on its whole domain, once per spec.

    A neuron that is 0 on every point of the domain contributes nothing there, so it is dropped
    and the smaller gadget is checked again. AND, OR, NAND and NOR keep 1 of their 2 neurons:
    AND(x) = phi(s - k + 2) - 1 with s = sum of the k literals.
    """
    checked = check_gadget(spec, build_gadget(spec))
    live = [j for j, peak in enumerate(checked.max_abs_hidden) if peak > 0]
    if len(live) == checked.gadget.neurons:
        return checked
    return check_gadget(spec, keep_neurons(checked.gadget, live))


def keep_neurons(gadget: Gadget, live: list[int]) -> Gadget:
    """Return the gadget restricted to the hidden neurons listed in ``live``."""
    return Gadget(gadget.role, gadget.fan_in, tuple(gadget.input_weights[j] for j in live),
                  tuple(gadget.input_biases[j] for j in live), tuple(gadget.output_weights[j] for j in live),
                  gadget.output_bias, gadget.margin, gadget.xi)


def check_clamp_gadget(xi: Fraction) -> CheckedGadget:
    """Check h_xi on |x| >= xi (±xi, ±1, ±(xi + 2^-20) and ±2^10) and x/xi on a grid of (-xi, xi)."""
    gadget = clamp_gadget(xi)
    fine = Fraction(1, 1 << 20)
    outside = [xi, 1, xi + fine, Fraction(1 << 10)]
    inside = [xi * Fraction(j, 8) for j in range(-7, 8)]
    values = outside + [-v for v in outside] + inside
    expected = [Fraction(1)] * len(outside) + [Fraction(-1)] * len(outside) + [v / xi for v in inside]
    numerators, exponent = to_numerators(values)
    output, output_exponent, hidden, hidden_exponent = _scaled_input_gadget(gadget, exponent).evaluate(
        np.array(numerators, dtype=object).reshape(-1, 1))
    for value, got, want in zip(values, output, expected):
        if Fraction(int(got), 1 << output_exponent) != want:
            raise CheckFailure(f"clamp gadget h_xi with xi = {xi} gives {Fraction(int(got), 1 << output_exponent)} "
                               f"at x = {value}, expected {want}")
    return CheckedGadget(GateSpec("clamp", 1, (0,), (False,)), gadget, len(values),
                         "sample points of |x| >= xi and a grid of (-xi, xi), exact arithmetic",
                         np.zeros(2))


def _scaled_input_gadget(gadget: Gadget, exponent: int) -> Gadget:
    # The same gadget reading integer inputs X = x * 2**exponent.
    scale = Fraction(1, 1 << exponent)
    rows = tuple(tuple(v * scale for v in row) for row in gadget.input_weights)
    return Gadget(gadget.role, gadget.fan_in, rows, gadget.input_biases, gadget.output_weights,
                  gadget.output_bias, gadget.margin, gadget.xi)


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------


def threshold_problems(gate: Gate) -> list[Diagnostic]:
    """Return the problems that keep a threshold gate from being lowered exactly (empty when fine)."""
    if gate.kind != "threshold":
        return []
    hint = "threshold weights and biases must be dyadic rationals (multiples of a power of 1/2), such as 3, 1/4 or 0.375"
    if gate.weights is None or gate.bias is None or len(gate.weights) != len(gate.inputs):
        return [Diagnostic(f"threshold gate {gate.name} needs one weight per input and a bias", gate.location)]
    problems = []
    for index, weight in enumerate(gate.weights):
        if not is_dyadic(Fraction(weight)):
            problems.append(Diagnostic(f"threshold gate {gate.name}: weight {weight} of input "
                                       f"{gate.inputs[index]} is not a dyadic rational", gate.location, hint))
    if not is_dyadic(Fraction(gate.bias)):
        problems.append(Diagnostic(f"threshold gate {gate.name}: bias {gate.bias} is not a dyadic rational",
                                   gate.location, hint))
    return problems


def critic_xi_problem(xi: Fraction) -> str | None:
    """Return why ``xi`` cannot be the critic's clamp width, or None when it can.

    Lemma 3.12 needs 1/xi dyadic; xi itself dyadic keeps the first layer's biases dyadic, and
    both hold exactly for powers of two. xi <= 1 keeps the Boolean points ±1 in the domain.
    """
    if xi <= 0 or xi > 1:
        return f"xi = {xi} is outside (0, 1]"
    if xi.numerator != 1 or not is_dyadic(xi):
        return f"xi = {xi} is not a power of two"
    return None


def gadget_cost_summary(checked: list[CheckedGadget]) -> dict[str, dict[str, int]]:
    """Count gadgets and neurons per role, for the certificate."""
    summary: dict[str, dict[str, int]] = {}
    for item in checked:
        entry = summary.setdefault(item.gadget.role, {"gates": 0, "neurons": 0})
        entry["gates"] += 1
        entry["neurons"] += item.gadget.neurons
    return summary

