"""The Python API: compile a source, emit ONNX or PyTorch, evaluate exactly, load a saved model.

The command line is a thin layer over these functions. Every error they raise for bad input is
a ``relucc.errors.RelucError`` carrying the file and, where there is one, the line and column.
"""

from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx

from relucc import emit
from relucc.encoding import check_encoding, encode_network
from relucc.errors import Diagnostic, SourceLocation, UsageError
from relucc.network import Network, parallel

# Certificate keys that only the compiler can write: a model without a relucc certificate lacks them.
COMPILER_ONLY_KEYS = ("verification", "source", "construction", "paper_bound", "encoding")


def compile(path: str | Path, **options) -> "Compiled":
    """Compile a ``.circ`` file or a netlist (``.bench``, ``.aag``, ``.aig``, ``.blif``).

    ``path`` must name an existing file; to compile source text, call ``compile_source``.
    ``options`` (``strategy``, ``optimize``, ...) are those of ``relucc.compiler.compile_file``.
    """
    from relucc.compiler import compile_file

    source = Path(path)
    if not source.is_file():
        hint = "check the path"
        if "\n" in str(path) or "{" in str(path):
            hint = "this looks like source text; call relucc.compile_source(text) for that"
        problem = "is a directory, expected a file" if source.is_dir() else "file not found"
        raise UsageError(Diagnostic(problem, SourceLocation(_short(path)), hint))
    return Compiled(compile_file(str(source), **options))


def compile_source(text: str, *, name: str = "<string>", **options) -> "Compiled":
    """Compile ``.circ`` source text; ``name`` stands for the file name in error messages."""
    from relucc.compiler import compile_source as compile_text

    return Compiled(compile_text(text, name, **options))


def load(path: str | Path) -> "SavedModel":
    """Read an ONNX model back: its network, its stored certificate and the figures recomputed from the weights."""
    from relucc.reader import load as read_model
    from relucc.reader import recompute_certificate

    loaded = read_model(str(path))
    return SavedModel(loaded, recompute_certificate(loaded))


def stored_certificate(model: onnx.ModelProto) -> dict | None:
    """Return the relucc certificate stored in ``model``'s metadata, or None when there is none."""
    import json

    for prop in model.metadata_props:
        if prop.key == "relucc.certificate":
            return json.loads(prop.value)
    return None


def _short(path) -> str:
    text = str(path)
    return text if len(text) <= 80 and "\n" not in text else text.splitlines()[0][:60] + "..."


@dataclass(eq=False, repr=False)
class LocalNetwork:
    """A local function's network: one predicate network applied to the input coordinates of each subset.

    Output l is ``predicate_network(x[subsets[l]])``; the gather layout emits exactly this.
    """

    predicate_network: Network
    subsets: np.ndarray
    input_dim: int

    @property
    def output_dim(self) -> int:
        return int(self.subsets.shape[0])

    def __repr__(self) -> str:
        hidden = self.predicate_network.hidden_sizes
        return (f"LocalNetwork({self.input_dim} inputs -> {self.output_dim} outputs, subsets of size "
                f"{self.subsets.shape[1]}, predicate network of depth {self.predicate_network.depth}, hidden {hidden})")

    def dense(self) -> Network:
        """Return the same function as one MLP with the predicate network placed once per output."""
        copies = [self.predicate_network] * self.output_dim
        return parallel(copies, self.input_dim, list(self.subsets))

    def evaluate_exact(self, inputs: np.ndarray, input_exponent: int = 0) -> tuple[np.ndarray, int]:
        """Evaluate on ``inputs / 2**input_exponent`` exactly; return (numerators [N, d], exponent)."""
        inputs = np.asarray(inputs)
        gathered = inputs[:, self.subsets].reshape(-1, self.subsets.shape[1])
        numerators, exponent = self.predicate_network.evaluate_exact(gathered, input_exponent)
        return numerators.reshape(inputs.shape[0], self.output_dim), exponent


