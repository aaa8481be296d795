"""Checks a voucher and its document against the cached Visma master data. Returns problems.

Each problem (``domain/problems.py``) says who can fix it (``category``), what is missing
(``missing``, which the automatic replay watches for) and a reason a finance person can act on.
"""

from __future__ import annotations

from ml_connector.config.model import MappingConfig
from ml_connector.domain.journal import Voucher
from ml_connector.domain.problems import Category, Problem
from ml_connector.pipeline.masterdata import (
    ACCOUNT,
    CURRENCY,
    SEGMENT_VALUE,
    SUPPLIER,
    MasterData,
    segment_key,
)

# Category and Problem live in domain/problems.py; importing them from here keeps working.
__all__ = ["Category", "Problem", "check_account", "check_voucher"]


def check_voucher(
    voucher: Voucher, md: MasterData, mapping: MappingConfig, *, supplier: str | None
) -> list[Problem]:
    problems: list[Problem] = []
    company = md.company_id
    if supplier is not None and not md.has(SUPPLIER, supplier):
        known = supplier in md.suppliers
        problems.append(
            Problem(
                Category.VISMA_MASTER_DATA,
                "supplier_inactive" if known else "supplier_missing",
                f"supplier {supplier} is {'inactive' if known else 'not found'} in Visma company {company}; "
                f"{'activate' if known else 'create'} it in Visma (or map the Stampli vendor id in "
                "mapping.supplier_map), then it posts by itself",
                ((SUPPLIER, supplier),),
            )
        )
    if not md.has(CURRENCY, voucher.currency):
        problems.append(
            Problem(
                Category.VISMA_MASTER_DATA,
                "currency_missing",
                f"currency {voucher.currency} is not set up in Visma company {company}; add it in Visma, "
                "then it posts by itself",
                ((CURRENCY, voucher.currency),),
            )
        )
    seen_accounts: set[str] = set()
    seen_segments: set[str] = set()
    for line in voucher.lines:
        if line.account not in seen_accounts:
            seen_accounts.add(line.account)
            problems.extend(check_account(line.account, md, mapping))
        for seg in line.subaccount:
            key = segment_key(seg.segment_id, seg.value)
            if key in seen_segments:
                continue
            seen_segments.add(key)
            if not md.has(SEGMENT_VALUE, key):
                known = key in md.segment_values
                what = "cost center" if seg.segment_id == mapping.cost_center_segment_id else "segment value"
                problems.append(
                    Problem(
                        Category.VISMA_MASTER_DATA,
                        "segment_value_inactive" if known else "segment_value_missing",
                        f"{what} {seg.value} (SUBACCOUNT segment {seg.segment_id}) "
                        f"{'is inactive' if known else 'does not exist'} in Visma company {company}; "
                        f"{'activate' if known else 'create'} it in Visma, then it posts by itself",
                        ((SEGMENT_VALUE, key),),
                    )
                )
    if voucher.debit_total != voucher.credit_total:
        problems.append(
            Problem(
                Category.SOURCE_DATA,
                "unbalanced",
                f"the voucher does not balance (debit {voucher.debit_total}, credit {voucher.credit_total}); "
                "the document's totals do not match its lines",
            )
        )
    return problems


def check_account(number: str, md: MasterData, mapping: MappingConfig) -> list[Problem]:
    company = md.company_id
    entry = md.accounts.get(number)
    configured = (
        number == mapping.credit_account
        or number in mapping.tax_accounts.values()
        or number in mapping.accounting_accounts()
    )
    if entry is None:
        return [
            Problem(
                Category.MAPPING if configured else Category.VISMA_MASTER_DATA,
                "account_missing",
                f"GL account {number} does not exist in Visma company {company}; "
                + ("fix the account in the configuration mapping" if configured else "create it in Visma")
                + ", then it posts by itself",
                ((ACCOUNT, number),),
            )
        ]
    active, data = entry
    if not active:
        return [
            Problem(
                Category.VISMA_MASTER_DATA,
                "account_inactive",
                f"GL account {number} is inactive in Visma company {company}; activate it in Visma, "
                "then it posts by itself",
                ((ACCOUNT, number),),
            )
        ]
    if data.get("allow_manual_entry") is False:
        return [
            Problem(
                Category.MAPPING,
                "account_no_manual_entry",
                f"GL account {number} does not allow manual journal entries in Visma company {company} "
                f"(control account {data.get('control_account_module') or ''}); map the document to an "
                "account that does (e.g. a clearing account), then replay",
            )
        ]
    return []
