"""Composed generators G = S_k o ... o S_1 (Lemma 2.8): lowering, exact checks, certificate, ONNX, target sampler.

The stages come from ``relucc.continuous``. When the first stage is h_xi and the seed is Gaussian,
xi is chosen by Lemma 3.13 from the certified Lipschitz bound of the rest of the chain, so the
stages after h_xi are lowered first.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx

from relucc import emit
from relucc.boolean import input_points
from relucc.continuous import (
    BitsToUnit,
    InputGadget,
    PushforwardStage,
    Stage,
    check_float32_weights,
    compose,
    dyadic_inputs,
    exact_values,
    float32_error_bound,
    sample_seeds,
    stage_figures,
)
from relucc.errors import CheckFailure, Diagnostic, SourceLocation, UsageError
from relucc.network import Network

# Seeds enumerated by the exact check and by ``relucc check`` up to this length; random ones beyond.
EXHAUSTIVE_SEED_LENGTH = 10
# Random points of the exact check when the seed is too long to enumerate.
EXACT_CHECK_SAMPLES = 64
# Gaussian test points are rounded to multiples of 2^-GAUSSIAN_GRID_BITS so exact arithmetic stays small.
GAUSSIAN_GRID_BITS = 24


@dataclass(eq=False)
class CompositionSpec:
    """A checked ``compose`` block: stages in the order they are applied, and the seed distribution."""

    name: str
    stages: list[Stage]
    seed: str
    seed_length: int
    location: SourceLocation | None = None


@dataclass(eq=False)
class StageNetwork:
    stage: Stage
    network: Network
    input_dim: int
    output_dim: int


def lower_stages(spec: CompositionSpec) -> tuple[list[StageNetwork], dict]:
    """Lower every stage; choose xi for a leading h_xi stage by Lemma 3.13. Return the stage networks and Lemma 3.13's figures."""
    stages = spec.stages
    gadget = stages[0] if isinstance(stages[0], InputGadget) else None
    rest = stages[1:] if gadget else stages
    lowered = []
    width = spec.seed_length
    for stage in rest:
        if isinstance(stage, PushforwardStage) and not stage.layers:
            stage.quantise()
        network = stage.lower(width)
        lowered.append(StageNetwork(stage, network, width, network.output_dim))
        width = network.output_dim
    lemma = {}
    if gadget is not None:
        downstream = chain(lowered)
        lipschitz = stage_figures(downstream)["lipschitz_bound"]
        gadget.choose_xi(lipschitz, spec.seed_length, downstream.output_dim)
        lemma = lemma_3_13(gadget, lipschitz, spec.seed_length, downstream.output_dim, spec.seed)
        network = gadget.lower(spec.seed_length)
        lowered.insert(0, StageNetwork(gadget, network, spec.seed_length, spec.seed_length))
    return lowered, lemma


def lemma_3_13(gadget: InputGadget, lipschitz: float, m: int, d: int, seed: str) -> dict:
    """Lemma 3.13's bound W1(G0(U_m), G(gamma_m)) <= Lambda'' xi sqrt((2/pi) m^3 d) for the chosen xi."""
    xi = float(gadget.xi)
    bound = lipschitz * xi * math.sqrt(2 / math.pi * m**3 * d) if seed == "gaussian" else 0.0
    return {"eps": gadget.xi_choice.get("eps"), "xi": str(gadget.xi), "inverse_xi": str(1 / gadget.xi),
            "downstream_lipschitz": lipschitz, "m": m, "d": d,
            "w1_bound": bound, "seed": seed,
            "formula": "W1(G0(U_m), G0(h_xi(gamma_m))) <= Lambda'' xi sqrt((2/pi) m^3 d), Lambda'' the certified "
                       "per-output Lipschitz bound of G0 (Lemma 3.13); 0 for bit seeds, where h_xi(z) = z",
            **{key: value for key, value in gadget.xi_choice.items() if key not in ("eps", "xi", "given")}}


def chain(stage_networks: list[StageNetwork]) -> Network:
    """Compose the stage networks in order, merging adjacent affine layers."""
    network = stage_networks[0].network
    for item in stage_networks[1:]:
        network = compose(network, item.network)
    return network


