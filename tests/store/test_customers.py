"""Customers found by number, and the card saved with each call as the desk uses them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parley.clock import VirtualClock
from parley.store import Conflict, NotFound, Store

from .test_configuration import statements_of


async def test_a_customer_is_found_by_any_of_their_numbers_and_edited(store: Store) -> None:
    made = await store.customers.create(name="Anna Petrova", status="gold",
                                        fields={"contract": "C-17"},
                                        numbers=["+74951234567", "+79161234567"])
    found = await store.customers.by_number("+79161234567")
    assert found is not None
    assert found.id == made.id
    assert found.fields == {"contract": "C-17"}
    assert await store.customers.by_number("+74950000000") is None
    changed = await store.customers.update(made.id, status="platinum",
                                           numbers=["+74951234567"])
    assert changed.status == "platinum"
    assert changed.name == "Anna Petrova"
    assert await store.customers.by_number("+79161234567") is None  # the number was dropped
    assert (await store.customers.search(text="petrova")).total == 1
    assert (await store.customers.search(text="+7495")).items[0].id == made.id
    await store.customers.delete(made.id)
    with pytest.raises(NotFound):
        await store.customers.get(made.id)
    assert await store.customers.by_number("+74951234567") is None


async def test_a_page_of_customers_comes_with_each_ones_numbers_in_a_few_queries(
        store: Store) -> None:
    """The desk's search lists 50 customers a page; their numbers come in one query, not
    one per customer."""
    for index in range(30):
        await store.customers.create(name=f"Kunde {index:02d}",
                                     numbers=[f"+4930{index:04d}2", f"+4930{index:04d}1"])
    await store.customers.create(name="Nobody's number")
    page = await store.customers.search(text="", limit=50)
    assert page.total == 31
    by_name = {customer.name: customer.numbers for customer in page.items}
    assert by_name["Kunde 07"] == ("+493000071", "+493000072")
    assert by_name["Nobody's number"] == ()
    assert await statements_of(store, lambda: store.customers.search(text="", limit=50)) <= 4


async def test_a_number_belongs_to_one_customer(store: Store) -> None:
    await store.customers.create(name="First", numbers=["+74951234567"])
    with pytest.raises(Conflict, match=r"numbers: \+74951234567 belongs to customer"):
        await store.customers.create(name="Second", numbers=["+74951234567"])


async def test_cards_saved_on_calls_make_the_contact_history(store: Store,
                                                             clock: VirtualClock) -> None:
    customer = await store.customers.create(name="Anna", numbers=["+74951234567"])
    t0 = clock.utcnow()
    for index, call_id in enumerate(("call-1", "call-2", "call-3")):
        await store.interactions.open(call_id, direction="inbound", caller="+74951234567",
                                      called="602", started_at=t0 + timedelta(minutes=index))
    await store.interactions.open("other", direction="inbound", caller="+74950000000",
                                  called="602", started_at=t0)
    await store.customers.save_card(interaction_id="call-1", number="+74951234567",
                                    operator="1001", customer_id=customer.id,
                                    card={"name": "Anna", "notes": "asked about the bill"})
    saved = await store.customers.save_card(
        interaction_id="call-1", number="+74951234567", operator="1001",
        customer_id=customer.id, card={"name": "Anna", "notes": "paid", "result": "resolved"})
    assert (await store.customers.card("call-1")) == saved  # saved again: the newer counts
    history = await store.customers.history(["+74951234567"], exclude="call-3")
    assert [entry.interaction_id for entry in history] == ["call-2", "call-1"]
    assert (history[1].notes, history[1].result) == ("paid", "resolved")
    assert history[0].notes == ""
