"""From the operator's phone ringing to the customer's card drawn on the desk: p50/p95/max
over calls placed at a steady rate, measured inside real Chromium desk pages.

Method: a fresh node (``parley serve --config``, SQLite) with queue ``bench`` (fixed order:
the ``--pages`` desk operators first, then ``--operators`` sipp answerers at static contacts,
as in bench/inbound_queue.py; no wrap-up, no recording) behind number 700. Every caller's
number is a known customer (created over ``POST /api/customers`` before the run), so each
card is drawn with a customer found in the store. Each desk operator signs in at ``/login``
with the browser phone in its own Chromium context, as at a real desk, and clicks Ready.
A sipp caller places ``--calls`` calls at ``--rate`` a second from those numbers; each call
lasts ``--talk`` seconds after Parley answers it (queue and operator included), then the
caller hangs up. The desk operators take every call the queue gives them while they are
free, keep it ``--hold`` seconds and hang up (calls short, so that the pages ring often);
the sipp answerers take the rest.

In each page an init script timestamps (``performance.now()``, also left as performance
marks): the SIP INVITE as it arrives on the phone's WebSocket (before JsSIP reads it); the
ring (the desk's ``desk:call`` event with state ``ringing``, when the page shows the call);
the card in the DOM (a MutationObserver on the card region sees the caller's number with the
call's interaction); the card painted (the next animation frame). Then the page answers, as
an operator would click Answer, and hangs up ``--hold`` seconds later. Reported per call on
a page: INVITE to ring, ring to card in the DOM, and INVITE to card painted (the figure: from
the phone ringing to the card a person sees), p50, p95 and max; and how many of the
caller's calls succeeded. The node, the pages and sipp share this machine's cores.

    .venv/bin/python bench/desk_ring_to_card.py --calls 200 --rate 20 --pages 3
    .venv/bin/python bench/desk_ring_to_card.py --calls 20 --rate 5 --pages 1   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_events import sign_in
from inbound_queue import SCENARIOS, Node, csv_rows

from parley.testing.peers import Sipp
from parley.testing.ports import LOOPBACK, free_port, free_port_block

CHROMIUM = "/usr/bin/chromium"
QUEUE_NUMBER = "700"
FIRST_PAGE, FIRST_ANSWERER = 41001, 42001
ADMIN, ADMIN_PASSWORD = "bench-admin", "pw-bench-admin"


def customer_number(index: int) -> str:
    return f"+7495700{index + 1:04d}"


def provisioning(pages: int, answerers: int, answerer_port: int) -> dict[str, Any]:
    desks = [str(FIRST_PAGE + index) for index in range(pages)]
    phones = [str(FIRST_ANSWERER + index) for index in range(answerers)]
    flow = {"flow": "bench-desk", "start": "to_queue",
            "nodes": {"to_queue": {"type": "queue", "queue": "bench"}}}
    return {
        "version": 1,
        "site": {"name": "Desk ring-to-card benchmark", "time_zone": "UTC",
                 "sip_realm": "parley", "ready_on_register": True},
        "users": [*({"username": name, "display_name": f"Desk {name}", "roles": ["agent"],
                     "extension": name, "password": f"pw-{name}"} for name in desks),
                  *({"username": name, "display_name": f"Phone {name}", "roles": ["agent"],
                     "extension": name} for name in phones),
                  {"username": ADMIN, "roles": ["admin"], "password": ADMIN_PASSWORD}],
        "devices": [*({"name": name, "user": name, "sip_password": f"sip-{name}"}
                      for name in desks),
                    *({"name": name, "user": name, "sip_password": f"sip-{name}",
                       "static_contact": f"sip:{name}@{LOOPBACK}:{answerer_port}"}
                      for name in phones)],
        "queues": [{"name": "bench", "strategy": "fixed_order", "wrap_up_s": 0,
                    "ring_timeout_s": 15, "announce_every_s": 0, "recording": "none",
                    "members": [*desks, *phones]}],
        "flows": [{"name": "bench-desk", "description": "Straight to the queue",
                   "definition": flow}],
        "numbers": [{"number": QUEUE_NUMBER, "flow": "bench-desk",
                     "description": "Desk ring-to-card benchmark"}],
    }


#: After the ACK: Parley's BYE (a desk operator hung up) is answered; without one within the
#: call's length the caller hangs up itself (a sipp answerer never does).
AWAIT_BYE_OR_HANG_UP = """  <recv request="BYE" timeout="{talk_ms}" ontimeout="1"/>
  <send next="2">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="1"/>
