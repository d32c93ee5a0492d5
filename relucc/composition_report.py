"""Certificates of composed generators next to Lemma 2.8, Lemma 3.13 and Theorem 3.1's complexity bounds."""

from __future__ import annotations

import math

import numpy as np

from relucc.continuous import BitsToUnit, InputGadget, SEED_DOMAINS, float32_error_bound, stage_figures
from relucc.network import Network


def build_certificate(spec, stage_networks, network: Network, lemma: dict, verification: dict) -> dict:
    """Assemble the composed generator's certificate; the key figures are added by the caller."""
    m = spec.seed_length
    stages = []
    for item in stage_networks:
        entry = item.stage.describe()
        entry.update(stage_figures(item.network))
        stages.append(entry)
    gadget = isinstance(stage_networks[0].stage, InputGadget)
    domain = SEED_DOMAINS[spec.seed].format(m=m)
    if gadget and spec.seed == "gaussian":
        domain += f"; exact as G0(sgn z) wherever every |z_i| >= xi = {stage_networks[0].stage.xi}"
    certificate = {
        "kind": "composed generator",
        "seed_distribution": spec.seed,
        "seed_length": m,
        "exact_domain": domain,
        "stages": stages,
        "verification": [verification],
        "float32_error_bound": float32_bounds(spec.seed, network, m),
        "lemma_2_8_chain": lemma_2_8_chain(stage_networks, stages),
    }
    if lemma:
        certificate["lemma_3_13"] = lemma
    certificate["seed_w1_bound"] = lemma.get("w1_bound", 0.0) if lemma else 0.0
    bits = [(item, entry) for item, entry in zip(stage_networks, stages) if isinstance(item.stage, BitsToUnit)]
    if bits:
        item, entry = bits[-1]
        n, s, r = item.stage.n, item.input_dim, item.output_dim
        certificate["bits_to_unit"] = {
            "n": n, "s": s, "r": r, "dropped_bits": s - r * n,
            "w1_one_coordinate": 2.0**-n, "w1_all_coordinates": math.sqrt(r) * 2.0**-n,
            "statement": "W1(J(U_n), I_1) <= 2^-n (Fact 3.9); coupling coordinates independently, "
                         "W1(J(U_s), I_r) <= sqrt(r) 2^-n; the last s - r n bits are dropped"}
    return certificate


def float32_bounds(seed: str, network: Network, m: int) -> dict:
    """Certified |float32 - exact| per output (max over outputs) on the seed's exact points."""
    if seed == "uniform01":
        return {"[0,1]^m": float(float32_error_bound(network, np.zeros(m), np.ones(m)).max())}
    return {"{-1,+1}^m": float(float32_error_bound(network, -np.ones(m), np.ones(m), 0).max())}


def lemma_2_8_chain(stage_networks, stages: list[dict]) -> dict:
    """Per-output L, S, Lambda, tau that Lemma 2.8 (and Lemma 3.13 for h_xi) give from the stage figures.

    f o J with J's coordinates in C(tau1, Lambda1, L1, S1) and f in C(tau2, Lambda2, L2, S2), J: R^s -> R^r,
    is in C(max(tau1, tau2), Lambda1 Lambda2 sqrt(r), L1 + L2, (S1 + 1) r + S2). Lemma 3.13 adds h_xi
    as L'' + 2, 3m + S'', Lambda'' sqrt(m) / xi, max(tau'', log2(1/xi)).
    """
    first = 1 if isinstance(stage_networks[0].stage, InputGadget) else 0
    depth, size, lipschitz, tau = (stages[first][key] for key in ("depth", "size_per_output", "lipschitz_bound",
                                                                   "bit_complexity"))
    for item, entry in zip(stage_networks[first + 1:], stages[first + 1:]):
        r = item.input_dim
        depth += entry["depth"]
        size = (size + 1) * r + entry["size_per_output"]
        lipschitz *= entry["lipschitz_bound"] * math.sqrt(r)
        tau = max(tau, entry["bit_complexity"])
    if first:
        gadget = stage_networks[0].stage
        m = stage_networks[0].input_dim
        depth += 2
        size += 3 * m
        lipschitz *= math.sqrt(m) / float(gadget.xi)
        tau = max(tau, math.ceil(math.log2(float(1 / gadget.xi))))
    return {"depth": depth, "size_per_output": size, "lipschitz_bound": lipschitz, "bit_complexity": tau}


