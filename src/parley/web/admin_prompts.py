"""Prompts admins upload or type, per language: the API (``/api/prompts``) and the admin page.

A prompt is kept in the store (parley.store.prompts) and mirrored into each node's
uploaded-prompts folder (``<data_dir>/prompts/<language>/<name>.wav``,
parley.config.prompts_dir), which the prompt library searches before the site's own folders
and the stock prompts: a flow or queue naming ``welcome`` plays the uploaded ``welcome`` from
the next call on, without a restart (on another node, within half a minute). An upload is
checked (a WAV file of PCM or float samples, not empty, at most ten minutes) and stored as the
library plays it, 8 kHz mono 16-bit; typed text is spoken by espeak-ng in the language's
voice, as the media layer speaks, and its text is kept with it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, StringConstraints, ValidationError

from parley.config import LANGUAGES
from parley.media import MediaError
from parley.media.audio import decode_wav, encode_wav, to_telephony
from parley.store.prompts import PromptInfo, PromptMirror
from parley.telephony.prompts import PromptError, PromptLibrary
from parley.web.admin import _admin
from parley.web.admin_outbound import page
from parley.web.auth import Admin, Ctx, Supervisor, WebContext
from parley.web.config_routes import audit
from parley.web.schemas import ErrorOut

router = APIRouter(tags=["prompts"])

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_BYTES = 50 * 1024 * 1024
MAX_SECONDS = 600.0
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
TEXTS = ("Prompts", "Recording", "Speech", "There is no prompt {name}.")


class SpeechIn(BaseModel):
    """Text to speak in the language's voice."""

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=2000)]


class PromptOut(BaseModel):
    """An uploaded or typed prompt: its length, and the text it speaks (typed ones)."""

    name: str
    language: str
    duration_s: float
    text: str | None
    updated_at: datetime


def _library(ctx: WebContext) -> tuple[PromptLibrary, Path]:
    library = ctx.prompts
    if library is None or library.uploads is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "prompts: no prompt library runs on this server")
    return library, library.uploads


def _checked(language: str, name: str) -> None:
    """Refuse a language or name that is not one, naming the field."""
    if language not in LANGUAGES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"language: {language!r} is not one of {', '.join(LANGUAGES)}")
    if not NAME.match(name):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"name: {name!r} is not a prompt name: lower-case letters, digits, "
                            "'-' and '_', such as 'welcome' or 'queue-thereare'")


def _out(info: PromptInfo) -> PromptOut:
    return PromptOut(name=info.name, language=info.language, duration_s=info.duration_s,
                     text=info.text, updated_at=info.updated_at)


def _mirror(ctx: WebContext) -> PromptMirror:
    """This node's copy of the stored prompts, which its prompt library plays."""
    return PromptMirror(ctx.store.prompts, _library(ctx)[1], ctx.clock, LANGUAGES)


async def uploaded(ctx: WebContext) -> dict[str, list[PromptOut]]:
    """Every uploaded or typed prompt, by language, by name."""
    found: dict[str, list[PromptOut]] = {language: [] for language in LANGUAGES}
    for info in await ctx.store.prompts.list():
        found.setdefault(info.language, []).append(_out(info))
    return found


def checked_wav(data: bytes) -> bytes:
    """The upload as the library plays it (8 kHz mono 16-bit WAV); a 422 that says what is
    wrong with the file otherwise."""
    def refuse(reason: str) -> HTTPException:
        return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"file: {reason}")

    if not data:
        raise refuse("the file is empty")
    if not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        raise refuse("not a WAV file (it does not start with RIFF…WAVE); record or export "
                     "the prompt as WAV")
    try:
        audio = decode_wav(data, "the file")
    except MediaError as exc:
        raise refuse(str(exc).removeprefix("the file: ")) from exc
    seconds = len(audio.samples) / audio.rate
    if seconds < 0.1:
        raise refuse("it holds no audio")
    if seconds > MAX_SECONDS:
        raise refuse(f"it lasts {seconds / 60:.1f} minutes; a prompt may last at most "
                     f"{MAX_SECONDS / 60:.0f}")
    return encode_wav(to_telephony(audio))


