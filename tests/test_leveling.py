"""Tests of layer leveling: the level invariants, relay counts and equivalence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucc.boolean import Circuit, Gate
from relucc.leveling import PLACEMENTS, LeveledCircuit, level_circuit
from relucc.netlist import read_netlist
from relucc.registry import random_circuit, shared_circuits_dir

SHARED = shared_circuits_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared circuit collection not found")


def points_for(circuit: Circuit, count: int = 128, seed: int = 0) -> np.ndarray:
    width = len(circuit.inputs)
    if width == 0:
        return np.zeros((1, 0), dtype=np.int8)
    if width <= 8:
        return np.array(list(itertools.product((-1, 1), repeat=width)), dtype=np.int8).reshape(-1, width)
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(count, width))


def assert_leveled(leveled: LeveledCircuit, circuit: Circuit) -> None:
    """Check every guarantee of the leveled IR against its source circuit."""
    level_of = {name: 0 for name in leveled.inputs}
    depth = leveled.depth
    for number, layer in enumerate(leveled.levels, start=1):
        for gate in layer:
            assert gate.level == number
            assert len(gate.negated) == len(gate.inputs)
            for source in gate.inputs:
                if source in leveled.constants:
                    continue
                assert level_of.get(source) == number - 1, (
                    f"{gate.name} at level {number} reads {source} at level {level_of.get(source)}")
        for gate in layer:
            assert gate.name not in level_of, f"{gate.name} defined twice"
            level_of[gate.name] = number

    for name in leveled.outputs:
        assert level_of.get(name) == depth, f"output {name} is not at level {depth}"
    if leveled.outputs:
        assert depth >= 1

    stats = leveled.stats
    assert stats.depth == depth
    assert stats.relays <= stats.asap_relays
    assert stats.relays == sum(gate.is_relay for gate in leveled.gates())
    assert stats.size == sum(not gate.is_relay for gate in leveled.gates())

    points = points_for(circuit)
    assert np.array_equal(leveled.evaluate(points), circuit.evaluate(points))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), inputs=st.integers(0, 6), gates=st.integers(0, 30),
       outputs=st.integers(0, 5), fold=st.booleans(), placement=st.sampled_from(PLACEMENTS))
def test_random_circuits_level_correctly(seed, inputs, gates, outputs, fold, placement):
    circuit = random_circuit(seed, inputs=inputs, gates=gates, outputs=outputs)
    assert_leveled(level_circuit(circuit, fold_inverters=fold, placement=placement), circuit)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), fold=st.booleans())
def test_optimal_never_worse_than_greedy(seed, fold):
    circuit = random_circuit(seed, inputs=5, gates=40, outputs=4)
    relays = {placement: level_circuit(circuit, fold_inverters=fold, placement=placement).stats.relays
              for placement in PLACEMENTS}
    assert relays["optimal"] <= relays["greedy"] <= relays["asap"]


def test_optimal_delays_early_gate():
    # NOT a is read only at level 4, and a itself is relayed up to level 3 for y anyway: ASAP
    # computes NOT a at level 1 and relays it, the optimal placement computes it at level 3.
    gates = [Gate("n", "not", ("a",)), Gate("c1", "and", ("a", "b")), Gate("c2", "and", ("c1", "b")),
             Gate("c3", "and", ("c2", "b")), Gate("z", "and", ("c3", "n")),
             Gate("y", "and", ("c3", "a"))]
    circuit = Circuit("chain", ["a", "b"], ["z", "y"], gates)
    asap = level_circuit(circuit, placement="asap")
    optimal = level_circuit(circuit, placement="optimal")
    assert optimal.stats.relays == asap.stats.relays - 2
    assert [g.level for g in optimal.gates() if g.name == "n"] == [3]
    assert_leveled(optimal, circuit)


def test_fold_inverters_moves_negation():
    gates = [Gate("n", "not", ("a",)), Gate("z", "and", ("n", "b")), Gate("w", "not", ("z",))]
    circuit = Circuit("fold", ["a", "b"], ["z", "w"], gates)
    leveled = level_circuit(circuit, fold_inverters=True)
    assert leveled.depth == 1
    (gate,) = leveled.gates()
    assert gate.inputs == ("a", "b")
    assert gate.negated == (True, False)
    assert leveled.output_negated == [False, True]
    assert leveled.stats.folded_inverters == 2
    assert_leveled(leveled, circuit)


def test_constant_and_input_outputs_padded():
    gates = [Gate("t", "const", (), value=1), Gate("z", "xor", ("a", "b")),
             Gate("y", "and", ("z", "a")), Gate("k", "or", ("t", "a"))]
    circuit = Circuit("pad", ["a", "b"], ["y", "a", "t", "k"], gates)
    leveled = level_circuit(circuit)
    assert leveled.depth == 2
    assert leveled.constants == {"t": 1}
    assert leveled.stats.folded_constants == 0
    assert_leveled(leveled, circuit)


def test_dead_gates_dropped():
    gates = [Gate("z", "and", ("a", "b")), Gate("unused", "or", ("a", "b"))]
    leveled = level_circuit(Circuit("dead", ["a", "b"], ["z"], gates))
    assert [g.name for g in leveled.gates()] == ["z"]
    assert leveled.stats.dead_gates == 1


def test_unknown_placement():
    with pytest.raises(ValueError, match="unknown placement 'fast'"):
        level_circuit(Circuit("c", [], [], []), placement="fast")


@needs_shared
@pytest.mark.parametrize("name", ["c17", "c432", "c499", "c880", "c1908"])
@pytest.mark.parametrize("fold", [False, True])
def test_iscas_leveling(name, fold):
    circuit = read_netlist(SHARED / "iscas85" / f"{name}.bench")
    leveled = level_circuit(circuit, fold_inverters=fold)
    assert_leveled(leveled, circuit)
    assert leveled.stats.leveled_size <= leveled.stats.lemma_size_bound


@needs_shared
def test_folding_reduces_c1908_depth():
    circuit = read_netlist(SHARED / "iscas85" / "c1908.bench")
    assert level_circuit(circuit).depth == 40
    assert level_circuit(circuit, fold_inverters=True).depth < 30
