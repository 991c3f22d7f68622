"""Fast rollout actors: the policy's forward pass for acting, without autograd.

A rollout step of a tiny policy in eager PyTorch costs ~0.5-1.5 ms on a small
CPU, mostly dispatch overhead: more than a backtrader bar. :class:`NumpyActor`
runs the *same* network with numpy on a copy of the weights re-laid out for
speed (convolutions as gather + matmul, channels last; refreshed after each
update), several times faster for batches of one. :class:`TorchActor` is the
general path (GPU models). Both take and return numpy, and sample with a numpy
:class:`~numpy.random.Generator`, so a worker's randomness is one seeded stream.

``act(obs, state, starts) -> (actions (B, dim), log_probs (B,), values (B,), state)``
with ``obs`` a dict of batched arrays (leading axis B) and ``starts`` (B,) marking
episode starts (the recurrent state is zeroed there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from btgym.algorithms.common.encoders import VectorEncoder, WindowEncoder
from btgym.algorithms.common.policies import ActorCritic

Array = np.ndarray
_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def _np(t: torch.Tensor) -> Array:
    return t.detach().cpu().numpy().copy()


def _linear(layer: nn.Linear) -> Callable[[Array], Array]:
    wt, b = np.ascontiguousarray(_np(layer.weight).T), _np(layer.bias)

    def linear(x: Array) -> Array:
        y = x @ wt
        y += b  # in place: one allocation less per layer
        return y

    return linear


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0, out=x)


def _tanh(x: Array) -> Array:
    return np.tanh(x, out=x)


def _sequential(seq: nn.Module, length: int | None = None) -> Callable[[Array], Array]:
    """numpy version of a Sequential of Linear / Conv1d / ReLU / Tanh.

    Convolutions run channels-last (``(B, L, C)``) as one gather + matmul each.
    """
    ops: list[Callable[[Array], Array]] = []
    layers = list(seq) if isinstance(seq, nn.Sequential) else [seq]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            ops.append(_linear(layer))
        elif isinstance(layer, nn.Conv1d):
            w, b = _np(layer.weight), _np(layer.bias)  # (O, C, k)
            out_c, in_c, k = w.shape
            s = layer.stride[0]
            n_out = (length - k) // s + 1
            idx = (np.arange(n_out) * s)[:, None] + np.arange(k)[None, :]
            wc = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(k * in_c, out_c))

            def conv(x, idx=idx, wc=wc, b=b, n=n_out, kc=k * in_c):
                y = x[:, idx, :].reshape(x.shape[0], n, kc) @ wc
                y += b
                return y

            ops.append(conv)
            length = n_out
        elif isinstance(layer, nn.ReLU):
            ops.append(_relu)
        elif isinstance(layer, nn.Tanh):
            ops.append(_tanh)
        else:
            raise TypeError(f"NumpyActor cannot run layer {layer!r}")

    def run(x: Array) -> Array:
        for op in ops:
            x = op(x)
        return x

    run.length = length  # type: ignore[attr-defined]
    return run


def _window_head(enc: WindowEncoder, length: int) -> Callable[[Array], Array]:
    lin = enc.head[0]
    w = _np(lin.weight)  # (out, C*L), torch flattens (C, L)
    out, cl = w.shape
    c = cl // length
    wt = np.ascontiguousarray(w.reshape(out, c, length).transpose(0, 2, 1).reshape(out, cl).T)
    b = _np(lin.bias)

    def head(y: Array) -> Array:
        z = y.reshape(y.shape[0], -1) @ wt
        z += b
        return np.maximum(z, 0.0, out=z)

    return head


def _encoder(enc: nn.Module) -> Callable[[Array], Array]:
    if isinstance(enc, WindowEncoder):
        conv = _sequential(enc.conv, enc.time)
        head = _window_head(enc, conv.length)
        shape = (enc.time, enc.features)
        inv_t = np.float32(1.0 / enc.time)

        def window(x: Array) -> Array:
            if x.shape[0] == 1:  # one env: 2-D arithmetic, fewer numpy calls
                x2 = x.reshape(shape)
                if enc.normalize:
                    d = x2 - x2.mean(axis=0, dtype=np.float32)
                    std = np.sqrt(np.einsum("tf,tf->f", d, d) * inv_t)
                    std += 1e-8
                    d /= std
                    x2 = d
                return head(conv(x2[None]))
            x = x.reshape(x.shape[0], *shape).astype(np.float32, copy=False)
            if enc.normalize:
                d = x - x.mean(axis=1, keepdims=True)
                std = np.sqrt(np.einsum("btf,btf->bf", d, d) / enc.time)[:, None, :]
                x = d / (std + 1e-8)
            return head(conv(x))

        return window
    if isinstance(enc, VectorEncoder):
        net = _sequential(enc.net)

        def vector(x: Array) -> Array:
            x = x.reshape(x.shape[0], -1).astype(np.float32, copy=False)
            return net(np.arcsinh(x) if enc.normalize else x)

        return vector
    raise TypeError(f"NumpyActor cannot run encoder {enc!r}")


def _sigmoid(x: Array) -> Array:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def _softplus(x: Array) -> Array:
    return np.logaddexp(x, 0.0)


class NumpyActor:
    """Acting with numpy on a snapshot of a CPU or GPU :class:`ActorCritic`.

    Args:
        model: the policy; its weights are copied (re-laid out for speed) by
            :meth:`refresh`: call it after every change of the model's weights.
        rng: the generator actions are sampled with.
    """

    def __init__(self, model: ActorCritic, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng
        self.adapter = model.adapter
        self.keys = model.keys
        self.refresh()

    def refresh(self) -> None:
        """Take a fresh copy of the model's weights."""
        model = self.model
        self.encoders = [_encoder(e) for e in model.encoder.encoders]
        if model.recurrent:
            lstm = model.core
            self.w_ih = np.ascontiguousarray(_np(lstm.weight_ih_l0).T)
            self.w_hh = np.ascontiguousarray(_np(lstm.weight_hh_l0).T)
            self.b = _np(lstm.bias_ih_l0) + _np(lstm.bias_hh_l0)
            self.core = None
        else:
            self.core = _sequential(model.core)
        self.pi, self.v = _linear(model.pi), _linear(model.v)
        n_pi = model.pi.out_features
        w = np.ascontiguousarray(np.concatenate([_np(model.pi.weight), _np(model.v.weight)]).T)
        b = np.concatenate([_np(model.pi.bias), _np(model.v.bias)])
        self.heads = lambda y: (y @ w + b, n_pi)
        self.log_std = _np(model.log_std) if hasattr(model, "log_std") else None

    def initial_state(self, batch: int) -> tuple[Array, ...]:
        if not self.model.recurrent:
            return ()
        h = np.zeros((batch, self.model.config.lstm_size), np.float32)
        return (h, h.copy())

    def _lstm(self, x: Array, state: tuple[Array, ...], starts: Array) -> tuple[Array, tuple]:
        keep = (1.0 - starts.astype(np.float32))[:, None]
        h, c = state[0] * keep, state[1] * keep
        gates = x @ self.w_ih + h @ self.w_hh + self.b
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        return h, (h, c)

    def _features(self, obs: Any, state, starts) -> tuple[Array, tuple]:
        if self.keys == ("",):
            parts = [self.encoders[0](np.asarray(obs))]
        else:
            parts = [enc(np.asarray(obs[k])) for k, enc in zip(self.keys, self.encoders)]
        x = np.hstack(parts) if len(parts) > 1 else parts[0]
        if self.core is None:
            return self._lstm(x, state, np.asarray(starts))
        return self.core(x), state

    def value(self, obs: Any, state: tuple, starts: Array) -> Array:
        y, _ = self._features(obs, state, starts)
        return self.v(y)[:, 0].astype(np.float64)

    def act(self, obs: Any, state: tuple, starts: Array, deterministic: bool = False):
        y, state = self._features(obs, state, starts)
        both, n_pi = self.heads(y)
        both = both.astype(np.float64)
        out, values = both[:, :n_pi], both[:, n_pi]
        kind = self.adapter.kind
        if kind == "categorical":
            actions, logp = self._categorical(out, deterministic)
        elif kind == "dirichlet":
            actions, logp = self._dirichlet(out, deterministic)
        else:
            actions, logp = self._gaussian(out, deterministic)
        return actions, logp, values, state

    def _categorical(self, logits: Array, deterministic: bool) -> tuple[Array, Array]:
        if len(logits) == 1:  # one env: plain floats beat numpy's per-call overhead
            return self._categorical_one(logits[0].tolist(), deterministic)
        acts, logp, i = [], 0.0, 0
        rows = np.arange(len(logits))
        for n in self.adapter.nvec:
            z = logits[:, i : i + n]
            z = z - z.max(axis=1, keepdims=True)
            lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            if deterministic:
                a = lp.argmax(axis=1)
            else:
                u = self.rng.random(len(z))[:, None]
                a = np.minimum((np.cumsum(np.exp(lp), axis=1) < u).sum(axis=1), n - 1)
            acts.append(a)
            logp = logp + lp[rows, a]
            i += n
        return np.stack(acts, axis=1).astype(np.int64), np.asarray(logp)

    def _categorical_one(self, logits: list[float], deterministic: bool) -> tuple[Array, Array]:
        acts, logp, i = [], 0.0, 0
        for n in self.adapter.nvec:
            z = logits[i : i + n]
            top = max(z)
            e = [math.exp(v - top) for v in z]
            total = sum(e)
            if deterministic:
                a = e.index(max(e))
            else:
                u, acc, a = self.rng.random() * total, 0.0, n - 1
                for k, v in enumerate(e):
                    acc += v
                    if u < acc:
                        a = k
                        break
            acts.append(a)
            logp += z[a] - top - math.log(total)
            i += n
        return np.array([acts], dtype=np.int64), np.array([logp])

    def _dirichlet(self, raw: Array, deterministic: bool) -> tuple[Array, Array]:
        alpha = _softplus(raw) + 1.0
        if deterministic:
            w = alpha / alpha.sum(axis=1, keepdims=True)
        else:
            w = np.stack([self.rng.dirichlet(a) for a in alpha])
        w = np.maximum(w, 1e-7)
        w = w / w.sum(axis=1, keepdims=True)
        logp = (
            _lgamma(alpha.sum(axis=1))
            - _lgamma(alpha).sum(axis=1)
            + ((alpha - 1.0) * np.log(w)).sum(axis=1)
        )
        return w, logp

    def _gaussian(self, mean: Array, deterministic: bool) -> tuple[Array, Array]:
        std = np.exp(self.log_std.astype(np.float64))
        a = mean if deterministic else mean + std * self.rng.standard_normal(mean.shape)
        logp = (-0.5 * ((a - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)).sum(
            axis=1
        )
        return a, logp


class TorchActor:
    """The same interface on the torch model (any device; sampling with numpy)."""

    def __init__(self, model: ActorCritic, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng
        self.adapter = model.adapter
        self.device = next(model.parameters()).device

    def refresh(self) -> None:
        """Nothing to do: this actor runs the live model."""

    def initial_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        return self.model.initial_state(batch, self.device)

    def _obs(self, obs: Any) -> dict[str, torch.Tensor]:
        return self.model.obs_to_tensor(obs, self.device)

    @torch.no_grad()
    def value(self, obs: Any, state: tuple, starts: Array) -> Array:
        st = torch.as_tensor(np.asarray(starts, np.float32), device=self.device)
        return self.model.value(self._obs(obs), state, st).double().cpu().numpy()

    @torch.no_grad()
    def act(self, obs: Any, state: tuple, starts: Array, deterministic: bool = False):
        st = torch.as_tensor(np.asarray(starts, np.float32), device=self.device)
        seq = {k: v.unsqueeze(0) for k, v in self._obs(obs).items()}
        out, values, state = self.model(seq, state, st.unsqueeze(0))
        dist = self.model.distribution(out[0])
        if deterministic:
            actions = dist.mode()
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.rng.integers(2**63 - 1)))
                actions = dist.sample()
        logp = dist.log_prob(actions)
        return (
            actions.cpu().numpy(),
            logp.double().cpu().numpy(),
            values[0].double().cpu().numpy(),
            state,
        )


def make_actor(
    model: ActorCritic, rng: np.random.Generator, kind: str = "auto"
) -> NumpyActor | TorchActor:
    """``kind="auto"``: :class:`NumpyActor` for a CPU model, :class:`TorchActor`
    otherwise; ``"numpy"`` / ``"torch"`` force one.

    Call the actor's ``refresh()`` after every change of the model's weights.
    """
    if kind == "numpy" or (kind == "auto" and next(model.parameters()).device.type == "cpu"):
        return NumpyActor(model, rng)
    return TorchActor(model, rng)


def state_to_torch(state: tuple, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """An actor's recurrent state as the torch model's ``(1, B, H)`` tensors."""
    return tuple(
        s if isinstance(s, torch.Tensor) else torch.as_tensor(s, device=device).unsqueeze(0)
        for s in state
    )
