"""What every ``btgym`` verb shares: data and env keywords from the command line,
``KEY=VALUE`` pairs, the argument parser with defaults in ``--help``, and the registry
options of the experiment verbs."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from btgym.errors import ConfigError

#: the shipped sample ``btgym train`` uses without ``--data``
DEFAULT_SAMPLE = "sine"
#: env settings of the demo on the sine sample (as benchmarks/learning_sine.py):
#: episodes of two sine periods, the last day held out for ``btgym eval``, any start
#: time (the sample's week runs Sunday..Saturday), no commission and shorts that tie
#: up cash like longs (with 0.1 % commission even a perfect trend follower loses on
#: this small sine; with backtrader's ``shortcash`` shorts are unbounded)
SINE_DEMO = {
    "episode_duration": {"days": 0, "hours": 8, "minutes": 32},
    "test_period": {"days": 1, "hours": 0, "minutes": 0},
    "start_00": False,
    "start_weekdays": [0, 1, 2, 3, 4, 5, 6],
    "broker_commission": 0.0,
    "shortcash": False,
}
DEFAULT_STEPS = 50_000
_HISTDATA_LINE = re.compile(rb"^\d{8} \d{6};")


# --------------------------------------------------------------------------- data and env keywords


def resolve_data(items: list[str] | None) -> tuple[list[str], bool]:
    """Paths of ``--data`` items (files or shipped sample names).

    Returns:
        ``(paths, is_default_sample)``.

    Raises:
        DataFileNotFoundError: neither a file nor a shipped sample.
    """
    from btgym.datafeed import sample_data_path

    if not items:
        return [str(sample_data_path(DEFAULT_SAMPLE))], True
    paths = []
    for item in items:
        paths.append(item if os.path.exists(item) else str(sample_data_path(item)))
    return paths, False


def _has_header(path: str) -> bool:
    with open(path, "rb") as fh:
        first = fh.readline()
    return bool(first.strip()) and not _HISTDATA_LINE.match(first)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b={\\"x\\": 2}"]`` -> ``{"a": 1, "b": {"x": 2}}``."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = _parse_value(value)
    return out


def env_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The env keywords a ``train`` / ``render`` command line describes."""
    paths, default = resolve_data(args.data)
    kw: dict[str, Any] = {"filename": paths[0] if len(paths) == 1 else paths}
    if _has_header(paths[0]):
        kw["parsing_params"] = {"header": 0}
    if default:
        kw.update(SINE_DEMO)
    if getattr(args, "server", None):
        kw["server"] = args.server
    if getattr(args, "env_class", None):
        kw["env_class"] = args.env_class
    kw.update(parse_pairs(args.env, "--env"))
    return kw


def has_test_part(env_kw: dict[str, Any]) -> bool:
    """Whether env keywords give the data a test part (``test_period`` flat or in
    ``trial_params``; a ready ``dataset=`` is asked for its params)."""
    if env_kw.get("test_period"):
        return True
    if (env_kw.get("trial_params") or {}).get("test_period"):
        return True
    dataset = env_kw.get("dataset")
    params = getattr(dataset, "params", None) or getattr(dataset, "trial_params", None)
    return bool(getattr(params, "test_period", None) or (
        isinstance(params, dict) and params.get("test_period")
    ))  # fmt: skip


NO_TEST_PART = (
    "this data has no test part (no test_period): pass --train-episodes to evaluate on "
    "train episodes, or give it one with --env 'test_period={\"days\": 1}'"
)


# --------------------------------------------------------------------------- parser pieces


def _add_data_args(p: argparse.ArgumentParser, env_class: bool = True) -> None:
    p.add_argument(
        "--data",
        nargs="+",
        metavar="FILE",
        help=f"bar CSV files or shipped samples (default: {DEFAULT_SAMPLE!r})",
    )
    p.add_argument(
        "--env",
        action="append",
        metavar="KEY=VALUE",
        help="extra BTgymEnv keyword (VALUE parsed as JSON when it can be)",
    )
    p.add_argument(
        "--server",
        choices=["process", "inprocess"],
        help="where backtrader runs: a child process (default) or in the env's process",
    )
    if env_class:
        p.add_argument(
            "--env-class",
            metavar="NAME",
            help="BTgymEnv (default), MultiDiscreteEnv, PortfolioEnv or module:Class",
        )


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless it names its default
    already or has none (``None`` / ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """``--help`` shows the options' defaults; a usage error exits with 1 (2 means
    "some runs failed" for the experiment verbs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def add_registry_args(p: argparse.ArgumentParser, quiet: bool = True) -> None:
    """``--registry URL`` and ``--artifacts DIR`` (defaults read from the environment
    when the command runs) and ``-q``."""
    p.add_argument(
        "--registry",
        metavar="URL",
        help="SQLAlchemy URL (default: $BTGYM_REGISTRY or sqlite:///<artifacts>/registry.sqlite)",
    )
    p.add_argument(
        "--artifacts",
        metavar="DIR|URL",
        help="artifact root: a directory or an fsspec URL such as s3://bucket/btgym "
        "(extra btgym[cloud]; default: $BTGYM_ARTIFACTS or ./runs)",
    )
    if quiet:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def open_registry(args: argparse.Namespace) -> Any:
    """The :class:`~btgym.experiments.registry.Registry` the options name."""
    from btgym.experiments.registry import Registry

    return Registry(url=args.registry, artifact_root=args.artifacts)
