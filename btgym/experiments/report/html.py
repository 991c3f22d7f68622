"""``build_report``: one self-contained HTML file (inline CSS, a small inline sorting
script, figures as ``data:image/png;base64``) that opens offline."""

from __future__ import annotations

import datetime as dt
import html
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from btgym.experiments.config import config_hash
from btgym.experiments.registry import Registry, RunRecord
from btgym.experiments.report import sections as S
from btgym.experiments.rundir import atomic_write
from btgym.log import get_logger

log = get_logger(__name__)

#: the most cards drawn with the full layout by ``card_layout="auto"``
FULL_CARDS_UP_TO = 24

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;
background:#fafafa}
h1{margin:0 0 4px 0;font-size:24px}h2{margin-top:32px;border-bottom:2px solid #ddd;
padding-bottom:4px;font-size:19px}
.meta{color:#555;margin-bottom:8px}.pill{display:inline-block;padding:2px 8px;margin:2px;
border-radius:10px;background:#e8eef6;font-size:13px}
.pill.failed{background:#f8d7da}.pill.finished{background:#d4edda}
.pill.cancelled{background:#fff3cd}.pill.running,.pill.queued{background:#e2e3e5}
img{max-width:100%;border:1px solid #ddd;background:#fff}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;margin:12px 0}
.card h3{margin:0 0 4px 0;font-size:15px;font-family:monospace}.digest{color:#666;
font-size:12px;font-family:monospace;margin-bottom:6px;word-break:break-all}
table{border-collapse:collapse;background:#fff;font-size:13px;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;white-space:nowrap}
th{background:#eef1f5;cursor:pointer;user-select:none}th:hover{background:#dde3ea}
td.num{text-align:right;font-family:monospace}td.err{color:#a00;white-space:normal;
max-width:300px}tr:nth-child(even){background:#f7f8fa}
tr.failed td:nth-child(3){color:#a00;font-weight:bold}
pre{background:#fff5f5;border:1px solid #f1c0c0;padding:8px;overflow-x:auto;font-size:12px}
.note{color:#777;font-style:italic}.scroll{overflow-x:auto}
"""

SCRIPT = """
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0], idx=[...th.parentNode.children]
    .indexOf(th), asc=th.dataset.dir!=='asc';
  [...th.parentNode.children].forEach(h=>{h.dataset.dir='';});
  th.dataset.dir=asc?'asc':'desc';
  const key=td=>{const v=td.dataset.v; if(v!==undefined&&v!==''){return [0,parseFloat(v)];}
    return [1,td.textContent.trim().toLowerCase()];};
  const rows=[...body.rows].sort((a,b)=>{const x=key(a.cells[idx]),y=key(b.cells[idx]);
    if(x[0]!==y[0]) return x[0]-y[0];
    const c=x[0]===0?x[1]-y[1]:(x[1]<y[1]?-1:x[1]>y[1]?1:0); return asc?c:-c;});
  rows.forEach(r=>body.appendChild(r));
}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="{S.data_uri(png)}">'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return _e(v)


def _digest(run: RunRecord) -> str:
    cfg = run.config
    model = cfg.get("model") or {}
    params = ", ".join(
        f"{k}={v}"
        for k, v in sorted((model.get("params") or {}).items())
        if v not in (None, 0, 0.0, False)
    )
    ds = cfg.get("dataset_params") or {}
    return (
        f"config {config_hash(cfg)[:12]} · {model.get('class', '')}({params}) · "
        f"epochs={cfg.get('epochs')} seed={cfg.get('seed')} · task={ds.get('task')} · "
        f"split={cfg.get('split')}"
    )


def _header(runs: Sequence[RunRecord], title: str) -> str:
    starts = [r.created_at for r in runs]
    ends = [r.finished_at or r.heartbeat_at or r.created_at for r in runs]
    span = f"{min(starts):%Y-%m-%d %H:%M} → {max(ends):%Y-%m-%d %H:%M} UTC" if runs else "no runs"
    by_kind = Counter(r.kind for r in runs)
    by_status = Counter(r.status for r in runs)
    exps = sorted({r.experiment for r in runs})
    pills = "".join(f'<span class="pill">{_e(k)}: {n}</span>' for k, n in sorted(by_kind.items()))
    pills += "".join(
        f'<span class="pill {_e(k)}">{_e(k)}: {n}</span>' for k, n in sorted(by_status.items())
    )
    made = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<h1>{_e(title)}</h1><div class='meta'>experiment(s): "
        f"<b>{_e(', '.join(exps))}</b> · {len(runs)} runs · {span} · report made {made}"
        f"</div><div>{pills}</div>"
    )


def _table(runs: Sequence[RunRecord], metrics: Any, split: str) -> str:
    header, rows = S.table_rows(runs, metrics, split)
    head = "".join(f"<th onclick='sortTable(this)'>{_e(h)}</th>" for h in header)
    body = []
    for r, row in zip(runs, rows):
        cells = []
        for i, v in enumerate(row):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cells.append(f"<td class='num' data-v='{v!r}'>{_fmt(v)}</td>")
            elif v is None:
                cells.append("<td class='num' data-v=''></td>")
            elif i == len(row) - 1:
                cells.append(f"<td class='err'>{_e(v)}</td>")
            else:
                cells.append(f"<td>{_e(v)}</td>")
        body.append(f"<tr class='{_e(r.status)}'>{''.join(cells)}</tr>")
    return (
        f"<div class='scroll'><table id='runs'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _fetched(registry: Registry, run: RunRecord) -> RunRecord:
    """``run`` with ``run_dir`` pointing at a local copy fetched from the artifact store."""
    import dataclasses

    try:
        local = registry.local_run_dir(run)
    except Exception as exc:
        log.warning(f"report: files of run {run.id} not fetched from {registry.store!r} ({exc})")
        local = None
    return dataclasses.replace(run, run_dir=local.as_posix() if local else None)


def build_report(
    registry: Registry,
    runs: Sequence[RunRecord | str] | None = None,
    out: str | os.PathLike = "report.html",
    *,
    experiment: str | None = None,
    split: str = "test",
    max_cards: int = 200,
    title: str | None = None,
    workers: int | None = None,
    card_layout: str = "auto",
) -> Path:
    """Write the HTML report of ``runs`` (records or ids; default: every run of
    ``experiment``, or of the registry) to ``out`` and return its path.

    Cards are drawn by ``workers`` processes (default: up to 4) and kept as
    ``card_<split>_<layout>.png`` in each run directory, so a later report reuses them.
    ``card_layout="auto"`` draws Atlas's full 2×3 classifier card for up to
    :data:`FULL_CARDS_UP_TO` runs and the compact 2×2 one beyond.
    """
    t0 = time.perf_counter()
    if runs is None:
        records = registry.runs(experiment=experiment)
    else:
        ids = [r if isinstance(r, str) else r.id for r in runs]
        records = [registry.get(i) for i in ids]
    if registry.store.remote:  # fsspec root: read the run files back through the store
        records = [_fetched(registry, r) for r in records]
    metrics = registry.metrics(run_id=[r.id for r in records]) if records else None
    if metrics is None:
        import pandas as pd

        metrics = pd.DataFrame(columns=["run_id", "split", "key", "value", "step", "ts"])
    names = experiment or ", ".join(sorted({r.experiment for r in records})) or "runs"
    title = title or f"btgym report · {names}"
    results = S.load_results(records)
    parts = [_header(records, title)]

    heat = S.heatmap_png(records, results, split, title=f"{split} metrics by unit")
    parts.append("<h2>Batch heatmap</h2>")
    parts.append(
        f"<div id='heatmap'>{_img(heat, 'batch heatmap')}</div>"
        if heat
        else "<p class='note'>no finished classifier runs</p>"
    )

    sup = [r for r in records if r.id in results]
    parts.append(f"<h2>Model cards ({min(len(sup), max_cards)} of {len(sup)})</h2>")
    shown = sup[:max_cards]
    if card_layout == "auto":
        card_layout = "full" if len(shown) <= FULL_CARDS_UP_TO else "compact"
    cards = S.render_cards({r.id: r.run_dir for r in shown}, split, workers, card_layout)
    for r in sup[:max_cards]:
        png = cards.get(r.id)
        label = f"{r.config.get('unit', '')}/{r.config.get('model_spec', '') or r.name}"
        img = _img(png, f"card {r.id}") if png else "<p class='note'>card not drawn</p>"
        parts.append(
            f"<div class='card' id='card-{_e(r.id)}'><h3>{_e(r.id)} · {_e(label)}"
            f"</h3><div class='digest'>{_e(_digest(r))}</div>{img}</div>"
        )

    rl = [r for r in records if r.kind == "rl"]
    if rl:
        parts.append(f"<h2>RL runs ({len(rl)})</h2>")
        for r in rl:
            curve, equity = S.rl_data(r, metrics)
            parts.append(
                f"<div class='card rl' id='rl-{_e(r.id)}'><h3>{_e(r.id)} · "
                f"{_e(r.config.get('algo', '')).upper()}</h3>"
                f"{_img(S.rl_png(r, curve, equity), f'rl curves {r.id}')}</div>"
            )

    parts.append(
        f"<h2>Runs</h2><p class='note'>{_e(split)} metrics (RL: test episodes); click a "
        "column header to sort</p>"
    )
    parts.append(_table(records, metrics, split))
    failed = [r for r in records if r.status == "failed"]
    if failed:
        parts.append(f"<h2>Failed runs ({len(failed)})</h2>")
        for r in failed:
            tail = "\n".join((r.error or "").strip().splitlines()[-25:])
            parts.append(
                f"<div class='card failed' id='failed-{_e(r.id)}'><h3>{_e(r.id)} · "
                f"{_e(r.name)}</h3><pre>{_e(tail)}</pre></div>"
            )
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}</style><script>{SCRIPT}</script></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
    path = Path(out)
    atomic_write(path, lambda p: p.write_text(doc, encoding="utf-8"))
    log.info(f"report of {len(records)} runs -> {path} in {time.perf_counter() - t0:.1f} s")
    return path
