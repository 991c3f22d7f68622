"""Grouped servers for :class:`btgym.envs.vec.BTgymVectorEnv` (``make_vec(n, servers=k)``).

:func:`build_grouped` builds the n envs as parent-side ``BTgymEnv`` shells whose
handles are :class:`~btgym.server.group_handle.MemberHandle` s of k group servers
(:mod:`btgym.server.group`: m = n/k episode loops per process); :class:`GroupIO`
steps them with one batched request and one reply per group, read into the vector
env's buffers by the same readers as one-env servers' replies.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from btgym.errors import ConfigError
from btgym.log import get_logger
from btgym.server.group_handle import GroupProcess, LocalGroup, MemberHandle

log = get_logger(__name__)


def _count(value: Any, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{what} must be an int in {low}..{high}, got {value!r}")
    return value


def split(n: int, servers: int, local: int = 0) -> list[int]:
    """Server group sizes: the ``n - local`` envs not hosted here over ``servers``
    processes, as even as can be."""
    rest = n - _count(local, 0, n, "local_envs")
    _count(servers, 1 if rest else 0, rest, f"servers (with {rest} envs to serve)")
    if not servers:
        return []
    q, r = divmod(rest, servers)
    return [q + (1 if g < r else 0) for g in range(servers)]


def build_grouped(env_fns: Sequence[Any], servers: int, local: int = 0) -> tuple[list, list]:
    """Call ``env_fns`` with each env's server handle a member of a group server (the
    last ``local`` envs: of a :class:`~btgym.server.group_handle.LocalGroup`, in this
    process).

    The thunks build ordinary env shells; only the handle their setup starts comes
    from :func:`btgym.envs.wiring.handle_factory` (a context variable, no module
    patching): a member of the group (started by the group's first env, with its
    configs).
    On an error, what was started is stopped and the error raised.
    """
    from btgym.envs import wiring

    sizes = split(len(env_fns), servers, local) + ([local] if local else [])
    kinds = [GroupProcess] * (len(sizes) - (1 if local else 0)) + ([LocalGroup] if local else [])
    owner = [(g, j) for g, size in enumerate(sizes) for j in range(size)]
    firsts = [sum(sizes[:g]) for g in range(len(sizes))]
    groups: list[Any] = [None] * len(sizes)
    envs: list = []
    slot: list[tuple[int, int]] = []

    def member(mode: Any = None, **kw: Any) -> MemberHandle:
        g, j = slot[0]
        if mode not in (None, "process"):
            raise ConfigError(f"grouped servers need process-mode envs, got {mode!r}")
        if groups[g] is None:
            groups[g] = kinds[g](sizes[g], firsts[g], kw)
        args = (kw["data_source"], kw["strategy"], kw["broker"], kw["server"], kw["render"])
        return MemberHandle(groups[g], j, *args, kw["strategy_class"])

    try:
        with wiring.handle_factory(member):
            for i, fn in enumerate(env_fns):
                slot[:] = [owner[i]]
                envs.append(fn())
    except BaseException:
        for env in envs:
            with contextlib.suppress(Exception):
                env.close()
        for group in groups:
            if group is not None:
                group.close()
        raise
    return envs, [g for g in groups if g is not None]


class GroupIO:
    """Mixin of :class:`~btgym.envs.vec.BTgymVectorEnv` with grouped servers: one
    batched step request and one reply per group (a local group is stepped after the
    servers got theirs, while they compute). Uses ``envs``, ``_groups``,
    ``_rows``, ``_rewards`` and the :class:`~btgym.envs.vec_io.VecIO` readers."""

    envs: list
    _groups: list[GroupProcess]

    def _step_groups(self, frames: dict[int, list]) -> list[tuple[int, BaseException]]:
        """Send each group its envs' step requests, then collect every group's reply
        into the buffers; errors by env index (a failed group: its first stepped env)."""
        errors: list[tuple[int, BaseException]] = []
        batches: dict[int, list[tuple[int, bytes]]] = {}
        for i, f in frames.items():
            handle = self.envs[i]._handle
            batches.setdefault(id(handle.group), []).append((handle.index, f[0]))
        sent: list = []
        for group in self._groups:
            items = batches.get(id(group))
            if not items:
                continue
            try:
                group.send(items)
            except Exception as exc:
                errors.append((group.first + items[0][0], exc))
                continue
            sent.append(group)
        deadline = time.monotonic() + max((g.server_config.timeout for g in sent), default=0)
        rows, rewards = self._rows, self._rewards
        local = [g for g in sent if g.child is None]  # stepped here, while the servers run
        for group in local + [g for g in sent if g.child is not None]:
            try:
                replies = group.collect(deadline)
            except Exception as exc:
                errors.append((group.first + batches[id(group)][0][0], exc))
                continue
            for j, received in replies:
                i = group.first + j
                try:
                    if not self._fast_read(i, received):  # type: ignore[attr-defined]
                        self._slow_read(i, received)  # type: ignore[attr-defined]
                except Exception as exc:
                    errors.append((i, exc))
                    continue
                rewards[i] = rows[i, 0]
        return errors

    def _close_groups(self) -> None:
        for group in self._groups:
            with contextlib.suppress(Exception):
                group.close()
