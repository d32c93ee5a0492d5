"""Checks of ``stage`` and ``compose`` blocks in ``.circ`` files, building the stages of ``relucc.continuous``.

Stage kinds and their fields:

- ``h_xi``: ``xi`` (1/xi a positive integer) or ``eps`` (Lemma 3.13 picks xi);
- ``bits_to_unit``: ``n`` bits per output, or ``eps`` with n = ceil(log2(1/eps));
- ``affine``: ``weight`` (a matrix such as [[1, 0], [0, 1/2]]), optional ``bias``, optional ``tau``;
- ``relu_network``: ``activation`` (relu or leaky_relu), ``lambda`` for leaky_relu, weights from
  ``file`` (.npz with weight1, bias1, weight2, ... or a .npy matrix), ``onnx`` (a Gemm/Relu MLP)
  or inline ``weight1``, ``bias1``, ...; ``tau`` or ``eps`` when the weights are not dyadic;
- ``random_leaky`` (Lemma 2.17): ``widths``, ``lambda``, ``seed``, and ``tau`` or ``eps``.

A ``compose`` block sets ``stages = A . B . C`` (C applied first), ``seed`` (bits, gaussian or
uniform01) and, when no stage fixes it, the seed length ``m``.
"""

from __future__ import annotations

import copy
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from relucc.continuous import (
    SEED_DISTRIBUTIONS,
    AffineStage,
    BitsToUnit,
    InputGadget,
    PrgStage,
    PushforwardStage,
    random_leaky_network,
)
from relucc.frontend import (
    ComposeDef,
    Identifier,
    Matrix,
    NameChain,
    Number,
    NumberList,
    StageDef,
    StringValue,
    _suggestion,
)

STAGE_KINDS = ("h_xi", "bits_to_unit", "affine", "relu_network", "random_leaky")
STAGE_FIELDS = {
    "h_xi": ("xi", "eps", "form"),
    "bits_to_unit": ("n", "eps"),
    "affine": ("weight", "bias", "tau"),
    "relu_network": ("activation", "lambda", "file", "onnx", "tau", "eps"),
    "random_leaky": ("widths", "lambda", "seed", "tau", "eps"),
}
COMPOSE_FIELDS = ("stages", "seed", "m")
# Bits per output of bits_to_unit: 2^-n must leave float32 room for the sum of n terms.
MAX_BITS_PER_OUTPUT = 23
# Lemma 2.17 asks k_i >= 1.1 k_(i-1).
EXPANSION = Fraction(11, 10)


def build_continuous(builder, nodes) -> None:
    """Check every stage and compose block; store stages and CompositionSpecs in the program."""
    for node in nodes:
        if isinstance(node, StageDef):
            stage = _StageChecker(builder, node).build()
            if stage is None:
                builder.failed.add(node.name.text)
            else:
                builder.program.stages[node.name.text] = stage
    for node in nodes:
        if isinstance(node, ComposeDef):
            spec = _ComposeChecker(builder, node).build()
            if spec is None:
                builder.failed.add(node.name.text)
            else:
                builder.program.compositions[node.name.text] = spec


def _fields(builder, node, allowed: tuple[str, ...], what: str) -> dict:
    fields, keys = {}, {}
    for item in node.fields:
        key = item.key.text
        if key not in allowed:
            builder.error(f"unknown field {key} in {what} {node.name.text}", item.key.span,
                          _suggestion(key, allowed) or f"the fields are {', '.join(allowed)}")
        elif key in fields:
            builder.error(f"field {key} is set twice", item.key.span,
                          f"the first setting is on line {keys[key].span.line}")
        else:
            fields[key] = item.value
            keys[key] = item.key
    return fields


