"""Action distributions for the policy heads.

- :class:`MultiCategorical`: one categorical per component of a ``Dict`` of
  ``Discrete`` / ``MultiDiscrete`` / ``Discrete`` action (components independent
  given the state; log-probabilities and entropies add up).
- :class:`DirichletWeights`: portfolio weights on the simplex (assets + cash, all
  >= 0, sum 1). The Dirichlet is the distribution *of* the simplex: exact
  log-probability and entropy, no squashing Jacobian. A softmax of a Gaussian
  would need one more logit than the simplex has dimensions (softmax is not
  invertible), so its log-probability has no closed form and PPO's ratio would be
  approximate. Concentrations are ``softplus(x) + 1`` (unimodal, no mass piled on
  the corners early in training).
- :class:`DiagGaussian`: any other Box, state-independent log-std; the adapter
  clips samples to the bounds when they go to the env.

Each takes the head's raw output and exposes ``sample``, ``mode``, ``log_prob``,
``entropy`` over the last axis, with batch axes in front.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import distributions as D
from torch.nn import functional as F


class MultiCategorical:
    """Independent categoricals over the last axis split by ``nvec``."""

    def __init__(self, logits: torch.Tensor, nvec: Sequence[int]) -> None:
        self.parts = [
            D.Categorical(logits=chunk, validate_args=False)
            for chunk in torch.split(logits, list(nvec), dim=-1)
        ]

    def sample(self) -> torch.Tensor:
        return torch.stack([p.sample() for p in self.parts], dim=-1)

    def mode(self) -> torch.Tensor:
        return torch.stack([p.probs.argmax(dim=-1) for p in self.parts], dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        actions = actions.long()
        return sum(p.log_prob(actions[..., i]) for i, p in enumerate(self.parts))

    def entropy(self) -> torch.Tensor:
        return sum(p.entropy() for p in self.parts)


class DirichletWeights:
    """Dirichlet over the simplex; ``raw`` is the head output, one per weight."""

    def __init__(self, raw: torch.Tensor) -> None:
        self.dist = D.Dirichlet(F.softplus(raw) + 1.0, validate_args=False)

    def sample(self) -> torch.Tensor:
        return self.dist.sample().clamp_min(1e-7)

    def mode(self) -> torch.Tensor:
        return self.dist.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        a = actions.float().clamp_min(1e-7)
        return self.dist.log_prob(a / a.sum(dim=-1, keepdim=True))

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy()


class DiagGaussian:
    """Diagonal Gaussian with a shared log-std vector."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.dist = D.Normal(mean, log_std.expand_as(mean).exp(), validate_args=False)

    def sample(self) -> torch.Tensor:
        return self.dist.sample()

    def mode(self) -> torch.Tensor:
        return self.dist.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(actions.float()).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy().sum(dim=-1)
