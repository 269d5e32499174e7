"""The scheduler on real projects: real `workbench run` processes, a fake clock for tick-level tests, and the real
daemon crashed with kill -9, restarted and stopped with SIGTERM."""
import ast
import json
import logging
import os
import re
import signal
import subprocess
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import WORKBENCH, runs, wb, write_job
from prometheus_client.parser import text_string_to_metric_families

from workbench.runs import RunStore
from workbench.schedule import Scheduler, SchedulerState, due_slots, fire_times
from workbench.schedule_widget import ScheduleBrowser
from workbench.settings import JobSettings, load_settings

UTC = timezone.utc
DAY = datetime(2030, 1, 7, tzinfo=UTC)   # a Monday


class Clock:
    "A clock the test moves by hand."
    def __init__(self, t: datetime): self.t = t
    def __call__(self): return self.t
    def at(self, hh: int, mm: int, ss: int = 0, days: int = 0):
        self.t = DAY + timedelta(days=days, hours=hh, minutes=mm, seconds=ss)
        return self.t


def configure(project: Path, jobs: str) -> None:
    "The example project with its own schedules removed and `jobs` (settings.ini sections) added."
    ini = project / "settings.ini"
    ini.write_text(re.sub(r"(?m)^schedule = .*\n", "", ini.read_text()) + textwrap.dedent(jobs))


def settle(s: Scheduler, timeout: float = 120) -> list:
    "Tick until nothing this scheduler started still runs; the tries that ended meanwhile."
    ended, deadline = [], time.monotonic() + timeout
    while True:
        ended += s.tick()["finished"]
        if not any(t.status != "queued" for t in s.pending()): return ended
        assert s.wait(deadline - time.monotonic()), "runs still going at the timeout"


def slot(hh: int, mm: int, ss: int = 0, days: int = 0) -> str:
    "A time of DAY as the scheduler stores it."
    return (DAY + timedelta(days=days, hours=hh, minutes=mm, seconds=ss)).isoformat(timespec="microseconds")


def disjoint(records: list[dict]) -> bool:
    "No two of the runs overlapped in time."
    rs = sorted(records, key=lambda r: r["started_at"])
    return all(a["ended_at"] and a["ended_at"] <= b["started_at"] for a, b in zip(rs, rs[1:]))


def test_fire_times_time_zones_and_catch_up_policies():
    berlin = JobSettings(name="b", schedule="30 2 * * *", timezone="Europe/Berlin")
    fall = fire_times(berlin, datetime(2025, 10, 25, 12, tzinfo=UTC), datetime(2025, 10, 26, 12, tzinfo=UTC))
    assert fall == [datetime(2025, 10, 26, 0, 30, tzinfo=UTC)]               # 02:30 CEST, not again at 02:30 CET
    ny = JobSettings(name="n", schedule="0 9 * * 1-5", timezone="America/New_York")
    assert fire_times(ny, DAY, DAY + timedelta(days=1)) == [DAY + timedelta(hours=14)]   # 09:00 EST
    hourly = dict(name="h", schedule="0 * * * *")
    last, now = DAY + timedelta(hours=1, minutes=30), DAY + timedelta(hours=5, seconds=20)   # 02:00 … 05:00 fired
    fired = fire_times(JobSettings(**hourly), last, now)
    assert len(fired) == 4
    assert due_slots(JobSettings(**hourly, catch_up="latest"), last, now) == (fired[-1:], fired[:-1])
    assert due_slots(JobSettings(**hourly, catch_up="all"), last, now) == (fired, [])
    assert due_slots(JobSettings(**hourly, catch_up="none"), last, now) == (fired[-1:], fired[:-1])   # 05:00 is on time
    assert due_slots(JobSettings(**hourly, catch_up="none"), last, now + timedelta(minutes=2)) == ([], fired)
    assert due_slots(JobSettings(**hourly, catch_up="all"), last, now, limit=2)[0] == fired[-2:]


