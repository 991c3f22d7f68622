"""The run registry on SQLAlchemy Core (SQLite by default, PostgreSQL by URL)."""

from btgym.experiments.registry.records import ArtifactRecord, Experiment, RunRecord, SweepResult
from btgym.experiments.registry.store import Registry, default_artifact_root, default_registry_url

__all__ = [
    "ArtifactRecord",
    "Experiment",
    "Registry",
    "RunRecord",
    "SweepResult",
    "default_artifact_root",
    "default_registry_url",
]
