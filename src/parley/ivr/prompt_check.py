"""Every prompt a flow can play exists in each of its languages.

A flow speaks the languages it declares (``language: ru`` or ``languages: [ru, en]``), or the
site's language. For each language this lists what each node can play: its prompt files (a
name with a ``${…}`` placeholder is only known at call time and is not checked), the words a
``say`` of its kind can use in that language's grammar, and the stock prompts the node plays
itself (the queue's announcements, the voicemail greeting, the recording beep). A prompt that
is not there is an error naming the file, line, node and language: a caller must never meet
silence where a prompt was meant. Pure: whether a prompt exists is asked of ``exists``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from functools import cache

from parley.ivr.errors import FlowIssue
from parley.ivr.model import (
    Flow,
    FlowNode,
    PromptKind,
    PromptSpec,
    QueueNode,
    RecordNode,
    SayKind,
    SayNode,
    VoicemailNode,
)

Exists = Callable[[str, str], bool]
"""(prompt name, language) -> whether it plays in that language."""

#: what the contact center plays itself around a node, by node type
QUEUE_PROMPTS = ("queue-youarenext", "queue-thereare", "queue-callswaiting", "queue-holdtime")
VOICEMAIL_PROMPTS = ("vm-intro", "vm-goodbye", "beep")
RECORD_PROMPTS = ("beep",)


@cache
def say_vocabulary(kind: str, language: str) -> frozenset[str]:
    """Every prompt a ``say`` of ``kind`` can use in ``language``, found by saying a sample
    that reaches every word of the grammar (each number below a thousand, each scale, each
    plural form of each unit)."""
    from parley.media.say import say_value

    samples: list[str]
    if kind == SayKind.DIGITS:
        samples = ["0123456789*#"]
    elif kind == SayKind.ORDINAL:
        samples = [str(n) for n in range(1, 1000) if n % 100 or n == 100] if language == "ru" \
            else [str(n) for n in range(1, 1000)]
    elif kind == SayKind.DURATION:
        samples = [str(s) for s in (0, 1, 2, 5, 21, 60, 61, 62, 65, 120, 300, 1260, 1320,
                                    3600, 7200, 18000, 75600, 79200)]
    elif kind == SayKind.MONEY:
        samples = [f"{n}.{c:02d}" for n in (0, 1, 2, 5, 21, 22) for c in (0, 1, 2, 5)]
    else:
        samples = [str(n) for n in (*range(0, 1000), 1000, 2000, 5000, 21000, 1_000_000,
                                    2_000_000, 5_000_000, 10**9, 2 * 10**9, 5 * 10**9, -1)]
    names: set[str] = set()
    for sample in samples:
        names.update(say_value(kind, sample, language))
    if kind == SayKind.MONEY and language == "ru":
        from parley.media import say_ru

        for currency in ("USD",):
            for sample in samples:
                names.update(say_ru.money_prompts(sample, currency))
    return frozenset(names)


@cache
def queue_vocabulary(language: str) -> frozenset[str]:
    """What a waiting caller can hear: the announcements and the minutes they count."""
    from parley.media.announce import position_prompts, wait_prompts

    names: set[str] = set()
    for position in range(1, 1000):
        names.update(item for item in position_prompts(position, language)
                     if isinstance(item, str))
    for minutes in range(0, 121):
        names.update(item for item in wait_prompts(minutes * 60.0, language)
                     if isinstance(item, str))
    return frozenset(names)


def flow_languages(flow: Flow, site_language: str) -> tuple[str, ...]:
    """The languages ``flow`` speaks: its own, or the site's."""
    return flow.languages or (site_language,)


def _prompt_fields(node: FlowNode) -> Iterator[tuple[str, tuple[PromptSpec, ...]]]:
    for spec in fields(node):
        value = getattr(node, spec.name)
        if isinstance(value, tuple) and value and all(isinstance(v, PromptSpec) for v in value):
            yield spec.name, value


def node_prompts(node: FlowNode, language: str) -> Iterator[tuple[str, str]]:
    """(field, prompt name) for every prompt ``node`` can play in ``language``."""
    for field_name, prompts in _prompt_fields(node):
        for spec in prompts:
            if spec.kind is PromptKind.FILE and not spec.text.expressions:
                yield field_name, spec.text.source.strip()
            elif spec.kind is PromptKind.SAY and spec.say is not None:
                for name in sorted(say_vocabulary(spec.say, language)):
                    yield field_name, name
    if isinstance(node, SayNode):
        for name in sorted(say_vocabulary(node.kind, language)):
            yield "kind", name
    elif isinstance(node, QueueNode):
        for name in sorted(queue_vocabulary(language)):
            yield "queue", name
    elif isinstance(node, VoicemailNode):
        for name in VOICEMAIL_PROMPTS:
            yield "mailbox", name
    elif isinstance(node, RecordNode) and node.beep:
        for name in RECORD_PROMPTS:
            yield "beep", name


def check_prompts(flow: Flow, exists: Exists, *, site_language: str = "en",
                  languages: Iterable[str] | None = None) -> list[FlowIssue]:
    """One error per (node, prompt, language) that does not play; each names the file, line,
    node, field and language."""
    issues: list[FlowIssue] = []
    wanted = tuple(languages) if languages is not None else flow_languages(flow, site_language)
    for language in wanted:
        seen: set[tuple[str, str]] = set()
        for node in flow.nodes.values():
            for field_name, name in node_prompts(node, language):
                if (node.id, name) in seen:
                    continue
                seen.add((node.id, name))
                if not exists(name, language):
                    issues.append(FlowIssue(
                        "missing-prompt",
                        f"prompt {name!r} does not exist in language {language!r}",
                        flow.file, node.line, node.id, field_name))
        if flow.screening is not None:
            for spec in flow.screening.prompts:
                if spec.kind is PromptKind.FILE and not spec.text.expressions \
                        and not exists(spec.text.source.strip(), language):
                    issues.append(FlowIssue(
                        "missing-prompt", f"prompt {spec.text.source.strip()!r} does not "
                        f"exist in language {language!r}", flow.file, None, None,
                        "screening.prompts"))
    return issues
