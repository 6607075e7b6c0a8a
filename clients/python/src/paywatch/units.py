"""Exact conversions between base units and whole units, on strings.

paywatch writes amounts as strings: base-unit integers in transfers and events
(``"125500000"``: 125.5 USDT at 6 decimals, possibly above 2**64 on EVM chains)
and whole-unit decimals in invoices (``"125.5"``). These helpers convert
between the two without floats::

    >>> format_units("125500000", 6)
    '125.5'
    >>> parse_units("125.5", 6)
    '125500000'
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Union

__all__ = ["format_units", "parse_units", "money"]

_INTEGER = re.compile(r"[0-9]+\Z")
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")


def format_units(base: Union[str, int], decimals: int) -> str:
    """Base units as a whole-unit decimal, without trailing zeros:
    ``format_units("1250000", 6) == "1.25"``."""
    digits = _integer_text(base, "base")
    if decimals < 0:
        raise ValueError("decimals must not be negative")
    digits = digits.lstrip("0") or "0"
    if decimals == 0:
        return digits
    digits = digits.rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def parse_units(amount: Union[str, int, Decimal], decimals: int) -> str:
    """A whole-unit decimal as base units: ``parse_units("1.25", 6) ==
    "1250000"``. More decimal places than ``decimals`` (other than trailing
    zeros) is a ``ValueError``, never a rounding."""
    text = money(amount, "amount").strip()
    match = _DECIMAL.match(text)
    if not match:
        raise ValueError(f"not a non-negative decimal: {amount!r}")
    whole, frac = match.group(1), (match.group(2) or "").rstrip("0")
    if len(frac) > decimals:
        raise ValueError(f"{amount!r} has more than {decimals} decimal places")
    return (whole + frac.ljust(decimals, "0")).lstrip("0") or "0"


def money(value: Union[str, int, Decimal], name: str = "amount") -> str:
    """``value`` as the decimal string the API takes. Strings pass as they are
    (the daemon checks them); ``int`` and ``Decimal`` are written out in full.
    A ``float`` (or ``bool``) is refused with ``TypeError``: binary floats
    cannot hold most decimal amounts exactly."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name} must be a decimal string (or int or Decimal), not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name} must be finite, not {value}")
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    raise TypeError(f"{name} must be a decimal string (or int or Decimal), not {type(value).__name__}")


def _integer_text(value: Union[str, int], name: str) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer string or int, not bool")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return str(value)
    if isinstance(value, str) and _INTEGER.match(value):
        return value
    raise ValueError(f"{name} must be a non-negative integer string, not {value!r}")
