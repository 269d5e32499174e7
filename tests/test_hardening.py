"""Hostile inputs: planted markup never runs in a report, personal data never reaches reports/, inputs are never
overwritten, malformed files exit 2 with a clear message."""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import WORKBENCH, runs, wb

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCRIPT_COL = "<script>alert('col')</script>"
IMG = "<img src=x onerror=alert('cat')>"
MAIL, PHONE = "planted.person.4711@example.com", "+41 44 555 01 23"


def cli(*args, cwd):
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def hostile(tmp_path):
    "A project whose data, settings and descriptions are full of markup and personal data no setting declares."
    from workbench.example import make_customers
    df = make_customers(600, months=3, seed=4)
    df[SCRIPT_COL] = np.random.default_rng(0).normal(size=len(df))
    df["plan"] = df.plan.astype(object)
    df.loc[df.index[::7], "plan"] = IMG                                   # a category with markup, 14% of rows
    df["contact"] = [f"user{i}@example.org" for i in range(len(df))]
    df["callback"] = [f"+41 44 555 {i // 100:02d} {i % 100:02d}" for i in range(len(df))]
    df.loc[5, ["contact", "callback"]] = [MAIL, PHONE]
    (tmp_path / "data").mkdir()
    df.to_parquet(tmp_path / "data" / "customers.parquet", index=False)
    (tmp_path / "settings.ini").write_text("""
[project]
name = hostile
description = <img src=x onerror=alert('desc')>

[problem]
target = churned
positive_class = True
time_column = snapshot_month
id_column = customer_id

[train]
candidates = dummy, linear
cv_folds = 2

[source:customers]
path = data/customers.parquet
owner = <script>alert('owner')</script>
description = <b onmouseover=alert('src')>customers</b>
keys = customer_id, snapshot_month
""")
    p = cli("contract", "infer", "customers", "--out", "contracts/customers.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    c = json.loads((tmp_path / "contracts" / "customers.json").read_text())
    for col in ("contact", "callback"):                                   # someone "confirms" they are not sensitive
        c["columns"][col]["sensitive"] = False
    (tmp_path / "contracts" / "customers.json").write_text(json.dumps(c))
    df.loc[3, "monthly_charges"] = -50.0                                  # a quarantined row carries personal data
    df.to_parquet(tmp_path / "data" / "customers.parquet", index=False)
    for job in ("profile", "quality", "train"):
        wb(tmp_path, "run", job, "--no-progress", check=0)
    return tmp_path


def test_personal_data_never_reaches_reports(hostile):
    produced = [f for f in (hostile / "reports").rglob("*") if f.is_file()]
    assert len(produced) >= 7
    for f in produced:
        blob = f.read_bytes()
        assert MAIL.encode() not in blob and PHONE.encode() not in blob, f
    assert not list((hostile / "reports").rglob("quarantine*"))          # raw rows are data, not reports
    [q] = list((hostile / ".workbench" / "runs").rglob("quarantine.parquet"))
    rows = pd.read_parquet(q)
    assert rows.contact.tolist() == ["<redacted>"] and "monthly_charges: negative" in rows._reason[0]


def test_markup_from_data_and_settings_is_shown_as_text(hostile):
    for run in runs(hostile):
        assert run["status"] == "succeeded", run
        page = (hostile / run["report"]).read_text()
        assert "<script" not in page and "<img src=x" not in page and "<b onmouseover" not in page, run["job"]
        assert 'http-equiv="Content-Security-Policy"' in page
    pages = {r["job"]: (hostile / r["report"]).read_text() for r in runs(hostile)}
    assert "<th>&lt;script&gt;alert('col')&lt;/script&gt;</th>" in pages["quality"]             # shown, as text
    assert "&lt;b onmouseover=alert('src')&gt;customers&lt;/b&gt;" in pages["profile"]
    assert "owner: &lt;script&gt;alert('owner')&lt;/script&gt;" in pages["profile"]
    assert "&lt;img src=x onerror=alert('desc')&gt;" in pages["train"]                         # the model card's intended use


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("WORKBENCH_REQUIRE_BROWSER"), reason="no chromium on this machine")
def test_no_report_runs_planted_script_in_a_real_browser(hostile):
    assert CHROMIUM, "WORKBENCH_REQUIRE_BROWSER is set but no chromium was found"
    from playwright.sync_api import sync_playwright
    pages = [hostile / "reports" / "index.html", *[hostile / r["report"] for r in runs(hostile)]]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                                              "--disable-background-networking", "--disable-component-update"])
        ctx = b.new_context()
        dialogs, remote = [], []
        ctx.on("page", lambda pg: pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))
        ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:", "about:"))
                  else (remote.append(route.request.url), route.abort()))
        for f in pages:
            pg = ctx.new_page()
            pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            pg.goto(f.as_uri())
            pg.wait_for_load_state("load")
            pg.mouse.move(200, 200); pg.mouse.move(400, 600)                 # hover over whatever is there
            pg.wait_for_timeout(300)
            if "profile" in f.parts:
                frame = pg.frame_locator("iframe").first
                assert frame.locator("text=Overview").first.is_visible()       # the sandboxed profile still works
                assert pg.locator("iframe").first.get_attribute("sandbox") == "allow-scripts"
            pg.close()
        b.close()
    assert dialogs == [] and remote == []


