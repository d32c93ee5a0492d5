"""The relucc pipeline: source -> Boolean IR -> network IR -> certificate -> ONNX.

``compile_file`` reads as the list of stages; each stage lives in its own module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx

from relucc import emit, fourier, strategies
from relucc.boolean import Circuit, LocalFunction, Predicate, input_points
from relucc.certify import certify_network
from relucc.errors import CheckFailure, Diagnostic, SourceLocation, UsageError
from relucc.network import Network, parallel

# "auto" lets the cost model of relucc.strategies pick a strategy for the OBJECTIVES entry given.
STRATEGIES = ("auto",) + strategies.STRATEGY_NAMES
OBJECTIVES = strategies.OBJECTIVES
LAYOUTS = ("local", "dense")
NETLIST_SUFFIXES = (".bench", ".aag", ".aig", ".blif")

# Every compiled object (CompiledGenerator here, compiled circuits elsewhere) offers:
#   name, certificate, input_name, input_length, output_length, layouts,
#   reference(points) -> ±1 outputs, exhaustive_limit, default_samples,
#   to_onnx(layout, opset=emit.OPSET, encoding="pm1") -> onnx.ModelProto,
#   save(path, layout, opset=emit.OPSET, encoding="pm1"),
#   and either ``network`` or ``dense_network()`` (the network IR, which relucc.api reads).
# The command line and the checks use only these; relucc.encoding folds the {0,1} encoding.


@dataclass(eq=False)
class CompiledGenerator:
    """A local function compiled to one predicate network shared by all output coordinates."""

    name: str
    source_path: str
    source_sha256: str
    local_function: LocalFunction
    predicate_network: Network
    strategy: str
    certificate: dict = field(default_factory=dict)

    input_name = "z"
    layouts = LAYOUTS
    # Seeds are enumerated up to this length; longer seeds get ``default_samples`` random ones.
    exhaustive_limit = 16
    default_samples = 10_000

    @property
    def seed_length(self) -> int:
        return self.local_function.seed_length

    @property
    def input_length(self) -> int:
        return self.local_function.seed_length

    @property
    def output_length(self) -> int:
        return self.local_function.output_length

    def reference(self, seeds: np.ndarray) -> np.ndarray:
        """Evaluate the Boolean local function directly (the reference for verification)."""
        return self.local_function.evaluate(seeds)

    def dense_network(self, predicate_network: Network | None = None) -> Network:
        """Return the whole generator as one MLP: the predicate network placed per output (Lemma 2.8)."""
        subsets = self.local_function.subsets
        predicate_network = self.predicate_network if predicate_network is None else predicate_network
        return parallel([predicate_network] * self.output_length, self.seed_length, list(subsets))

    def to_onnx(self, layout: str = "local", opset: int = emit.OPSET, encoding: str = "pm1") -> onnx.ModelProto:
        from relucc.encoding import encode_local_function

        emit.check_opset(opset)
        network, certificate = encode_local_function(self, encoding)
        doc = self._doc(layout, encoding)
        if layout == "local":
            return emit.local_model(network, self.local_function.subsets, self.seed_length, certificate, doc, opset)
        if layout == "dense":
            self._check_dense_size()
            return emit.dense_model(self.dense_network(network), "z", certificate, doc, opset)
        raise UsageError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")

    def save(self, path: str, layout: str = "local", opset: int = emit.OPSET, encoding: str = "pm1") -> None:
        emit.save_atomically(self.to_onnx(layout, opset, encoding), path)

    def _check_dense_size(self) -> None:
        widths = [self.seed_length] + [self.output_length * w for w in self.predicate_network.hidden_sizes]
        widths.append(self.output_length)
        size = sum(4 * (a * b + b) for a, b in zip(widths[:-1], widths[1:]))
        if size > emit.MAX_DENSE_BYTES:
            raise UsageError(f"the dense layout of {self.name} needs {size / 1e9:.2f} GB of float32 weights, "
                             f"above ONNX's 2 GB protobuf limit; use --layout local")

    def _doc(self, layout: str, encoding: str = "pm1") -> str:
        predicate = self.local_function.predicate
        domain = f"z in {{-1,+1}}^{self.seed_length} (+1 = True)" if encoding == "pm1" else \
            f"z in {{0,1}}^{self.seed_length} and y in {{0,1}}^{self.output_length} (1 = True)"
        return (f"Goldreich local function {self.name} from {Path(self.source_path).name}: "
                f"y_l = {predicate.name}(z restricted to subset l) for l = 1..{self.output_length}, "
                f"{domain}; {layout} layout, strategy {self.strategy}.")


def compile_file(path: str, strategy: str = "auto", optimize: str = "size", passes: bool | None = None,
                 critic_xi=None):
    """Compile a ``.circ`` file or a netlist (``.bench``, ``.aag``, ``.aig``, ``.blif``).

    ``critic_xi`` (a power of two such as ``"1/64"``) compiles a circuit as the critic f o h_xi.
    """
    if Path(path).suffix.lower() in NETLIST_SUFFIXES:
        from relucc.circuit_compiler import compile_circuit
        from relucc.netlist import read_netlist

        return compile_circuit(read_netlist(path), critic_xi=critic_xi)

    from relucc.frontend import parse_file

    program = parse_file(path)
    return compile_program(program, strategy, optimize, passes, critic_xi=critic_xi)


def compile_source(text: str, path: str = "<string>", strategy: str = "auto", optimize: str = "size",
                   passes: bool | None = None) -> CompiledGenerator:
    from relucc.frontend import parse_source

    return compile_program(parse_source(text, path), strategy, optimize, passes)


def compile_program(program, strategy: str = "auto", optimize: str = "size",
                    passes: bool | None = None, critic_xi=None) -> CompiledGenerator:
    """Compile a checked program; ``optimize`` is the cost model's objective when ``strategy`` is auto."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if program.generator is None:
        raise UsageError(Diagnostic("no generator declaration: nothing to emit", SourceLocation(program.path),
                                    "add a line 'generator NAME' naming the local function, circuit or "
                                    "predicate to compile"), program.source_text)
    emitted = program.emitted()
    from relucc.composition import compile_emitted, is_continuous

    if is_continuous(emitted):
        return compile_emitted(program, emitted)
    if isinstance(emitted, Predicate):
        emitted = LocalFunction(emitted.name, emitted.arity, emitted,
                                np.arange(emitted.arity, dtype=np.int64)[None, :], None, emitted.location)
    if isinstance(emitted, Circuit):
        from relucc.circuit_compiler import compile_circuit

        return compile_circuit(emitted, critic_xi=critic_xi)
    if critic_xi is not None:
        raise UsageError(Diagnostic(f"--critic-xi applies to circuits, but {emitted.name} is not a circuit",
                                    program.generator_location or SourceLocation(program.path),
                                    "name a circuit in the generator declaration, or drop --critic-xi"),
                         program.source_text)

    lowered = strategies.lower_predicate(emitted.predicate, strategy, optimize, passes)
    predicate_network, summary, strategy = lowered.network, fourier.summarize(emitted.predicate), lowered.strategy
    verification = verify_predicate_network(emitted.predicate, predicate_network)
    certificate = local_certificate(emitted, predicate_network, summary, strategy, verification)
    certificate["strategy_selection"] = lowered.selection
    certificate["passes"] = lowered.passes

    digest = hashlib.sha256(program.source_text.encode()).hexdigest()
    certificate["source"] = {"path": Path(program.path).name, "sha256": digest, "name": emitted.name}
    return CompiledGenerator(emitted.name, program.path, digest, emitted, predicate_network, strategy, certificate)