class _StageChecker:
    """Check one ``stage`` block and build its Stage; report every problem through the builder."""

    def __init__(self, builder, node: StageDef):
        self.builder = builder
        self.node = node
        self.ok = True

    def error(self, message: str, span, hint: str | None = None) -> None:
        self.builder.error(message, span, hint)
        self.ok = False

    def build(self):
        kind_field = next((item for item in self.node.fields if item.key.text == "kind"), None)
        if kind_field is None:
            self.error(f"stage {self.node.name.text} is missing field kind", self.node.name.span,
                       f"add a line such as: kind = h_xi (kinds: {', '.join(STAGE_KINDS)})")
            return None
        value = kind_field.value
        if not isinstance(value, Identifier) or value.text not in STAGE_KINDS:
            hint = _suggestion(value.text, STAGE_KINDS) if isinstance(value, Identifier) else None
            self.error("kind must be one of " + ", ".join(STAGE_KINDS), value.span, hint)
            return None
        kind = value.text
        self.node.fields = [item for item in self.node.fields if item.key.text != "kind"]
        allowed = STAGE_FIELDS[kind] + (tuple(f"{p}{i}" for i in range(1, 65) for p in ("weight", "bias"))
                                        if kind == "relu_network" else ())
        fields = _fields(self.builder, self.node, allowed, f"{kind} stage")
        if len(fields) != len(self.node.fields):
            self.ok = False
        stage = getattr(self, f"_{kind}")(fields)
        if stage is not None:
            stage.location = self.builder.location(self.node.name.span)
        return stage if self.ok else None

    # field values

    def number(self, value, role: str, positive: bool = True) -> Fraction | None:
        if not isinstance(value, Number) or value.value() is None:
            self.error(f"{role} must be a number", value.span)
            return None
        number = value.value()
        if positive and number <= 0:
            self.error(f"{role} must be positive, got {value.display()}", value.span)
            return None
        return number

    def integer(self, value, role: str, minimum: int = 1) -> int | None:
        number = self.number(value, role, positive=False)
        if number is None:
            return None
        if number.denominator != 1 or number < minimum:
            self.error(f"{role} must be an integer of at least {minimum}, got {value.display()}", value.span)
            return None
        return int(number)

    def exactly_one(self, fields: dict, first: str, second: str) -> bool:
        if (first in fields) == (second in fields):
            span = fields[second].span if second in fields else self.node.name.span
            self.error(f"stage {self.node.name.text} needs exactly one of {first} and {second}", span)
            return False
        return True

    def tau_or_eps(self, fields: dict, required: bool):
        tau = self.integer(fields["tau"], "tau", 0) if "tau" in fields else None
        eps = self.number(fields["eps"], "eps") if "eps" in fields else None
        if "tau" in fields and "eps" in fields:
            self.error("set tau or eps, not both", fields["eps"].span,
                       "tau rounds weights to multiples of 2^-tau; eps picks the least tau whose error bound is <= eps")
        elif required and "tau" not in fields and "eps" not in fields:
            self.error(f"stage {self.node.name.text} has real weights, so it needs tau or eps", self.node.name.span,
                       "add e.g. tau = 12 (round to multiples of 2^-12) or eps = 1/100 (bound on ||H - H_tau||)")
        return tau, eps

    def matrix(self, value, role: str) -> list[list[Fraction]] | None:
        if isinstance(value, NumberList):
            value = Matrix([value], value.span)
        if not isinstance(value, Matrix):
            self.error(f"{role} must be a matrix such as [[1, 0], [0, 1]]", value.span)
            return None
        rows = [[number.value() for number in row.numbers] for row in value.rows]
        if any(v is None for row in rows for v in row):
            self.error(f"{role} has an entry that divides by zero", value.span)
            return None
        if len({len(row) for row in rows}) != 1:
            self.error(f"the rows of {role} have different lengths ({', '.join(str(len(r)) for r in rows)})",
                       value.span)
            return None
        return rows

    def vector(self, value, role: str, length: int) -> list[Fraction] | None:
        if not isinstance(value, NumberList):
            self.error(f"{role} must be a list of numbers such as [0, 1/2]", value.span)
            return None
        numbers = [number.value() for number in value.numbers]
        if any(v is None for v in numbers):
            self.error(f"{role} has an entry that divides by zero", value.span)
            return None
        if len(numbers) != length:
            self.error(f"{role} has {len(numbers)} entries but the weight matrix has {length} rows", value.span)
            return None
        return numbers

    def slope(self, fields: dict, required: bool) -> Fraction | None:
        if "lambda" not in fields:
            if required:
                self.error(f"stage {self.node.name.text} needs lambda, the leaky ReLU slope", self.node.name.span,
                           "add e.g. lambda = 1/4 (psi(z) = (1 - lambda) phi(z) - lambda phi(-z))")
            return None
        value = self.number(fields["lambda"], "lambda")
        if value is None:
            return None
        if value > Fraction(1, 2) or value.denominator & (value.denominator - 1):
            self.error(f"lambda must be a dyadic number in (0, 1/2], got {fields['lambda'].display()}",
                       fields["lambda"].span, "e.g. 1/4 or 1/8")
            return None
        return value

    # the stage kinds

    def _h_xi(self, fields: dict):
        form = fields.get("form")
        if form is not None and (not isinstance(form, Identifier) or form.text not in ("paper", "clamped")):
            self.error("form must be paper or clamped", form.span,
                       "paper: phi(x/xi + 1) - phi(x/xi - 1) - 1, depth 2; clamped: 1 - 2 phi(1 - phi(x/(2 xi) + 1/2)), "
                       "depth 3, exact in float32 for |x| >= xi")
            return None
        gadget = self._gadget(fields)
        if gadget is not None and form is not None:
            gadget.form = form.text
        return gadget

    def _gadget(self, fields: dict):
        if not self.exactly_one(fields, "xi", "eps"):
            return None
        if "xi" in fields:
            xi = self.number(fields["xi"], "xi")
            if xi is not None and (1 / xi).denominator != 1:
                self.error(f"1/xi must be a positive integer, got xi = {fields['xi'].display()}", fields["xi"].span,
                           "e.g. xi = 1/1024")
                return None
            return InputGadget(self.node.name.text, xi=xi) if xi is not None else None
        eps = self.number(fields["eps"], "eps")
        return InputGadget(self.node.name.text, eps=eps) if eps is not None else None

    def _bits_to_unit(self, fields: dict):
        if not self.exactly_one(fields, "n", "eps"):
            return None
        if "n" in fields:
            n = self.integer(fields["n"], "n")
            span = fields["n"].span
        else:
            eps = self.number(fields["eps"], "eps")
            if eps is None:
                return None
            n = max(1, math.ceil(math.log2(1 / eps))) if eps < 1 else 1
            span = fields["eps"].span
        if n is not None and n > MAX_BITS_PER_OUTPUT:
            self.error(f"n = {n} bits per output is above the limit of {MAX_BITS_PER_OUTPUT}", span,
                       "float32 holds 24 significant bits, so J's outputs stay exact up to n = 23")
            return None
        return BitsToUnit(self.node.name.text, n=n) if n is not None else None

    def _affine(self, fields: dict):
        if "weight" not in fields:
            self.error(f"affine stage {self.node.name.text} is missing field weight", self.node.name.span,
                       "add e.g. weight = [[1, 0], [0, 1]]")
            return None
        weight = self.matrix(fields["weight"], "weight")
        if weight is None:
            return None
        bias = self.vector(fields["bias"], "bias", len(weight)) if "bias" in fields else [Fraction(0)] * len(weight)
        tau = self.integer(fields["tau"], "tau", 0) if "tau" in fields else None
        if bias is None:
            return None
        values = [v for row in weight for v in row] + list(bias)
        if tau is not None:
            weight = [[Fraction(round(v * 2**tau), 2**tau) for v in row] for row in weight]
            bias = [Fraction(round(v * 2**tau), 2**tau) for v in bias]
        elif any(v.denominator & (v.denominator - 1) for v in values):
            self.error("affine weights must be dyadic (denominators powers of 2) unless tau is set",
                       fields["weight"].span, "add tau = 16, say, to round them to multiples of 2^-16")
            return None
        return AffineStage(self.node.name.text, weight=weight, bias=bias)

    def _relu_network(self, fields: dict):
        activation = fields.get("activation")
        if activation is None or not isinstance(activation, Identifier) or \
                activation.text not in ("relu", "leaky_relu"):
            span = activation.span if activation is not None else self.node.name.span
            self.error("activation must be relu or leaky_relu", span, "add e.g. activation = relu")
            return None
        leaky = self.slope(fields, activation.text == "leaky_relu")
        if activation.text == "relu" and "lambda" in fields:
            self.error("lambda applies only to activation = leaky_relu", fields["lambda"].span)
        layers = self._layers(fields)
        if layers is None or (activation.text == "leaky_relu" and leaky is None):
            return None
        exact = all(_is_dyadic_array(w) and _is_dyadic_array(b) for w, b in layers)
        tau, eps = self.tau_or_eps(fields, required=not exact)
        origin = self._origin(fields)
        return PushforwardStage(self.node.name.text, real_layers=layers, leaky=leaky, tau=tau, eps=eps, origin=origin)

    def _origin(self, fields: dict) -> str:
        for key in ("file", "onnx"):
            if key in fields and isinstance(fields[key], StringValue):
                return f"weights from {fields[key].text}"
        return "weights written in the source"

    def _layers(self, fields: dict):
        sources = [key for key in ("file", "onnx") if key in fields]
        inline = sorted(int(key[6:]) for key in fields if key.startswith("weight"))
        if len(sources) + bool(inline) != 1:
            self.error(f"stage {self.node.name.text} needs its weights from exactly one of file, onnx and inline "
                       f"weight1, bias1, ...", self.node.name.span)
            return None
        if inline:
            return self._inline_layers(fields, inline)
        value = fields[sources[0]]
        if not isinstance(value, StringValue):
            self.error(f"{sources[0]} must be a quoted path such as \"h.npz\"", value.span)
            return None
        path = Path(self.builder.path).parent / value.text
        try:
            layers = _load_layers(path, sources[0])
        except (OSError, ValueError, KeyError) as error:
            self.error(f"cannot read weights from {value.text}: {error}", value.span,
                       "a .npz holds weight1, bias1, weight2, ...; a .npy one matrix; an .onnx a Gemm/Relu MLP")
            return None
        return self._check_shapes(layers, value.span)

    def _inline_layers(self, fields: dict, indices: list[int]):
        if indices != list(range(1, len(indices) + 1)):
            self.error(f"weight matrices must be numbered weight1, weight2, ... without gaps, got "
                       f"{', '.join(f'weight{i}' for i in indices)}", self.node.name.span)
            return None
        layers = []
        for index in indices:
            weight = self.matrix(fields[f"weight{index}"], f"weight{index}")
            if weight is None:
                return None
            key = f"bias{index}"
            bias = self.vector(fields[key], key, len(weight)) if key in fields else [Fraction(0)] * len(weight)
            if bias is None:
                return None
            layers.append((np.array(weight, dtype=object), np.array(bias, dtype=object)))
        extra = [key for key in fields if key.startswith("bias") and int(key[4:]) not in indices]
        for key in extra:
            self.error(f"{key} has no matching weight{key[4:]}", fields[key].span)
        return self._check_shapes(layers, self.node.name.span)

    def _check_shapes(self, layers, span):
        for index in range(1, len(layers)):
            rows = np.asarray(layers[index - 1][0]).shape[0]
            columns = np.asarray(layers[index][0]).shape[1]
            if rows != columns:
                self.error(f"layer {index + 1} of {self.node.name.text} reads {columns} values but layer {index} "
                           f"outputs {rows}", span)
                return None
        return layers

    def _random_leaky(self, fields: dict):
        for required in ("widths", "seed"):
            if required not in fields:
                self.error(f"random_leaky stage {self.node.name.text} is missing field {required}", self.node.name.span,
                           "a random_leaky stage sets widths, lambda, seed and tau or eps")
        leaky = self.slope(fields, True)
        tau, eps = self.tau_or_eps(fields, True)
        widths = self._widths(fields["widths"]) if "widths" in fields else None
        seed = self.integer(fields["seed"], "seed", 0) if "seed" in fields else None
        if widths is None or seed is None or leaky is None or not self.ok:
            return None
        stage = random_leaky_network(self.node.name.text, widths, leaky, seed, tau, eps)
        return stage

    def _widths(self, value):
        if not isinstance(value, NumberList) or len(value.numbers) < 2:
            self.error("widths must list k_0, ..., k_L, at least two numbers such as [8, 9, 10]", value.span)
            return None
        widths = []
        for number in value.numbers:
            width = self.integer(number, "a width")
            if width is None:
                return None
            widths.append(width)
        for previous, width in zip(widths[:-1], widths[1:]):
            if width < EXPANSION * previous:
                self.error(f"width {width} after {previous} is not expansive: Lemma 2.17 asks k_i >= 1.1 k_(i-1)",
                           value.span, f"use at least {math.ceil(EXPANSION * previous)}")
                return None
        return widths


