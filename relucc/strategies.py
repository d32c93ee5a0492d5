"""Lowering strategies for predicate networks, and the cost model that picks one.

A strategy turns a predicate P : {±1}^k -> {±1} into a ReLU network that equals P on every point
of {±1}^k. ``paper`` is the Fourier construction of Lemma 3.3 (relucc.fourier). The others
use biases, which that construction does not:

- ``tree``: Fourier monomials as balanced trees of two-neuron products, sub-products shared;
- ``sums``: every Fourier monomial as a function of its coordinate sum, one hidden layer;
- ``points``: one hidden neuron per true point (or per false point), one hidden layer;
- ``cubes``: one hidden neuron per subcube of a disjoint cover of the true (or false) points;
- ``symmetric``: P as a function of sum_i s_i x_i with signs s_i, one hidden layer;
- ``decompose``: P = g(Q(x_A), R(x_B)) over disjoint variable sets, recursively, with the
  cheapest one-layer strategy at the leaves and one or two neurons for the gate g.

Strategies other than ``paper`` describe their networks as terms (``Term``): values with a
level (the hidden layer after which the value is available) and an exact range on the domain.
``lower_terms`` places the terms in layers and carries a value that is needed later with one
neuron per layer, phi(t - low) + low, exact because t >= low on the domain.

The cost model (``select_strategy``) builds every applicable strategy, runs the optimisation
passes on it, computes its certificate and keeps the best for the objective: ``size`` (hidden
neurons), ``depth`` (affine layers) or ``lipschitz`` (certified l2 bound), the other two
breaking ties in that order.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from relucc import fourier
from relucc.boolean import Predicate, input_points
from relucc.network import LinearForm, Network, NetworkBuilder

logger = logging.getLogger(__name__)

OBJECTIVES = ("size", "depth", "lipschitz")


# ---------------------------------------------------------------------------------------------
# Terms: values computed by a layered network, before they are placed in layers.


class Term:
    """A value on the domain {±1}^k: computed after hidden layer ``level``, within [low, high]."""

    level: int
    low: Fraction
    high: Fraction


class InputTerm(Term):
    """An affine form of the inputs (a literal x_i or -x_i, or a constant); level 0, no neurons."""

    def __init__(self, form: LinearForm):
        self.form = form
        self.level = 0
        spread = sum(abs(c) for c in form.coefficients.values())
        self.low = form.constant - spread
        self.high = form.constant + spread


class Combination(Term):
    """constant + sum_i coefficient_i * part_i: a linear combination, no neurons of its own.

    Its level is the highest level among its parts, and parts from lower levels are carried up.
    Its range comes from interval arithmetic over the parts' ranges.
    """

    def __init__(self, parts: list[tuple[Fraction, Term]], constant: Fraction | int = 0):
        self.parts = [(Fraction(c), term) for c, term in parts if c != 0]
        self.constant = Fraction(constant)
        self.level = max((term.level for _, term in self.parts), default=0)
        self.low = self.constant + sum(min(c * t.low, c * t.high) for c, t in self.parts)
        self.high = self.constant + sum(max(c * t.low, c * t.high) for c, t in self.parts)


class Gadget(Term):
    """One hidden layer of neurons over its operands' values, read out by an affine map.

    ``neurons(forms)`` returns the pre-activations given the operands as linear forms over the
    previous layer; ``read(units)`` returns the value as a linear form over the new units.
    ``low`` and ``high`` are the exact range of the value on the domain, stated by the builder.
    """

    def __init__(self, operands: list[Term], neurons: Callable, read: Callable, role: str,
                 low: Fraction | int = -1, high: Fraction | int = 1):
        self.operands = list(operands)
        self.neurons = neurons
        self.read = read
        self.role = role
        self.level = max((op.level for op in self.operands), default=0) + 1
        self.low = Fraction(low)
        self.high = Fraction(high)


def constant_term(value: Fraction | int) -> Term:
    return InputTerm(LinearForm.const(value))


def literal_terms(arity: int) -> list[InputTerm]:
    """Return the terms x_1, ..., x_k; share them so that each variable is carried up only once."""
    return [InputTerm(LinearForm.unit(i)) for i in range(arity)]


def linear_sum(parts: list[tuple[Fraction, Term]], constant: Fraction | int = 0) -> Term:
    """Return constant + sum c_i t_i, nested so that all parts of one level are carried up together.

    Nested combinations are flattened first. The parts of the lowest level form one combination,
    which joins the parts of the next level, and so on; a value that is needed at a higher level
    then costs one carrying neuron per layer for the whole group instead of one per part.
    """
    flat: list[tuple[Fraction, Term]] = []
    total_constant = Fraction(constant)
    pending = [(Fraction(c), t) for c, t in parts]
    while pending:
        coefficient, term = pending.pop()
        if isinstance(term, Combination):
            total_constant += coefficient * term.constant
            pending.extend((coefficient * c, t) for c, t in term.parts)
        elif isinstance(term, InputTerm) and not term.form.coefficients:
            total_constant += coefficient * term.form.constant
        else:
            flat.append((coefficient, term))
    flat.reverse()
    if not flat:
        return constant_term(total_constant)

    levels = sorted({term.level for _, term in flat})
    carried: Term | None = None
    for level in levels:
        group = [(c, t) for c, t in flat if t.level == level]
        if carried is not None:
            group.insert(0, (Fraction(1), carried))
        carried = Combination(group, total_constant if level == levels[0] else 0)
    return carried


# ---------------------------------------------------------------------------------------------
# Gadgets. Each is exact on the stated domain; the docstring gives formula, domain and cost.


def product_term(left: Term, right: Term) -> Gadget:
    """a*b = 2 phi(a + b - 1) + 2 phi(-a - b - 1) - 1 for a, b in {±1}; 2 neurons, 1 hidden layer.

    Proof: a + b is 2, 0 or -2. At a = b = 1 the neurons are phi(1) = 1 and phi(-3) = 0; at
    a = b = -1 they are 0 and 1; at a != b both are phi(-1) = 0. So the sum of the two neurons
    is [a = b] = (1 + ab)/2, and 2 [a = b] - 1 = ab.

    Two neurons is the least possible: with one neuron the value would be c phi(w a + v b + t)
    + e, so phi(L) with L = w a + v b + t would have to take one value u at (1, 1) and (-1, -1)
    and another value u' at (1, -1) and (-1, 1). Both pairs have the same mean of L, namely t.
    If u = 0 < u', then L(1, -1) = L(-1, 1) = u' and t = u' > 0, yet L <= 0 at (1, 1) and
    (-1, -1) gives t <= 0; u' = 0 < u fails the same way; and if neither value is 0, L itself
    must be affine in ab, which forces w = v = 0 and u = u'.
    """
    return Gadget([left, right],
                  lambda forms: [forms[0] + forms[1] - LinearForm.const(1),
                                 -forms[0] - forms[1] - LinearForm.const(1)],
                  lambda units: (units[0] + units[1]).scale(2) - LinearForm.const(1),
                  "product")


def and_term(left: Term, right: Term, left_sign: int = 1, right_sign: int = 1, output_sign: int = 1) -> Gadget:
    """o * AND(s a, t b) = o * (phi(s a + t b) - 1) for a, b in {±1} and signs s, t, o; 1 neuron.

    Proof: s a + t b is 2 exactly when s a = t b = 1, and 0 or -2 otherwise, so phi(s a + t b) - 1
    is +1 when both are True and -1 otherwise. With the signs this covers AND, OR (= -AND(-a, -b)),
    NAND, NOR and the implications: every two-input gate that is not XOR, XNOR or degenerate.
    """
    return Gadget([left, right],
                  lambda forms: [forms[0].scale(left_sign) + forms[1].scale(right_sign)],
                  lambda units: (units[0] - LinearForm.const(1)).scale(output_sign),
                  "and")


def cube_indicator_term(literals: list[Term], cubes: list[dict[int, int]], outside: int) -> Gadget:
    """P = outside - 2 outside * sum_C phi(sum_{i in C} t_i x_i - (|C| - 1)), disjoint cubes C.

    A cube C fixes x_i = t_i for i in C. On {±1}^k, sum_{i in C} t_i x_i = |C| - 2 (number of
    fixed coordinates where x differs from t), so the neuron is 1 inside C and phi(<= -1) = 0
    outside. The cubes are disjoint and cover exactly the points where P != ``outside``, so the
    sum of the neurons is the indicator of that set. One neuron per cube, 1 hidden layer.
    """
    def neurons(forms: list[LinearForm]) -> list[LinearForm]:
        result = []
        for cube in cubes:
            form = LinearForm.const(1 - len(cube))
            for index, value in cube.items():
                form = form + forms[index].scale(value)
            result.append(form)
        return result

    def read(units: list[LinearForm]) -> LinearForm:
        total = LinearForm.const(outside)
        for unit in units:
            total = total + unit.scale(-2 * outside)
        return total

    return Gadget(literals, neurons, read, "cube")


def sum_function_term(literals: list[Term], signs: dict[int, int], values: list[int]) -> Term:
    """g(s) with s = sum_{i} signs[i] x_i, given g's values at s = -n, -n + 2, ..., n (n = |signs|).

    Writes the piecewise-linear interpolant as a linear part plus kinks: with slopes
    m_j = (v_{j+1} - v_j)/2 on [s_j, s_{j+1}], g(s) = v_0 + m_0 (s - s_0)
    + sum_{j=1}^{n-1} (m_j - m_{j-1}) phi(s - s_j), or the mirror image anchored at s_n with
    kinks phi(s_j - s) and the same coefficients. Exact at every s_j because the interpolant
    is linear between consecutive points. Cost: one neuron per j where the slope changes, in
    one hidden layer, plus the linear part when its slope is not zero (one neuron to carry it,
    shared with every other linear part of the same network, see ``linear_sum``).
    """
    order = sorted(signs)
    n = len(order)
    points = [2 * j - n for j in range(n + 1)]
    slopes = [Fraction(values[j + 1] - values[j], 2) for j in range(n)]
    if n == 0:
        return constant_term(values[0])
    kinks = [j for j in range(1, n) if slopes[j] != slopes[j - 1]]
    # Anchor at the end whose slope is zero when there is one: the linear part is then a constant.
    from_right = slopes[0] != 0 and slopes[-1] == 0
    orientation = -1 if from_right else 1
    if from_right:
        linear_constant, linear_slope, anchor = Fraction(values[n]), slopes[-1], points[n]
    else:
        linear_constant, linear_slope, anchor = Fraction(values[0]), slopes[0], points[0]

    def sum_form(forms: list[LinearForm]) -> LinearForm:
        total = LinearForm()
        for index in order:
            total = total + forms[index].scale(signs[index])
        return total

    parts: list[tuple[Fraction, Term]] = []
    if linear_slope != 0:
        linear = LinearForm({i: Fraction(signs[i]) for i in order}, -Fraction(anchor))
        parts.append((linear_slope, InputTerm(linear)))
    if kinks:
        coefficients = [slopes[j] - slopes[j - 1] for j in kinks]
        kink_values = [sum(c * max(0, orientation * (s - points[j])) for c, j in zip(coefficients, kinks))
                       for s in points]
        parts.append((Fraction(1), Gadget(
            literals,
            lambda forms: [(sum_form(forms) - LinearForm.const(points[j])).scale(orientation) for j in kinks],
            lambda units: _weighted(units, coefficients),
            "sum_kink", min(kink_values), max(kink_values))))
    return linear_sum(parts, linear_constant)


def _weighted(units: list[LinearForm], coefficients: list[Fraction]) -> LinearForm:
    total = LinearForm()
    for unit, coefficient in zip(units, coefficients):
        total = total + unit.scale(coefficient)
    return total


# ---------------------------------------------------------------------------------------------
# Placing terms in layers.


def _producers_first(output: Term) -> list[Term]:
    order: list[Term] = []
    seen: set[int] = set()
    stack: list[tuple[Term, bool]] = [(output, False)]
    while stack:
        term, expanded = stack.pop()
        if expanded:
            order.append(term)
            continue
        if id(term) in seen:
            continue
        seen.add(id(term))
        stack.append((term, True))
        for child in reversed(_children(term)):
            if id(child) not in seen:
                stack.append((child, False))
    return order


def _children(term: Term) -> list[Term]:
    if isinstance(term, Gadget):
        return term.operands
    if isinstance(term, Combination):
        return [t for _, t in term.parts]
    return []


def _needed_levels(order: list[Term], output: Term) -> dict[int, set[int]]:
    """For each term, the levels at which some consumer reads it (a carried value fills the gap)."""
    needed: dict[int, set[int]] = {id(t): set() for t in order}
    needed[id(output)].add(output.level)
    for term in reversed(order):
        levels = needed[id(term)]
        if not levels:
            continue
        levels.update(range(term.level, max(levels) + 1))
        if isinstance(term, Gadget):
            for operand in term.operands:
                needed[id(operand)].add(term.level - 1)
        elif isinstance(term, Combination):
            for _, part in term.parts:
                needed[id(part)].add(term.level)
    return needed


def lower_terms(arity: int, output: Term) -> Network:
    """Place the terms feeding ``output`` in hidden layers and return the network computing it.

    A gadget at level l reads its operands at level l - 1. A term read above its own level is
    carried by one neuron per layer, phi(t - low) + low, which is exact because t >= low.
    Constants are never carried: they are folded into biases.
    """
    order = _producers_first(output)
    needed = _needed_levels(order, output)
    builder = NetworkBuilder(arity)
    forms: dict[tuple[int, int], LinearForm] = {}

    for term in order:
        if term.level == 0 and needed[id(term)]:
            forms[(id(term), 0)] = _native_form(term, 0, forms)
    for level in range(1, output.level + 1):
        neurons, roles, placements = [], [], []
        for term in order:
            if level not in needed[id(term)]:
                continue
            if isinstance(term, Gadget) and term.level == level:
                gadget_neurons = term.neurons([forms[(id(op), level - 1)] for op in term.operands])
                placements.append((term, len(neurons), len(gadget_neurons)))
                neurons.extend(gadget_neurons)
                roles.extend([term.role] * len(gadget_neurons))
            elif term.level < level and not _is_constant(term):
                placements.append((term, len(neurons), 0))
                neurons.append(forms[(id(term), level - 1)] - LinearForm.const(term.low))
                roles.append("carry")
        units = builder.hidden_layer(neurons, roles)
        for term, start, count in placements:
            if count:
                forms[(id(term), level)] = term.read(units[start:start + count])
            else:
                forms[(id(term), level)] = units[start] + LinearForm.const(term.low)
        for term in order:
            if level in needed[id(term)]:
                if isinstance(term, Combination) and term.level == level:
                    forms[(id(term), level)] = _native_form(term, level, forms)
                elif _is_constant(term):
                    forms[(id(term), level)] = LinearForm.const(term.low)
    return builder.finish([forms[(id(output), output.level)]], ["output"])


def _is_constant(term: Term) -> bool:
    return isinstance(term, InputTerm) and not term.form.coefficients


def _native_form(term: Term, level: int, forms: dict) -> LinearForm:
    if isinstance(term, InputTerm):
        return term.form
    total = LinearForm.const(term.constant)
    for coefficient, part in term.parts:
        total = total + forms[(id(part), level)].scale(coefficient)
    return total


# ---------------------------------------------------------------------------------------------
# Predicate analysis shared by the strategies.


def support(table: np.ndarray, arity: int) -> list[int]:
    """Return the variables (0-based) the truth table depends on."""
    indices = np.arange(table.shape[0])
    return [i for i in range(arity) if np.any(table != table[indices ^ (1 << i)])]


def restrict(table: np.ndarray, arity: int, variables: list[int]) -> np.ndarray:
    """Return the truth table over ``variables`` (bit j = variables[j]) of a table that ignores the rest."""
    indices = np.arange(2 ** len(variables))
    full = np.zeros_like(indices)
    for j, variable in enumerate(variables):
        full |= ((indices >> j) & 1) << variable
    return table[full]


def symmetric_signs(table: np.ndarray, arity: int, variables: list[int]) -> dict[int, int] | None:
    """Return signs s with P a function of sum_{i in variables} s_i x_i, or None when there are none.

    Tries every sign pattern with the first variable positive (negating all signs gives the same
    partition of the domain), so the cost is 2^(n-1) passes over the table for n variables.
    """
    points = input_points(arity).astype(np.int64)[:, variables]
    for pattern in itertools.product((1, -1), repeat=max(len(variables) - 1, 0)):
        signs = np.array((1,) + pattern, dtype=np.int64)[:len(variables)]
        sums = points @ signs
        values = np.zeros(2 * len(variables) + 1, dtype=np.int64)
        values[sums + len(variables)] = table
        if np.array_equal(values[sums + len(variables)], table):
            return {variable: int(sign) for variable, sign in zip(variables, signs)}
    return None


def disjoint_cube_cover(members: np.ndarray, arity: int) -> list[dict[int, int]]:
    """Cover the points where ``members`` is True by disjoint subcubes, largest first (greedy).

    A cube is a base point and a set F of free coordinates. For a given F, a vector of flags
    "the cube through p with free set F lies inside the uncovered members" comes from k
    AND-shifts of the membership vector; the largest such cube is taken, removed, and the
    search resumes at the same free set, because cubes that did not fit before cannot fit now.
    NOTE: greedy, so the cover is not always the smallest one.
    """
    remaining = members.copy()
    indices = np.arange(2**arity)
    masks = sorted(range(2**arity), key=lambda mask: -bin(mask).count("1"))
    cubes = []
    start = 0
    while remaining.any():
        for position in range(start, len(masks)):
            free = masks[position]
            inside = remaining.copy()
            for bit in range(arity):
                if free >> bit & 1:
                    inside &= inside[indices ^ (1 << bit)]
            candidates = np.nonzero(inside)[0]
            if candidates.size:
                base = int(candidates[0])
                cube = {i: (1 if base >> i & 1 else -1) for i in range(arity) if not free >> i & 1}
                cubes.append(cube)
                remaining[_cube_points(base, free, arity)] = False
                start = position
                break
    return cubes


def _cube_points(base: int, free: int, arity: int) -> list[int]:
    bits = [1 << i for i in range(arity) if free >> i & 1]
    points = [base]
    for bit in bits:
        points += [p ^ bit for p in points]
    return points


# ---------------------------------------------------------------------------------------------
# Strategies.


def tree_term(predicate: Predicate) -> Term:
    """Build the Fourier monomials as balanced trees of ``product_term``, sharing sub-products.

    Each round pairs the factors of every monomial, preferring the pair that occurs in the most
    monomials, and computes each distinct pair once. A degree-j monomial is ready after
    ceil(log2 j) rounds. The readout is sum_S Phat(S) * monomial_S through ``linear_sum``.
    """
    coefficients = fourier.fourier_coefficients(predicate.truth_table)
    literals = literal_terms(predicate.arity)
    products: dict[frozenset, Term] = {frozenset([i]): literals[i] for i in range(predicate.arity)}
    factors = {subset: [frozenset([i]) for i in subset] for subset in coefficients if subset}
    while any(len(f) > 1 for f in factors.values()):
        counts: dict[frozenset, int] = {}
        for parts in factors.values():
            for left, right in itertools.combinations(parts, 2):
                key = frozenset([left, right])
                counts[key] = counts.get(key, 0) + 1
        for subset, parts in factors.items():
            factors[subset] = _pair_round(parts, counts, products)
    parts = [(coefficients[s], products[f[0]]) for s, f in factors.items()]
    return linear_sum(parts, coefficients.get((), 0))


def _pair_round(parts: list[frozenset], counts: dict, products: dict) -> list[frozenset]:
    remaining = list(parts)
    paired = []
    while len(remaining) > 1:
        left, right = max(itertools.combinations(remaining, 2),
                          key=lambda pair: (counts[frozenset(pair)], -min(min(pair[0]), min(pair[1]))))
        merged = left | right
        if merged not in products:
            products[merged] = product_term(products[left], products[right])
        paired.append(merged)
        remaining.remove(left)
        remaining.remove(right)
    return paired + remaining


def sums_term(predicate: Predicate) -> Term:
    """Build every Fourier monomial prod_{i in S} x_i as the parity of sum_{i in S} x_i, one hidden layer.

    The monomial is (-1)^(|S| - j) at j coordinates equal to +1, a function of the coordinate
    sum built by ``sum_function_term`` with |S| - 1 kinks; all linear parts share one neuron.
    """
    coefficients = fourier.fourier_coefficients(predicate.truth_table)
    literals = literal_terms(predicate.arity)
    parts = []
    for subset, coefficient in coefficients.items():
        if subset:
            n = len(subset)
            parity = [(-1) ** (n - j) for j in range(n + 1)]
            parts.append((coefficient, sum_function_term(literals, {i: 1 for i in subset}, parity)))
    return linear_sum(parts, coefficients.get((), 0))


def points_term(predicate: Predicate) -> Term:
    """P = -1 + 2 sum_{t: P(t) = 1} phi(<t, x> - (k - 1)), or the same over false points.

    <t, x> = k - 2 dist(t, x), so each neuron is the indicator of x = t (``cube_indicator_term``
    with cubes of single points). Uses the smaller of the true and false sets; 1 hidden layer.
    """
    table = predicate.truth_table
    if np.all(table == table[0]):
        return constant_term(int(table[0]))
    outside = -1 if np.count_nonzero(table == 1) <= np.count_nonzero(table == -1) else 1
    points = input_points(predicate.arity)
    cubes = [{i: int(points[p, i]) for i in range(predicate.arity)} for p in np.nonzero(table != outside)[0]]
    return cube_indicator_term(literal_terms(predicate.arity), cubes, outside)


def cubes_term(predicate: Predicate) -> Term:
    """Like ``points_term`` with a greedy disjoint subcube cover of the smaller side; 1 hidden layer."""
    return _cubes_for_table(predicate.truth_table, predicate.arity, literal_terms(predicate.arity),
                            list(range(predicate.arity)))


def _cubes_for_table(table: np.ndarray, arity: int, literals: list[Term], variables: list[int]) -> Term:
    if np.all(table == table[0]):
        return constant_term(int(table[0]))
    covers = {outside: disjoint_cube_cover(table != outside, arity) for outside in (-1, 1)}
    outside = min((-1, 1), key=lambda side: len(covers[side]))
    cubes = [{variables[i]: value for i, value in cube.items()} for cube in covers[outside]]
    return cube_indicator_term(literals, cubes, outside)


def symmetric_term(predicate: Predicate) -> Term:
    """P(x) = g(sum_{i in support} s_i x_i) via ``sum_function_term``; needs such signs s to exist."""
    table = predicate.truth_table
    variables = support(table, predicate.arity)
    signs = symmetric_signs(table, predicate.arity, variables)
    if signs is None:
        raise StrategyNotApplicable("the predicate is not a function of a signed coordinate sum")
    return _symmetric_from_signs(table, predicate.arity, literal_terms(predicate.arity), variables, signs)


def _symmetric_from_signs(table, arity, literals, variables, signs) -> Term:
    points = input_points(arity).astype(np.int64)
    sums = points[:, variables] @ np.array([signs[v] for v in variables], dtype=np.int64)
    n = len(variables)
    values = [0] * (n + 1)
    for index, total in enumerate(sums):
        values[(int(total) + n) // 2] = int(table[index])
    return sum_function_term(literals, signs, values)


class StrategyNotApplicable(Exception):
    """Raised by a strategy that cannot build a network for this predicate (with the reason)."""


# ---------------------------------------------------------------------------------------------
# Disjoint-support decomposition.


@dataclass
class _Candidate:
    term: Term
    size: int
    depth: int


def decompose_term(predicate: Predicate, objective: str = "size") -> Term:
    """P = g(Q(x_A), R(x_B)) with A, B disjoint, recursively (Ashenhurst-Curtis simple decomposition).

    Over its support, P splits along a bipartition (A, B) exactly when the 2^|A| x 2^|B| matrix
    M[a, b] = P(a, b) has two distinct rows and two distinct columns. Q(a) is +1 on the rows
    equal to the first distinct row, R(b) likewise on columns, and g is the 2 x 2 table read off
    M: XOR-like g costs 2 neurons (``product_term``), any other g 1 neuron (``and_term``).
    Every bipartition is tried, and every sub-function also gets the one-layer ``symmetric``
    and ``cubes`` constructions; the candidate with the fewest neurons wins (``objective`` =
    ``depth``: the shallowest). Sub-results are cached by variables and truth table.
    """
    literals = literal_terms(predicate.arity)
    cache: dict = {}
    variables = list(range(predicate.arity))
    return _best_decomposition(predicate.truth_table, variables, literals, objective, cache).term


def _rank(candidate: _Candidate, objective: str) -> tuple[int, int]:
    return (candidate.depth, candidate.size) if objective == "depth" else (candidate.size, candidate.depth)


def _measure(term: Term, arity: int) -> _Candidate:
    network = lower_terms(arity, term)
    return _Candidate(term, network.size, network.depth)


def _best_decomposition(table: np.ndarray, variables: list[int], literals: list[Term], objective: str,
                        cache: dict) -> _Candidate:
    arity = len(variables)
    key = (tuple(variables), table.tobytes())
    if key in cache:
        return cache[key]
    used = support(table, arity)
    if len(used) < arity:
        result = _best_decomposition(restrict(table, arity, used), [variables[i] for i in used],
                                     literals, objective, cache)
        cache[key] = result
        return result

    total_arity = len(literals)
    if arity == 0:
        candidates = [_measure(constant_term(int(table[0])), total_arity)]
    elif arity == 1:
        sign = int(table[1])  # table[1] is P at x = +1: P = x or P = -x
        candidates = [_measure(linear_sum([(sign, literals[variables[0]])]), total_arity)]
    else:
        candidates = _leaf_candidates(table, variables, literals, total_arity)
        candidates += _split_candidates(table, variables, literals, objective, cache)
    result = min(candidates, key=lambda c: _rank(c, objective))
    cache[key] = result
    return result


def _leaf_candidates(table, variables, literals, total_arity) -> list[_Candidate]:
    arity = len(variables)
    local = list(range(arity))
    candidates = [_measure(_cubes_for_table(table, arity, literals, variables), total_arity)]
    signs = symmetric_signs(table, arity, local)
    if signs is not None:
        global_signs = {variables[i]: s for i, s in signs.items()}
        term = _symmetric_from_signs_local(table, arity, literals, variables, global_signs, signs)
        candidates.append(_measure(term, total_arity))
    return candidates


def _symmetric_from_signs_local(table, arity, literals, variables, global_signs, local_signs) -> Term:
    points = input_points(arity).astype(np.int64)
    sums = points @ np.array([local_signs[i] for i in range(arity)], dtype=np.int64)
    values = [0] * (arity + 1)
    for index, total in enumerate(sums):
        values[(int(total) + arity) // 2] = int(table[index])
    return sum_function_term(literals, global_signs, values)


def _split_candidates(table, variables, literals, objective, cache) -> list[_Candidate]:
    arity = len(variables)
    points = np.arange(2**arity)
    candidates = []
    # Bipartitions with variable 0 on side A; the mask lists A's other members.
    for rest in range(2 ** (arity - 1) - 1):
        side_a = [0] + [i for i in range(1, arity) if rest >> (i - 1) & 1]
        side_b = [i for i in range(arity) if i not in side_a]
        row = _sub_index(points, side_a)
        column = _sub_index(points, side_b)
        matrix = np.zeros((2 ** len(side_a), 2 ** len(side_b)), dtype=np.int8)
        matrix[row, column] = table
        rows = np.unique(matrix, axis=0)
        columns = np.unique(matrix, axis=1)
        if rows.shape[0] != 2 or columns.shape[1] != 2:
            continue
        q_table = np.where(np.all(matrix == rows[0][None, :], axis=1), 1, -1).astype(np.int8)
        r_table = np.where(np.all(matrix == columns[:, 0][:, None], axis=0), 1, -1).astype(np.int8)
        gate = _gate_table(matrix, q_table, r_table)
        left = _best_decomposition(q_table, [variables[i] for i in side_a], literals, objective, cache)
        right = _best_decomposition(r_table, [variables[i] for i in side_b], literals, objective, cache)
        candidates.append(_measure(_gate_term(gate, left.term, right.term), len(literals)))
    return candidates


def _sub_index(points: np.ndarray, positions: list[int]) -> np.ndarray:
    index = np.zeros_like(points)
    for j, position in enumerate(positions):
        index |= ((points >> position) & 1) << j
    return index


def _gate_table(matrix: np.ndarray, q_table: np.ndarray, r_table: np.ndarray) -> dict[tuple[int, int], int]:
    gate = {}
    for q in (1, -1):
        for r in (1, -1):
            a = int(np.nonzero(q_table == q)[0][0])
            b = int(np.nonzero(r_table == r)[0][0])
            gate[(q, r)] = int(matrix[a, b])
    return gate


def _gate_term(gate: dict[tuple[int, int], int], left: Term, right: Term) -> Term:
    """Build g(left, right) for a 2 x 2 table g that depends on both arguments."""
    if gate[(1, 1)] == gate[(-1, -1)] and gate[(1, -1)] == gate[(-1, 1)]:
        product = product_term(left, right)
        return product if gate[(1, 1)] == 1 else linear_sum([(-1, product)])
    # Exactly one entry differs from the other three: g = v * AND(q* q, r* r) at that entry.
    for (q, r), value in gate.items():
        if sum(1 for other in gate.values() if other == value) == 1:
            return and_term(left, right, q, r, value)
    raise ValueError(f"gate table {gate} does not depend on both arguments")


# ---------------------------------------------------------------------------------------------
# The registry of strategies and the cost model.


@dataclass(frozen=True)
class Strategy:
    """A named lowering with the largest arity it is offered for (its cost grows with 2^k or 3^k)."""

    name: str
    description: str
    max_arity: int


STRATEGY_TABLE = {
    "paper": Strategy("paper", "Fourier construction of Lemma 3.3 (Appendix A.2), no biases", 20),
    "tree": Strategy("tree", "Fourier monomials as balanced trees of biased 2-neuron products, "
                             "shared sub-products", 20),
    "sums": Strategy("sums", "each Fourier monomial as a function of its coordinate sum, one hidden layer", 20),
    "points": Strategy("points", "one neuron per true (or false) point, one hidden layer", 14),
    "cubes": Strategy("cubes", "one neuron per cube of a disjoint cover of the true (or false) points, "
                               "one hidden layer", 10),
    "symmetric": Strategy("symmetric", "a function of a signed coordinate sum, one hidden layer", 14),
    "decompose": Strategy("decompose", "disjoint-support decomposition g(Q(x_A), R(x_B)), recursively", 8),
}
STRATEGY_NAMES = tuple(STRATEGY_TABLE)

_TERM_BUILDERS = {
    "tree": tree_term,
    "sums": sums_term,
    "points": points_term,
    "cubes": cubes_term,
    "symmetric": symmetric_term,
}


def build(name: str, predicate: Predicate, objective: str = "size") -> Network:
    """Build the predicate network of strategy ``name``; raise StrategyNotApplicable when it cannot."""
    if name not in STRATEGY_TABLE:
        raise KeyError(name)
    limit = STRATEGY_TABLE[name].max_arity
    if predicate.arity > limit:
        raise StrategyNotApplicable(f"strategy {name} is offered for predicates of arity at most {limit}, "
                                    f"and {predicate.name} has arity {predicate.arity}")
    if name == "paper":
        return fourier.paper_network(predicate)[0]
    if name == "decompose":
        return lower_terms(predicate.arity, decompose_term(predicate, objective))
    return lower_terms(predicate.arity, _TERM_BUILDERS[name](predicate))


@dataclass
class Selection:
    """The strategy the cost model chose, its network, and every candidate's certified figures."""

    strategy: str
    network: Network
    objective: str
    candidates: list[dict]
    reason: str
    passes: dict | None = None


