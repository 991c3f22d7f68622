"""Shared training loop of the torch models (nets and sequence models).

A :class:`TorchModel` owns an ``nn.Module`` with a ``body`` (the hidden layers, or
``Identity``) and a ``head``. Training (``models.md`` §3): ``epochs`` passes over the
training set, full batch by default (one optimizer step per epoch, Atlas's meaning)
or shuffled mini-batches; cross-entropy (optionally class-balanced) or MSE plus
``l1·Σ|W| + l2·ΣW²`` over weight matrices (not biases); optional early stopping on
the validation loss with the best weights restored.

Every random draw (initialisation, shuffling, dropout) happens inside
``torch.random.fork_rng()`` seeded with the model's ``seed``; the caller's global RNG
state is left as it was. Regressors standardise their targets with the train mean
and std (kept as buffers in the state dict, so a saved model predicts in the
original units): log-return targets of 1e-4 would otherwise sit far below one
optimizer step and never be learnt. Fits and predictions run on ``threads`` torch
threads (default 1, restored afterwards): these nets are small, and on a busy machine
torch's thread pool spins.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from btgym.errors import CheckpointError, ConfigError
from btgym.log import get_logger
from btgym.models.base import History, SupervisedModel, default_eval_every

log = get_logger(__name__)

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
#: training keywords every torch model takes, with their defaults.
TRAIN_DEFAULTS: dict[str, Any] = {
    "l1": 0.0,
    "l2": 0.0,
    "lr": 1e-3,
    "optimizer": "adam",
    "batch_size": None,
    "class_weight": None,
    "patience": None,
    "eval_every": None,
    "epochs": 100,
    "threads": 1,
}
PREDICT_CHUNK = 65536


class Net(nn.Module):
    """``head(body(x))`` with target-scaling buffers for regressors."""

    def __init__(self, body: nn.Module, head: nn.Module, has_hidden: bool) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.has_hidden = has_hidden
        self.register_buffer("y_loc", torch.zeros(()))
        self.register_buffer("y_scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, restoring the caller's setting afterwards.

    Small models gain nothing from threads, and on a loaded machine torch's thread pool
    spins: a 64-unit MLP fit measured 15.6 s with 2 threads vs 0.36 s with 1 here.
    """
    old = torch.get_num_threads()
    if n is None or n == old:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Fork torch's RNG (CPU, and the CUDA device when used) and seed it."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class TorchModel(SupervisedModel):
    """A :class:`SupervisedModel` backed by a torch ``nn.Module`` (see module doc)."""

    storage: ClassVar[str] = "torch"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.net: Net | None = None
        self.device = None

    # ------------------------------------------------------------------ hooks

    def _build(self) -> Net:
        """Return the (unfitted) network; runs inside the seeded RNG context."""
        raise NotImplementedError

    @property
    def out_dim(self) -> int:
        return self.n_classes if self.task == "classification" else 1

    def _validate_params(self) -> None:
        p = self.params
        where = type(self).__name__
        if p["optimizer"] not in OPTIMIZERS:
            raise ConfigError(
                f"{where}: optimizer {p['optimizer']!r} is not one of {sorted(OPTIMIZERS)}"
            )
        for name in ("l1", "l2"):
            if not (isinstance(p[name], (int, float)) and p[name] >= 0):
                raise ConfigError(f"{where}: {name} must be a number ≥ 0, got {p[name]!r}")
        if p["lr"] is not None and not (isinstance(p["lr"], (int, float)) and p["lr"] > 0):
            raise ConfigError(f"{where}: lr must be > 0, got {p['lr']!r}")
        bs = p["batch_size"]
        if bs is not None and not (isinstance(bs, int) and bs >= 1):
            raise ConfigError(f"{where}: batch_size must be None or an int ≥ 1, got {bs!r}")
        if p["class_weight"] not in (None, "balanced"):
            raise ConfigError(
                f"{where}: class_weight must be None or 'balanced', got {p['class_weight']!r}"
            )
        if p["threads"] is not None and not (isinstance(p["threads"], int) and p["threads"] >= 1):
            raise ConfigError(f"{where}: threads must be None or an int ≥ 1, got {p['threads']!r}")
        if p["patience"] is not None and not (
            isinstance(p["patience"], int) and p["patience"] >= 1
        ):
            raise ConfigError(
                f"{where}: patience must be None or an int ≥ 1, got {p['patience']!r}"
            )

    def _resolve_device(self) -> torch.device:
        from btgym.algorithms.common.device import resolve_device

        return resolve_device(self.device_request)

    def _learning_rate(self) -> float:
        return float(self.params["lr"])

    # ------------------------------------------------------------------ training

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(X, dtype=np.float32)).to(self.device)

    def _penalty(self) -> torch.Tensor | float:
        l1, l2 = float(self.params["l1"]), float(self.params["l2"])
        if not (l1 or l2):
            return 0.0
        total = torch.zeros((), device=self.device)
        for p in self.net.parameters():
            if p.ndim >= 2:
                if l1:
                    total = total + l1 * p.abs().sum()
                if l2:
                    total = total + l2 * p.pow(2).sum()
        return total

    def _data_loss(self, out: torch.Tensor, target: torch.Tensor, weight) -> torch.Tensor:
        if self.task == "classification":
            return nn.functional.cross_entropy(out, target, weight=weight)
        return nn.functional.mse_loss(out.reshape(-1), target)

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        if self.task == "classification":
            return torch.as_tensor(y, dtype=torch.int64, device=self.device)
        t = torch.as_tensor(y, dtype=torch.float32, device=self.device) - self.net.y_loc
        return t / self.net.y_scale

    def _evaluate(
        self, X: torch.Tensor, t: torch.Tensor, y: np.ndarray, weight
    ) -> tuple[float, float]:
        """(loss, acc | mae) in eval mode."""
        self.net.eval()
        with torch.no_grad():
            out = self.net(X)
            loss = float(self._data_loss(out, t, weight))
            if self.task == "classification":
                metric = float((out.argmax(1).cpu().numpy() == y).mean())
            else:
                pred = (out.reshape(-1) * self.net.y_scale + self.net.y_loc).double().cpu().numpy()
                metric = float(np.abs(pred - y).mean())
        self.net.train()
        return loss, metric

    def _fit(self, X, y, X_val, y_val, epochs, history: History) -> None:
        p = self.params
        epochs = int(epochs or p["epochs"])
        eval_every = int(p["eval_every"] or default_eval_every(epochs))
        self.device = self._resolve_device()
        metric = "acc" if self.task == "classification" else "mae"
        with seeded(self.seed, self.device), cpu_threads(p["threads"]):
            self.net = self._build().to(self.device)
            if self.task == "regression":
                std = float(np.std(y))
                self.net.y_loc.fill_(float(np.mean(y)))
                self.net.y_scale.fill_(std if std > 0 and np.isfinite(std) else 1.0)
            weight = None
            if self.task == "classification" and p["class_weight"] == "balanced":
                counts = np.bincount(y, minlength=self.n_classes).astype(np.float64)
                w = np.where(counts > 0, len(y) / (self.n_classes * np.maximum(counts, 1)), 0.0)
                weight = torch.as_tensor(w, dtype=torch.float32, device=self.device)
            Xt, tt = self._tensor(X), self._targets(y)
            Xv = tv = None
            if X_val is not None:
                Xv, tv = self._tensor(X_val), self._targets(y_val)
            opt = OPTIMIZERS[p["optimizer"]](self.net.parameters(), lr=self._learning_rate())
            rng = np.random.default_rng(self.seed)
            bs = p["batch_size"]
            patience = p["patience"] if Xv is not None else None
            if p["patience"] is not None and Xv is None:
                log.warning(f"{type(self).__name__}: patience set but no validation data; ignored")
            best, best_state, waited = np.inf, None, 0
            self.net.train()
            n = len(X)
            for epoch in range(1, epochs + 1):
                batches = [slice(None)] if bs is None or bs >= n else None
                if batches is None:
                    perm = torch.as_tensor(rng.permutation(n), device=self.device)
                    batches = [perm[i : i + bs] for i in range(0, n, bs)]
                for idx in batches:
                    opt.zero_grad(set_to_none=True)
                    loss = self._data_loss(self.net(Xt[idx]), tt[idx], weight) + self._penalty()
                    loss.backward()
                    opt.step()
                last = epoch == epochs
                stop = False
                if patience is not None:
                    vloss, _ = self._evaluate(Xv, tv, y_val, weight)
                    if vloss < best - 1e-12:
                        best, waited = vloss, 0
                        best_state = copy.deepcopy(self.net.state_dict())
                    else:
                        waited += 1
                        stop = waited >= patience
                if epoch % eval_every == 0 or last or stop:
                    tl, tm = self._evaluate(Xt, tt, y, weight)
                    history.add(epoch, "train", "loss", tl)
                    history.add(epoch, "train", metric, tm)
                    if Xv is not None:
                        vl, vm = self._evaluate(Xv, tv, y_val, weight)
                        history.add(epoch, "val", "loss", vl)
                        history.add(epoch, "val", metric, vm)
                if stop:
                    log.debug(f"{type(self).__name__}: early stop at epoch {epoch}")
                    break
            if best_state is not None:
                self.net.load_state_dict(best_state)
        self.net.eval()

    # ------------------------------------------------------------------ inference

    def _forward_chunks(self, X: np.ndarray, fn) -> np.ndarray:
        outs = []
        with torch.no_grad(), cpu_threads(self.params["threads"]):
            for i in range(0, len(X), PREDICT_CHUNK):
                outs.append(fn(self._tensor(X[i : i + PREDICT_CHUNK])).double().cpu().numpy())
        return np.concatenate(outs, axis=0)

    def _predict_raw(self, X: np.ndarray) -> np.ndarray:
        self.net.eval()
        if self.task == "classification":
            return self._forward_chunks(X, lambda x: torch.softmax(self.net(x), dim=1))
        out = self._forward_chunks(
            X, lambda x: self.net(x).reshape(-1) * self.net.y_scale + self.net.y_loc
        )
        return out.reshape(-1)

    def _embed(self, X: np.ndarray) -> np.ndarray:
        if not self.net.has_hidden:
            return super()._embed(X)
        self.net.eval()
        return self._forward_chunks(X, self.net.body)

    # ------------------------------------------------------------------ state

    @property
    def n_parameters(self) -> int:
        if self.net is None:
            return 0
        return int(sum(p.numel() for p in self.net.parameters()))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The network's state dict on CPU (what ``weights.pt`` holds)."""
        return {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def load_state(self, state: Mapping[str, torch.Tensor], device: str = "cpu") -> None:
        """Build the network and load ``state`` into it (persistence)."""
        self.device_request = device
        self.device = self._resolve_device()
        with seeded(self.seed, self.device):
            net = self._build()
        try:
            net.load_state_dict(dict(state), strict=True)
        except (RuntimeError, KeyError) as exc:
            raise CheckpointError(
                f"{type(self).__name__}: weights do not fit the model: {exc}"
            ) from exc
        self.net = net.to(self.device).eval()
        self.is_fitted = True
