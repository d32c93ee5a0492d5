"""The ``.circ`` frontend: parse predicates, circuits and local functions into the Boolean IR.

Stages: Lark parses the text with ``grammars/circ.lark`` into a parse tree, ``_AstBuilder``
turns it into small AST nodes that carry source spans, and ``_ProgramBuilder`` checks names,
arities and ranges while it builds ``relucc.boolean`` objects. Every problem found is
collected and raised together as one ``SourceError``.

Values use the ±1 encoding (+1 True, -1 False). Internally a predicate's expression is
evaluated on all 2^k input points at once as NumPy boolean arrays (True standing for +1),
indexed like the truth tables of ``relucc.boolean``. Numbers are read as exact fractions.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Union

import numpy as np
from lark import Lark, Token, Transformer, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, v_args
from lark.lexer import PatternStr

import relucc
from relucc.boolean import (
    MAX_PREDICATE_ARITY,
    Circuit,
    Gate,
    LocalFunction,
    Predicate,
    Program,
    evaluate_gate,
    input_points,
    random_subsets,
)
from relucc.errors import DiagnosticList, SourceError, SourceLocation

GRAMMAR_PATH = Path(relucc.__file__).resolve().parent.parent / "grammars" / "circ.lark"

# Gate functions callable by name (case-insensitive) in predicates and circuits.
GATE_FUNCTIONS = ("and", "or", "not", "nand", "nor", "xor", "xnor", "buf", "maj")

# Names that no predicate, circuit, local function, variable or signal may take.
RESERVED_NAMES = frozenset(GATE_FUNCTIONS) | {"threshold", "true", "false"}

LOCAL_FIELDS = ("m", "d", "predicate", "subsets")

# Syntax errors reported in one run before the parser gives up.
MAX_SYNTAX_ERRORS = 20


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Span:
    """A node's source range: 1-based lines and columns, with the end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def of(cls, item: Token | Tree) -> Span:
        source = item if isinstance(item, Token) else item.meta
        return cls(source.line, source.column, source.end_line, source.end_column)


@dataclass
class Identifier:
    text: str
    span: Span


@dataclass
class Number:
    """A number literal with its optional sign, kept as text until it is checked."""

    text: str
    negative: bool
    span: Span

    def value(self) -> Fraction | None:
        """Return the exact value, or None for a fraction with denominator zero."""
        try:
            magnitude = Fraction(self.text.replace(" ", "").replace("\t", ""))
        except ZeroDivisionError:
            return None
        return -magnitude if self.negative else magnitude

    def display(self) -> str:
        return ("-" if self.negative else "") + self.text


@dataclass
class Variable:
    name: str
    span: Span


@dataclass
class Constant:
    number: Number
    span: Span


@dataclass
class Negation:
    operand: Expression
    span: Span


@dataclass
class Operation:
    """An infix chain ``a OP b OP c``, where the operator is "or", "xor", "and" or "product"."""

    operator: str
    operands: list[Expression]
    span: Span


@dataclass
class Call:
    name: Identifier
    arguments: list[Expression]
    span: Span


@dataclass
class LinearTerm:
    """One term ``[±] [w *] operand`` of a threshold gate's weighted sum."""

    negative: bool
    coefficient: Number | None
    operand: Expression
    span: Span


@dataclass
class Threshold:
    terms: list[LinearTerm]
    bias: Number
    span: Span


Expression = Union[Variable, Constant, Negation, Operation, Call, Threshold]


@dataclass
class TableList:
    entries: list[Number | Identifier]
    span: Span


@dataclass
class TableString:
    token: Token
    span: Span


@dataclass
class FourierTerm:
    """A monomial (variable names, or the number 1 for the empty monomial) and its coefficient."""

    variables: list[Identifier]
    constant: Number | None
    coefficient: Number
    span: Span


@dataclass
class FourierBody:
    terms: list[FourierTerm]
    span: Span


@dataclass
class PredicateDef:
    name: Identifier
    parameters: list[Identifier]
    body: Expression | TableList | TableString | FourierBody


@dataclass
class GateDef:
    target: Identifier
    expression: Expression


@dataclass
class CircuitDef:
    name: Identifier
    inputs: list[Identifier]
    outputs: list[Identifier]
    gates: list[GateDef]


@dataclass
class CallValue:
    name: Identifier
    arguments: list[tuple[Identifier, FieldValue]]
    span: Span


@dataclass
class SubsetNode:
    indices: list[Number]
    span: Span


@dataclass
class SubsetList:
    subsets: list[SubsetNode]
    span: Span


@dataclass
class NameChain:
    """``A . B . C``: stages composed right to left, as in H o J o G."""

    names: list[Identifier]
    span: Span


@dataclass
class StringValue:
    text: str
    span: Span


@dataclass
class NumberList:
    numbers: list[Number]
    span: Span


@dataclass
class Matrix:
    rows: list[NumberList]
    span: Span


FieldValue = Union[Number, Identifier, CallValue, SubsetList, NameChain, StringValue, NumberList, Matrix]


@dataclass
class LocalField:
    key: Identifier
    value: FieldValue


@dataclass
class LocalDef:
    name: Identifier
    fields: list[LocalField]


@dataclass
class StageDef:
    """``stage NAME { field = value ... }``, checked by ``relucc.stage_checks``."""

    name: Identifier
    fields: list[LocalField]


@dataclass
class ComposeDef:
    """``compose NAME { stages = ..., seed = ... }``, checked by ``relucc.stage_checks``."""

    name: Identifier
    fields: list[LocalField]


@dataclass
class GeneratorDecl:
    name: Identifier
    span: Span


Statement = Union[PredicateDef, CircuitDef, LocalDef, StageDef, ComposeDef, GeneratorDecl]


# ---------------------------------------------------------------- parse tree to AST


def _identifier(token: Token) -> Identifier:
    return Identifier(str(token), Span.of(token))


def _present(children: list) -> list:
    """Drop the None placeholders that Lark puts in for optional items that did not match."""
    return [child for child in children if child is not None]


