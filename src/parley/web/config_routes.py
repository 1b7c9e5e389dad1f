"""Create, read, update and delete for every kind of configuration record.

Each kind in :data:`parley.store.specs.KINDS` gets the same five routes under
``/api/<kind>``; supervisors read, admins write, and every write is in the audit log.
Secret fields (password hashes, HA1 digests, webhook secrets) are accepted but never shown.
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response, status
from pydantic import BaseModel, create_model

from parley.center.config import flow_text
from parley.dialer.ranges import NumberRanges
from parley.events import ConfigurationChanged
from parley.ivr.validator import ValidatedFlow, validate_flow
from parley.store import NotFound, Refused
from parley.store.records import Principal
from parley.store.specs import KINDS, ConfigDocument, FlowSpec, Role, SiteSpec, Spec, UserSpec
from parley.web.auth import Admin, Agent, Ctx, Supervisor, WebContext

OWN_ROUTES = frozenset({"campaigns"})
"""Kinds with routes of their own (parley.web.campaigns_routes: runtime state beside the
settings)."""


@functools.cache
def public_model(spec: type[Spec]) -> type[BaseModel]:
    """The response model of a kind: its fields without the secret ones (one per kind, so
    that the OpenAPI document names each once)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in spec.model_fields.items() if name not in spec.secret_fields}
    model: type[BaseModel] = create_model(spec.__name__.replace("Spec", ""), **fields)
    return model


def public(spec: Spec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude=set(spec.secret_fields))


async def audit(ctx: WebContext, principal: Principal, action: str, target_type: str,
                target: str, detail: dict[str, Any] | None = None) -> None:
    await ctx.store.audit.record(ctx.clock.utcnow(), principal.username, action, target_type,
                                 target, detail)


def announce(ctx: WebContext, kind: str, key: str, action: str) -> None:
    """Tell services that keep a copy of the configuration to reload it."""
    ctx.bus.publish(ConfigurationChanged(kind, key, action))


async def _keep_an_admin(ctx: WebContext, username: str, field: str) -> None:
    """Refuse a change that would leave no active admin (nobody could manage the site).
    Only a change to an active admin can: the others cost one read, not a read of every
    user (which made an import of 1,400 users through the web UI quadratic)."""
    current = await ctx.store.config.get("users", username)
    if not (isinstance(current, UserSpec) and current.active and Role.ADMIN in current.roles):
        return
    admins = [user.key for user in await ctx.store.config.records("users")
              if isinstance(user, UserSpec) and user.active and Role.ADMIN in user.roles]
    if admins == [username]:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"{field}: {username!r} is the last active admin; make another "
                            "user admin first")


async def checked_flow(ctx: WebContext, spec: FlowSpec) -> ValidatedFlow:
    """A flow's definition validated as the node will run it (in the site's time zone)."""
    site = await ctx.store.config.site()
    return validate_flow(flow_text(spec, site.time_zone), f"flow {spec.name}")


async def save_record(ctx: WebContext, principal: Principal, kind: str, spec: Spec,
                      action: str) -> dict[str, Any]:
    """Store ``spec`` as the API does (the last admin kept, references checked, a flow
    validated, the change audited and announced); its public form as stored. The CSV
    imports save row by row through here too."""
    if isinstance(spec, FlowSpec):  # it goes live at once: never one with errors
        errors = (await checked_flow(ctx, spec)).errors
        if errors:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"definition: the flow has {len(errors)} error(s) and was not "
                                "stored; the live version keeps answering calls: "
                                + "; ".join(str(issue) for issue in errors[:5]))
    if isinstance(spec, UserSpec) and (Role.ADMIN not in spec.roles or not spec.active):
        await _keep_an_admin(ctx, spec.username, "roles")
    try:
        changed = await ctx.store.config.put(kind, spec)
    except (NotFound, Refused) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    fields = sorted(spec.model_fields_set - spec.secret_fields)
    await audit(ctx, principal, action, kind, spec.key, {"changed": changed, "fields": fields})
    if changed:
        announce(ctx, kind, spec.key, action)
    stored = await ctx.store.config.get(kind, spec.key)
    assert stored is not None  # noqa: S101 - just written in its own transaction
    return public(stored)


AGENT_READS = frozenset({"scripts", "result_codes"})
"""Kinds every operator may read (the desk shows them); the others need a supervisor."""