"""


def caller_files(folder: Path, calls: int, talk: float) -> tuple[Path, Path]:
    """The shared no-media caller scenario, calling from the numbers of an injection file and
    ending when a desk operator hangs up, else after ``talk`` seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (SCENARIOS / "uac_queue_nortp.xml").read_text(encoding="iso-8859-1")
    text = text.replace("caller[call_number]", "[field0]")
    text = text.replace("  <pause/>\n", AWAIT_BYE_OR_HANG_UP.format(talk_ms=int(talk * 1000)))
    text = text.replace('  <ResponseTimeRepartition', '  <label id="2"/>\n'
                        '  <ResponseTimeRepartition')
    if 'ontimeout="1"' not in text or '<label id="2"/>' not in text:
        raise RuntimeError("bench/sipp/uac_queue_nortp.xml changed: adapt caller_files")
    scenario = folder / "uac_desk.xml"
    scenario.write_text(text, encoding="iso-8859-1")
    numbers = folder / "numbers.csv"
    numbers.write_text("SEQUENTIAL\n" + "".join(f"{customer_number(index)};\n"
                                                for index in range(calls)))
    return scenario, numbers


#: Runs in each desk page before its own scripts: the timestamps of every offered call.
PAGE_PROBE = """
(() => {
  const bench = { invites: new Map(), rings: new Map(), samples: [] };
  window.__bench = bench;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // registered before JsSIP's own handler: the INVITE's arrival at the phone
      this.addEventListener("message", (message) => {
        if (typeof message.data !== "string" || !message.data.startsWith("INVITE ")) return;
        const found = /^X-Parley-Interaction:\\s*(\\S+)/mi.exec(message.data);
        if (found) {
          bench.invites.set(found[1], performance.now());
          performance.mark(`invite:${found[1]}`);
        }
      });
    }
  };
  const watch = (interaction) => {
    const region = document.getElementById("card");
    const drawn = () => {
      const field = region.querySelector('form#card-form input[name="interaction"]');
      return field && field.value === interaction
        && region.querySelector('[data-testid="card-number"]')
        && region.querySelector("#card-name")?.value;
    };
    const done = () => {
      const inDom = performance.now();
      performance.mark(`card:${interaction}`);
      requestAnimationFrame(() => {
        bench.samples.push({ interaction, invite: bench.invites.get(interaction) ?? null,
                             ring: bench.rings.get(interaction), dom: inDom,
                             painted: performance.now() });
        const answer = document.getElementById("answer");
        if (!answer || answer.disabled) return;
        answer.click();  // the operator takes the call, keeps it HOLD_MS, and hangs up
        const since = performance.now();
        const hangUp = setInterval(() => {
          if (document.body.dataset.call === "ended" || performance.now() - since > 10000) {
            clearInterval(hangUp);
          } else if (document.body.dataset.call === "talking"
              && performance.now() - since > HOLD_MS) {
            clearInterval(hangUp);
            document.getElementById("hangup")?.click();
          }
        }, 50);
      });
    };
    if (drawn()) { done(); return; }
    const observer = new MutationObserver(() => {
      if (drawn()) { observer.disconnect(); done(); }
    });
    observer.observe(region, { childList: true, subtree: true });
  };
  document.addEventListener("desk:call", (event) => {
    const call = event.detail;
    if (call.state !== "ringing" || !call.interaction || bench.rings.has(call.interaction)) {
      return;
    }
    bench.rings.set(call.interaction, performance.now());
    performance.mark(`ring:${call.interaction}`);
    watch(call.interaction);
  });
})();
"""


