"""PostgreSQL's own failure: the set-up docs/deployment.md describes ("PostgreSQL's own
failure"), with Debian's PostgreSQL programs. A primary and a hot standby streaming from it
(``pg_basebackup -R``); the node's database URL names both, asking for the one that takes
writes. The primary fails (stopped at once, no checkpoint), the standby is promoted: the
node goes on with it by itself, and the call records of the calls made before, during and
after are all in the promoted database, each once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, build_request, new_branch
from parley.sip.uri import SipUri
from parley.store import open_store
from parley.store.database import database_url
from parley.testing.needs import POSTGRESQL, needs
from parley.testing.node import demo_node
from parley.testing.postgres import ThrowawayPostgres, create_database
from parley.testing.sipclient import RawSipClient

pytestmark = needs(POSTGRESQL)

OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@pytest.fixture
def servers() -> Iterator[tuple[ThrowawayPostgres, ThrowawayPostgres, str]]:
    """A primary with a database, and a hot standby streaming from it; the database's
    name."""
    primary, standby = ThrowawayPostgres(durable=True), ThrowawayPostgres(durable=True)
    try:
        primary.start()
        _url, name = create_database(primary.url)
        standby.start_standby_of(primary)
        primary.replicate_synchronously()
        yield primary, standby, name
    finally:
        primary.stop()
        standby.stop()


async def echo_call(port: int) -> str:
    """A call from 1001 to the echo test (500), answered, then hung up; its Call-ID."""
    async with RawSipClient("127.0.0.1", port) as phone:
        answer = await phone.authenticated("INVITE", "1001", "pw1001", target="500",
                                           body=OFFER)
        assert answer.status == 200, answer
        target = answer.contact.uri if answer.contact is not None \
            else SipUri(user="500", host="127.0.0.1", port=port)

        def in_dialog(method: str, seq: int) -> SipRequest:
            return build_request(
                method, target, from_=answer.from_, to=answer.to, call_id=answer.call_id,
                cseq=seq, via=Via("UDP", "127.0.0.1", phone.local_port,
                                  (("branch", new_branch()), ("rport", None))),
                contact=NameAddr(SipUri(user="1001", host="127.0.0.1", port=phone.local_port)))

        phone.send(in_dialog("ACK", answer.cseq.seq))
        await asyncio.sleep(0.3)
        assert (await phone.request(in_dialog("BYE", answer.cseq.seq + 1))).status == 200
        return answer.call_id


async def test_the_node_goes_on_with_the_promoted_standby_and_loses_no_record(
        tmp_path: Path, servers: tuple[ThrowawayPostgres, ThrowawayPostgres, str]) -> None:
    primary, standby, name = servers
    both = (f"postgresql://{primary.user}@/{name}?host=127.0.0.1,127.0.0.1"
            f"&port={primary.port},{standby.port}&target_session_attrs=read-write")
    async with demo_node(tmp_path, database_url=both) as node:
        before = await echo_call(node.telephony.sip_port)
        primary.crash()
        during = await echo_call(node.telephony.sip_port)  # no database takes writes now
        await asyncio.sleep(1.0)
        standby.promote()
        after = await echo_call(node.telephony.sip_port)
        store = await open_store(database_url(f"postgresql://{standby.user}@127.0.0.1:"
                                              f"{standby.port}/{name}", tmp_path),
                                 run_migrations=False)
        try:
            for _ in range(100):  # the records of the outage are written from the journal
                found = (await store.interactions.search()).items
                if len(found) >= 3 and all(record.ended_at for record in found):
                    break
                await asyncio.sleep(0.1)
            assert len(found) == 3, found  # none lost, none written twice
            assert {record.called for record in found} == {"500"}
            assert all(record.ended_at is not None for record in found)
        finally:
            await store.close()
    assert len({before, during, after}) == 3
