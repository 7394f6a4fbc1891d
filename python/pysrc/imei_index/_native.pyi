"""Type stubs of the native part of imei_index (a Rust extension module)."""

from __future__ import annotations

import datetime
import os
import pathlib
from typing import Any, Dict, Final, List, Literal, Optional, Sequence, Union

import pyarrow

_Path = Union[str, "os.PathLike[str]"]
_Status = Literal["blocked", "tracked", "allowed", "unknown"]
_Rule = Literal["pair", "imei", "range", "tac"]
_Verification = Literal["trusted", "checksums", "full"]
# An Arrow array or chunked array of strings or integers (pyarrow, polars, any object with
# __arrow_c_array__ or __arrow_c_stream__), a numpy array, or a list.
_Values = Any

COLUMNS: Final[List[str]]
"""The columns of check_many's record batch, in order."""
__version__: Final[str]

class Verdict:
    """What the index says about one handset."""

    @property
    def imei(self) -> str:
        """The handset's IMEI: 15 digits, with its check digit."""
    @property
    def status(self) -> _Status:
        """``"blocked"``, ``"tracked"``, ``"allowed"``, or ``"unknown"``."""
    @property
    def reason(self) -> Optional[str]:
        """The deciding rule's reasons (several joined with ``|``), or None."""
    @property
    def rule(self) -> Optional[_Rule]:
        """The kind of the deciding rule, or None."""
    @property
    def source(self) -> Optional[str]:
        """The deciding rule's source (the list it came from), or None."""
    @property
    def date(self) -> Optional[datetime.date]:
        """The deciding rule's date, or None."""
    @property
    def check_digit_ok(self) -> bool:
        """False only for a wrong 15th digit read leniently."""
    @property
    def is_listed(self) -> bool:
        """True when a rule matched."""
    def as_dict(self) -> Dict[str, Any]:
        """The verdict's columns, named as in check_many's record batch."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Index:
    """An index file, memory-mapped and read-only."""

    def __init__(
        self,
        path: _Path,
        verification: _Verification = "checksums",
        *,
        populate: bool = False,
        tac_policy: Optional[Literal["tracked", "blocked"]] = None,
        allocated_after: Optional[str] = None,
    ) -> None: ...
    @staticmethod
    def from_bytes(
        data: bytes,
        verification: _Verification = "checksums",
        *,
        tac_policy: Optional[Literal["tracked", "blocked"]] = None,
        allocated_after: Optional[str] = None,
    ) -> Index:
        """An index from its bytes (copied)."""
    def device(self, tac: Union[str, int]) -> Optional[Dict[str, Any]]:
        """What the TAC database lists for a TAC: tac, manufacturer, brand, model, device_type, allocated."""
    def check(
        self, imei: Union[str, int], imsi: Union[str, int, None] = None, *, lenient: bool = False
    ) -> Verdict:
        """What the index says about one handset; raises InvalidImei / InvalidImsi."""
    def check_many(
        self, imeis: _Values, imsis: Optional[_Values] = None, *, lenient: bool = False
    ) -> pyarrow.RecordBatch:
        """``status, reason, rule, source, date, check_digit_ok, error`` for every IMEI, in order."""
    def stats(self) -> Dict[str, Any]:
        """Counts, sizes and versions."""
    @property
    def serial(self) -> int:
        """The serial number the index was built with."""
    @property
    def path(self) -> Optional[pathlib.Path]:
        """The path the index was opened from, or None."""

class LiveIndex:
    """An index file followed as it is republished."""

    def __init__(
        self,
        path: _Path,
        verification: _Verification = "checksums",
        *,
        tac_policy: Optional[Literal["tracked", "blocked"]] = None,
        allocated_after: Optional[str] = None,
    ) -> None: ...
    def device(self, tac: Union[str, int]) -> Optional[Dict[str, Any]]: ...
    def reload(self) -> Dict[str, Dict[str, int]]:
        """Serves the file now at the path; returns ``{"old": ..., "new": ...}``."""
    def reload_if_changed(self) -> Optional[Dict[str, Dict[str, int]]]:
        """Reloads only when another file is at the path; None when nothing changed."""
    def check(
        self, imei: Union[str, int], imsi: Union[str, int, None] = None, *, lenient: bool = False
    ) -> Verdict: ...
    def check_many(
        self, imeis: _Values, imsis: Optional[_Values] = None, *, lenient: bool = False
    ) -> pyarrow.RecordBatch: ...
    def stats(self) -> Dict[str, Any]: ...
    @property
    def serial(self) -> int: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def refused(self) -> int:
        """Reloads refused since opening."""

class ArrowBatch:
    """A result batch, handed over once through the Arrow PyCapsule interface."""

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]: ...

def build(
    lists: Union[_Path, Sequence[_Path]],
    output: _Path,
    serial: Optional[int] = None,
    *,
    skip_invalid: bool = False,
    tac_db: Optional[_Path] = None,
) -> Dict[str, Any]:
    """Builds an index file from list files (and GSMA's TAC database); returns the build summary."""

def scan(
    index: Union[Index, _Path],
    inputs: Union[_Path, Sequence[_Path]],
    output: Optional[_Path] = None,
    *,
    rejects: Optional[_Path] = None,
    imei: Union[str, int, None] = None,
    imsi: Union[str, int, None, Literal[False]] = None,
    msisdn: Union[str, int, None, Literal[False]] = None,
    delimiter: str = ",",
    header: Literal["auto", "yes", "no"] = "auto",
    statuses: Sequence[str] = ("blocked", "tracked"),
    lenient: bool = False,
    threads: Optional[int] = None,
) -> Dict[str, Any]:
    """The re-verification scan over files; returns its summary."""

def parse_imei(imei: Union[str, int], *, lenient: bool = False) -> str:
    """The IMEI's 15 digits; raises InvalidImei."""

def parse_imsi(imsi: Union[str, int]) -> str:
    """The IMSI's digits; raises InvalidImsi."""

def check_digit(imei: Union[str, int]) -> int:
    """The Luhn check digit of an IMEI's 14 digits."""

def verdict_schema() -> pyarrow.Schema:
    """The Arrow schema of check_many's record batches."""

def _rust_check_many_seconds(index: Index, imeis: _Values, repeats: int = 5) -> List[float]: ...
