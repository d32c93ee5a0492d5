"""Tests of the sparse IR and the sparse ONNX layout: exactness, certificates, reading back, the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from relucc import circuit_compiler, sparse_network
from relucc.boolean import input_points
from relucc.circuit_compiler import compile_circuit
from relucc.errors import CheckFailure, ModelError
from relucc.netlist import read_netlist
from relucc.reader import compare, load, recompute_certificate
from relucc.registry import random_circuit
from relucc.runtime import check_against_reference, session
from relucc.sparse_layout import padded_layer
from relucc.sparse_network import SparseAffineLayer, is_sparse

C17_BENCH = """\
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


@pytest.fixture
def c17_path(tmp_path):
    path = tmp_path / "c17.bench"
    path.write_text(C17_BENCH)
    return path


@pytest.fixture
def sparse_ir(monkeypatch):
    """Keep every circuit's network in the sparse IR, as the compiler does above SPARSE_THRESHOLD."""
    monkeypatch.setattr(circuit_compiler, "SPARSE_THRESHOLD", 0)
    monkeypatch.setattr(sparse_network, "SPARSE_THRESHOLD", 0)


def cube_outputs(model: onnx.ModelProto, length: int) -> tuple[np.ndarray, np.ndarray]:
    points = input_points(length).astype(np.float32)
    return points, session(model).run(None, {"x": points})[0]


def assert_layouts_exact(compiled) -> None:
    points = input_points(compiled.input_length).astype(np.float32)
    expected = compiled.reference(points).astype(np.float32)
    for layout in ("dense", "sparse"):
        _, got = cube_outputs(compiled.to_onnx(layout), compiled.input_length)
        np.testing.assert_array_equal(got, expected, err_msg=f"{layout} layout")


@pytest.mark.parametrize("seed", range(12))
def test_random_circuit_layouts_exact(seed):
    compiled = compile_circuit(random_circuit(seed, inputs=7, gates=40, outputs=5))
    assert compiled.layouts == ("dense", "sparse")
    assert_layouts_exact(compiled)


@pytest.mark.parametrize("seed", range(4))
def test_sparse_ir_layouts_exact(seed, sparse_ir):
    compiled = compile_circuit(random_circuit(seed, inputs=6, gates=30, outputs=4))
    assert is_sparse(compiled.network)
    assert compiled.layouts == ("sparse", "dense")
    assert compiled.to_onnx().metadata_props[0].value.count('"layout": "sparse"') == 1
    assert_layouts_exact(compiled)


def test_sparse_ir_equals_dense_ir(c17_path, monkeypatch):
    dense = compile_circuit(read_netlist(c17_path))
    monkeypatch.setattr(circuit_compiler, "SPARSE_THRESHOLD", 0)
    sparse = compile_circuit(read_netlist(c17_path))
    assert not is_sparse(dense.network)
    assert is_sparse(sparse.network)
    for dense_layer, sparse_layer in zip(dense.network.layers, sparse.network.layers):
        np.testing.assert_array_equal(sparse_layer.weight, dense_layer.weight)
        np.testing.assert_array_equal(sparse_layer.bias, dense_layer.bias)
        assert sparse_layer.exponent == dense_layer.exponent


def test_sparse_certificate_bounds(c17_path, monkeypatch):
    dense = compile_circuit(read_netlist(c17_path)).certificate
    monkeypatch.setattr(circuit_compiler, "SPARSE_THRESHOLD", 0)
    sparse = compile_circuit(read_netlist(c17_path)).certificate
    for key in ("depth", "size", "size_per_output", "bit_complexity", "float32_exact"):
        assert sparse[key] == dense[key], key
    assert sparse["lipschitz_bound"]["absolute_product"] == pytest.approx(dense["lipschitz_bound"]["absolute_product"],
                                                                       rel=1e-12)
    # The sparse path bounds whole layers by sqrt(||W||_1 ||W||_inf) >= ||W||_2, never below LAPACK's value.
    assert sparse["lipschitz_bound"]["operator_norm_product"] >= \
        dense["lipschitz_bound"]["operator_norm_product"] * (1 - 1e-12)
    assert sparse["lipschitz_bound"]["value"] >= dense["lipschitz_bound"]["value"] * (1 - 1e-12)


def test_sparse_lipschitz_bound_holds(sparse_ir):
    compiled = compile_circuit(random_circuit(3, inputs=6, gates=30, outputs=4))
    bound = compiled.certificate["lipschitz_bound"]["value"]
    rng = np.random.default_rng(0)
    first = rng.uniform(-1, 1, size=(2000, compiled.input_length))
    second = first + rng.normal(scale=1e-3, size=first.shape)
    change = np.abs(compiled.network.evaluate_float(first) - compiled.network.evaluate_float(second))
    distance = np.linalg.norm(first - second, axis=1)
    assert np.all(change.max(axis=1) <= bound * distance * (1 + 1e-9))


