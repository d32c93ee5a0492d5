"""Reading ONNX models back into the network IR and recomputing their certificates from the weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from relucc.certify import certify_network
from relucc.dyadic import integer_array
from relucc.errors import Diagnostic, ModelError, SourceLocation
from relucc.network import AffineLayer, Network

# Exhaustive activation checks per output cone are used when a cone reads at most this many inputs.
EXHAUSTIVE_CONE_INPUTS = 16


@dataclass(eq=False)
class LoadedModel:
    """A relucc-readable ONNX model: the network(s) recovered exactly from float32 initializers."""

    path: str
    model: onnx.ModelProto
    layout: str
    network: Network
    subsets: np.ndarray | None
    input_name: str
    stored_certificate: dict | None

    @property
    def input_dim(self) -> int:
        return int(self.subsets.max()) + 1 if self.subsets is not None and self.subsets.size else self.network.input_dim


def exact_layer(weight: np.ndarray, bias: np.ndarray, roles: list[str]) -> AffineLayer:
    """Convert float32 weight [out, in] and bias [out] to exact integer numerators over 2**exponent."""
    values = np.concatenate([np.asarray(weight, dtype=np.float64).ravel(), np.asarray(bias, dtype=np.float64).ravel()])
    if not np.all(np.isfinite(values)):
        raise ValueError("weights contain NaN or infinity")
    mantissa, power = np.frexp(values)
    integer = (mantissa * 2.0**53).astype(np.int64)
    shifts = 53 - power
    nonzero = integer != 0
    exponent = int(shifts[nonzero].max()) if nonzero.any() else 0
    numerators = [int(n) << int(exponent - s) if n else 0 for n, s in zip(integer.tolist(), shifts.tolist())]
    while exponent > 0 and all(n % 2 == 0 for n in numerators):
        numerators = [n // 2 for n in numerators]
        exponent -= 1
    if exponent < 0:
        numerators = [n << -exponent for n in numerators]
        exponent = 0
    count = weight.size
    return AffineLayer(integer_array(numerators[:count]).reshape(weight.shape),
                       integer_array(numerators[count:]).reshape(bias.shape), exponent, roles)


def load(path: str) -> LoadedModel:
    """Read an ONNX file written by relucc (or any Gemm/MatMul/Add/Relu MLP) into the network IR."""
    location = SourceLocation(str(path))
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ModelError(Diagnostic("file not found", location, "check the path")) from None
    except Exception as error:  # onnx raises DecodeError and others for non-ONNX bytes
        raise ModelError(Diagnostic(f"not an ONNX model ({type(error).__name__})", location,
                                    "pass a .onnx file written by relucc compile or another ONNX exporter")) from None
    if not model.graph.node:
        raise ModelError(Diagnostic("not an ONNX model (no graph nodes)", location,
                                    "pass a .onnx file written by relucc compile or another ONNX exporter"))
    stored = None
    for prop in model.metadata_props:
        if prop.key == "relucc.certificate":
            try:
                stored = _restore_non_finite(json.loads(prop.value))
            except json.JSONDecodeError:
                stored = None
    initializers = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    nodes = list(model.graph.node)
    data_inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(data_inputs) != 1 or len(model.graph.output) != 1:
        raise ModelError(Diagnostic(
            f"the graph has {len(data_inputs)} data inputs and {len(model.graph.output)} outputs; a ReLU MLP "
            f"has one of each", location, "relucc reads models with one input [N, n] and one output [N, d]"))
    input_name = data_inputs[0].name
    try:
        from relucc.sparse_layout import is_sparse_layout, read_sparse_chain

        if is_sparse_layout(nodes, initializers):
            network = read_sparse_chain(path, nodes, initializers, input_name, _input_width(data_inputs[0]))
            return LoadedModel(str(path), model, "sparse", network, None, input_name, stored)
        if nodes[0].op_type == "Gather":
            return _load_local(path, model, nodes, initializers, input_name, stored)
        if [node.op_type for node in nodes[:3]] == ["Transpose", "Gather", "Reshape"]:
            return _load_feature_major(path, model, nodes, initializers, input_name, stored)
        network = _read_chain(path, nodes, initializers, input_name, _input_width(data_inputs[0]))
    except ValueError as error:
        raise ModelError(Diagnostic(f"unreadable weights: {error}", location)) from None
    return LoadedModel(str(path), model, "dense", network, None, input_name, stored)


def _input_width(value: onnx.ValueInfoProto) -> int:
    dims = value.type.tensor_type.shape.dim
    return int(dims[-1].dim_value) if dims else 0


def _constant(initializers: dict, name: str, node: onnx.NodeProto, location: SourceLocation) -> np.ndarray:
    """Return the initializer ``name`` read by ``node``; raise ModelError when it is computed instead."""
    if name not in initializers:
        raise ModelError(Diagnostic(
            f"node {node.name or '(unnamed)'} ({node.op_type}) reads {name!r}, which is not an initializer; "
            f"relucc reads weights and biases only from initializers", location))
    return initializers[name]


def _load_local(path, model, nodes, initializers, input_name, stored) -> LoadedModel:
    gather = nodes[0]
    subsets = initializers.get(gather.input[1])
    if subsets is None or subsets.ndim != 2:
        raise ModelError(Diagnostic(f"node {gather.name or gather.op_type}: Gather indices must be a 2-D "
                                    f"initializer [d, k] for the local layout", SourceLocation(str(path))))
    body = nodes[1:]
    if body and body[-1].op_type == "Squeeze":
        body = body[:-1]
    network = _read_chain(path, body, initializers, gather.output[0], int(subsets.shape[1]), transposed=True)
    return LoadedModel(str(path), model, "local", network, subsets.astype(np.int64), input_name, stored)


def _load_feature_major(path, model, nodes, initializers, input_name, stored) -> LoadedModel:
    """Read the feature-major local layout: Transpose, Gather [k, d], Reshape, Gemm/Relu chain, Reshape, Transpose."""
    location = SourceLocation(str(path))
    gather = nodes[1]
    indices = initializers.get(gather.input[1])
    if indices is None or indices.ndim != 2:
        raise ModelError(Diagnostic(f"node {gather.name or gather.op_type}: Gather indices must be a 2-D "
                                    f"initializer [k, d] for the feature-major local layout", location))
    tail = [node.op_type for node in nodes[-2:]]
    if tail != ["Reshape", "Transpose"]:
        raise ModelError(Diagnostic(f"the feature-major local layout ends with Reshape and Transpose, found "
                                    f"{' and '.join(tail)}", location))
    body = nodes[3:-2]
    network = _read_chain(path, body, initializers, nodes[2].output[0], int(indices.shape[0]))
    subsets = np.ascontiguousarray(indices.T).astype(np.int64)
    return LoadedModel(str(path), model, "local", network, subsets, input_name, stored)


def _read_chain(path, nodes, initializers, current: str, width: int, transposed: bool = False) -> Network:
    """Read Gemm | MatMul [+ Add], Relu, ... into affine layers; reject any other operator."""
    layers: list[AffineLayer] = []
    index = 0
    location = SourceLocation(str(path))
    while index < len(nodes):
        node = nodes[index]
        if node.op_type == "Gemm" and node.input[0] in initializers:
            # Weights on the left (feature-major layout): Y [out, columns] = W [out, in] @ X + bias [out, 1].
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attributes.get("transB", 0):
                raise ModelError(Diagnostic(f"node {node.name or '(unnamed)'}: Gemm with the weight as its "
                                            f"first input and transB = 1 is not supported", location))
            weight = initializers[node.input[0]].astype(np.float64) * attributes.get("alpha", 1.0)
            if attributes.get("transA", 0):
                weight = weight.T
            bias = _constant(initializers, node.input[2], node, location).astype(np.float64).ravel() \
                * attributes.get("beta", 1.0) if len(node.input) > 2 and node.input[2] else np.zeros(weight.shape[0])
            index += 1
        elif node.op_type == "Gemm":
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attributes.get("transA", 0):
                raise ModelError(Diagnostic(f"node {node.name or '(unnamed)'}: Gemm with transA = 1 is not "
                                            f"supported", location))
            weight = _constant(initializers, node.input[1], node, location).astype(np.float64) \
                * attributes.get("alpha", 1.0)
            if not attributes.get("transB", 0):
                weight = weight.T
            bias = _constant(initializers, node.input[2], node, location).astype(np.float64) \
                * attributes.get("beta", 1.0) if len(node.input) > 2 and node.input[2] else np.zeros(weight.shape[0])
            index += 1
        elif node.op_type == "MatMul" and node.input[1] in initializers:
            weight = initializers[node.input[1]].astype(np.float64).T
            bias = np.zeros(weight.shape[0])
            index += 1
            if index < len(nodes) and nodes[index].op_type == "Add":
                add = nodes[index]
                other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
                bias = np.broadcast_to(_constant(initializers, other, add, location).astype(np.float64).ravel(),
                                       (weight.shape[0],)).copy()
                index += 1
        else:
            raise ModelError(Diagnostic(
                f"node {node.name or '(unnamed)'} has operator {node.op_type}, which is not part of a ReLU "
                f"MLP (supported: Gemm, MatMul, Add, Relu; around them, the local layouts' Gather, Reshape, "
                f"Transpose and Squeeze)", location))
        name = node.name.rsplit("/", 1)[0] if "/" in node.name else ""
        role = name.split("/", 1)[1] if "/" in name and name.startswith("layer") else "affine"
        if weight.ndim != 2 or (layers and weight.shape[1] != layers[-1].shape[0]):
            raise ModelError(Diagnostic(f"node {node.name or '(unnamed)'}: weight of shape {list(weight.shape)} "
                                        f"does not follow the previous layer's {layers[-1].shape[0] if layers else '?'} "
                                        f"outputs", location))
        layers.append(exact_layer(weight.astype(np.float32), bias.astype(np.float32), [role] * weight.shape[0]))
        if index < len(nodes) and nodes[index].op_type == "Relu":
            index += 1
        elif index < len(nodes):
            raise ModelError(Diagnostic(f"node {nodes[index].name or '(unnamed)'}: expected Relu between "
                                        f"affine layers, found {nodes[index].op_type}", location))
    if not layers:
        raise ModelError(Diagnostic("no affine layers found", location))
    return Network(layers, layers[0].shape[1] if layers else width)


def recompute_certificate(loaded: LoadedModel) -> dict:
    """Recompute depth, size, Lipschitz bound, tau and float32 exactness from the weights alone."""
    from relucc.encoding import domain_label, domain_points

    network = loaded.network
    # The stored certificate names the encoding; a model without one is taken to be in ±1.
    encoding = (loaded.stored_certificate or {}).get("encoding", "pm1")
    if loaded.layout == "sparse":
        from relucc.sparse_layout import recompute_sparse_certificate

        return recompute_sparse_certificate(loaded)
    if loaded.layout == "local":
        k = network.input_dim
        figures = certify_network(network, domain_points(k, encoding) if k <= EXHAUSTIVE_CONE_INPUTS else None,
                                  domain_label(k, encoding))
        outputs = int(loaded.subsets.shape[0])
        figures["size_per_output"] = figures["size"]
        figures["size"] = figures["size"] * outputs
        figures["outputs"] = outputs
        figures["inputs"] = loaded.input_dim
        return figures
    figures = certify_network(network, None, f"[-1,1]^{network.input_dim}")
    figures["outputs"] = network.output_dim
    figures["inputs"] = network.input_dim
    exhaustive = _exhaustive_cone_activations(network, encoding)
    if exhaustive is not None:
        figures["max_abs_activation"] = exhaustive
    return figures


def _exhaustive_cone_activations(network: Network, encoding: str = "pm1") -> dict | None:
    """Max |hidden activation| over the Boolean cube, enumerating each output cone's inputs when they are few."""
    from relucc.certify import exact_activations, output_cones
    from relucc.encoding import domain_label, domain_points

    cones = output_cones(network)
    if any(len(cone[0]) > EXHAUSTIVE_CONE_INPUTS for cone in cones) or len(cones) > 4096:
        return None
    seen: dict[tuple, float] = {}
    largest = 0.0
    for cone in cones:
        key = tuple(tuple(c.tolist()) for c in cone)
        if key in seen:
            continue
        layers = []
        for index, layer in enumerate(network.layers):
            rows, columns = cone[index + 1], cone[index]
            layers.append(AffineLayer(np.asarray(layer.weight)[np.ix_(rows, columns)],
                                      np.asarray(layer.bias)[rows], layer.exponent))
        sub = Network(layers, len(cone[0]))
        activations = exact_activations(sub, domain_points(len(cone[0]), encoding))
        value = max((float(np.max(np.abs(v.astype(np.float64)))) / 2.0**e
                     for v, e in activations[1:-1] if v.size), default=0.0)
        seen[key] = value
        largest = max(largest, value)
    return {"value": largest, "method": f"exhaustive over {domain_label(network.input_dim, encoding)}, per output cone"}


