"""Policies live: the training strategy run bar by bar, with backtrader's paper broker.

:class:`PolicyTarget` rebuilds a trained A3C/PPO policy and the env it learned in from a
checkpoint (``load_policy`` plus ``StrategyConfig``, ``BrokerConfig`` and the strategy
class from ``env_kwargs``, routed by ``envs.keywords.route``). Observations come from the
strategy itself, not from a copy of it:

- a :class:`LiveSession` is one backtrader ``Cerebro`` (``preload=False,
  runonce=False``) over :class:`LiveFeed` feeds whose ``_load`` asks for the next closed
  bar through a greenlet switch — the same switch :class:`~btgym.server.loop.EpisodeLoop`
  uses to hand out decisions — so ``PolicyTarget.update(bar)`` switches into the run,
  gets the strategy's decision back, and switches the action in;
- the strategy runs in *streaming mode*: a subclass (:func:`streaming_class`) of the
  checkpoint's strategy class whose per-episode arrays (the ``raw`` window, stamps) are
  filled row by row as bars arrive instead of precomputed, so both modes give equal
  observations (tested against an in-process env episode on the same bars);
- the broker is backtrader's, set from ``BrokerConfig``: a paper account where an action
  at t fills at t+1's open, exactly as in training.

Sessions: a session holds at most ``session_bars`` bars. It ends at its last bar or when
the drawdown / target call fires (the signal of that bar carries ``done_reason``); the
next session opens on the next bar with the start cash, primed with the trailing
warm-up bars, so no bar goes without a decision.
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import os
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
from greenlet import GreenletExit, getcurrent, greenlet

from btgym.datafeed import Bars, Episode, SampleMeta
from btgym.datafeed.btfeed import bt_datenums, bt_timeframe
from btgym.datafeed.timeutil import to_posix
from btgym.errors import CheckpointError, ConfigError
from btgym.live.schema import PolicyInfo
from btgym.live.targets import TargetOutput
from btgym.log import get_logger
from btgym.strategy import FINISH, BrokerConfig, BTgymBaseStrategy, StepResult, StrategyConfig
from btgym.strategy.info import iso_time

log = get_logger(__name__)


class _NeedBar:
    def __repr__(self) -> str:
        return "NEED_BAR"


NEED_BAR = _NeedBar()


# ---------------------------------------------------------------------- streaming strategy


class _IsoOnDemand:
    """ISO strings of a growing index, computed per call (rows fill as bars arrive)."""

    def __init__(self, index: np.ndarray) -> None:
        self._index = index

    def __getitem__(self, i: int) -> str:
        return iso_time(int(self._index[i]))


class StreamingMixin:
    """Streaming mode of a :class:`~btgym.strategy.BTgymBaseStrategy`: rows of the
    per-episode arrays are written when their bar arrives (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._iso = _IsoOnDemand(self.bars.index)
        self._filled = int(self.p.episode.known)  # rows known at session start (warm-up)
        raw = self.state_shape.get("raw")
        self._raw_rows = None
        if raw is not None and self._ohlc is not None and self._default_raw():
            names = tuple(self.bars.names)
            lines = [self.asset_names[0]] if raw.shape[1] == 4 else list(names)
            self._raw_rows = (lines, np.dtype(raw.dtype), raw.low, raw.high, raw.bounded)
        self._init_encoder_streams()

    def _init_encoder_streams(self) -> None:
        """Encoder leaves were bound over rows not yet known: recompute them bar by bar
        with each encoder's ``stream()`` (equal to ``bind`` row for row)."""
        self._streams: list = []
        bound = getattr(self, "_encoders", None)
        if bound is None:
            return
        names = tuple(self.bars.names)
        assets = names if len(names) > 1 else None
        for enc in bound.encoders:
            self._streams.append((enc, enc.stream(self.bars.timeframe, assets=assets)))
        for t in range(self._filled):
            self._encode(t)

    def _encode(self, t: int) -> None:
        if not self._streams:
            return
        names = tuple(self.bars.names)
        values = self.bars.values
        row = {n: values[n][t] for n in names} if len(names) > 1 else values[names[0]][t]
        leaves = self._encoders.leaves
        stamp = int(self.bars.index[t])
        for enc, stream in self._streams:
            value, valid = stream.update(stamp, row)
            leaves[enc.key][t] = value
            if enc.valid_key:
                leaves[f"{enc.key}_valid"][t] = valid

    def next(self) -> None:
        t = self.bar_index + 1
        if not self.finished and t >= self._filled:
            self._fill(t)
        super().next()

    def _fill(self, t: int) -> None:
        self._stamps[t] = int(self.bars.index[t])
        if self._raw_rows is not None:
            lines, dtype, low, high, bounded = self._raw_rows
            values = self.bars.values
            row = np.concatenate([values[n][t, :4] for n in lines]).astype(dtype)
            if bounded:
                np.clip(row, low, high, out=row)
            self._ohlc[t] = row
        self._encode(t)
        self._filled = t + 1


def streaming_class(strategy_class: type) -> type:
    """``strategy_class`` in streaming mode (a subclass; hooks and params unchanged)."""

    class Streaming(StreamingMixin, strategy_class):  # type: ignore[misc, valid-type]
        pass

    Streaming.__name__ = Streaming.__qualname__ = f"Streaming{strategy_class.__name__}"
    return Streaming


# ---------------------------------------------------------------------- the feed


class _Pump:
    """The session's bar buffers; row ``i`` is asked from the runner when first needed."""

    def __init__(self, names: tuple[str, ...], capacity: int) -> None:
        self.names, self.capacity = names, capacity
        self.index = np.zeros(capacity, np.int64)
        self.values = {n: np.zeros((capacity, 5)) for n in names}
        self.datenums = np.zeros(capacity)
        self.known = 0

    def put(self, stamp: int, values: Any) -> None:
        i = self.known
        self.index[i] = stamp
        for n in self.names:
            self.values[n][i] = values[n]
        self.datenums[i] = bt_datenums(self.index[i : i + 1])[0]
        self.known = i + 1

    def pad(self, timeframe: int) -> None:
        """Fill the rows not known yet with flat bars at the next stamps (the last close,
        volume 0), so what reads the whole episode at its start (encoders' ``bind``) sees
        valid bars; each row is overwritten by the real bar before anything uses it."""
        i, n = self.known, self.capacity
        if i >= n:
            return
        step = int(timeframe) * 60_000_000_000
        last = int(self.index[i - 1]) if i else 0
        self.index[i:] = last + step * np.arange(1, n - i + 1, dtype=np.int64)
        for name in self.names:
            price = float(self.values[name][i - 1, 3]) if i else 1.0
            self.values[name][i:, :4] = price
            self.values[name][i:, 4] = 0.0

    def row(self, i: int) -> bool:
        """Make sure row ``i`` is there (switching out for the next closed bar)."""
        while i >= self.known:
            bar = getcurrent().parent.switch(NEED_BAR)
            if bar is None:  # the session is being closed
                return False
            self.put(bar[0], bar[1])
        return True


class LiveFeed(bt.feed.DataBase):
    """A backtrader feed reading one asset of a :class:`_Pump`, bar by bar."""

    params = (("pump", None), ("asset", None))

    def start(self) -> None:
        super().start()
        self._i = 0
        ln = self.lines
        self._targets = (ln.datetime, ln.open, ln.high, ln.low, ln.close, ln.volume)

    def _load(self) -> bool:
        i, pump = self._i, self.p.pump
        if i >= pump.capacity or not pump.row(i):
            return False
        v = pump.values[self.p.asset][i]
        ldt, lo_, lh, ll, lc, lv = self._targets
        ldt[0] = pump.datenums[i]
        lo_[0], lh[0], ll[0], lc[0], lv[0] = v[0], v[1], v[2], v[3], v[4]
        self._i = i + 1
        return True


# ---------------------------------------------------------------------- a session


class LiveEpisode(Episode):
    """An Episode whose bars fill while it runs (``known`` rows so far)."""

    __slots__ = ("pump",)

    def __init__(self, bars: Bars, metadata: SampleMeta, pump: _Pump) -> None:
        super().__init__(bars, metadata)
        self.pump = pump

    @property
    def known(self) -> int:
        return self.pump.known


class LiveSession:
    """One backtrader run over live bars (see the module doc).

    Args:
        target: the :class:`PolicyTarget` (configs, strategy class, asset names).
        warmup: ``(stamp, {asset: row})`` bars before the session's first decision bar.
        number: session number (1, 2, ...).
    """

    def __init__(self, target: PolicyTarget, warmup: list, number: int) -> None:
        names = target.data_names
        self.number = number
        pump = _Pump(names, target.session_bars)
        for stamp, values in warmup:
            pump.put(stamp, values)
        pump.pad(target.timeframe)
        bars = Bars(names, pump.index, pump.values, target.timeframe)
        first = warmup[0][0] if warmup else 0
        meta = SampleMeta(
            type=1,
            trial_num=0,
            trial_type=1,
            sample_num=number - 1,
            first_row=0,
            source_row=0,
            num_rows=target.session_bars,
            timestamp=to_posix(first),
            last_timestamp=to_posix(first),
            name=f"live_session_{number}",
        )
        self.episode = LiveEpisode(bars, meta, pump)
        cerebro = bt.Cerebro(stdstats=False, preload=False, runonce=False, tradehistory=False)
        tf, comp = bt_timeframe(target.timeframe)
        for n in names:
            feed = LiveFeed(pump=pump, asset=n, name=n, timeframe=tf, compression=comp)
            cerebro.adddata(feed, name=n)
        target.broker_config.apply(cerebro)
        cerebro.addstrategy(
            target.strategy_class,
            config=target.strategy_config,
            broker_config=target.broker_config,
            episode=self.episode,
            channel=self,
        )
        self.strategy: Any = None
        self.done = False
        self._glet = greenlet(cerebro.run)
        msg = self._switch()
        if msg is not NEED_BAR:
            raise ConfigError(f"live session {number}: the strategy decided before any live bar")

    def attach(self, strategy: Any) -> None:
        self.strategy = strategy

    def emit(self, result: StepResult) -> Any:
        """Called by the strategy (inside the run): hand out the decision, get the action."""
        return getcurrent().parent.switch(result)

    def _switch(self, *args: Any) -> Any:
        glet = self._glet
        if glet.parent is not getcurrent():
            glet.parent = getcurrent()
        try:
            msg = glet.switch(*args)
        except BaseException:
            self.done = True
            raise
        if glet.dead:
            self.done = True
        return msg

    def feed(self, stamp: int, values: Any) -> StepResult | None:
        """One closed bar in; the strategy's decision at it (``None``: no decision)."""
        msg = self._switch((stamp, values))
        return msg if isinstance(msg, StepResult) else None

    def act(self, action: Any) -> None:
        """The canonical action for the last decision (placed as backtrader orders)."""
        self._switch(action)

    def close(self) -> None:
        """End the run (idempotent)."""
        glet = self._glet
        if glet is not None and not glet.dead:
            try:
                glet.throw(GreenletExit)
            except Exception as exc:  # a strategy's cleanup failing must not block
                log.debug(f"closing live session {self.number}: {type(exc).__name__}: {exc}")
        self.done = True


# ---------------------------------------------------------------------- the target


def _resolve_strategy(value: Any) -> type:
    if value is None:
        return BTgymBaseStrategy
    if isinstance(value, type):
        cls = value
    else:
        module, _, attr = str(value).partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise CheckpointError(
                f"strategy {value!r} is not an importable 'module:Class'"
            ) from exc
    if not (isinstance(cls, type) and issubclass(cls, BTgymBaseStrategy)):
        raise CheckpointError(f"strategy {value!r} is not a BTgymBaseStrategy subclass")
    return cls


def configs_from_env_kwargs(env_kwargs: dict[str, Any]) -> tuple[Any, Any, type, tuple, Any]:
    """``(StrategyConfig, BrokerConfig, strategy class, data names, DataConfig)`` of a
    checkpoint's ``env_kwargs``, routed like ``BTgymEnv`` routes them."""
    from btgym.envs.keywords import route
    from btgym.envs.wiring import COMPONENTS, ENV_KEYWORDS

    kw = dict(env_kwargs)
    env_class = str(kw.pop("env_class", None) or "BTgymEnv")
    if kw.get("transport") != "tcp":
        kw.pop("port", None)
    parts = route(kw, COMPONENTS, ENV_KEYWORDS | {"env_class"})
    from btgym.datafeed import DataConfig

    data = DataConfig(
        **{
            k: v
            for k, v in parts["data"].items()
            if k in ("data_names", "parsing_params", "timeframe")
        }
    )
    names = tuple(data.data_names or ())
    if not names and isinstance(parts["data"].get("filename"), dict):
        names = tuple(parts["data"]["filename"])
    names = names or ("default_asset",)
    strat_kw = dict(parts["strategy"])
    strat_kw.setdefault("asset_names", names)
    if env_class.endswith("PortfolioEnv"):
        strat_kw.setdefault("portfolio_actions", True)
    strategy = StrategyConfig(**strat_kw)
    broker = BrokerConfig(**parts["broker"])
    return strategy, broker, _resolve_strategy(parts["env"].get("strategy")), names, data


class PolicyTarget:
    """A trained A3C/PPO policy trading backtrader's paper broker live (module doc).

    Build with :meth:`from_checkpoint`.
    """

    kind = "policy"
    class_names = None
    boundaries = None

    def __init__(
        self,
        policy: Any,
        *,
        strategy_config: StrategyConfig,
        broker_config: BrokerConfig,
        strategy_class: type,
        data_names: tuple[str, ...],
        source: dict[str, Any],
        clock: str | None = None,
        deterministic: bool = True,
        session_bars: int = 1440,
        timeframe: int | None = None,
    ) -> None:
        from btgym.server.contract import make_codec

        self.policy = policy
        self.strategy_config, self.broker_config = strategy_config, broker_config
        self.strategy_class = streaming_class(strategy_class)
        self.data_names = tuple(data_names)
        self.source, self.clock = source, clock
        self.deterministic = deterministic
        self.session_bars = int(session_bars)
        self.timeframe = timeframe
        self._set_time_dim()
        self.assets = tuple(strategy_config.asset_names or self.data_names)
        self.asset = ",".join(self.assets)
        self.codec = make_codec(
            strategy_config.portfolio_actions, self.assets, strategy_config.cash_name
        )
        self.session: LiveSession | None = None
        self.sessions = 0
        self.seen = 0
        self._ring: collections.deque = collections.deque(maxlen=max(1, self.time_dim - 1))
        self._state: Any = None
        self._rename: dict[str, str] = {}

    def _set_time_dim(self) -> None:
        """Bars up to the first decision: the ``raw`` window, or an encoder's warm-up
        (the strategy's own ``warmup_bars()`` rule)."""
        raw = self.strategy_config.state_shape.get("raw")
        self.time_dim = int(raw.shape[0]) if raw is not None else 1
        encoders = getattr(self.strategy_config, "encoders", ())
        if encoders and self.timeframe:
            from btgym.models.env_encoders import materialise

            warm = [materialise(d).warmup_bars(int(self.timeframe)) for d in encoders]
            self.time_dim = max(self.time_dim, *warm)
        if self.session_bars < self.time_dim + 1:
            raise ConfigError(
                f"session_bars={self.session_bars}: a session needs the {self.time_dim} "
                "warm-up bars plus one step"
            )
        if hasattr(self, "_ring") and self._ring.maxlen != max(1, self.time_dim - 1):
            self._ring = collections.deque(self._ring, maxlen=max(1, self.time_dim - 1))

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        *,
        device: str = "cpu",
        deterministic: bool = True,
        session_bars: int = 1440,
        torch_threads: int | None = None,
    ) -> PolicyTarget:
        """Policy and env of an A3C/PPO checkpoint (file or run logdir).

        ``torch_threads`` sets ``torch.set_num_threads`` for the process (``None``: leave
        it; ``btgym live`` sets 1): one decision of a small policy is dispatch-bound, and
        extra intra-op threads only contend with backtrader and redis (a 20× slowdown on
        a busy 2-core machine was measured with torch's default).

        Raises:
            CheckpointError: unreadable, or without the ``env_kwargs`` to rebuild the env.
        """
        from btgym.algorithms.common.checkpoint import checkpoint_path, load_checkpoint
        from btgym.algorithms.common.device import resolve_device
        from btgym.algorithms.common.policies import ActorCritic

        file = checkpoint_path(path) if Path(path).is_dir() else Path(path)
        dev = resolve_device(device)
        if torch_threads is not None:
            import torch

            torch.set_num_threads(int(torch_threads))
        ckpt = load_checkpoint(file, map_location=dev)
        env_kwargs = ckpt.get("env_kwargs")
        if not env_kwargs:
            raise CheckpointError(
                f"checkpoint {file} has no env_kwargs: the live session cannot rebuild the "
                "strategy it was trained in (train with env_kwargs=...)"
            )
        policy = ActorCritic.from_spec(ckpt["policy_spec"])
        policy.load_state_dict(ckpt["model"])
        policy = policy.to(dev).eval()
        strategy, broker, strategy_class, names, data = configs_from_env_kwargs(env_kwargs)
        params = data.parsing_params
        clock = (
            params.get("timezone")
            if isinstance(params, dict)
            else getattr(params, "timezone", None)
        )
        sha = hashlib.sha256(file.read_bytes()).hexdigest()
        return cls(
            policy,
            strategy_config=strategy,
            broker_config=broker,
            strategy_class=strategy_class,
            data_names=names,
            source={"checkpoint": str(file), "sha256": sha},
            clock=clock,
            deterministic=deterministic,
            session_bars=session_bars,
            timeframe=data.timeframe,
        )

    # ------------------------------------------------------------------ protocol

    @property
    def resolution(self) -> str:
        """The decision bar's length (the base bars: a decision at every closed bar, or
        every ``skip_frame``-th; ``horizon_bars`` says how long an action stands)."""
        m = int(self.timeframe or 1)
        return f"{m}min" if m < 60 or m % 60 else (f"{m // 60}h" if m < 1440 else "1D")

    @property
    def horizon_bars(self) -> int:
        return self.strategy_config.skip_frame

    @property
    def minutes(self) -> int:
        return int(self.timeframe or 1)

    @property
    def warmup_bars(self) -> int:
        """Bars up to and including the first decision bar (the ``raw`` window)."""
        return self.time_dim

    def bind(self, timeframe: int, asset_names: tuple[str, ...]) -> None:
        if self.timeframe is not None and int(self.timeframe) != int(timeframe):
            raise ConfigError(
                f"the policy was trained on {self.timeframe}-minute bars; the source "
                f"delivers {timeframe}-minute bars"
            )
        self.timeframe = int(timeframe)
        self._set_time_dim()
        if set(asset_names) != set(self.data_names):
            if len(asset_names) != len(self.data_names):
                raise ConfigError(
                    f"the policy trades {self.data_names}; the source delivers {asset_names}"
                )
            self._rename = dict(zip(asset_names, self.data_names))  # by position
            log.info(f"source assets {asset_names} feed the policy's {self.data_names}")

    def _values(self, values: Any) -> dict[str, np.ndarray]:
        if self._rename:
            return {self._rename[a]: np.asarray(v, np.float64) for a, v in values.items()}
        return {a: np.asarray(v, np.float64) for a, v in values.items()}

    def prime(self, bars: Bars) -> None:
        for i in range(max(0, len(bars) - self._ring.maxlen), len(bars)):
            self._ring.append(
                (int(bars.index[i]), self._values({n: bars.values[n][i] for n in bars.names}))
            )
        self.seen += len(bars)

    def due(self, stamp: int) -> int | None:
        return stamp if self.seen + 1 >= self.time_dim else None

    def update(self, bar: Any) -> TargetOutput | None:
        """One closed bar: the policy's decision at it (``None`` while warming up or on a
        bar that is not a decision bar)."""
        values = self._values(bar.values)
        self.seen += 1
        if self.session is None or self.session.done:
            if self.seen < self.time_dim:
                self._ring.append((bar.stamp, values))
                return None
            self.sessions += 1
            warm = list(self._ring)[-(self.time_dim - 1) :] if self.time_dim > 1 else []
            self.session = LiveSession(self, warm, self.sessions)
            self._state = None
        self._ring.append((bar.stamp, values))
        session = self.session
        try:
            result = session.feed(bar.stamp, values)
        except BaseException:
            session.close()
            raise
        if result is None:
            return None
        info = result.info or session.strategy.standard_info()
        start = info["step"] == 0
        env_action, probs, value = self.decide(result.obs, start)
        codes = self.codec.encode(env_action)
        done = result.terminated or result.truncated
        session.act(FINISH if done else codes)
        if done:
            session.close()
        stale = not all(np.isfinite(v).all() for v in result.obs.values())
        action = (
            {k: float(w) for k, w in zip(self.codec.keys, codes)}
            if self.strategy_config.portfolio_actions
            else {a: int(c) for a, c in zip(self.assets, codes)}
        )
        policy = PolicyInfo(
            action=action,
            action_probs=probs,
            value=value,
            session=session.number,
            step=int(info["step"]),
            position={k: float(v) for k, v in info["position"].items()},
            broker_value=float(info["broker_value"]),
            done_reason=info.get("done_reason") if done else None,
        )
        self.last_obs = result.obs
        return TargetOutput(bar.stamp, self.minutes, "stale" if stale else "ok", policy=policy)

    def decide(self, obs: dict[str, np.ndarray], start: bool) -> tuple[Any, Any, float]:
        """``(env action, action probabilities, value)`` of the policy at ``obs``."""
        import torch

        p = self.policy
        device = next(p.parameters()).device
        x = {k: v.unsqueeze(0).unsqueeze(0) for k, v in p.obs_to_tensor(obs, device).items()}
        state = p.initial_state(1, device) if start or self._state is None else self._state
        starts = torch.tensor([[float(start)]], device=device)
        with torch.no_grad():
            out, values, self._state = p(x, state, starts)
            dist = p.distribution(out[0])
            actions = dist.mode() if self.deterministic else dist.sample()
        probs = None
        a = p.adapter
        if a.kind == "categorical":
            logits = out[0][0].split(list(a.nvec))
            ps = [torch.softmax(lg, -1).cpu().numpy().tolist() for lg in logits]
            probs = dict(zip(self.assets, ps)) if len(ps) == len(self.assets) else ps
        return a.to_env(actions[0].cpu().numpy()), probs, float(values[0, 0])

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
