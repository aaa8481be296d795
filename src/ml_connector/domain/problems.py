"""Why a document cannot be posted, and who must fix it: the one shape of every parking decision.

A ``Problem`` names who can fix it (``category``), a stable ``code``, a reason a finance person can
act on, and what must appear in Visma before it posts by itself (``missing``, which the automatic
replay watches for). It is decided where the problem is known, once:

- the checks against cached master data return lists of them (``pipeline/rules.py``);
- building a voucher that cannot be built raises ``Unpostable`` carrying them (``pipeline/journal.py``,
  the closed-period policy in ``pipeline/posting.py``);
- Visma's refusal says who fixes it in ``DestinationError.fix_by``, which only the classifier
  (``adapters/visma/classify.py``) decides, from Visma's message.

Posting parks a document through one function that takes a list of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


class Category:
    VISMA_MASTER_DATA = "visma_master_data"  # create or activate something in Visma
    MAPPING = "mapping"  # extend ml-connector's configuration
    SOURCE_DATA = "source_data"  # correct the document in Stampli and export it again
    CONNECTIVITY = "connectivity"  # nothing to fix by hand; retried automatically

    WHO: ClassVar[dict[str, str]] = {
        VISMA_MASTER_DATA: "Visma administrator (master data)",
        MAPPING: "ml-connector administrator (configuration mapping)",
        SOURCE_DATA: "AP team in Stampli (source document)",
        CONNECTIVITY: "nobody: retried automatically",
    }


@dataclass(frozen=True)
class Problem:
    category: str
    code: str
    reason: str
    missing: tuple[tuple[str, str], ...] = field(default=())  # (kind, key) that must appear in Visma

    def missing_json(self) -> list[dict[str, str]]:
        return [{"kind": kind, "key": key} for kind, key in self.missing]


class Unpostable(Exception):
    """No voucher can be built for this document as it is; ``problems`` say who fixes what."""

    def __init__(self, *problems: Problem) -> None:
        if not problems:
            raise ValueError("Unpostable needs at least one Problem")
        super().__init__("; ".join(p.reason for p in problems))
        self.problems = problems
