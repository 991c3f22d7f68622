"""Optimizers whose state lives in shared memory (Hogwild-style A3C).

The chief builds the optimizer over the shared model and calls
:meth:`SharedOptimizerMixin.share_memory`; workers rebuild the same optimizer
class over *their* handle of the shared parameters and :meth:`attach` the shared
state tensors, so every worker's ``step()`` updates one set of moments in place.
No lock: updates race, which is the Hogwild bargain (Recht et al. 2011; Mnih et al.
2016 use exactly this shared RMSprop).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from btgym.errors import ConfigError


class SharedOptimizerMixin:
    """Eagerly creates per-parameter state and moves it to shared memory."""

    def _state_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _init_shared_state(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = torch.zeros((), dtype=torch.float32)
                for name in self._state_names():
                    state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def share_memory(self) -> SharedOptimizerMixin:
        """Move every state tensor to shared memory (call once, in the chief)."""
        for group in self.param_groups:
            for p in group["params"]:
                for t in self.state[p].values():
                    t.share_memory_()
        return self

    def shared_state(self) -> list[dict[str, torch.Tensor]]:
        """The state tensors, one dict per parameter in order (to send to workers)."""
        return [dict(self.state[p]) for g in self.param_groups for p in g["params"]]

    def attach(self, states: list[dict[str, torch.Tensor]]) -> None:
        """Use ``states`` (from :meth:`shared_state` in the chief) as this optimizer's state."""
        params = [p for g in self.param_groups for p in g["params"]]
        if len(params) != len(states):
            raise ConfigError(
                f"shared optimizer state has {len(states)} entries, model has {len(params)}"
            )
        for p, s in zip(params, states):
            self.state[p] = s

    def load_shared(self, state_dict: dict) -> None:
        """Load a checkpointed ``state_dict`` *into* the existing shared tensors."""
        saved = state_dict["state"]
        params = [p for g in self.param_groups for p in g["params"]]
        for i, p in enumerate(params):
            for name, tensor in saved.get(i, {}).items():
                self.state[p][name].copy_(tensor)
        for group, saved_group in zip(self.param_groups, state_dict["param_groups"]):
            group["lr"] = saved_group["lr"]


class SharedAdam(SharedOptimizerMixin, torch.optim.Adam):
    """Adam with shared moments (updated in place by the fused foreach kernels)."""

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lr: float = 1e-4, eps: float = 1e-8
    ) -> None:
        super().__init__(params, lr=lr, eps=eps, foreach=True)
        self._init_shared_state()

    def _state_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")


class SharedRMSprop(SharedOptimizerMixin, torch.optim.RMSprop):
    """RMSprop (alpha 0.99) with a shared second-moment estimate."""

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lr: float = 7e-4, eps: float = 1e-5
    ) -> None:
        super().__init__(params, lr=lr, alpha=0.99, eps=eps, foreach=True)
        self._init_shared_state()

    def _state_names(self) -> tuple[str, ...]:
        return ("square_avg",)


OPTIMIZERS = {"adam": SharedAdam, "rmsprop": SharedRMSprop}


def make_shared_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float):
    """Build a shared optimizer by name (``"adam"`` or ``"rmsprop"``)."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"optimizer {name!r} is not one of {sorted(OPTIMIZERS)}") from None
    return cls(params, lr=lr)
