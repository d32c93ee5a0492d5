"""Distance evidence: a Monte-Carlo lower bound on W1(target, G(seed)) from G(U_m)'s finite support.

G(U_m) puts all its mass on the set T of at most 2^m points G(x), x in {-1,+1}^m, so every coupling
of a target Y with G(U_m) moves Y at least dist(Y, T), and W1(target, G(U_m)) >= E dist(Y, T).
With a Gaussian seed through h_xi, W1(G(U_m), G(gamma_m)) <= eps (Lemma 3.13), so
W1(target, G(gamma_m)) >= E dist(Y, T) - eps. E dist(Y, T) is estimated from N target samples with
Hoeffding's one-sided bound: dist(Y, T) lies in [0, B], so with probability >= 1 - alpha,
E dist >= mean - B sqrt(ln(1/alpha) / (2 N)).
"""

from __future__ import annotations

import math

import numpy as np

from relucc.errors import Diagnostic, SourceLocation, UsageError

# Seeds longer than this are not enumerated: 2^20 generator outputs is about 1 M points.
MAX_ENUMERATED_SEED_LENGTH = 20


def add_distance_command(commands) -> None:
    """Register ``relucc distance GEN.onnx TARGET.onnx``."""
    parser = commands.add_parser("distance", help="lower-bound W1(target, generator) from the generator's finite support")
    parser.add_argument("generator", help="ONNX generator compiled by relucc (its certificate names the seed)")
    parser.add_argument("target", help="ONNX target sampler: input z uniform on [0,1]^r, output y")
    parser.add_argument("-n", "--samples", type=int, default=10_000, help="target samples (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of NumPy's default_rng for the target (default 0)")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="probability that the stated lower bound holds (default 0.95)")
    parser.add_argument("--max-seed-length", type=int, default=MAX_ENUMERATED_SEED_LENGTH,
                        help=f"enumerate {{-1,+1}}^m only up to this m (default {MAX_ENUMERATED_SEED_LENGTH})")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="onnxruntime device")
    parser.set_defaults(handler=command_distance)


def command_distance(args) -> int:
    result = distance_evidence(args.generator, args.target, args.samples, args.seed, args.confidence,
                               args.max_seed_length, args.device)
    print(format_evidence(result))
    return 0


def _certificate(path: str) -> dict:
    from relucc.reader import load

    loaded = load(path)
    certificate = loaded.stored_certificate
    if not certificate:
        raise UsageError(Diagnostic("the model has no relucc certificate, so its seed distribution is unknown",
                                    SourceLocation(path), "compile it from a compose block with relucc compile"))
    if "seed_distribution" not in certificate:
        raise UsageError(Diagnostic("the model was not compiled from a compose block, so its certificate names "
                                    "no seed distribution and no float32 error bound", SourceLocation(path),
                                    "relucc distance compares a composed generator (compose G { ... }) with "
                                    "its target, written by relucc compile --target"))
    return certificate


def distance_evidence(generator_path: str, target_path: str, samples: int, seed: int, confidence: float,
                      max_seed_length: int = MAX_ENUMERATED_SEED_LENGTH, device: str = "cpu") -> dict:
    """Return the support size, the Hoeffding lower bound and its ingredients (see the module docstring)."""
    if samples < 1:
        raise UsageError(f"-n must be positive, got {samples}")
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence must lie strictly between 0 and 1, got {confidence}")
    generator = _certificate(generator_path)
    target = _certificate(target_path)
    if generator["seed_distribution"] == "uniform01":
        raise UsageError(Diagnostic("the generator's seed is uniform on [0,1]^m, so its output has no finite "
                                    "support to compare with", SourceLocation(generator_path),
                                    "this check is for generators with bit seeds, or Gaussian seeds through h_xi"))
    m = int(generator["seed_length"])
    seed_bound = float(generator.get("seed_w1_bound", 0.0))
    result = {"m": m, "seed_distribution": generator["seed_distribution"], "seed_w1_bound": seed_bound,
              "confidence": confidence, "samples": samples}
    if m > max_seed_length:
        result["enumerated"] = False
        return result

    support, float_error = generator_support(generator_path, generator, m, device)
    points = target_samples(target_path, target, samples, seed, device)
    if points.shape[1] != support.shape[1]:
        raise UsageError(f"the generator outputs {support.shape[1]} values but the target {points.shape[1]}")
    target_error = target_float_error(target, points.shape[1])
    float_error += target_error
    distances = nearest_distances(points, support)
    radius = distance_range(target_path, support)
    alpha = 1 - confidence
    margin = radius * math.sqrt(math.log(1 / alpha) / (2 * samples))
    mean = float(distances.mean())
    lower = max(0.0, mean - margin - float_error)
    result.update({
        "enumerated": True, "support_points": int(support.shape[0]), "distinct_points": int(np.unique(support, axis=0).shape[0]),
        "mean_distance": mean, "hoeffding_margin": margin, "distance_range": radius, "float32_error": float_error,
        "w1_lower_bound_bits": lower, "w1_lower_bound": max(0.0, lower - seed_bound),
        "diversity": diversity_figure(distances, alpha),
    })
    return result


def generator_support(path: str, certificate: dict, m: int, device: str) -> tuple[np.ndarray, float]:
    """Run the generator on all of {-1,+1}^m; return the outputs and the certified float32 error per point."""
    from relucc.runtime import all_seeds, run_batched, session

    sess = session(path, device)
    outputs = run_batched(sess, all_seeds(m, 0, 2**m)).astype(np.float64)
    per_output = float(certificate.get("float32_error_bound", {}).get("{-1,+1}^m", math.inf))
    return outputs, per_output * math.sqrt(outputs.shape[1])


