"""Property: canonical documents written out in a random dialect read back equal."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.domain.documents import DocumentType, Invoice, InvoiceLine, LineType, Provenance
from ml_connector.stampli.columns import INVOICE_COLUMNS, PAYMENT_COLUMNS
from ml_connector.stampli.profile import ReaderProfile
from ml_connector.stampli.read import read_export
from ml_connector.stampli.write import Dialect, write_invoices_csv, write_payments_csv
from tests.stampli.util import PAYMENTS_CSV, content, read

HEADER_STYLES: list[Callable[[str], str]] = [
    lambda s: s,
    str.upper,
    str.lower,
    lambda s: re.sub(r"([A-Z])", r"_\1", s).lower(),  # snake_case
    lambda s: re.sub(r"([A-Z])", r" \1", s).title(),  # Title Case With Spaces
    lambda s: re.sub(r"([A-Z])", r"-\1", s).lower(),  # kebab-case
]


@st.composite
def dialects(draw: st.DrawFn, columns: tuple[str, ...]) -> Dialect:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    decimal_sep = draw(st.sampled_from([".", ","]))
    date_format = draw(st.sampled_from(["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    styles = draw(
        st.lists(st.sampled_from(range(len(HEADER_STYLES))), min_size=len(columns), max_size=len(columns))
    )
    order = draw(st.permutations(list(columns)))
    return Dialect(
        delimiter=delimiter,
        decimal_sep=decimal_sep,
        date_format=date_format,
        encoding=encoding,
        line_terminator=draw(st.sampled_from(["\r\n", "\n"])),
        header_names={c: HEADER_STYLES[s](c) for c, s in zip(columns, styles, strict=True)},
        columns=order,
    )


def profile_for(d: Dialect) -> ReaderProfile:
    # What a tenant would configure: the separator and the one date format; the rest is detected.
    return ReaderProfile(name="p", decimal_sep=d.decimal_sep, date_formats=(d.date_format,))


TEXT = st.text(
    alphabet=st.sampled_from(list("abcXYZ 019-.,;\t\"'\n&<>|æøåÆØÅäöÄÖ€")), min_size=1, max_size=30
).filter(lambda s: s.strip() == s and s != "")
# Ids hold no control characters (issue 19 point 7): no tab or line break in an invoice number.
ID_TEXT = TEXT.filter(lambda s: s.isprintable())
CENTS = st.integers(min_value=0, max_value=10**9)
STAMP = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(  # noqa: DTZ001
    lambda d: d.replace(microsecond=0, tzinfo=timezone(timedelta(hours=1)))
)


@st.composite
def invoices(draw: st.DrawFn, n: int) -> Invoice:
    doc_type = draw(st.sampled_from(list(DocumentType)))
    sign = -1 if doc_type == DocumentType.CREDIT_NOTE else 1
    lines = []
    for i in range(draw(st.integers(1, 4))):
        net = Decimal(sign * draw(CENTS)).scaleb(-2)
        tax = Decimal(sign * draw(CENTS)).scaleb(-2)
        lines.append(
            InvoiceLine(
                line_number=i + 1,
                line_type=LineType.GL,
                line_net_amount=net,
                line_tax_amount=tax,
                gl_account=draw(st.sampled_from(["6800", "5990"])),
                line_description=draw(st.none() | TEXT),
                tax_code=draw(st.none() | st.sampled_from(["1", "11", "86"])),
                tax_rate=draw(st.none() | st.sampled_from([Decimal("25.00"), Decimal("0.00")])),
                project=draw(st.none() | TEXT),
            )
        )
    subtotal = sum((line.line_net_amount for line in lines), Decimal("0.00"))
    tax = sum((line.line_tax_amount for line in lines), Decimal("0.00"))
    return Invoice(
        stampli_company_id="C100234",
        stampli_invoice_id=f"{41000000 + n}",
        document_type=doc_type,
        invoice_number=draw(ID_TEXT),
        vendor_id=draw(st.sampled_from(["10023", "20011"])),
        vendor_name=draw(TEXT),
        invoice_date=draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))),
        due_date=draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))),
        currency=draw(st.sampled_from(["NOK", "SEK", "EUR"])),
        subtotal_amount=subtotal,
        tax_amount=tax,
        total_amount=subtotal + tax,
        approval_status="APPROVED",
        approved_at=draw(STAMP),
        exported_at=draw(STAMP).astimezone(UTC),
        lines=tuple(lines),
        provenance=Provenance("x", ""),
        description=draw(st.none() | TEXT),
        exchange_rate=draw(st.none() | st.sampled_from([Decimal("1.0612"), Decimal("11.6825")])),
        approvers=tuple(draw(st.lists(st.sampled_from(["a@x.no", "b@y.se"]), max_size=2))),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.integers(1, 4).flatmap(lambda k: st.tuples(*[invoices(i) for i in range(k)])),
       dialect=dialects(INVOICE_COLUMNS))  # fmt: skip
def test_invoices_round_trip_through_any_dialect(docs: tuple[Invoice, ...], dialect: Dialect) -> None:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "stampli_invoices_x.csv"
        write_invoices_csv(docs, path, dialect)
        result = read_export(path, profile=profile_for(dialect))
    assert result.status == "ok", [str(i) for i in result.issues]
    assert {i.code for i in result.issues} <= {"encoding_fallback"}
    assert content(result.documents) == content(docs)


@settings(max_examples=25, deadline=None)
@given(dialect=dialects(PAYMENT_COLUMNS))
def test_sample_payments_round_trip_through_any_dialect(dialect: Dialect) -> None:
    payments = read(PAYMENTS_CSV).documents
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "stampli_payments_x.csv"
        write_payments_csv(payments, path, dialect)  # type: ignore[arg-type]
        result = read_export(path, profile=profile_for(dialect))
    assert result.status == "ok", [str(i) for i in result.issues]
    assert content(result.documents) == content(payments)