class _Evaluation:
    """Exact evaluation and PyTorch export, shared by compiled and loaded models."""

    input_length: int

    def _network(self, encoding: str) -> Network | LocalNetwork:
        raise NotImplementedError

    def evaluate(self, x, *, encoding: str = "pm1") -> np.ndarray:
        """Evaluate the network on ``x`` ([N, n] or [n]) in exact arithmetic.

        Inputs must be integers or dyadic rationals (floats, Fractions). Returns an int64 or
        object array of integers when every output is an integer, else an object array of Fractions.
        """
        network = self._network(check_encoding(encoding))
        numerators, exponent, single = _exact_inputs(x, self.input_length)
        values, value_exponent = network.evaluate_exact(numerators, exponent)
        if value_exponent:
            denominator = 2**value_exponent
            flat = [Fraction(int(v), denominator) for v in np.asarray(values).ravel()]
            values = np.array(flat, dtype=object).reshape(values.shape)
        return values[0] if single else values

    def to_torch(self, layout: str | None = None, *, encoding: str = "pm1", dtype=None):
        """Return a ``torch.nn.Module`` computing the same function as the ONNX model of ``layout``.

        The dense layout is an ``nn.Sequential`` of ``Linear`` and ``ReLU``; the local layout gathers
        each subset's inputs with ``index_select`` and applies one shared stack of ``Linear`` layers.
        ``dtype`` is torch.float32 (the default) or torch.float64.
        """
        torch_export = _import_torch_export()
        network = self._network(check_encoding(encoding))
        layout = self._layout(layout)
        if isinstance(network, LocalNetwork):
            if layout == "dense":
                return torch_export.dense_module(network.dense(), dtype)
            return torch_export.local_module(network.predicate_network, network.subsets, network.input_dim, dtype)
        return torch_export.dense_module(network, dtype)

    def _layout(self, layout: str | None) -> str:
        raise NotImplementedError


def _import_torch_export():
    import importlib

    try:
        torch_export = importlib.import_module("relucc.torch_export")
    except ImportError as error:
        if error.name != "torch":
            raise
        raise UsageError("to_torch needs PyTorch, which is not installed; install it with "
                         "pip install 'relucc[torch]' (torch==2.13.0)") from None
    return torch_export


def _exact_inputs(x, length: int) -> tuple[np.ndarray, int, bool]:
    """Convert ``x`` to integer numerators over one power of two; return (numerators, exponent, was_1d)."""
    array = np.asarray(x)
    single = array.ndim == 1
    if single:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != length:
        raise UsageError(f"evaluate expects inputs of shape [N, {length}] or [{length}], got {list(np.shape(x))}")
    if array.dtype.kind in "iub":
        return array.astype(np.int64), 0, single
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64), 0, single
    fractions = [_exact_value(value) for value in array.ravel()]
    exponent = max(f.denominator.bit_length() - 1 for f in fractions)
    numerators = [int(f * 2**exponent) for f in fractions]
    return np.array(numerators, dtype=object).reshape(array.shape), exponent, single


def _exact_value(value) -> Fraction:
    if isinstance(value, numbers.Rational):
        fraction = Fraction(int(value.numerator), int(value.denominator))
    elif isinstance(value, numbers.Real) and np.isfinite(float(value)):
        fraction = Fraction(float(value))
    else:
        raise UsageError(f"evaluate needs finite real inputs, got {value!r}")
    if fraction.denominator & (fraction.denominator - 1):
        raise UsageError(f"evaluate needs dyadic inputs (a multiple of a power of 1/2), got {fraction}; "
                         f"the network's weights are dyadic, so exact outputs need dyadic inputs")
    return fraction


class Compiled(_Evaluation):
    """A compiled source: certificate, network IR, ONNX and PyTorch emission, exact evaluation.

    Attributes not defined here (``name``, ``input_name``, ``output_length``, ``reference``, ...)
    come from the compiled object of ``relucc.compiler`` that this wraps, available as ``compiled``.
    """

    def __init__(self, compiled):
        self.compiled = compiled

    def __getattr__(self, name: str):
        if name == "compiled":
            raise AttributeError(name)
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f"<relucc.Compiled {self.name}: {self.input_length} inputs -> {self.output_length} outputs>"

    @property
    def certificate(self) -> dict:
        return self.compiled.certificate

    @property
    def input_length(self) -> int:
        return int(self.compiled.input_length)

    @property
    def network(self) -> Network | LocalNetwork:
        """The network IR in the ±1 encoding: a ``LocalNetwork`` for a local function, else a ``Network``."""
        return self._network("pm1")

    def _network(self, encoding: str) -> Network | LocalNetwork:
        compiled = self.compiled
        if hasattr(compiled, "predicate_network") and hasattr(compiled, "local_function"):
            predicate_network = encode_network(compiled.predicate_network, encoding)
            return LocalNetwork(predicate_network, np.asarray(compiled.local_function.subsets), self.input_length)
        network = compiled.network if hasattr(compiled, "network") else compiled.dense_network()
        return encode_network(network, encoding)

    def _layout(self, layout: str | None) -> str:
        layouts = tuple(self.compiled.layouts)
        layout = layouts[0] if layout is None else layout
        if layout not in layouts:
            raise UsageError(f"unknown layout {layout!r} for {self.name}; expected one of {', '.join(layouts)}")
        return layout

    def to_onnx(self, layout: str | None = None, *, opset: int = emit.OPSET, encoding: str = "pm1") -> onnx.ModelProto:
        """Emit the ONNX model: input ``input_name`` float32 [N, n], output ``y`` float32 [N, outputs].

        ``opset`` is any of ``relucc.emit.supported_opsets()``; ``encoding`` is pm1 ({-1,+1}) or
        01 ({0,1}), True = +1 or 1, with the change of variables folded into the first and last layers.
        """
        emit.check_opset(opset)
        check_encoding(encoding)
        layout = self._layout(layout)
        parameters = inspect.signature(self.compiled.to_onnx).parameters
        if "opset" in parameters and "encoding" in parameters:
            return self.compiled.to_onnx(layout, opset=opset, encoding=encoding)
        if opset != emit.OPSET or encoding != "pm1":
            raise UsageError(f"{self.name}: this kind of compiled model ({type(self.compiled).__name__}) is "
                             f"emitted only at opset {emit.OPSET} in the pm1 encoding so far")
        return self.compiled.to_onnx(layout)

    def save(self, path: str | Path, layout: str | None = None, *, opset: int = emit.OPSET,
             encoding: str = "pm1") -> None:
        """Write the ONNX model to ``path`` atomically: a failed run leaves no partial file."""
        emit.save_atomically(self.to_onnx(layout, opset=opset, encoding=encoding), path)