COMPARED_KEYS = ("depth", "size", "size_per_output", "bit_complexity", "float32_exact")


def compare(stored: dict | None, recomputed: dict) -> list[tuple[str, object, object, str]]:
    """Return rows (key, stored, recomputed, verdict) for the certificate's key figures."""
    rows = []
    interval_only = "interval" in recomputed["max_abs_activation"]["method"]
    for key in COMPARED_KEYS:
        mine = recomputed.get(key)
        theirs = stored.get(key) if stored else None
        verdict = "missing" if theirs is None else ("agrees" if theirs == mine else "DIFFERS")
        if key == "float32_exact" and theirs is True and mine is False and interval_only:
            # Interval bounds over [-1, 1]^n grow with depth, so from the weights alone a deep
            # network's exactness can be neither confirmed nor refuted; the stored flag comes
            # from bounds on the exact domain that the compiler had.
            verdict = "unconfirmed"
        rows.append((key, theirs, mine, verdict))
    mine = recomputed["lipschitz_bound"]["value"]
    theirs = stored.get("lipschitz_bound", {}).get("value") if stored else None
    if theirs is None:
        verdict = "missing"
    else:
        verdict = "agrees" if abs(theirs - mine) <= 1e-6 * max(abs(theirs), abs(mine), 1e-300) else "DIFFERS"
    rows.append(("lipschitz_bound", theirs, mine, verdict))
    mine = recomputed["max_abs_activation"]["value"]
    theirs = stored.get("max_abs_activation", {}).get("value") if stored else None
    verdict = "missing" if theirs is None else ("agrees" if theirs == mine else
                                                 ("bounded" if theirs <= mine else "DIFFERS"))
    rows.append(("max_abs_activation", theirs, mine, verdict))
    return rows


def describe_path(path: str) -> str:
    return Path(path).name


def _restore_non_finite(value):
    """Undo ``relucc.emit.strict_json``: the strings "inf", "-inf" and "nan" become floats again."""
    from relucc.emit import NON_FINITE

    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, dict):
        return {key: _restore_non_finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_non_finite(item) for item in value]
    return value
