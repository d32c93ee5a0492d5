"""Errors raised by relucc, each carrying a source location and a hint.

The command line turns them into ``FILE:LINE:COL: error: MESSAGE`` lines followed by the
source line and a caret; the Python API raises them as exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SourceLocation:
    """A position in a source file: 1-based line and column, or a byte offset for binary files."""

    path: str
    line: int = 0
    column: int = 0
    byte_offset: int | None = None

    def __str__(self) -> str:
        if self.byte_offset is not None:
            return f"{self.path}:byte {self.byte_offset}"
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{max(self.column, 1)}"


@dataclass
class Diagnostic:
    """One problem found in the user's input."""

    message: str
    location: SourceLocation | None = None
    hint: str | None = None
    end_column: int | None = None

    def render(self, source_text: str | None = None) -> str:
        """Format as ``FILE:LINE:COL: error: MESSAGE``, the source line, a caret and the hint."""
        prefix = f"{self.location}: " if self.location is not None else ""
        lines = [f"{prefix}error: {self.message}"]
        excerpt = _source_line(self.location, source_text)
        if excerpt is not None:
            column = max(self.location.column, 1)
            width = 1
            if self.end_column is not None and self.end_column > column:
                width = self.end_column - column
            lines.append(f"    {excerpt}")
            lines.append("    " + " " * (column - 1) + "^" + "~" * (width - 1))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def _source_line(location: SourceLocation | None, source_text: str | None) -> str | None:
    if location is None or location.line <= 0:
        return None
    if source_text is None:
        try:
            source_text = Path(location.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    lines = source_text.splitlines()
    if location.line > len(lines):
        return None
    return lines[location.line - 1].expandtabs(1)


class RelucError(Exception):
    """Base class of every error relucc raises for bad input; exit status 2 on the command line."""

    exit_status = 2

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str, source_text: str | None = None):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.source_text = source_text
        super().__init__(self.render())

    @property
    def location(self) -> SourceLocation | None:
        return self.diagnostics[0].location if self.diagnostics else None

    def render(self) -> str:
        """Format every diagnostic, one block each."""
        return "\n".join(d.render(self.source_text) for d in self.diagnostics)


class SourceError(RelucError):
    """Invalid ``.circ`` source: syntax, names, arities, ranges."""


class NetlistError(RelucError):
    """Invalid netlist file (ISCAS ``.bench``, AIGER)."""


class ModelError(RelucError):
    """An ONNX file that relucc cannot read as a ReLU network, or whose shapes do not fit."""


class UsageError(RelucError):
    """Invalid command-line arguments or option values."""


class CheckFailure(RelucError):
    """A verification found a disagreement between the network and its reference; exit status 1."""

    exit_status = 1


@dataclass
class DiagnosticList:
    """Collects problems so that a frontend can report every one of them at once."""

    source_text: str | None = None
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, message: str, location: SourceLocation | None = None, hint: str | None = None,
            end_column: int | None = None) -> None:
        self.items.append(Diagnostic(message, location, hint, end_column))

    def raise_if_any(self, error_class: type[RelucError] = SourceError) -> None:
        if self.items:
            raise error_class(self.items, self.source_text)
