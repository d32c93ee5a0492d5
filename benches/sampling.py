"""Sampling throughput: the emitted ONNX generator in onnxruntime beside NumPy evaluations of the same PRG.

Usage: python benches/sampling.py [--quick] [--device cpu|cuda] [--json OUT.json] [--outputs-dir DIR]

For (N, m, d) = (100000, 50, 200) and (10000, 1000, 20000) with the TSA predicate, it times:
- onnxruntime on the local layout relucc emits (feature-major: seeds transposed, gathered to
  [k, d*N], each layer one Gemm with the shared weights on the left) for several strategies,
  intra-op thread counts and batch sizes (relucc.runtime.batch_size's choice and 8000-sample
  equivalents), and on the previous local layout (MatMul over the last axis of [N, d, k]), the
  dense layout and a hybrid layout (one Gemm for the first layer, shared MatMuls after it) where
  their weights are small;
- NumPy by truth-table lookup: index = sum_j bit_j << j gathered row-wise from the transposed
  seed bits, then table[index];
- NumPy on packed bits: 64 samples per uint64 word, the truth table evaluated as a tree of
  multiplexers b ^ (s & (a ^ b)) over the gathered words, constant branches folded.

Each method starts from the seeds in its own format (float32 [N, m] for onnxruntime, bool [m, N]
for lookup, uint64 words [m, N/64] for packed) and ends with the outputs in its own format;
the NumPy methods are also timed on onnxruntime's formats, from float32 ±1 seeds [N, m] to
float32 ±1 outputs [N, d]. Every output is checked
equal to the lookup result. Times are the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from relucc.compiler import compile_source
from relucc.emit import float32_weights
from relucc.runtime import batch_size

TSA_TEMPLATE = """
predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)
local G {{
    m = {m}
    d = {d}
    predicate = TSA
    subsets = random(seed = 2022)
}}
generator G
"""

CASES = [(100_000, 50, 200), (10_000, 1000, 20_000)]
QUICK_CASES = [(20_000, 50, 200), (2_000, 1000, 20_000)]


def best_time(function, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


# ---------------------------------------------------------------------------------------------
# NumPy references.


def lookup_outputs(bits_by_seed: np.ndarray, subsets: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Return bool [d, N]: table[sum_j bits[S_lj] << j] with rows gathered from bool [m, N]."""
    index = np.zeros((subsets.shape[0], bits_by_seed.shape[1]), dtype=np.uint8)
    for j in range(subsets.shape[1]):
        gathered = bits_by_seed[subsets[:, j]].view(np.uint8)
        index |= gathered << np.uint8(j) if j else gathered
    return table[index]


def multiplexer_plan(table: np.ndarray, arity: int):
    """Return a nested plan evaluating a 0/1 table by Shannon expansion on the last variable.

    A plan is True/False (a constant) or (variable, plan_if_true, plan_if_false).
    """
    if np.all(table == table[0]):
        return bool(table[0])
    half = table.shape[0] // 2
    low, high = table[:half], table[half:]
    if np.array_equal(low, high):
        return multiplexer_plan(low, arity - 1)
    return (arity - 1, multiplexer_plan(high, arity - 1), multiplexer_plan(low, arity - 1))


def evaluate_plan(plan, words: list[np.ndarray], ones: np.ndarray):
    if plan is True:
        return ones
    if plan is False:
        return None  # all zero, kept symbolic
    variable, if_true, if_false = plan
    selector = words[variable]
    a = evaluate_plan(if_true, words, ones)
    b = evaluate_plan(if_false, words, ones)
    if b is None:
        return selector & a if a is not None else None
    if a is None:
        return b & ~selector
    return b ^ (selector & (a ^ b))


def packed_outputs(words_by_seed: np.ndarray, subsets: np.ndarray, plan) -> np.ndarray:
    """Return uint64 [d, W]: the predicate on 64 samples per word, from uint64 [m, W] seed words."""
    gathered = [words_by_seed[subsets[:, j]] for j in range(subsets.shape[1])]
    ones = np.full_like(gathered[0], np.uint64(0xFFFF_FFFF_FFFF_FFFF))
    result = evaluate_plan(plan, gathered, ones)
    return np.zeros_like(ones) if result is None else result


def pack(bits_by_seed: np.ndarray) -> np.ndarray:
    packed = np.packbits(bits_by_seed, axis=1, bitorder="little")
    padding = (-packed.shape[1]) % 8
    if padding:
        packed = np.pad(packed, ((0, 0), (0, padding)))
    return packed.view(np.uint64)


def unpack(words: np.ndarray, count: int) -> np.ndarray:
    return np.unpackbits(words.view(np.uint8), axis=1, bitorder="little", count=count).astype(bool)


