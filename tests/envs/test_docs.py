"""Every Python block of the user guide (docs/guide/*.md) runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks() -> list[tuple[str, int, str]]:
    out = []
    for page in sorted(GUIDE.glob("*.md")):
        for i, code in enumerate(BLOCK.findall(page.read_text())):
            out.append((page.name, i, code))
    return out


def test_the_guide_has_its_pages():
    names = {p.name for p in GUIDE.glob("*.md")}
    assert {"episodes.md", "custom-strategy.md", "data.md", "multi-asset.md",
            "rendering.md", "training.md"} <= names  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("page, i, code", blocks(), ids=lambda v: str(v)[:20])
def test_guide_block_runs(page, i, code, tmp_path):
    script = tmp_path / f"{page[:-3]}_{i}.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, f"{page} block {i}:\n{done.stderr[-3000:]}"
