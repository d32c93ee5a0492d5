"""Compile and check every combinational netlist of the shared circuit collection.

Usage: python benches/netlists.py [--samples N] [--max-parameters P] [--max-depth D]
                                  [--timeout S] [--json OUT.json] [--only SUBSTRING]
                                  [--suites iscas85/,epfl/]

Each file runs in a fresh Python process, so that its peak resident memory (ru_maxrss, which
includes about 200 MB of imports: numpy, scipy, onnx, onnxruntime) is its own. Per file the
table lists the source gates, the leveled depth D and relays, the network's depth L and size S,
the compile time (read, level, lower, certify, emit), the layout (the compiler's default:
dense up to relucc.sparse_network.SPARSE_THRESHOLD dense weights, sparse above) with the weights
its model stores, the check time (onnxruntime float32 against ``Circuit.evaluate``: exhaustive
up to 24 inputs when affordable, else ``--samples`` random inputs) and the peak memory. Files
are skipped, with the reason, when the circuit is deeper than ``--max-depth`` (leveling would
insert millions of relays), or when the network would hold more than ``--max-parameters``
dense weights. Pass 0 to lift either limit. The last lines fit compile time against gates,
t = c * gates^k, by least squares on the logarithms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

# 0: no limit, because the sparse layout holds the big EPFL networks (mem_ctrl: 413M dense weights).
DEFAULT_MAX_PARAMETERS = 0
# EPFL sqrt (source depth 6359) and div (6502) compile and check in about 5 and 7 minutes;
# hyp (29062) would need 7.5M relays, so it is skipped by default.
DEFAULT_MAX_DEPTH = 10000


def run_single(name: str, samples: int, max_parameters: int, max_depth: int) -> dict:
    """Compile and check one registered netlist in this process; return its record."""
    from relucc.circuit_compiler import compile_circuit
    from relucc.leveling import level_circuit
    from relucc.registry import netlist_entries
    from relucc.runtime import check_against_reference

    entry = netlist_entries()[name]
    started = time.perf_counter()
    circuit = entry.load()
    record = {"file": name, "inputs": len(circuit.inputs), "outputs": len(circuit.outputs),
              "gates": len(circuit.gates)}

    depth = source_depth(circuit)
    if max_depth and depth > max_depth:
        record.update(depth=depth, skipped=f"depth {depth} > --max-depth {max_depth}: leveling would insert "
                                           f"about depth x width relays")
        return finish(record)
    leveled = level_circuit(circuit, fold_inverters=True)
    widths = [len(circuit.inputs)] + [len(level) for level in leveled.levels] + [len(circuit.outputs)]
    parameters = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    record.update(depth=leveled.depth, relays=leveled.stats.relays, estimated_parameters=parameters)
    if max_parameters and parameters > max_parameters:
        record["skipped"] = (f"about {parameters / 1e6:.1f}M dense weights > --max-parameters "
                             f"{max_parameters / 1e6:.1f}M")
        return finish(record)

    started = time.perf_counter()
    compiled = compile_circuit(circuit)
    model = compiled.to_onnx()
    record["compile_seconds"] = time.perf_counter() - started
    record["layout"] = compiled.layouts[0]
    record["stored_weights"] = stored_weights(compiled.network, record["layout"])
    certificate = compiled.certificate
    record.update(network_depth=certificate["depth"], network_size=certificate["size"],
                  lipschitz_bound=certificate["lipschitz_bound"]["value"],
                  bit_complexity=certificate["bit_complexity"], float32_exact=certificate["float32_exact"])

    started = time.perf_counter()
    check = check_against_reference(model, compiled.reference, compiled.input_length, samples,
                                    compiled.exhaustive_limit, progress=False)
    record["check_seconds"] = time.perf_counter() - started
    record["check"] = f"{check['kind'].split(',')[0]} {check['inputs']}"
    return finish(record)


def stored_weights(network, layout: str) -> int:
    """Return the weights the model of ``layout`` stores (the sparse layout pads each neuron to the layer's fan-in)."""
    from relucc.sparse_network import dense_weight_count, padded_entry_count

    return padded_entry_count(network) if layout == "sparse" else dense_weight_count(network)


def source_depth(circuit) -> int:
    depth: dict[str, int] = {}
    for gate in circuit.gates:
        depth[gate.name] = 1 + max((depth.get(s, 0) for s in gate.inputs), default=0)
    return max(depth.values(), default=0)


def finish(record: dict) -> dict:
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


def run_all(arguments) -> list[dict]:
    from relucc.registry import netlist_entries

    suites = tuple(arguments.suites.split(",")) if arguments.suites else ("",)
    names = [name for name in netlist_entries() if name.startswith(suites) and arguments.only in name]
    records = []
    for name in names:
        command = [sys.executable, __file__, "--single", name, "--samples", str(arguments.samples),
                   "--max-parameters", str(arguments.max_parameters), "--max-depth", str(arguments.max_depth)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=arguments.timeout)
        except subprocess.TimeoutExpired:
            record = {"file": name, "skipped": f"timed out after {arguments.timeout} s"}
        else:
            if result.returncode == 0:
                record = json.loads(result.stdout.strip().splitlines()[-1])
            else:
                record = {"file": name, "failed": result.stderr.strip().splitlines()[-1:]}
        records.append(record)
        print(format_row(record), flush=True)
    return records


HEADER = ("| file | inputs | gates | D | relays | L | S | compile s | layout | weights | check | check s | peak MB |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|")


def format_row(record: dict) -> str:
    if "failed" in record:
        return f"| {record['file']} | FAILED: {' '.join(record['failed'])} |"
    if "skipped" in record:
        return (f"| {record['file']} | {record.get('inputs', '')} | {record.get('gates', '')} | "
                f"{record.get('depth', '')} | {record.get('relays', '')} | skipped: {record['skipped']} |")
    return (f"| {record['file']} | {record['inputs']} | {record['gates']} | {record['depth']} | "
            f"{record['relays']} | {record['network_depth']} | {record['network_size']} | "
            f"{record['compile_seconds']:.2f} | {record['layout']} | {record['stored_weights']} | "
            f"{record['check']} | {record['check_seconds']:.2f} | "
            f"{record['peak_rss_mb']:.0f} |")


def fit_compile_time(records: list[dict]) -> str:
    """Fit compile_seconds = c * gates^k on the compiled files with at least 100 gates."""
    points = [(math.log(r["gates"]), math.log(r["compile_seconds"])) for r in records
              if "compile_seconds" in r and r["gates"] >= 100]
    if len(points) < 3:
        return "too few compiled files to fit compile time against gates"
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    scale = math.exp(mean_y - slope * mean_x)
    return (f"compile seconds ~ {scale:.3g} * gates^{slope:.2f} over {len(points)} files "
            f"(least squares on logarithms, files with >= 100 gates)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000, help="random inputs per check above 24 inputs")
    parser.add_argument("--max-parameters", type=int, default=DEFAULT_MAX_PARAMETERS,
                        help=f"skip files whose dense network would hold more weights (default "
                             f"{DEFAULT_MAX_PARAMETERS}; 0: no limit)")
    parser.add_argument("--max-depth", type=int, default=DEFAULT_MAX_DEPTH,
                        help=f"skip circuits deeper than this (default {DEFAULT_MAX_DEPTH}; 0: no limit)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per file (default 600)")
    parser.add_argument("--only", default="", help="run only files whose name contains this")
    parser.add_argument("--suites", default="", help="comma-separated path prefixes to run, such as "
                                                     "iscas85/,epfl/ (default: every combinational file)")
    parser.add_argument("--json", help="also write the records to this JSON file")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.single:
        record = run_single(arguments.single, arguments.samples, arguments.max_parameters, arguments.max_depth)
        print(json.dumps(record))
        return 0

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(HEADER)
    records = run_all(arguments)
    print(fit_compile_time(records))
    if arguments.json:
        with open(arguments.json, "w") as stream:
            json.dump(records, stream, indent=2)
    return 1 if any("failed" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
