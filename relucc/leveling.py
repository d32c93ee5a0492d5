"""Layer leveling (Lemma 2.11): put every gate on a level so that all paths to it have one length.

Lemma 2.11 of Chen, Li, Li and Meka, "Minimax Optimality (Probably) Doesn't Imply Distribution
Learning for GANs" (from Wegener, Theorem 1.1 of Section 12.1), turns a circuit of size S and
depth D into one of size at most D*S. In the new circuit every path from the inputs to a gate
has the same length, so the gates form layers. Here a wire that skips levels gets relay gates
(kind ``buf``), one per skipped level, shared by every consumer of the signal: a signal at level
a whose consumers reach up to level c costs c - a - 1 relays. The levels are chosen inside each
gate's slack [ASAP, ALAP] to minimise the total number of relays.

What a ``LeveledCircuit`` guarantees:

- ``levels[k - 1]`` holds the gates of level k, for k = 1..D, and D >= 1 when there are outputs.
- Every input of a level-k gate is a signal of level k - 1 (a primary input when k = 1) or a
  constant from ``constants``. Constants are available at every level because the threshold
  lowering folds them into biases; no relay carries a constant, except that a constant output
  gets one relay at level D.
- Every output is a gate of level D, read with the polarity ``output_negated``.
- ``negated[i]`` of a gate says its i-th input is read negated. It is all False unless
  ``fold_inverters=True``, which removes NOT and BUF gates and moves the negation onto the
  inputs of their consumers and onto the outputs.
- Gates that no output depends on are dropped, and gates whose inputs are all constants are
  folded into constants.
- ``evaluate`` computes the same function as the source circuit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from relucc.boolean import Circuit, Gate, evaluate_gate

logger = logging.getLogger(__name__)

PLACEMENTS = ("optimal", "greedy", "asap")

# Sweeps of the greedy placement; each sweep only lowers the relay count, and on the ISCAS-85
# files it stops changing well before this.
MAX_GREEDY_SWEEPS = 50


@dataclass(frozen=True)
class LeveledGate:
    """A gate placed on a level; ``negated[i]`` is True when input i is read negated."""

    gate: Gate
    level: int
    negated: tuple[bool, ...]
    is_relay: bool = False

    @property
    def name(self) -> str:
        return self.gate.name

    @property
    def kind(self) -> str:
        return self.gate.kind

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.gate.inputs


@dataclass(frozen=True)
class LevelingStats:
    """Sizes of a leveled circuit, next to the naive placement and the lemma's bound.

    ``size`` counts the gates being leveled (after folding and dead-gate removal), without
    relays. ``relays`` is the number the chosen placement inserted, and ``asap_relays`` the
    number that placing every gate at its earliest level would insert. ``lemma_size_bound`` is
    D * S from Lemma 2.11.
    """

    depth: int
    size: int
    relays: int
    asap_relays: int
    lemma_size_bound: int
    placement: str
    folded_inverters: int = 0
    folded_constants: int = 0
    dead_gates: int = 0

    @property
    def leveled_size(self) -> int:
        return self.size + self.relays


@dataclass
class LeveledCircuit:
    """A circuit whose gates form layers 1..D (see the module docstring for the guarantees)."""

    name: str
    inputs: list[str]
    outputs: list[str]
    output_negated: list[bool]
    constants: dict[str, int]
    levels: list[list[LeveledGate]]
    stats: LevelingStats
    source_path: str | None = None

    @property
    def depth(self) -> int:
        return len(self.levels)

    def gates(self) -> list[LeveledGate]:
        """Return every gate, level by level."""
        return [gate for level in self.levels for gate in level]

    def evaluate(self, values: np.ndarray) -> np.ndarray:
        """Evaluate on rows of a ±1 array of shape [N, n]; returns int8 of shape [N, outputs]."""
        values = np.asarray(values)
        batch = values.shape[0]
        signals: dict[str, np.ndarray] = {name: values[:, i] > 0 for i, name in enumerate(self.inputs)}
        for name, value in self.constants.items():
            signals[name] = np.full(batch, value > 0)
        for level in self.levels:
            for leveled in level:
                operands = [~signals[s] if neg else signals[s]
                            for s, neg in zip(leveled.inputs, leveled.negated)]
                signals[leveled.name] = evaluate_gate(leveled.gate, operands, batch)
        columns = [~signals[s] if neg else signals[s]
                   for s, neg in zip(self.outputs, self.output_negated)]
        result = np.stack(columns, axis=1) if columns else np.zeros((batch, 0), dtype=bool)
        return np.where(result, 1, -1).astype(np.int8)


def level_circuit(circuit: Circuit, *, fold_inverters: bool = False,
                  placement: str = "optimal") -> LeveledCircuit:
    """Level a circuit (Lemma 2.11), choosing levels that minimise the relays.

    ``placement`` is ``"optimal"`` (a linear program, exact), ``"greedy"`` (local moves that never
    add relays, starting from ASAP) or ``"asap"`` (every gate at its earliest level).

    NOTE: measured on one Xeon core, "optimal" takes 0.1 s on c6288, 1 s on ITC-99 b14_C (10k
    gates) and 4 s on EPFL multiplier (36k gates, 81k relays). EPFL hyp (depth 24801, 9.2 million
    relays under ASAP) did not finish in 5 minutes, and its relay gates alone take gigabytes.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; expected one of {', '.join(PLACEMENTS)}")

    graph = _LogicGraph.from_circuit(circuit, fold_inverters)
    asap = graph.asap_levels()
    depth = max(asap.values(), default=0)
    if graph.output_refs and depth == 0:
        depth = 1
    alap = graph.alap_levels(depth)

    asap_relays = graph.count_relays(asap, depth)
    levels = _place(graph, asap, alap, depth, placement)
    relays = graph.count_relays(levels, depth)
    stats = LevelingStats(
        depth=depth,
        size=len(graph.nodes),
        relays=relays,
        asap_relays=asap_relays,
        lemma_size_bound=depth * len(graph.nodes),
        placement=placement,
        folded_inverters=graph.folded_inverters,
        folded_constants=graph.folded_constants,
        dead_gates=graph.dead_gates,
    )
    return _build_layers(circuit, graph, levels, depth, stats)


