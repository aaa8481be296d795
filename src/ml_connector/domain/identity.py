"""Whose history a ledger holds: the Stampli company and the Visma tenant and company a connection
posts for (recorded by ``ledger/identity.py``, checked by ``pipeline/identity.py``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    stampli_company_id: str
    visma_tenant_id: str
    visma_company_id: str

    def describe(self) -> str:
        return (
            f"Stampli company {self.stampli_company_id}, "
            f"Visma tenant {self.visma_tenant_id} company {self.visma_company_id}"
        )

    def changes(self, new: Identity) -> list[str]:
        """What differs from ``new``, each naming the configuration key, e.g. for an error message."""
        out = []
        for key, label, old_value, new_value in (
            ("stampli_company_id", "Stampli company", self.stampli_company_id, new.stampli_company_id),
            ("visma.tenant_id", "Visma tenant", self.visma_tenant_id, new.visma_tenant_id),
            ("visma.company_id", "Visma company", self.visma_company_id, new.visma_company_id),
        ):
            if old_value != new_value:
                out.append(f"{label} was {old_value}, the configuration now says {new_value} ({key})")
        return out
