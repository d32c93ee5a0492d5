"""Fourier construction: exact coefficients and exact predicate networks (strategy paper)."""

from fractions import Fraction
from itertools import product

import numpy as np
import pytest

from relucc.boolean import Predicate, input_points
from relucc.fourier import evaluate_fourier, fourier_coefficients, paper_network


def all_tables(k):
    for values in product((-1, 1), repeat=2**k):
        yield np.array(values, dtype=np.int8)


def random_tables(k, count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield rng.choice(np.array([-1, 1], dtype=np.int8), size=2**k)


def brute_force_coefficient(table, subset):
    points = input_points(int(np.log2(len(table))))
    character = np.prod(points[:, list(subset)], axis=1) if subset else np.ones(len(table), dtype=np.int64)
    return Fraction(int(np.sum(table.astype(np.int64) * character)), len(table))


SMALL_TABLES = [t for k in (1, 2, 3) for t in all_tables(k)]
RANDOM_TABLES = [t for k in (4, 5, 6) for t in random_tables(k, 40, seed=k)]


@pytest.mark.parametrize("table", SMALL_TABLES + RANDOM_TABLES[::4], ids=lambda t: "".join("1" if v > 0 else "0" for v in t))
def test_coefficients_match_definition(table):
    k = int(np.log2(len(table)))
    coefficients = fourier_coefficients(table)
    for mask in range(2**k):
        subset = tuple(i for i in range(k) if mask >> i & 1)
        assert coefficients.get(subset, Fraction(0)) == brute_force_coefficient(table, subset)


@pytest.mark.parametrize("table", SMALL_TABLES + RANDOM_TABLES)
def test_expansion_reproduces_table(table):
    k = int(np.log2(len(table)))
    coefficients = fourier_coefficients(table)
    assert list(evaluate_fourier(coefficients, input_points(k))) == [Fraction(int(v)) for v in table]
    assert sum(c * c for c in coefficients.values()) == 1  # Parseval for a ±1 function


@pytest.mark.parametrize("table", SMALL_TABLES + RANDOM_TABLES)
def test_paper_network_exact(table):
    k = int(np.log2(len(table)))
    network, summary = paper_network(Predicate("p", k, table))
    numerators, exponent = network.evaluate_exact(input_points(k))
    assert exponent == 0
    assert np.array_equal(numerators[:, 0], table.astype(np.int64))
    assert network.depth == max(summary.max_degree, 1)


def test_paper_network_catches_wrong_weight():
    table = np.array([1, -1, -1, 1, -1, 1, 1, -1], dtype=np.int8)  # parity of 3
    network, _ = paper_network(Predicate("parity", 3, table))
    network.layers[1].weight[0, 0] += 1
    numerators, exponent = network.evaluate_exact(input_points(3))
    assert not (exponent == 0 and np.array_equal(numerators[:, 0], table.astype(np.int64)))


def tsa_table():
    x = input_points(5).astype(np.int64)
    conjunction = np.where((x[:, 3] > 0) & (x[:, 4] > 0), 1, -1)
    return (x[:, 0] * x[:, 1] * x[:, 2] * conjunction).astype(np.int8)


def test_tsa_coefficients_by_hand():
    # AND(a, b) = (-1 + a + b + ab) / 2 in the ±1 encoding, so
    # TSA = (-x1x2x3 + x1x2x3x4 + x1x2x3x5 + x1x2x3x4x5) / 2.
    half = Fraction(1, 2)
    expected = {(0, 1, 2): -half, (0, 1, 2, 3): half, (0, 1, 2, 4): half, (0, 1, 2, 3, 4): half}
    assert fourier_coefficients(tsa_table()) == expected


def test_tsa_network_shape_by_hand():
    # A degree-j chain uses 4 neurons per product gadget and 2 per relayed variable:
    # hidden layer t holds 4 + 2(j - 1 - t) neurons, and a finished product is relayed with 2.
    # Degree 5: 10, 8, 6, 4. Degree 4 (twice): 8, 6, 4, 2. Degree 3: 6, 4, 2, 2.
    network, summary = paper_network(Predicate("tsa", 5, tsa_table()))
    assert summary.monomials_kept == 4
    assert network.depth == 5
    assert network.hidden_sizes == [10 + 8 + 8 + 6, 8 + 6 + 6 + 4, 6 + 4 + 4 + 2, 4 + 2 + 2 + 2]
    assert network.size == 82
