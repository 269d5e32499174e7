"""The data explorer widget driven as a notebook user would: choose a source, read the status, press Profile."""
import subprocess

from conftest import WORKBENCH

from workbench.explorer import DataExplorer
from workbench.settings import load_settings


def test_explorer_schema_contract_and_background_profile(project):
    subprocess.run([WORKBENCH, "contract", "infer", "customers", "--out", "contracts/customers.json"], cwd=project, check=True,
                   capture_output=True)
    ex = DataExplorer(load_settings(project), sample_rows=500)
    assert ex.source.options == ("customers",) and ex.schema.value == ""   # nothing read until shown
    ex.refresh()
    assert "monthly_charges" in ex.schema.value and "first 500 rows" in ex.info.value
    ex.wait(timeout=120)
    assert "4,500 kept / 0 quarantined" in ex.status.value
    ex.profile_button.click()
    assert ex.profile_button.disabled                    # running in the background: the call returned at once
    ex.wait(timeout=300)
    assert not ex.profile_button.disabled and ex.progress.bar_style == "success"
    [out] = ex.output.outputs
    assert "<iframe" in out["data"]["text/html"] and "Overview" in out["data"]["text/html"]


def test_drift_dashboard_follows_the_chosen_column_and_chunk(tmp_path):
    from workbench.drift_dashboard import DriftDashboard
    from workbench.example import make_customers, write_model_project
    from workbench.monitor import run_monitor
    df = make_customers(1000, months=12, seed=8)
    df[df.snapshot_month < "2025-05-01"].to_parquet(tmp_path / "ref.parquet")
    write_model_project(tmp_path, data=df, candidates="dummy")
    res, ref = run_monitor(load_settings(tmp_path), "ref.parquet", "data/c.parquet", "-")
    dash = DriftDashboard(res, ref)
    assert dash.column.options[0] in ("monthly_charges", "plan", "tenure_months", "total_charges", "signup_date")   # drifted first
    dash.column.value, dash.chunk.value = "monthly_charges", "2025-03"
    assert "monthly_charges in 2025-03: ok" in dash.summary.value
    dash.chunk.value = "2025-11"
    assert "monthly_charges in 2025-11: <b style='color:#cf222e'>drift</b>" in dash.summary.value
    assert bytes(dash.plot.value[:4]) == b"\x89PNG"


def _pyplot_figures_opened(draw) -> list[str]:
    "Call `draw` while a cell's own pyplot figure is open; return pyplot's warning for each figure opened meanwhile."
    import warnings

    import matplotlib
    import matplotlib.pyplot as plt
    mine = plt.figure()                      # a cell's plot, in progress on the kernel's main thread
    try:
        with matplotlib.rc_context({"figure.max_open_warning": len(plt.get_fignums())}), \
                warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")  # pyplot warns when it opens one more figure than the ones open now
            draw()
        assert plt.gcf() is mine and not mine.axes   # the cell's figure is still current, and untouched
        return [str(w.message) for w in seen if "figures have been opened" in str(w.message)]
    finally:
        plt.close(mine)


def test_the_drift_and_performance_panels_draw_in_the_background_without_pyplot(tmp_path):
    "pyplot is not thread-safe and its figures can show up in another cell: the panels' threads draw on Figures of their own."
    from workbench.example import write_model_project
    from workbench.registry import train_project
    from workbench.widgets import DriftPanel, PerformancePanel
    write_model_project(tmp_path, n_customers=300, months=3)
    s = load_settings(tmp_path)
    train_project(s)
    perf, drift = PerformancePanel(s), DriftPanel(s)
    drift.current.value = "c"

    def run(panel):
        panel.run.start()
        assert panel.run.wait(timeout=600) == [] and not any(t.is_alive() for t in panel.run.threads)
    assert _pyplot_figures_opened(lambda: run(perf)) == []
    assert bytes(perf.plot.value[:4]) == b"\x89PNG" and "roc_auc" in perf.table.value
    assert _pyplot_figures_opened(lambda: run(drift)) == []
    [dash] = drift.result.children
    assert bytes(dash.children[3].value[:4]) == b"\x89PNG"        # the dashboard's figure
