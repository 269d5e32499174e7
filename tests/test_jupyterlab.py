"""The one-cell workbench in a real JupyterLab, driven by a real headless Chromium: run the cell, click through every
tab, save, reopen from the saved widget state; and a job notebook that displays the workbench, rendered to static HTML.

Screenshots go to tests/artifacts/jupyterlab/ (or $WORKBENCH_TEST_ARTIFACTS)."""
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import free_port, runs, wb, write_job
from playwright.sync_api import expect

ARTIFACTS = Path(os.environ.get("WORKBENCH_TEST_ARTIFACTS") or Path(__file__).parent/"artifacts"/"jupyterlab")
TOKEN = "workbench-test-token"
WAIT = 120_000   # ms: JupyterLab and its kernel are slow on two busy cores

GLANCE = """from workbench.widgets import workbench
workbench(eager=True, tabs=['Problem', 'Registry', 'Jobs'])
# ---
import ipywidgets as w
w.VBox([w.HTML('<b>a plain widget</b>'), w.Dropdown(options=['a', 'b'], value='b', description='pick')])"""
TOUR = "from workbench.widgets import workbench\nwb = workbench()\nwb"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A small trained project (churn/1 is champion) with one job that displays the workbench, and a notebook that opens it."
    from workbench.example import write_model_project
    root = tmp_path_factory.mktemp("lab")
    write_model_project(root, n_customers=300, months=3, extra="\n[job:glance]\nnotebook = jobs/glance.ipynb\n")
    (root/"jobs").mkdir()
    write_job(root/"jobs", "glance", GLANCE)
    wb(root, "train", check=0)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# The workbench"), nbformat.v4.new_code_cell(TOUR)]
    nbformat.write(nb, root/"tour.ipynb")
    return root



def _api(base: str, path: str, method: str = "GET"):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(project, tmp_path_factory):
    "JupyterLab on 127.0.0.1 with a token, its config, data and settings in a temp folder; widget state saved in notebooks."
    home = tmp_path_factory.mktemp("jupyter")
    settings = home/"lab-settings"
    for plugin, values in {"@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
                           "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"}}.items():
        (settings/plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings/f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home/"config"), "JUPYTER_DATA_DIR": str(home/"data"),
           "JUPYTER_RUNTIME_DIR": str(home/"runtime"), "IPYTHONDIR": str(home/"ipython"), "JUPYTER_PLATFORM_DIRS": "1",
           "MPLBACKEND": "Agg"}
    log = open(home/"lab.log", "wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent/"jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={project}", f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={home/'workspaces'}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", "--ServerApp.port_retries=0", "--allow-root"], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            _api(base, "/api/status")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start (exit {proc.poll()}):\n{(home/'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base
    proc.terminate()
    try: proc.wait(30)
    except subprocess.TimeoutExpired: proc.kill()
    log.close()


@pytest.fixture
def page(browser):
    "A page that refuses, and remembers, every request that leaves this machine."
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(WAIT)
    pg.remote_requests = []
    def guard(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "file://", "data:", "blob:", "about:")): return route.continue_()
        pg.remote_requests.append(url)
        return route.abort()
    ctx.route("**/*", guard)
    yield pg
    ctx.close()


def shot(page, name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS/f"{name}.png"), full_page=True)


