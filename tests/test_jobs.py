"""End-to-end job runs through the real CLI, a real papermill kernel and real files."""
import hashlib
import html
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import WORKBENCH, runs, wb

from workbench.jobs import bundled_notebooks

RUN_FIELDS = {"id", "job", "status", "started_at", "ended_at", "parameters", "report", "alerts"}


def external_refs(page: str) -> list[str]:
    "Resources the page (or a page inlined in it with srcdoc) would load from the network; plain links don't count."
    text = html.unescape(page)   # what an iframe's srcdoc holds, as markup
    tags = re.findall(r"<(?:script|img|link|iframe|source|video|audio|embed)\b[^>]*>", text, re.I)
    loaded = [m for t in tags for m in re.findall(r'(?:src|href)\s*=\s*["\']?((?:https?:)?//[^"\'\s>]+)', t)]
    return loaded + re.findall(r"(?:@import|url\()\s*[\"']?((?:https?:)?//[^\"')\s]+)", text)


def test_profile_job_through_cli(project):
    p = wb(project, "run", "profile", "--no-progress", check=0)
    assert "succeeded: profile run" in p.stdout
    [run] = runs(project)
    assert RUN_FIELDS <= set(run) and run["status"] == "succeeded" and run["job"] == "profile"
    assert run["parameters"] == {"data": "customers"}            # from settings.ini
    assert run["metrics"]["rows"] == 4_500 and run["metrics"]["columns"] == 19
    assert run["metrics"]["profile_mode"] == "full"
    report = project / run["report"]
    html = report.read_text()
    assert "Profile of customers" in html and "4,500 rows × 19 columns" in html
    assert external_refs(html) == [], external_refs(html)[:5]
    assert f'<iframe sandbox="allow-scripts" src="{run["id"]}_files/profile.html"' in html   # the profile, sandboxed
    assert "Warning" not in html.split("<iframe")[0]             # no stray warnings in the report
    profile = (project / run["report"]).parent.joinpath(f"{run['id']}_files", "profile.html").read_text()
    assert external_refs(profile) == [] and 'http-equiv="Content-Security-Policy"' in profile[:2000]
    index = (project / "reports" / "index.html").read_text()
    assert run["id"] in index and f'href="profile/{run["id"]}.html"' in index


def test_profile_switches_to_large_mode_and_says_so(project):
    wb(project, "run", "profile", "-p", "max_cells", "10000", "-p", "sample_rows", "1000", "--no-progress", check=0)
    [run] = runs(project)
    assert run["metrics"]["profile_mode"] == "large"
    assert run["metrics"]["duplicate_rows"] == 0
    html = (project / run["report"]).read_text()
    assert "How this profile was sized" in html and "random sample of 1,000 rows" in html
    assert "Correlations (Spearman" in html


def test_failing_job_keeps_earlier_reports(project):
    wb(project, "run", "ok", "--no-progress", check=0)
    [good] = runs(project)
    good_report = project / good["report"]
    before = hashlib.sha256(good_report.read_bytes()).hexdigest()

    p = wb(project, "run", "boom", "--no-progress")
    assert p.returncode == 1, p.stderr
    assert "planted failure 42" in p.stderr
    bad = runs(project, "--job", "boom")[0]
    assert bad["status"] == "failed" and "ValueError: planted failure 42" in bad["error"]
    html = (project / bad["report"]).read_text()
    assert html.index('class="wb-error"') < html.index("jp-Cell")      # the error is on top, before any cell
    assert "This run failed" in html and "ValueError: planted failure 42" in html
    assert "never here" not in html.split("<body", 1)[1].replace("print(&#x27;never here&#x27;)", "")
    assert 'href="#papermill-error-cell"' in html and 'id="papermill-error-cell"' in html
    index = (project / "reports" / "index.html").read_text()
    row = re.search(r'<tr class="wb-row-failed"[^>]*>.*?</tr>', index, re.S).group(0)
    assert "boom" in row and "planted failure 42" in row and bad["id"] in row
    assert hashlib.sha256(good_report.read_bytes()).hexdigest() == before   # byte-identical
    assert {r["status"] for r in runs(project)} == {"succeeded", "failed"}


def test_mistyped_parameter_rejected_before_kernel(project):
    p = wb(project, "run", "ok", "-p", "n", "twelve")
    assert p.returncode == 2
    assert "parameter n='twelve' (command line -p): expected int" in p.stderr
    assert "Traceback" not in p.stderr
    p = wb(project, "run", "ok", "-p", "m", "1")
    assert p.returncode == 2 and "unknown parameter m='1'" in p.stderr and "parameters are n" in p.stderr
    assert runs(project) == []                                 # nothing ran, nothing recorded
    assert not (project / "reports" / "ok").exists()
    assert not list(project.glob(".workbench/tmp/*.ipynb"))   # papermill never wrote a notebook: no kernel started


