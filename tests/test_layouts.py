"""ONNX layouts of local functions: exact outputs on the whole seed cube, read-back and batching."""

import numpy as np
import onnx
import pytest

from relucc import emit, reader
from relucc.compiler import compile_source
from relucc.errors import ModelError
from relucc.runtime import OUTPUTS_PER_BATCH, all_seeds, batch_size, run_batched, session

# m = 10 keeps the exhaustive check at 1024 seeds; d = 23 and the two 3-ary predicates give output
# widths that no batch or reshape divides evenly.
SOURCE = """
predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)
predicate MAJ3(a, b, c) = MAJ(a, b, c)
predicate MUX(s, a, b) = OR(AND(s, a), AND(NOT s, b))
local G {{
    m = 10
    d = 23
    predicate = {predicate}
    subsets = random(seed = 7)
}}
generator G
"""
PREDICATES = ("TSA", "MAJ3", "MUX")
LAYOUTS = ("local", "dense")


def compiled_generator(predicate: str, strategy: str = "auto"):
    return compile_source(SOURCE.format(predicate=predicate), "layouts.circ", strategy=strategy)


def expected_outputs(compiled, seeds: np.ndarray, encoding: str) -> np.ndarray:
    outputs = compiled.reference(seeds).astype(np.float32)
    return (outputs + 1) / 2 if encoding == "01" else outputs


@pytest.mark.parametrize("encoding", ["pm1", "01"])
@pytest.mark.parametrize("strategy", ["auto", "paper", "cubes"])
@pytest.mark.parametrize("predicate", PREDICATES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_exact_on_seed_cube(layout, predicate, strategy, encoding):
    compiled = compiled_generator(predicate, strategy)
    seeds = all_seeds(10, 0, 2**10)
    model_seeds = (seeds + 1) / 2 if encoding == "01" else seeds

    outputs = session(compiled.to_onnx(layout, encoding=encoding)).run(None, {"z": model_seeds})[0]

    assert outputs.dtype == np.float32
    assert outputs.shape == (2**10, 23)
    assert np.array_equal(outputs, expected_outputs(compiled, seeds, encoding))


def test_local_layout_graph_is_feature_major():
    model = compiled_generator("TSA").to_onnx("local")
    operators = [node.op_type for node in model.graph.node]

    assert operators[:3] == ["Transpose", "Gather", "Reshape"]
    assert operators[-2:] == ["Reshape", "Transpose"]
    assert set(operators[3:-2]) == {"Gemm", "Relu"}
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("strategy", ["auto", "paper"])
def test_local_layout_reads_back_exact_weights(strategy, tmp_path):
    compiled = compiled_generator("TSA", strategy)
    path = tmp_path / "local.onnx"
    compiled.save(str(path), "local")

    loaded = reader.load(str(path))

    assert loaded.layout == "local"
    assert np.array_equal(loaded.subsets, compiled.local_function.subsets)
    assert loaded.network.depth == compiled.predicate_network.depth
    for got, expected in zip(loaded.network.layers, compiled.predicate_network.layers):
        got_weight, got_bias = emit.float32_weights(got)
        expected_weight, expected_bias = emit.float32_weights(expected)
        assert np.array_equal(got_weight, expected_weight)
        assert np.array_equal(got_bias, expected_bias)


def test_local_layout_certificate_recomputes(tmp_path):
    path = tmp_path / "local.onnx"
    compiled_generator("MAJ3").save(str(path), "local")
    loaded = reader.load(str(path))

    rows = reader.compare(loaded.stored_certificate, reader.recompute_certificate(loaded))

    verdicts = {key: verdict for key, _, _, verdict in rows}
    assert set(verdicts.values()) == {"agrees"}, verdicts


def test_reader_rejects_truncated_local_layout(tmp_path):
    model = compiled_generator("TSA").to_onnx("local")
    del model.graph.node[-1]
    path = tmp_path / "truncated.onnx"
    path.write_bytes(model.SerializeToString())

    with pytest.raises(ModelError, match="ends with Reshape and Transpose"):
        reader.load(str(path))


def test_batch_size_follows_output_width():
    narrow = session(compiled_generator("TSA").to_onnx("local"))

    assert batch_size(narrow) == OUTPUTS_PER_BATCH // 23


@pytest.mark.parametrize("batch", [None, 1, 7, 1000])
def test_run_batched_matches_one_run(batch):
    compiled = compiled_generator("MUX")
    sess = session(compiled.to_onnx("local"))
    seeds = all_seeds(10, 0, 2**10)

    outputs = run_batched(sess, seeds, batch)

    assert np.array_equal(outputs, compiled.reference(seeds).astype(np.float32))
