"""The desk card's look-up in the site's CRM, for callers Parley does not know yet
(``crm_lookup`` in the site settings, docs/configuration.md).

The answer only fills the card: nothing is stored until the operator saves it, and then the
customer is Parley's own (found locally on the next call). A CRM that is slow or broken
costs the card at most the configured timeout and says so on the card; it never stops the
call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from parley.store.specs import CrmLookupSpec

log = structlog.get_logger("parley.web.crm")


class CrmFailed(Exception):
    """The CRM did not answer usefully; the message says how, for the operator and the log."""


@dataclass(frozen=True, slots=True)
class CrmCustomer:
    """A customer as the CRM describes them, in the card's terms."""

    name: str
    status: str
    fields: dict[str, str] = field(default_factory=dict)


async def crm_customer(spec: CrmLookupSpec, number: str) -> CrmCustomer | None:
    """The CRM's customer with ``number`` (E.164), None when the CRM knows nobody (404, an
    empty answer, an empty list); raises :class:`CrmFailed` naming what went wrong."""
    url = spec.url.replace("${number}", quote(number, safe=""))
    try:
        async with httpx.AsyncClient(timeout=spec.timeout) as client:
            response = await client.request(
                spec.method, url, headers=spec.headers,
                json={"number": number} if spec.method == "POST" else None)
    except httpx.TimeoutException:
        raise CrmFailed(f"no answer within {spec.timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise CrmFailed(f"{type(exc).__name__}: {exc}"[:200]) from None
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise CrmFailed(f"it answered HTTP {response.status_code}")
    try:
        data: Any = response.json()
    except ValueError:
        raise CrmFailed("its answer is not JSON") from None
    for step in [part for part in spec.path.split(".") if part]:
        if data is None or data == {} or data == []:
            return None
        if not isinstance(data, dict) or step not in data:
            raise CrmFailed(f"its answer has no {spec.path!r}")
        data = data[step]
    if isinstance(data, list):
        data = data[0] if data else None
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        raise CrmFailed(f"the customer at {spec.path or 'the top'} of its answer is not an "
                        "object")
    keys = spec.fields if spec.fields is not None else [
        key for key in data if key not in (spec.name, spec.status)]
    fields = {str(key)[:64]: text for key in keys
              if (text := _text(data.get(key))) is not None}
    return CrmCustomer(name=_text(data.get(spec.name)) or "",
                       status=_text(data.get(spec.status)) or "", fields=fields)


def _text(value: object) -> str | None:
    """A plain value as the card shows it; None for nothing or a nested structure."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)[:2000]
