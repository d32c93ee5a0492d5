"""Registry of test circuits shared by tests and benchmarks: netlist files and random circuits.

The netlist files are the combinational ones under the shared circuit collection, found at
``$RELUCC_SHARED_CIRCUITS`` when that variable is set, else at ``../shared/circuits`` next to
the repository root. When neither exists the registry lists no files, so callers skip.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Callable

from relucc.boolean import Circuit, Gate
from relucc.netlist import NETLIST_SUFFIXES, read_netlist

SHARED_CIRCUITS_VARIABLE = "RELUCC_SHARED_CIRCUITS"

# Kinds that random circuits draw from, with their fan-in range (inclusive).
RANDOM_GATE_FAN_IN = {
    "and": (2, 4), "or": (2, 4), "nand": (2, 4), "nor": (2, 4), "xor": (2, 3), "xnor": (2, 3),
    "not": (1, 1), "buf": (1, 1), "maj": (3, 5), "threshold": (1, 5), "const": (0, 0),
}


@dataclass(frozen=True)
class CircuitEntry:
    """One registered circuit: a name, a loader, and the file it comes from (if any)."""

    name: str
    load: Callable[[], Circuit]
    path: Path | None = None
    size_bytes: int = 0


def shared_circuits_dir() -> Path | None:
    """Return the shared circuit collection's folder, or None when it is absent."""
    override = os.environ.get(SHARED_CIRCUITS_VARIABLE)
    if override:
        folder = Path(override)
    else:
        folder = Path(__file__).resolve().parents[1].parent / "shared" / "circuits"
    return folder if folder.is_dir() else None


def netlist_entries(*, sequential: bool = False) -> dict[str, CircuitEntry]:
    """Return the shared netlist files keyed by their path inside the collection.

    Only combinational files are listed, or with ``sequential=True`` only sequential ones
    (DFF gates, AIGER latches, BLIF ``.latch``), which every reader rejects.
    """
    folder = shared_circuits_dir()
    if folder is None:
        return {}
    entries = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in NETLIST_SUFFIXES or not path.is_file():
            continue
        if _looks_sequential(path) != sequential:
            continue
        name = path.relative_to(folder).as_posix()
        entries[name] = CircuitEntry(name, partial(read_netlist, path), path, path.stat().st_size)
    return entries


_DFF = re.compile(rb"=\s*DFF\s*\(", re.IGNORECASE)
_LATCH = re.compile(rb"^\s*\.latch\b", re.MULTILINE)


def _looks_sequential(path: Path) -> bool:
    """Sniff a netlist for flip-flops without parsing it."""
    suffix = path.suffix.lower()
    if suffix in (".aag", ".aig"):
        with path.open("rb") as stream:
            fields = stream.readline().split()
        return len(fields) >= 4 and fields[3] != b"0"
    data = path.read_bytes()
    if suffix == ".bench":
        return _DFF.search(data) is not None
    return _LATCH.search(data) is not None


def random_entries(seeds: range = range(8), **options) -> dict[str, CircuitEntry]:
    """Return random circuits ``random/<seed>`` built by ``random_circuit(seed, **options)``."""
    return {
        f"random/{seed}": CircuitEntry(f"random/{seed}", partial(random_circuit, seed, **options))
        for seed in seeds
    }


def all_entries() -> dict[str, CircuitEntry]:
    """Return every combinational shared netlist and the default random circuits."""
    return {**netlist_entries(), **random_entries()}


def random_circuit(seed: int, *, inputs: int = 6, gates: int = 24, outputs: int = 4,
                   kinds: tuple[str, ...] = tuple(RANDOM_GATE_FAN_IN)) -> Circuit:
    """Build a random combinational circuit (a DAG of mixed gate kinds) from a seed.

    Each gate reads earlier signals, chosen with a bias towards recent ones so that the circuit
    gets deep. Threshold gates get dyadic weights (some zero) and biases; half of them put the
    bias exactly on <w, x> for some input, so that sgn(0) = +1 ties are exercised. Outputs are
    random signals and may be inputs or constants.
    """
    rng = random.Random(seed)
    input_names = [f"x{i}" for i in range(inputs)]
    signals = list(input_names)
    gate_list: list[Gate] = []
    for number in range(gates):
        kind = rng.choice(kinds)
        low, high = RANDOM_GATE_FAN_IN[kind]
        fan_in = min(rng.randint(low, high), len(signals))
        if fan_in < low:
            kind, fan_in = "const", 0
        sources = tuple(_pick_signal(rng, signals) for _ in range(fan_in))
        gate_list.append(_random_gate(rng, f"g{number}", kind, sources))
        signals.append(gate_list[-1].name)

    if outputs and not signals:
        gate_list.append(_random_gate(rng, f"g{gates}", "const", ()))
        signals.append(gate_list[-1].name)
    output_names = [_pick_signal(rng, signals) for _ in range(outputs)]
    return Circuit(name=f"random-{seed}", inputs=input_names, outputs=output_names,
                   gates=gate_list)


def _pick_signal(rng: random.Random, signals: list[str]) -> str:
    # Half the time take one of the last few signals, which makes long paths likely.
    if rng.random() < 0.5:
        return signals[-rng.randint(1, min(4, len(signals)))]
    return rng.choice(signals)


def _random_gate(rng: random.Random, name: str, kind: str, sources: tuple[str, ...]) -> Gate:
    if kind == "const":
        return Gate(name, "const", (), value=rng.choice((-1, 1)))
    if kind != "threshold":
        return Gate(name, kind, sources)
    weights = tuple(_random_dyadic(rng) for _ in sources)
    if rng.random() < 0.5:
        # A bias equal to <w, s> for a sign vector s makes <w, x> - b = 0 at x = s.
        bias = sum((w * rng.choice((-1, 1)) for w in weights), Fraction(0))
    else:
        bias = _random_dyadic(rng)
    return Gate(name, "threshold", sources, weights=weights, bias=bias)


def _random_dyadic(rng: random.Random) -> Fraction:
    """Return a dyadic rational k / 2^j with |k| <= 4 and j <= 2 (zero included)."""
    return Fraction(rng.randint(-4, 4), 2 ** rng.randint(0, 2))
