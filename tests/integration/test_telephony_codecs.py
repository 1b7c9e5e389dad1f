"""Codec negotiation seen by a real peer: an offer Parley cannot serve is refused with 488."""

from __future__ import annotations

from pathlib import Path

from parley.telephony.server import Telephony
from parley.testing.ports import free_port

from .conftest import DATA, needs_sipp
from .test_telephony_sipp import call, phone

pytestmark = needs_sipp


async def test_offer_without_a_common_codec_gets_488_saying_why(parley: Telephony,
                                                                tmp_path: Path) -> None:
    """Refused at once, before the callee's phone is rung (nobody listens at its address)."""
    phone(parley, "1002", free_port())
    client, _ = await call(tmp_path, parley, DATA / "uac_g729_only.xml", "1002")
    assert client.ok, client.log
