"""Predicate network size, depth and Lipschitz bound per strategy, beside the paper's construction.

Usage: python benches/predicates.py [--markdown]

Predicates: every predicate declared in examples/*.circ, plus majority-5, parity-5 and three
random 5-variable predicates (NumPy default_rng seeds 1, 2, 3). For each strategy it builds the
network, runs the optimisation passes (except for the row ``paper, as built``), checks it on
all 2^k inputs and certifies it with relucc.certify.certify_network. The last column marks the
strategy the cost model picks for ``--optimize size``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from relucc import strategies
from relucc.boolean import Predicate, input_points
from relucc.certify import certify_network
from relucc.compiler import verify_predicate_network
from relucc.errors import UsageError
from relucc.frontend import parse_file

ROOT = Path(__file__).resolve().parents[1]


def example_predicates() -> list[tuple[str, Predicate]]:
    found, seen = [], set()
    for path in sorted((ROOT / "examples").glob("*.circ")):
        for name, predicate in parse_file(path).predicates.items():
            key = (predicate.arity, predicate.truth_table.tobytes())
            if key not in seen:
                seen.add(key)
                found.append((f"{path.name}:{name}", predicate))
    return found


def standard_predicates() -> list[tuple[str, Predicate]]:
    points = input_points(5).astype(np.int64)
    result = [("majority-5", Predicate("maj5", 5, np.where(points.sum(axis=1) > 0, 1, -1))),
              ("parity-5", Predicate("par5", 5, np.prod(points, axis=1)))]
    for seed in (1, 2, 3):
        table = np.random.default_rng(seed).choice(np.array([-1, 1]), size=32)
        result.append((f"random-5 (seed {seed})", Predicate(f"random{seed}", 5, table)))
    return result


def rows_for(label: str, predicate: Predicate) -> list[dict]:
    points = input_points(predicate.arity)
    chosen = strategies.lower_predicate(predicate).strategy
    rows = []
    for name in ("paper, as built", "paper + passes") + strategies.STRATEGY_NAMES[1:]:
        strategy = "paper" if name.startswith("paper") else name
        try:
            lowered = strategies.lower_predicate(predicate, strategy, passes=name != "paper, as built")
        except UsageError as error:
            rows.append({"predicate": label, "strategy": name, "note": str(error).splitlines()[0].split(": ")[-1]})
            continue
        verify_predicate_network(predicate, lowered.network)
        figures = certify_network(lowered.network, points, f"{{-1,+1}}^{predicate.arity}")
        rows.append({"predicate": label, "strategy": name, "size": figures["size"], "depth": figures["depth"],
                     "lipschitz": figures["lipschitz_bound"]["value"], "tau": figures["bit_complexity"],
                     "chosen": name == chosen})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| predicate | strategy | neurons per output | depth | Lipschitz bound | tau | default |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "size" not in row:
            lines.append(f"| {row['predicate']} | {row['strategy']} | not applicable: {row['note']} | | | | |")
            continue
        lines.append(f"| {row['predicate']} | {row['strategy']} | {row['size']} | {row['depth']} | "
                     f"{row['lipschitz']:.2f} | {row['tau']} | {'yes' if row['chosen'] else ''} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    rows = []
    for label, predicate in example_predicates() + standard_predicates():
        rows.extend(rows_for(label, predicate))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