async def open_desk(browser: Any, url: str, user: str, hold: float) -> Any:
    """A desk page of ``user`` with the browser phone, registered and Ready; it keeps each
    call it answers ``hold`` seconds."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    await context.add_init_script(PAGE_PROBE.replace("HOLD_MS", str(int(hold * 1000))))
    page = await context.new_page()
    await page.goto(f"{url}/login")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(f"pw-{user}")
    await page.get_by_label("Browser phone").check()
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/desk")
    await page.wait_for_function(
        "document.getElementById('phone-state').textContent.includes('ready')", timeout=30_000)
    await page.get_by_role("button", name="Ready", exact=True).click()
    await page.wait_for_function("document.body.dataset.state === 'ready'", timeout=10_000)
    return page


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"p50 {statistics.median(values):6.1f} ms  p95 {percentile(values, 0.95):6.1f} ms"
            f"  max {max(values):6.1f} ms")


async def run(calls: int, rate: float, pages: int, answerers: int, talk: float,
              hold: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="desk-ring-to-card-") as folder:
        workdir = Path(folder)
        answerer_port = free_port()
        config = workdir / "site.yaml"
        config.write_text(yaml.safe_dump(provisioning(pages, answerers, answerer_port),
                                         sort_keys=False))
        first = free_port_block(2000)
        node = Node(workdir, config, (first, first + 1999))
        scenario, numbers = caller_files(workdir / "caller-files", calls, talk)
        answering = Sipp(workdir / "answerers", SCENARIOS / "uas_agent.xml",
                         port=answerer_port)
        limit = int(calls / rate + talk + 60)
        caller = Sipp(workdir / "caller", scenario, service=QUEUE_NUMBER, port=free_port(),
                      calls=calls, rate=rate,
                      extra=("-inf", str(numbers), "-recv_timeout", "32000",
                             "-timeout", f"{limit}s", "-timeout_error"))
        samples: list[dict[str, Any]] = []
        try:
            await node.start()
            await answering.start()
            url = f"http://{LOOPBACK}:{node.http_port}"
            async with httpx.AsyncClient(base_url=url, timeout=60) as admin:
                await sign_in(admin, ADMIN, ADMIN_PASSWORD)
                admin.headers["X-CSRF-Token"] = admin.cookies.get("parley_csrf") or ""
                for index in range(calls):
                    made = await admin.post("/api/customers", json={
                        "name": f"Customer {index + 1}", "status": "regular",
                        "fields": {"contract": f"C-{index + 1}"},
                        "numbers": [customer_number(index)]})
                    made.raise_for_status()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True,
                    args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          "--allow-loopback-in-peer-connection",
                          "--autoplay-policy=no-user-gesture-required"])
                try:
                    desks = [await open_desk(browser, url, str(FIRST_PAGE + index), hold)
                             for index in range(pages)]
                    await asyncio.sleep(2.0)  # the sipp answerers are ready too
                    caller.target = f"{LOOPBACK}:{node.sip_port}"
                    began = time.monotonic()
                    await caller.start()
                    with contextlib.suppress(Exception):
                        await caller.wait(limit + 30)
                    wall = time.monotonic() - began
                    await asyncio.sleep(1.0)
                    for desk in desks:
                        samples += await desk.evaluate("window.__bench.samples")
                finally:
                    await browser.close()
        finally:
            with contextlib.suppress(Exception):
                await caller.stop()
            with contextlib.suppress(Exception):
                await answering.stop()
            await node.stop()
        result = caller.result()
        rows = csv_rows(workdir / "caller" / f"{scenario.stem}-stat.csv")
    return {"samples": samples, "successful": result.successful, "failed": result.failed,
            "wall_s": wall, "rows": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="calls a second")
    parser.add_argument("--pages", type=int, default=3, choices=(1, 2, 3),
                        help="real Chromium desk pages (the other operators are sipp)")
    parser.add_argument("--operators", type=int, default=60,
                        help="sipp answerers beside the pages")
    parser.add_argument("--talk", type=float, default=2.0,
                        help="seconds a call lasts after Parley answers it, unless a desk "
                             "operator hangs up first")
    parser.add_argument("--hold", type=float, default=0.3,
                        help="seconds a desk operator keeps each call it answers")
    args = parser.parse_args()
    for tool in ("sipp", CHROMIUM):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    print(f"{args.calls} calls at {args.rate:g}/s, {args.pages} desk page(s) in Chromium and "
          f"{args.operators} sipp operators, calls of {args.talk:g} s (a desk's: "
          f"{args.hold:g} s after its answer)")
    out = asyncio.run(run(args.calls, args.rate, args.pages, args.operators, args.talk,
                          args.hold))
    samples = out["samples"]
    invite_to_ring = [s["ring"] - s["invite"] for s in samples if s["invite"] is not None]
    ring_to_dom = [s["dom"] - s["ring"] for s in samples]
    ring_to_paint = [s["painted"] - s["ring"] for s in samples]
    invite_to_paint = [s["painted"] - s["invite"] for s in samples if s["invite"] is not None]
    print(f"callers: {out['successful']} ok, {out['failed']} failed in {out['wall_s']:.1f} s; "
          f"calls rung on the desk pages: {len(samples)}")
    print(f"  INVITE at the phone -> ring shown:   {figures(invite_to_ring)}")
    print(f"  ring -> card in the DOM:             {figures(ring_to_dom)}")
    print(f"  ring -> card painted:                {figures(ring_to_paint)}")
    print(f"  INVITE at the phone -> card painted: {figures(invite_to_paint)}")


if __name__ == "__main__":
    main()
