"""Subset designs for Goldreich's PRG and gather-form ONNX generators built from them.

Goldreich's PRG (Definition 8 of Chen, Li, Li and Meka, ICLR 2022) maps a seed x in {±1}^m to
d outputs, output l being P(x restricted to S_l) for k-subsets S_1..S_d of the seed
coordinates. This module draws such subsets, optionally with a bound on how many coordinates two
subsets share, and emits small exact ONNX generators for a subset design and a predicate. The
critic harness uses them as test generators and as weak controls that a critic must detect.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from math import comb

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucc.boolean import input_points
from relucc.critic_eval import finish_model
from relucc.errors import UsageError

# Attempts per subset before rejection sampling gives up on an overlap bound.
MAX_ATTEMPTS_PER_SUBSET = 20_000


def packing_bound(seed_length: int, arity: int, max_overlap: int) -> int:
    """Return an upper bound on how many k-subsets of {1..m} can pairwise share <= t coordinates.

    Every (t+1)-subset of {1..m} lies in at most one subset of such a design, and each subset
    contains C(k, t+1) of them, so a design has at most C(m, t+1) / C(k, t+1) subsets.
    """
    if max_overlap >= arity:
        return comb(seed_length, arity)
    return comb(seed_length, max_overlap + 1) // comb(arity, max_overlap + 1)


def sample_subsets(seed_length: int, output_length: int, arity: int, seed: int,
                   max_overlap: int | None = None) -> np.ndarray:
    """Draw d Goldreich subsets of size k from {0..m-1}, rejecting any that overlap too much.

    Each candidate is ``sorted(rng.choice(m, size=k, replace=False))`` with
    ``rng = numpy.random.default_rng(seed)``. A candidate sharing more than ``max_overlap``
    coordinates with an accepted subset is drawn again. Without a bound (``None``) no candidate is
    rejected, so the result equals ``relucc.boolean.random_subsets`` for the same seed.

    Returns an int64 array of shape [d, k]. Raises ``UsageError`` when the sizes are invalid,
    when d exceeds the packing bound, or when rejection sampling fails to place a subset within
    ``MAX_ATTEMPTS_PER_SUBSET`` draws.
    """
    _check_design_sizes(seed_length, output_length, arity, max_overlap)
    rng = np.random.default_rng(seed)
    accepted = np.zeros((output_length, seed_length), dtype=np.int32)
    rows = []

    for index in range(output_length):
        for _ in range(MAX_ATTEMPTS_PER_SUBSET):
            candidate = np.sort(rng.choice(seed_length, size=arity, replace=False))
            if max_overlap is None or index == 0:
                break
            overlaps = accepted[:index, candidate].sum(axis=1)
            if overlaps.max() <= max_overlap:
                break
        else:
            raise UsageError(
                f"could not draw subset {index + 1} of {output_length} with overlap at most "
                f"{max_overlap} (m={seed_length}, k={arity}) after {MAX_ATTEMPTS_PER_SUBSET} "
                "attempts; raise the overlap bound, lower d or raise m"
            )
        accepted[index, candidate] = 1
        rows.append(candidate)

    return np.array(rows, dtype=np.int64).reshape(output_length, arity)


def _check_design_sizes(seed_length: int, output_length: int, arity: int,
                        max_overlap: int | None) -> None:
    if seed_length < 1 or output_length < 1 or arity < 1:
        raise UsageError(f"m, d and k must be positive, got m={seed_length}, d={output_length}, k={arity}")
    if arity > seed_length:
        raise UsageError(f"subset size k={arity} exceeds the seed length m={seed_length}")
    if max_overlap is None:
        return
    if max_overlap < 0:
        raise UsageError(f"the overlap bound must be at least 0, got {max_overlap}")
    bound = packing_bound(seed_length, arity, max_overlap)
    if output_length > bound:
        raise UsageError(
            f"no design of d={output_length} subsets of size k={arity} from m={seed_length} "
            f"coordinates has pairwise overlap at most {max_overlap}: at most {bound} such "
            "subsets exist (packing bound C(m, t+1) / C(k, t+1)); raise the bound, lower d or raise m"
        )


def max_pairwise_overlap(subsets: np.ndarray, seed_length: int) -> int:
    """Return the largest number of coordinates that two distinct subsets share (0 when d = 1)."""
    subsets = np.asarray(subsets)
    if subsets.shape[0] < 2:
        return 0
    incidence = np.zeros((subsets.shape[0], seed_length), dtype=np.int32)
    np.put_along_axis(incidence, subsets, 1, axis=1)
    overlaps = incidence @ incidence.T
    np.fill_diagonal(overlaps, 0)
    return int(overlaps.max())


def truth_table(function, arity: int) -> np.ndarray:
    """Tabulate a ±1-valued numpy function of the columns x[:, 0..k-1] in relucc's table order."""
    points = input_points(arity).astype(np.int64)
    values = np.asarray(function(points), dtype=np.int64).reshape(2**arity)
    if not np.all(np.abs(values) == 1):
        raise ValueError("predicate values must be +1 or -1")
    return values.astype(np.int8)


