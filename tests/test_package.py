"""The top-level package: light to import, ids registered, heavy parts loaded on use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import btgym, gymnasium
heavy = ("backtrader", "pandas", "torch", "matplotlib", "btgym.envs")
print(json.dumps({
    "loaded": [m for m in heavy if m in sys.modules],
    "ids": [i for i in gymnasium.registry if i.startswith("btgym/")],
    "lazy": btgym.BTgymEnv.__module__,
}))
"""


def test_import_btgym_is_light_and_registers_the_ids():
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["loaded"] == []  # worker processes that import btgym stay small
    assert sorted(probe["ids"]) == [
        "btgym/Backtrader-v0",
        "btgym/MultiDiscrete-v0",
        "btgym/Portfolio-v0",
    ]
    assert probe["lazy"] == "btgym.envs.base"  # attribute access loads the env on use
