#!/usr/bin/env python3
"""A BWS client written the way BioID's published clients work, but in Python, so that the
integration tests (tests/grpc_python.rs) talk to the gateway with code that is not this
project's: gRPC through stubs that grpcio-tools generated from the proto files (`--stubs`),
REST through the standard library, and tokens made with PyJWT from a base64 client key decoded
to bytes, in the styles of BioID's clients:

  csharp   HS256, iss = sub = client id, aud "BWS", nbf/iat now, 5 minutes (BWSClient-RestGrpc-CSharp)
  java     HS512, iss = sub = client id, aud ["BWS"], iat now, 5 minutes (BWSClient-RestGrpc-Java)
  webapp   HS512, iss "demoWeApp", sub = client id, aud "bws", nbf/iat now, 10 minutes (BWSClient-WebApp)
  forged   the C# style signed with a key the service does not know
  expired  the C# style, expired ten minutes ago
  none     no authorization header

It makes one call and prints one JSON object on stdout: what came back (status, metadata,
trailers, the decision). It exits 0 when the call was made, whatever its status; 2 on a usage or
local error.
"""

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

import jwt  # PyJWT

FIFTY_MB = 50 * 1024 * 1024


def make_token(style, client_id, key_b64):
    if style == "none":
        return None
    now = int(time.time())
    key = base64.b64decode(key_b64)  # as Convert.FromBase64String(key) in BioID's clients
    if style == "csharp":
        claims = {"sub": client_id, "iss": client_id, "aud": "BWS", "nbf": now, "iat": now, "exp": now + 300}
        alg = "HS256"
    elif style == "java":
        claims = {"sub": client_id, "iss": client_id, "aud": ["BWS"], "iat": now, "exp": now + 300}
        alg = "HS512"
    elif style == "webapp":
        claims = {"sub": client_id, "iss": "demoWeApp", "aud": "bws", "nbf": now, "iat": now, "exp": now + 600}
        alg = "HS512"
    elif style == "forged":
        claims = {"sub": client_id, "iss": client_id, "aud": "BWS", "nbf": now, "iat": now, "exp": now + 300}
        alg = "HS256"
        key = os.urandom(32)
    elif style == "expired":
        claims = {"sub": client_id, "iss": client_id, "aud": "BWS", "nbf": now - 900, "iat": now - 900, "exp": now - 600}
        alg = "HS256"
    else:
        raise SystemExit(f"unknown token style {style!r}")
    return jwt.encode(claims, key, algorithm=alg)


def read_images(args):
    images = [open(p, "rb").read() for p in args.images]
    if args.random_image_bytes:
        images.append(os.urandom(args.random_image_bytes))
    if args.garbage_image:
        images.append(b"this is not an image file")
    return images


def metadata_dict(md):
    return {k: v for k, v in (md or [])}


