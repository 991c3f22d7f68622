"""The btgym exception hierarchy.

Every error btgym raises on purpose is a :class:`BTgymError`. Where a builtin
exception is the natural contract (``TypeError`` for an unknown keyword,
``FileNotFoundError`` for a missing file, ``TimeoutError`` for a silent peer,
``ValueError`` for a bad action) the btgym error also inherits from it, so both
``except BTgymError`` and the builtin ``except`` work.

Messages always say *what* was wrong and *where* (file, row, column, key,
endpoint).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BTgymError(Exception):
    """Base class of every error btgym raises on purpose."""


# --------------------------------------------------------------------------- config


class ConfigError(BTgymError, ValueError):
    """A configuration value is invalid (wrong type, out of range, inconsistent)."""


class UnknownKeywordError(BTgymError, TypeError):
    """A keyword argument is not known to the component that received it."""

    def __init__(self, key: str, known: Iterable[str], where: str = "") -> None:
        known = sorted(set(known))
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        loc = f" for {where}" if where else ""
        super().__init__(f"unknown keyword {key!r}{loc}{hint}")
        self.key = key
        self.close_matches = close


def check_keywords(given: Iterable[str], known: Iterable[str], where: str = "") -> None:
    """Raise :class:`UnknownKeywordError` for the first key of ``given`` not in ``known``."""
    known = set(known)
    for key in given:
        if key not in known:
            raise UnknownKeywordError(key, known, where)


# --------------------------------------------------------------------------- data


class DataError(BTgymError):
    """Bad market data or an impossible data request."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file named by the user does not exist."""


