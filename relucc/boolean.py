"""Boolean IR: predicates, local functions (Goldreich's PRG) and gate-level circuits.

Encoding: a Boolean value is +1 (True) or -1 (False). Truth tables are indexed by an integer
whose bit ``i`` is 1 exactly when input ``i`` (0-based) is True, so ``table[0]`` is the value at
all inputs False and ``table[2**k - 1]`` the value at all inputs True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from relucc.errors import SourceLocation

# Largest predicate arity that is tabulated; 2**20 entries is 1 MiB of int8.
MAX_PREDICATE_ARITY = 20


def input_points(k: int) -> np.ndarray:
    """Return every point of {-1,+1}^k as rows of an int8 array, row j being truth-table index j."""
    indices = np.arange(2**k, dtype=np.int64)
    bits = (indices[:, None] >> np.arange(k, dtype=np.int64)[None, :]) & 1
    return (2 * bits - 1).astype(np.int8)


def table_index(points: np.ndarray) -> np.ndarray:
    """Return the truth-table index of each row of a ±1 array (inverse of ``input_points``)."""
    bits = (np.asarray(points) > 0).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(bits.shape[-1], dtype=np.int64))


@dataclass(frozen=True, eq=False)
class Predicate:
    """A Boolean function P : {±1}^k -> {±1}, stored as its truth table of +1/-1 values."""

    name: str
    arity: int
    truth_table: np.ndarray
    variables: tuple[str, ...] = ()
    location: SourceLocation | None = None

    def __post_init__(self) -> None:
        table = np.asarray(self.truth_table, dtype=np.int8)
        if table.shape != (2**self.arity,):
            raise ValueError(f"truth table of {self.name} has shape {table.shape}, expected ({2**self.arity},)")
        if not np.all(np.abs(table) == 1):
            raise ValueError(f"truth table of {self.name} has values other than +1 and -1")
        object.__setattr__(self, "truth_table", table)
        if not self.variables:
            object.__setattr__(self, "variables", tuple(f"x{i + 1}" for i in range(self.arity)))

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Evaluate on rows of a ±1 array of shape [N, k]."""
        return self.truth_table[table_index(points)]


@dataclass(eq=False)
class LocalFunction:
    """A k-local function G : {±1}^m -> {±1}^d, output l being P(x restricted to subsets[l]).

    ``subsets`` is an int64 array of shape [d, k] with 0-based seed indices; row l lists the
    coordinates in the order they are fed to the predicate (Definition 8 of Goldreich's PRG).
    """

    name: str
    seed_length: int
    predicate: Predicate
    subsets: np.ndarray
    subset_seed: int | None = None
    location: SourceLocation | None = None

    @property
    def output_length(self) -> int:
        return int(self.subsets.shape[0])

    def evaluate(self, seeds: np.ndarray) -> np.ndarray:
        """Evaluate on rows of a ±1 array of shape [N, m]; returns int8 of shape [N, d]."""
        seeds = np.asarray(seeds)
        true_bits = seeds > 0
        index = np.zeros((seeds.shape[0], self.output_length), dtype=np.int64)
        for position in range(self.predicate.arity):
            index |= true_bits[:, self.subsets[:, position]].astype(np.int64) << position
        return self.predicate.truth_table[index]


def random_subsets(seed_length: int, output_length: int, arity: int, seed: int) -> np.ndarray:
    """Draw Goldreich subsets as in Definition 8: each a uniform k-subset of {0..m-1}, independently.

    The generator is NumPy's ``default_rng(seed)`` (PCG64); subset l is
    ``sorted(rng.choice(m, size=k, replace=False))`` for l = 0, 1, ..., d-1 in turn, so a given
    seed gives the same subsets on every machine and NumPy version that keeps PCG64's stream.
    """
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.choice(seed_length, size=arity, replace=False)) for _ in range(output_length)]
    return np.array(rows, dtype=np.int64).reshape(output_length, arity)


# Gate kinds of the circuit IR. ``threshold`` is sgn(<w,x> - b) with sgn(0) = +1.
GATE_KINDS = ("and", "or", "not", "nand", "nor", "xor", "xnor", "buf", "maj", "threshold", "const")


