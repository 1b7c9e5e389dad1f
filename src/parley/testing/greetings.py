"""A labelled set of synthetic call greetings for measuring answering-machine detection.

espeak-ng speaks what a person says on answering ("Hello?", "Алло", sometimes a second
"Hello?" after a pause) and what a machine says (greetings of two to ten seconds, with or
without a beep), in English and Russian voices at several speeds and pitches, at several
speech levels, over line noise of several levels, through G.711 (the codec every call goes
through). Dead air (silence or noise alone) is the third class.

These are synthetic greetings, not recordings of real answering machines: real ones have
music, other voices, compressed audio and carriers' own voicemail. The set measures the
detector's rules, not the world; ``parley amd-score`` scores a site's own recordings.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.media.amd import HUMAN, MACHINE
from parley.media.amd_score import SILENCE, Labelled
from parley.media.audio import decode_wav, encode_wav, to_telephony
from parley.media.g711 import Codec, decode_array, encode_array
from parley.media.tones import BEEP, render

Pcm = npt.NDArray[np.int16]
RATE = 8000

VOICES = {"en": ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+f2"),
          "ru": ("ru", "ru+f3", "ru+m3", "ru+f2")}
SPEEDS = (130, 160, 190, 220)  # words per minute
PITCHES = (25, 45, 65, 85)
#: Line noise RMS in int16 units: none, about -61, -50 and -41 dBFS.
NOISE_LEVELS = (0, 30, 100, 300)
#: Speech RMS after levelling: quiet to loud, about -32 to -14 dBFS.
SPEECH_LEVELS = (800, 1600, 3200, 6400)

PERSON = {
    "en": ("Hello?", "Hello.", "Yes?", "Hi.", "Yeah, hello?", "Hello, yes?",
           "Hello, this is Anna speaking."),
    "ru": ("Алло?", "Алло.", "Да?", "Слушаю.", "Да, алло?", "Алло, да.",
           "Да, слушаю вас, говорите."),
}
PERSON_AGAIN = {
    "en": ("Hello?", "Who is this?", "Hello, anyone there?"),
    "ru": ("Алло?", "Кто это?", "Алло, вас не слышно."),
}
MACHINE_GREETINGS = {
    "en": (
        "Hi, it's Mike. Leave a message.",
        "The person you are calling is not available. Please leave a message.",
        "Hi, you've reached John. I can't take your call right now. Please leave a message "
        "after the tone.",
        "Hello. You have reached the voicemail of Sarah Miller. Please leave your name and "
        "number, and I will call you back as soon as I can.",
        "Thank you for calling Acme Dental. Our office is currently closed. Our hours are "
        "Monday to Friday, nine to five. Please leave a message after the beep.",
        "You have reached five five five, zero one two three. Nobody is available to take "
        "your call. Please leave a message.",
    ),
    "ru": (
        "Привет, это Маша. Оставь сообщение.",
        "Абонент не может ответить на ваш звонок. Оставьте сообщение после звукового сигнала.",
        "Здравствуйте, вы позвонили Ивану. Сейчас я не могу ответить, оставьте сообщение "
        "после сигнала.",
        "Вас приветствует автоответчик. Говорите после сигнала.",
        "Добрый день, вы позвонили в компанию Ромашка. Наш офис закрыт. Мы работаем с "
        "понедельника по пятницу, с девяти до шести. Оставьте сообщение после сигнала.",
        "Здравствуйте. Вы позвонили по номеру пять пять пять, ноль один два три. Никто не "
        "может ответить. Пожалуйста, оставьте сообщение.",
    ),
}


@dataclass(frozen=True, slots=True)
class Greeting(Labelled):
    """A labelled greeting with how it was made (for the report and the file name)."""

    description: str = ""


@lru_cache(maxsize=512)
def speak(text: str, voice: str, speed: int, pitch: int, espeak: str = "espeak-ng") -> Pcm:
    """``text`` spoken by espeak-ng as 8 kHz int16, leading and trailing silence trimmed."""
    completed = subprocess.run(  # noqa: S603 (a fixed program, arguments as a list)
        [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        capture_output=True, check=True, timeout=30)
    pcm = to_telephony(decode_wav(completed.stdout, f"espeak-ng {voice} {text[:30]!r}"))
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return pcm[loud[0]:loud[-1] + 1] if len(loud) else pcm


def _level(pcm: Pcm, rms: float) -> npt.NDArray[np.float64]:
    samples = pcm.astype(np.float64)
    current = float(np.sqrt(np.mean(samples**2))) or 1.0
    return samples * (rms / current)


def _silence(ms: int) -> npt.NDArray[np.float64]:
    return np.zeros(ms * RATE // 1000)


def _line(parts: list[npt.NDArray[np.float64]], noise_rms: int,
          rng: random.Random) -> Pcm:
    """Join the parts, add line noise, clip, and pass through G.711 (mu-law or A-law)."""
    audio = np.concatenate(parts)
    if noise_rms:
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, noise_rms, len(audio))
        audio = audio + noise
    pcm = np.clip(np.rint(audio), -32768, 32767).astype(np.int16)
    codec = rng.choice((Codec.PCMU, Codec.PCMA))
    return decode_array(encode_array(pcm, codec), codec)


def _voice(rng: random.Random) -> tuple[str, str, int, int]:
    language = rng.choice(("en", "ru"))
    return language, rng.choice(VOICES[language]), rng.choice(SPEEDS), rng.choice(PITCHES)


def person(index: int, rng: random.Random, espeak: str = "espeak-ng") -> Greeting:
    """A short answer, then silence or (one time in three) a second short phrase."""
    language, voice, speed, pitch = _voice(rng)
    level, noise = rng.choice(SPEECH_LEVELS), rng.choice(NOISE_LEVELS)
    text = rng.choice(PERSON[language])
    parts = [_silence(rng.randrange(100, 1000, 50)),
             _level(speak(text, voice, speed, pitch, espeak), level)]
    again = rng.random() < 1 / 3
    if again:
        parts += [_silence(rng.randrange(1000, 2000, 100)),
                  _level(speak(rng.choice(PERSON_AGAIN[language]), voice, speed, pitch,
                               espeak), level)]
    parts.append(_silence(4000))
    kind = "again" if again else "once"
    return Greeting(f"human-{index:03d}-{language}-{voice.replace('+', '_')}-s{speed}-p{pitch}"
                    f"-{kind}-n{noise}", HUMAN, _line(parts, noise, rng),
                    f"person {language} {voice} speed {speed} pitch {pitch} level {level} "
                    f"noise {noise}: {text!r}{' and again' if again else ''}")


def machine(index: int, rng: random.Random, espeak: str = "espeak-ng") -> Greeting:
    """A greeting of two to ten seconds, half of them ending in a beep."""
    language, voice, speed, pitch = _voice(rng)
    level, noise = rng.choice(SPEECH_LEVELS), rng.choice(NOISE_LEVELS)
    text = rng.choice(MACHINE_GREETINGS[language])
    parts = [_silence(rng.randrange(100, 1500, 50))]
    for sentence in (s for s in text.replace("?", ".").split(". ") if s.strip()):
        parts += [_level(speak(sentence, voice, speed, pitch, espeak), level),
                  _silence(rng.randrange(150, 450, 50))]
    beep = rng.random() < 0.5
    if beep:
        parts += [_silence(300), render(BEEP).astype(np.float64)]
    parts.append(_silence(3000))
    return Greeting(f"machine-{index:03d}-{language}-{voice.replace('+', '_')}-s{speed}-p{pitch}"
                    f"-{'beep' if beep else 'nobeep'}-n{noise}", MACHINE,
                    _line(parts, noise, rng),
                    f"machine {language} {voice} speed {speed} pitch {pitch} level {level} "
                    f"noise {noise}{' beep' if beep else ''}: {text[:40]!r}")


def dead_air(index: int, rng: random.Random) -> Greeting:
    """Nobody speaks: six seconds of silence or line noise."""
    noise = rng.choice(NOISE_LEVELS)
    return Greeting(f"silence-{index:03d}-n{noise}", SILENCE,
                    _line([_silence(6000)], noise, rng), f"dead air, noise {noise}")


def greeting_set(per_class: int = 40, seed: int = 1, silences: int | None = None,
                 espeak: str = "espeak-ng") -> Iterator[Greeting]:
    """``per_class`` persons and machines and ``silences`` (default a quarter as many) dead
    air recordings, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible test set, not a secret)
    for index in range(per_class):
        yield person(index, rng, espeak)
    for index in range(per_class):
        yield machine(index, rng, espeak)
    for index in range(per_class // 4 if silences is None else silences):
        yield dead_air(index, rng)


def write_set(directory: Path, greetings: Iterator[Greeting] | list[Greeting]) -> int:
    """Write 8 kHz WAV files under ``directory/<label>/`` (the layout ``parley amd-score``
    reads), with a ``descriptions.csv`` saying how each was made; returns how many."""
    count = 0
    lines = ["file,label,description"]
    for greeting in greetings:
        folder = directory / greeting.label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{greeting.name}.wav").write_bytes(encode_wav(greeting.pcm))
        description = greeting.description.replace('"', "'")
        lines.append(f'{greeting.label}/{greeting.name}.wav,{greeting.label},"{description}"')
        count += 1
    (directory / "descriptions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count