def test_schedule_settings_are_validated(project):
    configure(project, """
        [job:a]
        notebook = jobs/ok.ipynb
        schedule = 0 6 * * *
        timezone = Europe/Berln
        depends_on = b
        retries = -1
        catch_up = sometimes

        [job:b]
        notebook = jobs/ok.ipynb
        depends_on = a, nobody
        """)
    p = wb(project, "scheduler", "status", check=2)
    for msg in ["[job:a] timezone='Europe/Berln': not a time zone; did you mean 'Europe/Berlin'?",
                "[job:a] retries='-1': must be at least 0", "[job:a] catch_up='sometimes': allowed values are latest, all, none",
                "[job:b] depends_on='nobody': not a [job:NAME]", "a -> b -> a is a cycle"]:
        assert msg in p.stderr, p.stderr


def test_catch_up_after_a_restart_runs_exactly_once(project):
    configure(project, """
        [job:latest]
        notebook = jobs/ok.ipynb
        schedule = 0 * * * *

        [job:every]
        notebook = jobs/ok.ipynb
        schedule = 0 * * * *
        catch_up = all

        [job:skip]
        notebook = jobs/ok.ipynb
        schedule = 0 * * * *
        catch_up = none
        """)
    clock = Clock(DAY)
    clock.at(5, 30)
    assert Scheduler(project, now=clock).tick()["queued"] == []             # first seen: from now on
    clock.at(7, 30)                                                        # down meanwhile: 06:00 and 07:00 missed
    s = Scheduler(project, now=clock, stop_grace=600)                      # restarted
    queued = s.tick()["queued"]
    assert sorted((t.job, t.slot) for t in queued) == [("every", slot(6, 0)), ("every", slot(7, 0)), ("latest", slot(7, 0))]
    s.shutdown()                                                           # a stop lets the running ones end ...
    ended = s.finished
    assert sorted((t.job, t.slot, t.status) for t in ended) == [("every", slot(6, 0), "succeeded"), ("latest", slot(7, 0), "succeeded")]
    s = Scheduler(project, now=clock)                                      # ... and what was still queued runs after a restart
    tick = s.tick()
    assert tick["queued"] == [] and [(t.job, t.slot) for t in tick["started"]] == [("every", slot(7, 0))]
    ended += settle(s)
    assert Scheduler(project, now=clock).tick() == {"queued": [], "started": [], "finished": []}   # restarted again: nothing twice
    history = runs(project)
    assert sorted(r["job"] for r in history) == ["every", "every", "latest"]
    assert disjoint([r for r in history if r["job"] == "every"])            # one after the other, never side by side
    assert {t.run_id for t in ended} == {r["id"] for r in history}
    assert SchedulerState.of(load_settings(project)).locks() == {}