def objective_key(figures: dict, objective: str) -> tuple:
    """Sort key: the objective first, then the other two of size, depth, Lipschitz bound in that order."""
    values = {"size": figures["size_per_output"], "depth": figures["depth"],
              "lipschitz": figures["lipschitz_bound"]}
    order = [objective] + [name for name in OBJECTIVES if name != objective]
    return tuple(values[name] for name in order)


def select_strategy(predicate: Predicate, objective: str = "size", finish=None) -> Selection:
    """Build every applicable strategy, certify each and keep the best for ``objective``.

    ``finish(network) -> (network, report)`` runs after each build (the optimisation passes),
    so candidates are compared as they would be emitted. The figures are computed by
    ``certify_network`` on all 2^k points, never estimated.
    """
    from relucc.certify import certify_network

    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}")
    points = input_points(predicate.arity)
    candidates, networks, reports = [], {}, {}
    for name in STRATEGY_NAMES:
        try:
            network = build(name, predicate, objective)
        except StrategyNotApplicable as reason:
            candidates.append({"strategy": name, "applicable": False, "reason": str(reason)})
            continue
        if finish is not None:
            network, reports[name] = finish(network)
        figures = certify_network(network, points, f"{{-1,+1}}^{predicate.arity}")
        networks[name] = network
        candidates.append({"strategy": name, "applicable": True, "size_per_output": figures["size"],
                           "depth": figures["depth"], "lipschitz_bound": figures["lipschitz_bound"]["value"]})
    built = [c for c in candidates if c["applicable"]]
    best = min(built, key=lambda c: objective_key(c, objective))
    ties = [c["strategy"] for c in built if c is not best and
            objective_key(c, objective)[0] == objective_key(best, objective)[0]]
    reason = (f"least {_objective_words(objective)} among {len(built)} applicable strategies"
              + (f"; tied on it with {', '.join(ties)}, broken by "
                 f"{' then '.join(_objective_words(o) for o in OBJECTIVES if o != objective)}" if ties else ""))
    selection = Selection(best["strategy"], networks[best["strategy"]], objective, candidates, reason)
    selection.passes = reports.get(best["strategy"])
    return selection


