"""
Validation of the arguments of galseg's public functions.

One convention everywhere: a value of the wrong type raises `TypeError`,
a value of the right type out of its allowed range raises `ValueError`,
and every message names the argument.  NumPy scalars are accepted
wherever Python numbers are; booleans are never taken for numbers.

Examples
--------
>>> from galseg.validation import check_int, check_fraction
>>> check_int('n_pixels', 5, minimum=1)
5
>>> check_fraction('score_threshold', 0.7)
0.7
>>> check_int('n_pixels', 0, minimum=1)
Traceback (most recent call last):
...
ValueError: n_pixels must be an integer >= 1, got 0
"""

import math

import numpy as np

__all__ = ['check_bool', 'check_number', 'check_int', 'check_fraction',
           'check_range', 'check_choice']


def check_bool(name, value):
    """Return ``value`` as a `bool`; `TypeError` unless it is one."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f'{name} must be True or False, got {value!r}'
        raise TypeError(msg)
    return bool(value)


def check_number(name, value, *, finite=True, minimum=None):
    """
    Return ``value`` as a `float`.

    Raises `TypeError` unless it is a real number (not a bool), and
    `ValueError` if ``finite`` and it is NaN or infinite, or if it is
    below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        msg = f'{name} must be a number, got {value!r}'
        raise TypeError(msg)
    value = float(value)
    if finite and not math.isfinite(value):
        msg = f'{name} must be finite, got {value!r}'
        raise ValueError(msg)
    if minimum is not None and value < minimum:
        msg = f'{name} must be >= {minimum}, got {value}'
        raise ValueError(msg)
    return value


def check_int(name, value, *, minimum=None):
    """
    Return ``value`` as an `int`.

    Raises `TypeError` unless it is an integer (Python or NumPy, not a
    bool), and `ValueError` if it is below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, np.integer)):
        msg = f'{name} must be an integer, got {value!r}'
        raise TypeError(msg)
    value = int(value)
    if minimum is not None and value < minimum:
        msg = f'{name} must be an integer >= {minimum}, got {value}'
        raise ValueError(msg)
    return value


def check_fraction(name, value, *, low_open=False, high_open=False):
    """
    Return ``value`` as a `float` in the interval [0, 1].

    ``low_open`` and ``high_open`` exclude 0 and 1 from the interval.
    """
    value = check_number(name, value)
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        interval = (('(' if low_open else '[') + '0, 1'
                    + (')' if high_open else ']'))
        msg = f'{name} must be in {interval}, got {value}'
        raise ValueError(msg)
    return value


def check_range(name, value, lower=None, upper=None, *, lower_open=False,
                upper_open=False, integer=False):
    """
    Return a ``(low, high)`` pair of numbers with ``low <= high``.

    Both ends must lie within ``lower`` and ``upper`` (either `None` for
    no bound; ``lower_open`` and ``upper_open`` exclude the bound
    itself).  With ``integer``, both ends must be integers.
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, '__len__'):
        msg = f'{name} must be a (low, high) pair, got {value!r}'
        raise TypeError(msg)
    if len(value) != 2:
        msg = f'{name} must be a (low, high) pair, got {len(value)} values'
        raise ValueError(msg)
    check = check_int if integer else check_number
    low, high = (check(name, item) for item in value)
    if low > high:
        msg = (f'{name}: empty range ({low}, {high}); the low end must not '
               'exceed the high end')
        raise ValueError(msg)
    if lower is not None and (low <= lower if lower_open else low < lower):
        msg = (f'{name}: impossible range ({low}, {high}); values must be '
               f'{">" if lower_open else ">="} {lower}')
        raise ValueError(msg)
    if upper is not None and (high >= upper if upper_open else high > upper):
        msg = (f'{name}: impossible range ({low}, {high}); values must be '
               f'{"<" if upper_open else "<="} {upper}')
        raise ValueError(msg)
    return (low, high)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str):
        msg = (f'{name} must be a string, one of {", ".join(choices)}; '
               f'got {value!r}')
        raise TypeError(msg)
    if value not in choices:
        msg = f'{name} must be one of {", ".join(choices)}; got {value!r}'
        raise ValueError(msg)
    return value
