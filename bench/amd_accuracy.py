"""Answering-machine detection: accuracy on a labelled synthetic set, time to verdict, CPU.

Generates the set of :mod:`parley.testing.greetings` (espeak-ng persons, machines and dead air
in English and Russian, several voices, speeds, pitches, levels and line-noise levels, through
G.711), runs the detector on each as the media hub does on an answered call (20 ms frames),
and prints the confusion matrix, accuracy per class, mean time to verdict, the mistakes by
cause, and CPU per analysed call (process CPU time of the detector alone: on the shared
reference machine wall-clock samples mostly measure other processes).

Synthetic greetings are not real answering machines: see docs/benchmarks.md.

    .venv/bin/python bench/amd_accuracy.py [--per-class N] [--seed S] [--write DIR]
        [--compare]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from parley.media.amd import AmdSettings
from parley.media.amd_score import AmdScore, score
from parley.testing.greetings import greeting_set, write_set

#: Settings worth comparing with the defaults (``--compare``): each moves one rule.
ALTERNATIVES: dict[str, AmdSettings] = {
    "asterisk (3 words)": AmdSettings(maximum_number_of_words=3),
    "greeting 2000 ms": AmdSettings(greeting=2000),
    "between words 100 ms": AmdSettings(between_words_silence=100),
    "5 words": AmdSettings(maximum_number_of_words=5),
}


def mistakes(result: AmdScore) -> list[str]:
    counts = Counter(f"{r.label} called {r.verdict.result} by {r.verdict.cause.split('-')[0]}"
                     for r in result.results if not r.correct)
    return [f"  {count:>4}  {what}" for what, count in counts.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200,
                        help="persons and machines each (dead air: a quarter as many)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", type=Path, help="also write the set as 8 kHz WAV here")
    parser.add_argument("--compare", action="store_true",
                        help="also score alternative settings on the same set")
    args = parser.parse_args()

    started = time.perf_counter()
    greetings = list(greeting_set(args.per_class, args.seed))
    print(f"generated {len(greetings)} greetings in {time.perf_counter() - started:.1f} s "
          f"(seed {args.seed})")
    if args.write is not None:
        print(f"wrote {write_set(args.write, greetings)} WAV files under {args.write}")
    audio_s = sum(len(g.pcm) for g in greetings) / 8000

    result = score(greetings, cpu_clock=time.process_time)
    print("\ndefault settings:", AmdSettings())
    print("\n".join(result.report()))
    print("mistakes:")
    print("\n".join(mistakes(result)) or "  none")
    print(f"CPU per analysed call: {result.mean_cpu_ms():.2f} ms "
          f"(set: {audio_s:.0f} s of audio; the detector stops at its verdict)")
    if args.compare:
        for name, settings in ALTERNATIVES.items():
            other = score(greetings, settings)
            by_class = "  ".join(f"{label} {100 * other.accuracy(label):.1f}%"
                                 for label in other.confusion())
            print(f"\n{name}: {by_class}  all {100 * other.accuracy():.1f}%  "
                  f"verdict after {other.mean_after_ms():.0f} ms")
            print("\n".join(mistakes(other)) or "  none")


if __name__ == "__main__":
    main()
