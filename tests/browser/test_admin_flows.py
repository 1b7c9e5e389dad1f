"""The IVR flow editor in a real Chromium, with real calls, against a running demo node: the
demo admin, in the browser only, creates a queue, an operator with a desk phone, an IVR flow
drawn in the editor (greeting, then the new queue) and a number; a SIPp call to that number
reaches the new operator's baresip phone without a restart. A dead-end node then shows its
error on the node itself and `Go live` is refused, while the live version still answers
calls. With the dead end removed, `Test call` calls the draft from the admin's browser phone
and the draft sends that call to the operator too. Every change is in the audit log with who
made it. axe-core finds nothing serious; the screenshot at 1366x768 goes to docs/admin.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parley.store.specs import FlowSpec
from parley.testing.needs import BARESIP, SIPP, STOCK_PROMPTS, needs
from parley.testing.peers import Baresip, noise_signal, write_wav

from ..integration.inbound_node import call_record, caller_scenario, demo_node, dial
from ..integration.test_api_live import acd_state
from .conftest import chromium_path
from .test_desk import serious, shot
from .test_phone_calls import chromium

pytestmark = [pytest.mark.browser, needs(STOCK_PROMPTS, SIPP, BARESIP)]

NUMBER = "7001"


def _node(page: Any, node_id: str) -> Any:
    """The node ``node_id`` as the graph draws it."""
    return page.locator(".drawflow-node").filter(
        has=page.locator(".node-title strong", has_text=node_id))


async def _call_reaches_olga(node: Any, phone: Baresip, tmp_path: Path, name: str) -> None:
    """A SIPp call to the number is answered by olga's phone (and then hung up)."""
    mark = len(phone.events)
    scenario, _ = caller_scenario(tmp_path / name, talk_s=2.5)
    caller = await dial(node, tmp_path / name, NUMBER, scenario)
    await phone.wait_event("CALL_ESTABLISHED", within=20, since=mark)
    result = await caller.wait(within=30)
    assert result.ok, result.log
    record = await call_record(node, number=NUMBER, operator="olga")
    assert record.operator == "olga"


