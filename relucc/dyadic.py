"""Dyadic rationals: exact weights n / 2**e, and the bit complexity tau of Definition 1.

A value is in R_tau when it is a multiple of 2**-tau with magnitude at most 2**tau; the bit
complexity of a network is the least tau holding every weight and bias.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def is_dyadic(value: Fraction) -> bool:
    """Return whether the denominator of ``value`` is a power of two."""
    denominator = Fraction(value).denominator
    return denominator & (denominator - 1) == 0


def denominator_exponent(value: Fraction) -> int:
    """Return e with denominator(value) == 2**e; ``value`` must be dyadic."""
    return Fraction(value).denominator.bit_length() - 1


def bit_complexity_of(value: Fraction) -> int:
    """Return the least tau >= 0 with ``value`` in R_tau."""
    numerators, exponent = to_numerators([Fraction(value)])
    return array_bit_complexity(np.array(numerators, dtype=object), exponent)


def array_bit_complexity(numerators: np.ndarray, exponent: int) -> int:
    """Return the least tau holding every entry of ``numerators / 2**exponent``."""
    values = [int(v) for v in np.asarray(numerators).ravel() if int(v) != 0]
    tau = 0
    for numerator in values:
        trailing = (numerator & -numerator).bit_length() - 1
        precision = max(0, exponent - trailing)
        tau = max(tau, precision, _ceil_log2_fraction(abs(numerator), exponent))
    return tau


def _ceil_log2_fraction(numerator: int, exponent: int) -> int:
    # least t >= 0 with numerator <= 2**(t + exponent)
    t = max(0, numerator.bit_length() - exponent)
    while t > 0 and numerator <= 1 << (t - 1 + exponent):
        t -= 1
    return t


def to_numerators(values: list[Fraction]) -> tuple[list[int], int]:
    """Return integers n_i and e with values[i] == n_i / 2**e, e as small as possible."""
    exponent = 0
    for value in values:
        exponent = max(exponent, denominator_exponent(value))
    numerators = [int(Fraction(v) * (1 << exponent)) for v in values]
    return numerators, exponent


def integer_array(values: list[int] | np.ndarray) -> np.ndarray:
    """Return an int64 array, or an object array of Python ints when int64 cannot hold the values."""
    array = np.asarray(values, dtype=object)
    if array.size == 0:
        return np.asarray(values, dtype=np.int64)
    largest = max(abs(int(v)) for v in array.ravel())
    if largest < 2**62:
        return array.astype(np.int64)
    return array


def float32_representable(numerator: int, exponent: int) -> bool:
    """Return whether ``numerator / 2**exponent`` is exactly a (normal) float32 value."""
    if numerator == 0:
        return True
    numerator = abs(numerator)
    trailing = (numerator & -numerator).bit_length() - 1
    odd = numerator >> trailing
    power = trailing - exponent
    top = power + odd.bit_length() - 1
    return odd.bit_length() <= 24 and -126 <= top <= 127
