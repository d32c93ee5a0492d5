"""Certificates of compiled circuits and critics: L, S, Lipschitz bound, tau, float32 exactness.

The figures come from the network's weights (``relucc.certify``) and, where enumerating the
input cube is out of reach, from the gadgets' own exhaustive checks: on {±1}^n every gadget
reads exact ±1 values, so a gadget's largest activation over its own domain bounds the matching
neurons of the whole network. They are set beside the bounds of Chen, Li, Li and Meka (ICLR
2022): Lemma 2.11 (leveled size at most D*S) and Lemma 4.4 (f o h_xi has depth Theta(D), size
3n + Theta(S), and a Lipschitz constant bounded by the product of its levels' constants).
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from relucc.boolean import Circuit, input_points
from relucc.certify import (
    bit_complexity,
    exact_activations,
    float32_exactness,
    lipschitz_per_output,
    output_cones,
    spectral_norm_upper,
)
from relucc.leveling import LeveledCircuit
from relucc import sparse_certify
from relucc.network import AffineLayer, Network
from relucc.sparse_network import SparseAffineLayer, is_sparse
from relucc.threshold import gadget_cost_summary

# Circuits with at most this many inputs get activation magnitudes from every point of {±1}^n.
EXHAUSTIVE_ACTIVATION_INPUTS = 16


def circuit_certificate(circuit: Circuit, leveled: LeveledCircuit, lowered, critic_xi: Fraction | None,
                        verification: list[dict]) -> dict:
    """Compute the certificate of a compiled circuit (``critic_xi`` set: of its critic f o h_xi)."""
    network = lowered.network
    n = len(circuit.inputs)
    cone_sizes, operator, absolute, method = _weight_bounds(network)
    level_bound = level_lipschitz_bound(lowered, critic_xi)
    # The stored value is what ``relucc info`` can recompute from the weights alone; the level
    # product needs the gadget structure and is reported beside it as Lemma 4.4's bound.
    best = np.minimum(operator, absolute)

    magnitudes, activation = activation_magnitudes(network, lowered, n, critic_xi)
    exactness = sparse_certify.float32_exactness if is_sparse(network) else float32_exactness
    exact32, reason = exactness(_integer_input_network(network, critic_xi), magnitudes)

    certificate = {
        "depth": network.depth,
        "size": network.size,
        "size_per_output": int(max(cone_sizes)),
        "hidden_sizes": network.hidden_sizes,
        "lipschitz_bound": {
            "value": float(best.max()),
            "method": method,
            "operator_norm_product": float(operator.max()),
            "absolute_product": float(absolute.max()),
            "level_product": float(level_bound),
        },
        "bit_complexity": sparse_certify.bit_complexity(network) if is_sparse(network) else bit_complexity(network),
        "max_abs_activation": activation,
        "exact_domain": _domain(n, critic_xi),
        "float32_exact": exact32,
        "float32_reason": reason + ("" if critic_xi is None else
                                    f" (on inputs that are multiples of xi = {critic_xi} in [-1, 1])"),
        "verification": verification,
        "inputs": n,
        "outputs": len(circuit.outputs),
        "construction": construction_summary(circuit, leveled, lowered, critic_xi),
        "paper_bound": paper_bounds(circuit, leveled, lowered, critic_xi, level_bound),
        "source": _source(circuit),
    }
    return certificate


def _weight_bounds(network: Network) -> tuple[list[int], np.ndarray, np.ndarray, str]:
    """Return per output the cone size, both Lipschitz bounds, and the method; sparse networks use relucc.sparse_certify."""
    if is_sparse(network):
        sizes, operator, absolute = sparse_certify.lipschitz_figures(network)
        return sizes.tolist(), operator, absolute, sparse_certify.lipschitz_method()
    cones = output_cones(network)
    operator, absolute = lipschitz_per_output(network)
    method = ("per output, the lesser of prod_i ||W_i||_2 over the output's cone (whole-layer "
              "norms for large cones) and ||row of |W_L|...|W_1| ||_2")
    return [sum(len(c) for c in cone[1:-1]) for cone in cones], operator, absolute, method


def _domain(n: int, critic_xi: Fraction | None) -> str:
    if critic_xi is None:
        return f"{{-1,+1}}^{n}"
    return f"{{x in R^{n} : every |x_i| >= {critic_xi}}}"


def _source(circuit: Circuit) -> dict:
    source = {"name": circuit.name}
    if circuit.source_path and Path(circuit.source_path).is_file():
        data = Path(circuit.source_path).read_bytes()
        source.update(path=Path(circuit.source_path).name, sha256=hashlib.sha256(data).hexdigest())
    return source


def construction_summary(circuit: Circuit, leveled: LeveledCircuit, lowered, critic_xi: Fraction | None) -> dict:
    """Return the source circuit's D and S, the leveling's sizes, and the gadgets used per kind."""
    stats = leveled.stats
    return {
        "kind": "critic" if critic_xi is not None else "circuit",
        "strategy": "threshold gadgets (Lemma 3.12, equation (14) of Lemma 4.4)",
        "critic_xi": None if critic_xi is None else str(critic_xi),
        "source_gates": len(circuit.gates),
        "circuit_depth": stats.depth,
        "circuit_size": stats.size,
        "leveled_size": stats.leveled_size,
        "relays": stats.relays,
        "asap_relays": stats.asap_relays,
        "placement": stats.placement,
        "folded_inverters": stats.folded_inverters,
        "gadgets": gadget_cost_summary(lowered.gadgets),
    }


def paper_bounds(circuit: Circuit, leveled: LeveledCircuit, lowered, critic_xi: Fraction | None,
                 level_bound: float) -> dict:
    """Return the paper's bounds for this circuit, with the constants of its constructions.

    Lemma 2.11: leveled size <= D*S. Equation (14): two neurons per gate of the leveled circuit,
    and D + 1 affine layers once each level's readout W^(2)_i merges with W^(1)_(i+1); the critic
    adds h_xi on the inputs, which Lemma 4.4 counts as 3n neurons and one more layer.
    """
    stats = leveled.stats
    n = len(circuit.inputs)
    critic = critic_xi is not None
    return {
        "source": "Lemma 2.11 (leveled size <= D*S); Lemma 4.4 via equation (14): depth Theta(D), "
                  "size 3n + Theta(S), Lipschitz bound the product of the levels' constants",
        "depth": stats.depth + 1 + (1 if critic else 0),
        "size": 2 * stats.leveled_size + (3 * n if critic else 0),
        "leveled_size": stats.depth * stats.size,
        "lipschitz_bound": level_bound,
    }


def level_lipschitz_bound(lowered, critic_xi: Fraction | None) -> float:
    """Return prod_i ||R_i||_2 (times 1/xi for the critic's h_xi layer), an upper bound on every output.

    Level i maps its ±1-valued inputs to its gates' outputs, and gate j changes by at most
    |<r_j, x - y>|, so the level is ||R_i||_2-Lipschitz in l2 (Lemma 2.8 composes the levels).
    """
    log_total = 0.0 if critic_xi is None else math.log2(float(1 / critic_xi))
    previous_width = None
    sparse = is_sparse(lowered.network)
    for rows in lowered.lipschitz_rows:
        width = 1 + max((index for row in rows for index in row), default=0)
        width = max(width, previous_width or 0)
        if sparse:
            norm = sparse_certify.level_matrix_norm(_level_matrix(rows, width))
        else:
            matrix = np.zeros((len(rows), width))
            for row_index, row in enumerate(rows):
                for column, value in row.items():
                    matrix[row_index, column] = float(value)
            norm = spectral_norm_upper(matrix)
        if norm == 0:
            return 0.0
        log_total += math.log2(norm)
        previous_width = len(rows)
    return 2.0**log_total if log_total < 1000 else math.inf


def _level_matrix(rows: list[dict], width: int):
    import scipy.sparse

    entries = [(row_index, column, float(value)) for row_index, row in enumerate(rows) for column, value in row.items()]
    row_indices, columns, values = (list(part) for part in zip(*entries)) if entries else ([], [], [])
    return scipy.sparse.csr_matrix((values, (row_indices, columns)), shape=(len(rows), width))


def activation_magnitudes(network: Network, lowered, n: int, critic_xi: Fraction | None) -> tuple[list[np.ndarray], dict]:
    """Return per-layer bounds on |input values| (for float32 exactness) and the max |activation| record."""
    if critic_xi is None and n <= EXHAUSTIVE_ACTIVATION_INPUTS:
        activations = exact_activations(network, input_points(n))
        magnitudes = [np.max(np.abs(values.astype(np.float64)), axis=0) / 2.0**exponent
                      for values, exponent in activations]
        method = "exhaustive over the exact domain"
    else:
        input_bound = np.full(n, float(1 / critic_xi)) if critic_xi is not None else np.ones(n)
        magnitudes = [input_bound] + list(lowered.activation_bounds)
        method = ("gadget-level: each gadget's maximum over its own {-1,+1}^k domain, which contains "
                  "what it reads on the exact domain" + ("" if critic_xi is None else
                                                         "; h_xi neurons bounded by 1/xi + 1 on [-1, 1]"))
    hidden = magnitudes[1:network.depth]
    value = max((float(m.max()) for m in hidden if m.size), default=0.0)
    return magnitudes, {"value": value, "method": method}


def _integer_input_network(network: Network, critic_xi: Fraction | None) -> Network:
    """For the critic, the same network reading k = x/xi, so that float32 checks see integer inputs."""
    if critic_xi is None:
        return network
    shift = (critic_xi.denominator).bit_length() - 1
    first = network.layers[0]
    if isinstance(first, SparseAffineLayer):
        scaled = SparseAffineLayer(first.rows, first.columns, first.values,
                                   np.asarray(first.bias, dtype=object) * (1 << shift), first.exponent + shift,
                                   first.input_width, first.roles)
        return Network([scaled] + network.layers[1:], network.input_dim)
    scaled = AffineLayer(first.weight, np.asarray(first.bias, dtype=object) * (1 << shift),
                         first.exponent + shift, first.roles)
    return Network([scaled] + network.layers[1:], network.input_dim)