def tsa_table() -> np.ndarray:
    """Return the TSA predicate x1*x2*x3*AND(x4, x5) on {±1}^5, AND taken logically."""
    return truth_table(lambda x: x[:, 0] * x[:, 1] * x[:, 2] * np.where((x[:, 3] > 0) & (x[:, 4] > 0), 1, -1), 5)


def and_table(arity: int = 2) -> np.ndarray:
    """Return AND(x1..xk) on {±1}^k: +1 only when every input is +1, so its mean is 1 - 2^(1-k)."""
    return truth_table(lambda x: np.where(np.all(x > 0, axis=1), 1, -1), arity)


def copy_table() -> np.ndarray:
    """Return the dictator P(x1) = x1."""
    return truth_table(lambda x: x[:, 0], 1)


@dataclass(frozen=True)
class IndicatorLayers:
    """The two affine layers of the indicator-sum network of one predicate.

    For a, x in {±1}^k, <a, x> equals k when x = a and is at most k - 2 otherwise, so
    relu(<a, x> - (k - 1)) is the indicator of x = a. Hence
    P(x) = -1 + 2 * sum over true points a of relu(<a, x> - (k - 1)),
    exact on {±1}^k with one hidden layer of T neurons (T = number of true points, at least 1).
    """

    points: np.ndarray
    hidden_bias: float
    output_weights: np.ndarray

    @classmethod
    def from_table(cls, table: np.ndarray) -> IndicatorLayers:
        table = np.asarray(table, dtype=np.int8)
        arity = int(round(math.log2(table.size)))
        points = input_points(arity)[table > 0].astype(np.float32)
        weights = np.full(points.shape[0], 2.0, dtype=np.float32)
        if points.shape[0] == 0:
            # Constant False: keep one hidden neuron with output weight 0.
            points = input_points(arity)[:1].astype(np.float32)
            weights = np.zeros(1, dtype=np.float32)
        return cls(points, float(-(arity - 1)), weights)

    def evaluate(self, values: np.ndarray) -> np.ndarray:
        hidden = np.maximum(values.astype(np.float32) @ self.points.T + np.float32(self.hidden_bias), 0)
        return hidden @ self.output_weights - np.float32(1)


def local_generator_model(subsets: np.ndarray, table: np.ndarray, seed_length: int,
                          description: str) -> onnx.ModelProto:
    """Build a gather-form ONNX generator z [N, m] -> y [N, d] for a local function.

    Output l is P(z restricted to subsets[l]) with P given by its ±1 truth table in relucc's
    order. The graph gathers the d*k seed coordinates, reshapes them to [N*d, k] and applies
    the indicator-sum network of ``IndicatorLayers`` to every window with one MatMul per layer. On
    ±1 seeds every value is a small integer, so float32 evaluation is exact.
    """
    subsets = np.asarray(subsets, dtype=np.int64)
    output_length, arity = subsets.shape
    layers = IndicatorLayers.from_table(table)
    _verify_indicator_layers(layers, table)

    initializers = [
        numpy_helper.from_array(subsets.reshape(-1), "subset_indices"),
        numpy_helper.from_array(np.array([-1, arity], dtype=np.int64), "gathered_shape"),
        numpy_helper.from_array(layers.points.T.copy(), "indicator_points"),
        numpy_helper.from_array(np.full(layers.points.shape[0], layers.hidden_bias, dtype=np.float32), "indicator_bias"),
        numpy_helper.from_array(layers.output_weights.reshape(-1, 1), "indicator_weights"),
        numpy_helper.from_array(np.array([-1, output_length], dtype=np.int64), "output_shape"),
        numpy_helper.from_array(np.array([-1.0], dtype=np.float32), "output_bias"),
    ]
    nodes = [
        helper.make_node("Gather", ["z", "subset_indices"], ["gathered"], axis=1),
        helper.make_node("Reshape", ["gathered", "gathered_shape"], ["windows"]),
        helper.make_node("MatMul", ["windows", "indicator_points"], ["scores"]),
        helper.make_node("Add", ["scores", "indicator_bias"], ["pre_activation"]),
        helper.make_node("Relu", ["pre_activation"], ["indicators"]),
        helper.make_node("MatMul", ["indicators", "indicator_weights"], ["weighted"]),
        helper.make_node("Reshape", ["weighted", "output_shape"], ["flat"]),
        helper.make_node("Add", ["flat", "output_bias"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "local_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", seed_length])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", output_length])],
        initializers,
    )
    model = finish_model(graph, description)
    certificate = _local_generator_certificate(layers, subsets, seed_length)
    helper.set_model_props(model, {"relucc.certificate": json.dumps(certificate)})
    onnx.checker.check_model(model, full_check=True)
    return model