def _place(graph: _LogicGraph, asap: dict[str, int], alap: dict[str, int], depth: int,
           placement: str) -> dict[str, int]:
    if placement == "asap":
        return asap
    if placement == "optimal":
        levels = _optimal_levels(graph, asap, alap, depth)
        if levels is not None:
            return levels
        logger.warning("optimal leveling unavailable for %s; using greedy placement", graph.name)
    return _greedy_levels(graph, asap, alap, depth)


# ---------------------------------------------------------------------------------------------
# The logic graph: gates after folding, with references (signal, negated)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Node:
    gate: Gate
    sources: tuple[str, ...]
    negated: tuple[bool, ...]
    consumers: list[str] = field(default_factory=list)


@dataclass
class _LogicGraph:
    """The gates to level, in topological order, after folding constants (and inverters)."""

    name: str
    inputs: list[str]
    nodes: dict[str, _Node]
    constants: dict[str, int]
    output_refs: list[tuple[str, bool]]
    input_consumers: dict[str, list[str]]
    folded_inverters: int = 0
    folded_constants: int = 0
    dead_gates: int = 0

    @classmethod
    def from_circuit(cls, circuit: Circuit, fold_inverters: bool) -> _LogicGraph:
        aliases: dict[str, tuple[str, bool]] = {}
        constants: dict[str, int] = {}
        nodes: dict[str, _Node] = {}
        folded_inverters = folded_constants = 0

        def resolve(signal: str) -> tuple[str, bool]:
            return aliases.get(signal, (signal, False))

        for gate in circuit.gates:
            refs = [resolve(s) for s in gate.inputs]
            if gate.kind == "const":
                constants[gate.name] = 1 if gate.value > 0 else -1
            elif fold_inverters and gate.kind in ("not", "buf"):
                source, negated = refs[0]
                aliases[gate.name] = (source, negated ^ (gate.kind == "not"))
                folded_inverters += 1
            elif refs and all(source in constants for source, _ in refs):
                operands = [np.array([(constants[s] > 0) ^ neg]) for s, neg in refs]
                constants[gate.name] = 1 if evaluate_gate(gate, operands, 1)[0] else -1
                folded_constants += 1
            else:
                nodes[gate.name] = _Node(gate, tuple(s for s, _ in refs), tuple(n for _, n in refs))

        output_refs = [resolve(s) for s in circuit.outputs]
        graph = cls(circuit.name, list(circuit.inputs), nodes, constants, output_refs,
                    {name: [] for name in circuit.inputs}, folded_inverters, folded_constants)
        graph._remove_dead_gates()
        graph._link_consumers()
        return graph

    def _remove_dead_gates(self) -> None:
        live = set()
        stack = [source for source, _ in self.output_refs if source in self.nodes]
        while stack:
            name = stack.pop()
            if name in live:
                continue
            live.add(name)
            stack.extend(s for s in self.nodes[name].sources if s in self.nodes and s not in live)
        self.dead_gates = len(self.nodes) - len(live)
        self.nodes = {name: node for name, node in self.nodes.items() if name in live}
        used_constants = {s for node in self.nodes.values() for s in node.sources}
        used_constants |= {s for s, _ in self.output_refs}
        self.constants = {s: v for s, v in self.constants.items() if s in used_constants}

    def _link_consumers(self) -> None:
        for name, node in self.nodes.items():
            for source in dict.fromkeys(node.sources):
                if source in self.nodes:
                    self.nodes[source].consumers.append(name)
                elif source in self.input_consumers:
                    self.input_consumers[source].append(name)

    def consumers(self, signal: str) -> list[str]:
        if signal in self.nodes:
            return self.nodes[signal].consumers
        return self.input_consumers.get(signal, [])

    def output_signals(self) -> set[str]:
        return {source for source, _ in self.output_refs if source not in self.constants}

    def asap_levels(self) -> dict[str, int]:
        levels: dict[str, int] = {}
        for name, node in self.nodes.items():
            levels[name] = 1 + max((levels.get(s, 0) for s in node.sources if s not in self.constants),
                                   default=0)
        return levels

    def alap_levels(self, depth: int) -> dict[str, int]:
        levels: dict[str, int] = {}
        outputs = self.output_signals()
        for name in reversed(list(self.nodes)):
            latest = depth if name in outputs else depth + 1
            for consumer in self.nodes[name].consumers:
                latest = min(latest, levels[consumer] - 1)
            levels[name] = latest
        return levels

    def relay_demand(self, levels: dict[str, int], depth: int) -> dict[str, int]:
        """Return, per non-constant signal, the highest level at which it is consumed.

        An output counts as consumed at level D + 1, since it must reach level D.
        """
        demand: dict[str, int] = {}
        for signal in self.output_signals():
            demand[signal] = depth + 1
        for name, node in self.nodes.items():
            for source in node.sources:
                if source not in self.constants:
                    demand[source] = max(demand.get(source, 0), levels[name])
        return demand

    def count_relays(self, levels: dict[str, int], depth: int) -> int:
        demand = self.relay_demand(levels, depth)
        relays = sum(top - levels.get(signal, 0) - 1 for signal, top in demand.items())
        constant_outputs = sum(1 for source, _ in self.output_refs if source in self.constants)
        return relays + constant_outputs


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------