def reference_chain(stage_networks: list[StageNetwork], points: np.ndarray) -> np.ndarray:
    """Evaluate the stages one after another from their formulas (not their networks), exactly."""
    values = points
    for item in stage_networks:
        values = item.stage.reference(values)
    return values


# ---------------------------------------------------------------- the compiled object


@dataclass(eq=False)
class CompiledComposition:
    """A composed generator compiled to one dense network, with its stages and certificate."""

    name: str
    source_path: str
    spec: CompositionSpec
    stage_networks: list[StageNetwork]
    network: Network
    certificate: dict = field(default_factory=dict)

    input_name = "z"
    layouts = ("dense",)
    default_layout = "dense"
    exhaustive_limit = EXHAUSTIVE_SEED_LENGTH
    default_samples = 1000

    @property
    def input_length(self) -> int:
        return self.network.input_dim

    @property
    def output_length(self) -> int:
        return self.network.output_dim

    def reference(self, points: np.ndarray) -> np.ndarray:
        """Exact outputs (as float64) of the stage formulas on dyadic points."""
        exponent = GAUSSIAN_GRID_BITS
        values = exact_values(dyadic_inputs(points, exponent), exponent)
        return reference_chain(self.stage_networks, values).astype(np.float64)

    def to_onnx(self, layout: str = "dense") -> onnx.ModelProto:
        if layout not in self.layouts:
            raise UsageError(f"a composed generator has only the dense layout, not {layout!r}; use --layout dense")
        return emit.dense_model(self.network, "z", self.certificate, self._doc())

    def save(self, path: str, layout: str = "dense") -> None:
        emit.save_atomically(self.to_onnx(layout), path)

    def summary(self) -> str:
        from relucc.composition_report import composition_summary

        return composition_summary(self.certificate)

    def target(self) -> "CompiledTarget":
        """Return the target H(I_r): the stages after bits_to_unit, on z uniform in [0,1]^r."""
        positions = [i for i, item in enumerate(self.stage_networks) if isinstance(item.stage, BitsToUnit)]
        if not positions:
            raise UsageError(Diagnostic(f"{self.name} has no bits_to_unit stage, so it defines no target H(I_r)",
                                        self.spec.location, "a target is the part of the chain after J = bits_to_unit"))
        tail = self.stage_networks[positions[-1] + 1:]
        r = self.stage_networks[positions[-1]].output_dim
        if tail:
            network = chain(tail)
        else:
            from relucc.continuous import AffineStage

            identity = AffineStage("identity", weight=[[Fraction(int(i == j)) for j in range(r)] for i in range(r)],
                                   bias=[Fraction(0)] * r)
            network = identity.lower(r)
        return CompiledTarget(f"{self.name}_target", self.source_path, tail, network, r, self.certificate.get("source"))

    def check_model(self, model: onnx.ModelProto, samples: int, seed: int, device: str) -> dict:
        """Compare onnxruntime with the exact stage formulas, within the certified float32 error bound."""
        from relucc.runtime import all_seeds, run_batched, session

        m = self.input_length
        rng = np.random.default_rng(seed)
        if self.spec.seed == "uniform01":
            points = sample_seeds("uniform01", samples, m, rng)
            low, high, kind = np.zeros(m), np.ones(m), f"random, {samples} uniform seeds in [0,1]^{m}"
        elif m <= self.exhaustive_limit:
            points = all_seeds(m, 0, 2**m)
            low, high, kind = -np.ones(m), np.ones(m), f"exhaustive over {{-1,+1}}^{m}"
        else:
            points = sample_seeds("bits", samples, m, rng)
            low, high, kind = -np.ones(m), np.ones(m), f"random, {samples} seeds in {{-1,+1}}^{m}"
        got = run_batched(session(model, device), points).astype(np.float64)
        expected = self.reference(points)
        tolerance = float32_error_bound(self.network, low, high, None if self.spec.seed == "uniform01" else 0)
        excess = np.abs(got - expected) - tolerance[None, :]
        if np.any(excess > 0):
            row, column = np.unravel_index(int(np.argmax(excess)), excess.shape)
            raise CheckFailure(f"onnxruntime output y[{column}] = {got[row, column]!r} but the exact value is "
                               f"{expected[row, column]!r}, beyond the float32 error bound {tolerance[column]:.3g}, "
                               f"at seed {points[row].tolist()}")
        return {"kind": f"{kind}, onnxruntime float32 vs the exact stage formulas", "scope": "whole model",
                "inputs": int(points.shape[0]), "device": device, "result": "passed",
                "max_abs_difference": float(np.max(np.abs(got - expected))),
                "float32_error_bound": float(tolerance.max())}

    def _doc(self) -> str:
        names = " o ".join(item.stage.name for item in reversed(self.stage_networks))
        return (f"Composed generator {self.name} = {names} from {Path(self.source_path).name}: "
                f"seed z ~ {self.spec.seed} in R^{self.input_length}, output y in R^{self.output_length}.")