def call_grpc(args, token, images):
    import grpc

    sys.path.insert(0, args.stubs)
    from Protos import bws_pb2, bws_pb2_grpc, bwsmessages_pb2

    options = [
        ("grpc.max_send_message_length", FIFTY_MB),
        ("grpc.max_receive_message_length", FIFTY_MB),
    ]
    with grpc.insecure_channel(args.grpc, options=options) as channel:
        metadata = []
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        if args.reference_number:
            metadata.append(("reference-number", args.reference_number))
        out = {"transport": "grpc"}
        if args.method == "health":
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            try:
                raw = check(b"", timeout=30)
                # HealthCheckResponse { ServingStatus status = 1; }: SERVING = 1, NOT_SERVING = 2.
                out.update(code="OK", serving_status=raw[1] if raw[:1] == b"\x08" else 0)
            except grpc.RpcError as e:
                out.update(code=e.code().name, message=e.details())
            return out
        stub = bws_pb2_grpc.BioIDWebServiceStub(channel)
        live_images = []
        for i, image in enumerate(images):
            tags = args.tag if i == len(images) - 1 and len(images) > 1 else []
            live_images.append(bwsmessages_pb2.ImageData(image=image, tags=tags))
        if args.method == "video":
            rpc, request = stub.VideoLivenessDetection, bws_pb2.VideoLivenessDetectionRequest(video=b"v")
        elif args.method == "photoverify":
            rpc, request = stub.PhotoVerify, bws_pb2.PhotoVerifyRequest(live_images=live_images, photo=b"p")
        else:
            rpc, request = stub.LivenessDetection, bws_pb2.LivenessDetectionRequest(live_images=live_images)
        try:
            response, call = rpc.with_call(request, metadata=metadata, timeout=120)
            headers = metadata_dict(call.initial_metadata())
            trailers = metadata_dict(call.trailing_metadata())
            out.update(
                code="OK",
                status=bwsmessages_pb2.JobStatus.Name(response.status),
                live=response.live,
                liveness_score=response.liveness_score,
                errors=[e.error_code for e in response.errors],
                images=len(response.image_properties),
                movement_direction=[
                    f.movement_direction for p in response.image_properties for f in p.faces
                ],
                quality_checks=[
                    q.check for p in response.image_properties for q in p.quality_assessments
                ],
            )
        except grpc.RpcError as e:
            headers = metadata_dict(e.initial_metadata())
            trailers = metadata_dict(e.trailing_metadata())
            out.update(code=e.code().name, message=e.details())
        # An error answer is trailers-only in gRPC: its metadata all arrive as trailers.
        out.update(
            jobid=headers.get("jobid", trailers.get("jobid")),
            jobid_trailer=trailers.get("jobid"),
            bws_version=headers.get("bws-version", trailers.get("bws-version")),
            reference_number=headers.get("reference-number", trailers.get("reference-number")),
        )
        return out


def call_rest(args, token, images):
    body = {"LiveImages": []}
    for i, image in enumerate(images):
        tags = args.tag if i == len(images) - 1 and len(images) > 1 else []
        body["LiveImages"].append({"Image": base64.b64encode(image).decode(), "Tags": tags})
    data = json.dumps(body).encode()
    request = urllib.request.Request(args.rest, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if args.reference_number:
        request.add_header("Reference-Number", args.reference_number)
    out = {"transport": "rest", "sent_bytes": len(data)}
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            status, headers, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, payload = e.code, e.headers, e.read()
    out.update(
        code=status,
        jobid=headers.get("jobid"),
        bws_version=headers.get("bws-version"),
        reference_number=headers.get("reference-number"),
    )
    decoded = json.loads(payload)
    if status == 200:
        out.update(
            status=decoded["status"],
            live=decoded["live"],
            liveness_score=decoded["livenessScore"],
            errors=[e["errorCode"] for e in decoded["errors"]],
            images=len(decoded["imageProperties"]),
        )
    else:
        out.update(message=decoded.get("message"), error_code=decoded.get("code"))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--grpc", help="host:port of the gRPC endpoint")
    target.add_argument("--rest", help="URL of POST /api/v1/livenessdetection")
    p.add_argument("--stubs", help="folder with the Protos/*_pb2*.py that grpcio-tools generated")
    p.add_argument("--method", default="liveness", choices=["liveness", "video", "photoverify", "health"])
    p.add_argument("--style", default="none", choices=["csharp", "java", "webapp", "forged", "expired", "none"])
    p.add_argument("--client-id", default="bws-client")
    p.add_argument("--key", default="", help="the client key as the BWS portal gives it (base64)")
    p.add_argument("--reference-number")
    p.add_argument("--tag", action="append", default=[], help="tag of the second image")
    p.add_argument("--random-image-bytes", type=int, default=0, help="add an image of N random bytes")
    p.add_argument("--garbage-image", action="store_true", help="add an undecodable image")
    p.add_argument("images", nargs="*")
    args = p.parse_args()
    if args.grpc and not args.stubs:
        p.error("--grpc needs --stubs")
    token = make_token(args.style, args.client_id, args.key)
    images = read_images(args)
    out = call_grpc(args, token, images) if args.grpc else call_rest(args, token, images)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