def _is_dyadic_array(array) -> bool:
    for value in np.asarray(array, dtype=object).ravel():
        if isinstance(value, Fraction):
            if value.denominator & (value.denominator - 1):
                return False
        elif not np.isfinite(float(value)):
            return False
    return True


def _load_layers(path: Path, source: str):
    """Read (weight, bias) pairs from .npz / .npy (float64 values, exactly dyadic) or an ONNX Gemm/Relu MLP."""
    if source == "onnx":
        from relucc.errors import RelucError
        from relucc.reader import load

        try:
            loaded = load(str(path))
        except RelucError as error:
            raise ValueError(error.diagnostics[0].message) from None
        if loaded.layout != "dense":
            raise ValueError("the model is not a plain Gemm/Relu MLP")
        return [(np.array([[Fraction(int(v), 2**layer.exponent) for v in row] for row in np.asarray(layer.weight)],
                          dtype=object),
                 np.array([Fraction(int(v), 2**layer.exponent) for v in np.asarray(layer.bias)], dtype=object))
                for layer in loaded.network.layers]
    if path.suffix == ".npy":
        weight = np.load(path, allow_pickle=False)
        if weight.ndim != 2:
            raise ValueError(f"expected a 2-D weight matrix, got shape {weight.shape}")
        return [(_exact(weight), _exact(np.zeros(weight.shape[0])))]
    with np.load(path, allow_pickle=False) as archive:
        layers = []
        index = 1
        while f"weight{index}" in archive:
            weight = archive[f"weight{index}"]
            if weight.ndim != 2:
                raise ValueError(f"weight{index} has shape {weight.shape}, expected 2-D")
            bias = archive[f"bias{index}"] if f"bias{index}" in archive else np.zeros(weight.shape[0])
            if bias.shape != (weight.shape[0],):
                raise ValueError(f"bias{index} has shape {bias.shape}, expected ({weight.shape[0]},)")
            layers.append((_exact(weight), _exact(bias)))
            index += 1
        if not layers:
            raise ValueError(f"no array named weight1 (found {', '.join(archive.files) or 'none'})")
        return layers


