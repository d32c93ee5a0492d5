"""PyTorch export: module structure, bit-for-bit agreement with onnxruntime, gradients and training."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import relucc
from relucc.encoding import domain_points
from relucc.errors import UsageError
from relucc.runtime import session

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'relucc[torch]')")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RANDOM_POINTS = 2000


@pytest.fixture(scope="module", params=["tiny_prg.circ", "goldreich_tsa.circ", "full_adder.circ"])
def compiled(request):
    try:
        return relucc.compile(EXAMPLES / request.param)
    except ModuleNotFoundError as error:
        if error.name == "relucc.circuit_compiler":
            pytest.skip(f"{request.param} is a circuit and relucc.circuit_compiler does not exist yet")
        raise


def _points(compiled) -> np.ndarray:
    if compiled.input_length <= 12:
        return domain_points(compiled.input_length, "pm1").astype(np.float32)
    bits = np.random.default_rng(7).integers(0, 2, size=(RANDOM_POINTS, compiled.input_length))
    return (2 * bits - 1).astype(np.float32)


def _onnxruntime(model, inputs: np.ndarray) -> np.ndarray:
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: inputs})[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_module_matches_onnx_bit_for_bit(compiled, dtype):
    assert compiled.certificate["float32_exact"]
    torch_dtype = getattr(torch, dtype)
    points = _points(compiled)
    for layout in compiled.layouts:
        expected = _onnxruntime(compiled.to_onnx(layout), points)
        module = compiled.to_torch(layout, dtype=torch_dtype)
        with torch.no_grad():
            got = module(torch.from_numpy(points).to(torch_dtype)).numpy()
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, expected.astype(dtype))


def test_dense_module_is_sequential_of_linear_and_relu(compiled):
    module = compiled.to_torch("dense")
    assert isinstance(module, torch.nn.Sequential)
    assert {type(layer) for layer in module} <= {torch.nn.Linear, torch.nn.ReLU}
    linear = [layer for layer in module if isinstance(layer, torch.nn.Linear)]
    assert len(linear) == compiled.certificate["depth"]


def test_local_module_gathers_subsets():
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    module = compiled.to_torch("local")
    assert module.subsets.shape == (12, 3)
    assert all(isinstance(layer, (torch.nn.Linear, torch.nn.ReLU)) for layer in module.predicate)


def test_01_encoding_module():
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    units = domain_points(8, "01")
    expected = (compiled.reference(2 * units - 1) + 1) / 2
    for layout in ("local", "dense"):
        module = compiled.to_torch(layout, encoding="01")
        with torch.no_grad():
            got = module(torch.tensor(units, dtype=torch.float32)).numpy()
        np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_layouts_have_equal_gradients():
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    # Gaussian points avoid the ReLU kinks, where the two layouts could pick different subgradients.
    points = torch.tensor(np.random.default_rng(3).normal(size=(64, 8)), dtype=torch.float64)
    gradients = []
    for layout in ("local", "dense"):
        x = points.clone().requires_grad_(True)
        compiled.to_torch(layout, dtype=torch.float64)(x).sum().backward()
        gradients.append(x.grad)
    torch.testing.assert_close(gradients[0], gradients[1])
    assert gradients[0].abs().sum() > 0


def test_module_trains_like_any_module():
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    module = compiled.to_torch("local")
    points = torch.tensor(domain_points(8, "pm1"), dtype=torch.float32)
    target = torch.zeros(points.shape[0], 12)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(module(points), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_loaded_model_exports_to_torch(tmp_path):
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    path = tmp_path / "tiny.onnx"
    compiled.save(path, "local")
    points = torch.tensor(domain_points(8, "pm1"), dtype=torch.float32)
    with torch.no_grad():
        got = relucc.load(path).to_torch()(points)
    np.testing.assert_array_equal(got.numpy(), compiled.reference(points.numpy()).astype(np.float32))


def test_rejects_unsupported_dtype():
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    with pytest.raises(UsageError, match="float32 or torch.float64"):
        compiled.to_torch(dtype=torch.float16)


def test_missing_torch_raises_usage_error(monkeypatch):
    compiled = relucc.compile(EXAMPLES / "tiny_prg.circ")
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "relucc.torch_export", raising=False)
    with pytest.raises(UsageError, match="pip install"):
        compiled.to_torch()
