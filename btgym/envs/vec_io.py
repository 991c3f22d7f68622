"""The reply and info plumbing of :class:`btgym.envs.vec.BTgymVectorEnv`.

:class:`VecIO` reads the n step replies into the vector env's preallocated buffers (a
ZeroMQ poller, or a blocking receive per env in index order) and builds the vector
``info`` from the record rows the servers ship (see :mod:`btgym.envs.vec`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import zmq

from btgym.log import get_logger
from btgym.server.protocol import N_INTS, RECORD_ROW
from btgym.strategy.info import N_FLOATS, STANDARD_KEYS

log = get_logger(__name__)

_SLICE_MS = 100
#: info keys read from the float row (index in the row)
_ROW_KEYS = (
    ("broker_value", 1),
    ("broker_cash", 2),
    ("drawdown", 3),
    ("realized_pnl", 4),
    ("unrealized_pnl", 5),
)


_EMPTY: dict = {}
#: the info keys the servers' rows and step frames carry: the strategy's standard keys
#: and the episode-end pair
STANDARD_INFO = frozenset((*STANDARD_KEYS, "done_reason", "bars_stepped"))


class VecIO:
    """Mixin of :class:`~btgym.envs.vec.BTgymVectorEnv`: replies → buffers, rows → info.

    Uses the env's ``envs``, ``num_envs``, ``poll``, ``_obs``, ``_rows``,
    ``_rewards`` and ``_payloads``.
    """

    envs: list
    num_envs: int
    poll: bool
    _obs: dict
    _rows: Any
    _rewards: np.ndarray
    _payloads: list

    def _row_from_info(self, i: int, info: Mapping[str, Any], layout: Any) -> None:
        row = self._rows[i]
        row[0] = 0.0
        for key, j in _ROW_KEYS:
            row[j] = info.get(key, 0.0)
        pos, act = info.get("position", {}), info.get("action", {})
        for j, a in enumerate(layout.assets):
            row[N_FLOATS + j] = pos.get(a, 0.0) if isinstance(pos, Mapping) else 0.0
        a0 = N_FLOATS + len(layout.assets)
        for j, a in enumerate(layout.action_keys):
            row[a0 + j] = act.get(a, 0) if isinstance(act, Mapping) else 0
        t = info.get("time")
        ints = row[-N_INTS:].view(np.int64)
        ints[0] = np.datetime64(t, "ns").astype(np.int64) if t else 0
        ints[1], ints[2], ints[3] = int(info.get("step", 0)), 0, 0

    def _collect(self, pending: list[int]) -> list[tuple[int, BaseException]]:
        """Receive the replies of ``pending`` envs into the buffers; errors by index."""
        errors: list[tuple[int, BaseException]] = []
        if not pending:
            return errors
        handles = [env._handle for env in self.envs]
        if not self.poll:
            return self._collect_in_order(pending, handles)
        socks = {handles[i].client.socket: i for i in pending}
        poller = zmq.Poller()
        for sock in socks:
            poller.register(sock, zmq.POLLIN)
        timeout = max(handles[i].server_config.timeout for i in pending)
        deadline = time.monotonic() + timeout
        left = set(pending)
        rows, rewards = self._rows, self._rewards
        while left:
            ready = poller.poll(_SLICE_MS)
            if not ready:
                for i in sorted(left):
                    try:
                        handles[i].waiting(deadline)
                    except Exception as exc:
                        errors.append((i, exc))
                        left.discard(i)
                for sock in [s for s, i in socks.items() if i not in left]:
                    with contextlib.suppress(KeyError):
                        poller.unregister(sock)
                    socks.pop(sock, None)
                continue
            for sock, _ in ready:
                i = socks[sock]
                poller.unregister(sock)
                left.discard(i)
                try:
                    frames = handles[i].receive_step()
                    if not self._fast_read(i, frames):  # not the usual layout
                        self._slow_read(i, frames)
                except Exception as exc:
                    errors.append((i, exc))
                    continue
                rewards[i] = rows[i, 0]
        return errors

    def _collect_in_order(self, pending: list[int], handles: list) -> list:
        """:meth:`_collect` by a blocking receive per env, in index order (the servers
        all compute meanwhile: the wait is the slowest server's either way)."""
        errors: list[tuple[int, BaseException]] = []
        timeout = max(handles[i].server_config.timeout for i in pending)
        deadline = time.monotonic() + timeout
        rows = self._rows
        for i in pending:
            try:
                frames = handles[i].collect_step(deadline)
                if not self._fast_read(i, frames):
                    self._slow_read(i, frames)
            except Exception as exc:
                errors.append((i, exc))
                continue
            self._rewards[i] = rows[i, 0]
        return errors

    def _slow_read(self, i: int, frames: list) -> None:
        msg = self.envs[i]._handle.decode_step(frames)
        for key, arr in msg.arrays.items():
            if key == RECORD_ROW:
                self._rows[i] = arr
            else:
                self._obs[key][i] = arr
        self._payloads[i] = msg.payload

    def _fast_read(self, i: int, frames: list) -> bool:
        """Copy a step frame (``protocol.StepFrame``, the server's usual reply)
        straight into the buffers; False if the reply is not one."""
        layout = self.envs[i]._handle.step_frame
        if layout is None or len(frames) != 1:
            return False
        frame = frames[0]
        if not layout.is_frame(frame):
            return False
        buffers = self._obs
        for key, dtype, shape, offset, _ in layout.leaves:
            buffers[key][i] = np.ndarray(shape, dtype, frame, offset)
        self._rows[i] = layout.row(frame)
        message, done = layout.tail(frame)
        if message or done:
            payload: dict[str, Any] = {"message": message} if message else {}
            if done:
                payload["done"] = done
            self._payloads[i] = payload
        else:
            self._payloads[i] = _EMPTY
        return True

    def _drain(self, sent: list[int]) -> None:
        """Collect (and drop) replies already asked for, so every socket stays usable."""
        for i, exc in self._collect(sent):
            log.debug(f"env {i} failed while draining: {exc!r}")

    def _info(self, infos: dict, mask: np.ndarray) -> dict[str, Any]:
        """The row-built info arrays (masked to ``mask``), merged into ``infos``."""
        rows = self._rows
        if rows is None:
            return infos
        rows = rows.copy()  # one copy; every info entry is a view of it
        ints = rows[:, -N_INTS:].view(np.int64)
        layout = self.envs[0]._handle._layout
        k = len(layout.assets)
        out: dict[str, Any] = {"step": ints[:, 1], "_step": mask}
        out["time"], out["_time"] = ints[:, 0].view("datetime64[ns]"), mask
        for key, j in _ROW_KEYS:
            out[key], out[f"_{key}"] = rows[:, j], mask
        out["position"], out["_position"] = rows[:, N_FLOATS : N_FLOATS + k], mask
        act = rows[:, N_FLOATS + k : -N_INTS]
        out["action"] = act.astype(np.int64) if layout.discrete else act
        out["_action"] = mask
        extra: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        payloads = self._payloads
        for i in range(self.num_envs):
            p = payloads[i]
            if not p or not mask[i]:
                continue
            if p.get("message"):
                self._put(extra, "broker_message", i, p["message"], "")
            done = p.get("done")
            if done:
                self._put(extra, "done_reason", i, done.get("done_reason", ""), "")
                self._put(extra, "bars_stepped", i, done.get("bars_stepped", 0), 0)
        for key, (values, m) in extra.items():
            out[key], out[f"_{key}"] = values, m
        out.update(infos)
        return out

    def _put(self, extra: dict, key: str, i: int, value: Any, blank: Any) -> None:
        if key not in extra:
            n = self.num_envs
            values = np.full(n, blank, dtype=object if isinstance(blank, str) else np.int64)
            extra[key] = (values, np.zeros(n, bool))
        extra[key][0][i] = value
        extra[key][1][i] = True