def _kind_routes(router: APIRouter, kind: str, spec_type: type[Spec]) -> None:
    out = public_model(spec_type)
    key = spec_type.key_field
    label = kind.removesuffix("s").replace("_", " ")

    async def list_records(ctx: Ctx, _p: Principal) -> list[dict[str, Any]]:
        return [public(spec) for spec in await ctx.store.config.records(kind)]

    async def get_record(name: str, ctx: Ctx, _p: Principal) -> dict[str, Any]:
        spec = await ctx.store.config.get(kind, name)
        if spec is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {label} named {name!r}")
        return public(spec)

    # Supervisors read the configuration; what operators work with (scripts, result codes)
    # every operator reads.
    reader = Agent if kind in AGENT_READS else Supervisor
    list_records.__annotations__["_p"] = reader
    get_record.__annotations__["_p"] = reader

    async def save(ctx: WebContext, principal: Principal, spec: Spec,
                   action: str) -> dict[str, Any]:
        return await save_record(ctx, principal, kind, spec, action)

    async def create_record(response: Response, spec: Spec, ctx: Ctx,
                            principal: Admin) -> dict[str, Any]:
        item = spec
        if await ctx.store.config.get(kind, item.key) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"{key}: a {label} named {item.key!r} exists; use PUT to change it")
        response.status_code = status.HTTP_201_CREATED
        return await save(ctx, principal, item, "create")

    async def put_record(name: str, spec: Spec, ctx: Ctx,
                         principal: Admin) -> dict[str, Any]:
        item = spec
        if item.key != name:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{key}: the body names {item.key!r} but the URL names {name!r}")
        return await save(ctx, principal, item, "update")

    async def delete_record(name: str, ctx: Ctx, principal: Admin) -> Response:
        if kind == "users":
            await _keep_an_admin(ctx, name, "username")
        await ctx.store.config.delete(kind, name)
        await audit(ctx, principal, "delete", kind, name)
        announce(ctx, kind, name, "delete")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # The body's model is this kind's spec (annotations are strings under PEP 563, so the
    # concrete type is set here for FastAPI to read).
    create_record.__annotations__["spec"] = Annotated[spec_type, Body()]
    put_record.__annotations__["spec"] = Annotated[spec_type, Body()]
    tags: list[str | Enum] = [kind]
    router.add_api_route(f"/api/{kind}", list_records, methods=["GET"],
                         response_model=list[out],  # type: ignore[valid-type]
                         summary=f"List {kind.replace('_', ' ')}", tags=tags,
                         name=f"list_{kind}")
    router.add_api_route(f"/api/{kind}", create_record, methods=["POST"], response_model=out,
                         status_code=201, summary=f"Create a {label}", tags=tags,
                         name=f"create_{kind}",
                         responses={409: {"description": "exists already"}})
    router.add_api_route(f"/api/{kind}/{{name}}", get_record, methods=["GET"],
                         response_model=out, summary=f"Read a {label}", tags=tags,
                         name=f"get_{kind}", responses={404: {"description": "not found"}})
    router.add_api_route(f"/api/{kind}/{{name}}", put_record, methods=["PUT"],
                         response_model=out, summary=f"Create or replace a {label}", tags=tags,
                         name=f"put_{kind}")
    router.add_api_route(f"/api/{kind}/{{name}}", delete_record, methods=["DELETE"],
                         status_code=204, summary=f"Delete a {label}", tags=tags,
                         name=f"delete_{kind}",
                         responses={404: {"description": "not found"},
                                    409: {"description": "still in use"}})


def config_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/site", response_model=SiteSpec, tags=["site"], summary="Read the site")
    async def get_site(ctx: Ctx, principal: Agent) -> SiteSpec:
        site = await ctx.store.config.site()
        crm = site.crm_lookup
        if crm is not None and crm.headers and Role.ADMIN.value not in principal.roles:
            # the CRM's credentials are for admins' eyes only
            hidden = {name: "(hidden)" for name in crm.headers}
            site = site.model_copy(update={"crm_lookup": crm.model_copy(
                update={"headers": hidden})})
        return site

    @router.put("/api/site", response_model=SiteSpec, tags=["site"], summary="Change the site")
    async def put_site(spec: SiteSpec, ctx: Ctx, principal: Admin) -> SiteSpec:
        changed = await ctx.store.config.put_site(spec)
        await audit(ctx, principal, "update", "site", spec.name, {"changed": changed})
        if changed:
            announce(ctx, "site", spec.name, "update")
        return await ctx.store.config.site()

    for kind, spec_type in KINDS.items():
        if kind not in OWN_ROUTES:
            _kind_routes(router, kind, spec_type)

    @router.get("/api/flows/{name}/versions", response_model=list[FlowSpec], tags=["flows"],
                summary="Every saved version of a flow")
    async def flow_versions(name: str, ctx: Ctx, _p: Supervisor) -> list[FlowSpec]:
        return await ctx.store.config.flow_versions(name)

    @router.get("/api/config", tags=["provisioning"],
                summary="Export the whole configuration (the provisioning document)")
    async def export_config(ctx: Ctx, principal: Admin) -> dict[str, Any]:
        await audit(ctx, principal, "export", "config", "*")
        document = await ctx.store.config.document()
        return document.model_dump(mode="json", exclude_none=True)

    @router.post("/api/config", tags=["provisioning"],
                 summary="Import a provisioning document (records are created or updated)")
    async def import_config(document: ConfigDocument, ctx: Ctx,
                            principal: Admin) -> dict[str, int]:
        if document.number_ranges is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "number_ranges: a file path is read by `parley import` only; "
                                "upload the table with PUT /api/number_ranges")
        try:
            changes = await ctx.store.config.apply(document)
        except (NotFound, Refused) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        await audit(ctx, principal, "import", "config", "*", {"changes": changes})
        for kind in changes:
            announce(ctx, kind, "*", "import")
        return changes

    return router


async def site_ranges(ctx: WebContext) -> NumberRanges | None:
    """The site's number-range table, parsed once per change (a national register has
    hundreds of thousands of lines); None when the site has none."""
    stamp = await ctx.store.campaigns.number_ranges_updated_at()
    if stamp is None:
        return None
    cached = ctx.extra.get("number_ranges")
    if isinstance(cached, tuple) and cached[0] == stamp:
        table: NumberRanges = cached[1]
        return table
    record = await ctx.store.campaigns.number_ranges()
    if record is None:
        return None
    table, problems = NumberRanges.check_csv(record.csv)
    if problems:  # checked on upload; a table edited in the database is refused whole
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR,
                            f"number_ranges: the stored table is invalid: {problems[0]}")
    ctx.extra["number_ranges"] = (record.updated_at, table)
    return table
