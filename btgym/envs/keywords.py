"""Route BTGym's flat keyword arguments into the components' frozen configs.

``BTgymEnv(filename=..., drawdown_call=50, start_cash=100, port=5000, ...)`` mixes the
keywords of five components. Each component owns a frozen, keyword-only config
dataclass whose field names are BTGym's keyword names; :func:`route` sends every
keyword to the config that has a field of that name and raises
:class:`~btgym.errors.UnknownKeywordError` (a ``TypeError``) naming any keyword no
component knows, with the close matches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from btgym.errors import UnknownKeywordError

#: Keywords the original BTGym accepted that have no meaning here; accepted and ignored
#: with a reason, so old notebooks run unchanged.
OBSOLETE = {
    "data_port": "endpoints are chosen by the OS; see data_address",
    "network_address": "endpoints are chosen by the OS",
    "data_network_address": "use data_address",
    "render_ylabel": "labels are set by the renderer",
}


def field_names(config_cls: type) -> set[str]:
    """The init field names of a config dataclass."""
    return {f.name for f in dataclasses.fields(config_cls) if f.init}


def route(
    kwargs: Mapping[str, Any],
    components: Mapping[str, type],
    extra_known: set[str] | None = None,
    where: str = "BTgymEnv",
) -> dict[str, dict]:
    """Split ``kwargs`` by component.

    Args:
        kwargs: the user's keywords.
        components: component name → its config dataclass. A keyword goes to every
            component having a field of that name (e.g. ``log_level``).
        extra_known: keywords the caller handles itself (returned under ``"env"``).
        where: named in the error message.

    Returns:
        ``{component: {keyword: value}}`` plus ``"env"`` and ``"obsolete"``.

    Raises:
        UnknownKeywordError: a keyword nobody knows (with close matches).
    """
    names = {comp: field_names(cls) for comp, cls in components.items()}
    extra_known = set(extra_known or ())
    out: dict[str, dict] = {comp: {} for comp in components}
    out["env"], out["obsolete"] = {}, {}
    for key, value in kwargs.items():
        hit = False
        for comp, fields in names.items():
            if key in fields:
                out[comp][key] = value
                hit = True
        if key in extra_known:
            out["env"][key] = value
            hit = True
        if not hit and key in OBSOLETE:
            out["obsolete"][key] = value
            hit = True
        if not hit:
            known = set().union(*names.values(), extra_known, OBSOLETE)
            raise UnknownKeywordError(key, known, where)
    return out
