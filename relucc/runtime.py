"""Running emitted models in onnxruntime: seed sampling, batched evaluation, end-to-end checks."""

from __future__ import annotations

import logging
import sys

import numpy as np
import onnx

from relucc.errors import CheckFailure, UsageError

logger = logging.getLogger(__name__)

BATCH = 8192
# run_batched sizes its batches so that a batch's outputs (samples x output width) number about
# this many values: at d = 200 and d = 20,000, the local layout's intermediate tensors then stay in a
# core's L2 cache, which made sampling about 1.5 times faster than batches of 8192 samples.
OUTPUTS_PER_BATCH = 32_768
# A batch has at least this many samples, because the local layout gathers rows of length N.
MIN_BATCH = 16


def providers_for(device: str) -> list[str]:
    """Return onnxruntime execution providers for ``cpu`` or ``cuda``; reject cuda when absent."""
    import onnxruntime

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        available = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise UsageError("--device cuda: onnxruntime's CUDAExecutionProvider is not available "
                             f"(available: {', '.join(available)}); install onnxruntime-gpu on a machine "
                             "with an NVIDIA GPU, or use --device cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise UsageError(f"unknown device {device!r}; expected cpu or cuda")


def session(model: onnx.ModelProto | str, device: str = "cpu"):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Full graph optimisation fuses each Gemm with the Relu after it.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    payload = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    providers = providers_for(device)
    try:
        return onnxruntime.InferenceSession(payload, options, providers=providers)
    except (onnxruntime.capi.onnxruntime_pybind11_state.Fail,
            onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf,
            onnxruntime.capi.onnxruntime_pybind11_state.InvalidGraph,
            onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented) as error:
        from relucc.errors import Diagnostic, ModelError, SourceLocation

        where = SourceLocation(model) if isinstance(model, str) else None
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(Diagnostic(f"onnxruntime cannot load the model: {first_line}", where,
                                    "pass an ONNX file written by relucc compile or another ONNX exporter")) from None


def sample_seeds(count: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` uniform seeds from {-1,+1}^length as float32."""
    return (2 * rng.integers(0, 2, size=(count, length), dtype=np.int8) - 1).astype(np.float32)


def batch_size(sess) -> int:
    """Return the samples per run for ``sess``: about OUTPUTS_PER_BATCH outputs, within [MIN_BATCH, BATCH]."""
    width = sess.get_outputs()[0].shape[-1]
    if not isinstance(width, int) or width <= 0:
        return BATCH
    return min(BATCH, max(MIN_BATCH, OUTPUTS_PER_BATCH // width))


def run_batched(sess, inputs: np.ndarray, batch: int | None = None, progress: bool = False) -> np.ndarray:
    """Run ``sess`` on ``inputs`` in batches (``batch_size(sess)`` samples unless given) and concatenate."""
    batch = batch_size(sess) if batch is None else batch
    input_name = sess.get_inputs()[0].name
    outputs = []
    for start in _progress(range(0, inputs.shape[0], batch), progress, "evaluating"):
        outputs.append(sess.run(None, {input_name: inputs[start:start + batch]})[0])
    return np.concatenate(outputs, axis=0) if outputs else np.zeros((0, 0), dtype=np.float32)


def _progress(iterable, enabled: bool, description: str):
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=description, unit="batch", leave=False)


def all_seeds(length: int, start: int, stop: int) -> np.ndarray:
    indices = np.arange(start, stop, dtype=np.int64)
    bits = (indices[:, None] >> np.arange(length, dtype=np.int64)[None, :]) & 1
    return (2 * bits - 1).astype(np.float32)


def check_against_reference(model: onnx.ModelProto, reference, input_length: int, samples: int,
                            exhaustive_limit: int, seed: int = 0, device: str = "cpu",
                            progress: bool = True) -> dict:
    """Compare the model in onnxruntime with ``reference`` (a ±1 evaluator) on inputs; exact equality.

    Every point of {±1}^n is tried when n = ``input_length`` <= ``exhaustive_limit``, else
    ``samples`` uniform random ones. Raises CheckFailure with the first counterexample.
    """
    sess = session(model, device)
    exhaustive = input_length <= exhaustive_limit
    total = 2**input_length if exhaustive else samples
    rng = np.random.default_rng(seed)
    checked = 0
    batches = range(0, total, BATCH)
    for start in _progress(batches, progress, "checking"):
        count = min(BATCH, total - start)
        seeds = all_seeds(input_length, start, start + count) if exhaustive else \
            sample_seeds(count, input_length, rng)
        got = sess.run(None, {sess.get_inputs()[0].name: seeds})[0]
        expected = reference(seeds).astype(np.float32)
        bad = np.argwhere(got != expected)
        if bad.size:
            row, column = (int(v) for v in bad[0])
            raise CheckFailure(
                f"onnxruntime output y[{column}] = {got[row, column]!r} but the reference gives "
                f"{expected[row, column]:+.0f} on input {_format_seed(seeds[row])}")
        checked += count
    kind = "exhaustive" if exhaustive else "random"
    return {"kind": f"{kind}, onnxruntime float32 vs the Boolean reference evaluator",
            "scope": "whole model", "inputs": checked, "device": device, "result": "passed",
            **({} if exhaustive else {"seed": seed})}


def _format_seed(seed: np.ndarray) -> str:
    bits = "".join("1" if v > 0 else "0" for v in seed)
    return f"{bits} (bit i = 1 means input i is +1)"