@dataclass(eq=False)
class Gate:
    """One gate of a circuit. ``weights``/``bias`` are set for threshold gates only; ``value`` for const."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    weights: tuple[Fraction, ...] | None = None
    bias: Fraction | None = None
    value: int | None = None
    location: SourceLocation | None = None


@dataclass(eq=False)
class Circuit:
    """A combinational circuit over ±1 signals; ``gates`` is in topological order."""

    name: str
    inputs: list[str]
    outputs: list[str]
    gates: list[Gate]
    location: SourceLocation | None = None
    source_path: str | None = None

    def gate_map(self) -> dict[str, Gate]:
        return {gate.name: gate for gate in self.gates}

    def evaluate(self, values: np.ndarray) -> np.ndarray:
        """Evaluate on rows of a ±1 array of shape [N, n]; returns int8 of shape [N, outputs]."""
        values = np.asarray(values)
        signals: dict[str, np.ndarray] = {
            name: values[:, i] > 0 for i, name in enumerate(self.inputs)
        }
        batch = values.shape[0]
        for gate in self.gates:
            signals[gate.name] = evaluate_gate(gate, [signals[name] for name in gate.inputs], batch)
        columns = [signals[name] for name in self.outputs]
        result = np.stack(columns, axis=1) if columns else np.zeros((batch, 0), dtype=bool)
        return np.where(result, 1, -1).astype(np.int8)


def evaluate_gate(gate: Gate, operands: list[np.ndarray], batch: int) -> np.ndarray:
    """Evaluate one gate on boolean arrays (True = +1); the reference semantics of every gate kind."""
    kind = gate.kind
    if kind == "const":
        return np.full(batch, gate.value > 0, dtype=bool)
    if kind == "buf":
        return operands[0].copy()
    if kind == "not":
        return ~operands[0]
    if kind in ("and", "nand"):
        result = np.logical_and.reduce(operands)
        return ~result if kind == "nand" else result
    if kind in ("or", "nor"):
        result = np.logical_or.reduce(operands)
        return ~result if kind == "nor" else result
    if kind in ("xor", "xnor"):
        result = np.logical_xor.reduce(operands)
        return ~result if kind == "xnor" else result
    if kind == "maj":
        count = np.sum(np.stack(operands), axis=0)
        return 2 * count > len(operands)
    if kind == "threshold":
        return _threshold(gate, operands)
    raise ValueError(f"unknown gate kind {kind!r}")


def _threshold(gate: Gate, operands: list[np.ndarray]) -> np.ndarray:
    # Exact: scale the dyadic weights and bias to integers by their common denominator.
    fractions = list(gate.weights) + [gate.bias]
    denominator = 1
    for value in fractions:
        denominator = max(denominator, Fraction(value).denominator)
    integers = [int(Fraction(v) * denominator) for v in fractions]
    total = np.zeros(operands[0].shape[0] if operands else 0, dtype=object)
    for weight, operand in zip(integers[:-1], operands):
        total = total + weight * np.where(operand, 1, -1).astype(object)
    return (total - integers[-1]) >= 0


@dataclass(eq=False)
class Program:
    """A checked ``.circ`` program: its named objects and the one chosen for emission."""

    path: str
    source_text: str
    predicates: dict[str, Predicate] = field(default_factory=dict)
    circuits: dict[str, Circuit] = field(default_factory=dict)
    local_functions: dict[str, LocalFunction] = field(default_factory=dict)
    # Continuous stages and composed generators (relucc.continuous.Stage, relucc.composition.CompositionSpec).
    stages: dict[str, object] = field(default_factory=dict)
    compositions: dict[str, object] = field(default_factory=dict)
    generator: str | None = None
    generator_location: SourceLocation | None = None

    def emitted(self) -> LocalFunction | Circuit | Predicate | object:
        """Return the object named by the ``generator`` declaration."""
        name = self.generator
        for table in (self.local_functions, self.circuits, self.predicates, self.compositions, self.stages):
            if name in table:
                return table[name]
        raise KeyError(name)
