#!/usr/bin/env python3
"""Enqueue a LivenessDetection job from Python with the standard `pika` client and wait for its result.

An example producer for other services; the Rust equivalent is `liveness enqueue ... --wait`.
The message contract is in docs/operations.md.

    pip install pika
    python3 examples/clients/enqueue.py IMG1 [IMG2] [--tag right] [--reference-number R]

What it does, step by step:
  1. builds the BWS request body {"liveImages":[{"image":"<base64>","tags":[...]}]} (tags go on
     the last image: a challenge is only valid on the second image);
  2. declares a private, server-named, exclusive reply queue and consumes from it;
  3. turns on publisher confirms and publishes the job to the `livenessdetection` queue through
     the default exchange, persistent, with message_id (the job id), correlation_id, reply_to,
     timestamp and the headers reference-number / authorization / deadline; mandatory, so that a
     job is refused when no job queue exists yet (start a worker first);
  4. waits for the reply whose correlation_id matches and prints its headers and body.

Exit status: 0 for status 200, 2 for another status (400, 401, 408, 500, 503), 1 when the job
could not be published or no result came in time.
"""

import argparse
import base64
import datetime
import json
import os
import sys
import time
import uuid

import pika
import pika.exceptions


def build_body(images, tags):
    live_images = []
    for path in images:
        with open(path, "rb") as f:
            live_images.append({"image": base64.b64encode(f.read()).decode("ascii"), "tags": []})
    live_images[-1]["tags"] = list(tags)
    return json.dumps({"liveImages": live_images}).encode("utf-8")


def main():
    p = argparse.ArgumentParser(description="Enqueue a LivenessDetection job and print its result.")
    p.add_argument("images", nargs="+", metavar="IMG", help="one or two image files (PNG, JPEG, WebP, BMP)")
    p.add_argument("--tag", "-t", action="append", default=[],
                   help="challenge tag of the last image: up, down, left, right, any (repeatable)")
    p.add_argument("--reference-number", help="echoed in the result's reference-number header")
    p.add_argument("--token", default=os.environ.get("LIVENESS_TOKEN"),
                   help="JWT sent as 'authorization: Bearer <token>' (default: $LIVENESS_TOKEN)")
    p.add_argument("--deadline-seconds", type=float,
                   help="the worker answers 408 instead of scoring when it starts the job later than this")
    p.add_argument("--url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
                   help="broker URL (default: $AMQP_URL or amqp://guest:guest@127.0.0.1:5672/%%2f)")
    p.add_argument("--queue", default="livenessdetection", help="job queue (default: livenessdetection)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the result (default 60)")
    p.add_argument("--pretty", action="store_true", help="indent the JSON body")
    args = p.parse_args()
    if len(args.images) > 2:
        p.error("a LivenessDetection job takes one or two images")

    body = build_body(args.images, args.tag)
    job_id = str(uuid.uuid4())
    headers = {}
    if args.reference_number:
        headers["reference-number"] = args.reference_number
    if args.token:
        headers["authorization"] = "Bearer " + args.token
    if args.deadline_seconds is not None:
        deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=args.deadline_seconds)
        headers["deadline"] = deadline.isoformat(timespec="milliseconds")  # RFC 3339

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    try:
        channel = connection.channel()

        # 2. The reply queue: named by the broker, deleted when this connection closes.
        reply_queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        result = {}

        def on_reply(ch, method, properties, payload):
            # Other results cannot arrive on a private queue, but checking is cheap and is what a
            # shared reply queue would need.
            if properties.correlation_id == job_id:
                result["properties"] = properties
                result["body"] = payload

        channel.basic_consume(queue=reply_queue, on_message_callback=on_reply, auto_ack=True)

        # 3. Publish with confirms: basic_publish returns once the broker has taken the job,
        #    and raises when it refuses it (nack) or cannot route it (mandatory).
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,  # 2
            message_id=job_id,
            correlation_id=job_id,
            reply_to=reply_queue,
            timestamp=int(time.time()),
            headers=headers,
        )
        try:
            channel.basic_publish(exchange="", routing_key=args.queue, body=body,
                                  properties=properties, mandatory=True)
        except pika.exceptions.UnroutableError:
            print(f"enqueue: queue {args.queue!r} does not exist (start a worker first: it declares it)",
                  file=sys.stderr)
            return 1
        except pika.exceptions.NackError:
            print("enqueue: the broker refused the job (nack)", file=sys.stderr)
            return 1
        print(f"published job {job_id}, waiting for its result", file=sys.stderr)

        # 4. Wait for the result.
        deadline = time.monotonic() + args.timeout
        while "body" not in result:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                print(f"enqueue: no result within {args.timeout:g} s", file=sys.stderr)
                return 1
            connection.process_data_events(time_limit=min(remaining, 1.0))
    finally:
        if connection.is_open:
            connection.close()

    props = result["properties"]
    h = props.headers or {}
    status = int(h.get("status-code", 0))
    for name in ("status-code", "jobid", "bws-version", "reference-number", "date"):
        if name in h:
            value = h[name].decode() if isinstance(h[name], bytes) else h[name]
            print(f"{name}: {value}", file=sys.stderr)
    print(f"correlation_id: {props.correlation_id}", file=sys.stderr)
    text = result["body"].decode("utf-8", "replace")
    if args.pretty:
        try:
            text = json.dumps(json.loads(text), indent=2)
        except ValueError:
            pass
    print(text)
    return 0 if status == 200 else 2


if __name__ == "__main__":
    sys.exit(main())
