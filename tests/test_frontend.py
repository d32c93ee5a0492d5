"""Tests of the .circ frontend: truth tables, subsets, circuits and error reports."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucc.boolean import MAX_PREDICATE_ARITY, Circuit, LocalFunction, Predicate, input_points, random_subsets
from relucc.errors import SourceError
from relucc.frontend import parse_file, parse_source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def table_of(source: str, name: str) -> list[int]:
    return parse_source(source).predicates[name].truth_table.tolist()


def tabulate(function, arity: int) -> list[int]:
    """Truth table of a Python function of ±1 ints, in relucc's index order (bit i = input i)."""
    return [function(*[1 if index >> i & 1 else -1 for i in range(arity)]) for index in range(2**arity)]


def errors_of(source: str, path: str = "test.circ") -> list[tuple[str, int, int]]:
    with pytest.raises(SourceError) as caught:
        parse_source(source, path)
    return [(d.message, d.location.line, d.location.column) for d in caught.value.diagnostics]


def assert_error(source: str, fragment: str, line: int, column: int) -> None:
    errors = errors_of(source)
    matches = [(message, at_line, at_column) for message, at_line, at_column in errors if fragment in message]
    assert matches, f"no error containing {fragment!r} in {errors}"
    assert (matches[0][1], matches[0][2]) == (line, column), matches[0]


# ---------------------------------------------------------------- predicates


def test_tsa_truth_table_by_hand():
    # Index bits 0..4 are x1..x5. Over x1, x2, x3 the product x1*x2*x3 is +1 exactly when an
    # even number of them are False: (-1, +1, +1, -1, +1, -1, -1, +1) for indices 0..7.
    # AND(x4, x5) is -1 for the first 24 indices, which negates that block three times,
    # and +1 for the last 8, where x4 = x5 = True.
    parity = [-1, +1, +1, -1, +1, -1, -1, +1]
    negated_parity = [+1, -1, -1, +1, -1, +1, +1, -1]
    expected = negated_parity * 3 + parity
    assert len(expected) == 32

    source = "predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)"
    predicate = parse_source(source).predicates["TSA"]

    assert predicate.arity == 5
    assert predicate.variables == ("x1", "x2", "x3", "x4", "x5")
    assert predicate.truth_table.tolist() == expected


def test_tsa_fourier_matches_formula():
    formula = table_of("predicate T(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)", "T")
    fourier = table_of("""
        predicate T(x1, x2, x3, x4, x5) = fourier {
            x1*x2*x3*x4: 1/2, x1*x2*x3*x5: 0.5, x1*x2*x3*x4*x5: 1/2, x1*x2*x3: -0.5
        }""", "T")
    assert fourier == formula


def test_majority_by_fourier():
    source = "predicate M(x1, x2, x3) = fourier { x1: 1/2, x2: 1/2, x3: 1/2, x1*x2*x3: -1/2 }"
    expected = tabulate(lambda a, b, c: 1 if a + b + c > 0 else -1, 3)
    assert table_of(source, "M") == expected