def _optimal_levels(graph: _LogicGraph, asap: dict[str, int], alap: dict[str, int],
                    depth: int) -> dict[str, int] | None:
    """Minimise the relay count exactly as a linear program; None when SciPy is missing.

    Variables: the level l_g of every gate and the demand m_s of every signal. The relay count
    is sum_s (m_s - l_s - 1), subject to l_c - l_s >= 1 and m_s >= l_c for every wire s -> c,
    m_s >= D + 1 for outputs, and ASAP <= l_g <= ALAP. Every constraint is a difference of two
    variables, so the matrix is totally unimodular and a simplex vertex is integral.
    """
    try:
        from scipy.optimize import linprog
        from scipy.sparse import coo_matrix
    except ImportError:
        return None
    if not graph.nodes:
        return {}

    gate_index = {name: i for i, name in enumerate(graph.nodes)}
    demand_signals = list(graph.relay_demand(asap, depth))
    demand_index = {name: len(gate_index) + i for i, name in enumerate(demand_signals)}
    count = len(gate_index) + len(demand_index)

    cost = np.zeros(count)
    for signal, column in demand_index.items():
        cost[column] += 1.0
        if signal in gate_index:
            cost[gate_index[signal]] -= 1.0

    rows, columns, entries, bounds_b = [], [], [], []
    for name, node in graph.nodes.items():
        consumer = gate_index[name]
        for source in dict.fromkeys(node.sources):
            if source in graph.constants:
                continue
            if source in gate_index:
                row = len(bounds_b)  # l_source - l_consumer <= -1
                rows += [row, row]
                columns += [gate_index[source], consumer]
                entries += [1.0, -1.0]
                bounds_b.append(-1.0)
            row = len(bounds_b)  # l_consumer - m_source <= 0
            rows += [row, row]
            columns += [consumer, demand_index[source]]
            entries += [1.0, -1.0]
            bounds_b.append(0.0)

    outputs = graph.output_signals()
    bounds = [(asap[name], alap[name]) for name in graph.nodes]
    bounds += [(depth + 1 if s in outputs else 0, depth + 1) for s in demand_signals]
    matrix = coo_matrix((entries, (rows, columns)), shape=(len(bounds_b), count)).tocsr()
    result = linprog(cost, A_ub=matrix, b_ub=np.array(bounds_b), bounds=bounds, method="highs-ds")
    if result.status != 0:
        logger.warning("relay-minimising linear program failed: %s", result.message)
        return None

    levels = {name: int(round(result.x[i])) for name, i in gate_index.items()}
    if not _levels_feasible(graph, levels, asap, alap):
        logger.warning("relay-minimising linear program returned a non-integral solution")
        return None
    return levels