def lookup_from_floats(seeds: np.ndarray, subsets: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Return float32 ±1 [N, d] from float32 ±1 seeds [N, m] by the lookup evaluation."""
    bits = np.ascontiguousarray((seeds > 0).T)
    return np.where(lookup_outputs(bits, subsets, table).T, np.float32(1), np.float32(-1))


def packed_from_floats(seeds: np.ndarray, subsets: np.ndarray, plan) -> np.ndarray:
    """Return float32 ±1 [N, d] from float32 ±1 seeds [N, m] by the packed-bit evaluation."""
    words = pack(np.ascontiguousarray((seeds > 0).T))
    bits = unpack(packed_outputs(words, subsets, plan), seeds.shape[0])
    return np.where(bits.T, np.float32(1), np.float32(-1))


# ---------------------------------------------------------------------------------------------
# onnxruntime.


def session(model: onnx.ModelProto, device: str, threads: int | None, level: str):
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = {
        "basic": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "all": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)


def run_onnx(sess, seeds: np.ndarray, batch: int) -> np.ndarray:
    outputs = []
    for start in range(0, seeds.shape[0], batch):
        outputs.append(sess.run(None, {"z": seeds[start:start + batch]})[0])
    return np.concatenate(outputs, axis=0)


def last_axis_model(compiled) -> onnx.ModelProto:
    """Build the local layout relucc emitted before: Gather [N, d, k], MatMul and Add on the last axis, Squeeze."""
    network = compiled.predicate_network
    m, d = compiled.seed_length, compiled.output_length
    nodes = [helper.make_node("Gather", ["z", "subsets"], ["current0"], axis=1)]
    initializers = [numpy_helper.from_array(compiled.local_function.subsets.astype(np.int64), "subsets"),
                    numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")]
    current = "current0"
    for index, layer in enumerate(network.layers):
        weight, bias = float32_weights(layer)
        initializers += [numpy_helper.from_array(np.ascontiguousarray(weight.T), f"w{index}"),
                         numpy_helper.from_array(bias, f"b{index}")]
        nodes += [helper.make_node("MatMul", [current, f"w{index}"], [f"m{index}"]),
                  helper.make_node("Add", [f"m{index}", f"b{index}"], [f"a{index}"])]
        current = f"a{index}"
        if index < network.depth - 1:
            nodes.append(helper.make_node("Relu", [current], [f"h{index}"]))
            current = f"h{index}"
    nodes.append(helper.make_node("Squeeze", [current, "axes"], ["y"]))
    graph = helper.make_graph(nodes, "last_axis",
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", m])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", d])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def hybrid_model(compiled) -> onnx.ModelProto:
    """First layer as one Gemm on z with all d copies of it, then the shared layers on [N, d, width]."""
    network = compiled.predicate_network
    subsets = compiled.local_function.subsets
    m, d = compiled.seed_length, compiled.output_length
    first_weight, first_bias = float32_weights(network.layers[0])
    width = first_weight.shape[0]
    dense = np.zeros((m, d * width), dtype=np.float32)
    for l in range(d):
        np.add.at(dense, (subsets[l][:, None], l * width + np.arange(width)[None, :]), first_weight.T)
    nodes = [helper.make_node("Gemm", ["z", "w1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["h1"]),
             helper.make_node("Reshape", ["h1", "shape3"], ["current0"])]
    initializers = [numpy_helper.from_array(dense, "w1"),
                    numpy_helper.from_array(np.tile(first_bias, d), "b1"),
                    numpy_helper.from_array(np.array([0, d, width], dtype=np.int64), "shape3"),
                    numpy_helper.from_array(np.array([0, d], dtype=np.int64), "shape2")]
    current = "current0"
    for index, layer in enumerate(network.layers[1:], start=1):
        weight, bias = float32_weights(layer)
        initializers += [numpy_helper.from_array(np.ascontiguousarray(weight.T), f"w{index + 1}"),
                         numpy_helper.from_array(bias, f"b{index + 1}")]
        nodes += [helper.make_node("MatMul", [current, f"w{index + 1}"], [f"m{index + 1}"]),
                  helper.make_node("Add", [f"m{index + 1}", f"b{index + 1}"], [f"a{index + 1}"])]
        current = f"a{index + 1}"
        if index < network.depth - 1:
            nodes.append(helper.make_node("Relu", [current], [f"h{index + 1}"]))
            current = f"h{index + 1}"
    nodes.append(helper.make_node("Reshape", [current, "shape2"], ["y"]))
    graph = helper.make_graph(nodes, "hybrid",
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", m])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", d])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------------------------------------


def bench_case(samples: int, m: int, d: int, args) -> dict:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(samples, m), dtype=np.uint8).astype(bool)
    seeds = np.ascontiguousarray(np.where(bits, 1.0, -1.0).astype(np.float32))
    bits_by_seed = np.ascontiguousarray(bits.T)
    words = pack(bits_by_seed)

    compiled = {name: compile_source(TSA_TEMPLATE.format(m=m, d=d), "tsa.circ", strategy=name)
                for name in ("auto", "cubes", "paper")}
    reference = compiled["auto"].local_function
    subsets = reference.subsets
    table01 = reference.predicate.truth_table > 0
    plan = multiplexer_plan(table01, reference.predicate.arity)

    rows = []
    lookup_time, expected = best_time(lambda: lookup_outputs(bits_by_seed, subsets, table01), args.repeats)
    rows.append({"method": "numpy lookup", "seconds": lookup_time})
    packed_time, packed = best_time(lambda: packed_outputs(words, subsets, plan), args.repeats)
    assert np.array_equal(unpack(packed, samples), expected), "packed NumPy disagrees with lookup"
    rows.append({"method": "numpy packed bits", "seconds": packed_time})
    packed_full, _ = best_time(lambda: unpack(packed_outputs(pack(bits_by_seed), subsets, plan), samples),
                               args.repeats)
    rows.append({"method": "numpy packed bits, with packing and unpacking", "seconds": packed_full})
    expected_float = np.where(expected.T, 1.0, -1.0).astype(np.float32)
    lookup_float, lookup_result = best_time(lambda: lookup_from_floats(seeds, subsets, table01), args.repeats)
    assert np.array_equal(lookup_result, expected_float), "lookup from floats disagrees"
    rows.append({"method": "numpy lookup, float32 [N, m] -> float32 [N, d]", "seconds": lookup_float})
    packed_float, packed_result = best_time(lambda: packed_from_floats(seeds, subsets, plan), args.repeats)
    assert np.array_equal(packed_result, expected_float), "packed bits from floats disagrees"
    rows.append({"method": "numpy packed bits, float32 [N, m] -> float32 [N, d]", "seconds": packed_float})

    # "auto" is relucc.runtime.batch_size's choice (about 32768 outputs per batch); "medium" is
    # 1.6 million outputs per batch (8000 samples at d = 200), the previous benchmark's best.
    medium = max(1, 1_600_000 // d)
    configurations = []
    for name in ("auto", "cubes", "paper"):
        chosen = compiled[name].strategy
        model = compiled[name].to_onnx("local")
        for threads, level, size in [(1, "all", "auto"), (2, "all", "auto"), (None, "all", "auto"),
                                     (1, "basic", "auto"), (1, "all", medium)]:
            if name != "auto" and (threads, level, size) != (1, "all", "auto"):
                continue
            configurations.append((f"onnx local, strategy {chosen}", model, threads, level, size))
    configurations.append((f"onnx previous local: MatMul on the last axis (bench only), strategy "
                           f"{compiled['auto'].strategy}", last_axis_model(compiled["auto"]), 1, "all", medium))
    if d <= 1000:
        configurations.append((f"onnx dense, strategy {compiled['auto'].strategy}",
                               compiled["auto"].to_onnx("dense"), 1, "all", medium))
        configurations.append((f"onnx hybrid (one Gemm, then shared MatMul; bench only), "
                               f"strategy {compiled['auto'].strategy}",
                               hybrid_model(compiled["auto"]), 1, "all", medium))
    for label, model, threads, level, batch in configurations:
        sess = session(model, args.device, threads, level)
        batch = min(batch_size(sess) if batch == "auto" else batch, samples)
        run_onnx(sess, seeds[:batch], batch)  # warm-up
        seconds, outputs = best_time(lambda: run_onnx(sess, seeds, batch), args.repeats)
        assert np.array_equal(outputs, expected_float), f"{label} disagrees with the NumPy reference"
        rows.append({"method": label, "threads": threads or "default", "graph_optimization": level,
                     "batch": batch, "seconds": seconds})
        print(f"  {label}, threads {threads or 'default'}, {level}, batch {batch}: {seconds:.4f} s",
              file=sys.stderr, flush=True)
        if args.outputs_dir:
            Path(args.outputs_dir).mkdir(parents=True, exist_ok=True)
            np.save(Path(args.outputs_dir) / f"y_{args.device}_{d}.npy", outputs)

    for row in rows:
        row["samples_per_second"] = samples / row["seconds"]
        row["ratio_to_numpy_lookup"] = lookup_time / row["seconds"]
        row["ratio_to_numpy_packed"] = packed_time / row["seconds"]
        row["ratio_to_numpy_lookup_float32"] = lookup_float / row["seconds"]
        row["ratio_to_numpy_packed_float32"] = packed_float / row["seconds"]
    return {"samples": samples, "m": m, "d": d, "device": args.device, "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines.append(f"\nN = {result['samples']}, m = {result['m']}, d = {result['d']} ({result['device']}):\n")
        lines.append("| method | threads | graph opt. | batch | time (s) | samples/s | ratio vs lookup | "
                     "ratio vs packed | ratio vs lookup, float32 I/O | ratio vs packed, float32 I/O |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for row in result["rows"]:
            lines.append(f"| {row['method']} | {row.get('threads', '')} | {row.get('graph_optimization', '')} | "
                         f"{row.get('batch', '')} | {row['seconds']:.4f} | {row['samples_per_second']:,.0f} | "
                         f"{row['ratio_to_numpy_lookup']:.3f} | {row['ratio_to_numpy_packed']:.3f} | "
                         f"{row['ratio_to_numpy_lookup_float32']:.3f} | {row['ratio_to_numpy_packed_float32']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, for a smoke run")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="onnxruntime device")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method; the best is kept")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--outputs-dir", help="save each case's onnxruntime outputs here as .npy")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    results = [bench_case(n, m, d, args) for n, m, d in (QUICK_CASES if args.quick else CASES)]
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