def _verify_indicator_layers(layers: IndicatorLayers, table: np.ndarray) -> None:
    arity = int(round(math.log2(np.asarray(table).size)))
    computed = layers.evaluate(input_points(arity))
    if not np.array_equal(computed, np.asarray(table, dtype=np.float32)):
        raise AssertionError("indicator-sum network disagrees with the truth table")


def _local_generator_certificate(layers: IndicatorLayers, subsets: np.ndarray, seed_length: int) -> dict:
    output_length, arity = subsets.shape
    hidden = layers.points.shape[0]
    weights = np.concatenate([layers.points.ravel(), [layers.hidden_bias], layers.output_weights, [-1.0]])
    largest_weight = float(np.max(np.abs(weights)))
    lipschitz = float(np.linalg.norm(layers.points, 2) * np.linalg.norm(layers.output_weights))
    return {
        "depth": 2,
        "size": output_length * hidden,
        "size_per_output": hidden,
        "lipschitz_bound": {"value": lipschitz, "method": "product of the layers' spectral norms, per output"},
        "bit_complexity": max(0, math.ceil(math.log2(largest_weight))),
        "max_abs_activation": float(max(2 * arity - 1, 2)),
        "exact_domain": f"{{-1,+1}}^{seed_length}",
        "float32_exact": True,
        "verification": f"gadget-level: exhaustive over {{-1,+1}}^{arity} against the truth table, passed",
        "construction": "gather form: relu(<a, x> - (k - 1)) indicators of the true points, summed",
    }


def tsa_generator(seed_length: int, output_length: int, seed: int,
                  max_overlap: int | None = None) -> onnx.ModelProto:
    """Build Goldreich's PRG with the TSA predicate x1*x2*x3*AND(x4, x5) on random subsets."""
    subsets = sample_subsets(seed_length, output_length, 5, seed, max_overlap)
    description = (f"Goldreich PRG {{-1,+1}}^{seed_length} -> {{-1,+1}}^{output_length}, TSA predicate "
                   f"x1*x2*x3*AND(x4,x5), subsets drawn with seed {seed}, max overlap "
                   f"{max_pairwise_overlap(subsets, seed_length)}")
    return local_generator_model(subsets, tsa_table(), seed_length, description)


def copy_generator(seed_length: int, output_length: int) -> onnx.ModelProto:
    """Build the copy control: output l is seed coordinate l mod m, so outputs repeat when d > m."""
    subsets = (np.arange(output_length) % seed_length).reshape(-1, 1)
    description = (f"copy control {{-1,+1}}^{seed_length} -> {{-1,+1}}^{output_length}: "
                   "output l is seed coordinate l mod m")
    return local_generator_model(subsets, copy_table(), seed_length, description)


def and_generator(seed_length: int, output_length: int, seed: int) -> onnx.ModelProto:
    """Build the biased control: AND of two random seed coordinates, mean -1/2 per output."""
    subsets = sample_subsets(seed_length, output_length, 2, seed)
    description = (f"biased control {{-1,+1}}^{seed_length} -> {{-1,+1}}^{output_length}: "
                   f"AND(x1,x2) on random pairs drawn with seed {seed}")
    return local_generator_model(subsets, and_table(2), seed_length, description)


def overlap_generator(seed_length: int, output_length: int, seed: int, pool: int = 10) -> onnx.ModelProto:
    """Build the overlap control: TSA with every subset drawn from the first ``pool`` seed coordinates.

    Two TSA outputs whose parity triples x1, x2, x3 coincide have correlation
    E[AND]^2 = 1/4, and a pool of 10 coordinates leaves only C(10, 3) = 120 triples for d outputs.
    """
    if pool > seed_length:
        raise UsageError(f"overlap pool of {pool} coordinates exceeds the seed length m={seed_length}")
    subsets = sample_subsets(pool, output_length, 5, seed)
    description = (f"overlap control {{-1,+1}}^{seed_length} -> {{-1,+1}}^{output_length}: TSA on "
                   f"subsets of the first {pool} seed coordinates, drawn with seed {seed}")
    return local_generator_model(subsets, tsa_table(), seed_length, description)