class DataParseError(DataError, ValueError):
    """A row of a data file could not be parsed.

    Attributes:
        path: the file.
        row: 1-based line number in the file.
        column: the column name or index, where known.
    """

    def __init__(
        self,
        message: str,
        path: str | None = None,
        row: int | None = None,
        column: str | int | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(f"file {path!s}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.column = path, row, column


class DataValidationError(DataParseError):
    """Parsed data violates an invariant: NaN or non-positive prices, high < low,
    unsorted or duplicated timestamps (when not fixable)."""


class SamplingError(DataError):
    """A data domain cannot produce the requested sample (impossible settings,
    no gap-free window, test period longer than the data...)."""


# --------------------------------------------------------------------------- processes and wires


class CommError(BTgymError):
    """Something went wrong talking to a btgym child process."""


class ProtocolError(CommError, ValueError):
    """A message on a btgym socket is malformed or not of the expected kind."""


class SessionError(CommError, PermissionError):
    """A request without this server's session token, or a command its session may
    not send (e.g. a data-server ``reset`` from a client that does not own it)."""


class ServerTimeoutError(CommError, TimeoutError):
    """A btgym server did not answer within its timeout."""


class ServerDiedError(CommError):
    """A btgym child process exited unexpectedly."""


class RemoteError(CommError):
    """A btgym child process raised; carries the child's formatted traceback.

    Attributes:
        remote_type: the child's exception class name.
        remote_traceback: the child's traceback text.
    """

    def __init__(self, message: str, remote_type: str = "", remote_traceback: str = "") -> None:
        text = message
        if remote_traceback:
            text = f"{message}\n\n--- traceback in the child process ---\n{remote_traceback}"
        super().__init__(text)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


class DataServerError(CommError):
    """The data server is unreachable, died, or refused a request."""


class DataServerTimeoutError(DataServerError, ServerTimeoutError):
    """The data server did not answer within the client's timeout (dead, stuck or absent)."""


class DataServerDiedError(DataServerError, ServerDiedError):
    """The data server process owned by this side exited unexpectedly."""


class DataServerRemoteError(DataServerError, RemoteError):
    """The data server refused a request; ``remote_type`` names its exception."""


# --------------------------------------------------------------------------- env


class EnvError(BTgymError):
    """Misuse of an environment."""


class ResetNeededError(EnvError, RuntimeError):
    """``step()`` (or another episode call) was made before ``reset()`` or after the
    episode ended."""


class InvalidActionError(EnvError, ValueError):
    """An action is outside the environment's action space."""


class EnvClosedError(EnvError, RuntimeError):
    """The environment was used after ``close()``."""


class BTgymWarning(UserWarning):
    """A setup that runs but probably not as meant (a ``state_shape`` Box that clips
    the data, start cash that cannot buy one unit of an asset...)."""


class IllegalTransitionError(EnvError, RuntimeError):
    """An episode phase change the episode contract does not allow (see
    ``btgym.server.contract.TRANSITIONS``)."""


# --------------------------------------------------------------------------- rendering, training


class RenderError(BTgymError):
    """A render request cannot be served (unknown mode, no display...)."""


class CheckpointError(BTgymError):
    """A checkpoint cannot be written or read."""


class LogdirError(CheckpointError):
    """A training run's log directory (checkpoints, TensorBoard event files) cannot be
    written; raised before training starts, or when the TensorBoard writer fails."""


class WorkerLostError(BTgymError, RuntimeError):
    """A distributed (Ray) rollout worker died and was not restarted (restarts spent,
    its node gone, or it did not come back in time); the message names the worker."""


# --------------------------------------------------------------------------- experiments


class RegistryError(BTgymError):
    """The run registry cannot do what was asked (schema, database, missing experiment)."""


class RunNotFoundError(RegistryError, KeyError):
    """No run with the given id exists in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RunStateError(RegistryError):
    """A run status change that the status machine does not allow."""


class FingerprintMismatchError(RegistryError):
    """The data of a rerun differs from the data its parent run was trained on."""


# --------------------------------------------------------------------------- models (wave 2)


class ModelError(BTgymError):
    """Misuse of a supervised model (wrong task for the call, no hidden layer to embed...)."""


class ModelNotFittedError(ModelError, RuntimeError):
    """A supervised model was asked to predict (or be saved) before ``fit``."""


class ModelInputError(ModelError, ValueError):
    """Bad model input: wrong shape, wrong or reordered columns, NaN, class id out of range."""


class UnknownComponentError(ConfigError):
    """An unregistered model or encoder class was named; the message lists close matches."""

    def __init__(self, name: str, known: Iterable[str], kind: str = "component") -> None:
        known = sorted(set(known))
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (registered: {', '.join(known)})")
        self.name = name
        self.close_matches = close


class EncoderLeakageError(ConfigError):
    """An observation encoder learned from data that overlaps the env's test period."""


# --------------------------------------------------------------------------- extras


class MissingExtraError(BTgymError, ImportError):
    """An optional dependency is not installed; the message names the extra to install
    (``pip install "btgym[<extra>]"``). Shared by every room."""

    def __init__(self, package: str, extra: str, what: str = "") -> None:
        need = f" (needed for {what})" if what else ""
        super().__init__(
            f'{package} is not installed{need}; install it with: pip install "btgym[{extra}]"'
        )
        self.package, self.extra = package, extra


# --------------------------------------------------------------------------- features


class FeatureError(BTgymError):
    """A feature, feature set or dataset cannot be built or computed."""


class FeatureSpecError(FeatureError, ConfigError):
    """A feature description is invalid: unknown class, key or resolution, a modifier the
    class does not take, inconsistent members of a feature set."""


class LookaheadError(FeatureSpecError):
    """A feature would read the future (a lookforward where only the past is allowed)."""


class FeatureUnavailableError(FeatureError, DataError):
    """The data cannot provide a feature (order-book features on bars, unknown asset,
    a resolution finer than the data)."""


class DegenerateFeatureError(FeatureError, ValueError):
    """A feature column cannot be scaled (zero or non-finite standard deviation)."""


class DegenerateBucketsError(FeatureError, ValueError):
    """Fitted bucket boundaries are not strictly increasing (percentiles collapsed)."""


class EmptySplitError(FeatureError, SamplingError):
    """A train / val / test split has no rows left after a named step."""


# --------------------------------------------------------------------------- live bridge


class LiveError(BTgymError):
    """The live bridge (``btgym.live``) cannot go on."""


class LiveConnectionError(LiveError, ConnectionError):
    """Redis cannot be reached or refuses the credentials at start (URL redacted)."""


class LiveBufferOverflowError(LiveError):
    """The publisher's outage buffer is full: the buffered signals went to the journal."""


class SignalSchemaError(LiveError, ValueError):
    """A signal or heartbeat message is not valid JSON of a schema major this btgym reads."""