def test_onnx_reference_agrees_with_onnxruntime(c17_path):
    from onnx.reference import ReferenceEvaluator

    compiled = compile_circuit(read_netlist(c17_path))
    model = compiled.to_onnx("sparse")
    points, runtime = cube_outputs(model, compiled.input_length)
    reference = ReferenceEvaluator(model).run(None, {"x": points})[0]
    np.testing.assert_array_equal(reference, runtime)
    np.testing.assert_array_equal(runtime, compiled.reference(points).astype(np.float32))


def test_padding_has_zero_weight():
    layer = SparseAffineLayer(np.array([0, 0, 0, 2]), np.array([1, 2, 4, 3]), np.array([2, -1, 1, 4]),
                              np.array([1, 0, -3]), 1, 5)
    indices, weights, width = padded_layer(layer)
    assert width == 3
    np.testing.assert_array_equal(indices.reshape(3, 3), [[1, 2, 4], [0, 0, 0], [3, 0, 0]])
    np.testing.assert_array_equal(weights.reshape(3, 3), [[1, -0.5, 0.5], [0, 0, 0], [2, 0, 0]])


@pytest.mark.parametrize("forced", [False, True])
def test_reader_recomputes_sparse_certificate(c17_path, tmp_path, monkeypatch, forced):
    if forced:
        monkeypatch.setattr(circuit_compiler, "SPARSE_THRESHOLD", 0)
        monkeypatch.setattr(sparse_network, "SPARSE_THRESHOLD", 0)
    compiled = compile_circuit(read_netlist(c17_path))
    path = tmp_path / "c17.onnx"
    compiled.save(str(path), layout="sparse")
    loaded = load(str(path))
    assert loaded.layout == "sparse"
    for read_layer, compiled_layer in zip(loaded.network.layers, compiled.network.layers):
        np.testing.assert_array_equal(read_layer.weight_float(), compiled_layer.weight_float())
        np.testing.assert_array_equal(read_layer.bias_float(), compiled_layer.bias_float())
    rows = compare(loaded.stored_certificate, recompute_certificate(loaded))
    verdicts = {key: verdict for key, _, _, verdict in rows}
    assert "DIFFERS" not in verdicts.values(), rows
    assert verdicts["lipschitz_bound"] == "agrees"


def test_corrupted_sparse_weight_caught(c17_path):
    compiled = compile_circuit(read_netlist(c17_path))
    model = compiled.to_onnx("sparse")
    initializer = next(init for init in model.graph.initializer if init.name.endswith("/weight"))
    weights = numpy_helper.to_array(initializer).copy()
    weights[np.flatnonzero(weights)[0]] *= 3
    initializer.CopyFrom(numpy_helper.from_array(weights, initializer.name))
    with pytest.raises(CheckFailure, match="onnxruntime output"):
        check_against_reference(model, compiled.reference, compiled.input_length, 0, compiled.exhaustive_limit,
                                progress=False)


def test_reader_rejects_wrong_reduce_axis(c17_path, tmp_path):
    model = compile_circuit(read_netlist(c17_path)).to_onnx("sparse")
    axes = next(init for init in model.graph.initializer if init.name.endswith("/axes"))
    axes.CopyFrom(numpy_helper.from_array(np.array([0], dtype=np.int64), axes.name))
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="ReduceSum over axis 1"):
        load(str(path))


def test_big_network_defaults_to_sparse_exhaustive_cost(sparse_ir):
    compiled = compile_circuit(random_circuit(5, inputs=6, gates=30, outputs=4))
    assert compiled.exhaustive_limit == 24
    assert sparse_network.padded_entry_count(compiled.network) <= sparse_network.dense_weight_count(compiled.network)


def run_cli(*arguments):
    return subprocess.run([sys.executable, "-m", "relucc.cli", *map(str, arguments)], capture_output=True,
                          text=True)


def test_cli_sparse_compile_check_info(c17_path, tmp_path):
    model = tmp_path / "c17.onnx"
    compiled = run_cli("compile", c17_path, "-o", model, "--layout", "sparse")
    assert compiled.returncode == 0, compiled.stderr
    assert "sparse layout" in compiled.stdout

    checked = run_cli("check", c17_path, "--layout", "sparse")
    assert checked.returncode == 0, checked.stderr
    assert "the sparse network computes" in checked.stdout

    info = run_cli("info", model)
    assert info.returncode == 0, info.stdout + info.stderr
    assert "sparse layout" in info.stdout
    assert "DIFFERS" not in info.stdout
