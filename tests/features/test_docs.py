"""The worked example of docs/features.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_worked_example_runs_verbatim(tmp_path, monkeypatch):
    text = DOC.read_text()
    section = text.split("## Worked example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)  # our own docs, run as a user would
    ds = scope["ds"]
    assert ds.info().class_counts == {"down": 3735, "up": 3735}  # the numbers the page shows
    assert (tmp_path / "features.png").stat().st_size > 10_000
    assert (tmp_path / "eurusd-dataset" / "dataset.json").is_file()
    assert len(scope["X_train"]) == len(ds.X_train)
