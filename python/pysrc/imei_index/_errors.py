"""The exceptions of :mod:`imei_index` (raised by its native part)."""

from __future__ import annotations

__all__ = [
    "Error",
    "InvalidIdentifier",
    "InvalidImei",
    "InvalidImsi",
    "InvalidIndex",
    "InvalidList",
    "ScanError",
]


class Error(Exception):
    """The base class of this package's exceptions (I/O errors are ``OSError``)."""


class InvalidIdentifier(Error, ValueError):
    """An identifier that cannot be read; the message says what is wrong and where.

    ``input`` holds the value given.
    """

    input: object


class InvalidImei(InvalidIdentifier):
    """Not an IMEI: wrong length, a character that is not a digit, a wrong check digit,
    a PEI that names no IMEI (``mac-…``)."""


class InvalidImsi(InvalidIdentifier):
    """Not an IMSI (5 to 15 digits, or ``imsi-…``)."""


class InvalidIndex(Error):
    """A file that is not a usable index: damaged, cut short, not an index at all, or of
    another format version."""


class InvalidList(Error, ValueError):
    """A list row that cannot be read; the message names its file, line and column."""


class ScanError(Error):
    """A scan that could not run: a column it cannot find, a delimiter that cannot
    separate fields."""