def test_broken_settings_message(project):
    ini = project / "settings.ini"
    ini.write_text(ini.read_text().replace("schedule = 0 6 * * 1", "schedule = 0 6 * *").replace("[job:ok]", "[job:ok]\ntimeout = soon"))
    p = wb(project, "run", "profile")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "settings.ini [job:profile] schedule='0 6 * *': a cron expression has 5 fields (minute hour day month weekday), got 4" in p.stderr
    assert "settings.ini [job:ok] timeout='soon': expected a whole number" in p.stderr
    assert not (project / "reports").exists() and not (project / ".workbench").exists()


def test_unknown_job_and_check(project):
    p = wb(project, "run", "nosuch")
    known = ", ".join(sorted({"boom", "ok", "slow"} | set(bundled_notebooks())))
    assert p.returncode == 2 and f"unknown job 'nosuch'; known jobs: {known}" in p.stderr
    assert "ok (" in wb(project, "check", check=0).stdout
    ini = project / "settings.ini"
    ini.write_text(ini.read_text() + "\n[job:typo]\nnotebook = profile\nsample_row = 5\n")
    p = wb(project, "check")
    assert p.returncode == 2 and "unknown parameter sample_row='5'; did you mean 'sample_rows'?" in p.stderr


def test_two_runs_at_once_are_both_recorded(project):
    procs = [subprocess.Popen([WORKBENCH, "--project", str(project), "run", job, "--no-progress"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for job in ("ok", "profile")]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    recorded = runs(project)
    assert sorted(r["job"] for r in recorded) == ["ok", "profile"]
    assert all(r["status"] == "succeeded" for r in recorded)
    index = (project / "reports" / "index.html").read_text()
    assert all(r["id"] in index for r in recorded) and "running" not in re.sub(r"<style>.*?</style>", "", index, flags=re.S)


def test_run_timeout(project):
    t = time.monotonic()
    p = wb(project, "run", "slow", "-p", "seconds", "3600", "--timeout", "4", "--no-progress")
    assert p.returncode == 124, p.stderr
    assert time.monotonic() - t < 280                     # only the timeout can have ended an hour-long cell
    [run] = runs(project)
    assert run["status"] == "timed_out" and "exceeded its timeout" in run["error"]
    assert "This run timed out" in (project / run["report"]).read_text()


def test_cell_timeout(project):
    p = wb(project, "run", "slow", "--cell-timeout", "3", "--no-progress")
    assert p.returncode == 124
    [run] = runs(project)
    assert run["status"] == "timed_out" and "per-cell timeout of 3 s" in run["error"]


def test_ctrl_c_cancels_and_still_reports(project):
    proc = subprocess.Popen([WORKBENCH, "--project", str(project), "run", "slow", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not runs(project):
        time.sleep(0.3)
    time.sleep(4)   # let the kernel start and enter the sleeping cell
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    [run] = runs(project)
    assert run["status"] == "cancelled" and "interrupted by the user (Ctrl-C)" in run["error"]
    assert Path(project / run["report"]).exists()


def test_parameters_from_settings_and_cli_are_typed(project):
    ini = project / "settings.ini"
    ini.write_text(ini.read_text().replace("notebook = jobs/ok.ipynb", "notebook = jobs/ok.ipynb\nn = 5"))
    wb(project, "run", "ok", "--no-progress", check=0)
    wb(project, "run", "ok", "-p", "n", "7", "--no-progress", check=0)
    latest, first = runs(project)
    assert first["parameters"] == {"n": 5} and first["metrics"] == {"answer": 10}
    assert latest["parameters"] == {"n": 7} and latest["metrics"] == {"answer": 14}
    assert "result 14" in (project / latest["report"]).read_text()


def test_run_history_survives_processes_starting_together(tmp_path):
    "SQLite refuses a journal-mode change at once when another process makes it too: the store must not care."
    code = ("import os, socket, sys, time\nfrom workbench.runs import RunStore, RunRecord, utcnow\n"
            "t0 = float(sys.argv[2])\nwhile time.time() < t0: pass\n"
            "st = RunStore(sys.argv[1])\nst.add(RunRecord(str(os.getpid()), 'j', 'running', utcnow(), host=socket.gethostname(), pid=os.getpid()))\n"
            "st.update(str(os.getpid()), status='succeeded')\nprint(len(st.list()) >= 1)")
    import sys as _sys
    for attempt in range(5):
        db = tmp_path / f"state{attempt}" / "runs.sqlite"
        start = time.time() + 1.0
        procs = [subprocess.Popen([_sys.executable, "-c", code, str(db), str(start)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        from workbench.runs import RunStore
        assert {r.status for r in RunStore(db).list()} == {"succeeded"} and len(RunStore(db).list()) == 4