async def test_an_admin_draws_a_flow_to_a_new_queue_and_a_call_reaches_the_new_operator(
        tmp_path: Path) -> None:
    from playwright.async_api import expect

    chromium_path(axe=True)
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    microphone = write_wav(tmp_path / "mic.wav", noise_signal(10.0, 5))
    async with demo_node(tmp_path) as node, chromium(microphone) as browser:
        assert node.demo_login is not None
        context = await browser.new_context(viewport={"width": 1366, "height": 768})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{node.url}/login")
        await page.get_by_label("User name").fill(node.demo_login.username)
        await page.get_by_label("Password").fill(node.demo_login.password)
        await page.get_by_label("Browser phone").check()
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{node.url}/supervisor")

        # a queue, then an operator in it with a desk phone
        await page.goto(f"{node.url}/admin/queues/new")
        await page.get_by_role("textbox", name="Name", exact=True).fill("billing")
        await page.get_by_role("spinbutton", name="Wrap-up time (seconds)").fill("0")
        await page.get_by_role("button", name="Save queue").click()
        await expect(page).to_have_url(f"{node.url}/admin/queues/billing?saved=1")
        await page.goto(f"{node.url}/admin/users/new")
        await page.get_by_role("textbox", name="User name", exact=True).fill("olga")
        await page.get_by_label("Password", exact=True).fill("olga-secret")
        await page.get_by_role("group", name="Queues (as a member)").get_by_role(
            "checkbox", name="billing").check()
        await page.get_by_role("textbox", name="Add a device").fill("2001")
        await page.get_by_label("Its SIP password").fill("sip-2001-pw")
        await page.get_by_role("button", name="Save user").click()
        await expect(page).to_have_url(f"{node.url}/admin/users/olga?saved=1")

        # the flow, drawn: a greeting whose exit is dragged onto the queue node
        await page.get_by_role("navigation", name="Sections").get_by_role(
            "link", name="IVR flows").click()
        await page.get_by_role("link", name="New flow").click()
        await page.get_by_role("textbox", name="Name", exact=True).fill("billing-line")
        await page.get_by_role("textbox", name="Description").fill("Greeting, then billing")
        for node_id, kind in (("greet", "play"), ("to_billing", "queue")):
            await page.get_by_role("textbox", name="New node id").fill(node_id)
            await page.get_by_role("combobox", name="Type", exact=True).select_option(kind)
            await page.get_by_role("button", name="Add node").click()
        await page.get_by_role("textbox", name="queue", exact=True).fill("billing")
        await page.get_by_role("textbox", name="queue", exact=True).press("Tab")
        await page.get_by_role("button", name="greet (play)").click()
        await page.get_by_role("textbox", name="prompt", exact=True).fill("beep")
        await page.get_by_role("textbox", name="prompt", exact=True).press("Tab")
        await page.get_by_role("combobox", name="Start node").select_option("greet")
        await page.get_by_role("button", name="welcome (hangup)").click()
        await page.get_by_role("button", name="Remove node").click()
        greet, queue = _node(page, "greet"), _node(page, "to_billing")
        await greet.locator(".output_1").drag_to(queue.locator(".input_1"))
        await expect(greet).to_contain_text("next → to_billing")
        await expect(page.locator("#flow-issues")).to_be_empty()
        await page.get_by_role("button", name="Go live").click()
        await expect(page.get_by_role("status")).to_have_text("Version 1 is live.")
        stored = await node.store.config.get("flows", "billing-line")
        assert isinstance(stored, FlowSpec)
        assert stored.definition["nodes"]["greet"] == {
            "type": "play", "prompt": ["beep"], "next": "to_billing"}
        assert set(stored.definition["layout"]) == {"greet", "to_billing"}

        # the number that runs it
        await page.goto(f"{node.url}/admin/numbers")
        await page.get_by_role("textbox", name="Number", exact=True).fill(NUMBER)
        await page.get_by_role("combobox", name="Flow").select_option("billing-line")
        await page.get_by_role("button", name="Save number").click()
        await expect(page.get_by_role("status")).to_have_text("Saved.")

        phone = Baresip(tmp_path / "olga", user="2001", password="sip-2001-pw",
                        server_port=node.telephony.sip_port, auto_answer=True)
        await phone.start()
        try:
            await acd_state(node, "olga", "ready")
            await _call_reaches_olga(node, phone, tmp_path, "first")

            # a dead end: shown on its node, and the draft cannot go live
            await page.goto(f"{node.url}/admin/flows/billing-line")
            await page.get_by_role("textbox", name="New node id").fill("loop")
            await page.get_by_role("combobox", name="Type", exact=True).select_option("play")
            await page.get_by_role("button", name="Add node").click()
            await page.get_by_role("textbox", name="prompt", exact=True).fill("beep")
            await page.get_by_role("combobox", name="next", exact=True).select_option("loop")
            await page.get_by_role("button", name="greet (play)").click()
            await page.get_by_role("combobox", name="next", exact=True).select_option("loop")
            dead = _node(page, "loop")
            await expect(dead.locator(".node-issue")).to_contain_text("dead end")
            await page.get_by_role("button", name="Go live").click()
            await expect(page.get_by_role("status")).to_contain_text("Not live: flow")
            await expect(dead.locator(".node-issue")).to_contain_text("dead end")
            assert await serious(page) == []
            await shot(page, "admin-flow-error.png")
            live = await node.store.flows.history("billing-line")
            assert (live.live, live.find("draft") is not None) == (1, True)
            await _call_reaches_olga(node, phone, tmp_path, "second")  # version 1 still answers

            # fixed, then called from the browser before it goes live
            await page.get_by_role("button", name="loop (play)").click()
            await page.get_by_role("button", name="Remove node").click()
            await page.get_by_role("button", name="greet (play)").click()
            await page.get_by_role("combobox", name="next", exact=True).select_option("to_billing")
            await expect(page.locator("#flow-issues")).to_be_empty()
            await page.get_by_role("button", name="Test call").click()
            await expect(page.get_by_role("status")).to_have_text("Test call: connected.",
                                                                  timeout=20_000)
            await acd_state(node, "olga", "on_call")
            assert await serious(page) == []
            await shot(page, "admin-flow.png")
            await page.get_by_role("button", name="Hang up").click()
            await expect(page.get_by_role("status")).to_have_text("Test call ended.")
            # the test line took its one call and is gone
            assert [n for n in node.telephony.routed() if n.startswith("*7")] == []
            await page.get_by_role("link", name="IVR flows", exact=True).first.click()
            await expect(page.get_by_role("table", name="IVR flows")).to_contain_text(
                "Greeting, then billing")
            assert await serious(page) == []
        finally:
            await phone.stop()
        audit = await node.store.audit.list(target_type="flows")
        actions = [(entry.actor, entry.action) for entry in reversed(audit.items)]
        admin = node.demo_login.username
        assert (admin, "go_live") in actions
        assert (admin, "go_live_refused") in actions
        assert (admin, "trial") in actions
        assert errors == []
