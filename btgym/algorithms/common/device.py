"""Device selection: ``"auto"`` means CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch

from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


def resolve_device(
    device: str | torch.device | None = "auto", *, cuda_available: bool | None = None
) -> torch.device:
    """Turn a device request into a :class:`torch.device`.

    Args:
        device: ``"auto"`` / ``None`` (CUDA when available, else CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
        cuda_available: override of ``torch.cuda.is_available()`` (for tests of the
            selection logic on machines without a GPU).

    Returns:
        The device to put models and tensors on.

    Raises:
        ConfigError: an unknown device string, or CUDA asked for but not available.
    """
    has_cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        return torch.device("cuda") if has_cuda else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda" and not has_cuda:
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r}: only 'cpu' and 'cuda' are supported")
    return dev