def theorem_3_1_lines(certificate: dict) -> list[str]:
    """Theorem 3.1 bullet 1 with the constants of this construction in place of the O(.)."""
    stages = {entry["kind"]: entry for entry in certificate["stages"]}
    lemma = certificate.get("lemma_3_13")
    prg, bits, push = stages.get("local function"), certificate.get("bits_to_unit"), stages.get("pushforward")
    if not (lemma and prg and bits and push):
        return []
    m, n, r = certificate["seed_length"], bits["n"], bits["r"]
    log_inverse_xi = math.log2(float(lemma["inverse_xi"]))
    return [
        "Theorem 3.1, bullet 1, with this construction's constants (tau', Lambda', L', S' of H):",
        f"  tau = max(log2(1/xi), n + 1, tau', tau_PRG) = max({log_inverse_xi:g}, {n + 1}, "
        f"{push['bit_complexity']}, {prg['bit_complexity']}) before merging layers",
        "  Lambda = Lambda'' sqrt(m) / xi, Lambda'' = Lambda' Lambda_J Lambda_PRG sqrt(r) sqrt(s) (Lemma 2.8 twice)",
        f"  L = L' + L_PRG + L_J + 2 = {push['depth']} + {prg['depth']} + 1 + 2 (Lemma 2.8 and 3.13, no merging)",
        f"  S = 3m + (S_J + 1) r + ... + S' with m = {m}, r = {r}, s = {bits['s']}: see the Lemma 2.8 column",
    ]


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def composition_summary(certificate: dict) -> str:
    """Render a composed generator's (or target's) certificate as text."""
    name = certificate.get("source", {}).get("name", "?")
    lines = [f"certificate for {name} ({certificate.get('kind')}), seed {certificate['seed_distribution']} "
             f"of length {certificate['seed_length']}, output dimension {certificate['outputs']}",
             f"  domain: {certificate['exact_domain']}"]
    paper = certificate.get("lemma_2_8_chain", {})
    rows = [("depth L (affine layers)", certificate["depth"], paper.get("depth")),
            ("size S per output (hidden neurons)", certificate["size_per_output"], paper.get("size_per_output")),
            ("size S, whole network", certificate["size"], None),
            ("Lipschitz bound per output (l2)", certificate["lipschitz_bound"]["value"], paper.get("lipschitz_bound")),
            ("bit complexity tau", certificate["bit_complexity"], paper.get("bit_complexity")),
            ("float32 exact on {-1,+1}^m", certificate["float32_exact"], None)]
    width = max(len(row[0]) for row in rows)
    lines.append(f"  {'quantity'.ljust(width)}  {'relucc':>14}  {'Lemma 2.8/3.13':>14}")
    for label, value, bound in rows:
        lines.append(f"  {label.ljust(width)}  {_format(value):>14}  {_format(bound):>14}")
    if paper:
        lines.append("  relucc merges adjacent affine layers, so L and S are below Lemma 2.8's; merged weights "
                     "multiply, so tau can exceed it")
    lines.extend(_stage_lines(certificate.get("stages", [])))
    lines.extend(_lemma_lines(certificate))
    lines.extend(theorem_3_1_lines(certificate))
    for key, value in certificate.get("float32_error_bound", {}).items():
        lines.append(f"  float32 |onnxruntime - exact| <= {value:.3g} per output on {key} (forward error bound)")
    for record in certificate.get("verification", []):
        lines.append(f"  verified: {record['scope']} ({record['kind']}, {record['inputs']} inputs): {record['result']}")
    return "\n".join(lines)


def _stage_lines(stages: list[dict]) -> list[str]:
    if not stages:
        return []
    lines = ["  stages, in the order they are applied:",
             f"    {'name':<12} {'kind':<16} {'in -> out':>12} {'L':>3} {'S/out':>7} {'Lipschitz':>11} {'tau':>4}"]
    for entry in stages:
        shape = f"{entry['inputs']} -> {entry['outputs']}"
        lines.append(f"    {entry['name']:<12} {entry['kind']:<16} {shape:>12} {entry['depth']:>3} "
                     f"{entry['size_per_output']:>7} {entry['lipschitz_bound']:>11.5g} {entry['bit_complexity']:>4}")
        quantisation = entry.get("quantisation") or {}
        if quantisation.get("tau") is not None:
            lines.append(f"      weights rounded to multiples of 2^-{quantisation['tau']}: "
                         f"sup over {quantisation['domain']} of ||H - H_tau||_2 <= {quantisation['error_bound']:.3g}")
    return lines


def _lemma_lines(certificate: dict) -> list[str]:
    lines = []
    lemma = certificate.get("lemma_3_13")
    if lemma:
        if lemma.get("eps") is not None:
            lines.append(f"  Lemma 3.13: eps = {lemma['eps']}, xi' = {lemma['xi_prime']:.4g}, ceil(1/xi') = "
                         f"{lemma['paper_inverse_xi']}, rounded up to 1/xi = {lemma['inverse_xi']} (a power of two, "
                         f"so z/xi is exact in float32)")
        else:
            lines.append(f"  Lemma 3.13: xi = {lemma['xi']} as given")
        lines.append(f"  Lemma 3.13: W1(G0(U_m), G(gamma_m)) <= Lambda'' xi sqrt((2/pi) m^3 d) = "
                     f"{lemma['downstream_lipschitz']:.5g} * {lemma['xi']} * sqrt((2/pi) {lemma['m']}^3 {lemma['d']}) "
                     f"= {lemma['w1_bound']:.4g}" + ("" if lemma["seed"] == "gaussian" else " (0: bit seeds)"))
    bits = certificate.get("bits_to_unit")
    if bits:
        lines.append(f"  Lemma 3.10: J groups n = {bits['n']} bits, r = {bits['r']} outputs from s = {bits['s']} bits "
                     f"({bits['dropped_bits']} dropped); W1(J(U_n), I_1) <= 2^-{bits['n']}, "
                     f"W1(J(U_s), I_r) <= {bits['w1_all_coordinates']:.3g}")
    return lines