@router.get("/api/prompts", response_model=dict[str, list[PromptOut]],
            summary="Uploaded and typed prompts, by language")
async def list_prompts(ctx: Ctx, _p: Supervisor) -> dict[str, list[PromptOut]]:
    return await uploaded(ctx)


@router.get("/api/prompts/{language}/{name}", response_class=Response,
            summary="An uploaded or typed prompt's audio (WAV, 8 kHz mono)",
            responses={200: {"content": {"audio/wav": {}}}, 404: {"description": "none"}})
async def get_prompt(language: str, name: str, ctx: Ctx, _p: Supervisor) -> Response:
    _checked(language, name)
    found = await ctx.store.prompts.get(language, name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"name: there is no prompt {name!r} in language {language!r}")
    return Response(found.audio, media_type="audio/wav", headers={"Cache-Control": "no-store"})


@router.put("/api/prompts/{language}/{name}", response_model=PromptOut,
            summary="Upload a recording (audio/wav) or type text to speak (JSON {\"text\"})",
            openapi_extra={"requestBody": {"required": True, "content": {
                "audio/wav": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": SpeechIn.model_json_schema()}}}},
            responses={413: {"model": ErrorOut, "description": "too large"},
                       415: {"model": ErrorOut, "description": "neither audio/wav nor JSON"},
                       422: {"description": "not a usable WAV file, or no text"}})
async def put_prompt(language: str, name: str, request: Request, ctx: Ctx,
                     principal: Admin) -> PromptOut:
    _checked(language, name)
    library = _library(ctx)[0]
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if len(raw) > MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"file: larger than {MAX_BYTES // 1024 // 1024} MB")
    text: str | None = None
    if kind in WAV_TYPES:
        wav = await asyncio.to_thread(checked_wav, raw)
    elif kind == "application/json":
        try:
            text = SpeechIn.model_validate_json(raw).text
        except ValidationError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"text: {exc.errors()[0]['msg']}") from exc
        if "\x00" in text:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "text: NUL characters are not allowed")
        try:
            spoken = await library.speak(text, library.voice_for(language))
        except PromptError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"text: {exc}") from exc
        wav = encode_wav(spoken.pcm)
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "file: send a recording as audio/wav or text to speak as JSON "
                            "{\"text\": ...}")
    info = await ctx.store.prompts.put(language, name, wav, text, ctx.clock.utcnow())
    await _mirror(ctx).sync()
    await audit(ctx, principal, "update", "prompts", f"{language}/{name}",
                {"source": "recording" if text is None else "speech"})
    return _out(info)


@router.delete("/api/prompts/{language}/{name}", status_code=204,
               summary="Delete an uploaded or typed prompt (a stock one of the same name "
                       "plays again)", responses={404: {"description": "none"}})
async def delete_prompt(language: str, name: str, ctx: Ctx, principal: Admin) -> Response:
    _checked(language, name)
    mirror = _mirror(ctx)
    if not await ctx.store.prompts.delete(language, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"name: there is no prompt {name!r} in language {language!r}")
    await mirror.sync()
    await audit(ctx, principal, "delete", "prompts", f"{language}/{name}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/admin/prompts", response_class=HTMLResponse, include_in_schema=False)
async def prompts_page(request: Request, ctx: Ctx) -> Response:
    """The uploaded and typed prompts of each language, each playable; upload and type."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    library = ctx.prompts
    prompts = (await uploaded(ctx)
               if library is not None and library.uploads is not None else None)
    return page("admin_prompts.html", locale, principal, "prompts", prompts=prompts,
                languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES])


def page_strings() -> set[str]:
    """Catalog strings of this page that no template spells out."""
    return set(TEXTS)