@dataclass(eq=False)
class CompiledTarget:
    """The target sampler H(I_r): input z uniform on [0,1]^r, output y = H(z)."""

    name: str
    source_path: str
    stage_networks: list[StageNetwork]
    network: Network
    r: int
    source: dict | None

    input_name = "z"
    layouts = ("dense",)
    default_layout = "dense"

    @property
    def input_length(self) -> int:
        return self.r

    @property
    def output_length(self) -> int:
        return self.network.output_dim

    @property
    def certificate(self) -> dict:
        figures = _reader_figures(self.network, f"[0,1]^{self.r}")
        bound = float32_error_bound(self.network, np.zeros(self.r), np.ones(self.r))
        figures.update({"kind": "target", "seed_distribution": "uniform01", "seed_length": self.r,
                        "float32_error_bound": {"[0,1]^m": float(bound.max())},
                        "stages": [{**item.stage.describe(), **stage_figures(item.network)}
                                   for item in self.stage_networks],
                        "source": self.source or {}, "verification": []})
        return figures

    def to_onnx(self, layout: str = "dense") -> onnx.ModelProto:
        doc = (f"Target sampler {self.name} from {Path(self.source_path).name}: z uniform on [0,1]^{self.r}, "
               f"y = H(z) in R^{self.network.output_dim}.")
        return emit.dense_model(self.network, "z", self.certificate, doc)

    def save(self, path: str, layout: str = "dense") -> None:
        emit.save_atomically(self.to_onnx(layout), path)

    def summary(self) -> str:
        from relucc.composition_report import composition_summary

        return composition_summary(self.certificate)


def _reader_figures(network: Network, domain: str) -> dict:
    """The figures ``relucc info`` recomputes from the ONNX weights, so stored and recomputed agree."""
    from relucc.reader import LoadedModel, recompute_certificate

    check_float32_weights(network)
    figures = recompute_certificate(LoadedModel("<memory>", None, "dense", network, None, "z", None))
    figures["exact_domain"] = domain
    return figures


# ---------------------------------------------------------------- compile


def compile_composition(spec: CompositionSpec, source_path: str, source_text: str) -> CompiledComposition:
    """Lower, compose, check exactly and certify a composed generator."""
    try:
        stage_networks, lemma = lower_stages(spec)
        network = chain(stage_networks)
        check_float32_weights(network)
    except ValueError as error:
        raise UsageError(Diagnostic(f"{spec.name}: {error}", spec.location)) from None

    verification = verify_exactly(spec, stage_networks, network)

    from relucc.composition_report import build_certificate

    certificate = build_certificate(spec, stage_networks, network, lemma, verification)
    certificate.update(_reader_figures(network, certificate["exact_domain"]))
    digest = hashlib.sha256(source_text.encode()).hexdigest()
    certificate["source"] = {"path": Path(source_path).name, "sha256": digest, "name": spec.name}
    return CompiledComposition(spec.name, source_path, spec, stage_networks, network, certificate)