def test_fourier_constant_monomial_and_order():
    # x*y with the factors in either order is the same monomial; "1" is the constant one.
    source = "predicate P(x, y) = fourier { 1: 1/2, x: 1/2, y*x: -1/2, y: 0.5 }"
    expected = tabulate(lambda x, y: (1 + x + y - x * y) // 2, 2)
    assert table_of(source, "P") == expected


def test_truth_table_list_index_order():
    # Entry j has input i True exactly when bit i of j is set: this table is "a and not b".
    source = "predicate P(a, b) = table [-1, +1, -1, -1]"
    assert table_of(source, "P") == tabulate(lambda a, b: 1 if a == 1 and b == -1 else -1, 2)


def test_truth_table_list_accepts_true_false():
    assert table_of("predicate P(a) = table [true, false]", "P") == [1, -1]


def test_truth_table_bit_string():
    source = 'predicate MUX(s, a, b) = table "0010_0111"'
    expected = tabulate(lambda s, a, b: b if s == 1 else a, 3)
    assert table_of(source, "MUX") == expected


BOOLEAN_CASES = [
    ("a * b", lambda a, b: a * b),
    ("a and b", lambda a, b: 1 if a == b == 1 else -1),
    ("a AND b", lambda a, b: 1 if a == b == 1 else -1),
    ("a or b", lambda a, b: 1 if 1 in (a, b) else -1),
    ("a xor b", lambda a, b: -a * b),
    ("not a", lambda a, b: -a),
    ("-a", lambda a, b: -a),
    ("!a", lambda a, b: -a),
    ("NAND(a, b)", lambda a, b: -1 if a == b == 1 else 1),
    ("nor(a, b)", lambda a, b: -1 if 1 in (a, b) else 1),
    ("XNOR(a, b)", lambda a, b: a * b),
    ("Xor(a, b)", lambda a, b: -a * b),
    ("buf(a)", lambda a, b: a),
    ("NOT(b)", lambda a, b: -b),
    ("maj(a, b, -b)", lambda a, b: a),
    ("true * a", lambda a, b: a),
    ("false * a", lambda a, b: -a),
    ("+1 * b", lambda a, b: b),
    ("-1 * b", lambda a, b: -b),
    ("threshold(a + 2*b, 1/2)", lambda a, b: 1 if a + 2 * b - Fraction(1, 2) >= 0 else -1),
    ("threshold(a - b, 0)", lambda a, b: 1 if a - b >= 0 else -1),
    ("threshold(-0.5*a + 0.25*b, -1/4)", lambda a, b: 1 if -a / 2 + b / 4 + 0.25 >= 0 else -1),
]


@pytest.mark.parametrize("expression, reference", BOOLEAN_CASES, ids=[case[0] for case in BOOLEAN_CASES])
def test_expression_operator(expression, reference):
    assert table_of(f"predicate P(a, b) = {expression}", "P") == tabulate(reference, 2)


PRECEDENCE_CASES = [
    ("a or b and c", "a or (b and c)"),
    ("a xor b and c", "a xor (b and c)"),
    ("a or b xor c", "a or (b xor c)"),
    ("a and b * c", "a and (b * c)"),
    ("-a * b", "(-a) * b"),
    ("not a and b", "(not a) and b"),
]


@pytest.mark.parametrize("loose, bracketed", PRECEDENCE_CASES)
def test_operator_precedence(loose, bracketed):
    source = f"predicate Loose(a, b, c) = {loose}\npredicate Bracketed(a, b, c) = {bracketed}"
    program = parse_source(source)
    assert program.predicates["Loose"].truth_table.tolist() == program.predicates["Bracketed"].truth_table.tolist()


def test_predicate_calls_earlier_predicate():
    source = """
        predicate AND2(p, q) = table "0001"
        predicate P(a, b, c) = AND2(c, a) * b
    """
    assert table_of(source, "P") == tabulate(lambda a, b, c: (1 if c == a == 1 else -1) * b, 3)


def test_predicate_calls_single_output_circuit():
    source = """
        circuit Imp(x, y) -> z { z = or(-x, y) }
        predicate P(a, b) = Imp(b, a)
    """
    assert table_of(source, "P") == tabulate(lambda a, b: 1 if b == -1 or a == 1 else -1, 2)


def test_comments_are_ignored():
    source = "# heading\npredicate P(a) = a  # trailing\n# end"
    assert table_of(source, "P") == [-1, 1]


# ---------------------------------------------------------------- local functions


def test_explicit_subsets_become_zero_based():
    source = """
        predicate P(a, b, c) = a * AND(b, c)
        local G { m = 8  d = 3  predicate = P  subsets = [{1, 2, 3}, {8, 5, 1}, {4, 6, 7},] }
        generator G
    """
    program = parse_source(source)
    local = program.local_functions["G"]

    assert isinstance(local, LocalFunction)
    assert local.seed_length == 8
    assert local.output_length == 3
    assert local.predicate.name == "P"
    assert local.subsets.tolist() == [[0, 1, 2], [7, 4, 0], [3, 5, 6]]
    assert local.subset_seed is None
    assert program.emitted() is local


def test_explicit_subsets_without_d():
    source = "predicate P(a) = a\nlocal G { m = 2 predicate = P subsets = [{2}, {1}, {2}] }"
    local = parse_source(source).local_functions["G"]
    assert local.output_length == 3
    assert local.subsets.tolist() == [[1], [0], [1]]


def test_random_subsets_reproducible():
    source = """
        predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)
        local G { m = 50 d = 200 predicate = TSA subsets = random(seed = 2022) }
    """
    first = parse_source(source).local_functions["G"]
    second = parse_source(source).local_functions["G"]

    assert first.subsets.shape == (200, 5)
    assert first.subset_seed == 2022
    assert np.array_equal(first.subsets, second.subsets)
    assert np.array_equal(first.subsets, random_subsets(50, 200, 5, 2022))
    assert all(len(set(row)) == 5 for row in first.subsets.tolist())
    assert first.subsets.min() >= 0
    assert first.subsets.max() <= 49


def test_random_subsets_depend_on_seed():
    template = "predicate P(a, b) = a * b\nlocal G {{ m = 30 d = 20 predicate = P subsets = random(seed = {}) }}"
    first = parse_source(template.format(1)).local_functions["G"].subsets
    second = parse_source(template.format(2)).local_functions["G"].subsets
    assert not np.array_equal(first, second)


def test_random_subsets_with_overlap_bound():
    source = """
        predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)
        local G { m = 50 d = 200 predicate = TSA subsets = random(seed = 0, max_overlap = 2) }
    """
    subsets = parse_source(source).local_functions["G"].subsets
    members = np.zeros((200, 50), dtype=np.int64)
    members[np.arange(200)[:, None], subsets] = 1
    overlaps = members @ members.T
    np.fill_diagonal(overlaps, 0)
    assert subsets.shape == (200, 5)
    assert overlaps.max() <= 2
    unbounded = random_subsets(50, 200, 5, 0)
    unbounded_members = np.zeros((200, 50), dtype=np.int64)
    unbounded_members[np.arange(200)[:, None], unbounded] = 1
    unbounded_overlaps = unbounded_members @ unbounded_members.T
    np.fill_diagonal(unbounded_overlaps, 0)
    assert unbounded_overlaps.max() > 2


def test_overlap_bound_that_cannot_be_met():
    source = ("predicate P(a, b, c) = a * b * c\n"
              "local G { m = 6 d = 50 predicate = P subsets = random(seed = 0, max_overlap = 0) }\n")
    with pytest.raises(SourceError) as caught:
        parse_source(source, "over.circ")
    message = caught.value.render()
    assert "over.circ:2:48: error:" in message
    assert "pairwise overlap at most 0" in message


def test_overlap_bound_must_be_integer():
    source = ("predicate P(a, b) = a * b\n"
              "local G { m = 6 d = 2 predicate = P subsets = random(seed = 0, max_overlap = 1/2) }\n")
    with pytest.raises(SourceError) as caught:
        parse_source(source, "over.circ")
    assert "max_overlap must be a non-negative integer" in caught.value.render()


def test_local_function_with_circuit_predicate():
    source = """
        circuit C(x, y, z) -> out { out = maj(x, y, z) }
        local G { m = 4 d = 2 predicate = C subsets = [{1, 2, 3}, {4, 3, 2}] }
    """
    local = parse_source(source).local_functions["G"]
    assert local.predicate.arity == 3
    assert local.predicate.variables == ("x", "y", "z")
    assert local.predicate.truth_table.tolist() == tabulate(lambda x, y, z: 1 if x + y + z > 0 else -1, 3)

    seeds = input_points(4)
    expected = np.stack([np.sign(seeds[:, [0, 1, 2]].sum(axis=1)), np.sign(seeds[:, [3, 2, 1]].sum(axis=1))], axis=1)
    assert np.array_equal(local.evaluate(seeds), expected)


# ---------------------------------------------------------------- circuits


FULL_ADDER = """
circuit FullAdder(a, b, cin) -> (sum, carry, carry_threshold) {
    sum = xor(half, cin)          # used before its definition: order is free
    half = xor(a, b)
    carry = or(and(a, b), and(half, cin))
    carry_threshold = threshold(a + b + cin, 0)
}
generator FullAdder
"""


def test_full_adder_circuit():
    program = parse_source(FULL_ADDER)
    circuit = program.circuits["FullAdder"]
    assert isinstance(circuit, Circuit)
    assert program.emitted() is circuit
    assert circuit.inputs == ["a", "b", "cin"]
    assert circuit.outputs == ["sum", "carry", "carry_threshold"]

    points = input_points(3)
    outputs = circuit.evaluate(points)
    for row, (a, b, cin) in zip(outputs.tolist(), (points > 0).astype(int).tolist()):
        total = a + b + cin
        expected_sum = 1 if total % 2 else -1
        expected_carry = 1 if total >= 2 else -1
        assert row == [expected_sum, expected_carry, expected_carry]


def test_gates_in_topological_order():
    circuit = parse_source(FULL_ADDER).circuits["FullAdder"]
    position = {gate.name: i for i, gate in enumerate(circuit.gates)}
    for gate in circuit.gates:
        for name in gate.inputs:
            if name in position:
                assert position[name] < position[gate.name], (name, gate.name)


def test_nested_expressions_get_fresh_gates():
    circuit = parse_source(FULL_ADDER).circuits["FullAdder"]
    kinds = {gate.name: gate.kind for gate in circuit.gates}
    assert kinds["carry"] == "or"
    assert kinds["carry_1"] == "and"
    assert kinds["carry_2"] == "and"
    assert next(g for g in circuit.gates if g.name == "carry").inputs == ("carry_1", "carry_2")


def test_threshold_gate_fields():
    source = "circuit C(a, b) -> y { y = threshold(1/2*a - 0.75*b, -1/4) }"
    gate = parse_source(source).circuits["C"].gates[0]
    assert gate.kind == "threshold"
    assert gate.inputs == ("a", "b")
    assert gate.weights == (Fraction(1, 2), Fraction(-3, 4))
    assert gate.bias == Fraction(-1, 4)


def test_product_lowers_to_xor_or_xnor():
    source = "circuit C(a, b, c) -> (two, three) { two = a * b  three = a * b * c }"
    gates = {gate.name: gate for gate in parse_source(source).circuits["C"].gates}
    assert gates["two"].kind == "xnor"
    assert gates["three"].kind == "xor"


def test_negated_input_becomes_not_gate():
    source = "circuit C(a, b) -> y { y = and(!a, b) }"
    gates = parse_source(source).circuits["C"].gates
    assert [(gate.name, gate.kind, gate.inputs) for gate in gates] == [("y_1", "not", ("a",)), ("y", "and", ("y_1", "b"))]


def test_constants_and_aliases_in_circuit():
    source = "circuit C(a) -> (one, zero, copy, neg) { one = +1  zero = false  copy = a  neg = -1 }"
    gates = {gate.name: gate for gate in parse_source(source).circuits["C"].gates}
    assert (gates["one"].kind, gates["one"].value) == ("const", 1)
    assert (gates["zero"].kind, gates["zero"].value) == ("const", -1)
    assert (gates["neg"].kind, gates["neg"].value) == ("const", -1)
    assert (gates["copy"].kind, gates["copy"].inputs) == ("buf", ("a",))


def test_output_may_be_an_input():
    circuit = parse_source("circuit C(a, b) -> (b, y) { y = -a }").circuits["C"]
    assert circuit.evaluate(input_points(2)).tolist() == [[-1, 1], [-1, -1], [1, 1], [1, -1]]


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.circ")), ids=lambda path: path.name)
def test_example_parses(path):
    assert path.read_text(encoding="utf-8").startswith("#")
    program = parse_file(path)
    assert program.generator is not None
    assert program.emitted() is not None


def test_goldreich_example_matches_paper_setup():
    program = parse_file(EXAMPLES / "goldreich_tsa.circ")
    generator = program.emitted()
    assert isinstance(generator, LocalFunction)
    assert (generator.seed_length, generator.output_length, generator.predicate.arity) == (50, 200, 5)
    expected = parse_source("predicate T(x1, x2, x3, x4, x5) = x1*x2*x3*AND(x4, x5)").predicates["T"]
    assert np.array_equal(generator.predicate.truth_table, expected.truth_table)


def test_missing_file_is_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        parse_file(tmp_path / "absent.circ")


# ---------------------------------------------------------------- errors

TOO_MANY = ", ".join(f"x{i}" for i in range(MAX_PREDICATE_ARITY + 1))

ERROR_CASES = [
    # (case id, source, message fragment, line, column)
    ("arity limit", f"predicate P({TOO_MANY}) = x0", f"limit of {MAX_PREDICATE_ARITY}", 1, 11),
    ("no inputs", "predicate P() = 1", "no inputs", 1, 11),
    ("fourier not boolean", "predicate P(x, y) = fourier { x: 1/2, y: 1/2 }",
     "at x=+1, y=-1 they sum to 0, not +1 or -1", 1, 21),
    ("fourier not boolean value", "predicate P(x) = fourier { x: 1/2, 1: 1/4 }", "sum to -1/4", 1, 18),
    ("fourier repeated monomial", "predicate P(x, y) = fourier { x*y: 1, y*x: 0 }", "already has a coefficient", 1, 39),
    ("fourier repeated factor", "predicate P(x) = fourier { x*x: 1 }", "appears twice in one monomial", 1, 30),
    ("fourier unknown variable", "predicate P(x) = fourier { z: 1 }", "z is not an input", 1, 28),
    ("table length", "predicate P(a, b) = table [1, -1, 1]", "3 entries, expected 2^2 = 4", 1, 21),
    ("table entry", "predicate P(a) = table [1, 0]", "entry 0 is not +1 or -1", 1, 28),
    ("bit string", 'predicate P(a) = table "1x"', "invalid character 'x' in bit string", 1, 26),
    ("constant", "predicate P(a) = a * 2", "2 is not a Boolean constant", 1, 22),
    ("undefined variable", "predicate P(a, b) = a and c", "c is not an input", 1, 27),
    ("undefined function", "predicate P(a) = Q(a)", "unknown function Q", 1, 18),
    ("used before definition", "predicate P(a) = Q(a)\npredicate Q(a) = a", "used before its definition on line 2", 1, 18),
    ("call arity", "predicate Q(a, b) = a\npredicate P(a) = Q(a)", "Q takes 2 inputs, got 1", 2, 18),
    ("duplicate definition", "predicate P(a) = a\ncircuit P(a) -> y { y = a }", "already defined as a predicate on line 1", 2, 9),
    ("duplicate variable", "predicate P(a, a) = a", "listed twice", 1, 16),
    ("reserved name", "predicate maj(a) = a", "built-in name", 1, 11),
    ("non-dyadic weight", "predicate P(a) = threshold(1/3*a, 0)", "1/3 is not a dyadic rational", 1, 28),
    ("non-dyadic bias", "circuit C(a) -> y { y = threshold(a, 0.1) }", "bias 0.1 is not a dyadic rational", 1, 38),
    ("fan-in not", "circuit C(a, b) -> y { y = not(a, b) }", "not takes exactly 1 input, got 2", 1, 28),
    ("fan-in buf", "circuit C(a, b) -> y { y = buf(a, b) }", "buf takes exactly 1 input, got 2", 1, 28),
    ("fan-in and", "predicate P(a) = and(a)", "and takes at least 2 inputs, got 1", 1, 18),
    ("fan-in maj", "circuit C(a, b) -> y { y = maj(a, b) }", "odd number of inputs", 1, 28),
    ("undefined signal", "circuit C(a) -> y { y = and(a, q) }", "signal q is not defined", 1, 32),
    ("duplicate signal", "circuit C(a) -> y {\n  y = a\n  y = -a\n}", "signal y is already defined on line 2", 3, 3),
    ("assigned input", "circuit C(a) -> y { a = true  y = a }", "signal a is already defined on line 1", 1, 21),
    ("unassigned output", "circuit C(a) -> (y, z) { y = a }", "output z is never assigned", 1, 21),
    ("cycle", "circuit C(a) -> y {\n  y = and(a, p)\n  p = or(q, a)\n  q = -y\n}",
     "combinational cycle in circuit C: y -> p -> q -> y", 2, 3),
    ("predicate gate in circuit", "predicate P(a) = a\ncircuit C(a) -> y { y = P(a) }", "P is not a gate", 2, 25),
    ("multi-output predicate", "circuit C(a) -> (y, z) { y = a z = -a }\npredicate P(a) = C(a)", "has 2 outputs", 2, 18),
    ("m not positive", "predicate P(a) = a\nlocal G { m = 0 d = 1 predicate = P subsets = [{1}] }",
     "seed length m must be a positive integer, got 0", 2, 15),
    ("d not positive", "predicate P(a) = a\nlocal G { m = 2 d = -3 predicate = P subsets = random(seed = 1) }",
     "output length d must be a positive integer, got -3", 2, 21),
    ("subset size", "predicate P(a, b) = a\nlocal G { m = 4 d = 1 predicate = P subsets = [{1, 2, 3}] }",
     "subset has 3 indices but predicate P takes 2 inputs", 2, 48),
    ("index out of range", "predicate P(a, b) = a\nlocal G { m = 4 d = 1 predicate = P subsets = [{1, 5}] }",
     "seed index 5 is out of range 1..4", 2, 52),
    ("index zero", "predicate P(a, b) = a\nlocal G { m = 4 d = 1 predicate = P subsets = [{0, 1}] }",
     "seed index 0 is out of range", 2, 49),
    ("repeated index", "predicate P(a, b) = a\nlocal G { m = 4 d = 1 predicate = P subsets = [{3, 3}] }",
     "seed index 3 appears twice", 2, 52),
    ("subset count", "predicate P(a) = a\nlocal G { m = 4 d = 3 predicate = P subsets = [{1}, {2}] }",
     "2 subsets are listed but d = 3", 2, 47),
    ("random too few seeds", "predicate P(a, b, c) = a\nlocal G { m = 2 d = 3 predicate = P subsets = random(seed = 1) }",
     "cannot draw subsets of 3 distinct indices from m = 2", 2, 47),
    ("random without d", "predicate P(a) = a\nlocal G { m = 2 predicate = P subsets = random(seed = 1) }",
     "missing field d", 2, 7),
    ("random without seed", "predicate P(a) = a\nlocal G { m = 2 d = 2 predicate = P subsets = random() }",
     "random needs a seed", 2, 47),
    ("unknown field", "predicate P(a) = a\nlocal G { m = 2 d = 1 predicate = P subsets = [{1}] sead = 3 }",
     "unknown field sead", 2, 53),
    ("missing field", "local G { m = 2 d = 1 }", "missing field predicate", 1, 7),
    ("unknown predicate", "local G { m = 2 d = 1 predicate = Q subsets = [{1}] }", "unknown predicate Q", 1, 35),
    ("local is not predicate", "local H { m = 1 d = 1 predicate = H subsets = [{1}] }", "H is a local function", 1, 35),
    ("undefined generator", "predicate P(a) = a\ngenerator Q", "generator names Q, which is not defined", 2, 11),
    ("second generator", "predicate P(a) = a\ngenerator P\ngenerator P", "only one generator declaration", 3, 1),
]


@pytest.mark.parametrize("source, fragment, line, column", [case[1:] for case in ERROR_CASES],
                         ids=[case[0] for case in ERROR_CASES])
def test_error_reported_at_location(source, fragment, line, column):
    assert_error(source, fragment, line, column)


def test_every_error_reported_at_once():
    source = """predicate P(a, b) = a and c
predicate Q(x) = fourier { x: 1/2 }
circuit C(a) -> y {
  y = not(a, a)
  z = threshold(1/3*a, 0)
}
local G { m = 0 d = 2 predicate = P subsets = [{1, 1}] }
generator Missing
"""
    errors = errors_of(source)
    locations = [(line, column) for _, line, column in errors]
    assert locations == [(1, 27), (2, 18), (4, 7), (5, 17), (7, 15), (7, 47), (7, 52), (8, 11)]


def test_error_rendering_has_location_line_and_caret():
    with pytest.raises(SourceError) as caught:
        parse_source("predicate P(a) = a and zz\n", "demo.circ")
    text = str(caught.value)
    lines = text.splitlines()
    assert lines[0] == "demo.circ:1:24: error: zz is not an input of this predicate"
    assert lines[1] == "    predicate P(a) = a and zz"
    assert lines[2] == "    " + " " * 23 + "^~"
    assert lines[3].startswith("  hint: ")


# ---------------------------------------------------------------- syntax errors


def test_syntax_error_says_what_was_expected():
    errors = errors_of("predicate P(a) = a and\n")
    assert len(errors) == 1
    message, line, column = errors[0]
    assert message.startswith("unexpected end of file; expected ")
    assert "a name" in message
    assert "'('" in message
    assert (line, column) == (1, 23)


def test_syntax_error_unexpected_token():
    message, line, column = errors_of("circuit C(a) -> y { y = a b = }")[0]
    assert message == "unexpected '}'; expected '!', '(', '+', '-', 'not', 'threshold', a name or a number"
    assert (line, column) == (1, 31)


def test_syntax_error_has_no_internal_terminal_names():
    sources = ["circuit C(a) - y { }", "predicate P(a) = a @", "local G { m = }", "predicate P(a) = table [1,"]
    for source in sources:
        for message, _, _ in errors_of(source):
            assert "__ANON" not in message, message
            assert "RPAR" not in message, message
            assert "$END" not in message, message


def test_misspelled_keyword_gets_hint():
    with pytest.raises(SourceError) as caught:
        parse_source("predicte P(a) = a")
    diagnostic = caught.value.diagnostics[0]
    assert "unexpected name 'predicte'" in diagnostic.message
    assert diagnostic.hint == "did you mean 'predicate'?"


def test_syntax_errors_in_several_statements():
    source = """predicate P(a) = a b
predicate Q(a) = a
circuit C(a) -> y {
  y = and(a,
}
predicate R(a) = ±a
"""
    locations = [(line, column) for _, line, column in errors_of(source)]
    assert locations == [(1, 20), (5, 1), (6, 18)]


def test_unclosed_block_blames_next_statement_start():
    source = "circuit C(a) -> y {\n  y = a\n\npredicate Q(b) = b\n"
    message, line, column = errors_of(source)[0]
    assert "unexpected 'predicate'; expected '}' or a name" == message
    assert (line, column) == (4, 1)


# ---------------------------------------------------------------- random expressions

VARIABLES = ("a", "b", "c", "d")


def leaf():
    variables = st.sampled_from(VARIABLES).map(lambda name: (name, lambda env, name=name: env[name]))
    constants = st.sampled_from([("true", 1), ("false", -1), ("+1", 1), ("-1", -1)]).map(
        lambda pair: (pair[0], lambda env, value=pair[1]: value))
    return variables | constants


def combine(children):
    def negation(child):
        text, function = child
        return st.sampled_from(["-", "!", "not "]).map(lambda prefix: (f"{prefix}({text})", lambda env: -function(env)))

    def infix(operator, reference):
        def build(items):
            text = f" {operator} ".join(f"({item[0]})" for item in items)
            return text, lambda env: reference([item[1](env) for item in items])
        return st.lists(children, min_size=2, max_size=3).map(build)

    def call(name, reference, sizes):
        def build(items):
            text = f"{name}(" + ", ".join(item[0] for item in items) + ")"
            return text, lambda env: reference([item[1](env) for item in items])
        return st.sampled_from(sizes).flatmap(lambda size: st.lists(children, min_size=size, max_size=size)).map(build)

    def threshold():
        weights = st.sampled_from([Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(3, 4), Fraction(-2)])
        terms = st.lists(st.tuples(weights, children), min_size=1, max_size=3)
        bias = st.sampled_from([Fraction(0), Fraction(1, 2), Fraction(-3, 4), Fraction(1)])

        def build(parts):
            items, b = parts
            text = "threshold("
            for position, (w, item) in enumerate(items):
                if position == 0:
                    sign = "-" if w < 0 else ""
                else:
                    sign = " - " if w < 0 else " + "
                text += f"{sign}{abs(w)}*({item[0]})"
            text += f", {b})"
            return text, lambda env: 1 if sum(w * item[1](env) for w, item in items) - b >= 0 else -1
        return st.tuples(terms, bias).map(build)

    def product(values):
        return int(np.prod(values))

    def all_true(values):
        return 1 if all(v == 1 for v in values) else -1

    def any_true(values):
        return 1 if any(v == 1 for v in values) else -1

    def parity(values):
        return 1 if sum(v == 1 for v in values) % 2 else -1

    def majority(values):
        return 1 if sum(values) > 0 else -1

    return st.one_of(
        children.flatmap(negation),
        infix("*", product),
        infix("and", all_true),
        infix("or", any_true),
        infix("xor", parity),
        call("NAND", lambda values: -all_true(values), [2, 3]),
        call("nor", lambda values: -any_true(values), [2, 3]),
        call("xnor", lambda values: -parity(values), [2, 3]),
        call("maj", majority, [3]),
        threshold(),
    )


EXPRESSIONS = st.recursive(leaf(), combine, max_leaves=8)


@settings(max_examples=100, deadline=None)
@given(EXPRESSIONS)
def test_random_expression_matches_direct_evaluation(expression):
    text, function = expression
    expected = [function(dict(zip(VARIABLES, point))) for point in itertools.product([-1, 1], repeat=4)]
    # itertools.product varies the last variable fastest; relucc's index has input 0 as bit 0.
    expected_by_index = [0] * 16
    for position, point in enumerate(itertools.product([-1, 1], repeat=4)):
        index = sum(1 << i for i, value in enumerate(point) if value == 1)
        expected_by_index[index] = expected[position]

    program = parse_source(f"predicate P(a, b, c, d) = {text}\ncircuit C(a, b, c, d) -> y {{ y = {text} }}")
    predicate: Predicate = program.predicates["P"]
    circuit: Circuit = program.circuits["C"]

    assert predicate.truth_table.tolist() == expected_by_index
    assert circuit.evaluate(input_points(4))[:, 0].tolist() == expected_by_index
