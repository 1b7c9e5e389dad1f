"""What a configuration change costs a node at floor scale: importing the site, and reloading
the contact center's configuration and the SIP directory, with 1,400 operators.

Method: a fresh SQLite store (migrated) in a temporary folder; the provisioning document of
``bench/console_scale.py`` (1,400 operators with an extension each, their 1,400 devices with
SIP passwords and static contacts, seven queues of 200, a supervisor with a password) is
written by ``parley import``'s own function (``parley.provisioning.import_file``: one
transaction, every record checked), then imported again unchanged (what an admin's
re-import of an export costs). Then, ``--reloads`` times each, what a running node does
after every configuration change (``parley.app``'s reloaders): the contact center's
configuration read whole (``load_center_config``) and applied to a contact center
(``ContactCenter.apply_config``), and the SIP directory loaded again (``load_sip_users``).
Wall time of each step, in one process on one core; the best and the median of the
reloads. The node takes changes that arrive together in one reload
(``tests/test_app.py::test_a_burst_of_configuration_changes_is_taken_in_one_reload``).
Last, the same operators as an admin imports them in the web UI: a CSV of 1,400 users
(username, name, role, extension) posted to ``/api/users/import`` on a real API server
(``parley.testing.api``, its own fresh SQLite store), saved row by row as the API saves one
user, then posted again (every row an update).

    .venv/bin/python bench/config_reload.py [--operators 1400] [--reloads 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_scale import provisioning  # the scripts beside this one

from parley.app import load_sip_users
from parley.center.config import load_center_config
from parley.center.shell import ContactCenter
from parley.clock import MonotonicClock
from parley.ids import IdSource
from parley.provisioning import import_file
from parley.store import open_store
from parley.telephony.server import Telephony
from parley.telephony.users import MemoryDirectory
from parley.testing.api import ApiServer
from parley.testing.ports import free_port, telephony_settings
from parley.testing.postgres import migrated_sqlite


async def timed(label: str, runs: int, step: Callable[[], Awaitable[object]]) -> None:
    """Run ``step()`` ``runs`` times; print its best and median wall time."""
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    print(f"{label:<48} best {min(times) * 1000:8.0f} ms  median "
          f"{statistics.median(times) * 1000:8.0f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=1400)
    parser.add_argument("--reloads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-config-reload-") as tmp:
        document = Path(tmp) / "site.yaml"
        document.write_text(yaml.safe_dump(provisioning(args.operators, free_port())))
        store = await open_store(f"sqlite+aiosqlite:///{tmp}/parley.db")
        try:
            await timed(f"import {args.operators} operators, devices, queues", 1,
                        lambda: import_file(store, document))
            await timed("import the same document again (unchanged)", 1,
                        lambda: import_file(store, document))
            config = await load_center_config(store)
            print(f"(configuration: {len(config.users)} users, {len(config.devices)} devices, "
                  f"{len(config.queues)} queues)")
            await timed("reload: read the contact center's configuration", args.reloads,
                        lambda: load_center_config(store))
            clock = MonotonicClock()
            telephony = Telephony(telephony_settings(), MemoryDirectory(), clock)
            center = ContactCenter(telephony, clock, config, publish=lambda _event: None,
                                   data_dir=Path(tmp), ids=IdSource(clock))

            async def apply() -> None:
                center.apply_config(config)

            await timed("reload: apply it to the contact center", args.reloads, apply)
            directory = MemoryDirectory()
            await timed("reload: the SIP directory", args.reloads,
                        lambda: load_sip_users(store, directory, "parley"))
        finally:
            await store.close()
        await asyncio.to_thread(web_import, Path(tmp), args.operators)


def web_import(folder: Path, operators: int) -> None:
    """The operators imported from CSV through the API, twice; the time of each."""
    shutil.copyfile(migrated_sqlite(), folder / "web.sqlite3")
    rows = "".join(f"op{n},Operator {n},agent,{20000 + n}\n" for n in range(operators))
    csv = "username,display_name,roles,extension\n" + rows
    with ApiServer(f"sqlite+aiosqlite:///{folder / 'web.sqlite3'}", data_dir=folder) as server:
        token = server.add_user("admin1", ["admin"])
        with httpx.Client(base_url=server.url, timeout=600,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for label in ("created", "updated"):
                started = time.perf_counter()
                answer = client.post("/api/users/import", content=csv,
                                     headers={"Content-Type": "text/csv"})
                answer.raise_for_status()
                took = time.perf_counter() - started
                print(f"{'web UI CSV import, ' + label:<48} {len(answer.json()[label])} "
                      f"users in {took:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
