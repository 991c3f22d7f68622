"""``btgym.make_vec(n, **kw)``: a gymnasium ``VectorEnv`` over n backtrader servers.

>>> venv = btgym.make_vec(4, seed=0, filename="DAT_ASCII_EURUSD_M1_201701.csv")
>>> obs, info = venv.reset(seed=0)                 # env i is seeded with 0 + i
>>> obs, reward, terminated, truncated, info = venv.step({"default_asset": actions})
>>> venv.close()                                   # servers and the data server stop

Each env is a process-mode :class:`~btgym.envs.BTgymEnv` (its own backtrader server
process); all share one data server. A step sends the n requests first and then
collects the n replies (in index order, or with a ZeroMQ poller), so the servers
compute concurrently and the parent only encodes, sends, receives and copies: no worker
processes, no pipes, no pickling (``AsyncVectorEnv`` adds a worker process and a
pickled observation per env per step).

Observations are written into preallocated ``(n, ...)`` buffers (returned as copies
unless ``copy=False``). ``info`` is built from the record rows the servers ship,
as arrays with gymnasium's ``_key`` masks: ``step``, ``broker_value``,
``broker_cash``, ``drawdown``, ``realized_pnl``, ``unrealized_pnl`` (``(n,)``),
``position`` and ``action`` (``(n, k)`` in asset / action-key order), ``time``
(``datetime64[ns]``), and where any env has them ``broker_message``,
``done_reason`` and ``bars_stepped``. A strategy with its own ``get_info`` gets its
dicts merged key by key.

Autoreset follows gymnasium's ``AutoresetMode``: ``NextStep`` (the default: the
step after an episode's last one resets that env, ignoring its action, and returns
the first observation with reward 0), ``SameStep`` (the ended env is reset within the
step; its last observation and info are in ``info["final_obs"]`` /
``info["final_info"]``) or ``Disabled`` (reset ended envs with
``reset(options={"reset_mask": mask})``).

``make_vec(n, servers=k)`` groups the envs instead: k server processes (about the
number of cores) each host n / k episode loops (:mod:`btgym.server.group`) and answer
one batched step request with one reply, so a vector step costs k round trips and
no more processes than cores; the trajectories are the same. A failed group server
names its envs (``env_indices``); the next ``reset()`` starts a new one.

A failing env raises its own named error (``ServerDiedError``, the strategy's
exception with the child's traceback...) with ``env_index`` set and the index in
the message; after an error call ``reset()``: the failed env's server is restarted
there when it died.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space, create_empty_array, iterate

from btgym.envs.base import BTgymEnv
from btgym.envs.vec_groups import GroupIO, build_grouped, split
from btgym.envs.vec_io import STANDARD_INFO, VecIO
from btgym.envs.vector import EnvFns, make_env_fns
from btgym.errors import BTgymError, ConfigError
from btgym.log import get_logger
from btgym.server.protocol import N_INTS
from btgym.strategy.info import N_FLOATS

log = get_logger(__name__)


def make_vec(
    n: int,
    *,
    seed: int | None = None,
    env_class: type[BTgymEnv] = BTgymEnv,
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    copy: bool = True,
    sb3: bool = False,
    servers: int | None = None,
    local_envs: int = 0,
    **kwargs: Any,
) -> Any:
    """Start one data server and ``n`` process-mode envs on it, as one ``VectorEnv``.

    Args:
        n: number of envs (one backtrader server process each, unless ``servers``).
        seed: one seed for everything: the shared data server's, and the first
            ``reset()``'s when it gets none (env ``i`` is seeded with ``seed + i``).
        env_class: ``BTgymEnv``, ``MultiDiscreteEnv`` or ``PortfolioEnv``.
        autoreset_mode: ``"NextStep"``, ``"SameStep"`` or ``"Disabled"``.
        copy: return copies of the observation buffers (``False``: the buffers
            themselves, overwritten by the next step).
        sb3: return a Stable-Baselines3 ``VecEnv``
            (:class:`btgym.integrations.sb3.SB3VecEnv`, same-step autoreset) instead.
        servers: server processes (``None`` or ``n``: one per env). Fewer (about the
            number of cores) group the envs: each process hosts ``n / servers``
            episode loops and answers one batched step per vector step
            (:mod:`btgym.server.group`).
        local_envs: host this many envs (the last ones) in this process, stepped
            while the servers compute theirs (``servers`` then counts the processes
            for the others, one each by default).
        **kwargs: BTGym keywords for every env (``server`` must be ``"process"``) and
            ``render_mode``.

    Raises:
        ConfigError: ``server="inprocess"`` or an unknown autoreset mode.
    """
    if kwargs.get("server", "process") != "process":
        raise ConfigError(
            f"make_vec drives process-mode servers, got server={kwargs['server']!r} "
            "(in-process envs: gymnasium.vector.SyncVectorEnv(btgym.make_env_fns(...)))"
        )
    kwargs["server"] = "process"
    if local_envs and servers is None:
        servers = n - local_envs
    if servers is not None:
        split(n, servers, local_envs)  # checked before anything starts
    if sb3:
        autoreset_mode = AutoresetMode.SAME_STEP
    mode = _autoreset(autoreset_mode)
    render_mode = kwargs.pop("render_mode", None)
    fns = make_env_fns(n, env_class=env_class, seed=seed, **kwargs)
    if render_mode is not None:
        fns[:] = [functools.partial(fn, render_mode=render_mode) for fn in fns]
    try:
        venv = BTgymVectorEnv(
            fns, autoreset_mode=mode, copy=copy, seed=seed, servers=servers, local_envs=local_envs
        )
    except BaseException:
        fns.close()
        raise
    if sb3:
        from btgym.integrations.sb3 import SB3VecEnv

        out = SB3VecEnv(venv)
        out.seed(seed)
        return out
    return venv


def _autoreset(mode: str | AutoresetMode) -> AutoresetMode:
    try:
        return AutoresetMode(mode)
    except ValueError:
        raise ConfigError(
            f"autoreset_mode {mode!r} is not one of {[m.value for m in AutoresetMode]}"
        ) from None


class BTgymVectorEnv(VecIO, GroupIO, gym.vector.VectorEnv):
    """n process-mode envs stepped concurrently from this process (see module doc).

    Args:
        env_fns: env factories (``make_env_fns``' list: its data server is stopped
            on :meth:`close`).
        autoreset_mode: gymnasium's ``AutoresetMode``.
        copy: return copies of the observation buffers.
        seed: the first ``reset()``'s seed when it gets none.
        servers: group the envs on this many server processes (``None``: one each;
            see :func:`make_vec`).
        local_envs: envs hosted in this process (see :func:`make_vec`).

    Attributes:
        poll: collect the replies with a ZeroMQ poller as they come, or ``False``
            (default): a blocking receive per env in index order. The servers compute
            concurrently either way (the wait is the slowest server's); the poller
            costs this process ~15 µs of CPU per env step more (its register /
            ``zmq_poll`` / ``ZMQ_EVENTS`` round per step).
    """

    def __init__(
        self,
        env_fns: Sequence[Any],
        autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP,
        copy: bool = True,
        seed: int | None = None,
        servers: int | None = None,
        local_envs: int = 0,
    ) -> None:
        self._owner = env_fns if isinstance(env_fns, EnvFns) else None
        self.envs: list[BTgymEnv] = []
        self._groups: list = []
        self._closed = False
        try:
            if local_envs or (servers is not None and servers != len(env_fns)):
                n_served = len(env_fns) - local_envs
                k = n_served if servers is None else servers
                self.envs, self._groups = build_grouped(env_fns, k, local_envs)
            else:
                for fn in env_fns:
                    self.envs.append(fn())
            for env in self.envs:
                if getattr(env._handle, "mode", None) != "process":
                    raise ConfigError("BTgymVectorEnv needs process-mode envs (server='process')")
        except BaseException:
            self.close()
            raise
        first = self.envs[0]
        self.num_envs = len(self.envs)
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.autoreset_mode = _autoreset(autoreset_mode)
        self._same_step = self.autoreset_mode is AutoresetMode.SAME_STEP
        self.metadata = {**first.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = first.render_mode
        self.asset_names = tuple(first.asset_names)
        self.kind = (
            "portfolio"
            if first.base_actions is None
            else getattr(type(first), "engine_actions", "discrete")
        )
        self.copy = copy
        self._seed = seed
        n = self.num_envs
        self._obs = create_empty_array(self.single_observation_space, n, fn=np.zeros)
        self._keys = tuple(self.single_observation_space.spaces)
        self._rows: np.ndarray | None = None  # (n, floats + ints) once the layout is known
        self._rewards = np.zeros(n, np.float64)
        self._terminated = np.zeros(n, bool)
        self._truncated = np.zeros(n, bool)
        self._ended = np.zeros(n, bool)
        self._payloads: list[dict] = [{} for _ in range(n)]
        self.poll = False

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every env (or those of ``options["reset_mask"]``); env ``i`` is seeded
        with ``seed + i`` (or ``seed[i]``); other options go to every env."""
        self._check_open()
        if seed is None and self._seed is not None:
            seed, self._seed = self._seed, None
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ConfigError(f"reset got {len(seeds)} seeds for {n} envs")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        mask = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != (n,):
            raise ConfigError(f"reset_mask must have shape ({n},), got {mask.shape}")
        infos: dict[str, Any] = {}
        for i in np.flatnonzero(mask):
            info = self._reset_env(int(i), seeds[i], options or None)
            if self._payloads[i].get("info") is not None:
                infos = self._add_info(infos, info, int(i))
        self._terminated[mask] = self._truncated[mask] = self._ended[mask] = False
        self._rewards[mask] = 0.0
        return self._out(), self._info(infos, mask)

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env concurrently (see module doc for autoreset and info)."""
        self._check_open()
        n = self.num_envs
        per_env = self._split(actions)
        resetting = self._ended.copy() if self.autoreset_mode is AutoresetMode.NEXT_STEP else None
        # encode (validate) every action before anything is sent
        frames: dict[int, list] = {}
        for i in range(n):
            if resetting is None or not resetting[i]:
                try:
                    frames[i] = self.envs[i]._handle.step_frames(per_env[i])
                except Exception as exc:
                    raise _indexed(exc, i) from None
        grouped = bool(self._groups)
        # grouped: one batch per group, collected before any reset uses the sockets
        errors: list[tuple[int, BaseException]] = self._step_groups(frames) if grouped else []
        if errors:  # before any autoreset (it would restart a failed group's server)
            raise _indexed(errors[0][1], errors[0][0]) from None
        for i, f in frames.items() if not grouped else ():
            try:
                self.envs[i]._handle.send_frames(f)
            except Exception as exc:
                self._drain([j for j in frames if j < i])
                raise _indexed(exc, i) from None
        infos: dict[str, Any] = {}
        if resetting is not None and resetting.any():  # while the others compute
            for i in np.flatnonzero(resetting):
                try:
                    info = self._reset_env(int(i), None, None)
                except Exception as exc:
                    errors.append((int(i), exc))
                    continue
                if self._payloads[i].get("info") is not None:
                    infos = self._add_info(infos, info, int(i))
            self._rewards[resetting] = 0.0
        if not grouped:
            errors += self._collect(list(frames))
        if errors:
            i, exc = errors[0]
            raise _indexed(exc, i) from None
        ints = self._rows[:, -N_INTS:].view(np.int64)
        term = ints[:, 2] != 0
        trunc = ints[:, 3] != 0
        if resetting is not None:
            term[resetting] = trunc[resetting] = False
        self._terminated[:], self._truncated[:] = term, trunc
        ended = term | trunc
        self._ended[:] = ended
        for i in frames:
            self.envs[i]._handle.step_ended(bool(term[i]), bool(trunc[i]))
            if self._payloads[i].get("info") is not None:
                infos = self._add_info(infos, self._payloads[i]["info"], i)
        if self.autoreset_mode is AutoresetMode.DISABLED:
            pass
        elif self._same_step and ended.any():
            infos = self._same_step_reset(np.flatnonzero(ended), infos)
        info = self._info(infos, np.ones(n, bool))
        rewards = self._rewards.copy()
        return self._out(), rewards, term, trunc, info

    def render(self) -> tuple[Any, ...] | None:
        """Every env's ``render()`` (``None`` without a ``render_mode``)."""
        self._check_open()
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode=")
            return None
        return tuple(env.render() for env in self.envs)

    def close(self, **kwargs: Any) -> None:
        """Stop every server and the shared data server (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for env in self.envs:
            with contextlib.suppress(Exception):
                env.close()
        self._close_groups()
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.close()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call ``name`` on every env (an attribute is returned as it is)."""
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(getattr(env, name) for env in self.envs)

    def set_attr(self, name: str, values: Any) -> None:
        values = values if isinstance(values, (list, tuple)) else [values] * self.num_envs
        for env, value in zip(self.envs, values):
            setattr(env, name, value)

    @property
    def data_address(self) -> str | None:
        """The shared data server's endpoint."""
        return self.envs[0].data_address if self.envs else None

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            from btgym.errors import EnvClosedError

            raise EnvClosedError("BTgymVectorEnv is closed")

    def _split(self, actions: Any) -> list[Any]:
        n = self.num_envs
        if isinstance(actions, Mapping) and self.kind != "portfolio":
            if len(self.asset_names) == 1 and len(actions) == 1:
                codes = np.asarray(actions.get(self.asset_names[0], 0))
                # plain ints: the codec's fast path checks each one
                return codes.astype(np.int64, copy=False).reshape(n).tolist()
            cols = [np.asarray(actions.get(a, 0)).reshape(n) for a in self.asset_names]
            codes = np.stack(cols, axis=1).astype(np.int64, copy=False)
            return list(codes)
        if isinstance(actions, np.ndarray) and actions.shape[0] == n and actions.ndim <= 2:
            if self.kind == "portfolio":
                return list(actions)
            return list(actions.reshape(n, -1).astype(np.int64, copy=False))
        return list(iterate(self.action_space, actions))

    def _reset_env(self, i: int, seed: int | None, options: dict | None) -> dict:
        obs, info = self.envs[i].reset(seed=seed, options=options)
        for key in self._keys:
            self._obs[key][i] = obs[key]
        layout = self.envs[i]._handle._layout
        if self._rows is None:
            width = N_FLOATS + len(layout.assets) + len(layout.action_keys) + N_INTS
            self._rows = np.zeros((self.num_envs, width), np.float64)
        self._row_from_info(i, info, layout)
        self._payloads[i] = {} if set(info) <= STANDARD_INFO else {"info": info}
        return info

    def _same_step_reset(self, done: np.ndarray, infos: dict) -> dict:
        n = self.num_envs
        final_obs = np.empty(n, object)
        mask = np.zeros(n, bool)
        mask[done] = True
        for i in done:
            final_obs[i] = {k: self._obs[k][i].copy() for k in self._keys}
        final_info = self._info({}, mask)
        for i in done:
            if self._payloads[i].get("info") is not None:
                final_info = self._add_info(final_info, self._payloads[i]["info"], int(i))
        errors = []
        for i in done:
            try:
                info = self._reset_env(int(i), None, None)
            except Exception as exc:
                errors.append((int(i), exc))
                continue
            if self._payloads[i].get("info") is not None:
                infos = self._add_info(infos, info, int(i))
        if errors:
            raise _indexed(errors[0][1], errors[0][0]) from None
        infos["final_obs"], infos["_final_obs"] = final_obs, mask
        infos["final_info"], infos["_final_info"] = final_info, mask
        return infos

    def _out(self) -> dict[str, np.ndarray]:
        if self.copy:
            return {k: v.copy() for k, v in self._obs.items()}
        return self._obs

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _indexed(exc: BaseException, i: int) -> BaseException:
    """``exc`` (its class kept: user code catches the same thing) naming env ``i``."""
    exc.env_index = i  # type: ignore[attr-defined]
    if isinstance(exc, BTgymError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"env {i} of the vector env: {exc.args[0]}",)
    elif hasattr(exc, "add_note"):
        exc.add_note(f"raised by env {i} of the vector env")
    return exc


__all__ = ["BTgymVectorEnv", "make_vec"]