def target_samples(path: str, certificate: dict, count: int, seed: int, device: str) -> np.ndarray:
    from relucc.continuous import sample_seeds
    from relucc.runtime import run_batched, session

    if certificate.get("seed_distribution") != "uniform01":
        raise UsageError(Diagnostic("the target model's seed is not uniform on [0,1]^r", SourceLocation(path),
                                    "write the target with relucc compile FILE --target"))
    sess = session(path, device)
    seeds = sample_seeds("uniform01", count, int(certificate["seed_length"]), np.random.default_rng(seed))
    return run_batched(sess, seeds).astype(np.float64)


def target_float_error(certificate: dict, outputs: int) -> float:
    """Bound ||sampled y - H(u)|| for u uniform: float32 evaluation plus rounding u to float32 (|du_i| <= 2^-25)."""
    per_output = float(certificate.get("float32_error_bound", {}).get("[0,1]^m", math.inf))
    lipschitz = float(certificate["lipschitz_bound"]["value"])
    r = int(certificate["seed_length"])
    return math.sqrt(outputs) * (per_output + lipschitz * math.sqrt(r) * 2.0**-25)


def nearest_distances(points: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to the nearest support point (exact k-d tree search)."""
    from scipy.spatial import cKDTree

    distances, _ = cKDTree(np.unique(support, axis=0)).query(points, k=1)
    return np.asarray(distances, dtype=np.float64)


def distance_range(target_path: str, support: np.ndarray) -> float:
    """Upper bound B on dist(y, T) for every y in the target's range, from interval bounds on [0,1]^r.

    dist(y, T) <= ||y - t_0|| for the support point t_0 nearest the box centre, and the box [lo, hi]
    holding every target output bounds that by sqrt(sum_i max(hi_i - t_i, t_i - lo_i)^2).
    """
    from relucc.reader import load

    network = load(target_path).network
    low, high = np.zeros(network.input_dim), np.ones(network.input_dim)
    for index, layer in enumerate(network.layers):
        weight, bias = layer.weight_float(), layer.bias_float()
        positive, negative = np.maximum(weight, 0), np.minimum(weight, 0)
        low, high = positive @ low + negative @ high + bias, positive @ high + negative @ low + bias
        if index < network.depth - 1:
            low, high = np.maximum(low, 0), np.maximum(high, 0)
    centre = (low + high) / 2
    nearest = support[int(np.argmin(np.linalg.norm(support - centre, axis=1)))]
    reach = np.maximum(high - nearest, nearest - low)
    return float(np.sqrt(np.sum(np.maximum(reach, 0) ** 2)) * (1 + 1e-9))


def diversity_figure(distances: np.ndarray, alpha: float, radii: int = 8) -> dict:
    """The Lemma 2.15 form W1 >= r P[dist(Y, T) > r], at the best of ``radii`` radii (Bonferroni over them).

    P[dist > r] is bounded below by Hoeffding on the indicator with alpha / radii each, so the
    reported figure holds with the same confidence as the main bound.
    """
    count = distances.shape[0]
    margin = math.sqrt(math.log(radii / alpha) / (2 * count))
    best = {"radius": 0.0, "fraction_beyond": 1.0, "lower_bound": 0.0}
    for radius in np.quantile(distances, np.linspace(0.05, 0.75, radii)):
        fraction = float(np.mean(distances > radius))
        bound = float(radius) * max(0.0, fraction - margin)
        if bound > best["lower_bound"]:
            best = {"radius": float(radius), "fraction_beyond": fraction, "lower_bound": bound}
    return best


def format_evidence(result: dict) -> str:
    m = result["m"]
    lines = [f"generator: seed {result['seed_distribution']} of length m = {m}; G(U_m) is supported on at most "
             f"2^{m} = {2**m} points"]
    if not result["enumerated"]:
        lines.append(f"m = {m} is too long to enumerate, so no sampled bound is given. What holds: if the target "
                     f"is (2^{m}, beta)-diverse, then W1(target, G(U_m)) >= beta (Lemma 2.13)"
                     + (f", and W1(target, G(gamma_m)) >= beta - {result['seed_w1_bound']:.4g} (Lemma 3.13)"
                        if result["seed_distribution"] == "gaussian" else ""))
        return "\n".join(lines)
    confidence = result["confidence"]
    lines += [
        f"  support: {result['support_points']} seeds, {result['distinct_points']} distinct points",
        f"  target: {result['samples']} samples; mean distance to the support {result['mean_distance']:.6g} "
        f"(an estimate of E dist(Y, T), not a bound)",
        f"  Hoeffding, one-sided: dist(Y, T) <= B = {result['distance_range']:.4g}, margin "
        f"B sqrt(ln(1/alpha) / (2N)) = {result['hoeffding_margin']:.4g}, alpha = {1 - confidence:.3g}",
        f"  float32 error of the support points and target samples <= {result['float32_error']:.3g} "
        f"(certified, subtracted)",
        f"  with probability >= {confidence:g}: W1(target, G(U_m)) >= {result['w1_lower_bound_bits']:.6g}",
    ]
    if result["seed_distribution"] == "gaussian":
        lines.append(f"  with probability >= {confidence:g}: W1(target, G(gamma_m)) >= "
                     f"{result['w1_lower_bound_bits']:.6g} - {result['seed_w1_bound']:.4g} (Lemma 3.13) = "
                     f"{result['w1_lower_bound']:.6g}")
    diversity = result["diversity"]
    lines.append(f"  Lemma 2.15 form, same confidence: W1(target, G(U_m)) >= r P[dist > r] >= "
                 f"{diversity['lower_bound']:.6g} at r = {diversity['radius']:.4g}")
    return "\n".join(lines)
