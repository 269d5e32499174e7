"""The `workbench` command's surface, the repository's example project and the shipped job notebooks."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import WORKBENCH, wb

import workbench
from workbench.example import EXAMPLE_SETTINGS
from workbench.jobs import bundled_notebooks, notebook_parameters

ROOT = Path(__file__).resolve().parent.parent


def test_help_and_version():
    p = subprocess.run([WORKBENCH, "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for cmd in ("run", "runs", "demo", "jobs", "check", "catalog"): assert cmd in p.stdout
    p = subprocess.run([WORKBENCH, "--version"], capture_output=True, text=True)
    assert p.stdout.strip() == f"workbench {workbench.__version__}"
    p = subprocess.run([WORKBENCH, "run", "profile", "--timeout", "0"], capture_output=True, text=True)
    assert p.returncode == 2 and "must be at least 1, got 0" in p.stderr


def test_cli_import_stays_light():
    code = "import sys, workbench.cli; print(sorted(m for m in ('pandas', 'papermill', 'ydata_profiling', 'nbconvert') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_project_is_a_clear_error(tmp_path):
    p = subprocess.run([WORKBENCH, "runs"], capture_output=True, text=True, cwd=tmp_path,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 2 and "no settings.ini with a [project] section" in p.stderr and "--project DIR" in p.stderr


def test_jobs_lists_parameters(project):
    jobs = {j["name"]: j for j in json.loads(wb(project, "jobs", "--json", check=0).stdout)}
    assert set(jobs) == {"boom", "ok", "slow"} | set(bundled_notebooks())
    assert {"profile", "quality", "train"} <= set(bundled_notebooks())
    prof = jobs["profile"]["parameters"]
    assert prof["max_cells"]["type"] == "int" and prof["data"]["default"] == "customers"
    assert jobs["profile"]["settings_values"] == {"data": "customers"}


def test_runs_json_empty_then_filtered(project):
    assert json.loads(wb(project, "runs", "--json", check=0).stdout) == []
    wb(project, "run", "ok", "--no-progress", check=0)
    assert json.loads(wb(project, "runs", "--json", "--job", "profile", check=0).stdout) == []
    [r] = json.loads(wb(project, "runs", "--json", "--status", "succeeded", check=0).stdout)
    assert r["job"] == "ok" and r["ended_at"] >= r["started_at"]
    assert r["id"] in wb(project, "runs", check=0).stdout


def test_repository_settings_are_the_example_project():
    assert (ROOT / "settings.ini").read_text() == EXAMPLE_SETTINGS


def test_bundled_job_notebooks_are_clean_and_parameterized():
    assert "profile" in bundled_notebooks()
    for name, path in bundled_notebooks().items():
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} has outputs"
        assert notebook_parameters(path), f"{name} has no parameters cell"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.timeout(1200)
def test_demo_in_an_empty_folder(tmp_path):
    p = subprocess.run([WORKBENCH, "--project", str(tmp_path), "demo", "--customers", "2000", "--months", "3", "--no-progress"],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "settings.ini").read_text() == EXAMPLE_SETTINGS
    assert len(list((tmp_path / "data" / "customers").glob("*.parquet"))) == 3
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "profile" in index and "succeeded" in index and "rows=6,000" in index