def test_outputs_never_overwrite_inputs(project):
    data = project / "data" / "customers"
    before = {f.name: f.read_bytes() for f in data.iterdir()}
    assert cli("contract", "infer", "customers", "--out", "contracts/customers.json", cwd=project).returncode == 0
    one = sorted(data.iterdir())[0]
    for target in (str(one), str(data / "q.parquet"), "data/customers/q.parquet"):
        p = cli("validate", str(one), "--contract", "contracts/customers.json", "--quarantine", target, cwd=project)
        assert p.returncode == 2 and "refusing to write the quarantine file" in p.stderr, p.stderr
    p = cli("contract", "infer", str(one), "--out", str(one), cwd=project)
    assert p.returncode == 2 and "refusing to write the contract" in p.stderr
    p = wb(project, "run", "quality", "-p", "quarantine", f"data/customers/{one.name}", "--no-progress")
    assert p.returncode == 1 and "refusing to write the quarantine file" in runs(project)[0]["error"]
    assert {f.name: f.read_bytes() for f in data.iterdir()} == before   # nothing written over, nothing added


def test_project_name_cannot_escape_the_project(tmp_path):
    (tmp_path / "settings.ini").write_text("[project]\nname = ../../x\n")
    p = wb(tmp_path, "check")
    assert p.returncode == 2 and "[project] name='../../x': a project name starts with a letter" in p.stderr


def test_a_changed_model_file_is_never_loaded(tmp_path):
    from sklearn.datasets import load_iris
    load_iris(as_frame=True).frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "settings.ini").write_text("[project]\nname = t\n[source:d]\npath = d.csv\n[problem]\ntask = multiclass\n"
                                           "target = target\n[train]\ncandidates = linear\ncv_folds = 2\n")
    out = json.loads(wb(tmp_path, "train", "--json", check=0).stdout)
    model = Path(out["path"]) / "model.skops"
    model.write_bytes(model.read_bytes()[:-20] + b"x" * 20)
    p = wb(tmp_path, "evaluate", out["model"], str(tmp_path / "d.csv"))
    assert p.returncode == 2 and "does not match the sha256 recorded" in p.stderr


@pytest.mark.parametrize("field, value, message", [
    ("tolerance", "null", "tolerance=None: expected a number"), ("tolerance", "NaN", "tolerance=nan"),
    ("categories", "5", "categories=5: expected a list"), ("nullable", '"no"', "nullable='no': expected true or false"),
    ("max_missing", "-0.5", "max_missing=-0.5: expected a share"),
])
def test_malformed_contracts_exit_2_naming_the_key(tmp_path, field, value, message):
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "c.json").write_text(f'{{"columns": {{"a": {{"dtype": "float", "{field}": {value}}}}}}}')
    p = cli("validate", "d.csv", "--contract", "c.json", cwd=tmp_path)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_user_columns_named_like_the_quarantines_keep_their_values(tmp_path):
    df = pd.DataFrame({"_row": ["r1", "r2", "r3"], "_reason": ["x", "y", "z"], "v": [1.0, 2.0, 3.0]})
    df.to_csv(tmp_path / "ref.csv", index=False)
    assert cli("contract", "infer", "ref.csv", "--out", "c.json", cwd=tmp_path).returncode == 0
    df.assign(v=["a", 2.0, 3.0]).to_csv(tmp_path / "new.csv", index=False)
    p = cli("validate", "new.csv", "--contract", "c.json", "--quarantine", "q.csv", cwd=tmp_path)
    assert p.returncode == 1
    q = pd.read_csv(tmp_path / "q.csv")
    assert q[["__row", "_row", "_reason", "__reason"]].iloc[0].tolist() == [0, "r1", "x", "v: not a float"]


