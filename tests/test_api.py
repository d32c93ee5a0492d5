"""The Python API (relucc.compile, compile_source, load), ONNX options, the {0,1} encoding and bad models."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import relucc
from relucc.certify import certify_network
from relucc.cli import main
from relucc.emit import OPSET, supported_opsets
from relucc.encoding import domain_points, fold_01
from relucc.errors import ModelError, SourceError, UsageError
from relucc.network import AffineLayer, Network
from relucc.runtime import session

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = EXAMPLES / "tiny_prg.circ"


@pytest.fixture(scope="module")
def tiny():
    return relucc.compile(TINY)


def _all_seeds(length: int) -> np.ndarray:
    return domain_points(length, "pm1")


def _run(model: onnx.ModelProto, inputs: np.ndarray) -> np.ndarray:
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: inputs.astype(np.float32)})[0]


def test_import_relucc_stays_light():
    code = "import sys, relucc; print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_compile_path_exposes_certificate_and_network(tiny):
    assert tiny.certificate["inputs"] == 8
    assert tiny.certificate["outputs"] == 12
    network = tiny.network
    assert isinstance(network, relucc.LocalNetwork)
    assert network.subsets.shape == (12, 3)
    assert network.predicate_network.depth == tiny.certificate["depth"]


def test_evaluate_is_exact_on_domain(tiny):
    seeds = _all_seeds(8)
    values = tiny.evaluate(seeds)
    np.testing.assert_array_equal(values, tiny.reference(seeds))
    np.testing.assert_array_equal(tiny.evaluate(seeds[5]), tiny.reference(seeds[5:6])[0])


def test_evaluate_returns_fractions_off_domain(tiny):
    point = np.array([0.5, -0.25, 1, 1, -1, 0.75, 1, -1])
    values = tiny.evaluate(point)
    assert all(isinstance(v, (Fraction, int, np.integer)) for v in values)
    dense = tiny.network.dense()
    np.testing.assert_allclose(np.array(values, dtype=np.float64), dense.evaluate_float(point[None, :])[0])


def test_evaluate_rejects_bad_inputs(tiny):
    with pytest.raises(UsageError, match="dyadic"):
        tiny.evaluate([Fraction(1, 3)] + [1] * 7)
    with pytest.raises(UsageError, match=r"shape \[N, 8\]"):
        tiny.evaluate(np.ones((2, 5)))
    with pytest.raises(UsageError, match="finite"):
        tiny.evaluate([float("nan")] + [1.0] * 7)


def test_compile_missing_file_names_path(tmp_path):
    missing = tmp_path / "absent.circ"
    with pytest.raises(UsageError) as error:
        relucc.compile(missing)
    assert error.value.location.path == str(missing)
    assert "file not found" in str(error.value)


def test_compile_source_text_hint():
    with pytest.raises(UsageError, match="compile_source"):
        relucc.compile("predicate P(a) = a\ngenerator P\n")


def test_compile_source_reports_location():
    source = "predicate P(a, b) = a * AND(b, c)\ngenerator P\n"
    with pytest.raises(SourceError) as error:
        relucc.compile_source(source, name="inline.circ")
    location = error.value.location
    assert location.path == "inline.circ"
    assert location.line == 1
    assert location.column > 1


def test_compile_source_matches_file(tiny):
    compiled = relucc.compile_source(TINY.read_text(), name="tiny_prg.circ")
    seeds = _all_seeds(8)
    np.testing.assert_array_equal(compiled.evaluate(seeds), tiny.evaluate(seeds))


@pytest.mark.parametrize("layout", ["local", "dense"])
@pytest.mark.parametrize("opset", [OPSET, supported_opsets()[-1]])
def test_to_onnx_opset_names_and_batch(tiny, layout, opset):
    model = tiny.to_onnx(layout, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    (graph_input,) = model.graph.input
    assert graph_input.name == "z"
    assert graph_input.type.tensor_type.elem_type == TensorProto.FLOAT
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N"
    assert dims[1].dim_value == 8
    assert model.graph.output[0].name == "y"
    seeds = _all_seeds(8)
    np.testing.assert_array_equal(_run(model, seeds), tiny.reference(seeds).astype(np.float32))


@pytest.mark.parametrize("opset", [16, supported_opsets()[-1] + 1, "17", 17.0, True])
def test_to_onnx_rejects_unsupported_opset(tiny, opset):
    with pytest.raises(UsageError, match=f"relucc emits opsets {OPSET} to"):
        tiny.to_onnx(opset=opset)


def test_to_onnx_rejects_unknown_encoding_and_layout(tiny):
    with pytest.raises(UsageError, match="unknown encoding"):
        tiny.to_onnx(encoding="bits")
    with pytest.raises(UsageError, match="unknown layout"):
        tiny.to_onnx("sparse")


@pytest.mark.parametrize("layout", ["local", "dense"])
def test_encoding_01_folds_change_of_variables(tiny, layout):
    pm1 = tiny.to_onnx(layout)
    model = tiny.to_onnx(layout, encoding="01")
    assert len(model.graph.node) == len(pm1.graph.node)
    assert [i.name for i in model.graph.initializer] == [i.name for i in pm1.graph.initializer]

    seeds = _all_seeds(8)
    units = (seeds + 1) // 2
    expected = (tiny.reference(seeds).astype(np.int64) + 1) // 2
    np.testing.assert_array_equal(_run(model, units), expected.astype(np.float32))
    np.testing.assert_array_equal(tiny.evaluate(units, encoding="01"), expected)


def test_encoding_01_certificate_is_recomputed(tiny):
    model = tiny.to_onnx("local", encoding="01")
    certificate = relucc.api.stored_certificate(model)
    assert certificate["encoding"] == "01"
    assert certificate["exact_domain"] == "{0,1}^8"
    folded = fold_01(tiny.network.predicate_network)
    figures = certify_network(folded, domain_points(3, "01"), "{0,1}^3")
    assert certificate["lipschitz_bound"] == figures["lipschitz_bound"]
    assert certificate["bit_complexity"] == figures["bit_complexity"]
    assert certificate["verification"][-1]["scope"].startswith("01-encoded predicate network")
    assert relucc.api.stored_certificate(tiny.to_onnx("local"))["encoding"] == "pm1"


def test_fold_01_on_one_layer_network():
    # y = (x1 - x2) / 2 + 1/2 on ±1 inputs; folded it reads u1 - u2 + ... in {0,1}.
    network = Network([AffineLayer(np.array([[1, -1]]), np.array([1]), 1, ["output"])], 2)
    folded = fold_01(network)
    for u in domain_points(2, "01"):
        x = 2 * u - 1
        value, exponent = network.evaluate_exact(x[None, :])
        folded_value, folded_exponent = folded.evaluate_exact(u[None, :])
        expected = (Fraction(int(value[0, 0]), 2**exponent) + 1) / 2
        assert Fraction(int(folded_value[0, 0]), 2**folded_exponent) == expected


def test_fold_01_recomputes_bit_complexity():
    # h = relu(x1), y = h: tau 0 in ±1. Folded: relu(2 u1 - 1) and y = h/2 + 1/2, so tau becomes 1.
    network = Network([AffineLayer(np.array([[1]]), np.array([0]), 0, ["relay"]),
                       AffineLayer(np.array([[1]]), np.array([0]), 0, ["output"])], 1)
    assert certify_network(network, domain_points(1, "pm1"), "pm1")["bit_complexity"] == 0
    folded = fold_01(network)
    np.testing.assert_array_equal(folded.layers[0].weight, [[2]])
    np.testing.assert_array_equal(folded.layers[0].bias, [-1])
    assert (folded.layers[1].exponent, int(folded.layers[1].bias[0])) == (1, 1)
    assert certify_network(folded, domain_points(1, "01"), "01")["bit_complexity"] == 1


@pytest.mark.parametrize("encoding", ["pm1", "01"])
def test_save_and_load_round_trip(tiny, tmp_path, encoding):
    path = tmp_path / "tiny.onnx"
    tiny.save(path, "local", encoding=encoding)
    saved = relucc.load(path)
    assert saved.layout == "local"
    assert saved.encoding == encoding
    assert saved.certificate["depth"] == tiny.certificate["depth"]
    assert saved.missing == []
    assert all(verdict == "agrees" for _, _, _, verdict in saved.compare())
    points = domain_points(8, encoding)
    np.testing.assert_array_equal(saved.evaluate(points), tiny.evaluate(points, encoding=encoding))


def test_load_rejects_other_encoding(tiny, tmp_path):
    path = tmp_path / "tiny01.onnx"
    tiny.save(path, encoding="01")
    with pytest.raises(UsageError, match="stored in the 01 encoding"):
        relucc.load(path).evaluate(_all_seeds(8), encoding="pm1")


def _foreign_mlp(path: Path) -> Path:
    """A Gemm/Relu/Gemm model as another exporter writes it: no relucc names, no certificate."""
    first = np.array([[1, 1], [1, -1], [-1, 1]], dtype=np.float32)
    second = np.array([[1, 1, 1]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm", transB=1),
         helper.make_node("Relu", ["h"], ["r"], name="/act/Relu"),
         helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["output"], name="/fc2/Gemm", transB=1)],
        "foreign", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(first, "fc1.weight"), numpy_helper.from_array(np.zeros(3, np.float32), "fc1.bias"),
         numpy_helper.from_array(second, "fc2.weight"), numpy_helper.from_array(np.zeros(1, np.float32), "fc2.bias")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _sigmoid_mlp(path: Path) -> Path:
    weight = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc1", transB=1),
         helper.make_node("Sigmoid", ["h"], ["s"], name="squash"),
         helper.make_node("Gemm", ["s", "w", "b"], ["y"], name="fc2", transB=1)],
        "sigmoid", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [weight, bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _constant_weight_mlp(path: Path) -> Path:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [1, 0, 0, 1])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["w_out"], name="weights", value=weight),
         helper.make_node("MatMul", ["x", "w_out"], ["y"], name="matmul1")],
        "constant", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_load_model_without_certificate_is_partial(tmp_path):
    saved = relucc.load(_foreign_mlp(tmp_path / "foreign.onnx"))
    certificate = saved.certificate
    assert certificate["partial"] is True
    assert "verification" in saved.missing
    assert "source" in saved.missing
    assert certificate["depth"] == 2
    assert certificate["size"] == 3
    assert saved.stored_certificate is None
    points = domain_points(2, "pm1")
    hidden = np.maximum(points @ np.array([[1, 1], [1, -1], [-1, 1]]).T, 0)
    np.testing.assert_array_equal(saved.evaluate(points), hidden.sum(axis=1, keepdims=True))


def test_load_text_file_raises_model_error(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("these are not protobuf bytes\n")
    with pytest.raises(ModelError, match="not an ONNX model") as error:
        relucc.load(path)
    assert error.value.location.path == str(path)


def test_load_names_unsupported_node(tmp_path):
    with pytest.raises(ModelError, match="node squash: expected Relu between affine layers, found Sigmoid"):
        relucc.load(_sigmoid_mlp(tmp_path / "sigmoid.onnx"))


def test_load_rejects_weight_from_constant_node(tmp_path):
    with pytest.raises(ModelError, match="node matmul1 .*not an initializer|node weights has operator Constant"):
        relucc.load(_constant_weight_mlp(tmp_path / "constant.onnx"))


def test_names_and_doc_strings_are_readable(tiny):
    for layout in ("local", "dense"):
        model = tiny.to_onnx(layout)
        assert "Tiny" in model.graph.doc_string
        for initializer in model.graph.initializer:
            assert initializer.name.startswith("layer") or initializer.name in ("subsets_by_position", "gathered_shape", "output_shape")
        affine = [node for node in model.graph.node if node.op_type in ("Gemm", "MatMul")]
        assert len(affine) == tiny.certificate["depth"]
        for index, node in enumerate(affine):
            assert node.name.startswith(f"layer{index + 1}/")
            assert node.doc_string.startswith(f"affine layer {index + 1} of {len(affine)}:")


def _cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_compile_encoding_01_and_info_agree(tmp_path, capsys):
    path = tmp_path / "tiny01.onnx"
    status, out, _ = _cli(capsys, "compile", TINY, "-o", path, "--encoding", "01", "--opset", supported_opsets()[-1])
    assert status == 0
    assert "{0,1}^8" in out
    status, out, _ = _cli(capsys, "info", path, "--graph")
    assert status == 0
    assert "DIFFERS" not in out
    assert "out x in" in out and "nonzeros" in out and "||W||_2" in out and "tau" in out
    certificate = json.loads(onnx.load(path).metadata_props[0].value)
    assert certificate["encoding"] == "01"


def test_cli_compile_rejects_bad_opset(tmp_path, capsys):
    path = tmp_path / "out.onnx"
    status, _, err = _cli(capsys, "compile", TINY, "-o", path, "--opset", "12")
    assert status == 2
    assert "unsupported ONNX opset 12" in err
    assert not path.exists()


def test_cli_info_bad_models(tmp_path, capsys):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    cases = {text: "not an ONNX model", _sigmoid_mlp(tmp_path / "s.onnx"): "node squash",
             _constant_weight_mlp(tmp_path / "c.onnx"): "not an initializer|Constant"}
    for path, message in cases.items():
        status, _, err = _cli(capsys, "info", path)
        assert status == 2, path
        assert err.startswith(f"{path}: error: ")
        assert "Traceback" not in err
        assert any(part in err for part in message.split("|")), err


def test_cli_info_without_certificate_labels_partial(tmp_path, capsys):
    status, out, _ = _cli(capsys, "info", _foreign_mlp(tmp_path / "foreign.onnx"), "--graph")
    assert status == 0
    assert "no relucc certificate" in out
    assert "missing: verification" in out
    assert "layer" in out
    assert "out x in" in out
