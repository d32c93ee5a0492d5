"""Tests of circuit lowering: exactness on netlists and random circuits, critics, certificates, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from relucc.boolean import Circuit, Gate, input_points
from relucc.circuit_compiler import CompiledCircuit, compile_circuit, critic_domain_points
from relucc.errors import CheckFailure, UsageError
from relucc.network import AffineLayer
from relucc.registry import random_circuit
from relucc.runtime import check_against_reference

C17_BENCH = """\
# c17 from the ISCAS-85 suite
INPUT(1)
INPUT(2)
INPUT(3)
INPUT(6)
INPUT(7)
OUTPUT(22)
OUTPUT(23)
10 = NAND(1, 3)
11 = NAND(3, 6)
16 = NAND(2, 11)
19 = NAND(11, 7)
22 = NAND(10, 16)
23 = NAND(16, 19)
"""

MIXED_BENCH = """\
INPUT(a)
INPUT(b)
INPUT(c)
INPUT(d)
OUTPUT(p)
OUTPUT(q)
OUTPUT(r)
n = NOT(a)
x = XOR(n, b, c)
y = NOR(x, d)
o = OR(y, a, n)
p = XNOR(y, o)
q = AND(x, NOT_d)
NOT_d = NOT(d)
r = BUFF(b)
"""


def exact_outputs(compiled: CompiledCircuit, points: np.ndarray, exponent: int = 0) -> np.ndarray:
    numerators, output_exponent = compiled.network.evaluate_exact(points, exponent)
    assert np.all(np.asarray(numerators) % (1 << output_exponent) == 0)
    return np.asarray(numerators // (1 << output_exponent), dtype=np.int64)


def assert_exact_on_cube(compiled: CompiledCircuit) -> None:
    points = input_points(compiled.input_length).astype(np.int64)
    expected = compiled.circuit.evaluate(points).astype(np.int64)
    np.testing.assert_array_equal(exact_outputs(compiled, points), expected)


@pytest.fixture
def c17_path(tmp_path):
    path = tmp_path / "c17.bench"
    path.write_text(C17_BENCH)
    return path


def read(path) -> Circuit:
    from relucc.netlist import read_netlist

    return read_netlist(path)


def test_c17_exact_and_depth(c17_path):
    compiled = compile_circuit(read(c17_path))
    assert_exact_on_cube(compiled)
    assert compiled.certificate["depth"] == compiled.leveled.depth + 1 == 4
    record = check_against_reference(compiled.to_onnx(), compiled.reference, 5, 10, compiled.exhaustive_limit,
                                     progress=False)
    assert record["kind"].startswith("exhaustive")
    assert record["inputs"] == 32


def test_mixed_gate_kinds_exact(tmp_path):
    path = tmp_path / "mixed.bench"
    path.write_text(MIXED_BENCH)
    compiled = compile_circuit(read(path))
    assert_exact_on_cube(compiled)
    roles = compiled.certificate["construction"]["gadgets"]
    assert {"xor", "xnor", "threshold"} <= set(roles)


@pytest.mark.parametrize("seed", range(40))
def test_random_circuits_exact(seed):
    circuit = random_circuit(seed, inputs=6, gates=30, outputs=5)
    compiled = compile_circuit(circuit)
    assert_exact_on_cube(compiled)
    assert compiled.certificate["depth"] == compiled.leveled.depth + 1
    assert compiled.network.hidden_sizes == [compiled.network.layers[i].shape[0] for i in range(compiled.leveled.depth)]


@pytest.mark.parametrize("seed", range(20))
def test_random_threshold_circuits_exact(seed):
    circuit = random_circuit(seed, inputs=7, gates=25, outputs=4, kinds=("threshold", "not", "const", "xor"))
    compiled = compile_circuit(circuit)
    assert_exact_on_cube(compiled)


def test_wide_circuit_gadget_level_certificate():
    circuit = random_circuit(11, inputs=30, gates=120, outputs=6)
    compiled = compile_circuit(circuit)
    kinds = [record["kind"] for record in compiled.certificate["verification"]]
    assert kinds[0].startswith("gadget-level exact")
    assert len(kinds) == 1  # 30 inputs are too many for the compile-time end-to-end check
    assert compiled.certificate["max_abs_activation"]["method"].startswith("gadget-level")
    record = check_against_reference(compiled.to_onnx(), compiled.reference, 30, 3000,
                                     compiled.exhaustive_limit, progress=False)
    assert record["kind"].startswith("random")


def test_wrong_weight_caught_by_check(c17_path):
    compiled = compile_circuit(read(c17_path))
    layer = compiled.network.layers[1]
    weight = np.array(layer.weight, dtype=np.int64)
    row, column = np.argwhere(weight != 0)[0]
    weight[row, column] += 1 << layer.exponent
    compiled.network.layers[1] = AffineLayer(weight, layer.bias, layer.exponent, layer.roles)
    with pytest.raises(CheckFailure, match="reference gives"):
        check_against_reference(compiled.to_onnx(), compiled.reference, 5, 10, 24, progress=False)


def test_critic_equals_circuit_on_domain(c17_path):
    xi = Fraction(1, 64)
    compiled = compile_circuit(read(c17_path), critic_xi="1/64")
    assert compiled.certificate["depth"] == compiled.leveled.depth + 2
    assert compiled.certificate["exact_domain"] == "{x in R^5 : every |x_i| >= 1/64}"
    points, exponent = critic_domain_points(5, xi, 400, seed=5)
    expected = compiled.circuit.evaluate(np.where(points >= 0, 1, -1)).astype(np.int64)
    np.testing.assert_array_equal(exact_outputs(compiled, points, exponent), expected)

    # onnxruntime on multiples of xi in [-1, 1], where the certificate says float32 is exact.
    assert compiled.certificate["float32_exact"]
    import onnxruntime

    rng = np.random.default_rng(0)
    steps = rng.integers(1, 65, size=(2000, 5)) * (2 * rng.integers(0, 2, size=(2000, 5)) - 1)
    grid = (steps / 64).astype(np.float32)
    session = onnxruntime.InferenceSession(compiled.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": grid})[0]
    np.testing.assert_array_equal(got, compiled.reference(grid).astype(np.float32))


def test_critic_lipschitz_bound_holds(c17_path):
    compiled = compile_circuit(read(c17_path), critic_xi=Fraction(1, 8))
    bound = compiled.certificate["lipschitz_bound"]["value"]
    level_bound = compiled.certificate["paper_bound"]["lipschitz_bound"]
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.3, 0.3, size=(3000, 5))
    y = x + rng.normal(scale=0.02, size=x.shape)
    difference = np.abs(compiled.network.evaluate_float(x) - compiled.network.evaluate_float(y))
    distance = np.linalg.norm(x - y, axis=1)
    ratio = float(np.max(difference / distance[:, None]))
    assert ratio <= bound * (1 + 1e-9)
    assert ratio <= level_bound * (1 + 1e-9)
    assert ratio > 1  # the sample reaches the steep part, so the check is not vacuous


def test_critic_xi_rejected():
    circuit = random_circuit(0)
    for bad in ("3/4", "0", "2", "1/3", "abc"):
        with pytest.raises(UsageError, match="critic-xi"):
            compile_circuit(circuit, critic_xi=bad)


def test_non_dyadic_threshold_rejected():
    gate = Gate("t", "threshold", ("a", "b"), weights=(Fraction(1, 3), Fraction(1)), bias=Fraction(0))
    circuit = Circuit("bad", ["a", "b"], ["t"], [gate])
    with pytest.raises(UsageError, match="not a dyadic rational"):
        compile_circuit(circuit)


def test_circuit_without_inputs_rejected():
    circuit = Circuit("constant", [], ["c"], [Gate("c", "const", (), value=1)])
    with pytest.raises(UsageError, match="no inputs"):
        compile_circuit(circuit)


def test_huge_weights_flagged_not_float32_exact():
    weights = (Fraction(2**30), Fraction(2**30 + 1), Fraction(1))
    gate = Gate("t", "threshold", ("a", "b", "c"), weights=weights, bias=Fraction(1, 2))
    relay = Gate("u", "xor", ("t", "c"))
    circuit = Circuit("huge", ["a", "b", "c"], ["u"], [gate, relay])
    compiled = compile_circuit(circuit)
    assert_exact_on_cube(compiled)
    assert compiled.certificate["float32_exact"] is False


def test_too_many_distinct_sums_rejected():
    # Powers of two as weights make all 2^22 sums distinct, above MAX_DISTINCT_SUMS = 2^20.
    weights = tuple(Fraction(2**i) for i in range(22))
    gate = Gate("t", "threshold", tuple(f"x{i}" for i in range(22)), weights=weights, bias=Fraction(1, 2))
    circuit = Circuit("wide", [f"x{i}" for i in range(22)], ["t"], [gate])
    with pytest.raises(UsageError, match="cannot compute its margin exactly"):
        compile_circuit(circuit)


def run_cli(*arguments, cwd=None):
    return subprocess.run([sys.executable, "-m", "relucc.cli", *map(str, arguments)], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_compile_check_info(c17_path, tmp_path):
    model = tmp_path / "c17.onnx"
    compiled = run_cli("compile", c17_path, "-o", model)
    assert compiled.returncode == 0, compiled.stderr
    assert "leveled circuit (Lemma 2.11)" in compiled.stdout

    checked = run_cli("check", c17_path)
    assert checked.returncode == 0, checked.stderr
    assert "exhaustive, onnxruntime float32" in checked.stdout

    info = run_cli("info", model)
    assert info.returncode == 0, info.stdout + info.stderr
    assert "DIFFERS" not in info.stdout

    as_json = run_cli("compile", c17_path, "-o", model, "--json")
    certificate = json.loads(as_json.stdout)
    assert certificate["depth"] == 4
    assert certificate["construction"]["relays"] == 3


def test_cli_critic(c17_path, tmp_path):
    model = tmp_path / "critic.onnx"
    result = run_cli("compile", c17_path, "-o", model, "--critic-xi", "1/64")
    assert result.returncode == 0, result.stderr
    assert "critic f o h_xi with xi = 1/64" in result.stdout
    bad = run_cli("compile", c17_path, "-o", model, "--critic-xi", "3/4")
    assert bad.returncode == 2
    assert "power of two" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_rejects_non_dyadic_threshold(tmp_path):
    source = tmp_path / "bad.circ"
    source.write_text("circuit Bad(a, b) -> (t) {\n    t = threshold(a + 1/3*b, 0)\n}\n\ngenerator Bad\n")
    result = run_cli("compile", source, "-o", tmp_path / "bad.onnx")
    assert result.returncode == 2
    assert f"{source}:2:" in result.stderr
    assert "dyadic" in result.stderr
    assert not (tmp_path / "bad.onnx").exists()


def test_cli_circ_threshold_circuit(tmp_path):
    source = tmp_path / "vote.circ"
    source.write_text("circuit Vote(a, b, c, d) -> (t, u) {\n"
                      "    t = threshold(a + 1/2*b - 3/4*c + d, 1/4)\n"
                      "    u = xor(t, a)\n}\n\ngenerator Vote\n")
    result = run_cli("check", source)
    assert result.returncode == 0, result.stderr
    assert "exact equality" in result.stdout
