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
