"""``PolicyTarget``: a trained A3C/PPO policy trading backtrader's paper broker live.

:meth:`PolicyTarget.from_checkpoint` rebuilds the policy (``load_policy``'s steps) and the
env it learned in from the checkpoint's ``env_kwargs`` (``StrategyConfig``,
``BrokerConfig`` and the strategy class, routed like ``BTgymEnv`` routes its keywords; a
custom strategy is stored as ``"module:Class"``). Each closed bar goes into the running
:class:`~btgym.live.session.LiveSession`; at a decision the policy acts on the
strategy's own observation, and the canonical action (the env's codec) becomes
backtrader orders that fill at the next bar's open. Sessions end at their last bar or
at the drawdown / target call; the next opens on the next bar, primed with the trailing
warm-up bars (see :mod:`btgym.live.session`).
"""

from __future__ import annotations

import collections
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from btgym.datafeed import Bars
from btgym.errors import CheckpointError, ConfigError
from btgym.live.schema import PolicyInfo
from btgym.live.session import LiveSession, streaming_class
from btgym.live.targets import TargetOutput
from btgym.log import get_logger
from btgym.strategy import FINISH, BrokerConfig, BTgymBaseStrategy, StrategyConfig

log = get_logger(__name__)


def _resolve_strategy(value: Any, trusted: tuple = (), source: str = "the checkpoint") -> type:
    """The strategy class a checkpoint names: btgym's own, or one the user trusts.

    A checkpoint is data and never chooses code (``docs/security.md``): a
    ``"module:Class"`` name resolves only through btgym's registry or the user's
    allow-list (``btgym live policy --trust module:Class`` / ``trusted_classes=``).
    """
    from btgym.algorithms.common.checkpoint import STRATEGY_CLASSES, trusted_class

    if value is None:
        return BTgymBaseStrategy
    cls = (
        value
        if isinstance(value, type)
        else trusted_class(value, "strategy", STRATEGY_CLASSES, trusted, source)
    )
    if not (isinstance(cls, type) and issubclass(cls, BTgymBaseStrategy)):
        raise CheckpointError(f"strategy {value!r} is not a BTgymBaseStrategy subclass")
    return cls


def configs_from_env_kwargs(
    env_kwargs: dict[str, Any], trusted: tuple = (), source: str = "the checkpoint"
) -> tuple[Any, Any, type, tuple, Any]:
    """``(StrategyConfig, BrokerConfig, strategy class, data names, DataConfig)`` of a
    checkpoint's ``env_kwargs``, routed like ``BTgymEnv`` routes them; a strategy named
    by the checkpoint resolves only if btgym or ``trusted`` has it."""
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
    strategy_class = _resolve_strategy(parts["env"].get("strategy"), tuple(trusted), source)
    return strategy, broker, strategy_class, names, data


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
        trusted_classes: tuple | list = (),
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
        strategy, broker, strategy_class, names, data = configs_from_env_kwargs(
            env_kwargs, tuple(trusted_classes), source=f"checkpoint {file}"
        )
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