# Predicates up to this arity are enumerated for the passes' decisions; above it, intervals.
EXHAUSTIVE_PASS_ARITY = 16


@dataclass
class LoweredPredicate:
    """A predicate network with the record of how it was made, for the certificate."""

    network: Network
    strategy: str
    selection: dict
    passes: dict


def lower_predicate(predicate: Predicate, strategy: str = "auto", objective: str = "size",
                    passes: bool | None = None) -> LoweredPredicate:
    """Lower ``predicate`` with ``strategy`` (``auto``: the cost model picks for ``objective``).

    The optimisation passes run after lowering unless ``passes`` is False; by default they run
    for every strategy except an explicitly requested ``paper``, which stays the network of
    Appendix A.2 so that its figures can be set beside Corollary 3.4.
    """
    from relucc.errors import Diagnostic, UsageError
    from relucc.passes import optimize_network

    if objective not in OBJECTIVES:
        raise UsageError(f"unknown optimisation objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    if strategy != "auto" and strategy not in STRATEGY_TABLE:
        raise UsageError(f"unknown strategy {strategy!r}; expected auto or one of {', '.join(STRATEGY_NAMES)}")
    run_passes = passes if passes is not None else strategy != "paper"
    points = input_points(predicate.arity) if predicate.arity <= EXHAUSTIVE_PASS_ARITY else None

    def finish(network: Network) -> tuple[Network, dict]:
        if not run_passes:
            return network, {"applied": False, "reason": "disabled" if passes is False else
                             "strategy paper is kept as the paper builds it"}
        optimized, report = optimize_network(network, points)
        return optimized, {"applied": True, **report}

    if strategy == "auto":
        selection = select_strategy(predicate, objective, finish)
        record = {"requested": "auto", "objective": objective, "chosen": selection.strategy,
                  "reason": selection.reason, "candidates": selection.candidates}
        return LoweredPredicate(selection.network, selection.strategy, record, selection.passes)

    try:
        network = build(strategy, predicate, objective)
    except StrategyNotApplicable as reason:
        raise UsageError(Diagnostic(f"strategy {strategy} cannot lower predicate {predicate.name}: {reason}",
                                    predicate.location, "use --strategy auto to let the cost model choose")) from None
    network, report = finish(network)
    record = {"requested": strategy, "objective": objective, "chosen": strategy,
              "reason": "requested with --strategy", "candidates": []}
    return LoweredPredicate(network, strategy, record, report)


def _objective_words(objective: str) -> str:
    return {"size": "hidden neurons per output", "depth": "depth",
            "lipschitz": "certified Lipschitz bound"}[objective]
