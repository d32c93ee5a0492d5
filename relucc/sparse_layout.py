"""The sparse ONNX layout of a ReLU network: per layer Gather, Mul, Reshape, ReduceSum, Add, Relu.

The model transposes its input x [N, n] to feature-major h [n, N] once. Layer t, with `out`
neurons and the largest fan-in F (nonzero weights of one neuron), then maps h [in, N] to

    Gather(h, indices [out*F], axis=0) -> [out*F, N]    the units each neuron reads, neuron-major
    Mul(., weights [out*F, 1])                            the nonzero weights, 0 for padding
    Reshape(., [out, F, -1]) -> [out, F, N]
    ReduceSum(., axes=[1], keepdims=0) -> [out, N]        one segment sum per neuron
    Add(., bias [out, 1]), then Relu (not after the last layer)

and a final Transpose writes y [N, outputs]. A neuron with fewer than F weights is padded with
weight 0 on unit 0, and 0 times a finite value adds exactly 0. The model stores out*F weights
per layer instead of out*in, so a leveled circuit's network costs memory in proportion to its
wires. Feature-major rows of length N make every Gather a row copy and every ReduceSum a sum of
contiguous rows. On EPFL adder (8192 inputs, onnxruntime 1.32 on 2 CPU cores) this ran 3.4
times faster than gathering along axis 1 of [N, in].

Float32 exactness carries over from the dense layout: ``relucc.certify.float32_exactness``
bounds every partial sum of a layer, in any order and over any subset of its terms, by
sum_j |w_j| |x_j| + |b| and shows it is a multiple of 2^-precision below 2^24 steps of it; so
every partial sum is exactly representable, each float32 addition is exact, and the order in
which ReduceSum adds the terms does not change the result.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucc import emit
from relucc.errors import Diagnostic, ModelError, SourceLocation
from relucc.network import Network
from relucc.sparse_network import SparseAffineLayer, layer_triplets

SPARSE_OPERATORS = ("Gather", "Mul", "Reshape", "ReduceSum", "Add")


def padded_layer(layer) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (indices [out*F], float32 weights [out*F], F) of a layer, padded to its largest fan-in."""
    rows, columns, values = layer_triplets(layer)
    out = layer.shape[0]
    fan_ins = np.bincount(rows, minlength=out)
    width = max(1, int(fan_ins.max()) if fan_ins.size else 1)
    starts = np.concatenate([[0], np.cumsum(fan_ins)[:-1]])
    positions = rows * width + (np.arange(rows.shape[0]) - starts[rows])
    indices = np.zeros(out * width, dtype=np.int64)
    weights = np.zeros(out * width, dtype=np.float32)
    indices[positions] = columns
    weights[positions] = (np.asarray(values, dtype=np.float64) / float(2**layer.exponent)).astype(np.float32)
    return indices, weights, width


def sparse_model(network: Network, input_name: str, certificate: dict, doc: str,
                 opset: int = emit.OPSET) -> onnx.ModelProto:
    """Emit ``network`` (dense or sparse layers) in the sparse layout: input [N, n] -> output y [N, outputs]."""
    nodes = [helper.make_node("Transpose", [input_name], ["x_by_unit"], name="transpose/inputs", perm=[1, 0])]
    initializers = []
    current = "x_by_unit"
    for index, layer in enumerate(network.layers):
        name = emit.layer_name(index, layer)
        indices, weights, width = padded_layer(layer)
        bias = (np.asarray(layer.bias, dtype=np.float64) / float(2**layer.exponent)).astype(np.float32)
        initializers += [
            numpy_helper.from_array(indices, f"{name}/indices"),
            numpy_helper.from_array(weights[:, None].copy(), f"{name}/weight"),
            numpy_helper.from_array(np.array([layer.shape[0], width, -1], dtype=np.int64), f"{name}/shape"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), f"{name}/axes"),
            numpy_helper.from_array(bias[:, None].copy(), f"{name}/bias"),
        ]
        last = index == len(network.layers) - 1
        affine_out = f"{name}/affine"
        nodes += [
            helper.make_node("Gather", [current, f"{name}/indices"], [f"{name}/gathered"], name=f"{name}/gather",
                             axis=0, doc_string=emit.layer_doc(index, network)),
            helper.make_node("Mul", [f"{name}/gathered", f"{name}/weight"], [f"{name}/terms"], name=f"{name}/mul"),
            helper.make_node("Reshape", [f"{name}/terms", f"{name}/shape"], [f"{name}/segments"],
                             name=f"{name}/reshape"),
            helper.make_node("ReduceSum", [f"{name}/segments", f"{name}/axes"], [f"{name}/sum"],
                             name=f"{name}/reducesum", keepdims=0),
            helper.make_node("Add", [f"{name}/sum", f"{name}/bias"], [affine_out], name=f"{name}/add"),
        ]
        current = affine_out
        if not last:
            nodes.append(helper.make_node("Relu", [affine_out], [f"{name}/relu"], name=f"{name}/relu"))
            current = f"{name}/relu"
    nodes.append(helper.make_node("Transpose", [current], ["y"], name="transpose/outputs", perm=[1, 0]))
    graph = helper.make_graph(
        nodes, "relucc_sparse",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", network.input_dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", network.output_dim])],
        initializers, doc_string=doc)
    return emit._finish(graph, certificate, doc, "sparse", opset)