class SavedModel(_Evaluation):
    """An ONNX model read back: its network IR, stored certificate and recomputed figures.

    ``certificate`` is the stored relucc certificate. A model without one gets the figures that
    can be recomputed from the weights, with ``partial`` set and ``missing`` listing the rest.
    """

    def __init__(self, loaded, recomputed: dict):
        self.loaded = loaded
        self.path = loaded.path
        self.layout = loaded.layout
        self.input_name = loaded.input_name
        self.recomputed = recomputed
        self.stored_certificate = loaded.stored_certificate
        self.encoding = (self.stored_certificate or {}).get("encoding", "pm1")

    def __repr__(self) -> str:
        kind = "certified" if self.stored_certificate else "no relucc certificate"
        return f"<relucc.SavedModel {Path(self.path).name}: {self.layout} layout, {kind}>"

    @property
    def input_length(self) -> int:
        return int(self.loaded.input_dim)

    @property
    def output_length(self) -> int:
        return int(self.recomputed["outputs"])

    @property
    def certificate(self) -> dict:
        if self.stored_certificate is not None:
            return self.stored_certificate
        partial = dict(self.recomputed)
        partial["partial"] = True
        partial["missing"] = list(COMPILER_ONLY_KEYS)
        partial["note"] = ("no relucc certificate is stored in this model: these figures are recomputed from "
                           "the weights, the exact domain is assumed, and " + ", ".join(COMPILER_ONLY_KEYS) +
                           " are missing")
        return partial

    @property
    def missing(self) -> list[str]:
        """Certificate keys that are neither stored in the model nor recomputable from its weights."""
        return [] if self.stored_certificate is not None else list(COMPILER_ONLY_KEYS)

    @property
    def network(self) -> Network | LocalNetwork:
        """The network IR exactly as stored (in the model's own encoding)."""
        if self.loaded.subsets is not None:
            return LocalNetwork(self.loaded.network, self.loaded.subsets, self.input_length)
        return self.loaded.network

    def compare(self) -> list[tuple[str, object, object, str]]:
        """Return rows (key, stored, recomputed, verdict) for the certificate's key figures."""
        from relucc.reader import compare

        return compare(self.stored_certificate, self.recomputed)

    def _network(self, encoding: str) -> Network | LocalNetwork:
        if encoding != self.encoding:
            raise UsageError(f"{self.path}: the model is stored in the {self.encoding} encoding, so it is "
                             f"evaluated and exported only in that encoding, not {encoding}")
        return self.network

    def _layout(self, layout: str | None) -> str:
        layout = self.layout if layout is None else layout
        if layout not in ("local", "dense") or (layout == "local" and self.layout == "dense"):
            raise UsageError(f"{self.path}: layout {layout!r} is not available for a {self.layout} model")
        return layout

    def evaluate(self, x, *, encoding: str | None = None) -> np.ndarray:
        return super().evaluate(x, encoding=encoding or self.encoding)

    def to_torch(self, layout: str | None = None, *, encoding: str | None = None, dtype=None):
        return super().to_torch(layout, encoding=encoding or self.encoding, dtype=dtype)