def test_retries_with_backoff_dependencies_pause_and_metrics(project):
    configure(project, """
        [job:flaky]
        notebook = jobs/boom.ipynb
        schedule = 0 6 * * *
        retries = 2
        retry_delay = 60

        [job:after-flaky]
        notebook = jobs/ok.ipynb
        depends_on = flaky

        [job:first]
        notebook = jobs/ok.ipynb
        schedule = 0 6 * * *

        [job:second]
        notebook = jobs/ok.ipynb
        depends_on = first

        [job:paused]
        notebook = jobs/ok.ipynb
        schedule = 0 6 * * *
        enabled = false
        """)
    clock = Clock(DAY)
    clock.at(5, 59)
    s = Scheduler(project, now=clock)
    s.tick()
    clock.at(6, 0, 10)
    tick = s.tick()
    assert sorted(t.job for t in tick["queued"]) == ["after-flaky", "first", "flaky", "second"]
    assert sorted(t.job for t in tick["started"]) == ["first", "flaky"]     # the others wait for them
    st, started = s.state, []
    while len(st.tasks(job="flaky")) < 2 or not started:                   # until flaky failed and second started after first
        assert s.wait(120)
        started += s.tick()["started"]
    [f1, f2] = st.tasks(job="flaky")
    assert (f1.status, f2.status, f2.not_before) == ("failed", "queued", slot(6, 1, 10))   # retry_delay later
    assert [t.job for t in started] == ["second"] and st.tasks(job="first")[0].status == "succeeded"   # after first, same tick
    assert [t.status for t in st.tasks(job="after-flaky")] == ["queued"]   # waits while flaky has tries left
    clock.at(6, 1, 9)
    assert s.tick()["started"] == []                                       # the backoff is not over
    clock.at(6, 1, 10)
    assert [t.attempt for t in s.tick()["started"]] == [2]
    settle(s)
    assert [t.status for t in st.tasks(job="second")] == ["succeeded"]
    assert st.tasks(job="flaky")[-1].not_before == slot(6, 3, 10)        # 120 s: doubled
    clock.at(6, 3, 10)
    settle(s)
    assert [(t.attempt, t.status) for t in st.tasks(job="flaky")] == [(1, "failed"), (2, "failed"), (3, "failed")]
    [skipped] = st.tasks(job="after-flaky")
    assert skipped.status == "skipped" and "job 'flaky', which it depends on, failed" in skipped.note
    assert st.tasks(job="paused") == []
    history = runs(project)
    assert sorted((r["job"], r["status"]) for r in history) == [("first", "succeeded"), ("flaky", "failed"), ("flaky", "failed"),
                                                                 ("flaky", "failed"), ("second", "succeeded")]
    assert {t.run_id for t in st.tasks(job="flaky")} == {r["id"] for r in history if r["job"] == "flaky"}   # each try, its run
    prom = (project / ".workbench" / "metrics" / "workbench.prom").read_text()
    m = {(x.name, x.labels.get("job"), x.labels.get("status")): x.value for f in text_string_to_metric_families(prom) for x in f.samples}
    assert m[("workbench_job_last_run_status", "flaky", "failed")] == 1 and m[("workbench_job_last_run_status", "flaky", "succeeded")] == 0
    first = next(r for r in history if r["job"] == "first")
    assert m[("workbench_job_last_success_timestamp_seconds", "first", None)] == datetime.fromisoformat(first["ended_at"]).timestamp()
    assert m[("workbench_job_last_run_duration_seconds", "second", None)] > 0
    assert m[("workbench_job_enabled", "paused", None)] == 0 and ("workbench_job_next_run_timestamp_seconds", "paused", None) not in m
    assert m[("workbench_job_next_run_timestamp_seconds", "first", None)] == (DAY + timedelta(days=1, hours=6)).timestamp()


def _until_zombie(pid, timeout=10):
    "Wait until a killed, unreaped child is a zombie: `kill` returns before the process has died."
    deadline = time.monotonic() + timeout
    while (st := Path(f"/proc/{pid}/stat")).exists() and st.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, f"pid {pid} did not die within {timeout} s"
        time.sleep(0.01)


