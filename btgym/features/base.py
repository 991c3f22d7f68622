"""Feature objects, the fluent DSL, the registry and canonical names.

A feature is a frozen dataclass ``(resolution, asset, params)``. Each modifier returns a
**new** object; equality and ``hash()`` follow the canonical name
``Class(res[,asset=A][,key=value]...)``, which :meth:`Feature.parse` turns back into an
equal object. Only classes registered with :func:`register_feature` can be built from a
name or a dict (no imports by name).

Time convention (``features.md`` §0): a feature value at grid row t reads rows ≤ t; a
label (``lookforward(n)``) at t reads rows t … t+n.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from btgym.errors import FeatureSpecError
from btgym.features.params import (  # noqa: F401  (re-exported for the catalogue)
    ASSET_RE,
    BASES,
    BASIS,
    LOOKBACK,
    LOOKFORWARD,
    OTHER,
    Param,
    parse_resolution,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from btgym.datafeed.bars import Bars
    from btgym.features.kernels import Ctx

#: registered feature classes by name (aliases included).
REGISTRY: dict[str, type[Feature]] = {}
#: Atlas names accepted on input, mapped to the canonical class name.
ALIASES: dict[str, str] = {}


_NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")


def register_feature(cls: type[Feature]) -> type[Feature]:
    """Class decorator: make a feature class buildable from names and dicts."""
    REGISTRY[cls.__name__] = cls
    for alias in cls.ATLAS_ALIASES:
        ALIASES[alias] = cls.__name__
    return cls


def registered() -> dict[str, type[Feature]]:
    """A copy of the registry (class name → class)."""
    return dict(REGISTRY)


def _lookup(name: str) -> type[Feature]:
    name = ALIASES.get(name, name)
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY) + list(ALIASES), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise FeatureSpecError(f"unknown feature class {name!r}{hint}")
    return REGISTRY[name]


# --------------------------------------------------------------------------- Feature


@dataclass(frozen=True, init=False, eq=False, repr=False)
class Feature:
    """Base class of every feature (frozen; modifiers return new objects).

    Attributes:
        res: canonical resolution token (``"1min"``, ``"5min"``, ``"1h"``, ``"1D"``); read
            it as ``f.resolution``, which is that string and also the ``.resolution(token)``
            modifier when called.
        asset: the asset of the Bars it reads (``None``: the first asset).
        params: ``(name, value)`` pairs in the class's declared order.
    """

    res: str
    asset: str | None
    params: tuple[tuple[str, Any], ...]

    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: the parameter a ``lookforward`` replaces ("lookback" or "window"), if any.
    BACK: ClassVar[str | None] = None
    ATLAS_ALIASES: ClassVar[tuple[str, ...]] = ()
    #: elementwise kernels are bit-exact between batch and stream.
    ELEMENTWISE: ClassVar[bool] = False
    #: needs a second asset (``other``).
    CROSS: ClassVar[bool] = False

    def __init__(self, resolution: str | int = "1min", asset: str | None = None, **params):
        cls = type(self).__name__
        res, _ = parse_resolution(resolution)
        if asset is not None:
            asset = str(asset)
            if not ASSET_RE.match(asset):
                raise FeatureSpecError(f"{cls}: asset name {asset!r} must match [A-Za-z0-9_.:/-]+")
        declared = {p.name: p for p in self.PARAMS}
        for key in params:
            if key not in declared:
                close = difflib.get_close_matches(key, declared, n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise FeatureSpecError(f"{cls}: unknown parameter {key!r}{hint}")
        values = {p.name: p.check(params.get(p.name, p.default), cls) for p in self.PARAMS}
        if values.get("lookforward") is not None and self.BACK:
            given = params.get(self.BACK)
            default = declared[self.BACK].default
            if given is not None and declared[self.BACK].check(given, cls) != default:
                raise FeatureSpecError(
                    f"{cls}: {self.BACK} and lookforward are exclusive "
                    f"(got {self.BACK}={given!r}, lookforward={values['lookforward']!r})"
                )
            values[self.BACK] = None
        object.__setattr__(self, "res", res)
        object.__setattr__(self, "asset", asset)
        object.__setattr__(self, "params", tuple((p.name, values[p.name]) for p in self.PARAMS))
        self._validate()

    def _validate(self) -> None:
        """Class-specific checks (override)."""

    def check_complete(self) -> None:
        """Raise :class:`FeatureSpecError` when a required parameter is still unset
        (``InterAssetSpread()`` before ``.against(...)``)."""
        for p in self.PARAMS:
            if self._maybe(p.name) is None and p.name not in ("lookforward", self.BACK):
                raise FeatureSpecError(
                    f"{self.name}: parameter {p.name!r} is required (e.g. .against(asset))"
                )

    # ------------------------------------------------------------------ identity

    @property
    def name(self) -> str:
        """The canonical name, e.g. ``LogReturns(1min,basis=close,lookback=1)``."""
        cached = self.__dict__.get("_name")
        if cached is None:
            cached = self._make_name()
            object.__setattr__(self, "_name", cached)
        return cached

    def _make_name(self) -> str:
        parts = [self.res]
        if self.asset is not None:
            parts.append(f"asset={self.asset}")
        for key, value in self.params:
            if value is None:
                continue
            parts.append(f"{key}={repr(value) if isinstance(value, float) else value}")
        return f"{type(self).__name__}({','.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Feature) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    @property
    def key(self) -> str:
        """A slug for files and redis keys."""
        return re.sub("[^a-z0-9]+", "_", self.name.lower()).strip("_")

    @property
    def digest(self) -> str:
        """sha256 hex of the name (stable across processes and machines)."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    def get(self, key: str) -> Any:
        """The value of a parameter (``KeyError`` for one the class does not declare)."""
        for k, v in self.params:
            if k == key:
                return v
        raise KeyError(f"{type(self).__name__} has no parameter {key!r}")

    @property
    def minutes(self) -> int:
        """The resolution in minutes."""
        return parse_resolution(self.res)[1]

    @property
    def is_label(self) -> bool:
        """True when a lookforward is set."""
        return self._maybe("lookforward") is not None

    @property
    def horizon(self) -> int:
        """Lookforward steps (0 for a feature)."""
        return self._maybe("lookforward") or 0

    @property
    def extent(self) -> int:
        """Grid steps of history a value needs (0 for a label: it reads rows t … t+n)."""
        cached = self.__dict__.get("_extent_steps")
        if cached is None:  # the object is frozen: computed once
            cached = 0 if self.is_label else self._extent()
            object.__setattr__(self, "_extent_steps", cached)
        return cached

    def _extent(self) -> int:
        return 0

    def _maybe(self, key: str) -> Any:
        for k, v in self.params:
            if k == key:
                return v
        return None

    def assets(self, default: str) -> tuple[str, ...]:
        """The assets this feature reads (``default`` stands for an unset asset)."""
        own = self.asset or default
        other = self._maybe("other")
        return (own,) if other is None else (own, other)

    # ------------------------------------------------------------------ modifiers

    def _replace(self, **changes: Any) -> Feature:
        kwargs: dict[str, Any] = dict(self.params)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        resolution = changes.pop("resolution", self.res)
        asset = changes.pop("asset", self.asset)
        kwargs.update(changes)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return type(self)(resolution, asset, **kwargs)

    def _modify(self, modifier: str, key: str, value: Any) -> Feature:
        if key not in {p.name for p in self.PARAMS}:
            raise FeatureSpecError(f"{type(self).__name__} does not take .{modifier}()")
        return self._replace(**{key: value})

    def on(self, asset: str) -> Feature:
        """Read the bars of ``asset`` (an asset name of the Bars)."""
        return self._replace(asset=asset)

    @property
    def resolution(self) -> _Resolution:
        """The canonical resolution token; calling it, ``f.resolution("5min")``, is the
        ``.resolution(token)`` modifier."""
        return _Resolution(self.res, self)

    def one_min(self) -> Feature:
        """1-minute resolution."""
        return self._replace(resolution="1min")

    def five_min(self) -> Feature:
        """5-minute resolution."""
        return self._replace(resolution="5min")

    def ten_min(self) -> Feature:
        """10-minute resolution."""
        return self._replace(resolution="10min")

    def fifteen_min(self) -> Feature:
        """15-minute resolution."""
        return self._replace(resolution="15min")

    def thirty_min(self) -> Feature:
        """30-minute resolution."""
        return self._replace(resolution="30min")

    def hour(self) -> Feature:
        """1-hour resolution."""
        return self._replace(resolution="1h")

    def four_hour(self) -> Feature:
        """4-hour resolution."""
        return self._replace(resolution="4h")

    def day(self) -> Feature:
        """Daily resolution (bins start at 00:00 of the source clock)."""
        return self._replace(resolution="1D")

    def lookback(self, n: int) -> Feature:
        """Horizon of ``n`` steps into the past."""
        if self.is_label:
            raise FeatureSpecError(
                f"{self.name}: lookback and lookforward are exclusive (.lookback({n}) on a label)"
            )
        return self._modify("lookback", "lookback", n)

    def lookforward(self, n: int) -> Feature:
        """Make a label: ``n`` steps into the future of the bar's close."""
        if "lookforward" not in {p.name for p in self.PARAMS}:
            raise FeatureSpecError(f"{type(self).__name__} does not take .lookforward()")
        if self.BACK:
            default = next(p.default for p in self.PARAMS if p.name == self.BACK)
            current = self._maybe(self.BACK)
            if current is not None and current != default:
                raise FeatureSpecError(
                    f"{self.name}: {self.BACK} and lookforward are exclusive "
                    f"(.{self.BACK}({current}).lookforward({n}))"
                )
        return self._replace(lookforward=n)

    def window(self, w: int) -> Feature:
        """Rolling window of ``w`` grid rows."""
        if self.is_label:
            raise FeatureSpecError(f"{self.name}: a label takes no .window()")
        return self._modify("window", "window", w)

    def basis(self, b: str) -> Feature:
        """Price basis: close, open, hl2, hlc3 or ohlc4."""
        return self._modify("basis", "basis", b)

    def estimator(self, e: str) -> Feature:
        """Estimator (Volatility: std, parkinson, garman_klass)."""
        return self._modify("estimator", "estimator", e)

    def kind(self, k: str) -> Feature:
        """Kind (MAGap: sma, ema)."""
        return self._modify("kind", "kind", k)

    def part(self, p: str) -> Feature:
        """Part (calendar encodings: sin, cos)."""
        return self._modify("part", "part", p)

    def against(self, other: str) -> Feature:
        """The second asset of a cross-asset feature."""
        return self._modify("against", "other", other)

    def slippage(self, usd: float) -> Feature:
        """Order-book: USD distance from the top of the book."""
        return self._modify("slippage", "slippage", usd)

    def depth(self, units: float) -> Feature:
        """Order-book: depth in base units."""
        return self._modify("depth", "depth", units)

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """``{"class", "resolution", "params"}`` (JSON-able; ``asset`` inside params)."""
        params: dict[str, Any] = {}
        if self.asset is not None:
            params["asset"] = self.asset
        params.update({k: v for k, v in self.params if v is not None})
        return {"class": type(self).__name__, "resolution": self.res, "params": params}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Feature:
        """Rebuild a feature from :meth:`to_dict`'s output (registered classes only)."""
        if not isinstance(d, Mapping):
            raise FeatureSpecError(f"a feature dict must be a mapping, got {type(d).__name__}")
        extra = set(d) - {"class", "resolution", "params"}
        if extra or "class" not in d:
            raise FeatureSpecError(
                f"a feature dict has keys class, resolution, params; got {sorted(d)}"
            )
        cls = _lookup(str(d["class"]))
        params = dict(d.get("params") or {})
        asset = params.pop("asset", None)
        return cls(d.get("resolution", "1min"), asset, **params)

    @staticmethod
    def parse(name: str) -> Feature:
        """Rebuild a feature from its name (aliases canonicalised)."""
        m = _NAME_RE.match(str(name).strip())
        if not m:
            raise FeatureSpecError(f"cannot parse feature name {name!r}: expected Class(res,...)")
        cls = _lookup(m.group(1))
        parts = [p.strip() for p in m.group(2).split(",")] if m.group(2).strip() else []
        resolution = parts[0] if parts and "=" not in parts[0] else "1min"
        params: dict[str, Any] = {}
        for part in parts[1:] if parts and "=" not in parts[0] else parts:
            if "=" not in part:
                raise FeatureSpecError(f"feature name {name!r}: {part!r} is not key=value")
            k, v = part.split("=", 1)
            if k.strip() in params:
                raise FeatureSpecError(f"feature name {name!r}: key {k!r} given twice")
            params[k.strip()] = v.strip()
        asset = params.pop("asset", None)
        return cls(resolution, asset, **params)

    # ------------------------------------------------------------------ computing

    def kernel(self, ctx: Ctx) -> np.ndarray:
        """Values on a grid context (see :mod:`btgym.features.kernels`)."""
        raise NotImplementedError

    def compute(self, bars: Bars, *, fill: int | None = None) -> pd.Series:
        """The one-column shortcut of :func:`btgym.features.compute.compute_features`."""
        from btgym.features.compute import compute_features

        return compute_features([self], bars, at="grid", fill=fill)[self.name]


class _Resolution(str):
    """A resolution token (a plain ``str`` for comparisons, hashing and JSON) that is also
    the ``.resolution(token)`` modifier of the feature it came from."""

    def __new__(cls, token: str, owner: Feature) -> _Resolution:
        obj = super().__new__(cls, token)
        obj._owner = owner
        return obj

    def __call__(self, token: str | int) -> Feature:
        return self._owner._replace(resolution=token)

    def __reduce__(self):  # a plain str when copied or serialized
        return (str, (str(self),))


def as_feature(f: Feature | str | Mapping[str, Any]) -> Feature:
    """A Feature from a Feature, a canonical name or a dict."""
    if isinstance(f, Feature):
        return f
    if isinstance(f, str):
        return _parse_cached(f)
    if isinstance(f, Mapping):
        return Feature.from_dict(f)
    raise FeatureSpecError(f"not a feature: {f!r}")


@functools.lru_cache(maxsize=1024)
def _parse_cached(name: str) -> Feature:
    """:meth:`Feature.parse` once per name (features are immutable, so equal objects can
    be shared; a name that fails is parsed, and fails, again)."""
    return Feature.parse(name)
