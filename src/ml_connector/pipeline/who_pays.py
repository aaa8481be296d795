"""Who pays the suppliers: the one place that reads ``[connections.NAME.payments] source``.

``stampli`` (the default): Stampli pays and exports payment records, which are posted. ``visma``:
Visma pays (payment proposals, AutoPay), so posting Stampli's payment records as well would book
every payment twice. Their files are still read (so that each payment is reported), and every
payment, and every void of one, is recorded as skipped with ``VISMA_PAYS`` and never posted, on
either target; in supplier-ledger mode the invoices are created approved for payment instead
(``paySelected``, ``pipeline/supplier_ledger.py``).
"""

from __future__ import annotations

from ml_connector.config.model import ConnectionConfig

VISMA_PAYS = "Visma pays: payments.source = visma"
PAYMENT_KINDS = frozenset({"payment", "payment_void"})


def visma_pays(cfg: ConnectionConfig) -> bool:
    return cfg.payments.source == "visma"


def skip_reason(cfg: ConnectionConfig, kind: str) -> str | None:
    """Why a document of ``kind`` is recorded as skipped instead of posted; None: it posts."""
    return VISMA_PAYS if kind in PAYMENT_KINDS and visma_pays(cfg) else None
