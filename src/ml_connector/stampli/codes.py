"""Every issue code the Stampli readers emit, with its meaning.

Level and scope are part of the meaning: a *file* code rejects the whole file (nothing from it is
posted), a *record* code rejects one invoice or one payment (the rest of the file goes on), and a
*warning* never rejects anything. ``not_approved`` is a record rejection that the pipeline treats as
"skipped", not as a failure. docs/stampli-readers.md carries the same table.
"""

from __future__ import annotations

from typing import Final, Literal

Scope = Literal["file", "record", "warning"]

_TABLE: Final[dict[str, tuple[Scope, str]]] = {
    # ---- file level: the whole file is rejected ---------------------------------------------
    "io_error": ("file", "the file could not be opened or read"),
    "empty_file": ("file", "the file has no bytes, or no header row / root element"),
    "file_too_large": ("file", "the file is larger than ReaderLimits.max_file_bytes"),
    "too_many_rows": ("file", "more CSV records or XML documents than ReaderLimits.max_rows"),
    "field_too_large": ("file", "a CSV field or XML text/attribute exceeds ReaderLimits.max_field_chars"),
    "encoding_error": ("file", "the bytes cannot be decoded (configured encoding, UTF-8, UTF-16 or cp1252)"),
    "unknown_kind": ("file", "cannot tell invoices from payments (file name, header and root all unclear)"),
    "kind_mismatch": ("file", "the file's header or root element is not of the requested kind"),
    "delimiter_undetected": (
        "file",
        "no delimiter among TAB, ';' and ',' splits the header into >3 known columns",
    ),
    "missing_column": ("file", "a required column is absent from the CSV header"),
    "duplicate_column": ("file", "two header cells map to the same canonical column"),
    "unterminated_quote": ("file", "a quoted CSV field is still open at end of file (partial file)"),
    "truncated_file": ("file", "the last CSV record is short and has no line end (partial file)"),
    "malformed_csv": ("file", "CSV quoting is broken (e.g. a character after a closing quote)"),
    "row_field_count": ("file", "a CSV record has a different number of fields than the header"),
    "company_mismatch": ("file", "stampliCompanyId differs from the profile's company_id"),
    "xml_malformed": ("file", "the XML is not well formed (includes truncation at end of file)"),
    "xml_doctype": ("file", "the XML has a DOCTYPE or entity declaration; refused (billion laughs, XXE)"),
    "xml_too_deep": ("file", "XML nesting deeper than ReaderLimits.max_xml_depth"),
    "count_mismatch": ("file", "invoiceCount / paymentCount attribute differs from the number of elements"),
    "missing_count": ("file", "the XML root has no invoiceCount / paymentCount attribute"),
    # ---- record level: one invoice or payment is rejected ------------------------------------
    "not_approved": ("record", "approvalStatus is not one of the profile's approved statuses (skipped)"),
    "not_paid": ("record", "paymentStatus is known but not PAID or VOIDED, e.g. SCHEDULED (skipped)"),
    "missing_value": ("record", "a required field is empty"),
    "invalid_value": ("record", "a field is not one of its allowed values (enum, URL, text)"),
    "invalid_number": ("record", "an integer field (lineNumber) is not a positive integer"),
    "invalid_amount": ("record", "an amount, quantity or rate is not a decimal under the profile's rules"),
    "invalid_currency": ("record", "a currency is not an ISO 4217 code"),
    "invalid_date": ("record", "a date matches none of the profile's date formats, or is impossible"),
    "invalid_timestamp": ("record", "a timestamp is not ISO 8601 (or a profile datetime format)"),
    "header_mismatch": ("record", "invoice/payment-level fields differ between rows of the same document"),
    "subtotal_mismatch": ("record", "sum of lineNetAmount differs from subtotalAmount"),
    "tax_mismatch": ("record", "sum of lineTaxAmount differs from taxAmount"),
    "total_mismatch": ("record", "subtotalAmount + taxAmount differs from totalAmount"),
    "sign_mismatch": ("record", "the sign of an amount contradicts documentType"),
    "duplicate_line_number": ("record", "lineNumber is not unique within the invoice"),
    "too_many_lines": ("record", "a document has more lines than ReaderLimits.max_lines_per_document"),
    "duplicate_document": (
        "record",
        "the same stampliInvoiceId / stampliPaymentId appears twice in an XML file",
    ),
    "duplicate_application": ("record", "a payment applies to the same stampliInvoiceId twice"),
    "payment_amount_mismatch": ("record", "paymentAmount differs from the sum of appliedAmount"),
    "duplicate_element": ("record", "an XML element that may occur once occurs twice in its parent"),
    "mixed_content": ("record", "an XML element mixes text with child elements (its value is ambiguous)"),
    # ---- warnings -----------------------------------------------------------------------------
    "encoding_fallback": ("warning", "the file is not UTF-8; it was decoded as Windows-1252"),
    "unknown_column": ("warning", "a CSV column is not known; its values are kept under 'extra'"),
    "unknown_element": (
        "warning",
        "an XML element or attribute is not known; text values kept under 'extra'",
    ),
    "no_records": ("warning", "the file holds a header but no documents"),
    "naive_timestamp": ("warning", "a timestamp had no offset; it was read in the profile's time zone"),
    "line_net_mismatch": ("warning", "quantity x unitPrice differs from lineNetAmount (rounding, discounts)"),
    "void_without_timestamp": ("warning", "a VOIDED payment has no voidedAt"),
}

ISSUE_CODES: Final[dict[str, str]] = {code: meaning for code, (_, meaning) in _TABLE.items()}
"""code -> meaning, for every code the readers can emit."""
ISSUE_SCOPES: Final[dict[str, Scope]] = {code: scope for code, (scope, _) in _TABLE.items()}
"""code -> "file" (rejects the file), "record" (rejects one document) or "warning"."""
FILE_CODES: Final = frozenset(c for c, s in ISSUE_SCOPES.items() if s == "file")
RECORD_CODES: Final = frozenset(c for c, s in ISSUE_SCOPES.items() if s == "record")
WARNING_CODES: Final = frozenset(c for c, s in ISSUE_SCOPES.items() if s == "warning")
SKIP_CODES: Final = frozenset({"not_approved", "not_paid"})
