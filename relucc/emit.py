"""ONNX emission: a dense Gemm/Relu MLP for any network, and a gather layout for local functions.

The dense layout is the plain MLP of Definition 1: Gemm, Relu, ..., Gemm. The local layout
computes a local function G(z)_l = P(z restricted to S_l) by gathering the seed rows of z^T into
[k, d*N] and applying the one predicate network to all d*N columns at once (Gemm with the shared
weights on the left), then transposing the [d, N] result to [N, d].
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucc.network import AffineLayer, Network

# The default ONNX opset of emitted models (Gemm, Relu, Gather, Reshape, Transpose).
OPSET = 17
# IR version 8 is what opset 17 was released with; older runtimes reject newer IR versions.
IR_VERSION = 8
# The newest opset a caller may request: the newest that onnx 1.23 defines and onnxruntime 1.32
# runs. Every operator above keeps its opset-14 meaning up to this one, so only the import changes.
NEWEST_OPSET = 28
# Protobuf cannot serialise a message over 2 GiB; leave room for the graph around the weights.
MAX_DENSE_BYTES = 1_800_000_000


def supported_opsets() -> range:
    """Return the opsets relucc emits: OPSET up to NEWEST_OPSET, capped by the installed onnx."""
    return range(OPSET, min(NEWEST_OPSET, onnx.defs.onnx_opset_version()) + 1)


def check_opset(opset: int) -> int:
    """Return ``opset`` when relucc can emit it; raise UsageError naming the supported range otherwise."""
    supported = supported_opsets()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or int(opset) not in supported:
        from relucc.errors import UsageError
        raise UsageError(f"unsupported ONNX opset {opset!r}: relucc emits opsets {supported.start} to "
                         f"{supported.stop - 1} (onnx {onnx.__version__} installed)")
    return int(opset)


def _version() -> str:
    from relucc import __version__
    return __version__


def layer_name(index: int, layer: AffineLayer) -> str:
    """Name a layer by position and the gadget roles of its neurons, e.g. ``layer2/product+relay``."""
    roles = sorted(set(layer.roles)) or ["affine"]
    return f"layer{index + 1}/{'+'.join(roles)}"


def float32_weights(layer: AffineLayer) -> tuple[np.ndarray, np.ndarray]:
    scale = float(2**layer.exponent)
    weight = (np.asarray(layer.weight, dtype=np.float64) / scale).astype(np.float32)
    bias = (np.asarray(layer.bias, dtype=np.float64) / scale).astype(np.float32)
    return weight, bias


def dense_graph_bytes(network: Network) -> int:
    return sum(4 * (layer.shape[0] * layer.shape[1] + layer.shape[0]) for layer in network.layers)


def dense_model(network: Network, input_name: str, certificate: dict, doc: str,
                opset: int = OPSET) -> onnx.ModelProto:
    """Emit ``network`` as Gemm (transB = 1) and Relu nodes: input [N, n] -> output [N, outputs]."""
    size = dense_graph_bytes(network)
    if size > MAX_DENSE_BYTES:
        from relucc.errors import UsageError
        raise UsageError(f"the dense layout needs {size / 1e9:.2f} GB of weights, above ONNX's 2 GB "
                         f"protobuf limit; use --layout local")
    nodes, initializers = [], []
    current = input_name
    for index, layer in enumerate(network.layers):
        name = layer_name(index, layer)
        weight, bias = float32_weights(layer)
        initializers.append(numpy_helper.from_array(weight, f"{name}/weight"))
        initializers.append(numpy_helper.from_array(bias, f"{name}/bias"))
        last = index == len(network.layers) - 1
        affine_out = "y" if last else f"{name}/affine"
        nodes.append(helper.make_node("Gemm", [current, f"{name}/weight", f"{name}/bias"], [affine_out],
                                      name=f"{name}/gemm", doc_string=layer_doc(index, network), transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [affine_out], [f"{name}/relu"], name=f"{name}/relu"))
            current = f"{name}/relu"
    graph = helper.make_graph(
        nodes, "relucc_dense",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", network.input_dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", network.output_dim])],
        initializers, doc_string=doc)
    return _finish(graph, certificate, doc, "dense", opset)


def local_model(predicate_network: Network, subsets: np.ndarray, seed_length: int,
                certificate: dict, doc: str, opset: int = OPSET) -> onnx.ModelProto:
    """Emit a local function in feature-major form: y[n, l] = predicate(z[n, S_l]) for [N, m] -> [N, d].

    Graph: Transpose(z) -> [m, N]; Gather rows by ``subsets_by_position`` [k, d] -> [k, d, N];
    Reshape -> [k, d*N]; per layer Gemm(weight [out, in], X, bias [out, 1]) and Relu -> [1, d*N];
    Reshape -> [d, N]; Transpose -> [N, d]. Every layer is one matrix product whose long side
    (d*N columns) is contiguous: in benches/sampling.py, onnxruntime 1.32 ran it 4 to 14 times
    faster than a MatMul over the last axis of [N, d, k].
    """
    outputs, arity = (int(n) for n in subsets.shape)
    nodes = [
        helper.make_node("Transpose", ["z"], ["z_by_seed"], name="transpose/seeds", perm=[1, 0]),
        helper.make_node("Gather", ["z_by_seed", "subsets_by_position"], ["gathered"], name="gather/subsets",
                         axis=0),
        helper.make_node("Reshape", ["gathered", "gathered_shape"], ["layer0/output"], name="reshape/gathered"),
    ]
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(np.asarray(subsets, dtype=np.int64).T), "subsets_by_position"),
        numpy_helper.from_array(np.array([arity, -1], dtype=np.int64), "gathered_shape"),
        numpy_helper.from_array(np.array([outputs, -1], dtype=np.int64), "output_shape"),
    ]
    current = "layer0/output"
    for index, layer in enumerate(predicate_network.layers):
        name = layer_name(index, layer)
        weight, bias = float32_weights(layer)
        initializers.append(numpy_helper.from_array(weight, f"{name}/weight"))
        initializers.append(numpy_helper.from_array(bias[:, None].copy(), f"{name}/bias"))
        nodes.append(helper.make_node("Gemm", [f"{name}/weight", current, f"{name}/bias"], [f"{name}/affine"],
                                      name=f"{name}/gemm", doc_string=layer_doc(index, predicate_network)))
        current = f"{name}/affine"
        if index < len(predicate_network.layers) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"{name}/relu"], name=f"{name}/relu"))
            current = f"{name}/relu"
    nodes.append(helper.make_node("Reshape", [current, "output_shape"], ["y_by_output"], name="reshape/outputs"))
    nodes.append(helper.make_node("Transpose", ["y_by_output"], ["y"], name="transpose/outputs", perm=[1, 0]))
    graph = helper.make_graph(
        nodes, "relucc_local",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", seed_length])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", outputs])],
        initializers, doc_string=doc)
    return _finish(graph, certificate, doc, "local", opset)


def layer_doc(index: int, network: Network) -> str:
    """Describe affine layer ``index`` for its node's doc_string, e.g. 'affine layer 2 of 3: 8 neurons x 5 inputs (product 8), then Relu'."""
    layer = network.layers[index]
    counts: dict[str, int] = {}
    for role in layer.roles:
        counts[role] = counts.get(role, 0) + 1
    roles = ", ".join(f"{role} {count}" for role, count in sorted(counts.items()))
    after = "then Relu" if index < network.depth - 1 else "the output layer"
    return (f"affine layer {index + 1} of {network.depth}: {layer.shape[0]} neurons x {layer.shape[1]} inputs "
            f"({roles}), {after}")