def test_a_job_never_overlaps_itself_and_stale_locks_are_taken_over(project, caplog):
    caplog.set_level(logging.INFO, logger="workbench.scheduler")
    configure(project, """
        [job:often]
        notebook = jobs/slow.ipynb
        seconds = 3
        schedule = * * * * *
        catch_up = none

        [job:blocked]
        notebook = jobs/ok.ipynb
        schedule = * * * * *
        catch_up = none
        """)
    state = SchedulerState.of(load_settings(project))
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert state.acquire("often", gone.pid, "scheduler") is None             # left by a process that died
    holder = subprocess.Popen(["sleep", "60"])
    assert state.acquire("blocked", holder.pid, "run now") is None           # held by a live one
    try:
        clock = Clock(DAY)
        clock.at(10, 0, 30)
        s = Scheduler(project, now=clock, grace=10)
        s.tick()
        clock.at(10, 1, 5)
        assert [t.job for t in s.tick()["started"]] == ["often"]
        assert f"took over the stale lock of job 'often': its holder (pid {gone.pid}" in caplog.text
        assert f"job blocked is due but locked by pid {holder.pid}" in caplog.text
        clock.at(10, 2, 5)                                                  # often is due again while it runs
        assert s.tick()["started"] == [] and [t.status for t in s.state.tasks(job="often")] == ["running"]
        holder.kill()                                                       # the holder dies (a zombie until reaped: still dead)
        _until_zombie(holder.pid)                                           # SIGKILL is delivered asynchronously
        assert [t.job for t in s.tick()["started"]] == ["blocked"]
        assert s.wait(300), "the runs did not end"
        clock.at(10, 3, 30)                                                 # 10:02 and 10:03 were missed while they ran
        tick = s.tick()
        assert sorted((t.job, t.status) for t in tick["finished"]) == [("blocked", "succeeded"), ("often", "succeeded")]
        assert tick["queued"] == [] and "job often: 2 scheduled time(s) missed" in caplog.text
        assert "catch_up = none: skipped" in caplog.text
    finally:
        holder.kill()
        holder.wait()
    assert sorted(r["job"] for r in runs(project)) == ["blocked", "often"]
    assert s.state.locks() == {}


def test_a_hung_run_is_ended_at_its_timeout_and_recorded_timed_out(project):
    configure(project, """
        [job:hang]
        notebook = jobs/slow.ipynb
        seconds = 600
        timeout = 3
        schedule = 0 6 * * *

        [job:stuck]
        notebook = jobs/slow.ipynb
        seconds = 600
        timeout = 900
        schedule = 0 6 * * *
        """)
    clock = Clock(DAY)
    clock.at(5, 59)
    s = Scheduler(project, now=clock, kill_grace=5)
    s.tick()
    clock.at(6, 0, 5)
    assert len(s.tick()["started"]) == 2
    history = RunStore(project / ".workbench" / "runs.sqlite")
    deadline = time.monotonic() + 180
    while not ({r.job: r.status for r in history.list(reap=False)} == {"hang": "timed_out", "stuck": "running"}):
        assert time.monotonic() < deadline, history.list(reap=False)
        time.sleep(0.2)
    ended = []
    while not ended: ended = s.tick()["finished"]; time.sleep(0.1)
    [hang] = ended                                                         # workbench run stopped it at 3 s itself
    assert (hang.job, hang.status, hang.note) == ("hang", "timed_out", None)
    clock.t += timedelta(seconds=900 + 5)                                  # stuck: its timeout and the grace have passed
    s.tick()
    [stuck] = settle(s, 180)
    assert (stuck.job, stuck.status) == ("stuck", "timed_out") and "ended by the scheduler 5 s past" in stuck.note
    rec = history.get(stuck.run_id)
    assert rec.status == "timed_out" and "ended by the scheduler" in rec.error
    assert s.state.locks() == {}


