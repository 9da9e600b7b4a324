"""A TCP delay line on 127.0.0.1: a stand-in for a WAN link in benchmarks.

    with LatencyProxy(target_port=server.port, rtt_ms=20) as link:
        ... connect to 127.0.0.1:link.port instead of server.port ...

    python bench/latency_proxy.py TARGET_PORT RTT_MS [LISTEN_PORT]   (by hand)

Every connection to the proxy is forwarded to 127.0.0.1:TARGET_PORT, and each
direction is delayed by half the round trip: bytes read at time t are written
on at t + RTT/2, in order.  Reading goes on while earlier bytes wait, so it is
a delay line, not a per-chunk sleep: a burst of pipelined commands or a large
FETCH costs one extra RTT/2, not one per chunk.  Each direction buffers at most
LIMIT bytes (then stops reading until bytes leave, as a real link's window
would), so memory stays bounded.  The proxy runs its own asyncio loop in a
daemon thread: it stops on stop()/leaving the ``with`` block, and in any case
with the process.  It listens and connects on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading

HOST = "127.0.0.1"
LIMIT = 8 << 20  # bytes in flight per direction (8 MiB / 10 ms = 800 MB/s)
CHUNK = 256 << 10


class _Direction:
    """One direction of one connection: read, stamp, hold until due, write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 delay: float, counter: list[int]):
        self.reader, self.writer, self.delay = reader, writer, delay
        self.counter = counter
        self.line: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.buffered = 0
        self.arrived = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.room.wait()
                data = await self.reader.read(CHUNK)
                if not data:
                    break
                self.counter[0] += len(data)
                self.line.append((loop.time() + self.delay, data))
                self.buffered += len(data)
                if self.buffered >= LIMIT:
                    self.room.clear()
                self.arrived.set()
        finally:  # EOF or error: the end of the stream travels the line too
            self.line.append((loop.time() + self.delay, None))
            self.arrived.set()

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.line:
                self.arrived.clear()
                await self.arrived.wait()
            due, data = self.line.popleft()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                return
            self.writer.write(data)
            self.buffered -= len(data)
            if self.buffered < LIMIT:
                self.room.set()
            await self.writer.drain()

    async def run(self) -> None:
        reading = asyncio.ensure_future(self._read())
        try:
            await self._write()
        finally:
            if not reading.done():
                reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)


class LatencyProxy:
    """127.0.0.1:port -> 127.0.0.1:target_port with rtt_ms added to each round trip."""

    def __init__(self, target_port: int, rtt_ms: float, listen_port: int = 0):
        self.target_port = target_port
        self.rtt_ms = rtt_ms
        self.port = listen_port
        self.connections = 0  # accepted so far
        self._bytes = [0]  # forwarded, both directions
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def bytes(self) -> int:
        return self._bytes[0]

    # ---------------------------------------------------------------- inside the loop
    async def _handle(self, c_reader: asyncio.StreamReader,
                      c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        delay = self.rtt_ms / 2000.0
        u_writer = None
        try:
            u_reader, u_writer = await asyncio.open_connection(HOST, self.target_port)
            ways = {asyncio.ensure_future(_Direction(c_reader, u_writer, delay,
                                                     self._bytes).run()),
                    asyncio.ensure_future(_Direction(u_reader, c_writer, delay,
                                                     self._bytes).run())}
            try:
                # a clean end of one direction is a half-close: the other goes on;
                # a broken one ends both
                await asyncio.wait(ways, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for t in ways:
                    t.cancel()
                await asyncio.gather(*ways, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (c_writer, u_writer):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            server = await asyncio.start_server(self._handle, HOST, self.port)
        except OSError as e:
            self._error = e
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---------------------------------------------------------------- from outside
    def start(self) -> LatencyProxy:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._serve())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name=f"latency-proxy-{self.target_port}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("latency proxy did not start")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # loop already closed
                pass
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    proxy = LatencyProxy(int(argv[0]), float(argv[1]), int(argv[2]) if len(argv) > 2 else 0)
    with proxy:
        print(f"127.0.0.1:{proxy.port} -> 127.0.0.1:{proxy.target_port}, "
              f"+{proxy.rtt_ms:g} ms round trip; Ctrl+C stops", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
