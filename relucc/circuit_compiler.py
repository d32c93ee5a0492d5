"""Circuit lowering: leveled threshold circuits and netlists to exact ReLU networks (Lemma 4.4).

``compile_circuit`` reads as its stages: validate the gates, level the circuit (Lemma 2.11,
inverters folded into the consumers' weights), lower every level of gates to one hidden ReLU
layer of gadgets (``relucc.threshold``), certify the network, and wrap it for emission. A
leveled circuit of depth D becomes a network of D + 1 affine layers (D hidden ReLU layers),
because NetworkBuilder merges each level's readout into the next level's input map.

With ``critic_xi`` the network is the critic f o h_xi of Lemma 4.4: a first hidden layer applies
h_xi (Lemma 3.12) to every real input, so the network equals f(sgn(x)) on every x with all
|x_i| >= xi, and is a Lipschitz function of x everywhere.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx

from relucc import emit
from relucc.boolean import Circuit, input_points
from relucc.errors import CheckFailure, Diagnostic, SourceLocation, UsageError
from relucc.leveling import LeveledCircuit, LeveledGate, level_circuit
from relucc.network import LinearForm, Network, NetworkBuilder
from relucc.sparse_network import (
    SPARSE_THRESHOLD,
    SparseNetworkBuilder,
    dense_weight_count,
    densify_network,
    is_sparse,
    padded_entry_count,
)
from relucc.threshold import (
    PARITY_KINDS,
    RELAY_KINDS,
    THRESHOLD_KINDS,
    CheckedGadget,
    GateSpec,
    build_checked_gadget,
    check_clamp_gadget,
    critic_xi_problem,
    threshold_problems,
)

logger = logging.getLogger(__name__)

# The dense layout is one Gemm per level; the sparse one (relucc.sparse_layout) gathers each
# neuron's inputs and is the default above SPARSE_THRESHOLD dense weights.
LAYOUTS = ("dense", "sparse")
# ``relucc check`` enumerates {±1}^n up to 24 inputs when 2^n times the layout's weights is at most
# 2^38 multiply-adds, about a minute of onnxruntime on 2 CPU cores (an estimate).
EXHAUSTIVE_INPUTS = 24
EXHAUSTIVE_MULTIPLY_ADDS = 2**38
# Circuits with at most this many inputs are also checked end to end in exact arithmetic at
# compile time, and ``relucc check`` runs onnxruntime on the cube up to ``exhaustive_limit`` inputs.
EXACT_CHECK_INPUTS = 16
# Random points of the critic's domain {|x_i| >= xi} evaluated in exact arithmetic at compile time.
CRITIC_EXACT_SAMPLES = 512
# Threshold kinds as per-occurrence weights and bias: gate = sgn(sum_i w_i * literal_i - b).
_UNIT_FORMS = {
    "and": (1, lambda n: n - 1), "or": (1, lambda n: -(n - 1)), "nand": (-1, lambda n: -(n - 1)),
    "nor": (-1, lambda n: n - 1), "maj": (1, lambda n: 1 if n % 2 == 0 else 0),
}


@dataclass(eq=False)
class LoweredCircuit:
    """The network of a leveled circuit, with what certification needs from the gadgets.

    ``activation_bounds[i]`` bounds every neuron of hidden layer i + 1 on the exact domain
    (from each gadget's exhaustive check, since every gadget input is exactly ±1 there), and
    ``lipschitz_rows[i]`` lists, per gate of level i + 1, a row r with |gate(x) - gate(y)| <=
    |<r, x - y>| for real inputs (Lemma 3.12: h_xi is 1/xi-Lipschitz).
    """

    network: Network
    gadgets: list[CheckedGadget]
    activation_bounds: list[np.ndarray]
    lipschitz_rows: list[list[dict[int, Fraction]]]
    level_widths: list[int]


@dataclass(eq=False)
class CompiledCircuit:
    """A circuit (or its critic form f o h_xi) compiled to a ReLU network, kept sparse when it is big."""

    name: str
    source_path: str | None
    circuit: Circuit
    leveled: LeveledCircuit
    lowered: LoweredCircuit
    critic_xi: Fraction | None
    certificate: dict = field(default_factory=dict)

    input_name = "x"
    default_samples = 100_000

    @property
    def layouts(self) -> tuple[str, ...]:
        """The available layouts, default first: sparse when the network is kept sparse, else dense."""
        return ("sparse", "dense") if is_sparse(self.network) else LAYOUTS

    @property
    def exhaustive_limit(self) -> int:
        """Inputs are enumerated up to this length; longer ones get ``default_samples`` random points.

        24, unless enumerating 2^n inputs would cost more than EXHAUSTIVE_MULTIPLY_ADDS through
        the default layout's weights: EPFL sin (24 inputs, 3M dense weights) would need 5 * 10^13.
        """
        if is_sparse(self.network):
            weights = padded_entry_count(self.network)
        else:
            weights = dense_weight_count(self.network)
        affordable = int(math.log2(EXHAUSTIVE_MULTIPLY_ADDS / max(weights, 1)))
        return max(0, min(EXHAUSTIVE_INPUTS, affordable))

    @property
    def network(self) -> Network:
        return self.lowered.network

    @property
    def input_length(self) -> int:
        return len(self.circuit.inputs)

    @property
    def output_length(self) -> int:
        return len(self.circuit.outputs)

    def reference(self, points: np.ndarray) -> np.ndarray:
        """Evaluate the source circuit on sgn(points) (sgn(0) = +1), the reference for checks."""
        signs = np.where(np.asarray(points) >= 0, 1, -1).astype(np.int8)
        return self.circuit.evaluate(signs)

    def to_onnx(self, layout: str | None = None, opset: int = emit.OPSET, encoding: str = "pm1") -> onnx.ModelProto:
        """Emit the model in ``layout`` (default: ``layouts[0]``); ``encoding`` 01 folds x = 2u - 1 and y = (v + 1)/2 in."""
        from relucc.encoding import check_encoding, encode_network, encoded_certificate, encoded_figures

        emit.check_opset(opset)
        check_encoding(encoding)
        layout = self.layouts[0] if layout is None else layout
        if layout not in LAYOUTS:
            raise UsageError(f"layout {layout!r} is not available for circuits; use --layout dense or "
                             f"--layout sparse (a circuit has no shared predicate network to gather)")
        if encoding == "pm1":
            return self._model(layout, self.network, self.certificate, self._doc(), opset)
        if self.critic_xi is not None:
            raise UsageError("--encoding 01 does not apply to critics: a critic reads real inputs, "
                             "and h_xi splits them at 0, not at 1/2")
        if is_sparse(self.network):
            # NOTE: the 01 certificate is computed by relucc.certify on dense layers, which big
            # networks cannot afford.
            raise UsageError(f"--encoding 01 is available for circuits whose dense network holds at most "
                             f"{SPARSE_THRESHOLD} weights; {self.name} needs {dense_weight_count(self.network)}; "
                             f"use --encoding pm1")
        network = encode_network(self.network, encoding)
        figures = encoded_figures(network, self.input_length, encoding)
        certificate = encoded_certificate(self.certificate, figures, self.input_length, encoding)
        return self._model(layout, network, certificate, self._doc(encoding), opset)

    def _model(self, layout: str, network: Network, certificate: dict, doc: str, opset: int) -> onnx.ModelProto:
        if layout == "sparse":
            from relucc.sparse_layout import sparse_model

            return sparse_model(network, self.input_name, certificate, doc, opset)
        # The dense layout densifies one layer at a time while it writes the initializers.
        return emit.dense_model(network, self.input_name, certificate, doc, opset)

    def save(self, path: str, layout: str | None = None, opset: int = emit.OPSET, encoding: str = "pm1") -> None:
        emit.save_atomically(self.to_onnx(layout, opset, encoding), path)

    def _doc(self, encoding: str = "pm1") -> str:
        source = Path(self.source_path).name if self.source_path else "<memory>"
        n, outputs = self.input_length, self.output_length
        domain = f"x in {{-1,+1}}^{n} (+1 = True)" if encoding == "pm1" else f"x in {{0,1}}^{n} (1 = True)"
        if self.critic_xi is None:
            return (f"Circuit {self.name} from {source}: y = f(x) for {domain}, "
                    f"{outputs} outputs in the file's order; threshold-gadget lowering of the leveled circuit.")
        return (f"Critic f o h_xi (xi = {self.critic_xi}) of circuit {self.name} from {source}: y = f(sgn(x)) "
                f"for every real x in R^{n} with all |x_i| >= {self.critic_xi}; {outputs} outputs.")


def compile_circuit(circuit: Circuit, *, critic_xi: Fraction | str | None = None,
                    placement: str = "optimal") -> CompiledCircuit:
    """Compile a circuit to an exact ReLU network; ``critic_xi`` gives the critic f o h_xi."""
    critic_xi = parse_critic_xi(critic_xi)
    validate_circuit(circuit)

    leveled = level_circuit(circuit, fold_inverters=True, placement=placement)
    lowered = lower_leveled_circuit(leveled, critic_xi)

    verification = [gadget_record(lowered)]
    verification += end_to_end_checks(circuit, lowered.network, critic_xi)

    from relucc.circuit_certificate import circuit_certificate

    certificate = circuit_certificate(circuit, leveled, lowered, critic_xi, verification)
    name = circuit.name
    return CompiledCircuit(name, circuit.source_path, circuit, leveled, lowered, critic_xi, certificate)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def parse_critic_xi(value: Fraction | str | None) -> Fraction | None:
    """Parse ``--critic-xi`` (e.g. ``1/64`` or ``0.015625``); it must be a power of two in (0, 1]."""
    if value is None:
        return None
    try:
        xi = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--critic-xi {value!r} is not a number; give a power of two such as 1/64") from None
    problem = critic_xi_problem(xi)
    if problem:
        raise UsageError(f"--critic-xi: {problem}; give a power of two in (0, 1] such as 1/64, so that "
                         f"xi and 1/xi are both dyadic (Lemma 3.12)")
    return xi


def validate_circuit(circuit: Circuit) -> None:
    """Reject circuits the lowering cannot compile exactly, listing every problem at once."""
    location = SourceLocation(circuit.source_path or circuit.name)
    problems: list[Diagnostic] = []
    if not circuit.outputs:
        problems.append(Diagnostic(f"circuit {circuit.name} has no outputs", circuit.location or location,
                                   "declare at least one output"))
    if not circuit.inputs:
        problems.append(Diagnostic(f"circuit {circuit.name} has no inputs, so it computes constants",
                                   circuit.location or location,
                                   "a network needs at least one input; add an input the outputs ignore"))
    for gate in circuit.gates:
        problems.extend(threshold_problems(gate))
    if problems:
        raise UsageError(problems)


# ---------------------------------------------------------------------------------------------
# Lowering
# ---------------------------------------------------------------------------------------------


def lower_leveled_circuit(leveled: LeveledCircuit, critic_xi: Fraction | None = None) -> LoweredCircuit:
    """Lower each level of gates to one hidden ReLU layer of gadgets, merging adjacent affine maps."""
    builder = SparseNetworkBuilder(len(leveled.inputs))
    forms: dict[str, LinearForm] = dict(zip(leveled.inputs, builder.inputs()))
    gadgets: list[CheckedGadget] = []
    bounds: list[np.ndarray] = []
    lipschitz_rows: list[list[dict[int, Fraction]]] = []
    widths: list[int] = []
    constants = {name: LinearForm.const(value) for name, value in leveled.constants.items()}

    if critic_xi is not None:
        forms = _clamp_layer(builder, leveled.inputs, forms, critic_xi, bounds)

    signal_index = {name: i for i, name in enumerate(leveled.inputs)}
    for level in leveled.levels:
        placed = [(leveled_gate, *gate_spec(leveled_gate, leveled.constants)) for leveled_gate in level]
        checked = [_checked_gadget(leveled_gate, spec) for leveled_gate, spec, _ in placed]
        preactivations, roles, spans = [], [], []
        for (_, _, sources), item in zip(placed, checked):
            inputs = [forms[s] if s in forms else constants[s] for s in sources]
            start = len(preactivations)
            preactivations.extend(_preactivations(item.gadget, inputs))
            roles.extend([item.gadget.role] * item.gadget.neurons)
            spans.append((start, len(preactivations)))
        layer_bounds = np.concatenate([item.max_abs_hidden for item in checked]) if checked else np.zeros(0)
        if not preactivations:
            # Every gate of this level is constant; one zero neuron keeps the layer non-empty.
            preactivations, roles, layer_bounds = [LinearForm()], ["padding"], np.zeros(1)
        units = builder.hidden_layer(preactivations, roles)

        lipschitz_rows.append([_lipschitz_row(item, sources, signal_index)
                               for (_, _, sources), item in zip(placed, checked)])
        signal_index = {leveled_gate.name: i for i, (leveled_gate, _, _) in enumerate(placed)}
        forms = {leveled_gate.name: _readout(item.gadget, units[start:stop])
                 for (leveled_gate, _, _), item, (start, stop) in zip(placed, checked, spans)}
        gadgets.extend(checked)
        bounds.append(layer_bounds)
        widths.append(len(level))

    outputs = []
    for name, negated in zip(leveled.outputs, leveled.output_negated):
        form = forms[name] if name in forms else constants[name]
        outputs.append(-form if negated else form)
    network = builder.finish(outputs)
    if dense_weight_count(network) <= SPARSE_THRESHOLD:
        # Small networks keep the dense IR, so their certificates come from relucc.certify.
        network = densify_network(network)
    return LoweredCircuit(network, gadgets, bounds, lipschitz_rows, widths)


def _checked_gadget(leveled_gate: LeveledGate, spec: GateSpec) -> CheckedGadget:
    try:
        return build_checked_gadget(spec)
    except ValueError as error:  # the exact margin needs too many distinct sums
        gate = leveled_gate.gate
        raise UsageError(Diagnostic(f"threshold gate {gate.name}: cannot compute its margin exactly: {error}",
                                    gate.location, "use fewer inputs or weights with fewer distinct sums "
                                    "(small integers times a common power of 1/2)")) from None


def _clamp_layer(builder: NetworkBuilder, inputs: list[str], forms: dict[str, LinearForm],
                 xi: Fraction, bounds: list[np.ndarray]) -> dict[str, LinearForm]:
    """Append h_xi on every input (Lemma 3.12): 2 neurons per input."""
    clamp = check_clamp_gadget(xi).gadget
    preactivations = []
    for name in inputs:
        preactivations.extend(_preactivations(clamp, [forms[name]]))
    units = builder.hidden_layer(preactivations, ["clamp"] * len(preactivations))
    # On the float32 grid domain (multiples of xi in [-1, 1]) both neurons stay below 1/xi + 1.
    bounds.append(np.full(len(preactivations), float(1 / xi + 1)))
    return {name: _readout(clamp, units[2 * i:2 * i + 2]) for i, name in enumerate(inputs)}


def gate_spec(leveled_gate: LeveledGate, constants: dict[str, int]) -> tuple[GateSpec, list[str]]:
    """Return a gate's spec over its distinct non-constant input signals, and those signals.

    Constant inputs fold into the spec: into the bias of a threshold-family gate, into the
    parity of an XOR, or into a constant gadget for a relay of a constant.
    """
    gate = leveled_gate.gate
    kind = gate.kind
    literals = list(zip(gate.inputs, leveled_gate.negated))
    constant_literals = [(index, constants[s] * (-1 if neg else 1))
                         for index, (s, neg) in enumerate(literals) if s in constants]
    if not constant_literals:
        return _plain_spec(kind, literals, gate.weights, gate.bias)

    variable = [index for index, (s, _) in enumerate(literals) if s not in constants]
    kept = [literals[index] for index in variable]
    if kind in RELAY_KINDS:
        value = constant_literals[0][1] * (-1 if kind == "not" else 1)
        return GateSpec("const", 0, (), (), value=value), []
    if kind in PARITY_KINDS:
        true_constants = sum(1 for _, value in constant_literals if value > 0)
        if true_constants % 2:
            kind = "xnor" if kind == "xor" else "xor"
        if not kept:
            value = -1 if kind == "xor" else 1  # the parity of zero literals is even
            return GateSpec("const", 0, (), (), value=value), []
        return _plain_spec(kind, kept, None, None)
    if kind in THRESHOLD_KINDS:
        weights, bias = _occurrence_weights(kind, gate.weights, gate.bias, len(literals))
        for index, value in constant_literals:
            bias -= weights[index] * value
        if not kept:
            return GateSpec("const", 0, (), (), value=1 if -bias >= 0 else -1), []
        return _plain_spec("threshold", kept, tuple(weights[index] for index in variable), bias)
    raise ValueError(f"unknown gate kind {kind!r}")


def _occurrence_weights(kind: str, weights, bias, count: int) -> tuple[list[Fraction], Fraction]:
    if kind == "threshold":
        return [Fraction(w) for w in weights], Fraction(bias)
    sign, bias_of = _UNIT_FORMS[kind]
    return [Fraction(sign)] * count, Fraction(bias_of(count))


def _plain_spec(kind: str, literals: list[tuple[str, bool]], weights, bias) -> tuple[GateSpec, list[str]]:
    sources = list(dict.fromkeys(s for s, _ in literals))
    index = {s: i for i, s in enumerate(sources)}
    spec = GateSpec(kind, len(sources), tuple(index[s] for s, _ in literals), tuple(n for _, n in literals),
                    tuple(Fraction(w) for w in weights) if weights is not None else None,
                    Fraction(bias) if bias is not None else None)
    return spec, sources


def _preactivations(gadget, inputs: list[LinearForm]) -> list[LinearForm]:
    """Return <A_j, inputs> + a_j for every neuron j, as forms over the previous layer's units."""
    result = []
    for row, bias in zip(gadget.input_weights, gadget.input_biases):
        coefficients: dict[int, Fraction] = {}
        constant = bias
        for weight, form in zip(row, inputs):
            if weight == 0:
                continue
            constant += weight * form.constant
            for unit, value in form.coefficients.items():
                coefficients[unit] = coefficients.get(unit, 0) + weight * value
        result.append(LinearForm({u: v for u, v in coefficients.items() if v != 0}, constant))
    return result


def _readout(gadget, units: list[LinearForm]) -> LinearForm:
    """Return c_0 + sum_j c_j u_j over the units of the layer just built."""
    coefficients: dict[int, Fraction] = {}
    for unit, weight in zip(units, gadget.output_weights):
        if weight != 0:
            (index,) = unit.coefficients
            coefficients[index] = weight
    return LinearForm(coefficients, gadget.output_bias)


def _lipschitz_row(item: CheckedGadget, sources: list[str], signal_index: dict[str, int]) -> dict[int, Fraction]:
    """Return r (over the previous level's signals) with |gadget(x) - gadget(y)| <= |<r, x - y>|.

    Every neuron of a gadget reads the same row v up to sign, and the gadget is a function of
    <v, x> with slopes in {0, ±1}: for a threshold gadget v = w/xi' and h_xi' is 1/xi'-Lipschitz
    (Lemma 3.12); for parity v counts the literals and the slopes alternate ±1; a relay reads x.
    Dropping a neuron that is 0 on the domain leaves slopes in {0, ±1}.
    """
    gadget = item.gadget
    if not gadget.neurons:
        return {}
    result: dict[int, Fraction] = {}
    for weight, source in zip(gadget.input_weights[0], sources):
        if weight != 0 and source in signal_index:
            result[signal_index[source]] = abs(weight)
    return result


# ---------------------------------------------------------------------------------------------
# Verification at compile time
# ---------------------------------------------------------------------------------------------


def gadget_record(lowered: LoweredCircuit) -> dict:
    """Describe the gadget-level check: every distinct gadget exhaustively on its own domain."""
    distinct = {id(item): item for item in lowered.gadgets}
    points = sum(item.points_checked for item in distinct.values())
    return {"kind": "gadget-level exact: every distinct gadget checked on its whole domain in exact arithmetic",
            "scope": f"{len(distinct)} distinct gadgets of the {len(lowered.gadgets)} placed gates",
            "inputs": points, "result": "passed"}


def end_to_end_checks(circuit: Circuit, network: Network, critic_xi: Fraction | None) -> list[dict]:
    """Run the exact-arithmetic end-to-end checks that fit in compile time; raise CheckFailure on a mismatch."""
    records = []
    n = len(circuit.inputs)
    if n <= EXACT_CHECK_INPUTS:
        points = input_points(n).astype(np.int64)
        _compare_exact(circuit, network, points, 0)
        records.append({"kind": "exhaustive, exact arithmetic", "scope": f"whole network on all 2^{n} inputs",
                        "inputs": int(points.shape[0]), "result": "passed"})
    if critic_xi is not None:
        points, exponent = critic_domain_points(n, critic_xi, CRITIC_EXACT_SAMPLES, seed=0)
        _compare_exact(circuit, network, points, exponent)
        records.append({"kind": "random, exact arithmetic",
                        "scope": f"critic on real points with every |x_i| >= {critic_xi} (boundary ±xi, "
                                 f"grid and off-grid values)", "inputs": int(points.shape[0]), "seed": 0,
                        "result": "passed"})
    return records


def critic_domain_points(n: int, xi: Fraction, count: int, seed: int) -> tuple[np.ndarray, int]:
    """Draw dyadic points with every |x_i| >= xi: ±xi, ±1, and random values in [xi, 4].

    Returns integer numerators and the exponent e (points are numerators / 2**e).
    """
    rng = np.random.default_rng(seed)
    exponent = 30
    low = int(xi * (1 << exponent))
    magnitudes = rng.integers(low, 4 << exponent, size=(count, n), dtype=np.int64)
    choice = rng.integers(0, 4, size=(count, n))
    magnitudes = np.where(choice == 0, low, np.where(choice == 1, 1 << exponent, magnitudes))
    signs = 2 * rng.integers(0, 2, size=(count, n), dtype=np.int64) - 1
    return signs * magnitudes, exponent


def _compare_exact(circuit: Circuit, network: Network, points: np.ndarray, exponent: int) -> None:
    numerators, output_exponent = network.evaluate_exact(points, exponent)
    signs = np.where(points >= 0, 1, -1).astype(np.int8)
    expected = circuit.evaluate(signs).astype(np.int64)
    wrong = np.argwhere(np.asarray(numerators != expected * (1 << output_exponent)))
    if wrong.size:
        row, column = (int(v) for v in wrong[0])
        got = Fraction(int(numerators[row, column]), 1 << output_exponent)
        point = [str(Fraction(int(v), 1 << exponent)) for v in points[row]]
        raise CheckFailure(f"network of {circuit.name} gives y[{column}] = {got} but the circuit gives "
                           f"{int(expected[row, column]):+d} at x = ({', '.join(point)})")
