"""Actor-critic policies for Dict observations.

``obs -> DictEncoder (one encoder per key) -> [LSTM core | MLP torso] -> policy head,
value head``. The head and its distribution follow the action space (see
:class:`~btgym.algorithms.common.spaces.ActionAdapter` and
:mod:`~btgym.algorithms.common.distributions`).

Tensors with a time axis are laid out ``(T, B, ...)``. ``starts`` (``(T, B)``, 1.0
where an episode begins at that step) resets the LSTM state inside a sequence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from btgym.algorithms.common.distributions import DiagGaussian, DirichletWeights, MultiCategorical
from btgym.algorithms.common.encoders import DictEncoder, _mlp
from btgym.algorithms.common.spaces import ActionAdapter, obs_keys, space_to_spec, spec_to_space
from btgym.errors import check_keywords

State = tuple[torch.Tensor, ...]


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    """Architecture of :class:`ActorCritic`.

    Attributes:
        obs_keys: observation entries to encode (``None``: every Box except ``metadata``).
        conv_channels, conv_kernel, conv_stride: the time-window encoders' convolutions.
        encoder_dim: embedding size of each entry.
        vector_hidden: hidden sizes of the flat-vector encoders.
        input_norm: scale inputs inside the model (see :mod:`.encoders`).
        lstm: put an LSTM core after the encoders; lstm_size: its width.
        hidden: MLP torso after the encoders when there is no LSTM.

    The defaults are sized for CPU workers: a step of a small network is mostly
    dispatch overhead, so every layer costs about the same; one conv layer and a
    one-layer vector encoder cut the learner's CPU per env step by ~40 % against two
    of each, and learn the sine benchmark as well. Widen them for richer data.
    """

    obs_keys: tuple[str, ...] | None = None
    conv_channels: tuple[int, ...] = (32,)
    conv_kernel: int = 3
    conv_stride: int = 2
    encoder_dim: int = 64
    vector_hidden: tuple[int, ...] = ()
    input_norm: bool = True
    lstm: bool = False
    lstm_size: int = 128
    hidden: tuple[int, ...] = (64,)

    @classmethod
    def from_keywords(cls, **keywords: Any) -> PolicyConfig:
        check_keywords(keywords, [f.name for f in dataclasses.fields(cls)], cls.__name__)
        for key in ("obs_keys", "conv_channels", "vector_hidden", "hidden"):
            if isinstance(keywords.get(key), list):
                keywords[key] = tuple(keywords[key])
        return cls(**keywords)


def _init(layer: nn.Module, gain: float) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCritic(nn.Module):
    """Policy and value function over a Dict (or Box) observation space.

    Args:
        observation_space: a Dict of Box leaves (or one Box).
        action_space: Discrete, MultiDiscrete, Dict of Discrete, Box, Dict of Box.
        config: architecture (:class:`PolicyConfig`).
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: PolicyConfig | None = None,
    ) -> None:
        super().__init__()
        self.config = config or PolicyConfig()
        self.observation_space, self.action_space = observation_space, action_space
        self.adapter = ActionAdapter(action_space)
        self.keys = obs_keys(observation_space, self.config.obs_keys)
        c = self.config
        boxes = (
            {"": observation_space}
            if self.keys == ("",)
            else {k: observation_space[k] for k in self.keys}
        )
        self.encoder = DictEncoder(
            boxes,
            channels=c.conv_channels,
            kernel=c.conv_kernel,
            stride=c.conv_stride,
            hidden=c.vector_hidden,
            out_dim=c.encoder_dim,
            normalize=c.input_norm,
        )
        if c.lstm:
            self.core = nn.LSTM(self.encoder.out_dim, c.lstm_size)
            core_dim = c.lstm_size
        else:
            self.core = _mlp([self.encoder.out_dim, *c.hidden], nn.Tanh)
            core_dim = c.hidden[-1] if c.hidden else self.encoder.out_dim
        a = self.adapter
        out = sum(a.nvec) if a.kind == "categorical" else a.dim
        self.pi = _init(nn.Linear(core_dim, out), 0.01)
        self.v = _init(nn.Linear(core_dim, 1), 1.0)
        if a.kind == "gaussian":
            self.log_std = nn.Parameter(torch.full((a.dim,), -0.5))

    # ------------------------------------------------------------------ plumbing

    @property
    def recurrent(self) -> bool:
        return self.config.lstm

    def spec(self) -> dict[str, Any]:
        """Plain-data description to rebuild this policy (see :meth:`from_spec`)."""
        return {
            "observation_space": space_to_spec(self.observation_space),
            "action_space": space_to_spec(self.action_space),
            "config": dataclasses.asdict(self.config),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ActorCritic:
        return cls(
            spec_to_space(spec["observation_space"]),
            spec_to_space(spec["action_space"]),
            PolicyConfig.from_keywords(**spec["config"]),
        )

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        if not self.recurrent:
            return ()
        h = torch.zeros(1, batch, self.config.lstm_size, device=device)
        return (h, h.clone())

    def obs_to_tensor(
        self, obs: Any, device: torch.device | str = "cpu"
    ) -> dict[str, torch.Tensor]:
        """Numpy observation(s) -> dict of float tensors (no axes added)."""
        if self.keys == ("",):
            return {"": torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)}
        return {
            k: torch.as_tensor(np.asarray(obs[k]), dtype=torch.float32, device=device)
            for k in self.keys
        }

    # ------------------------------------------------------------------ forward

    def forward(
        self, obs: Mapping[str, torch.Tensor], state: State, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Run a ``(T, B)`` sequence.

        Returns:
            ``(head_out (T, B, A), values (T, B), final_state)``.
        """
        t, b = starts.shape
        flat = {k: v.reshape(t * b, *v.shape[2:]) for k, v in obs.items()}
        x = self.encoder(flat)
        if self.recurrent:
            x = x.reshape(t, b, -1)
            h, c = state
            if not bool(starts[1:].any()):
                keep = (1.0 - starts[0]).view(1, b, 1)
                y, (h, c) = self.core(x, (h * keep, c * keep))
            else:
                ys = []
                for i in range(t):
                    keep = (1.0 - starts[i]).view(1, b, 1)
                    y_i, (h, c) = self.core(x[i : i + 1], (h * keep, c * keep))
                    ys.append(y_i)
                y = torch.cat(ys, dim=0)
            state = (h, c)
            y = y.reshape(t * b, -1)
        else:
            y = self.core(x)
        return self.pi(y).reshape(t, b, -1), self.v(y).reshape(t, b), state

    def distribution(self, head_out: torch.Tensor):
        kind = self.adapter.kind
        if kind == "categorical":
            return MultiCategorical(head_out, self.adapter.nvec)
        if kind == "dirichlet":
            return DirichletWeights(head_out)
        return DiagGaussian(head_out, self.log_std)

    @torch.no_grad()
    def step(
        self,
        obs: Mapping[str, torch.Tensor],
        state: State,
        starts: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, State]:
        """One step for a batch: ``obs`` leaves are ``(B, ...)``, ``starts`` is ``(B,)``.

        Returns:
            ``(actions (B, dim), log_probs (B,), values (B,), new_state)``.
        """
        seq = {k: v.unsqueeze(0) for k, v in obs.items()}
        out, values, state = self(seq, state, starts.unsqueeze(0))
        dist = self.distribution(out[0])
        actions = dist.mode() if deterministic else dist.sample()
        return actions, dist.log_prob(actions), values[0], state

    def evaluate(
        self,
        obs: Mapping[str, torch.Tensor],
        actions: torch.Tensor,
        state: State,
        starts: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs, entropies and values ``(T, B)`` of taken ``actions`` ``(T, B, dim)``."""
        out, values, _ = self(obs, state, starts)
        dist = self.distribution(out)
        return dist.log_prob(actions), dist.entropy(), values

    @torch.no_grad()
    def value(
        self, obs: Mapping[str, torch.Tensor], state: State, starts: torch.Tensor
    ) -> torch.Tensor:
        """State values ``(B,)`` for a batch of single observations."""
        seq = {k: v.unsqueeze(0) for k, v in obs.items()}
        return self(seq, state, starts.unsqueeze(0))[1][0]

    def predict(
        self,
        observation: Any,
        state: State | None = None,
        episode_start: bool = False,
        deterministic: bool = True,
    ) -> tuple[Any, State]:
        """The env action for one numpy observation (SB3's ``predict`` shape).

        Returns:
            ``(action in the env's form, new recurrent state)``.
        """
        device = next(self.parameters()).device
        obs = {k: v.unsqueeze(0) for k, v in self.obs_to_tensor(observation, device).items()}
        state = self.initial_state(1, device) if state is None else state
        starts = torch.tensor([float(episode_start)], device=device)
        actions, _, _, state = self.step(obs, state, starts, deterministic)
        return self.adapter.to_env(actions[0].cpu().numpy()), state