def open_notebook(page, lab: str, name: str):
    page.goto(f"{lab}/lab/tree/{name}?token={TOKEN}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                           timeout=WAIT)


def command(page, name: str):
    page.evaluate(f"() => window.jupyterapp.commands.execute({name!r})")


def tab(page, title: str):
    "Select the workbench tab `title`; return the visible tab panel."
    page.locator(".widget-tab .lm-TabBar-tab", has_text=title).first.click()
    return page.locator(".widget-tab .widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first


def test_workbench_tabs_in_jupyterlab_save_and_reopen(project, lab, page):
    open_notebook(page, lab, "tour.ipynb")
    command(page, "notebook:run-all-cells")
    panel = page.locator(".widget-tab")
    panel.get_by_text("Problem charter").wait_for()
    page.get_by_text("holdout of churn/1").wait_for()
    page.get_by_role("button", name="Check against the data").click()
    page.get_by_text("settings.ini fits the data").wait_for()
    shot(page, "01-problem")

    p = tab(page, "Data")
    p.get_by_text("schema of the first").wait_for()
    p.get_by_text("No contract at").wait_for()
    expect(p.get_by_text("monthly_charges").first).to_be_visible(timeout=WAIT)
    shot(page, "02-data")

    p = tab(page, "Model")
    p.get_by_text("Versions of churn").wait_for()
    p.get_by_role("button", name="Train").click()                  # trains in the background
    p.get_by_text("registered churn/2").wait_for(timeout=240_000)
    expect(p.get_by_text("value per case").first).to_be_visible(timeout=WAIT)
    expect(p.get_by_text("Leaderboard").first).to_be_visible(timeout=WAIT)
    shot(page, "03-model")

    p = tab(page, "Registry")
    p.get_by_text("2 version(s)").wait_for()
    p.get_by_role("button", name="Promote").click()
    p.get_by_text("churn/2 promoted").or_(p.get_by_text("churn/2 NOT promoted")).first.wait_for()   # through the gate
    p.get_by_role("button", name="Rollback").click()
    p.get_by_text("rolled back to version 1").wait_for()
    expect(p.get_by_text("aliases: champion → 1")).to_be_visible(timeout=WAIT)
    shot(page, "04-registry")

    p = tab(page, "Drift")
    p.get_by_placeholder("a source, a join or a path").fill("nope")
    p.get_by_role("button", name="Monitor").click()
    p.get_by_text("Monitoring failed").wait_for()                 # a readable error in the widget, not a dead widget
    expect(p.locator(".wb-error")).to_contain_text("nope", timeout=WAIT)
    shot(page, "05-drift-error")
    p.get_by_placeholder("a source, a join or a path").fill("c")
    p.get_by_role("button", name="Monitor").click()
    p.get_by_text("columns drifted").first.wait_for()
    p.get_by_text("drifted in").first.wait_for()                   # the dashboard's summary of the chosen column
    shot(page, "06-drift")

    p = tab(page, "Performance")
    p.get_by_role("button", name="Judge").click()
    p.get_by_text("roc_auc in the latest chunk").wait_for()
    expect(p.locator("img").first).to_be_visible(timeout=WAIT)
    shot(page, "07-performance")

    p = tab(page, "Jobs")
    p.get_by_role("button", name="Run now").click()
    p.get_by_text("glance: succeeded").wait_for(timeout=240_000)
    expect(p.get_by_role("link", name="report").first).to_be_visible(timeout=WAIT)
    shot(page, "08-jobs")

    command(page, "docmanager:save")
    deadline = time.monotonic() + 60
    while True:   # the widget state is saved in the notebook's metadata
        state = json.loads((project/"tour.ipynb").read_text()).get("metadata", {}).get("widgets", {})
        saved = json.dumps(state)
        if "succeeded</span>" in saved and "Versions of churn" in saved and "Problem charter" in saved: break
        assert time.monotonic() < deadline, "the widget state was not saved in the notebook"
        time.sleep(0.5)

    for s in _api(lab, "/api/sessions"): _api(lab, f"/api/sessions/{s['id']}", "DELETE")   # no live kernel holds the widgets
    page.goto("about:blank")
    open_notebook(page, lab, "tour.ipynb")
    p = page.locator(".widget-tab")
    p.get_by_text("glance: succeeded").wait_for()                   # the Jobs tab, as it was, from the saved state
    p.locator(".lm-TabBar-tab", has_text="Problem").click()
    p.get_by_text("holdout of churn/1").wait_for()
    shot(page, "09-reopened")
    assert page.remote_requests == [], page.remote_requests


def test_job_notebook_with_the_workbench_renders_static_html(project, browser):
    wb(project, "run", "glance", "--no-progress", check=0)
    run = runs(project)[0]
    page = browser.new_page()
    try:
        page.goto((project/run["report"]).as_uri())
        expect(page.locator(".wb-badge").first).to_have_text("succeeded", timeout=WAIT)
        body = page.locator("main")   # each check waits: the widgets may be drawn after the page has loaded
        for text in ["Problem charter", "ROI calculator", "holdout of churn/", "Registry", "champion", "glance",
                     "a plain widget", "pick: b"]:                 # any widget: drawn from its saved state
            expect(body).to_contain_text(text, timeout=WAIT)
        for text in ["Tab(children", "VBox("]:                     # no widget left as its Python repr
            expect(body).not_to_contain_text(text, timeout=WAIT)
        shot(page, "10-job-report")
    finally:
        page.close()