def verify_predicate_network(predicate: Predicate, network: Network) -> dict:
    """Check the predicate network on all 2^k inputs in exact arithmetic; raise CheckFailure on a mismatch."""
    points = input_points(predicate.arity)
    numerators, exponent = network.evaluate_exact(points)
    expected = predicate.truth_table.astype(np.int64)
    mismatch = np.nonzero((numerators[:, 0] != expected) | (exponent != 0))[0]
    if mismatch.size:
        row = int(mismatch[0])
        got = Fraction(int(numerators[row, 0]), 2**exponent)
        raise CheckFailure(f"predicate network of {predicate.name} is wrong at x = {points[row].tolist()}: "
                           f"expected {int(expected[row])}, computed {got}")
    return {"kind": "exhaustive, exact arithmetic", "scope": f"predicate network on all 2^{predicate.arity} inputs",
            "inputs": 2**predicate.arity, "result": "passed"}


def local_certificate(function: LocalFunction, network: Network, summary: fourier.FourierSummary,
                      strategy: str, verification: dict) -> dict:
    """Certificate of a local function from its predicate network (every output uses the same one)."""
    k = function.predicate.arity
    figures = certify_network(network, input_points(k), f"{{-1,+1}}^{k}")
    per_output_size = figures["size"]
    certificate = {
        "depth": figures["depth"],
        "size": per_output_size * function.output_length,
        "size_per_output": per_output_size,
        "hidden_sizes_per_output": figures["hidden_sizes"],
        "lipschitz_bound": figures["lipschitz_bound"],
        "bit_complexity": figures["bit_complexity"],
        "max_abs_activation": figures["max_abs_activation"],
        "exact_domain": f"{{-1,+1}}^{function.seed_length}",
        "float32_exact": figures["float32_exact"],
        "float32_reason": figures["float32_reason"],
        "verification": [verification],
        "inputs": function.seed_length,
        "outputs": function.output_length,
        "construction": {
            "kind": "local function",
            "strategy": strategy,
            "predicate": function.predicate.name,
            "arity": k,
            "monomials_kept": summary.monomials_kept,
            "monomials_total": summary.monomials_total,
            "max_degree": summary.max_degree,
            "subset_seed": function.subset_seed,
        },
        "paper_bound": paper_bound(summary),
    }
    return certificate


def paper_bound(summary: fourier.FourierSummary) -> dict:
    """Corollary 3.4's bounds with the constants of its proof (Appendix A.2) for this predicate.

    The proof builds a degree-j monomial with 4j neurons and weight norms whose product is at
    most 6^j, and sums the monomials with their coefficients; the triangle inequality then
    bounds the Lipschitz constant by sum_S |Phat(S)| 6^|S|. Weights are in {0, ±1} and
    coefficients multiples of 2^-k, so tau <= k.
    """
    monomials = [s for s in summary.coefficients if s]
    return {
        "source": "Corollary 3.4 (tau = O(k), Lipschitz exp(O(k)), L = k, S = O(2^k k)), constants from "
                  "the proof of Lemma 3.3 in Appendix A.2",
        "depth": summary.arity,
        "size_per_output": sum(4 * len(s) for s in monomials),
        "lipschitz_bound": float(sum(abs(c) * 6 ** len(s) for s, c in summary.coefficients.items())),
        "bit_complexity": summary.arity,
    }
