"""Reading just the notified entities into the cache: the real client against the simulator over
HTTP, a real SQLite ledger. Whatever the order of the notices, the cache ends as Visma is now."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector import retry
from ml_connector.adapters.visma.ports import VismaPorts
from ml_connector.ledger.store import Ledger
from ml_connector.pipeline.masterdata import ACCOUNT, SEGMENT_VALUE, SUPPLIER
from ml_connector.webhooks.apply import refresh_entities
from ml_connector.webhooks.notice import SEGMENT
from tests.support.visma_sim import VismaSim
from tests.visma.test_client_sim import client_for


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


def _refresh(sim: VismaSim, ledger: Ledger, *entities: tuple[str, str]) -> None:
    async def go() -> None:
        async with VismaPorts(client_for(sim)) as visma:
            await refresh_entities(visma.masterdata, ledger, "acme", set(entities))

    asyncio.run(go())


def test_each_kind_is_read_as_visma_has_it_now(visma_sim: VismaSim, ledger: Ledger) -> None:
    visma_sim.add_account("6999", "Webhook test account")
    visma_sim.add_supplier("88001", "Hook Supplier AS")
    visma_sim.add_segment_value(1, "0777", "Hook cost center")
    _refresh(visma_sim, ledger, (ACCOUNT, "6999"), (SUPPLIER, "88001"), (SEGMENT_VALUE, "1:0777"))
    assert ledger.master("acme", ACCOUNT)["6999"][0] is True
    assert ledger.master("acme", ACCOUNT)["6999"][1]["description"] == "Webhook test account"
    active, data = ledger.master("acme", SUPPLIER)["88001"]
    assert active and (data["name"], data["status"]) == ("Hook Supplier AS", "Active")
    assert ledger.master("acme", SEGMENT_VALUE)["1:0777"] == (True, {"description": "Hook cost center"})

    # Deactivated in Visma; the notices arrive in another order, one twice: the last read wins.
    visma_sim.deactivate_account("6999")
    visma_sim.modify_supplier("88001", status="Inactive")
    visma_sim.add_segment_value(1, "0777", "Hook cost center", active=False)
    _refresh(visma_sim, ledger, (SEGMENT_VALUE, "1:0777"), (SUPPLIER, "88001"), (ACCOUNT, "6999"))
    _refresh(visma_sim, ledger, (ACCOUNT, "6999"))
    assert ledger.master("acme", ACCOUNT)["6999"][0] is False
    assert ledger.master("acme", SUPPLIER)["88001"][0] is False
    assert ledger.master("acme", SEGMENT_VALUE)["1:0777"][0] is False


def test_an_entity_visma_does_not_have_is_not_invented(visma_sim: VismaSim, ledger: Ledger) -> None:
    _refresh(visma_sim, ledger, (ACCOUNT, "6998"), (SUPPLIER, "88999"), (SEGMENT_VALUE, "1:0999"))
    assert "6998" not in ledger.master("acme", ACCOUNT)
    assert "88999" not in ledger.master("acme", SUPPLIER)
    assert "1:0999" not in ledger.master("acme", SEGMENT_VALUE)
    # One we had cached that Visma no longer has stays, as inactive.
    ledger.upsert_master("acme", ACCOUNT, {"6998": (True, {"description": "gone"})})
    _refresh(visma_sim, ledger, (ACCOUNT, "6998"))
    assert ledger.master("acme", ACCOUNT)["6998"] == (False, {"description": "gone"})


def test_a_whole_segment_is_read_again(visma_sim: VismaSim, ledger: Ledger) -> None:
    visma_sim.add_segment_value(1, "0778", "Another one")
    _refresh(visma_sim, ledger, (SEGMENT, "1"))
    values = ledger.master("acme", SEGMENT_VALUE)
    assert values["1:0778"] == (True, {"description": "Another one"})
    assert all(key.startswith("1:") for key in values) and len(values) > 1
