"""Compile time and peak memory of the TSA generator at growing (m, d), local and dense layouts.

Usage: python benches/compile_scale.py [--sizes 50x200,1000x20000,10000x1000000] [--strategy auto]

Each (m, d, layout) runs in a fresh Python process that parses the source, lowers and certifies
the predicate network, emits the ONNX model and writes it; the process reports its wall time
and its peak resident memory (``resource.getrusage``, ru_maxrss). A dense layout over the 2 GB
protobuf limit is rejected by relucc; the table says so instead of a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from relucc.compiler import compile_source
from relucc.errors import RelucError
m, d, layout, strategy, output = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
source = ("predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)\n"
          f"local G {{\n m = {m}\n d = {d}\n predicate = TSA\n subsets = random(seed = 2022)\n}}\n"
          "generator G\n")
result = {}
try:
    compiled = compile_source(source, "tsa.circ", strategy=strategy)
    result["compile_seconds"] = time.perf_counter() - started
    compiled.save(output, layout=layout)
    result["strategy"] = compiled.strategy
except RelucError as error:
    result["error"] = str(error).splitlines()[0]
result["seconds"] = time.perf_counter() - started
result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def run(m: int, d: int, layout: str, strategy: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "model.onnx"
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", CHILD, str(m), str(d), layout, strategy, str(output)],
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            return {"m": m, "d": d, "layout": layout, "error": completed.stderr.strip().splitlines()[-1],
                    "seconds": time.perf_counter() - started}
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        if output.exists():
            result["model_mib"] = os.path.getsize(output) / 2**20
    return {"m": m, "d": d, "layout": layout, **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50x200,1000x20000,10000x1000000",
                        help="comma-separated MxD pairs (default: %(default)s)")
    parser.add_argument("--strategy", default="auto", help="relucc strategy (default: auto)")
    args = parser.parse_args()
    print("| m | d | layout | strategy | total (s) | parse + lower + certify (s) | peak RSS (MiB) | model (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for pair in args.sizes.split(","):
        m, d = (int(v) for v in pair.split("x"))
        for layout in ("local", "dense"):
            row = run(m, d, layout, args.strategy)
            if "error" in row:
                print(f"| {m} | {d} | {layout} | {row.get('strategy', args.strategy)} | {row['seconds']:.2f} | "
                      f"{row.get('compile_seconds', 0):.2f} | {row.get('peak_rss_mib', 0):.0f} | "
                      f"rejected: {row['error']} |", flush=True)
                continue
            print(f"| {m} | {d} | {layout} | {row['strategy']} | {row['seconds']:.2f} | {row['compile_seconds']:.2f} | "
                  f"{row['peak_rss_mib']:.0f} | {row['model_mib']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