def _levels_feasible(graph: _LogicGraph, levels: dict[str, int], asap: dict[str, int],
                     alap: dict[str, int]) -> bool:
    for name, node in graph.nodes.items():
        if not asap[name] <= levels[name] <= alap[name]:
            return False
        if any(levels[name] <= levels[s] for s in node.sources if s in graph.nodes):
            return False
    return True


def _greedy_levels(graph: _LogicGraph, asap: dict[str, int], alap: dict[str, int],
                   depth: int) -> dict[str, int]:
    """Move gates within their slack, one at a time, to the level with the fewest relays.

    NOTE: this is a fallback for when SciPy is missing. It stops at local optima: on c6288 it
    keeps all 14023 ASAP relays, where the linear program reaches 5697.

    For a gate g at level l, moving up by one saves one relay on g's own chain. It adds one on
    each input chain whose other consumers all sit at or below l. So the best level is the
    lowest level at which another consumer also reads one of g's inputs, clamped into g's range.
    """
    levels = dict(asap)
    outputs = graph.output_signals()
    order = list(graph.nodes)
    for _ in range(MAX_GREEDY_SWEEPS):
        moved = 0
        for name in reversed(order):
            node = graph.nodes[name]
            lowest = 1 + max((levels.get(s, 0) for s in node.sources if s not in graph.constants),
                             default=0)
            highest = min((levels[c] - 1 for c in node.consumers),
                          default=depth + 1)
            if name in outputs:
                highest = min(highest, depth)
            target = highest
            for source in dict.fromkeys(node.sources):
                if source in graph.constants:
                    continue
                others = [levels[c] for c in graph.consumers(source) if c != name]
                if source in outputs:
                    others.append(depth + 1)
                target = min(target, max(others, default=lowest))
            target = max(lowest, min(target, highest))
            if target != levels[name]:
                levels[name] = target
                moved += 1
        if not moved:
            break
    return levels


# ---------------------------------------------------------------------------------------------
# Layers with relays
# ---------------------------------------------------------------------------------------------


def _build_layers(circuit: Circuit, graph: _LogicGraph, levels: dict[str, int], depth: int,
                  stats: LevelingStats) -> LeveledCircuit:
    taken = set(circuit.inputs) | {gate.name for gate in circuit.gates}
    demand = graph.relay_demand(levels, depth)
    layers: list[list[LeveledGate]] = [[] for _ in range(depth)]
    chains: dict[str, list[str]] = {}  # chains[s][k] carries s at level levels[s] + k

    for signal in list(graph.inputs) + list(graph.nodes):
        if signal not in demand:
            continue
        own = levels.get(signal, 0)
        chain = [signal]
        for level in range(own + 1, demand[signal]):
            relay = _fresh_name(f"{signal}@{level}", taken)
            layers[level - 1].append(LeveledGate(Gate(relay, "buf", (chain[-1],)), level,
                                                 (False,), is_relay=True))
            chain.append(relay)
        chains[signal] = chain

    def at_level(signal: str, level: int) -> str:
        if signal in graph.constants:
            return signal
        return chains[signal][level - levels.get(signal, 0)]

    for name, node in graph.nodes.items():
        level = levels[name]
        gate = node.gate
        placed = Gate(name, gate.kind, tuple(at_level(s, level - 1) for s in node.sources),
                      weights=gate.weights, bias=gate.bias, value=gate.value, location=gate.location)
        layers[level - 1].append(LeveledGate(placed, level, node.negated))

    outputs = []
    for source, _ in graph.output_refs:
        if source in graph.constants:
            relay = _fresh_name(f"{source}@{depth}", taken)
            layers[depth - 1].append(LeveledGate(Gate(relay, "buf", (source,)), depth, (False,),
                                                 is_relay=True))
            outputs.append(relay)
        else:
            outputs.append(at_level(source, depth))

    for layer in layers:
        layer.sort(key=lambda leveled: leveled.is_relay)
    return LeveledCircuit(
        name=circuit.name,
        inputs=list(circuit.inputs),
        outputs=outputs,
        output_negated=[negated for _, negated in graph.output_refs],
        constants=dict(graph.constants),
        levels=layers,
        stats=stats,
        source_path=circuit.source_path,
    )


def _fresh_name(base: str, taken: set[str]) -> str:
    name = base
    suffix = 1
    while name in taken:
        name = f"{base}_{suffix}"
        suffix += 1
    taken.add(name)
    return name
