"""Reader profiles: everything about a tenant's export dialect that the reader must not guess.

A profile names the delimiter (or None to detect it from the header), the encoding (or None to
detect: BOM, then strict UTF-8, then cp1252 with a warning), the decimal separator (None = ``.``
plus the §4.2 rule: decimal comma when the delimiter is ``;`` and the value is ``-?digits,digits``),
the explicit date formats (tried in order; a list that could read one text both as DD/MM and as
MM/DD is refused), the time zone for naive timestamps, header aliases and safety limits.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ml_connector.domain.documents import POSTABLE_APPROVAL_STATUSES
from ml_connector.stampli.columns import KNOWN_COLUMNS, canonical_name, normalize_header

MiB = 1024 * 1024


@dataclass(frozen=True)
class ReaderLimits:
    """Hard limits. Exceeding any of them rejects the file with a clear issue; memory stays bounded."""

    max_file_bytes: int = 200 * MiB
    max_rows: int = 2_000_000
    max_field_chars: int = 100_000
    max_xml_depth: int = 64
    max_lines_per_document: int = 50_000


DEFAULT_APPROVED = POSTABLE_APPROVAL_STATUSES  # APPROVED only; a tenant may add READY_FOR_EXPORT
_DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "TAB": "\t", "\\t": "\t"}
_THOUSANDS = {",", ".", " ", "\u00a0", "\u202f", "'"}


@dataclass(frozen=True)
class ReaderProfile:
    name: str
    delimiter: str | None = None
    encoding: str | None = None
    decimal_sep: str | None = None
    thousands_sep: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    timezone: str = "Europe/Oslo"
    header_aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    company_id: str | None = None
    amount_tolerance: Decimal = Decimal(0)
    approved_statuses: frozenset[str] = DEFAULT_APPROVED
    limits: ReaderLimits = field(default_factory=ReaderLimits)
    datetime_formats: tuple[str, ...] = ()
    """Extra strptime formats for timestamps, tried after ISO 8601 (e.g. ``%d.%m.%Y %H:%M``)."""

    def __post_init__(self) -> None:
        # Aliases are stored normalised (alias -> canonical column) so lookups are one dict hit.
        norm = {normalize_header(k): v for k, v in self.header_aliases.items()}
        object.__setattr__(self, "header_aliases", MappingProxyType(norm))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_(self, **changes: Any) -> ReaderProfile:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return ReaderProfile(**data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], *, name: str) -> ReaderProfile:
        """Build a profile from config data (TOML/JSON shaped). Raises ``ValueError`` whose
        ``args[0]`` is the list of *all* problems found, not just the first."""
        problems: list[str] = []
        kw: dict[str, Any] = {"name": name}
        known = {f.name for f in fields(cls)} - {"name"}
        for key in data:
            if key not in known:
                problems.append(f"unknown profile key {key!r} (known: {', '.join(sorted(known))})")

        def text(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            if not isinstance(value, str):
                problems.append(f"{key}: must be a string, not {type(value).__name__}")
                return None
            return value

        if "delimiter" in data:
            d = text("delimiter")
            if d is not None:
                if d in _DELIMITERS:
                    kw["delimiter"] = _DELIMITERS[d]
                else:
                    problems.append(f"delimiter: {d!r} is not one of ',', ';', TAB")
        if "encoding" in data:
            enc = text("encoding")
            if enc is not None:
                try:
                    codecs.lookup(enc)
                    kw["encoding"] = enc
                except LookupError:
                    problems.append(f"encoding: unknown codec {enc!r}")
        dec = text("decimal_sep") if "decimal_sep" in data else None
        if dec is not None:
            if dec in (".", ","):
                kw["decimal_sep"] = dec
            else:
                problems.append(f"decimal_sep: {dec!r} is not '.' or ','")
        if "thousands_sep" in data:
            th = text("thousands_sep")
            if th is not None:
                if th not in _THOUSANDS:
                    problems.append(f"thousands_sep: {th!r} is not one of {sorted(_THOUSANDS)!r}")
                elif th == (dec or "."):
                    problems.append("thousands_sep: must differ from the decimal separator")
                else:
                    kw["thousands_sep"] = th
        for key in ("date_formats", "datetime_formats"):
            if key in data:
                fmts = _str_list(data[key], key, problems)
                if fmts is not None:
                    if key == "date_formats" and not fmts:
                        problems.append("date_formats: at least one format is needed")
                    problems.extend(_check_date_formats(fmts, key))
                    kw[key] = tuple(fmts)
        if "timezone" in data:
            tz = text("timezone")
            if tz is not None:
                try:
                    ZoneInfo(tz)
                    kw["timezone"] = tz
                except (ZoneInfoNotFoundError, ValueError):
                    problems.append(f"timezone: unknown IANA time zone {tz!r}")
        if "header_aliases" in data:
            aliases = data["header_aliases"]
            if not isinstance(aliases, Mapping):
                problems.append("header_aliases: must be a table of alias = canonical column")
            else:
                good: dict[str, str] = {}
                for alias, target in aliases.items():
                    if not isinstance(alias, str) or not isinstance(target, str):
                        problems.append(f"header_aliases: {alias!r} = {target!r} must both be strings")
                        continue
                    canon = canonical_name(target, {})
                    if canon is None or canon not in KNOWN_COLUMNS:
                        problems.append(f"header_aliases: {alias!r} points at unknown column {target!r}")
                    else:
                        good[alias] = canon
                kw["header_aliases"] = good
        if "company_id" in data:
            cid = text("company_id")
            if cid is not None:
                if cid.strip():
                    kw["company_id"] = cid.strip()
                else:
                    problems.append("company_id: must not be empty")
        if "amount_tolerance" in data:
            raw = data["amount_tolerance"]
            if isinstance(raw, float) or not isinstance(raw, str | int) or isinstance(raw, bool):
                problems.append('amount_tolerance: write it as a decimal string, e.g. "0.01" (no floats)')
            else:
                try:
                    tol = Decimal(str(raw))
                    if tol < 0 or not tol.is_finite():
                        problems.append("amount_tolerance: must be a finite amount >= 0")
                    else:
                        kw["amount_tolerance"] = tol
                except InvalidOperation:
                    problems.append(f"amount_tolerance: {raw!r} is not a decimal")
        if "approved_statuses" in data:
            statuses = _str_list(data["approved_statuses"], "approved_statuses", problems)
            if statuses is not None:
                if not statuses:
                    problems.append("approved_statuses: at least one status is needed")
                kw["approved_statuses"] = frozenset(s.strip().upper() for s in statuses)
        if "limits" in data:
            kw["limits"] = _limits(data["limits"], problems)
        if problems:
            raise ValueError(problems)
        return cls(**kw)


def _str_list(value: object, key: str, problems: list[str]) -> list[str] | None:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        problems.append(f"{key}: must be a list of strings")
        return None
    if not all(isinstance(v, str) for v in value):
        problems.append(f"{key}: must be a list of strings")
        return None
    return [str(v) for v in value]


def _shape(fmt: str) -> str:
    """A format with %d and %m made indistinguishable: two formats with the same shape could read
    one text both ways (DD/MM vs MM/DD)."""
    return re.sub(r"%[dm]", "%N", fmt)


def _check_date_formats(fmts: list[str], key: str) -> list[str]:
    out = []
    for f in fmts:
        has_month = "%m" in f or "%b" in f or "%B" in f
        if key == "date_formats" and not ("%d" in f and has_month):
            out.append(f"{key}: {f!r} needs %d and %m (or a month name)")
        if "%Y" not in f and "%y" not in f:
            out.append(f"{key}: {f!r} has no year (%Y)")
    seen: dict[str, str] = {}
    for f in fmts:
        shape = _shape(f)
        if shape in seen and seen[shape] != f:
            out.append(
                f"{key}: {seen[shape]!r} and {f!r} can read the same text as DD/MM and as MM/DD; "
                "keep only the one the tenant uses"
            )
        seen.setdefault(shape, f)
    return out


def _limits(value: object, problems: list[str]) -> ReaderLimits:
    if not isinstance(value, Mapping):
        problems.append("limits: must be a table")
        return ReaderLimits()
    known = {f.name for f in fields(ReaderLimits)}
    kw: dict[str, int] = {}
    for k, v in value.items():
        if k not in known:
            problems.append(f"limits: unknown key {k!r}")
        elif not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            problems.append(f"limits.{k}: must be a positive integer")
        else:
            kw[str(k)] = v
    return ReaderLimits(**kw)


# Norwegian report headers an AP team is likely to use in a customer-defined template.
NORDIC_ALIASES: Mapping[str, str] = {
    "Fakturanummer": "invoiceNumber",
    "Leverandørnummer": "vendorId",
    "Leverandør": "vendorName",
    "Fakturadato": "invoiceDate",
    "Forfallsdato": "dueDate",
    "Bokføringsdato": "postingDate",
    "Valuta": "currency",
    "Nettobeløp": "subtotalAmount",
    "MVA-beløp": "taxAmount",
    "Totalbeløp": "totalAmount",
    "KID": "paymentReference",
    "Linjenummer": "lineNumber",
    "Konto": "glAccount",
    "Avdeling": "department",
    "Prosjekt": "project",
    "Betalingsdato": "paymentDate",
    "Betalt beløp": "paymentAmount",
}

BUILTIN_PROFILES: dict[str, ReaderProfile] = {
    "canonical": ReaderProfile(name="canonical"),
    "nordic": ReaderProfile(
        name="nordic",
        delimiter=None,
        decimal_sep=",",
        date_formats=("%d.%m.%Y", "%Y-%m-%d"),
        header_aliases=NORDIC_ALIASES,
    ),
    "us": ReaderProfile(
        name="us",
        delimiter=",",
        decimal_sep=".",
        date_formats=("%m/%d/%Y", "%Y-%m-%d"),
        timezone="America/New_York",
    ),
}
