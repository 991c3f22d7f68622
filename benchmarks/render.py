"""Rendering speed: milliseconds per render per mode, and what rendering costs when off.

Prints a table and writes ``benchmarks/results/render.json``:

- median and p90 ms per ``render()`` for ``human``, two observation images and
  ``episode`` (episodes of a real backtrader run on EURUSD minute bars, and a long
  synthetic one), at the default sizes;
- the disabled placeholder (``render_enabled=False``), PNG encoding;
- the cold first render in a fresh process (matplotlib import, font cache) and
  the import cost of ``btgym.rendering`` (which must not load matplotlib, so
  ``step()`` pays nothing for rendering it does not ask for);
- RSS growth over repeated renders.

Usage: ``python benchmarks/render.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from btgym.rendering import RenderConfig, render, to_png_bytes  # noqa: E402
from tests.rendering.episodes import (  # noqa: E402
    backtrader_episode,
    synthetic_bars,
    synthetic_records,
)

RESULTS = Path(__file__).resolve().parent / "results" / "render.json"


def timed(fn, n: int) -> tuple[float, float, float]:
    """Median and p90 wall ms, and median CPU ms, of ``fn()`` over ``n`` calls.

    CPU time is reported beside wall time because the benchmark machine is shared:
    wall time includes waiting for a core, CPU time does not.
    """
    fn()
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    return statistics.median(wall), float(np.percentile(wall, 90)), statistics.median(cpu)


def row(mode: str, episode: str, records: dict, pixels: str, t: tuple) -> dict:
    med, p90, cpu = t
    return dict(
        mode=mode,
        episode=episode,
        steps=len(records["time"]),
        fills=len(records["fill_kind"]),
        pixels=pixels,
        median_ms=round(med, 2),
        p90_ms=round(p90, 2),
        median_cpu_ms=round(cpu, 2),
    )


def episodes(quick: bool) -> dict[str, tuple[dict, object]]:
    out = {"bt_1000": backtrader_episode(n_bars=1030, seed=1)}
    if not quick:
        out["bt_3000"] = backtrader_episode(n_bars=3030, seed=2)
        rng = np.random.default_rng(0)
        bars = synthetic_bars(10_030, rng, gap_every=1440)
        out["synthetic_10000"] = (synthetic_records(bars, rng, trade_prob=0.005), bars)
    return out


def cold_first_render() -> dict[str, float | bool]:
    """Import cost and first-render cost in a fresh interpreter."""
    code = (
        "import sys, time, json\n"
        "t = time.perf_counter()\n"
        "import btgym\n"
        "t0 = time.perf_counter()\n"
        "import btgym.rendering as r\n"
        "t1 = time.perf_counter()\n"
        "mpl = 'matplotlib' in sys.modules\n"
        "import numpy as np\n"
        "rec = {'time': np.arange(100, dtype=np.int64) * 60 * 10**9,\n"
        "       'broker_value': np.linspace(100, 101, 100), 'reward': np.zeros(100)}\n"
        "r.render('episode', records=rec, bars=None, config=r.RenderConfig())\n"
        "t2 = time.perf_counter()\n"
        "print(json.dumps({'import_btgym_ms': 1e3 * (t0 - t),\n"
        "                  'import_rendering_after_btgym_ms': 1e3 * (t1 - t0),\n"
        "                  'matplotlib_loaded_by_import': mpl,\n"
        "                  'cold_first_episode_render_ms': 1e3 * (t2 - t1)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, small episodes only")
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with DAT_ASCII_EURUSD_M1_201701.csv (default: the bundled tests/data)",
    )
    args = ap.parse_args()
    if args.data_dir is not None:
        import tests.rendering.episodes as eps

        eps.EURUSD = args.data_dir / "DAT_ASCII_EURUSD_M1_201701.csv"
    n = 5 if args.quick else 15
    cfg = RenderConfig()
    rng = np.random.default_rng(0)
    obs = {"raw": rng.normal(size=(30, 4)), "features": rng.normal(size=(60, 20, 3))}
    rows = []
    for name, (records, bars) in episodes(args.quick).items():
        for mode in ("human", "raw", "features", "episode"):
            kind = mode if mode in ("human", "episode") else "state"
            if mode != "episode" and name != "bt_1000":
                continue  # only the episode image grows with the episode

            def call(mode=mode, records=records, bars=bars):
                return render(mode, records=records, bars=bars, state=obs, config=cfg)

            h, w = cfg.pixels_of(kind)
            rows.append(row(mode, name, records, f"{w}x{h}", timed(call, n)))
    records, bars = episodes(True)["bt_1000"]
    off = RenderConfig(render_enabled=False)
    t = timed(lambda: render("episode", records=records, bars=bars, config=off), n)
    rows.append(row("episode, render_enabled=False", "bt_1000", records, "1400x1000", t))
    img = render("episode", records=records, bars=bars, config=cfg)
    t = timed(lambda: to_png_bytes(img), n)
    rows.append(row("PNG encode (episode image)", "bt_1000", records, "1400x1000", t))

    proc = psutil.Process(os.getpid())
    repeats = 60 if args.quick else 300
    before = proc.memory_info().rss
    for i in range(repeats):
        render(
            ("human", "raw", "episode")[i % 3], records=records, bars=bars, state=obs, config=cfg
        )
    grown = (proc.memory_info().rss - before) / 2**20
    cold = cold_first_render()

    print(
        f"\nrender speed ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"{'mode':30s} {'episode':16s} {'steps':>6s} {'fills':>5s} {'pixels':>10s} "
        f"{'median ms':>10s} {'p90 ms':>8s} {'CPU ms':>8s}"
    )
    for r in rows:
        print(
            f"{r['mode']:30s} {r['episode']:16s} {r['steps']:6d} {r['fills']:5d} "
            f"{r['pixels']:>10s} {r['median_ms']:10.1f} {r['p90_ms']:8.1f} "
            f"{r['median_cpu_ms']:8.1f}"
        )
    print(f"RSS growth over {repeats} more renders: {grown:.1f} MB")
    print(
        f"import btgym: {cold['import_btgym_ms']:.0f} ms, then btgym.rendering: "
        f"{cold['import_rendering_after_btgym_ms']:.1f} ms, loads matplotlib: "
        f"{cold['matplotlib_loaded_by_import']}; cold first episode render: "
        f"{cold['cold_first_episode_render_ms']:.0f} ms"
    )

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            dict(
                date=str(date.today()),
                quick=args.quick,
                repeats=n,
                machine=dict(
                    python=platform.python_version(),
                    cpus=os.cpu_count(),
                    load_avg_1min=round(os.getloadavg()[0], 2),
                ),
                rows=rows,
                rss_growth_mb=round(grown, 2),
                rss_growth_renders=repeats,
                **{k: (round(v, 1) if isinstance(v, float) else v) for k, v in cold.items()},
            ),
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
