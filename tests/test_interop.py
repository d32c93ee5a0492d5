"""Emitted models give identical outputs in onnxruntime, the ONNX reference evaluator, onnx2torch,
OpenVINO and tract, at batch size 1 and 4096, on their whole exact domain or 2,000 random points.

Optional runtimes are skipped with the reason when they are not installed
(``pip install 'relucc[interop]'`` installs them).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest

import relucc
from relucc.registry import shared_circuits_dir

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE_FILES = sorted(path.name for path in EXAMPLES.glob("*.circ"))
# Small shared netlists: ISCAS-85 c17 and the AIGER half adder.
NETLISTS = ("iscas85/c17.bench", "aiger/halfadder.aag")
LAYOUTS = ("local", "dense")
RUNTIMES = ("onnxruntime", "reference", "onnx2torch", "openvino", "tract")
# Inputs up to this length are enumerated; longer ones get RANDOM_POINTS random points.
EXHAUSTIVE_LIMIT = 12
RANDOM_POINTS = 2000
LARGE_BATCH = 4096
SINGLE_ROWS = 8


def _has_circuit_compiler() -> bool:
    return importlib.util.find_spec("relucc.circuit_compiler") is not None


@functools.lru_cache(maxsize=None)
def _compiled(case: str):
    if case.endswith(".circ"):
        path = EXAMPLES / case
    else:
        folder = shared_circuits_dir()
        if folder is None:
            pytest.skip("the shared circuit collection is not available")
        path = folder / case
    try:
        return relucc.compile(path)
    except ModuleNotFoundError as error:
        if error.name == "relucc.circuit_compiler":
            pytest.skip(f"{case} is a circuit and relucc.circuit_compiler does not exist yet")
        raise


@functools.lru_cache(maxsize=None)
def _domain(case: str) -> np.ndarray:
    compiled = _compiled(case)
    length = compiled.input_length
    if length <= EXHAUSTIVE_LIMIT:
        indices = np.arange(2**length, dtype=np.int64)
        bits = (indices[:, None] >> np.arange(length)[None, :]) & 1
    else:
        bits = np.random.default_rng(20220425).integers(0, 2, size=(RANDOM_POINTS, length))
    return (2 * bits - 1).astype(np.float32)


def _import_optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        pytest.skip(f"{module} is not usable here ({error}); install it with pip install 'relucc[interop]'")
    except RuntimeError as error:
        # onnx2torch imports torchvision, whose PyPI wheel fails to register its operators
        # beside a torch build it was not compiled against (e.g. the CPU-only torch 2.13.0).
        pytest.skip(f"{module} fails to import here ({error}); its torchvision does not match the installed torch")


def _run_onnxruntime(model: onnx.ModelProto, path: Path, inputs: np.ndarray) -> np.ndarray:
    from relucc.runtime import session

    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: inputs})[0]


def _run_reference(model: onnx.ModelProto, path: Path, inputs: np.ndarray) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    return evaluator.run(None, {model.graph.input[0].name: inputs})[0]


def _run_onnx2torch(model: onnx.ModelProto, path: Path, inputs: np.ndarray) -> np.ndarray:
    onnx2torch = _import_optional("onnx2torch")
    import torch

    module = onnx2torch.convert(model)
    with torch.no_grad():
        return module(torch.from_numpy(inputs)).numpy()


def _run_openvino(model: onnx.ModelProto, path: Path, inputs: np.ndarray) -> np.ndarray:
    openvino = _import_optional("openvino")

    core = openvino.Core()
    # f32 inference precision: OpenVINO's CPU plugin may otherwise compute in bf16.
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled([inputs])[compiled.output(0)]


def _run_tract(model: onnx.ModelProto, path: Path, inputs: np.ndarray) -> np.ndarray:
    tract = _import_optional("tract")

    inference_model = tract.onnx().load(str(path))
    inference_model.set_input_fact(0, f"{inputs.shape[0]},{inputs.shape[1]},f32")
    runnable = inference_model.into_model().into_runnable()
    return runnable.run([inputs])[0].to_numpy()


RUNNERS = {"onnxruntime": _run_onnxruntime, "reference": _run_reference, "onnx2torch": _run_onnx2torch,
           "openvino": _run_openvino, "tract": _run_tract}


def _expected(case: str, points: np.ndarray) -> np.ndarray:
    """Exact outputs on ``points``, checked against the Boolean reference and returned as float32."""
    compiled = _compiled(case)
    exact = compiled.evaluate(points.astype(np.int64))
    np.testing.assert_array_equal(exact, compiled.reference(points))
    return np.asarray(exact, dtype=np.float32)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", EXAMPLE_FILES + list(NETLISTS))
def test_runtime_matches_exact_outputs(case, layout, runtime, tmp_path):
    compiled = _compiled(case)
    if layout not in compiled.layouts:
        pytest.skip(f"{case} has no {layout} layout")
    if compiled.certificate.get("float32_exact") is False:
        pytest.skip(f"{case} has real-valued outputs that float32 rounds (its certificate bounds the error)")
    model = compiled.to_onnx(layout)
    path = tmp_path / "model.onnx"
    compiled.save(path, layout)
    run = RUNNERS[runtime]
    points = _domain(case)

    large = np.resize(points, (LARGE_BATCH, points.shape[1]))
    got = run(model, path, large)
    assert got.dtype == np.float32
    assert got.shape == (LARGE_BATCH, compiled.output_length)
    np.testing.assert_array_equal(got, _expected(case, large))

    for row in points[:SINGLE_ROWS]:
        single = row[None, :]
        np.testing.assert_array_equal(run(model, path, single), _expected(case, single))


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_runtime_runs_01_encoding(layout, runtime, tmp_path):
    compiled = _compiled("tiny_prg.circ")
    model = compiled.to_onnx(layout, encoding="01")
    path = tmp_path / "model01.onnx"
    onnx.save(model, path)
    points = _domain("tiny_prg.circ")
    unit_points = (points + 1) / 2

    got = RUNNERS[runtime](model, path, unit_points)
    expected = (compiled.reference(points) + 1) / 2
    np.testing.assert_array_equal(got, expected.astype(np.float32))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_runtime_runs_newest_opset(runtime, tmp_path):
    from relucc.emit import supported_opsets

    compiled = _compiled("goldreich_tsa.circ")
    newest = supported_opsets()[-1]
    model = compiled.to_onnx("local", opset=newest)
    assert model.opset_import[0].version == newest
    path = tmp_path / "newest.onnx"
    onnx.save(model, path)
    points = _domain("goldreich_tsa.circ")[:256]

    got = RUNNERS[runtime](model, path, points)
    np.testing.assert_array_equal(got, _expected("goldreich_tsa.circ", points))