def test_bad_status_filter_and_dash_values(project):
    p = wb(project, "runs", "--status", "bogus")
    assert p.returncode == 2 and "invalid choice: 'bogus'" in p.stderr
    wb(project, "run", "ok", "-p", "n=-4", "--no-progress", check=0)
    assert runs(project)[0]["metrics"]["answer"] == -8


def test_a_killed_run_is_failed_when_the_history_is_read_and_never_linked(project):
    proc = subprocess.Popen([WORKBENCH, "--project", str(project), "run", "slow", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((project / ".workbench" / "tmp").glob("*.ipynb")):
        time.sleep(0.3)
    time.sleep(2)
    proc.kill()
    proc.wait(timeout=30)
    [run] = runs(project)                                                    # reading the history reaps the dead run
    assert run["status"] == "failed" and "ended without recording a result" in run["error"]
    assert not (project / run["report"]).exists()
    index = (project / "reports" / "index.html").read_text()
    assert run["id"] in index and f'{run["id"]}.html' not in index and 'href="None"' not in index   # listed, no dead link
    assert not list((project / ".workbench" / "tmp").glob("*.ipynb"))        # its temporary notebook is gone


def test_unusable_places_and_files_exit_2(project, tmp_path):
    p = cli("contract", "infer", "customers", "--out", "/proc/contract.json", cwd=project)
    assert p.returncode == 2 and "cannot write '/proc/contract.json'" in p.stderr and "Traceback" not in p.stderr
    (project / ".workbench").mkdir(exist_ok=True)
    (project / ".workbench" / "runs.sqlite").write_bytes(b"garbage" * 500)
    p = wb(project, "runs")
    assert p.returncode == 2 and "is damaged" in p.stderr and "Traceback" not in p.stderr
    (project / ".workbench" / "runs.sqlite").unlink()
    ini = project / "settings.ini"
    ini.write_text(ini.read_text().replace("reports_dir = reports", "reports_dir = reports.txt"))
    (project / "reports.txt").write_text("a file, not a folder")
    p = wb(project, "run", "ok", "--no-progress")
    assert p.returncode == 2 and "cannot write" in p.stderr and "reports.txt" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "sub").mkdir()
    (tmp_path / "settings.ini").write_text("[project]\nname = parent\n")
    (tmp_path / "sub" / "settings.ini").write_text("")
    p = subprocess.run([WORKBENCH, "check"], capture_output=True, text=True, cwd=tmp_path / "sub")
    assert p.returncode == 2 and "sub/settings.ini: is empty" in p.stderr


def test_three_ctrl_c_still_record_the_run_and_exit_130(project):
    import signal
    proc = subprocess.Popen([WORKBENCH, "--project", str(project), "run", "slow", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((project / ".workbench" / "tmp").glob("*.ipynb")):
        time.sleep(0.3)
    time.sleep(3)                                                            # the kernel is in the sleeping cell
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    [run] = runs(project)
    assert run["status"] == "cancelled" and (project / run["report"]).exists()


def test_a_file_size_limit_mid_run_fails_the_run_with_its_cause_and_leaves_no_partial_file(project):
    """A real EFBIG: the run's processes may write no file beyond 400 kB (RLIMIT_FSIZE; Python ignores SIGXFSZ, so
    the write fails as a full disk would). The profile page is larger than that."""
    import resource

    def limit(): resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))
    p = subprocess.run([WORKBENCH, "--project", str(project), "run", "profile", "--no-progress"], capture_output=True, text=True,
                       preexec_fn=limit, timeout=300)
    assert p.returncode == 1 and "File too large" in p.stderr
    [run] = runs(project)
    assert run["status"] == "failed" and "[Errno 27] File too large" in run["error"]
    assert not list((project / "reports").rglob("profile.html"))              # no truncated page
    assert not list((project / ".workbench").rglob("*.ipynb"))                # no temporary notebook
    assert not list(project.rglob("*.tmp"))
