"""The detector on synthetic greetings (espeak-ng, English and Russian, G.711, line noise):
what a user notices is that a short hello is a person and a long greeting a machine. The
figures over the whole set are measured in bench/amd_accuracy.py."""

from __future__ import annotations

import random

import numpy as np
import pytest

from parley.media.amd import HUMAN, MACHINE
from parley.media.amd_score import SILENCE, detect, score
from parley.testing.greetings import dead_air, machine, person, speak
from parley.testing.needs import ESPEAK, needs

pytestmark = needs(ESPEAK)


def pause(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


@pytest.mark.parametrize("seed", [3, 7])
def test_generated_persons_machines_and_dead_air_are_told_apart(seed: int) -> None:
    rng = random.Random(seed)
    greetings = [person(0, rng), person(1, rng), machine(0, rng), machine(1, rng),
                 dead_air(0, rng)]
    result = score(greetings)
    for scored in result.results:
        if scored.label == SILENCE:
            assert scored.verdict.result != HUMAN, scored.name  # nobody to put through
        else:
            assert scored.verdict.result == scored.label, scored.name
    people = [r for r in result.results if r.label == HUMAN]
    # a person is put through soon after saying hello, not after the 5 s analysis
    assert all(r.verdict.after_ms < 3500 for r in people)
    assert result.confusion()[MACHINE][MACHINE] == 2
    assert result.accuracy() == 1.0


def test_a_russian_allo_is_a_person_and_a_voicemail_greeting_a_machine() -> None:
    hello = speak("Алло?", "ru", 175, 50)
    verdict = detect(np.concatenate([pause(400), hello, pause(3000)]))
    assert verdict.result == HUMAN
    assert verdict.after_ms < 400 + len(hello) // 8 + 1000  # just after 800 ms of waiting
    greeting = speak("Hi, you've reached John. I can't take your call right now. Please "
                     "leave a message after the tone.", "en-us", 175, 50)
    verdict = detect(np.concatenate([pause(300), greeting, pause(3000)]))
    assert verdict.result == MACHINE
    assert verdict.after_ms < len(greeting) // 8  # decided while the greeting still plays
