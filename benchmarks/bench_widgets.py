"""Opening the workbench: lazily (the first tab built, the rest when first selected) vs eagerly (every tab built now).

The baseline is the eager build, which is what opening would cost without lazy tabs. Both run in the same process on
the same small trained example project, after one warm-up (imports and the registry's first read are not measured).
Also prints each tab's build time, so a slow step shows. Goal: the lazy open stays under 0.5 s.

    python benchmarks/bench_widgets.py [--repeat 5]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main(repeat: int):
    from workbench.example import write_model_project
    from workbench.registry import train_project
    from workbench.settings import load_settings
    from workbench.widgets import TABS, Workbench
    with tempfile.TemporaryDirectory() as d:
        write_model_project(Path(d), n_customers=1000, months=6)
        s = load_settings(d)
        train_project(s)
        Workbench(s, eager=True)   # warm-up
        def timed(**kw):
            t = time.perf_counter()
            Workbench(s, **kw)
            return time.perf_counter() - t
        lazy = [timed() for _ in range(repeat)]
        eager = [timed(eager=True) for _ in range(repeat)]
        per_tab = {}
        for title in TABS:
            t = time.perf_counter()
            Workbench(s, tabs=[title])
            per_tab[title] = time.perf_counter() - t
    lz, eg = statistics.median(lazy), statistics.median(eager)
    print(f"open lazily (first tab only): {lz * 1000:8.1f} ms  (median of {repeat})")
    print(f"open eagerly (every tab):     {eg * 1000:8.1f} ms  baseline; lazy is {eg / lz:.1f}x faster")
    for title, t in per_tab.items(): print(f"  build {title:12} {t * 1000:8.1f} ms")
    print(f"goal lazy open < 500 ms: {'met' if lz < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    main(ap.parse_args().repeat)
