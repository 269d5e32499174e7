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