def test_settings_changes_are_picked_up_and_invalid_ones_rejected(project, caplog):
    caplog.set_level(logging.INFO, logger="workbench.scheduler")
    configure(project, """
        [job:daily]
        notebook = jobs/ok.ipynb
        schedule = 0 6 * * *
        """)
    ini = project / "settings.ini"
    clock = Clock(DAY)
    clock.at(5, 0)
    s = Scheduler(project, now=clock)
    s.tick()
    ini.write_text(ini.read_text().replace("schedule = 0 6 * * *", "schedule = 30 5 * * *"))
    clock.at(5, 10)
    s.tick()
    assert "changed: reloaded" in caplog.text and "job daily: schedule '30 5 * * *' (UTC), next run at 2030-01-07 05:30:00 UTC" in caplog.text
    clock.at(5, 30, 5)
    assert [t.slot for t in s.tick()["started"]] == [slot(5, 30)]           # the new schedule, without a restart
    settle(s)
    good = ini.read_text()
    ini.write_text(good.replace("schedule = 30 5 * * *", "schedule = 30 5 * *"))
    clock.at(6, 0)
    s.tick()
    assert "changed but cannot be used; the previous schedule keeps running" in caplog.text
    assert "schedule='30 5 * *': a cron expression has 5 fields" in caplog.text and s.settings_error
    clock.at(5, 30, 5, days=1)
    assert [t.slot for t in s.tick()["started"]] == [slot(5, 30, days=1)]   # the old schedule kept running
    settle(s)
    ini.write_text(good.replace("[job:daily]", "[job:daily]\nenabled = false"))
    clock.at(6, 0, days=1)
    s.tick()
    assert s.settings_error is None and not s.settings.jobs["daily"].enabled
    clock.at(5, 30, 5, days=2)
    assert s.tick()["queued"] == []                                         # paused
    ini.write_text(good)
    clock.at(6, 0, days=2)
    assert s.tick()["queued"] == []                                         # resumed: what came due while paused is not caught up
    assert [t.slot for t in s.state.tasks(job="daily")] == [slot(5, 30), slot(5, 30, days=1)]


def test_daemon_killed_restarted_and_stopped(project):
    "kill -9 mid-run, restart: no duplicate, no lost run, no stale lock; SIGTERM cancels the running job cleanly."
    write_job(project / "jobs", "beat", "import os, time\nfrom pathlib import Path\nfrom workbench.runs import record\n"
              "record(slot=os.environ.get('WORKBENCH_SCHEDULED_FOR', ''))\ntime.sleep(seconds)\n"
              "root = Path(os.environ['WORKBENCH_PROJECT'])\n"
              "while (root / 'hold').exists():   # the test's signal: stay in flight until the scheduler is stopped\n"
              "    (root / f\"held-{os.environ['WORKBENCH_RUN_ID']}\").touch()\n    time.sleep(0.1)",
              "seconds: float = 1")
    configure(project, """
        [job:beat]
        notebook = jobs/beat.ipynb
        schedule = * * * * * */4
        """)
    env = {**os.environ, "WORKBENCH_CRON_SECONDS": "1"}   # tests only: a sixth cron field, seconds
    log = project / "scheduler.log"
    history = RunStore(project / ".workbench" / "runs.sqlite")
    state = SchedulerState(project / ".workbench" / "scheduler.sqlite")
    def daemon():
        with open(log, "a") as f:
            return subprocess.Popen([WORKBENCH, "--project", str(project), "scheduler", "--tick", "0.3", "--stop-grace", "1"],
                                    env=env, stderr=f, stdout=f)
    def wait_for(pred, timeout=120):
        deadline = time.monotonic() + timeout
        while not (out := pred()):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return out
    def running(): return [r for r in history.list(job="beat", reap=False) if r.status == "running"]

    first, second = daemon(), None
    try:
        [inflight] = wait_for(running)
        first.kill()                                                        # kill -9 mid-run
        first.wait()
        s0 = datetime.fromisoformat(wait_for(lambda: [t.slot for t in state.tasks(job="beat") if t.pid == inflight.pid])[0])
        wait_for(lambda: history.get(inflight.id).status != "running")      # the run lives on and finishes by itself
        time.sleep(max(0.0, (s0 + timedelta(seconds=9) - datetime.now(UTC)).total_seconds()))   # two scheduled times missed
        second = daemon()
        wait_for(lambda: "catch_up = latest: running 1" in log.read_text())
        third = wb(project, "scheduler", env=env, check=2)                 # one scheduler per project
        assert "another scheduler runs for this project" in third.stderr
        assert f"scheduler: running, pid {second.pid}" in wb(project, "scheduler", "status", env=env, check=0).stdout
        wait_for(lambda: len(history.list(job="beat", status="succeeded", reap=False)) >= 2)
        (project / "hold").touch()                                          # the next run stays in flight ...
        cancel_id = wait_for(lambda: sorted(project.glob("held-*")))[0].name.removeprefix("held-")
        second.send_signal(signal.SIGTERM)                                  # ... until the stop cancels it
        assert second.wait(60) == 0
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None: p.kill()
    text = log.read_text()
    assert f"the run of beat (pid {inflight.pid}) that an earlier scheduler started has ended" in text
    assert "SIGTERM: stopping" in text and "scheduler stopped" in text
    recs = {r.id: r for r in history.list(job="beat", reap=False)}
    assert history.get(inflight.id).status == "succeeded"                   # not lost
    assert recs[cancel_id].status == "cancelled"                            # stopped cleanly, and recorded so
    assert not [r for r in recs.values() if r.status == "running"]
    tasks = state.tasks(job="beat")
    assert sorted(t.run_id for t in tasks) == sorted(recs)                   # every run is a scheduled try, once
    assert len({t.slot for t in tasks}) == len(tasks) and {t.attempt for t in tasks} == {1}   # no slot ran twice
    assert disjoint([r.to_dict() for r in recs.values()])                  # never beside itself, across the crash
    caught = min((t for t in tasks if t.slot > s0.isoformat(timespec="microseconds")), key=lambda t: t.slot)
    assert (datetime.fromisoformat(caught.slot) - s0).total_seconds() >= 8 and caught.status == "succeeded"   # the latest missed, once
    assert [t.status for t in tasks if t.run_id == cancel_id] == ["cancelled"]
    assert state.locks() == {} and state.daemon() is None                    # no stale lock left