@v_args(meta=True)
class _AstBuilder(Transformer):
    """Turn a Lark parse tree of ``circ.lark`` into the AST above, with one method per grammar rule."""

    def start(self, meta, children):
        return children

    def names(self, meta, children):
        return [_identifier(token) for token in children]

    def signed_number(self, meta, children):
        sign, number = children
        span = Span.of(sign) if sign is not None else Span.of(number)
        span = Span(span.line, span.column, number.end_line, number.end_column)
        return Number(str(number), sign is not None and sign == "-", span)

    # predicates

    def predicate_def(self, meta, children):
        name, parameters, body = children
        return PredicateDef(_identifier(name), parameters or [], body)

    def table_list(self, meta, children):
        return TableList(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def table_entry(self, meta, children):
        return children[0]

    def table_name(self, meta, children):
        return _identifier(children[0])

    def table_string(self, meta, children):
        return TableString(children[0], Span.of(children[0]))

    def fourier(self, meta, children):
        return FourierBody(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def fourier_term(self, meta, children):
        (variables, constant), coefficient = children
        return FourierTerm(variables, constant, coefficient, Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def variable_monomial(self, meta, children):
        return [_identifier(token) for token in children], None

    def constant_monomial(self, meta, children):
        token = children[0]
        return [], Number(str(token), False, Span.of(token))

    # circuits

    def circuit_def(self, meta, children):
        name, inputs, outputs, *gates = children
        return CircuitDef(_identifier(name), inputs or [], outputs, gates)

    def circuit_outputs(self, meta, children):
        item = children[0]
        return [_identifier(item)] if isinstance(item, Token) else item

    def gate_def(self, meta, children):
        target, expression = children
        return GateDef(_identifier(target), expression)

    # local functions

    def local_def(self, meta, children):
        name, *fields = children
        return LocalDef(_identifier(name), fields)

    def field(self, meta, children):
        key, value = children
        return LocalField(_identifier(key), value)

    def name_value(self, meta, children):
        return _identifier(children[0])

    def call_value(self, meta, children):
        name, *arguments = children
        span = Span(meta.line, meta.column, meta.end_line, meta.end_column)
        return CallValue(_identifier(name), _present(arguments), span)

    def keyword_argument(self, meta, children):
        key, value = children
        return _identifier(key), value

    def subset_list(self, meta, children):
        return SubsetList(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def subset(self, meta, children):
        return SubsetNode(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def stage_def(self, meta, children):
        name, *fields = children
        return StageDef(_identifier(name), fields)

    def compose_def(self, meta, children):
        name, *fields = children
        return ComposeDef(_identifier(name), fields)

    def chain_value(self, meta, children):
        return NameChain([_identifier(token) for token in children],
                         Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def string_value(self, meta, children):
        token = children[0]
        return StringValue(str(token)[1:-1], Span.of(token))

    def number_list(self, meta, children):
        return NumberList(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def number_row(self, meta, children):
        return NumberList(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def matrix_value(self, meta, children):
        return Matrix(_present(children), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def generator_decl(self, meta, children):
        return GeneratorDecl(_identifier(children[0]), Span(meta.line, meta.column, meta.end_line, meta.end_column))

    # expressions

    def _operation(self, operator, meta, children):
        return Operation(operator, children, Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def or_expr(self, meta, children):
        return self._operation("or", meta, children)

    def xor_expr(self, meta, children):
        return self._operation("xor", meta, children)

    def and_expr(self, meta, children):
        return self._operation("and", meta, children)

    def product(self, meta, children):
        return self._operation("product", meta, children)

    def negation(self, meta, children):
        return Negation(children[-1], Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def not_call(self, meta, children):
        # "not(a, b)" parses so that the fan-in check can report it, while "not(a)" is a negation.
        name = Identifier("not", Span(meta.line, meta.column, meta.line, meta.column + 3))
        return Call(name, children, Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def positive(self, meta, children):
        return children[-1]

    def variable(self, meta, children):
        token = children[0]
        return Variable(str(token), Span.of(token))

    def constant(self, meta, children):
        token = children[0]
        return Constant(Number(str(token), False, Span.of(token)), Span.of(token))

    def call(self, meta, children):
        name, *arguments = children
        span = Span(meta.line, meta.column, meta.end_line, meta.end_column)
        return Call(_identifier(name), _present(arguments), span)

    def threshold(self, meta, children):
        terms, bias = children
        return Threshold(terms, bias, Span(meta.line, meta.column, meta.end_line, meta.end_column))

    def linear_form(self, meta, children):
        terms = []
        negative = False
        for child in children:
            if child is None or isinstance(child, Token):
                negative = child is not None and child == "-"
                continue
            child.negative = negative
            terms.append(child)
            negative = False
        return terms

    def linear_term(self, meta, children):
        coefficient, operand = children
        number = Number(str(coefficient), False, Span.of(coefficient)) if coefficient is not None else None
        return LinearTerm(False, number, operand, Span(meta.line, meta.column, meta.end_line, meta.end_column))


# ---------------------------------------------------------------- parsing and syntax errors


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)


# Readable names of the grammar's regular-expression terminals. Literal terminals are shown quoted.
_TERMINAL_WORDS = {
    "$END": "end of file",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted bit string such as "0110"',
    "_AND": "'and'",
    "_OR": "'or'",
    "_XOR": "'xor'",
    "_NOT": "'not'",
    "_THRESHOLD": "'threshold'",
}

_OPERATOR_TERMINALS = frozenset({"_AND", "_OR", "_XOR", "STAR"})
_STATEMENT_TERMINALS = frozenset({"PREDICATE", "CIRCUIT", "LOCAL", "GENERATOR"})
_STATEMENT_START = re.compile(r"[ \t]*(predicate|circuit|local|stage|compose|generator)\b")


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for terminal in _parser().terminals:
        if terminal.name == name and isinstance(terminal.pattern, PatternStr):
            return f"'{terminal.pattern.value}'"
    return name.lower()


def _describe_expected(names: set[str]) -> str:
    """Phrase a set of acceptable terminals as readable alternatives, e.g. "a name or ')'"."""
    names = set(names)
    phrases = []
    if _OPERATOR_TERMINALS <= names:
        names -= _OPERATOR_TERMINALS
        names.discard("LPAR")  # "(" after a name only turns it into a call.
        phrases.append("an operator (and, or, xor, *)")
    if _STATEMENT_TERMINALS <= names:
        names -= _STATEMENT_TERMINALS
        names -= {"STAGE", "COMPOSE"}
        phrases.append("a new statement (predicate, circuit, local, stage, compose, generator)")
    end_of_file = "$END" in names
    names.discard("$END")
    phrases.extend(sorted(_describe_terminal(name) for name in names))
    if end_of_file:
        phrases.append("end of file")
    if len(phrases) <= 1:
        return phrases[0] if phrases else "nothing"
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "NAME":
        return f"name '{token}'"
    if token.type == "NUMBER":
        return f"number {token}"
    if token.type == "STRING":
        return f"string {token}"
    return f"'{token}'"


def _accepted_before(text: str, position: int) -> set[str]:
    """Return the terminals the parser accepts after ``text[:position]``."""
    interactive = _parser().parse_interactive(text[:position])
    try:
        interactive.exhaust_lexer()
    except UnexpectedInput:
        return set()
    return set(interactive.accepts())


def _syntax_problem(error: UnexpectedInput, text: str) -> tuple[str, str | None, Span]:
    """Translate a Lark error into a message, a hint and the span of the offending text."""
    if isinstance(error, UnexpectedCharacters):
        character = text[error.pos_in_stream]
        span = Span(error.line, error.column, error.line, error.column + 1)
        expected = _accepted_before(text, error.pos_in_stream)
        message = f"unexpected character '{character}'"
        if expected:
            message += f"; expected {_describe_expected(expected)}"
        hint = None
        if character == "±":
            hint = "write +1 or -1"
        elif character == "/":
            hint = "'/' is not an operator, so write a fraction as one number such as 1/2"
        return message, hint, span

    if not isinstance(error, UnexpectedToken):
        span = Span(max(error.line, 1), max(error.column, 1), max(error.line, 1), max(error.column, 1) + 1)
        return "unexpected end of file", None, span

    token = error.token
    if token.type == "$END":
        span = Span(token.end_line or error.line, token.end_column or error.column,
                    token.end_line or error.line, (token.end_column or error.column) + 1)
    else:
        span = Span.of(token)
    expected = set(error.accepts or error.expected)
    message = f"unexpected {_describe_token(token)}; expected {_describe_expected(expected)}"
    hint = None
    if token.type == "NAME":
        keywords = [str(_describe_terminal(name)).strip("'") for name in expected if name.isupper()]
        close = difflib.get_close_matches(str(token), keywords, n=1)
        if close:
            hint = f"did you mean '{close[0]}'?"
    return message, hint, span


def _blank_failed_statement(lines: list[str], error_line: int, error_column: int) -> bool:
    """Blank the lines of the statement that contains a syntax error so parsing can go on.

    A statement runs from a line that starts with a statement keyword to the next such line.
    An error right at a statement keyword is blamed on the statement before it, which was
    left unfinished. Returns False when there was nothing left to blank.
    """
    starts = [index for index, line in enumerate(lines) if _STATEMENT_START.match(line)]
    error_index = min(error_line, len(lines)) - 1
    at_keyword = False
    if error_index in starts:
        keyword_column = len(lines[error_index]) - len(lines[error_index].lstrip(" \t")) + 1
        at_keyword = error_column <= keyword_column
    if at_keyword:
        first = max([start for start in starts if start < error_index], default=0)
        last = error_index
    else:
        first = max([start for start in starts if start <= error_index], default=0)
        last = min([start for start in starts if start > error_index], default=len(lines))
    if not any(lines[index].strip() for index in range(first, last)):
        return False
    for index in range(first, last):
        lines[index] = ""
    return True


def _parse_statements(text: str, path: str, diagnostics: DiagnosticList) -> list[Statement] | None:
    """Parse to AST statements, reporting up to MAX_SYNTAX_ERRORS syntax errors."""
    lines = text.split("\n")
    current = text
    found_error = False
    for _ in range(MAX_SYNTAX_ERRORS):
        try:
            tree = _parser().parse(current)
        except UnexpectedInput as error:
            found_error = True
            message, hint, span = _syntax_problem(error, current)
            _report(diagnostics, path, message, span, hint)
            if not _blank_failed_statement(lines, span.line, span.column):
                return None
            current = "\n".join(lines)
            continue
        return None if found_error else _AstBuilder().transform(tree)
    return None


def _report(diagnostics: DiagnosticList, path: str, message: str, span: Span, hint: str | None = None) -> None:
    end_column = span.end_column if span.end_line == span.line else None
    diagnostics.add(message, SourceLocation(path, span.line, span.column), hint, end_column)


# ---------------------------------------------------------------- checks shared by predicates and circuits


def _fan_in_problem(kind: str, count: int) -> str | None:
    """Return why ``count`` inputs do not suit gate ``kind``, or None if they do."""
    if kind in ("not", "buf"):
        if count != 1:
            return f"{kind} takes exactly 1 input, got {count}"
    elif kind == "maj":
        if count < 3 or count % 2 == 0:
            return f"maj takes an odd number of inputs, at least 3, got {count}"
    elif count < 2:
        return f"{kind} takes at least 2 inputs, got {count}"
    return None


def _input_columns(arity: int) -> list[np.ndarray]:
    """Return, for each input i, a boolean array over truth-table indices that is True where bit i is set."""
    indices = np.arange(2**arity, dtype=np.int64)
    return [(indices >> i & 1).astype(bool) for i in range(arity)]


def _is_dyadic(value: Fraction) -> bool:
    denominator = value.denominator
    return denominator & (denominator - 1) == 0


def _describe_point(names: tuple[str, ...] | list[str], index: int) -> str:
    return ", ".join(f"{name}={'+1' if index >> i & 1 else '-1'}" for i, name in enumerate(names))


def _format_fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _suggestion(name: str, candidates) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean '{close[0]}'?" if close else None


@dataclass
class _Declaration:
    kind: str
    name: Identifier
    node: Statement


# ---------------------------------------------------------------- semantic checks and IR


class _ProgramBuilder:
    """Check a parsed program and build its ``relucc.boolean`` objects, collecting all problems.

    Predicates and circuits are built in source order, so a predicate can call only those
    defined above it. Local functions and the generator declaration may name any object.
    """

    def __init__(self, path: str, text: str, diagnostics: DiagnosticList):
        self.path = path
        self.text = text
        self.diagnostics = diagnostics
        self.declared: dict[str, _Declaration] = {}
        self.failed: set[str] = set()
        self.program = Program(path=path, source_text=text)
        self._circuit_predicates: dict[str, Predicate | None] = {}

    def error(self, message: str, span: Span, hint: str | None = None) -> None:
        _report(self.diagnostics, self.path, message, span, hint)

    def location(self, span: Span) -> SourceLocation:
        return SourceLocation(self.path, span.line, span.column)

    def build(self, statements: list[Statement]) -> Program:
        definitions = self._declare(statements)

        for node in definitions:
            if isinstance(node, PredicateDef):
                self._build_predicate(node)
            elif isinstance(node, CircuitDef):
                self._build_circuit(node)

        for node in definitions:
            if isinstance(node, LocalDef):
                self._build_local_function(node)

        continuous = [node for node in definitions if isinstance(node, (StageDef, ComposeDef))]
        if continuous:
            from relucc.stage_checks import build_continuous

            build_continuous(self, continuous)

        self._set_generator([node for node in statements if isinstance(node, GeneratorDecl)])
        return self.program

    # names

    def _declare(self, statements: list[Statement]) -> list[Statement]:
        """Record every defined name and return the definitions to build, leaving duplicates out."""
        kinds = {PredicateDef: "predicate", CircuitDef: "circuit", LocalDef: "local function", StageDef: "stage",
                 ComposeDef: "composed generator"}
        definitions = []
        for node in statements:
            if isinstance(node, GeneratorDecl):
                continue
            name = node.name
            if not self.check_name(name, "name"):
                continue
            previous = self.declared.get(name.text)
            if previous is not None:
                self.error(
                    f"{name.text} is already defined as a {previous.kind} on line {previous.name.span.line}",
                    name.span, "give each predicate, circuit and local function its own name")
                continue
            self.declared[name.text] = _Declaration(kinds[type(node)], name, node)
            definitions.append(node)
        return definitions

    def check_name(self, name: Identifier, role: str) -> bool:
        if name.text.lower() in RESERVED_NAMES:
            self.error(f"'{name.text}' is a built-in name and cannot be used as a {role}", name.span,
                       "pick another name, because gate names, 'threshold', 'true' and 'false' are reserved in any case")
            return False
        return True

    def check_parameters(self, names: list[Identifier], role: str) -> bool:
        ok = True
        seen: dict[str, Identifier] = {}
        for name in names:
            if not self.check_name(name, role):
                ok = False
            elif name.text in seen:
                self.error(f"{role} {name.text} is listed twice", name.span,
                           f"the first one is at column {seen[name.text].span.column}")
                ok = False
            else:
                seen[name.text] = name
        return ok

    # predicates

    def _build_predicate(self, node: PredicateDef) -> None:
        name = node.name.text
        parameters = node.parameters
        table = None
        if self.check_parameters(parameters, "variable") and self._check_arity(name, len(parameters), node.name.span):
            table = self._tabulate(node)
        if table is None:
            self.failed.add(name)
            return
        variables = tuple(parameter.text for parameter in parameters)
        self.program.predicates[name] = Predicate(
            name, len(variables), table, variables, self.location(node.name.span))

    def _check_arity(self, name: str, arity: int, span: Span) -> bool:
        if arity > MAX_PREDICATE_ARITY:
            self.error(f"{name} has {arity} inputs, more than the limit of {MAX_PREDICATE_ARITY} for a predicate",
                       span, f"a predicate is tabulated on all 2^k inputs, so k is at most {MAX_PREDICATE_ARITY}")
            return False
        if arity == 0:
            self.error(f"{name} has no inputs, but a predicate needs at least one", span,
                       "write the constant +1 or -1 where it is used instead")
            return False
        return True

    def _tabulate(self, node: PredicateDef) -> np.ndarray | None:
        """Return the predicate's truth table as int8 ±1 values, or None after reporting why not."""
        names = [parameter.text for parameter in node.parameters]
        body = node.body
        if isinstance(body, TableList):
            return self._table_from_list(body, len(names))
        if isinstance(body, TableString):
            return self._table_from_string(body, len(names))
        if isinstance(body, FourierBody):
            return self._table_from_fourier(body, names, node.name.text)
        columns = _input_columns(len(names))
        variables = dict(zip(names, columns))
        result = _PredicateEvaluator(self, variables, 2 ** len(names)).evaluate(body)
        if result is None:
            return None
        return np.where(result, 1, -1).astype(np.int8)

    def _check_table_length(self, count: int, arity: int, span: Span) -> bool:
        if count != 2**arity:
            self.error(f"truth table has {count} entries, expected 2^{arity} = {2**arity}", span,
                       "entry j is the value at the input whose bit i is 1 exactly when input i is True")
            return False
        return True

    def _table_from_list(self, body: TableList, arity: int) -> np.ndarray | None:
        values = []
        for entry in body.entries:
            if isinstance(entry, Identifier):
                if entry.text.lower() in ("true", "false"):
                    values.append(1 if entry.text.lower() == "true" else -1)
                    continue
                self.error(f"truth table entry {entry.text} is not a Boolean value", entry.span,
                           "write +1, -1, true or false")
                return None
            value = entry.value()
            if value not in (1, -1):
                hint = "write +1 or -1 in a list, or use a bit string such as \"0110\" for 0/1 values"
                self.error(f"truth table entry {entry.display()} is not +1 or -1", entry.span, hint)
                return None
            values.append(int(value))
        if not self._check_table_length(len(values), arity, body.span):
            return None
        return np.array(values, dtype=np.int8)

    def _table_from_string(self, body: TableString, arity: int) -> np.ndarray | None:
        token = body.token
        values = []
        for offset, character in enumerate(str(token)[1:-1], start=1):
            if character in "01":
                values.append(1 if character == "1" else -1)
            elif character not in " _":
                column = token.column + offset
                self.error(f"invalid character '{character}' in bit string, where only 0 and 1 are allowed",
                           Span(token.line, column, token.line, column + 1),
                           "1 is True and 0 is False. Spaces and underscores may separate digits")
                return None
        if not self._check_table_length(len(values), arity, body.span):
            return None
        return np.array(values, dtype=np.int8)

    def _table_from_fourier(self, body: FourierBody, names: list[str], predicate: str) -> np.ndarray | None:
        coefficients = self._fourier_coefficients(body, names)
        if coefficients is None:
            return None

        # Scale to integers by the common denominator, so the sum is exact at every point.
        denominator = 1
        for coefficient in coefficients.values():
            denominator = math.lcm(denominator, coefficient.denominator)
        bound = sum(abs(coefficient) for coefficient in coefficients.values()) * denominator
        dtype = np.int64 if bound < 2**62 else object
        columns = _input_columns(len(names))
        total = np.zeros(2 ** len(names), dtype=dtype)
        for monomial, coefficient in coefficients.items():
            # The character prod_{i in S} x_i is +1 exactly when an even number of those x_i are -1.
            odd = np.zeros(2 ** len(names), dtype=bool)
            for position in monomial:
                odd ^= ~columns[position]
            character = np.where(odd, -1, 1).astype(np.int64)
            total = total + character.astype(dtype) * int(coefficient * denominator)

        failing = np.flatnonzero(np.abs(total) != denominator)
        if failing.size:
            index = int(failing[0])
            value = Fraction(int(total[index]), denominator)
            squares = sum(coefficient**2 for coefficient in coefficients.values())
            self.error(
                f"the Fourier coefficients of {predicate} do not give a Boolean function: at "
                f"{_describe_point(names, index)} they sum to {_format_fraction(value)}, not +1 or -1",
                body.span,
                f"the squares of a Boolean function's coefficients sum to 1 (Parseval), but these sum to "
                f"{_format_fraction(squares)}")
            return None
        return np.where(total > 0, 1, -1).astype(np.int8)

    def _fourier_coefficients(self, body: FourierBody, names: list[str]) -> dict[tuple[int, ...], Fraction] | None:
        """Map each monomial (sorted 0-based variable positions) to its coefficient."""
        positions = {name: i for i, name in enumerate(names)}
        coefficients: dict[tuple[int, ...], Fraction] = {}
        first_span: dict[tuple[int, ...], Span] = {}
        ok = True
        for term in body.terms:
            monomial = self._monomial(term, positions)
            coefficient = term.coefficient.value()
            if coefficient is None:
                self.error(f"coefficient {term.coefficient.display()} divides by zero", term.coefficient.span)
                ok = False
            if monomial is None or coefficient is None:
                ok = False
                continue
            if monomial in coefficients:
                self.error("this monomial already has a coefficient", term.span,
                           f"the first one is on line {first_span[monomial].line}, so add the two into one term")
                ok = False
                continue
            coefficients[monomial] = coefficient
            first_span[monomial] = term.span
        return coefficients if ok else None

    def _monomial(self, term: FourierTerm, positions: dict[str, int]) -> tuple[int, ...] | None:
        if term.constant is not None:
            if term.constant.value() != 1:
                self.error(f"monomial {term.constant.text} is not a product of variables", term.constant.span,
                           "write 1 for the constant monomial")
                return None
            return ()
        result = []
        for variable in term.variables:
            if variable.text not in positions:
                self.error(f"{variable.text} is not an input of this predicate", variable.span,
                           _suggestion(variable.text, positions) or f"inputs are {', '.join(positions)}")
                return None
            if positions[variable.text] in result:
                self.error(f"{variable.text} appears twice in one monomial", variable.span,
                           "x*x = 1 for x in {-1,+1}, so leave both factors out")
                return None
            result.append(positions[variable.text])
        return tuple(sorted(result))

    def callable_predicate(self, name: Identifier) -> Predicate | None:
        """Resolve a call inside a predicate to a predicate or a tabulated single-output circuit.

        Reports an error and returns None when the name is unknown, defined further down, or
        not callable. Returns None without a report when that definition already failed.
        """
        text = name.text
        if text in self.program.predicates:
            return self.program.predicates[text]
        if text in self.program.circuits:
            return self._circuit_as_predicate(self.program.circuits[text], name.span)
        if text in self.failed:
            return None
        declaration = self.declared.get(text)
        if declaration is None:
            candidates = list(GATE_FUNCTIONS) + list(self.program.predicates) + list(self.program.circuits)
            self.error(f"unknown function {text}", name.span,
                       _suggestion(text, candidates) or "define it as a predicate or circuit above this line")
        elif declaration.kind == "local function":
            self.error(f"{text} is a local function, but only predicates and circuits can be called", name.span)
        else:
            self.error(f"{declaration.kind} {text} is used before its definition on line {declaration.name.span.line}",
                       name.span, "move the definition above its first use")
        return None

    def _circuit_as_predicate(self, circuit: Circuit, span: Span) -> Predicate | None:
        """Tabulate a single-output circuit as a predicate over its inputs in declared order."""
        if len(circuit.outputs) != 1:
            self.error(f"circuit {circuit.name} has {len(circuit.outputs)} outputs ({', '.join(circuit.outputs)}), "
                       "but only a circuit with exactly one output can be used as a predicate", span,
                       "define a circuit for each output you need")
            return None
        if circuit.name not in self._circuit_predicates:
            arity = len(circuit.inputs)
            if arity > MAX_PREDICATE_ARITY or arity == 0:
                self._check_arity(f"circuit {circuit.name}", arity, span)
                return None
            table = circuit.evaluate(input_points(arity))[:, 0]
            self._circuit_predicates[circuit.name] = Predicate(
                circuit.name, arity, table, tuple(circuit.inputs), circuit.location)
        return self._circuit_predicates[circuit.name]

    def dyadic(self, number: Number, role: str) -> Fraction | None:
        """Return a threshold weight or bias as a Fraction, reporting it unless it is dyadic."""
        value = number.value()
        if value is None:
            self.error(f"{role} {number.display()} divides by zero", number.span)
            return None
        if not _is_dyadic(value):
            self.error(f"{role} {number.display()} is not a dyadic rational (its denominator "
                       f"{value.denominator} is not a power of 2)", number.span,
                       "threshold weights and biases must be multiples of a power of 1/2, such as 3, 1/4 or 0.375")
            return None
        return value

    def check_constant(self, constant: Constant) -> bool:
        if constant.number.value() != 1:
            self.error(f"{constant.number.text} is not a Boolean constant", constant.span,
                       "constants are +1, -1, true and false")
            return False
        return True

    # circuits

    def _build_circuit(self, node: CircuitDef) -> None:
        name = node.name.text
        lowering = _CircuitLowering(self, node)
        gates = lowering.lower()
        if gates is None:
            self.failed.add(name)
            return
        self.program.circuits[name] = Circuit(
            name, [signal.text for signal in node.inputs], [signal.text for signal in node.outputs], gates,
            self.location(node.name.span), self.path)

    # local functions

    def _build_local_function(self, node: LocalDef) -> None:
        fields, ok = self._local_fields(node)
        seed_length = self._optional_field(fields, "m", self._positive_integer, "seed length m")
        output_length = self._optional_field(fields, "d", self._positive_integer, "output length d")
        predicate = self._optional_field(fields, "predicate", self._local_predicate)
        ok = ok and seed_length is not None and predicate is not None and ("d" not in fields or output_length is not None)

        subsets = None
        subset_seed = None
        subsets_value = fields.get("subsets")
        if isinstance(subsets_value, SubsetList):
            subsets = self._listed_subsets(subsets_value, seed_length, output_length, predicate)
        elif subsets_value is not None:
            subset_seed = self._random_seed(subsets_value)
            if "d" not in fields:
                self.error("missing field d (the output length), needed to draw random subsets", node.name.span,
                           "add a line such as: d = 200")
                ok = False
            elif ok and subset_seed is not None:
                subsets = self._random_subsets(subsets_value, seed_length, output_length, predicate, subset_seed)

        if not ok or subsets is None:
            self.failed.add(node.name.text)
            return
        self.program.local_functions[node.name.text] = LocalFunction(
            node.name.text, seed_length, predicate, subsets, subset_seed, self.location(node.name.span))

    @staticmethod
    def _optional_field(fields: dict[str, FieldValue], key: str, check, *arguments):
        return check(fields[key], *arguments) if key in fields else None

    def _local_fields(self, node: LocalDef) -> tuple[dict[str, FieldValue], bool]:
        """Return the known fields by name, and whether they were free of unknown, repeated or missing ones."""
        fields: dict[str, FieldValue] = {}
        keys: dict[str, Identifier] = {}
        ok = True
        for item in node.fields:
            key = item.key
            if key.text not in LOCAL_FIELDS:
                self.error(f"unknown field {key.text} in local function {node.name.text}", key.span,
                           _suggestion(key.text, LOCAL_FIELDS) or f"the fields are {', '.join(LOCAL_FIELDS)}")
                ok = False
            elif key.text in fields:
                self.error(f"field {key.text} is set twice", key.span,
                           f"the first setting is on line {keys[key.text].span.line}")
                ok = False
            else:
                fields[key.text] = item.value
                keys[key.text] = key
        for required, meaning in (("m", "the seed length"), ("predicate", "the predicate"), ("subsets", "the subsets")):
            if required not in fields:
                self.error(f"local function {node.name.text} is missing field {required} ({meaning})", node.name.span,
                           "a local function sets m, predicate, subsets and, for random subsets, d")
                ok = False
        return fields, ok

    def _positive_integer(self, value: FieldValue, role: str) -> int | None:
        if not isinstance(value, Number):
            self.error(f"{role} must be a positive integer", value.span)
            return None
        number = value.value()
        if number is None or number.denominator != 1 or number <= 0:
            self.error(f"{role} must be a positive integer, got {value.display()}", value.span)
            return None
        return int(number)

    def _local_predicate(self, value: FieldValue) -> Predicate | None:
        if not isinstance(value, Identifier):
            self.error("predicate must name a predicate or a single-output circuit", value.span,
                       "write e.g. predicate = TSA")
            return None
        text = value.text
        if text in self.program.predicates:
            return self.program.predicates[text]
        if text in self.program.circuits:
            return self._circuit_as_predicate(self.program.circuits[text], value.span)
        if text in self.failed:
            return None
        if text in self.declared:
            self.error(f"{text} is a local function, not a predicate", value.span,
                       "name a predicate or a single-output circuit")
            return None
        candidates = list(self.program.predicates) + list(self.program.circuits)
        self.error(f"unknown predicate {text}", value.span, _suggestion(text, candidates))
        return None

    def _listed_subsets(self, value: SubsetList, seed_length: int | None, output_length: int | None,
                        predicate: Predicate | None) -> np.ndarray | None:
        """Check 1-based subsets as written and return them 0-based with shape [d, k]."""
        rows = []
        ok = True
        for subset in value.subsets:
            row = self._listed_subset(subset, seed_length, predicate)
            if row is None:
                ok = False
            rows.append(row)
        if output_length is not None and len(value.subsets) != output_length:
            self.error(f"{len(value.subsets)} subsets are listed but d = {output_length}", value.span,
                       "list one subset per output, or change d")
            ok = False
        if len(value.subsets) == 0:
            self.error("the subset list is empty", value.span, "list one subset per output")
            ok = False
        if not ok or seed_length is None or predicate is None:
            return None
        return np.array(rows, dtype=np.int64).reshape(len(rows), predicate.arity)

    def _listed_subset(self, subset: SubsetNode, seed_length: int | None, predicate: Predicate | None) -> list[int] | None:
        ok = True
        if predicate is not None and len(subset.indices) != predicate.arity:
            self.error(f"subset has {len(subset.indices)} indices but predicate {predicate.name} takes "
                       f"{predicate.arity} inputs", subset.span)
            ok = False
        row: list[int] = []
        for index in subset.indices:
            value = index.value()
            if value is None or value.denominator != 1:
                self.error(f"seed index {index.display()} is not an integer", index.span)
                ok = False
                continue
            if value < 1 or (seed_length is not None and value > seed_length):
                upper = seed_length if seed_length is not None else "m"
                self.error(f"seed index {index.display()} is out of range 1..{upper}", index.span,
                           "indices are 1-based, from 1 to m, as in the subsets S_l of {1, ..., m}")
                ok = False
                continue
            if int(value) - 1 in row:
                self.error(f"seed index {index.display()} appears twice in this subset", index.span,
                           "a subset lists k distinct indices")
                ok = False
                continue
            row.append(int(value) - 1)
        return row if ok else None

    def _random_seed(self, value: FieldValue) -> int | None:
        if not isinstance(value, CallValue) or value.name.text != "random":
            self.error("subsets must be a list such as [{1, 2, 3}, {2, 5, 8}] or random(seed = N)", value.span)
            return None
        seed = None
        ok = True
        for key, argument in value.arguments:
            if key.text == "max_overlap":
                continue
            if key.text != "seed":
                self.error(f"unknown argument {key.text} of random", key.span,
                           "random takes seed = N and, optionally, max_overlap = T")
                ok = False
                continue
            if seed is not None:
                self.error("seed is given twice", key.span)
                ok = False
                continue
            number = argument.value() if isinstance(argument, Number) else None
            if number is None or number.denominator != 1 or number < 0:
                self.error("seed must be a non-negative integer", argument.span)
                ok = False
                continue
            seed = int(number)
        if ok and seed is None:
            self.error("random needs a seed so that the subsets are reproducible", value.span,
                       "write random(seed = 2022), say")
        return seed if ok else None

    def _random_subsets(self, value: CallValue, seed_length: int, output_length: int, predicate: Predicate,
                        seed: int) -> np.ndarray | None:
        if predicate.arity > seed_length:
            self.error(f"cannot draw subsets of {predicate.arity} distinct indices from m = {seed_length} seed bits",
                       value.span, f"predicate {predicate.name} takes {predicate.arity} inputs, so m must be at least that")
            return None
        max_overlap = self._max_overlap(value)
        if max_overlap is False:
            return None
        if max_overlap is None:
            return random_subsets(seed_length, output_length, predicate.arity, seed)

        from relucc.errors import UsageError
        from relucc.subsets import sample_subsets

        try:
            return sample_subsets(seed_length, output_length, predicate.arity, seed, max_overlap)
        except UsageError as error:
            self.error(error.diagnostics[0].message, value.span,
                       "raise max_overlap, lower d or raise m")
            return None

    def _max_overlap(self, value: CallValue) -> int | None | bool:
        """Return random(...)'s max_overlap bound, None when absent, or False after reporting an error."""
        bounds = [(key, argument) for key, argument in value.arguments if key.text == "max_overlap"]
        if not bounds:
            return None
        if len(bounds) > 1:
            self.error("max_overlap is given twice", bounds[1][0].span)
            return False
        key, argument = bounds[0]
        number = argument.value() if isinstance(argument, Number) else None
        if number is None or number.denominator != 1 or number < 0:
            self.error("max_overlap must be a non-negative integer", argument.span,
                       "it bounds how many seed coordinates two subsets may share")
            return False
        return int(number)

    # the emitted object

    def _set_generator(self, declarations: list[GeneratorDecl]) -> None:
        for position, declaration in enumerate(declarations):
            if position > 0:
                self.error("a program has only one generator declaration", declaration.span,
                           f"the first one is on line {declarations[0].span.line}")
                continue
            name = declaration.name
            if name.text not in self.declared:
                self.error(f"generator names {name.text}, which is not defined", name.span,
                           _suggestion(name.text, self.declared))
                continue
            self.program.generator = name.text
            self.program.generator_location = self.location(name.span)


class _PredicateEvaluator:
    """Evaluate a predicate's expression on every input point at once (boolean arrays, True = +1)."""

    def __init__(self, builder: _ProgramBuilder, variables: dict[str, np.ndarray], size: int):
        self.builder = builder
        self.variables = variables
        self.size = size

    def evaluate(self, node: Expression) -> np.ndarray | None:
        if isinstance(node, Variable):
            return self._variable(node)
        if isinstance(node, Constant):
            return np.full(self.size, True) if self.builder.check_constant(node) else None
        if isinstance(node, Negation):
            operand = self.evaluate(node.operand)
            return None if operand is None else ~operand
        if isinstance(node, Operation):
            return self._operation(node)
        if isinstance(node, Call):
            return self._call(node)
        return self._threshold(node)

    def _evaluate_all(self, nodes: list[Expression]) -> list[np.ndarray] | None:
        values = [self.evaluate(node) for node in nodes]
        return None if any(value is None for value in values) else values

    def _variable(self, node: Variable) -> np.ndarray | None:
        if node.name in self.variables:
            return self.variables[node.name]
        if node.name.lower() in ("true", "false"):
            return np.full(self.size, node.name.lower() == "true")
        hint = _suggestion(node.name, self.variables) or f"the inputs are {', '.join(self.variables)}"
        self.builder.error(f"{node.name} is not an input of this predicate", node.span, hint)
        return None

    def _operation(self, node: Operation) -> np.ndarray | None:
        operands = self._evaluate_all(node.operands)
        if operands is None:
            return None
        if node.operator == "product":
            # A product of ±1 values is +1 exactly when an even number of them are -1.
            return ~np.logical_xor.reduce([~operand for operand in operands])
        return evaluate_gate(Gate("", node.operator, ()), operands, self.size)

    def _call(self, node: Call) -> np.ndarray | None:
        kind = node.name.text.lower()
        if kind in GATE_FUNCTIONS:
            problem = _fan_in_problem(kind, len(node.arguments))
            if problem:
                self.builder.error(problem, node.name.span)
                return None
            operands = self._evaluate_all(node.arguments)
            if operands is None:
                return None
            return evaluate_gate(Gate("", kind, ()), operands, self.size)

        predicate = self.builder.callable_predicate(node.name)
        operands = self._evaluate_all(node.arguments)
        if predicate is None or operands is None:
            return None
        if len(operands) != predicate.arity:
            self.builder.error(f"{predicate.name} takes {predicate.arity} inputs, got {len(operands)}", node.name.span,
                               f"its inputs are {', '.join(predicate.variables)}")
            return None
        index = np.zeros(self.size, dtype=np.int64)
        for position, operand in enumerate(operands):
            index |= operand.astype(np.int64) << position
        return predicate.truth_table[index] > 0

    def _threshold(self, node: Threshold) -> np.ndarray | None:
        parameters = _threshold_parameters(self.builder, node)
        operands = self._evaluate_all([term.operand for term in node.terms])
        if parameters is None or operands is None:
            return None
        weights, bias = parameters
        gate = Gate("", "threshold", (), weights=weights, bias=bias)
        return evaluate_gate(gate, operands, self.size)


def _threshold_parameters(builder: _ProgramBuilder, node: Threshold) -> tuple[tuple[Fraction, ...], Fraction] | None:
    """Check that a threshold gate's weights and bias are dyadic and return them."""
    weights = []
    ok = True
    for term in node.terms:
        weight = Fraction(1) if term.coefficient is None else builder.dyadic(term.coefficient, "weight")
        if weight is None:
            ok = False
            continue
        weights.append(-weight if term.negative else weight)
    bias = builder.dyadic(node.bias, "bias")
    if not ok or bias is None:
        return None
    return tuple(weights), bias


class _CircuitLowering:
    """Turn a circuit's signal definitions into gates in topological order.

    Each ``signal = expression`` becomes one gate named ``signal``. Subexpressions that are
    not plain signal names become gates of their own, named ``signal_1``, ``signal_2``, ...
    (skipping names already in use). A chain ``a * b * ...`` of n factors is the ±1 product,
    which is XOR for odd n and XNOR for even n. Negated inputs become NOT gates.
    """

    def __init__(self, builder: _ProgramBuilder, node: CircuitDef):
        self.builder = builder
        self.node = node
        self.gates: list[Gate] = []
        self.ok = True
        self.defined: dict[str, Identifier] = {}
        self._target = ""
        self._counter = 0

    def lower(self) -> list[Gate] | None:
        targets = self._declare_signals()
        for gate_def in self.node.gates:
            if gate_def.target.text not in targets:
                continue
            self._target = gate_def.target.text
            self._counter = 0
            self._gate(gate_def.target.text, gate_def.expression, gate_def.target.span)
        self._check_outputs()
        # Look for cycles even after other errors, so that they are reported in the same run.
        order = self._topological_order()
        return order if self.ok else None

    def _declare_signals(self) -> set[str]:
        node = self.node
        builder = self.builder
        if not builder.check_parameters(node.inputs, "input"):
            self.ok = False
        for signal in node.inputs:
            self.defined.setdefault(signal.text, signal)
        targets = set()
        for gate_def in node.gates:
            target = gate_def.target
            if not builder.check_name(target, "signal name"):
                self.ok = False
                continue
            if target.text in self.defined:
                builder.error(f"signal {target.text} is already defined on line {self.defined[target.text].span.line}",
                              target.span, "each signal is assigned once, and inputs are never assigned")
                self.ok = False
                continue
            self.defined[target.text] = target
            targets.add(target.text)
        return targets

    def _check_outputs(self) -> None:
        seen = set()
        for output in self.node.outputs:
            if output.text in seen:
                self.builder.error(f"output {output.text} is listed twice", output.span)
                self.ok = False
            elif output.text not in self.defined:
                self.builder.error(f"output {output.text} is never assigned", output.span,
                                   _suggestion(output.text, self.defined) or f"add a line: {output.text} = ...")
                self.ok = False
            seen.add(output.text)

    def _fresh_name(self) -> str:
        while True:
            self._counter += 1
            name = f"{self._target}_{self._counter}"
            if name not in self.defined:
                self.defined[name] = Identifier(name, Span(0, 0, 0, 0))
                return name

    def _emit(self, name: str, kind: str, inputs: list[str], span: Span, **parameters) -> None:
        self.gates.append(Gate(name, kind, tuple(inputs), location=self.builder.location(span), **parameters))

    def _signal(self, node: Expression) -> str | None:
        """Return the signal that carries ``node``'s value, adding gates for it where needed."""
        if isinstance(node, Variable) and node.name.lower() not in ("true", "false"):
            if node.name not in self.defined:
                self.builder.error(f"signal {node.name} is not defined in circuit {self.node.name.text}", node.span,
                                   _suggestion(node.name, self.defined))
                self.ok = False
                return None
            return node.name
        name = self._fresh_name()
        self._gate(name, node, node.span)
        return name

    def _signals(self, nodes: list[Expression]) -> list[str] | None:
        signals = [self._signal(node) for node in nodes]
        return None if any(signal is None for signal in signals) else signals

    def _gate(self, name: str, node: Expression, span: Span) -> None:
        """Add the gate ``name`` that computes ``node``."""
        if isinstance(node, Variable):
            if node.name.lower() in ("true", "false"):
                self._emit(name, "const", [], span, value=1 if node.name.lower() == "true" else -1)
                return
            signal = self._signal(node)
            if signal is not None:
                self._emit(name, "buf", [signal], span)
        elif isinstance(node, Constant):
            if self.builder.check_constant(node):
                self._emit(name, "const", [], span, value=1)
            else:
                self.ok = False
        elif isinstance(node, Negation):
            self._negation(name, node, span)
        elif isinstance(node, Operation):
            signals = self._signals(node.operands)
            if signals is not None:
                kind = node.operator
                if kind == "product":
                    kind = "xor" if len(signals) % 2 == 1 else "xnor"
                self._emit(name, kind, signals, span)
        elif isinstance(node, Call):
            self._call(name, node, span)
        else:
            self._threshold(name, node, span)

    def _negation(self, name: str, node: Negation, span: Span) -> None:
        operand = node.operand
        # Fold "-1" and "not true" into a constant instead of a NOT gate over a constant.
        if isinstance(operand, Constant):
            if self.builder.check_constant(operand):
                self._emit(name, "const", [], span, value=-1)
            else:
                self.ok = False
            return
        if isinstance(operand, Variable) and operand.name.lower() in ("true", "false"):
            self._emit(name, "const", [], span, value=-1 if operand.name.lower() == "true" else 1)
            return
        signal = self._signal(operand)
        if signal is not None:
            self._emit(name, "not", [signal], span)

    def _call(self, name: str, node: Call, span: Span) -> None:
        kind = node.name.text.lower()
        if kind not in GATE_FUNCTIONS:
            self.builder.error(f"{node.name.text} is not a gate. A circuit can use {', '.join(GATE_FUNCTIONS)} "
                               "and threshold", node.name.span,
                               "to use a predicate, write its formula here or make it a circuit")
            self.ok = False
            return
        problem = _fan_in_problem(kind, len(node.arguments))
        if problem:
            self.builder.error(problem, node.name.span)
            self.ok = False
            return
        signals = self._signals(node.arguments)
        if signals is not None:
            self._emit(name, kind, signals, span)

    def _threshold(self, name: str, node: Threshold, span: Span) -> None:
        parameters = _threshold_parameters(self.builder, node)
        signals = self._signals([term.operand for term in node.terms])
        if parameters is None:
            self.ok = False
        if parameters is None or signals is None:
            return
        weights, bias = parameters
        self._emit(name, "threshold", signals, span, weights=weights, bias=bias)

    def _topological_order(self) -> list[Gate] | None:
        """Order gates so each comes after its inputs, and report every combinational cycle."""
        by_name = {gate.name: gate for gate in self.gates}
        state: dict[str, str] = {}
        order: list[Gate] = []
        reported: set[frozenset[str]] = set()
        for root in self.gates:
            if root.name in state:
                continue
            state[root.name] = "open"
            path = [root.name]
            stack = [iter(root.inputs)]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    stack.pop()
                    done = path.pop()
                    state[done] = "done"
                    order.append(by_name[done])
                elif child in by_name and state.get(child) == "open":
                    self._report_cycle(path[path.index(child):], by_name, reported)
                elif child in by_name and child not in state:
                    state[child] = "open"
                    path.append(child)
                    stack.append(iter(by_name[child].inputs))
        return None if reported else order

    def _report_cycle(self, cycle: list[str], by_name: dict[str, Gate], reported: set[frozenset[str]]) -> None:
        if frozenset(cycle) in reported:
            return
        reported.add(frozenset(cycle))
        chain = " -> ".join(cycle + [cycle[0]])
        location = by_name[cycle[0]].location
        span = Span(location.line, location.column, location.line, location.column + len(cycle[0]))
        self.builder.error(f"combinational cycle in circuit {self.node.name.text}: {chain}", span,
                           "each arrow points from a signal to one it is computed from, and a circuit must be acyclic")


# ---------------------------------------------------------------- public API


def parse_source(text: str, path: str = "<string>") -> Program:
    """Parse and check ``.circ`` source text, raising one SourceError that lists every problem found.

    ``Program.generator`` is None when the source has no ``generator`` declaration.
    """
    diagnostics = DiagnosticList(source_text=text)
    statements = _parse_statements(text, path, diagnostics)
    if statements is None:
        diagnostics.raise_if_any()

    program = _ProgramBuilder(path, text, diagnostics).build(statements)
    diagnostics.items.sort(key=lambda item: (item.location.line, item.location.column) if item.location else (0, 0))
    diagnostics.raise_if_any()
    return program


def parse_file(path: str | Path) -> Program:
    """Read a ``.circ`` file as UTF-8 and parse it with ``parse_source``."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SourceError(f"cannot read {name}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise SourceError(f"{name} is not UTF-8 text: {error.reason} at byte {error.start}") from error
    return parse_source(text, name)
