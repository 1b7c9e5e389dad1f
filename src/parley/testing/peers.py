"""Drivers for real SIP peers (baresip and sipp) run as subprocesses on loopback.

Integration tests and benchmarks call real phones through Parley; these classes start the
peers on free ports, drive them and stop them again. Nothing here is a fake: baresip places
and answers real calls with real RTP, sipp runs real scenarios.

- :class:`Baresip`: one softphone with its own generated config folder, an account
  ``<sip:USER@HOST:PORT>``, a WAV file as its microphone (``aufile``) and a recording of what it
  hears (``sndfile``), driven over ``ctrl_tcp`` (dial, accept, hangup, events).
- :class:`Sipp`: one sipp process running a scenario; its exit code and ``-trace_stat`` CSV
  say how many calls succeeded and failed.
- :func:`audio_similarity`: the normalised cross-correlation of a recording against a source,
  tolerant of delay, to show that audio went through.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import sys
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from parley.testing.ports import ANY_ADDRESS, LOOPBACK, free_port, free_port_block

BARESIP_MODULES = Path("/usr/lib/baresip/modules")
# The modules a test phone loads, all from Debian's baresip-core: the codec, a file as the
# microphone, a recording of what it hears; then the accounts and the control socket.
BARESIP_MEDIA_MODULES = ("g711", "aufile", "aubridge", "sndfile")
BARESIP_APP_MODULES = ("account", "menu", "ctrl_tcp")
#: sipp starts again on another control port when that port is taken in the meantime
CONTROL_PORT_ATTEMPTS = 3
#: how long a starting sipp may take to bind its ports; the moment given to one whose ports
#: cannot be watched (in another namespace)
START_WITHIN_S, START_MOMENT_S = 5.0, 0.3


def _socket_inodes(pid: int) -> set[int]:
    """The inodes of process ``pid``'s open sockets (none once it has exited)."""
    inodes: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def bound_ports(pid: int) -> set[int]:
    """The local ports of process ``pid``'s UDP and TCP sockets in this network namespace
    (from /proc/net): a port held by another process, even on another address, is not its."""
    inodes = _socket_inodes(pid)
    ports: set[int] = set()
    for table in ("udp", "tcp", "udp6", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()  # ... the inode is the tenth field
                if len(fields) > 9 and int(fields[9]) in inodes:
                    ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


class PeerError(RuntimeError):
    """A peer failed to start, answer a command or produce an event in time."""


def write_wav(path: Path, samples: npt.NDArray[np.int16], rate: int = 8000) -> Path:
    """Write mono 16-bit PCM samples to ``path``."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[npt.NDArray[np.float64], int]:
    """Mono samples of a 16-bit WAV file as floats, and the sample rate."""
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        channels = source.getnchannels()
        frames = source.readframes(source.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def noise_signal(seconds: float, seed: int, rate: int = 8000) -> npt.NDArray[np.int16]:
    """A speech-band noise signal with a varying envelope, unique per ``seed``.

    Noise (not a tone) so that the cross-correlation has one clear peak at the true delay.
    """
    rng = np.random.default_rng(seed)
    count = int(seconds * rate)
    noise = rng.standard_normal(count)
    smoothed = np.convolve(noise, np.ones(3) / 3, mode="same")
    envelope = np.repeat(rng.uniform(0.3, 1.0, count // 800 + 1), 800)[:count]
    shaped = smoothed * envelope
    result: npt.NDArray[np.int16] = (shaped / np.abs(shaped).max() * 14000).astype(np.int16)
    return result


def audio_similarity(received: Path, source: Path, *, window_s: float = 2.0,
                     pieces: int = 1) -> float:
    """How well ``received`` contains ``source``: the peak normalised cross-correlation (0..1).

    A window of ``window_s`` seconds from the middle of the received recording is searched for
    in the source at every lag, so network and jitter-buffer delay do not matter. Silence or
    unrelated audio scores near 0; a G.711 path scores above 0.9.

    With ``pieces`` > 1 that many consecutive windows around the middle are each searched for
    on their own and the median score is returned: a receiver whose jitter buffer stretches or
    drops a few milliseconds to follow the network (as a browser's does) shifts the delay
    between windows, which breaks one long window's alignment but not the short ones'.
    """
    heard, heard_rate = read_wav(received)
    sent, sent_rate = read_wav(source)
    if heard_rate != sent_rate:
        raise PeerError(f"sample rates differ: {heard_rate} Hz vs {sent_rate} Hz")
    if len(heard) < int(window_s * heard_rate) * max(pieces, 1) + heard_rate:
        return 0.0  # too short to leave half a second either side of the windows
    return samples_similarity(heard, sent, heard_rate, window_s=window_s, pieces=pieces)


def samples_similarity(heard: npt.NDArray[np.generic], sent: npt.NDArray[np.generic], rate: int,
                       *, window_s: float = 2.0, pieces: int = 1) -> float:
    """:func:`audio_similarity` for samples at hand (a channel of a stored recording): the
    windows are taken from the middle of ``heard``, which must hold them all."""
    received = np.asarray(heard, dtype=np.float64)
    source = np.asarray(sent, dtype=np.float64)
    length = int(window_s * rate)
    span = length * max(pieces, 1)
    if len(received) < span:
        raise PeerError(f"{len(received)} samples heard, fewer than the {span} to compare")
    if len(source) < length:
        return 0.0
    first = len(received) // 2 - span // 2
    scores = [_best_match(received[start:start + length], source)
              for start in range(first, first + span, length)]
    return float(np.median(scores))


def _best_match(probe: npt.NDArray[np.float64], sent: npt.NDArray[np.float64]) -> float:
    """The peak normalised cross-correlation of ``probe`` against every window of ``sent``."""
    length = len(probe)
    probe = probe - probe.mean()
    norm_probe = float(np.sqrt(np.sum(probe * probe)))
    if norm_probe == 0.0:
        return 0.0
    size = 1
    while size < len(sent) + length:
        size *= 2
    spectrum = np.fft.rfft(sent, size) * np.conj(np.fft.rfft(probe, size))
    correlation = np.fft.irfft(spectrum, size)[: len(sent) - length + 1]
    squares = np.concatenate(([0.0], np.cumsum(sent * sent)))
    sums = np.concatenate(([0.0], np.cumsum(sent)))
    window_sums = sums[length:] - sums[:-length]
    window_energy = squares[length:] - squares[:-length] - window_sums**2 / length
    denominator = np.sqrt(np.maximum(window_energy, 1e-9)) * norm_probe
    return float(np.max(correlation / denominator))


# --- baresip ---------------------------------------------------------------------------------


@dataclass
class BaresipEvent:
    """One event from baresip's ctrl_tcp (``type`` such as CALL_ESTABLISHED)."""

    type: str
    param: str
    raw: dict[str, Any]


@dataclass
class Baresip:
    """A baresip softphone registered (or not) to a SIP server on loopback.

    ``workdir`` gets the generated ``config`` and ``accounts``, the log, and the recordings.
    ``source`` is played as the microphone; what it hears goes to ``received_wav()``.
    ``host`` is where it listens and sends from (127.0.0.2: a carrier apart from the phones);
    ``mediaenc`` loads baresip's ``srtp`` module and sets the account's media encryption
    (``srtp``: offered, ``srtp-mand``: RTP/SAVP with a=crypto only, RFC 4568).
    ``namespace``: run on that network namespace's host (parley.testing.netns; ``host`` its
    address), its control socket reached inside it.
    """

    workdir: Path
    user: str
    server_port: int
    password: str | None = None
    source: Path | None = None
    auto_answer: bool = False
    register: bool = True
    transport: str = "udp"
    server_host: str = LOOPBACK
    host: str = LOOPBACK
    mediaenc: str | None = None
    namespace: str | None = None
    #: more of the account's parameters (``sipnat=outbound``: RFC 5626 keep-alives, and
    #: registering again over a new connection when the one to the server fails)
    account_params: Sequence[str] = ()
    #: seconds between its REGISTERs (libre sends the next at 90% of it; it also opens a
    #: new connection then if its TCP one has closed)
    regint: int = 3600
    sip_port: int = 0
    ctrl_port: int = 0
    events: list[BaresipEvent] = field(default_factory=list)
    _process: asyncio.subprocess.Process | None = None
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _pump: asyncio.Task[None] | None = None
    _responses: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _token: int = 0

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.server_host}:{self.server_port}"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.source is None:
            signal_ = noise_signal(30, seed=int(self.user))
            self.source = write_wav(self.workdir / "source.wav", signal_)
        lines = [
            "poll_method epoll",
            f"sip_listen {self.host}:{self.sip_port}",
            f"net_interface {self.host}",
            "audio_player aubridge,nil",
            f"audio_source aufile,{self.source}",
            "audio_alert aubridge,nil",
            f"module_path {BARESIP_MODULES}",
            *(f"module {name}.so" for name in BARESIP_MEDIA_MODULES),
            *(["module srtp.so"] if self.mediaenc else []),
            # RFC 5626 needs the phone's instance id (+sip.instance): made and kept by uuid
            *(["module uuid.so"] if "sipnat=outbound" in self.account_params else []),
            *(f"module_app {name}.so" for name in BARESIP_APP_MODULES),
            f"ctrl_tcp_listen {LOOPBACK}:{self.ctrl_port}",
            f"snd_path {self.workdir}",
            "rtp_timeout 0",
        ]
        (self.workdir / "config").write_text("\n".join(lines) + "\n")
        transport = "" if self.transport == "udp" else f";transport={self.transport}"
        params = [f"<{self.aor}{transport}>"]
        if self.password is not None:
            params.append(f"auth_pass={self.password}")
        params.append(f"regint={self.regint if self.register else 0}")
        params.append(f"answermode={'auto' if self.auto_answer else 'manual'}")
        params.append("audio_codecs=PCMU,PCMA")
        if self.mediaenc:
            params.append(f"mediaenc={self.mediaenc}")
        params.extend(self.account_params)
        (self.workdir / "accounts").write_text(";".join(params) + "\n")

    async def start(self, *, within: float = 10.0) -> None:
        """Start baresip and connect to its control socket (and wait for registration)."""
        if shutil.which("baresip") is None:
            raise PeerError("baresip is not installed (apt install baresip-core)")
        # a namespace's ports are its own: any free one of this host is free there too
        local = LOOPBACK if self.namespace else self.host
        if not self.sip_port:
            self.sip_port = free_port_block(2, local)  # SIP/TLS on port + 1 too
        if not self.ctrl_port:  # not on the SIP ports, free too until baresip binds them
            self.ctrl_port = free_port(avoid=(self.sip_port, self.sip_port + 1))
        self._write_config()
        log = (self.workdir / "baresip.log").open("wb")
        prefix = ["ip", "netns", "exec", self.namespace] if self.namespace else []
        self._process = await asyncio.create_subprocess_exec(
            *prefix, "baresip", "-f", str(self.workdir), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                self._reader, self._writer = await self._control()
                break
            except OSError:
                if self._process.returncode is not None:
                    raise PeerError(f"baresip exited at start: {self.log_tail()}") from None
                if loop.time() > deadline:
                    tail = self.log_tail()
                    raise PeerError(f"baresip control socket never opened: {tail}") from None
                await asyncio.sleep(0.05)
        self._pump = asyncio.create_task(self._read_loop())
        if self.register:
            await self.wait_registered(within=max(0.1, deadline - loop.time()))

    async def _control(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the control socket (inside the namespace for one there)."""
        if self.namespace is None:
            return await asyncio.open_connection(LOOPBACK, self.ctrl_port)
        from parley.testing.netns import inside  # pytest's, only needed with namespaces
        with inside(self.namespace):
            made = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        made.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(made, (LOOPBACK, self.ctrl_port))
        except OSError:
            made.close()
            raise
        return await asyncio.open_connection(sock=made)

    async def wait_registered(self, *, within: float = 10.0) -> None:
        """Wait until the account is registered (the event may precede the control socket)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            failed = [event for event in self.events if event.type == "REGISTER_FAIL"]
            if failed:
                raise PeerError(f"{self.user} could not register: {failed[-1].param}")
            if any(event.type == "REGISTER_OK" for event in self.events):
                return
            info = await self.command("reginfo")
            if " OK " in info or "\x1b[32mOK" in info or "OK" in info.split():
                return
            if loop.time() > deadline:
                raise PeerError(f"{self.user} did not register: {info!r} {self.log_tail()}")
            await asyncio.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "baresip.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def _read_loop(self) -> None:
        if self._reader is None:
            return
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = int((await self._reader.readuntil(b":"))[:-1])
                payload = await self._reader.readexactly(length + 1)
                message = json.loads(payload[:-1])
                if message.get("event"):
                    self.events.append(BaresipEvent(str(message.get("type", "")),
                                                    str(message.get("param", "")), message))
                    self._changed.set()
                elif message.get("response"):
                    await self._responses.put(message)

    async def command(self, name: str, params: str = "", *, within: float = 5.0) -> str:
        """Run a baresip command (``dial``, ``accept``, ``hangup`` ...); returns its output."""
        if self._writer is None:
            raise PeerError("baresip is not running")
        self._token += 1
        body = json.dumps({"command": name, "params": params, "token": str(self._token)}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        response = await asyncio.wait_for(self._responses.get(), within)
        return str(response.get("data", ""))

    async def wait_event(self, *types: str, within: float = 10.0, since: int = 0) -> BaresipEvent:
        """The first event (at index ``since`` or later) whose type is one of ``types``."""
        async def find() -> BaresipEvent:
            while True:
                for event in self.events[since:]:
                    if event.type in types:
                        return event
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(find(), within)
        except TimeoutError:
            seen = [event.type for event in self.events]
            raise PeerError(f"{self.user}: no {types} within {within}s (saw {seen})") from None

    async def dial(self, target: str) -> None:
        """Call ``target`` (an extension, dialled on this account's server, or a full URI)."""
        server = f"{self.server_host}:{self.server_port}"
        uri = target if target.startswith("sip:") else f"sip:{target}@{server}"
        await self.command("dial", uri)

    async def accept(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        await self.command("hangup")

    def received_wav(self) -> Path:
        """The newest recording of audio this phone received (decoded from the network)."""
        found = sorted(self.workdir.glob("dump-*-dec.wav"), key=lambda path: path.stat().st_mtime)
        if not found:
            raise PeerError(f"{self.user} recorded nothing: {self.log_tail()}")
        return found[-1]

    async def stop(self) -> None:
        """Stop baresip (quit, then SIGTERM, then SIGKILL) and close the control socket."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                body = json.dumps({"command": "quit", "params": "", "token": "quit"}).encode()
                self._writer.write(str(len(body)).encode() + b":" + body + b",")
                await self._writer.drain()
        await _terminate(self._process)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._process = None
        self._writer = None


async def _terminate(process: asyncio.subprocess.Process | None, grace: float = 3.0) -> None:
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 0.5)
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


# --- sipp ------------------------------------------------------------------------------------


@dataclass
class SippResult:
    """How a sipp run ended: its exit code and the final statistics row."""

    exit_code: int
    successful: int
    failed: int
    stats: dict[str, str]
    log: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0


@dataclass
class Sipp:
    """One sipp process: ``scenario`` is a built-in name (``uac``, ``uas``) or an XML path."""

    workdir: Path
    scenario: str | Path
    target: str | None = None  # host:port of the server a client calls
    service: str | None = None  # the user part dialled (-s)
    port: int = 0
    transport: str = "u1"  # sipp -t: u1 (UDP one socket), t1 (TCP); Debian's sipp has no TLS
    calls: int | None = None  # -m: stop after this many calls
    rate: float | None = None  # -r: calls per second
    extra: Sequence[str] = ()
    host: str = LOOPBACK  # -i: the address sipp binds (127.0.0.2: a carrier apart)
    #: run through this command (``ip netns exec NAME``: sipp on a namespace's host)
    prefix: Sequence[str] = ()
    #: -mp: the first of its media ports (0: a free block); a caller's ``[auto_media_port]``
    #: counts from it in fours, an answerer's ``[media_port]`` is it (``-rtp_echo`` there)
    media_port: int = 0
    _process: asyncio.subprocess.Process | None = None
    _control_port: int = 0

    def _command(self) -> list[str]:
        # ports are checked where sipp binds them: one free on 127.0.0.1 may be held on
        # 127.0.0.2 (by another carrier apart); in a namespace (``prefix``) only loopback
        # can be checked from here
        where = LOOPBACK if self.prefix else self.host
        if not self.port:
            self.port = free_port(where)
        self._control_port = free_port(ANY_ADDRESS, avoid=(self.port,))
        name = Path(self.scenario).stem
        # sipp also binds a control port (-cp, default 8888) and media ports (-mp, default
        # 6000): pin them to free ones so that parallel runs never collide. The control port
        # is bound on every address (0.0.0.0), so it must be free on all of them, not only
        # on loopback (a carrier apart on 127.0.0.2 may hold the same number). Each apart
        # from the ports chosen before it: those are free too until sipp binds them, and a
        # media block holding the SIP port made sipp exit ("Unable to bind video RTP socket").
        media_port = self.media_port or free_port_block(
            4, where, avoid=(self.port, self._control_port))
        command = [*self.prefix, "sipp", "-i", self.host, "-p", str(self.port),
                   "-t", self.transport,
                   "-cp", str(self._control_port), "-mi", self.host, "-mp", str(media_port),
                   "-nostdin", "-trace_stat", "-stf",
                   str(self.workdir / f"{name}-stat.csv"), "-fd", "1",
                   "-trace_err", "-error_file", str(self.workdir / f"{name}-errors.log"),
                   "-trace_screen", "-screen_file", str(self.workdir / f"{name}-screen.log")]
        if isinstance(self.scenario, Path) or str(self.scenario).endswith(".xml"):
            command += ["-sf", str(self.scenario)]
        else:
            command += ["-sn", str(self.scenario)]
        if self.service is not None:
            command += ["-s", self.service]
        if self.calls is not None:
            command += ["-m", str(self.calls)]
        if self.rate is not None:
            command += ["-r", str(self.rate)]
        command += list(self.extra)
        if self.target is not None:
            command.append(self.target)
        return command

    async def start(self) -> None:
        """Start sipp in the background (a server, or a client that runs until ``-m``)."""
        if shutil.which("sipp") is None:
            raise PeerError("sipp is not installed (apt install sip-tester)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, CONTROL_PORT_ATTEMPTS + 1):
            log = (self.workdir / f"{Path(self.scenario).stem}.log").open("wb")
            self._process = await asyncio.create_subprocess_exec(
                *self._command(), stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, cwd=self.workdir,
                env={**os.environ, "TERM": "dumb"},
            )
            log.close()
            await self._until_bound()
            if self._process.returncode in (None, 0, 1):  # 0/1: a short client already done
                return
            failure = self.result().log
            # The free control port was taken between the check and sipp's bind (another
            # process's socket): nothing was sent yet, so start again on another port.
            if "remote control socket" not in failure or attempt == CONTROL_PORT_ATTEMPTS:
                raise PeerError(f"sipp exited at start: {failure}")

    async def _until_bound(self, within: float = START_WITHIN_S) -> None:
        """Wait until sipp holds its SIP and control ports (it is then answering, or calling)
        or has exited; inside another namespace (``prefix``) its ports cannot be seen from
        here, so it is given a fixed moment instead."""
        if self._process is None:
            return
        if self.prefix:
            await asyncio.sleep(START_MOMENT_S)
            return
        wanted = {self.port, self._control_port}
        deadline = time.monotonic() + within
        while self._process.returncode is None and time.monotonic() < deadline:
            if wanted <= bound_ports(self._process.pid):  # its own: another process may
                return  # hold the control port on another address (a lost race)
            await asyncio.sleep(0.01)
        if self._process.returncode is None:  # an exit on the way is given its moment
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), START_MOMENT_S)

    async def wait(self, within: float) -> SippResult:
        """Wait for sipp to finish by itself (a client after ``-m`` calls)."""
        if self._process is None:
            raise PeerError("sipp was not started")
        try:
            await asyncio.wait_for(self._process.wait(), within)
        except TimeoutError:
            await self.stop()
            raise PeerError(f"sipp did not finish within {within}s: {self.result().log}") from None
        return self.result()

    async def stop(self) -> SippResult:
        await _terminate(self._process, grace=2.0)
        return self.result()

    def result(self) -> SippResult:
        name = Path(self.scenario).stem
        stats: dict[str, str] = {}
        stat_file = self.workdir / f"{name}-stat.csv"
        if stat_file.exists():
            rows = list(csv.reader(stat_file.read_text().splitlines(), delimiter=";"))
            if len(rows) >= 2:
                stats = dict(zip(rows[0], rows[-1], strict=False))
        log_parts = []
        for suffix in (".log", "-errors.log", "-screen.log"):
            path = self.workdir / f"{name}{suffix}"
            if path.exists():
                log_parts.append(path.read_text(errors="replace")[-3000:])
        exit_code = -1
        if self._process is not None and self._process.returncode is not None:
            exit_code = self._process.returncode
        return SippResult(
            exit_code=exit_code,
            successful=int(stats.get("SuccessfulCall(C)", "0") or 0),
            failed=int(stats.get("FailedCall(C)", "0") or 0),
            stats=stats,
            log="\n".join(log_parts),
        )


# --- Parley itself in a separate process ----------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (Linux /proc), for
    benchmarks that measure a server's cost per call or per packet."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The running processes whose parent is ``pid`` (a node's relay workers, its
    compressor): Linux /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def children_cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of the running processes whose parent is ``pid``
    (:func:`child_pids`)."""
    total = 0.0
    for child in child_pids(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):  # ended meanwhile
            total += process_cpu_seconds(child)
    return total


@dataclass
class ParleyProcess:
    """A Parley SIP server in its own process on uvloop, as in production.

    Load tests and benchmarks use it so that the server's CPU time is its own (measurable) and
    the test runner's work does not slow the server down. ``static_users`` maps extensions to
    static contact URIs; ``trunks`` lists ``(host, port)`` pairs trusted as trunk peers.
    """

    workdir: Path
    rtp_ports: tuple[int, int]
    sip_port: int = 0
    static_users: dict[str, str] = field(default_factory=dict)
    trunks: list[tuple[str, int]] = field(default_factory=list)
    no_answer_timeout: float = 30.0
    media_timeout: float = 60.0
    #: keyword arguments of :class:`parley.sip.guard.GuardSettings` ({"enabled": False}: off)
    guard: dict[str, object] = field(default_factory=dict)
    _process: asyncio.subprocess.Process | None = None

    async def start(self, *, within: float = 15.0) -> None:
        if not self.sip_port:
            self.sip_port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "sip_port": self.sip_port, "rtp_ports": list(self.rtp_ports),
            "static_users": self.static_users, "trunks": self.trunks,
            "no_answer_timeout": self.no_answer_timeout, "media_timeout": self.media_timeout,
            "guard": self.guard,
        }
        log = (self.workdir / "parley.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from parley.testing.peers import serve_main; serve_main()",
            json.dumps(config), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=log)
        log.close()
        if self._process.stdout is None:
            raise PeerError("no stdout from the Parley process")
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), within)
        except TimeoutError:
            await self.stop()
            raise PeerError("Parley did not start in time") from None
        if not line.startswith(b"READY"):
            await self.stop()
            text = (self.workdir / "parley.log").read_text(errors="replace")[-2000:]
            raise PeerError(f"Parley failed to start: {line!r} {text}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        return 0.0 if self._process is None else process_cpu_seconds(self._process.pid)

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
        await _terminate(self._process, grace=5.0)
        self._process = None

    async def measure(self, client: Sipp, within: float) -> tuple[SippResult, float, float]:
        """Run ``client`` against this server to its end (``within`` seconds at most): sipp's
        result, the server's CPU seconds and the wall seconds over the run (benchmarks)."""
        client.target = f"127.0.0.1:{self.sip_port}"
        cpu_before = self.cpu_seconds()
        started = time.monotonic()
        await client.start()
        result = await client.wait(within)
        return result, self.cpu_seconds() - cpu_before, time.monotonic() - started


def _guard_settings(values: dict[str, Any]) -> Any:
    """GuardSettings from the JSON the parent process sent (lists become tuples)."""
    from parley.sip.guard import GuardSettings

    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                              for key, value in values.items()}
    return GuardSettings(**fields)


def serve_main() -> None:
    """Entry point of :class:`ParleyProcess`: run a SIP server from a JSON config (argv[1])."""
    import logging

    import structlog
    import uvloop

    from parley.app import settle_memory
    from parley.clock import MonotonicClock
    from parley.telephony.engine import TrunkPeer
    from parley.telephony.server import Telephony, TelephonySettings
    from parley.telephony.users import SipUser, demo_directory

    config = json.loads(sys.argv[1])
    # Logs go to stderr (the log file); stdout only carries the READY line.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    settings = TelephonySettings(
        host=LOOPBACK, sip_port=int(config["sip_port"]),
        rtp_ports=(int(config["rtp_ports"][0]), int(config["rtp_ports"][1])),
        realm="parley.test", no_answer_timeout=float(config["no_answer_timeout"]),
        media_timeout=float(config["media_timeout"]),
        trunks=tuple(TrunkPeer(f"trunk{i}", host, int(port))
                     for i, (host, port) in enumerate(config["trunks"])),
        guard=_guard_settings(config.get("guard", {})))
    users = demo_directory(settings.realm)
    for extension, contact in config["static_users"].items():
        users.add(SipUser(extension, static_contact=contact))

    async def main() -> None:
        telephony = Telephony(settings, users, MonotonicClock())
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        await telephony.start()
        settle_memory()  # as a production node does after start
        sys.stdout.write(f"READY {telephony.sip_port}\n")
        sys.stdout.flush()
        with contextlib.suppress(asyncio.CancelledError):
            await telephony.run()

    uvloop.run(main())
