"""Tests of the .bench, AIGER and BLIF readers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from relucc.boolean import Circuit
from relucc.errors import NetlistError
from relucc.netlist import read_aiger, read_bench, read_blif, read_netlist
from relucc.registry import netlist_entries, shared_circuits_dir

SHARED = shared_circuits_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared circuit collection not found")

# Files above this size are only imported, not evaluated, to keep the suite fast.
EVALUATE_MAX_GATES = 20000
IMPORT_MAX_BYTES = 60_000


def random_points(count: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(count, width))


def assert_topological(circuit: Circuit) -> None:
    available = set(circuit.inputs)
    for gate in circuit.gates:
        missing = [s for s in gate.inputs if s not in available]
        assert not missing, f"gate {gate.name} reads {missing} before they are defined"
        available.add(gate.name)
    assert all(name in available for name in circuit.outputs)


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def raised(read, path) -> NetlistError:
    with pytest.raises(NetlistError) as info:
        read(path)
    return info.value


# ---------------------------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------------------------


@needs_shared
def test_c17_truth_table():
    circuit = read_bench(SHARED / "iscas85" / "c17.bench")
    assert circuit.inputs == ["G1gat", "G2gat", "G3gat", "G6gat", "G7gat"]
    assert circuit.outputs == ["G22gat", "G23gat"]

    rows = np.array(list(itertools.product((-1, 1), repeat=5)), dtype=np.int8)
    result = circuit.evaluate(rows)
    for row, (out22, out23) in zip(rows, result):
        g1, g2, g3, g6, g7 = (row > 0)
        g11 = not (g3 and g6)
        assert out22 == (1 if (g1 and g3) or (g2 and g11) else -1)
        assert out23 == (1 if g11 and (g2 or g7) else -1)


@needs_shared
def test_c17_rows_by_hand():
    circuit = read_bench(SHARED / "iscas85" / "c17.bench")
    rows = np.array([[-1, -1, -1, -1, -1], [1, 1, 1, 1, 1], [1, -1, 1, -1, -1]], dtype=np.int8)
    assert circuit.evaluate(rows).tolist() == [[-1, -1], [1, -1], [1, -1]]


@needs_shared
@pytest.mark.parametrize("name", ["c17", "c432", "c499", "c880", "c1355", "c6288", "c7552"])
def test_iscas_dialects_agree(name):
    g_named = read_bench(SHARED / "iscas85" / f"{name}.bench")
    numeric = read_bench(SHARED / "iscas85" / "numeric_names" / f"{name}.bench")
    assert len(g_named.inputs) == len(numeric.inputs)
    assert len(g_named.outputs) == len(numeric.outputs)
    assert len(g_named.gates) == len(numeric.gates)
    points = random_points(256, len(g_named.inputs))
    assert np.array_equal(g_named.evaluate(points), numeric.evaluate(points))


def _small_entries():
    return [name for name, entry in netlist_entries().items() if entry.size_bytes <= IMPORT_MAX_BYTES]


@needs_shared
@pytest.mark.parametrize("name", _small_entries())
def test_shared_file_imports(name):
    circuit = netlist_entries()[name].load()
    assert_topological(circuit)
    assert len(set(gate.name for gate in circuit.gates)) == len(circuit.gates)
    if len(circuit.gates) <= EVALUATE_MAX_GATES:
        result = circuit.evaluate(random_points(8, len(circuit.inputs)))
        assert result.shape == (8, len(circuit.outputs))


@needs_shared
@pytest.mark.parametrize("name, inputs, outputs, gates", [
    ("iscas85/c432.bench", 36, 7, 160),
    ("iscas85/c6288.bench", 32, 32, 2416),
    ("iscas85/c2670.bench", 233, 140, 1193 + 76),  # a buf gate per output that is an input
    ("itc99/b03_C.bench", 34, 34, 122 + 5),
    ("aiger/halfadder.aag", 2, 2, 3),
    ("epfl/random_control/ctrl.aig", 7, 26, None),
    ("epfl/arithmetic/adder.aig", 256, 129, None),
])
def test_counts_match_sources_table(name, inputs, outputs, gates):
    circuit = read_netlist(SHARED / name)
    assert len(circuit.inputs) == inputs
    assert len(circuit.outputs) == outputs
    if gates is not None:
        assert len(circuit.gates) == gates


@needs_shared
def test_aiger_and_count_matches_header():
    circuit = read_aiger(SHARED / "epfl" / "random_control" / "int2float.aig")
    assert sum(gate.kind in ("and", "nor") for gate in circuit.gates) == 260


@needs_shared
def test_epfl_symbols_name_ports():
    circuit = read_aiger(SHARED / "epfl" / "arithmetic" / "adder.aig")
    assert circuit.inputs[:2] == ["a[0]", "a[1]"]
    assert circuit.outputs[0] == "f[0]"


_SAME_CIRCUIT = [
    ("aiger/i10.aig", "blif/i10.blif"),
    ("epfl/arithmetic/adder.aig", "epfl/arithmetic/adder.blif"),
    ("epfl/arithmetic/bar.aig", "epfl/arithmetic/bar.blif"),
    ("epfl/arithmetic/sin.aig", "epfl/arithmetic/sin.blif"),
    ("epfl/random_control/cavlc.aig", "epfl/random_control/cavlc.blif"),
    ("epfl/random_control/ctrl.aig", "epfl/random_control/ctrl.blif"),
    ("epfl/random_control/dec.aig", "epfl/random_control/dec.blif"),
    ("epfl/random_control/i2c.aig", "epfl/random_control/i2c.blif"),
    ("epfl/random_control/int2float.aig", "epfl/random_control/int2float.blif"),
    ("epfl/random_control/priority.aig", "epfl/random_control/priority.blif"),
    ("epfl/random_control/router.aig", "epfl/random_control/router.blif"),
    ("epfl/random_control/ctrl.aig", "epfl/best_results/size/ctrl_size_2023.blif"),
    ("epfl/random_control/dec.aig", "epfl/best_results/size/dec_size_2018.blif"),
    ("epfl/random_control/int2float.aig", "epfl/best_results/size/int2float_size_2024.blif"),
    ("epfl/random_control/cavlc.aig", "epfl/best_results/size/cavlc_size_2024.blif"),
    ("epfl/random_control/router.aig", "epfl/best_results/size/router_size_2024.blif"),
]


@needs_shared
@pytest.mark.parametrize("first, second", _SAME_CIRCUIT)
def test_formats_of_one_circuit_agree(first, second):
    # Ports are matched by position because some best-results files rename them.
    a = read_netlist(SHARED / first)
    b = read_netlist(SHARED / second)
    assert len(a.inputs) == len(b.inputs)
    assert len(a.outputs) == len(b.outputs)
    points = random_points(512, len(a.inputs), seed=1)
    assert np.array_equal(a.evaluate(points), b.evaluate(points))


@needs_shared
@pytest.mark.parametrize("name, expected", [
    ("aiger/and.aag", [[-1], [-1], [-1], [1]]),
    ("aiger/or.aag", [[-1], [1], [1], [1]]),
    ("aiger/xor1.aag", [[-1], [1], [1], [-1]]),
    ("aiger/xorxormiter.aag", [[-1], [-1], [-1], [-1]]),
    ("aiger/halfadder.aag", [[-1, -1], [1, -1], [1, -1], [-1, 1]]),
])
def test_small_aiger_truth_tables(name, expected):
    rows = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], dtype=np.int8)
    assert read_aiger(SHARED / name).evaluate(rows).tolist() == expected


@needs_shared
@pytest.mark.parametrize("name, expected", [
    ("aiger/buffer.aag", [[-1], [1]]),
    ("aiger/inverter.aag", [[1], [-1]]),
])
def test_aiger_input_outputs(name, expected):
    circuit = read_aiger(SHARED / name)
    assert circuit.outputs[0] not in circuit.inputs
    assert circuit.evaluate(np.array([[-1], [1]], dtype=np.int8)).tolist() == expected


@needs_shared
@pytest.mark.parametrize("name, value", [("aiger/true.aag", 1), ("aiger/false.aag", -1)])
def test_aiger_constant_outputs(name, value):
    circuit = read_aiger(SHARED / name)
    assert circuit.inputs == []
    assert circuit.evaluate(np.zeros((1, 0), dtype=np.int8)).tolist() == [[value]]


@needs_shared
def test_empty_aiger():
    circuit = read_aiger(SHARED / "aiger" / "empty.aag")
    assert (circuit.inputs, circuit.outputs, circuit.gates) == ([], [], [])


@needs_shared
def test_bench_output_that_is_input_gets_buffer():
    circuit = read_bench(SHARED / "itc99" / "b02_C.bench")
    driven = {gate.name for gate in circuit.gates}
    assert all(name in driven for name in circuit.outputs)
    assert "U_$output" not in circuit.inputs


# ---------------------------------------------------------------------------------------------
# Hand-written files
# ---------------------------------------------------------------------------------------------


def test_bench_out_of_order_and_xnor(tmp_path):
    path = write(tmp_path, "x.bench", "OUTPUT(z)\nz = XNOR(y, b)\ny = buff(a)\nINPUT(a)\nINPUT(b)\n")
    circuit = read_bench(path)
    assert [gate.name for gate in circuit.gates] == ["y", "z"]
    rows = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], dtype=np.int8)
    assert circuit.evaluate(rows).tolist() == [[1], [-1], [-1], [1]]


def test_binary_and_ascii_aiger_agree(tmp_path):
    # z = AND(b, NOT a) and w = NOT z; binary: lhs 6, deltas 6-4=2 and 4-3=1.
    ascii_path = write(tmp_path, "t.aag", "aag 3 2 0 2 1\n2\n4\n6\n7\n6 4 3\ni0 a\ni1 b\no0 z\n")
    binary_path = write(tmp_path, "t.aig", b"aig 3 2 0 2 1\n6\n7\n\x02\x01i0 a\ni1 b\no0 z\nc\n\x00x")
    rows = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], dtype=np.int8)
    ascii_circuit = read_aiger(ascii_path)
    binary_circuit = read_aiger(binary_path)
    assert ascii_circuit.inputs == binary_circuit.inputs == ["a", "b"]
    assert ascii_circuit.outputs[0] == binary_circuit.outputs[0] == "z"
    assert ascii_circuit.evaluate(rows).tolist() == [[-1, 1], [-1, 1], [1, -1], [-1, 1]]
    assert binary_circuit.evaluate(rows).tolist() == ascii_circuit.evaluate(rows).tolist()


def test_binary_aiger_multibyte_delta(tmp_path):
    # 130 inputs, one AND of inputs 1 and 130: lhs 262, deltas 262-260=2 and 260-2=258.
    content = b"aig 131 130 0 1 1\n262\n\x02\x82\x02"
    circuit = read_aiger(write(tmp_path, "wide.aig", content))
    assert circuit.gates[-1].inputs == ("i129", "i0")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_bench_undefined_signal(tmp_path):
    path = write(tmp_path, "u.bench", "INPUT(a)\nOUTPUT(z)\nz = AND(a, ghost)\n")
    error = raised(read_bench, path)
    assert "undefined signal ghost" in error.diagnostics[0].message
    assert (error.location.line, error.location.column) == (3, 12)


def test_bench_defined_twice(tmp_path):
    path = write(tmp_path, "d.bench", "INPUT(a)\nOUTPUT(z)\nz = NOT(a)\nz = BUF(a)\n")
    error = raised(read_bench, path)
    assert "signal z is defined twice" in error.diagnostics[0].message
    assert error.location.line == 4
    assert "line 3" in error.diagnostics[0].hint


def test_bench_cycle_names_signals(tmp_path):
    text = "INPUT(a)\nOUTPUT(z)\nz = AND(a, q)\np = NOT(z)\nq = OR(p, a)\n"
    error = raised(read_bench, write(tmp_path, "c.bench", text))
    message = error.diagnostics[0].message
    assert message == "combinational cycle: z -> p -> q -> z"
    assert error.location.line == 3


def test_bench_unknown_gate_kind(tmp_path):
    error = raised(read_bench, write(tmp_path, "k.bench", "INPUT(a)\nOUTPUT(z)\nz = FROB(a)\n"))
    assert "unknown gate kind 'FROB'" in error.diagnostics[0].message
    assert (error.location.line, error.location.column) == (3, 5)
    assert "NAND" in error.diagnostics[0].hint


def test_bench_not_with_two_inputs(tmp_path):
    path = write(tmp_path, "f.bench", "INPUT(a)\nINPUT(b)\nOUTPUT(z)\nz = NOT(a, b)\n")
    error = raised(read_bench, path)
    assert error.diagnostics[0].message == "NOT gate z has 2 inputs, expected exactly 1"
    assert (error.location.line, error.location.column) == (4, 5)


def test_bench_invalid_line(tmp_path):
    error = raised(read_bench, write(tmp_path, "s.bench", "INPUT(a)\n  what is this\n"))
    assert "invalid line" in error.diagnostics[0].message
    assert (error.location.line, error.location.column) == (2, 3)


def test_bench_reports_every_problem(tmp_path):
    text = "INPUT(a)\nOUTPUT(z)\nOUTPUT(w)\nz = AND(a, x)\nw = NOT(a, a)\ny = MUX(a)\n"
    error = raised(read_bench, write(tmp_path, "m.bench", text))
    lines = sorted(d.location.line for d in error.diagnostics)
    assert lines == [4, 5, 6]
    assert "m.bench:4:12: error: undefined signal x" in str(error)


@needs_shared
def test_bench_dff_rejected():
    error = raised(read_bench, SHARED / "iscas89" / "s27.bench")
    message = error.diagnostics[0].message
    assert message.startswith("sequential netlist: flip-flop G5 = DFF(G10)")
    assert "3 DFF gates" in message
    assert error.location.line == 14


@needs_shared
def test_aiger_latch_rejected():
    error = raised(read_aiger, SHARED / "aiger" / "cnt1e.aag")
    message = error.diagnostics[0].message
    assert message.startswith("sequential netlist: latch l0")
    assert "literal 4" in message
    assert error.location.line == 3


@needs_shared
def test_blif_latch_rejected():
    error = raised(read_blif, SHARED / "blif" / "s444.blif")
    assert "'.latch G11_in G11 0'" in error.diagnostics[0].message


def test_aiger_truncated_binary(tmp_path):
    error = raised(read_aiger, write(tmp_path, "t.aig", b"aig 4 2 0 1 2\n8\n\x02\x02\x82"))
    assert "truncated binary AIGER" in error.diagnostics[0].message
    assert "AND gate 1 of 2" in error.diagnostics[0].message
    assert error.location.byte_offset == 19
    assert "byte 19" in str(error)


def test_aiger_corrupt_delta(tmp_path):
    error = raised(read_aiger, write(tmp_path, "z.aig", b"aig 3 2 0 1 1\n6\n\x00\x00"))
    assert "corrupt binary AIGER" in error.diagnostics[0].message
    assert error.location.byte_offset == 16


def test_aiger_binary_header_disagrees(tmp_path):
    error = raised(read_aiger, write(tmp_path, "h.aig", b"aig 5 2 0 1 1\n6\n\x02\x02"))
    assert "header M = 5 disagrees with I + L + A = 3" in error.diagnostics[0].message


def test_aiger_fewer_ands_than_header(tmp_path):
    error = raised(read_aiger, write(tmp_path, "f.aag", "aag 4 2 0 1 2\n2\n4\n6\n6 2 4\n"))
    assert error.diagnostics[0].message == "header declares 2 AND gates but the file ends after 1"


def test_aiger_more_lines_than_header(tmp_path):
    error = raised(read_aiger, write(tmp_path, "m.aag", "aag 4 2 0 1 1\n2\n4\n6\n6 2 4\n8 6 2\n"))
    assert "unexpected line '8 6 2'" in error.diagnostics[0].message
    assert error.location.line == 6


def test_aiger_undefined_literal(tmp_path):
    error = raised(read_aiger, write(tmp_path, "u.aag", "aag 4 2 0 1 1\n2\n4\n6\n6 2 8\n"))
    assert error.diagnostics[0].message == "undefined literal 8 (variable 4)"
    assert error.location.line == 5


def test_aiger_ascii_cycle(tmp_path):
    text = "aag 4 1 0 1 2\n2\n6\n6 2 8\n8 6 2\n"
    error = raised(read_aiger, write(tmp_path, "c.aag", text))
    assert error.diagnostics[0].message == "combinational cycle: o0 -> n4 -> o0"


def test_aiger_and_defined_twice(tmp_path):
    error = raised(read_aiger, write(tmp_path, "t.aag", "aag 4 2 0 1 2\n2\n4\n6\n6 2 4\n6 4 2\n"))
    assert "variable 3 (literal 6) is defined twice" in error.diagnostics[0].message


def test_unknown_suffix(tmp_path):
    error = raised(read_netlist, write(tmp_path, "x.v", "module x; endmodule\n"))
    assert "unknown netlist format '.v'" in error.diagnostics[0].message


def test_missing_file(tmp_path):
    error = raised(read_netlist, tmp_path / "absent.bench")
    assert "cannot read netlist" in error.diagnostics[0].message