def check_points(spec: CompositionSpec, xi: Fraction | None, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Return the exact-check points (float64, dyadic) and a description of them."""
    m = spec.seed_length
    if spec.seed == "uniform01":
        points = np.round(rng.random((EXACT_CHECK_SAMPLES, m)) * 2**GAUSSIAN_GRID_BITS) / 2**GAUSSIAN_GRID_BITS
        return points, f"{EXACT_CHECK_SAMPLES} random dyadic points of [0,1]^{m}"
    if m <= EXHAUSTIVE_SEED_LENGTH:
        points = input_points(m).astype(np.float64)
        description = f"all 2^{m} points of {{-1,+1}}^{m}"
    else:
        points = sample_seeds("bits", EXACT_CHECK_SAMPLES, m, rng).astype(np.float64)
        description = f"{EXACT_CHECK_SAMPLES} random points of {{-1,+1}}^{m}"
    if spec.seed == "gaussian" and xi is not None:
        gaussian = gaussian_points_outside(EXACT_CHECK_SAMPLES, m, xi, rng)
        points = np.concatenate([points, gaussian])
        description += f" and {EXACT_CHECK_SAMPLES} Gaussian points with every |z_i| >= xi (some at exactly xi)"
    return points, description


def gaussian_points_outside(count: int, m: int, xi: Fraction, rng: np.random.Generator) -> np.ndarray:
    """Gaussian points on the 2^-24 grid, moved so that every |z_i| >= xi; a few coordinates set to exactly +-xi."""
    z = np.round(rng.standard_normal((count, m)) * 2**GAUSSIAN_GRID_BITS) / 2**GAUSSIAN_GRID_BITS
    small = np.abs(z) < float(xi)
    z[small] = np.where(z[small] >= 0, 1.0, -1.0) * float(xi)
    edge = rng.random((count, m)) < 0.1
    z[edge] = np.sign(z[edge]) * float(xi)
    return z


def verify_exactly(spec: CompositionSpec, stage_networks: list[StageNetwork], network: Network) -> dict:
    """Check the merged network against the stage formulas in exact arithmetic; raise CheckFailure on a mismatch.

    For a Gaussian seed through h_xi the formulas are G0(sgn z), which the network must equal
    whenever every |z_i| >= xi.
    """
    gadget = stage_networks[0].stage if isinstance(stage_networks[0].stage, InputGadget) else None
    rng = np.random.default_rng(0)
    points, description = check_points(spec, gadget.xi if gadget else None, rng)
    exponent = GAUSSIAN_GRID_BITS
    numerators, output_exponent = network.evaluate_exact(dyadic_inputs(points, exponent), exponent)
    got = exact_values(numerators, output_exponent)
    inputs = exact_values(dyadic_inputs(points, exponent), exponent)
    if gadget is not None:
        inputs = np.vectorize(lambda v: Fraction(1) if v >= 0 else Fraction(-1), otypes=[object])(inputs)
        expected = reference_chain(stage_networks[1:], inputs)
    else:
        expected = reference_chain(stage_networks, inputs)
    bad = np.argwhere(got != expected)
    if bad.size:
        row, column = (int(v) for v in bad[0])
        raise CheckFailure(f"{spec.name}: the composed network gives y[{column}] = {got[row, column]} but the stage "
                           f"formulas give {expected[row, column]} at z = {points[row].tolist()}")
    return {"kind": "exact arithmetic, merged network vs the stage formulas evaluated one after another",
            "scope": description, "inputs": int(points.shape[0]), "result": "passed"}


def is_continuous(emitted) -> bool:
    """Return whether ``emitted`` is a composition or a stage (compiled here, not by the Boolean pipeline)."""
    return isinstance(emitted, (CompositionSpec, Stage))


def compile_emitted(program, emitted) -> CompiledComposition:
    """Compile the object a ``generator`` line names: a composition, or one stage on its own."""
    if isinstance(emitted, CompositionSpec):
        return compile_composition(emitted, program.path, program.source_text)
    stage = emitted
    if stage.input_dim is None:
        raise UsageError(Diagnostic(f"stage {stage.name} applies to any number of coordinates, so it cannot be "
                                    f"emitted on its own", stage.location,
                                    "emit a compose block that fixes the seed length with m = ..."),
                         program.source_text)
    seed = "uniform01" if isinstance(stage, (PushforwardStage,)) or stage.kind == "affine" else "bits"
    spec = CompositionSpec(stage.name, [stage], seed, stage.input_dim, stage.location)
    return compile_composition(spec, program.path, program.source_text)
