#!/usr/bin/env python3
"""Independent Python reference for the single-image speed target of the scoring pipeline.

OpenCV decoding, YuNet and the MiniFASNet pair through onnxruntime, one thread, the same
pre-processing as the models README (long side <= 640, pad to 32, BGR 0..255; crop scale 2.7 /
4.0, 80x80 bilinear). Prints the median of N runs per stage, in milliseconds.

    pip install opencv-python-headless onnxruntime==1.32.0 numpy
    python3 scripts/python_reference.py ../shared/data/bioid/challenge_right_1.png

Also with --opencv-yunet: OpenCV's own FaceDetectorYN instead of onnxruntime for detection.

With --processes N: the Python peer's throughput instead, N processes (one per core), each
scoring the given images in turn (decode, detect, texture) for --seconds; prints images/s, the
figure the service's worker is compared with (docs/performance.md).
"""
import argparse
import multiprocessing
import statistics
import time

import cv2
import numpy as np
import onnxruntime as ort

cv2.setNumThreads(1)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def detect(sess, img):
    h, w = img.shape[:2]
    s = min(1.0, 640.0 / max(w, h))
    rw, rh = round(w * s), round(h * s)
    small = cv2.resize(img, (rw, rh)) if (rw, rh) != (w, h) else img
    pw, ph = (rw + 31) // 32 * 32, (rh + 31) // 32 * 32
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, :rh, :rw] = small.transpose(2, 0, 1)
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": blob})))
    best = None
    for st in (8, 16, 32):
        cols = pw // st
        score = np.sqrt(np.clip(out[f"cls_{st}"][0, :, 0], 0, 1) * np.clip(out[f"obj_{st}"][0, :, 0], 0, 1))
        i = int(np.argmax(score))
        if best is None or score[i] > best[0]:
            b = out[f"bbox_{st}"][0, i]
            r, c = divmod(i, cols)
            cx, cy = (c + b[0]) * st, (r + b[1]) * st
            bw, bh = np.exp(b[2]) * st, np.exp(b[3]) * st
            best = (score[i], [(cx - bw / 2) * w / rw, (cy - bh / 2) * h / rh, bw * w / rw, bh * h / rh])
    return best[1]


def crop(img, box, scale):
    sh, sw = img.shape[:2]
    x, y, bw, bh = box
    scale = min((sh - 1) / bh, min((sw - 1) / bw, scale))
    nw, nh = bw * scale, bh * scale
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0, x1, y1 = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if x0 < 0: x1 -= x0; x0 = 0
    if y0 < 0: y1 -= y0; y0 = 0
    if x1 > sw - 1: x0 -= x1 - sw + 1; x1 = sw - 1
    if y1 > sh - 1: y0 -= y1 - sh + 1; y1 = sh - 1
    c = img[int(y0):int(y1) + 1, int(x0):int(x1) + 1]
    return cv2.resize(c, (80, 80)).transpose(2, 0, 1)[None].astype(np.float32)


def texture(v2, v1se, img, box):
    p = 0.0
    for s, sc in ((v2, 2.7), (v1se, 4.0)):
        logits = s.run(None, {s.get_inputs()[0].name: crop(img, box, sc)})[0][0]
        e = np.exp(logits - logits.max())
        p += e[1] / e.sum()
    return p / 2


def peer(args):
    """One process of the throughput run: how many images it scored in `seconds`."""
    models, paths, seconds = args
    yunet = session(f"{models}/yunet_s_dynamic.onnx")
    v2, v1se = session(f"{models}/minifasnet_v2.onnx"), session(f"{models}/minifasnet_v1se.onnx")
    files = [np.fromfile(p, np.uint8) for p in paths]
    for data in files:  # warm-up
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        texture(v2, v1se, img, detect(yunet, img))
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        img = cv2.imdecode(files[done % len(files)], cv2.IMREAD_COLOR)
        texture(v2, v1se, img, detect(yunet, img))
        done += 1
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="+")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--models", default="models")
    ap.add_argument("--opencv-yunet", action="store_true")
    ap.add_argument("--processes", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    if a.processes > 0:
        t = time.perf_counter()
        with multiprocessing.Pool(a.processes) as pool:
            counts = pool.map(peer, [(a.models, a.images, a.seconds)] * a.processes)
        print(f"{sum(counts)} images in {a.seconds:.0f} s by {a.processes} processes: "
              f"{sum(counts) / a.seconds:.1f} images/s (wall {time.perf_counter() - t:.0f} s with start-up)")
        return
    yunet = session(f"{a.models}/yunet_s_dynamic.onnx")
    v2, v1se = session(f"{a.models}/minifasnet_v2.onnx"), session(f"{a.models}/minifasnet_v1se.onnx")
    cv_yunet = cv2.FaceDetectorYN.create(f"{a.models}/yunet_s_dynamic.onnx", "", (320, 320), 0.6) if a.opencv_yunet else None
    for path in a.images:
        data = np.fromfile(path, np.uint8)
        times = {"decode": [], "detect": [], "texture": [], "total": []}
        for _ in range(a.runs + 3):
            t0 = time.perf_counter()
            img = cv2.imdecode(data, cv2.IMREAD_COLOR)
            t1 = time.perf_counter()
            if a.opencv_yunet:
                h, w = img.shape[:2]
                s = min(1.0, 640.0 / max(w, h))
                small = cv2.resize(img, (round(w * s), round(h * s)))
                cv_yunet.setInputSize((small.shape[1], small.shape[0]))
                _, faces = cv_yunet.detect(small)
                box = [v / s for v in faces[0][:4]]
            else:
                box = detect(yunet, img)
            t2 = time.perf_counter()
            score = texture(v2, v1se, img, box)
            t3 = time.perf_counter()
            for k, v in (("decode", t1 - t0), ("detect", t2 - t1), ("texture", t3 - t2), ("total", t3 - t0)):
                times[k].append(v * 1000)
        med = {k: statistics.median(v[3:]) for k, v in times.items()}
        print(f"{path}: total {med['total']:.1f} ms (decode {med['decode']:.1f}, detect {med['detect']:.1f}, "
              f"texture {med['texture']:.1f}); texture score {score:.3f}")


if __name__ == "__main__":
    main()