def is_sparse_layout(nodes: list[onnx.NodeProto], initializers: dict) -> bool:
    """Return whether the graph starts like the sparse layout: Transpose, Gather with 1-D indices, Mul."""
    if len(nodes) < 7 or [node.op_type for node in nodes[:3]] != ["Transpose", "Gather", "Mul"]:
        return False
    indices = initializers.get(nodes[1].input[1])
    return indices is not None and indices.ndim == 1


def read_sparse_chain(path: str, nodes: list[onnx.NodeProto], initializers: dict, input_name: str,
                      input_width: int) -> Network:
    """Read Transpose, groups of Gather, Mul, Reshape, ReduceSum, Add [, Relu], Transpose into sparse layers.

    Anything else is rejected with a ModelError naming the node.
    """
    from relucc.reader import exact_layer

    location = SourceLocation(str(path))
    for node in (nodes[0], nodes[-1]):
        perm = {a.name: helper.get_attribute_value(a) for a in node.attribute}.get("perm")
        if node.op_type != "Transpose" or list(perm or []) != [1, 0]:
            raise ModelError(Diagnostic(f"node {node.name or '(unnamed)'}: the sparse layout starts and ends "
                                        f"with Transpose(perm=[1, 0]), found {node.op_type}", location))
    if nodes[0].input[0] != input_name:
        raise ModelError(Diagnostic(f"node {nodes[0].name or '(unnamed)'} does not read the input "
                                    f"{input_name!r}", location))
    layers: list[SparseAffineLayer] = []
    current, width, index = nodes[0].output[0], input_width, 1
    nodes = nodes[:-1]
    while index < len(nodes):
        group = nodes[index:index + len(SPARSE_OPERATORS)]
        found = [node.op_type for node in group]
        if found != list(SPARSE_OPERATORS):
            raise ModelError(Diagnostic(f"node {nodes[index].name or '(unnamed)'}: expected the sparse layout's "
                                        f"{', '.join(SPARSE_OPERATORS)}, found {', '.join(found)}", location))
        indices, weights, bias = _group_constants(group, current, initializers, location)
        layers.append(_sparse_layer(exact_layer, indices, weights, bias, width, _role(group[0].name)))
        current, width = group[-1].output[0], int(bias.shape[0])
        index += len(SPARSE_OPERATORS)
        if index < len(nodes) and nodes[index].op_type == "Relu":
            current = nodes[index].output[0]
            index += 1
        elif index < len(nodes):
            raise ModelError(Diagnostic(f"node {nodes[index].name or '(unnamed)'}: expected Relu between "
                                        f"affine layers, found {nodes[index].op_type}", location))
    if not layers:
        raise ModelError(Diagnostic("no affine layers found", location))
    return Network(layers, input_width)


