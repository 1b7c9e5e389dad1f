"""The process behind :class:`parley.testing.netns.TcpRelay`: relays each TCP connection
accepted on an inherited listening socket to a target address.

It runs apart from the test's process so that nothing the test does (its own audio, a
long garbage collection) holds up the bytes it carries: the nodes' lease renewals go
through it, and a node whose renewal is late stops serving. It exits when its standard
input closes (the test process ended, however it ended).

Usage: ``python -m parley.testing.tcp_relay FD HOST PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.close()


async def relay(listener: socket.socket, target: tuple[str, int]) -> None:
    """Relay until standard input closes."""
    pipes: set[asyncio.Task[None]] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(client, sock=listener)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()  # EOF: the test process closed it, or is gone
    server.close()
    for task in list(pipes):
        task.cancel()


def main(argv: list[str]) -> None:
    fd, host, port = argv
    listener = socket.socket(fileno=int(fd))
    listener.setblocking(False)
    asyncio.run(relay(listener, (host, int(port))))


if __name__ == "__main__":
    main(sys.argv[1:])