def _exact(array: np.ndarray) -> np.ndarray:
    """Float arrays as exact Fractions (every finite float is dyadic); reject NaN and infinity."""
    values = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("weights contain NaN or infinity")
    return np.array([Fraction(float(v)) for v in values.ravel()], dtype=object).reshape(values.shape)


class _ComposeChecker:
    """Check one ``compose`` block: stage names, order, dimensions and the seed distribution."""

    def __init__(self, builder, node: ComposeDef):
        self.builder = builder
        self.node = node

    def build(self):
        from relucc.composition import CompositionSpec

        builder, node = self.builder, self.node
        errors_before = len(builder.diagnostics.items)
        fields = _fields(builder, node, COMPOSE_FIELDS, "composed generator")
        seed = self._seed(fields.get("seed"))
        names = self._names(fields.get("stages"))
        m = None
        if "m" in fields:
            value = fields["m"]
            number = value.value() if isinstance(value, Number) else None
            if number is None or number.denominator != 1 or number <= 0:
                builder.error("m must be a positive integer", value.span)
            else:
                m = int(number)
        if names is None or seed is None or len(builder.diagnostics.items) > errors_before:
            return None
        stages = self._resolve(names)
        if stages is None:
            return None
        m = self._check_chain(stages, names, seed, m)
        if m is None:
            return None
        return CompositionSpec(node.name.text, [stage for stage in stages], seed, m,
                               builder.location(node.name.span))

    def _seed(self, value):
        if value is None:
            self.builder.error(f"composed generator {self.node.name.text} is missing field seed", self.node.name.span,
                               f"add e.g. seed = gaussian (one of {', '.join(SEED_DISTRIBUTIONS)})")
            return None
        if not isinstance(value, Identifier) or value.text not in SEED_DISTRIBUTIONS:
            hint = _suggestion(value.text, SEED_DISTRIBUTIONS) if isinstance(value, Identifier) else None
            self.builder.error(f"seed must be one of {', '.join(SEED_DISTRIBUTIONS)}", value.span, hint)
            return None
        return value.text

    def _names(self, value):
        if value is None:
            self.builder.error(f"composed generator {self.node.name.text} is missing field stages",
                               self.node.name.span, "add e.g. stages = H . J . G . h (h is applied first)")
            return None
        if isinstance(value, Identifier):
            return [value]
        if not isinstance(value, NameChain):
            self.builder.error("stages must be names joined by '.', such as H . J . G . h", value.span)
            return None
        return list(reversed(value.names))

    def _resolve(self, names: list[Identifier]):
        """Map names (in application order) to fresh stage objects; local functions become PRG stages."""
        program = self.builder.program
        stages = []
        for name in names:
            if name.text in program.stages:
                stages.append(copy.deepcopy(program.stages[name.text]))
            elif name.text in program.local_functions:
                stages.append(PrgStage(name.text, local_function=program.local_functions[name.text],
                                       location=self.builder.location(name.span)))
            elif name.text in self.builder.failed:
                return None
            else:
                candidates = list(program.stages) + list(program.local_functions)
                known = self.builder.declared.get(name.text)
                message = (f"{name.text} is a {known.kind}, but a composition takes stages and local functions"
                           if known else f"unknown stage {name.text}")
                self.builder.error(message, name.span, _suggestion(name.text, candidates))
                return None
        return stages

    def _check_chain(self, stages, names, seed: str, m: int | None) -> int | None:
        """Check order and widths; return the seed length."""
        error = self.builder.error
        first = stages[0]
        fixed = next((stage.input_dim for stage in stages if stage.input_dim is not None), None)
        if isinstance(first, InputGadget):
            fixed = stages[1].input_dim if len(stages) > 1 else None
        if m is None:
            m = first.input_dim if first.input_dim is not None else fixed
        if m is None:
            error(f"cannot tell the seed length of {self.node.name.text}", self.node.name.span, "add a line m = ...")
            return None
        if seed == "gaussian" and not isinstance(first, InputGadget):
            error("a Gaussian seed must go through an h_xi stage first (Lemma 3.13)", names[0].span,
                  "add a stage of kind h_xi at the right end of the chain")
            return None
        if seed == "uniform01" and isinstance(first, (InputGadget, PrgStage, BitsToUnit)):
            error(f"{names[0].text} reads {{-1,+1}} values, but a uniform01 seed lies in [0,1]^m", names[0].span,
                  "use seed = bits or gaussian, or start with a relu_network or affine stage")
            return None
        width = m
        boolean = seed in ("bits", "gaussian")
        for index, (stage, name) in enumerate(zip(stages, names)):
            if isinstance(stage, InputGadget) and index > 0:
                error("h_xi must be the first stage, applied to the seed", name.span,
                      "move it to the right end of the chain")
                return None
            if isinstance(stage, (PrgStage, BitsToUnit)) and not boolean:
                before = names[index - 1].text if index else "the seed"
                error(f"{name.text} reads {{-1,+1}} values, but {before} does not output them", name.span,
                      "a local function or bits_to_unit follows the seed, h_xi or a local function")
                return None
            if stage.input_dim is not None and stage.input_dim != width:
                before = f"{names[index - 1].text} outputs" if index else "the seed has"
                error(f"{name.text} expects {stage.input_dim} inputs but {before} {width}", name.span,
                      "check the widths of adjacent stages")
                return None
            if isinstance(stage, BitsToUnit) and width < stage.n:
                error(f"{name.text} groups n = {stage.n} bits per output but gets only {width}", name.span,
                      "lower n (or raise eps), or give it more bits")
                return None
            width = stage.output_dim(width)
            boolean = isinstance(stage, (InputGadget, PrgStage)) and boolean
        return m