def _group_constants(group, current: str, initializers: dict, location: SourceLocation):
    """Check one layer's five nodes are chained and read their indices, weights and bias."""
    gather, mul, reshape, reduce, add = group

    def constant(node, position_of_data: int) -> np.ndarray:
        other = node.input[1 - position_of_data]
        if other not in initializers:
            raise ModelError(Diagnostic(f"node {node.name or '(unnamed)'} ({node.op_type}) reads {other!r}, "
                                        f"which is not an initializer", location))
        return initializers[other]

    def chained(node, source: str) -> int:
        if source not in node.input[:2]:
            raise ModelError(Diagnostic(f"node {node.name or '(unnamed)'} ({node.op_type}) does not read "
                                        f"{source!r}, the previous node's output", location))
        return list(node.input[:2]).index(source)

    axis = {a.name: helper.get_attribute_value(a) for a in gather.attribute}.get("axis", 0)
    if gather.input[0] != current or axis != 0:
        raise ModelError(Diagnostic(f"node {gather.name or '(unnamed)'}: the sparse layout gathers units of "
                                    f"{current!r} along axis 0", location))
    indices = constant(gather, 0).astype(np.int64)
    weights = constant(mul, chained(mul, gather.output[0])).astype(np.float32).ravel()
    shape = constant(reshape, chained(reshape, mul.output[0])).astype(np.int64)
    axes = constant(reduce, chained(reduce, reshape.output[0])).astype(np.int64).ravel()
    keepdims = {a.name: helper.get_attribute_value(a) for a in reduce.attribute}.get("keepdims", 1)
    bias = constant(add, chained(add, reduce.output[0])).astype(np.float32).ravel()
    if (indices.ndim != 1 or weights.shape != indices.shape or shape.shape != (3,)
            or int(shape[0]) * int(shape[1]) != indices.shape[0] or int(shape[0]) != bias.shape[0]
            or axes.tolist() != [1] or keepdims != 0):
        raise ModelError(Diagnostic(f"node {gather.name or '(unnamed)'}: the sparse layout needs indices and "
                                    f"weights [out*F], Reshape to [out, F, -1], ReduceSum over axis 1 with "
                                    f"keepdims 0 and a bias [out, 1]", location))
    return indices.reshape(int(shape[0]), int(shape[1])), weights.reshape(int(shape[0]), int(shape[1])), bias


def _sparse_layer(exact_layer, indices: np.ndarray, weights: np.ndarray, bias: np.ndarray, width: int,
                  role: str) -> SparseAffineLayer:
    """Build a sparse layer from padded [out, F] indices and weights, summing repeated (row, column) pairs."""
    if indices.size and (indices.min() < 0 or indices.max() >= width):
        raise ValueError(f"gather indices must lie in [0, {width})")
    rows, slots = np.nonzero(weights != 0)
    columns = indices[rows, slots]
    exact = exact_layer(weights[rows, slots].reshape(1, -1), bias, [role] * bias.shape[0])
    values = np.asarray(exact.weight).reshape(-1)

    order = np.lexsort((columns, rows))
    rows, columns, values = rows[order].astype(np.int64), columns[order], values[order]
    keys = rows * max(width, 1) + columns
    unique, starts = np.unique(keys, return_index=True)
    if unique.size != keys.size:
        values = np.add.reduceat(values, starts)
        rows, columns = rows[starts], columns[starts]
        keep = values != 0
        rows, columns, values = rows[keep], columns[keep], values[keep]
    return SparseAffineLayer(rows, columns, values, np.asarray(exact.bias).reshape(-1), exact.exponent, width,
                             [role] * bias.shape[0])


def _role(node_name: str) -> str:
    name = node_name.rsplit("/", 1)[0] if "/" in node_name else ""
    return name.split("/", 1)[1] if "/" in name and name.startswith("layer") else "affine"


def recompute_sparse_certificate(loaded) -> dict:
    """Recompute a sparse-layout model's certificate as the compiler computed it.

    Networks up to SPARSE_THRESHOLD dense weights are certified in dense form (the compiler
    keeps those dense); larger ones by ``relucc.sparse_certify`` from the nonzero weights.
    """
    from dataclasses import replace

    from relucc.reader import recompute_certificate
    from relucc.sparse_certify import certify_sparse_network
    from relucc.sparse_network import SPARSE_THRESHOLD, dense_weight_count, densify_network

    network = loaded.network
    if dense_weight_count(network) <= SPARSE_THRESHOLD:
        return recompute_certificate(replace(loaded, layout="dense", network=densify_network(network)))
    figures = certify_sparse_network(network, f"[-1,1]^{network.input_dim}")
    figures["outputs"] = network.output_dim
    figures["inputs"] = network.input_dim
    return figures