def test_run_now_from_the_widget(project):
    configure(project, """
        [job:manual]
        description = <script>alert(1)</script> & co
        notebook = jobs/ok.ipynb
        schedule = 0 9 * * 1-5
        timezone = America/New_York
        """)
    b = ScheduleBrowser(load_settings(project))
    assert b.rows.children == () and b.buttons == {}                        # nothing read in the constructor
    b.refresh()
    b.buttons["manual"].click()
    assert b.buttons["manual"].disabled                                     # in the background: the click returned at once
    b.buttons["manual"].click()                                             # again while it runs: refused by the lock
    b.wait(120)
    [run] = runs(project)
    assert run["job"] == "manual" and run["status"] == "succeeded"
    assert not b.buttons["manual"].disabled
    page = b.jobs["manual"].value
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page and "<script>" not in page
    href = Path(os.path.relpath(project / run["report"], Path.cwd())).as_posix()
    assert f"href='{href}'" in page and (project / run["report"]).is_file()
    assert len(re.findall(r"\d\d:\d\d(:\d\d)? E[SD]T", page)) >= 3                # next runs in the job's time zone
    assert SchedulerState.of(load_settings(project)).locks() == {}


def test_cli_export_status_and_once(project, tmp_path):
    configure(project, """
        [job:extract]
        notebook = jobs/ok.ipynb
        schedule = 15 6 * * *
        timezone = Europe/Berlin
        retries = 2
        retry_delay = 30
        timeout = 600

        [job:learn]
        notebook = jobs/ok.ipynb
        depends_on = extract
        catch_up = all

        [job:publish]
        notebook = jobs/ok.ipynb
        depends_on = learn
        """)
    dag = tmp_path / "dags" / "workbench.py"
    assert wb(project, "scheduler", "export", "--format", "airflow", "--out", str(dag), check=0).stdout.strip() == f"wrote {dag}"
    tree = ast.parse(dag.read_text())
    compile(tree, str(dag), "exec")
    ops = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "BashOperator":
            kw = {k.arg: k.value for k in n.keywords}
            ops[ast.literal_eval(kw["task_id"])] = kw
    assert list(ops) == ["extract", "learn", "publish"]
    assert ast.literal_eval(ops["extract"]["bash_command"]) == f"{WORKBENCH} --project {project} run extract --no-progress"
    assert ast.literal_eval(ops["extract"]["retries"]) == 2
    assert ast.unparse(ops["extract"]["retry_delay"]) == "timedelta(seconds=30)"
    assert ast.unparse(ops["extract"]["execution_timeout"]) == "timedelta(seconds=660)"
    edges = [(n.left.slice.value, n.right.slice.value) for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.RShift)]
    assert edges == [("extract", "learn"), ("learn", "publish")]
    [dag_call] = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DAG"]
    kw = {k.arg: k.value for k in dag_call.keywords}
    assert ast.literal_eval(kw["schedule"]) == "15 6 * * *" and ast.literal_eval(kw["max_active_runs"]) == 1
    assert "tz='Europe/Berlin'" in ast.unparse(kw["start_date"]) and ast.literal_eval(kw["catchup"]) is False
    cron = wb(project, "scheduler", "export", "--format", "cron", check=0).stdout
    [line] = [x for x in cron.splitlines() if x.startswith("15 6 * * * ")]
    assert "CRON_TZ=Europe/Berlin\n15 6 * * * " in cron and "flock -n" in line
    assert line.index("run extract") < line.index("run learn") < line.index("run publish") and "{ sleep 60; " in line
    unit = wb(project, "scheduler", "export", "--format", "systemd", check=0).stdout
    assert f"ExecStart={WORKBENCH} --project {project} scheduler run --stop-grace 30" in unit and "KillMode=mixed" in unit
    status = json.loads(wb(project, "scheduler", "status", "--json", check=0).stdout)
    assert status["scheduler"] is None
    assert [(j["name"], j["next_run_local"] and j["next_run_local"][-4:]) for j in status["jobs"] if j["name"] in ("extract", "learn")] \
        in ([("extract", "CEST"), ("learn", None)], [("extract", " CET"), ("learn", None)])
    # --once: the first look starts the schedule from now; the next runs what is due, waits for it, and exits
    configure(project, """
        [job:tick]
        notebook = jobs/ok.ipynb
        schedule = * * * * * *
        """)
    env = {"WORKBENCH_CRON_SECONDS": "1"}
    wb(project, "scheduler", "--once", "--tick", "0.2", env=env, check=0)
    time.sleep(1.1)
    p = wb(project, "scheduler", "run", "--once", "--tick", "0.2", env=env, check=0)
    assert "tick for " in p.stderr and "succeeded" in p.stderr, p.stderr
    assert [(r.job, r.status) for r in RunStore(project / ".workbench" / "runs.sqlite").list(reap=False)] == [("tick", "succeeded")]


def test_run_now_shows_the_progress_of_the_run_cell_by_cell(project):
    write_job(project / "jobs", "steps", "import time\ntime.sleep(seconds)\n# ---\ntime.sleep(seconds)\n# ---\n"
              "time.sleep(seconds)\nprint('done')", "seconds: float = 2.5")
    configure(project, "[job:steps]\nnotebook = jobs/steps.ipynb\n")
    b = ScheduleBrowser(load_settings(project))
    b.refresh()
    bar, seen, lines = b.bars["steps"], [], []
    assert bar.layout.visibility == "hidden"
    bar.observe(lambda ch: seen.append((ch["new"], bar.max)), names="value")
    b.message.observe(lambda ch: lines.append(ch["new"]), names="value")
    b.run_now("steps")
    assert bar.layout.visibility == "visible"
    b.wait(180)
    [run] = runs(project)
    assert run["status"] == "succeeded"
    assert any(0 < done < total == 4 for done, total in seen), seen      # 4 code cells: the parameters, then 3 steps
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)             # never backwards
    assert any("running cell" in ln and "time.sleep(seconds)" in ln for ln in lines), lines
    assert bar.layout.visibility == "hidden" and "steps: <span" in b.message.value and "succeeded" in b.message.value
