"""``parley amd-score``: a site scores the detector on its own labelled recordings; bad files
are named with the reason and the rest is scored."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from parley.cli import app
from parley.media.audio import encode_wav, wav_header
from parley.testing.greetings import machine, person, speak, write_set
from parley.testing.needs import ESPEAK, needs

pytestmark = needs(ESPEAK)


def greetings(tmp_path: Path) -> Path:
    rng = random.Random(3)
    folder = tmp_path / "calls"
    write_set(folder, [person(0, rng), machine(0, rng)])
    return folder


def test_a_labelled_folder_is_scored_and_bad_files_are_named(tmp_path: Path) -> None:
    folder = greetings(tmp_path)
    # a person's hello recorded at 44.1 kHz stereo: converted and scored
    hello = speak("Hello?", "en-us", 175, 50)
    pcm = np.concatenate([np.zeros(3200, np.int16), hello, np.zeros(24000, np.int16)])
    upsampled = np.repeat(np.interp(np.arange(len(pcm) * 44100 // 8000) * 8000 / 44100,
                                    np.arange(len(pcm)), pcm).astype(np.int16)[:, None], 2,
                          axis=1)
    body = upsampled.astype("<i2").tobytes()
    (folder / "human" / "hifi.wav").write_bytes(wav_header(2, 44100, 16, len(body)) + body)
    (folder / "human" / "broken.wav").write_bytes(b"not a wav file at all")
    alaw = wav_header(1, 8000, 8, 800)
    alaw = alaw[:20] + struct.pack("<H", 6) + alaw[22:] + bytes(800)  # A-law, not PCM
    (folder / "machine" / "alaw.wav").write_bytes(alaw)
    (folder / "robots").mkdir()
    result = CliRunner().invoke(app, ["amd-score", str(folder)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "skipped: human/broken.wav: not a WAV file (no RIFF/WAVE header)" in out
    assert "skipped: machine/alaw.wav: WAV format 0x6 is not PCM" in out
    assert "skipped: robots/: not a label folder" in out
    assert "ok    human/hifi.wav: human -> human (HUMAN-" in out
    lines = out.splitlines()
    rows = {line.split()[0]: line.split()[1:4] for line in lines
            if len(line.split()) > 3 and line.split()[1].isdigit()}
    assert rows == {"human": ["2", "0", "0"],  # both persons called persons
                    "machine": ["0", "1", "0"]}
    assert "3 recordings, accuracy 100.0%" in out
    assert "3 files left out" in out


def test_a_csv_of_file_and_label_names_its_bad_lines(tmp_path: Path) -> None:
    folder = greetings(tmp_path)
    person_file = next((folder / "human").glob("*.wav")).name
    machine_file = next((folder / "machine").glob("*.wav")).name
    (tmp_path / "labels.csv").write_text(
        "file,label\n"
        f"calls/human/{person_file},human\n"
        f"calls/machine/{machine_file},Machine\n"
        f"calls/machine/{machine_file},robot\n"
        "calls/missing.wav,human\n"
        "just-one-field\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["amd-score", str(tmp_path / "labels.csv"), "--quiet"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "labels.csv: line 4, field 'label': 'robot' is not a label (human, machine, " \
        "silence)" in out
    assert "labels.csv: line 5, field 'file': 'calls/missing.wav' not found" in out
    assert "labels.csv: line 6: 1 fields; write file,label" in out
    assert "2 recordings, accuracy 100.0%" in out
    assert "ok " not in out  # --quiet: mistakes only


def test_settings_can_be_tried_and_bad_ones_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    (folder / "human").mkdir(parents=True)
    hello = speak("Hello?", "en-us", 175, 50)
    (folder / "human" / "hello.wav").write_bytes(encode_wav(np.concatenate(
        [np.zeros(3200, np.int16), hello, np.zeros(24000, np.int16)])))
    # a greeting limit shorter than the hello turns the person into a machine
    result = CliRunner().invoke(app, ["amd-score", str(folder), "--set", "greeting=100"])
    assert result.exit_code == 0, result.output
    assert "WRONG human/hello.wav: human -> machine (LONGGREETING-" in result.output
    result = CliRunner().invoke(app, ["amd-score", str(folder), "--set", "greting=100"])
    assert result.exit_code == 2
    assert "--set 'greting=100': write name=number" in result.output
    result = CliRunner().invoke(app, ["amd-score", str(tmp_path / "nothing")])
    assert result.exit_code == 2
