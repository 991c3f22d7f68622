"""Malformed and foreign requests for the socket tests (seeded, so every run sends
the same frames)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import numpy as np
import zmq

from btgym.comm import wire


def malformed(rng: np.random.Generator, n: int) -> Iterator[list[bytes]]:
    """``n`` messages that no server may act on: broken framing by construction
    (never a well-formed request of a known command)."""
    good = wire.encode("step", {"a": [1]})[0]
    for i in range(n):
        k = i % 10
        if k == 0:  # random bytes
            yield [rng.bytes(int(rng.integers(0, 200)))]
        elif k == 1:  # truncated JSON header
            yield [bytes(good[: int(rng.integers(0, len(good) - 1))])]
        elif k == 2:  # JSON, not an object
            yield [json.dumps([1, "step", None]).encode()]
        elif k == 3:  # unsupported version
            yield [json.dumps({"v": 99, "kind": "step", "payload": {}, "arrays": []}).encode()]
        elif k == 4:  # arrays declared, no buffers
            spec = [{"name": "x", "dtype": "<f8", "shape": [3]}]
            yield [json.dumps({"v": 1, "kind": "step", "payload": {}, "arrays": spec}).encode()]
        elif k == 5:  # object dtype / negative shapes
            spec = [{"name": "x", "dtype": rng.choice(["|O", "<U3", "<f8"]), "shape": [-4]}]
            yield [
                json.dumps({"v": 1, "kind": "reset", "payload": {}, "arrays": spec}).encode(),
                b"\x00" * 32,
            ]
        elif k == 6:  # buffer size mismatch
            spec = [{"name": "x", "dtype": "<i8", "shape": [1 << 40]}]
            yield [
                json.dumps({"v": 1, "kind": "records", "payload": {}, "arrays": spec}).encode(),
                b"\x00" * 8,
            ]
        elif k == 7:  # unknown commands
            yield wire.encode(f"cmd-{int(rng.integers(1 << 30))}", {"x": 1})
        elif k == 8:  # lacks kind / payload
            yield [json.dumps({"v": 1, "payload": [], "arrays": {}}).encode()]
        else:  # byte-flipped header that is no longer JSON
            b = bytearray(good)
            b[0] = ord("[") if rng.random() < 0.5 else 0xFF
            yield [bytes(b)]


class RawClient:
    """A REQ socket that sends frames as given, with a timeout and a fresh socket
    after a missing reply (a server drops a peer that sends an oversized frame)."""

    def __init__(self, endpoint: str, token: bytes | None = None) -> None:
        self.endpoint, self.token = endpoint, token
        self.ctx = zmq.Context.instance()
        self.sock = None
        self._connect()

    def _connect(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
        self.sock = self.ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def send(self, frames: list, timeout: float = 5.0) -> wire.Message | None:
        """Send ``frames`` (after the token, if any); the reply, or ``None`` without one."""
        frames = [self.token, *frames] if self.token is not None else list(frames)
        self.sock.send_multipart(frames, copy=False)
        if self.sock.poll(int(timeout * 1000)):
            return wire.decode(self.sock.recv_multipart())
        self._connect()
        return None

    def close(self) -> None:
        self.sock.close(linger=0)


def refused(reply: wire.Message | None, kinds: tuple[str, ...]) -> bool:
    """The reply is an error of one of ``kinds`` (exception class names)."""
    return reply is not None and reply.kind == wire.ERROR and reply.payload["type"] in kinds


def settle(seconds: float = 0.2) -> None:
    time.sleep(seconds)
