"""Property-based tests of the whole REST API from its OpenAPI document: schemathesis sends
generated requests, valid and invalid, to a running demo node with telephony and the contact
center running, on SQLite and on PostgreSQL. No answer may be a server error (503 included:
the live routes run for real here), and every answer must be documented: its status code,
content type and body schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from parley.provisioning import DEMO_ADMIN
from parley.testing.peers import Sipp
from parley.testing.postgres import (  # noqa: F401
    database_backend,
    database_url,
    postgres_server_url,
    postgres_template,
)

from .conftest import needs_sipp
from .inbound_node import caller_scenario, demo_node

#: On both cores with the tests that need no peer: the one SIPp caller only waits in a queue
#: (two minutes allowed) while the API is fuzzed, and no check depends on timing.
pytestmark = pytest.mark.beside_others

EXCLUDED = {
    # Revoking tokens or logging out would end the fuzzing session itself.
    ("DELETE", "/api/tokens/{token_id}"),
    ("POST", "/api/auth/logout"),
}

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

#: Generated cases per operation and mode: enough to reach each route's validation and its
#: live refusals, few enough for CI (a minute or two per backend).
EXAMPLES = 5


def any_string_in_path(parameter: Any) -> bool:
    """Whether ``parameter`` is a path segment that may be any string: no request can get it
    wrong, so there is no invalid case to send (hypothesis would spend half a second per
    operation finding that out before giving up as unsatisfiable)."""
    schema = {key: value for key, value in parameter.definition.get("schema", {}).items()
              if key not in ("title", "description")}
    return bool(parameter.location == "path" and schema == {"type": "string"})


def fuzz(url: str, token: str, *, tags: set[str] | None = None,
         skip: frozenset[tuple[str, str]] = frozenset(),
         path_parameters: dict[str, Any] | None = None) -> tuple[int, list[str]]:
    """Send valid and invalid generated requests to every operation (or those with one of
    ``tags``), with ``path_parameters`` fixed where a path has them; return how many
    operations ran and what failed, one entry per failing operation and mode."""
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in EXCLUDED or key in skip:
            continue
        if tags is not None and not tags & set(operation.tags or ()):
            continue
        operations += 1
        fixed = {name: value for name, value in (path_parameters or {}).items()
                 if f"{{{name}}}" in operation.path} or None
        free = [p for p in operation.iter_parameters() if p.name not in (fixed or {})]
        breakable = len(operation.body) or not all(map(any_string_in_path, free))
        invalid = [GenerationMode.NEGATIVE] if breakable else []
        for mode in [GenerationMode.POSITIVE, *invalid]:

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(mode, path_parameters=fixed))
            def exercise(case: schemathesis.Case) -> None:
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                       checks=CHECKS)

            try:
                exercise()
            except Unsatisfiable:  # every input of this schema is valid: nothing to break
                assert mode is GenerationMode.NEGATIVE
            except (AssertionError, BaseExceptionGroup) as exc:  # report every failure
                failures.append(f"{key[0]} {key[1]} ({mode}): {exc}")
    return operations, failures


@needs_sipp
async def test_no_server_errors_and_every_answer_documented(
        tmp_path: Path, database_url: str) -> None:  # noqa: F811
    """The live and operator routes as operator 1001 (an agent of the support queue with a
    device); the live routes as a supervisor against a real caller waiting for sales, whom
    the supervisor then hangs up; last the whole API as an admin."""
    async with demo_node(tmp_path, database_url=database_url) as node:
        now = node.clock.utcnow()
        admin, _ = await node.store.accounts.create_token(DEMO_ADMIN, "fuzz", now)
        operator, _ = await node.store.accounts.create_token("1001", "fuzz", now)
        supervisor, _ = await node.store.accounts.create_token("supervisor", "fuzz", now)
        ran, failures = await asyncio.to_thread(fuzz, node.url, operator,
                                                tags={"live", "operators"})
        assert ran >= 10

        scenario, _ = caller_scenario(tmp_path, talk_s=1.0, parley_hangs_up=True)
        caller = Sipp(tmp_path / "caller", scenario, service="601", calls=1,
                      target=f"127.0.0.1:{node.telephony.sip_port}",
                      extra=("-timeout", "120s", "-timeout_error"))
        headers = {"Authorization": f"Bearer {supervisor}"}
        try:
            async with httpx.AsyncClient(base_url=node.url, headers=headers,
                                         timeout=10) as api:
                await caller.start()
                call_id = await waiting_call(api)
                await asyncio.sleep(2)  # SIPp has sent its second of audio, awaits a BYE
                hang_up = ("DELETE", "/api/live/calls/{call_id}")
                _, more = await asyncio.to_thread(
                    fuzz, node.url, supervisor, tags={"live"}, skip=frozenset({hang_up}),
                    path_parameters={"call_id": call_id})
                failures += more
                # the call survived the fuzzing, still waiting; hanging it up ends it
                assert [call["state"] for call in (await api.get("/api/live/calls")).json()
                        if call["id"] == call_id] == ["queued"]
                ended = await api.delete(f"/api/live/calls/{call_id}")
                assert ended.status_code == 204, ended.text
            result = await caller.wait(within=15)
            assert result.ok, result.log  # the caller got the node's BYE
        finally:
            await caller.stop()

        # last, as it changes the configuration: everything, as an admin
        ran, more = await asyncio.to_thread(fuzz, node.url, admin)
        assert ran > 50
        failures += more
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as client:
            figures = await client.get("/api/live/queues",
                                       headers={"Authorization": f"Bearer {operator}"})
        assert figures.status_code == 200, figures.text  # the node still serves
    assert failures == []


async def waiting_call(api: httpx.AsyncClient, within: float = 15.0) -> str:
    """The id of the first call listed as queued (polling up to ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        for call in (await api.get("/api/live/calls")).json():
            if call["state"] == "queued":
                return str(call["id"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no queued call within {within} s")