def _finish(graph: onnx.GraphProto, certificate: dict, doc: str, layout: str,
            opset: int = OPSET) -> onnx.ModelProto:
    opset = check_opset(opset)
    model = helper.make_model(graph, producer_name="relucc", producer_version=_version(),
                              opset_imports=[helper.make_opsetid("", opset)], doc_string=doc)
    model.ir_version = IR_VERSION if opset == OPSET else \
        helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    stored = dict(certificate)
    stored["layout"] = layout
    stored.setdefault("encoding", "pm1")
    helper.set_model_props(model, {"relucc.certificate": json.dumps(strict_json(stored), sort_keys=True,
                                                                    allow_nan=False)})
    onnx.checker.check_model(model, full_check=True)
    return model


def save_atomically(model: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Write the model to a temporary file beside ``path`` and rename it, so no partial file remains."""
    write_bytes_atomically(model.SerializeToString(), path)


def write_bytes_atomically(data: bytes, path: str | os.PathLike) -> None:
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    _check_output_path(target, directory)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_output_path(target: Path, directory: Path) -> None:
    from relucc.errors import Diagnostic, SourceLocation, UsageError

    if target.is_dir():
        raise UsageError(Diagnostic("output path is a directory, expected a file name", SourceLocation(str(target)),
                                    f"write to a file inside it, e.g. {target / 'out'}"))
    if not directory.is_dir():
        raise UsageError(Diagnostic(f"output directory {directory} does not exist", SourceLocation(str(target)),
                                    f"create it first (mkdir -p {directory})"))


# Strict JSON has no Infinity or NaN, so non-finite figures (the Lipschitz bound of a very deep
# network can overflow float64) are stored as these strings and read back by relucc.reader.
NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def strict_json(value):
    """Return ``value`` with every non-finite float replaced by "inf", "-inf" or "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value
