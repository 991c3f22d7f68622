"""The Ray backend without Ray: btgym imports, and asking for Ray names the extra.

These run whether or not ``btgym[ray]`` is installed (Ray is hidden from the import
system where it is)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from btgym.errors import MissingExtraError


@pytest.fixture
def no_ray(monkeypatch):
    """As if Ray were not installed (also where other tests imported it already)."""
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "ray", None)


def test_importing_the_backend_and_the_cli_does_not_import_ray():
    code = (
        "import sys, btgym, btgym.cli, btgym.algorithms.distributed as d, "
        "btgym.algorithms.distributed.cli, btgym.integrations.rllib; "
        "d.RayConfig; print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_train_without_ray_names_the_extra(no_ray, tmp_path):
    from btgym.algorithms.distributed import RayA3C
    from tests.algorithms.conftest import sine_env_kwargs

    algo = RayA3C(env_kwargs=sine_env_kwargs(), logdir=tmp_path, num_workers=1, total_steps=10)
    with algo, pytest.raises(MissingExtraError, match=r"btgym\[ray\]"):
        algo.train()


def test_cli_backend_ray_without_ray_is_a_clear_error(no_ray, tmp_path, capsys):
    from btgym.cli import main

    assert main(["train", "--backend", "ray", "--steps", "10", "--logdir", str(tmp_path)]) == 1
    assert 'pip install "btgym[ray]"' in capsys.readouterr().err


def test_rllib_registration_without_ray_names_the_extra(no_ray):
    from btgym.integrations.rllib import register_envs

    with pytest.raises(MissingExtraError, match=r"btgym\[ray\]"):
        register_envs()
