#!/usr/bin/env python3
"""The broker's CPU per message for each step of a job's way through RabbitMQ, without a worker:
the jobs published (persistent, confirmed) into a quorum queue, delivered to a consumer with
the worker's prefetch and acked one at a time or N at a time with one `multiple` ack (what
`[amqp] ack_batch` does), then small result messages published and consumed the same way.
The job bodies are the Python peer's two images as one-image BWS requests, as in
`liveness-loadtest --mix peer`. Needs the local broker (guest/guest) and read access to the
broker's /proc/<pid>/stat (run as the same user or root).

    python3 -m venv .venv-broker && .venv-broker/bin/pip install --require-hashes \\
        -r scripts/broker-phases-requirements.txt
    .venv-broker/bin/python scripts/broker_phases.py --ack-batch 1
    .venv-broker/bin/python scripts/broker_phases.py --ack-batch 4

Prints one line per step: the broker's CPU (ms per message) and the wall time.
"""
import argparse
import base64
import json
import os
import subprocess
import time
import uuid

import pika


def broker_cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--ack-batch", type=int, default=1)
    ap.add_argument("--prefetch", type=int, default=6)
    ap.add_argument("--queue-type", default="quorum")
    a = ap.parse_args()
    pid = int(subprocess.check_output(["pgrep", "-f", "beam.smp"]).split()[0])
    bodies = [json.dumps({"liveImages": [{"image": base64.b64encode(open(f"{a.data}/{p}", "rb").read()).decode()}]}).encode()
              for p in ("bioid/challenge_right_1.png", "bioid/nod/001.jpg")]
    result = json.dumps({"status": "SUCCEEDED", "errors": [], "live": True, "livenessScore": 0.99,
                         "imageProperties": [{"rotated": 0, "qualityScore": 0.9, "faces": [],
                                              "qualityAssessments": [{"check": "Sharpness", "score": 1.0, "message": "x" * 60}] * 6}]}).encode()
    n = a.messages
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    ch = conn.channel()
    jobs, results = f"phases.{uuid.uuid4().hex}", f"phases.{uuid.uuid4().hex}.results"
    for q in (jobs, results):
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": a.queue_type})
    ch.confirm_delivery()
    persistent = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def step(name, fn):
        c0, t0 = broker_cpu_seconds(pid), time.perf_counter()
        fn()
        c1, t1 = broker_cpu_seconds(pid), time.perf_counter()
        print(f"{a.queue_type} queue, ack batch {a.ack_batch}: {name:30s} broker {1000 * (c1 - c0) / n:.3f} ms"
              f" per message, wall {1000 * (t1 - t0) / n:.3f} ms", flush=True)

    def consume(queue, prefetch, batch):
        def run():
            c = conn.channel()
            c.basic_qos(prefetch_count=prefetch)
            got = pending = 0
            for method, _, _ in c.consume(queue, inactivity_timeout=10):
                if method is None:
                    raise SystemExit(f"only {got} of {n} messages delivered")
                got += 1
                pending += 1
                if pending >= batch or got == n:
                    c.basic_ack(method.delivery_tag, multiple=batch > 1)
                    pending = 0
                if got == n:
                    break
            c.cancel()
        return run

    try:
        step("publish jobs (confirmed)", lambda: [ch.basic_publish("", jobs, bodies[i % 2], persistent) for i in range(n)])
        step("deliver and ack jobs", consume(jobs, a.prefetch, a.ack_batch))
        step("publish results (confirmed)", lambda: [ch.basic_publish("", results, result, persistent) for _ in range(n)])
        step("deliver and ack results", consume(results, 100, 1))
    finally:
        for q in (jobs, results):
            ch.queue_delete(q)
        conn.close()


if __name__ == "__main__":
    main()
