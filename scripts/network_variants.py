#!/usr/bin/env python3
"""Cheaper versions of the networks: decision parity and speed, against the published fp32 files.

1. The MiniFASNet pair with every PRelu(x, a) written as Max(x, x*a), the rewrite the service
   makes at load (src/models/prelu.rs): largest logit difference and time per run.
2. Static int8 (QDQ) quantisation of the MiniFASNet pair and YuNet, the record behind "int8 was
   measured and rejected" in docs/performance.md. It quantises the
fp32 models of models/ with onnxruntime's own tool, calibrated on the face crops of every shared
image and of two darker copies (light lowered in linear space, with sensor noise), then reports
for each calibration method how far the real-face probability moves on those crops, how many
decisions at 0.5 flip, and the time per run against the fp32 graph (one thread, best of five).

    python3 -m venv .venv-nets && .venv-nets/bin/pip install --require-hashes -r scripts/network-variants-requirements.txt
    .venv-nets/bin/python scripts/network_variants.py            # about two minutes on two cores

Crops are made as scripts/python_reference.py makes them (YuNet box, scale 2.7 / 4.0, 80x80
bilinear), which is what the models were published for.
"""
import argparse
import glob
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_reference import crop, detect  # noqa: E402


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def darker(img, factor, seed):
    """Light lowered in linear sRGB, then read noise of 3 levels."""
    lin = (img.astype(np.float32) / 255) ** 2.2 * factor
    out = lin ** (1 / 2.2) * 255 + np.random.default_rng(seed).normal(0, 3, img.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


class Reader(CalibrationDataReader):
    def __init__(self, name, arrays):
        self.it = iter([{name: a} for a in arrays])

    def get_next(self):
        return next(self.it, None)


def best_ms_of(run, runs=100, warmup=10, rounds=5):
    """The best of `rounds` rounds of `runs` calls of `run`, in ms per call, each round after
    `warmup` calls that are not timed."""
    best = float("inf")
    for _ in range(rounds):
        for _ in range(warmup):
            run()
        t = time.perf_counter()
        for _ in range(runs):
            run()
        best = min(best, (time.perf_counter() - t) / runs * 1000)
    return best


def best_ms(sess, name, x, runs=100):
    return best_ms_of(lambda: sess.run(None, {name: x}), runs)


def real_probability(sess, name, x):
    logits = sess.run(None, {name: x})[0][0]
    e = np.exp(logits - logits.max())
    return e[1] / e.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="models")
    ap.add_argument("--data", default="../shared/data")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="int8-")
    yunet = session(f"{a.models}/yunet_s_dynamic.onnx")
    files = sorted(glob.glob(f"{a.data}/**/*.jpg", recursive=True) + glob.glob(f"{a.data}/**/*.png", recursive=True))
    crops = {2.7: [], 4.0: []}
    detector_inputs = []
    for i, path in enumerate(files):
        img = cv2.imread(path)
        if img is None:
            continue
        for v in (img, darker(img, 0.5, i), darker(img, 0.25, i)):
            box = detect(yunet, v)
            for scale in crops:
                crops[scale].append(crop(v, box, scale))
        if i % 2 == 0:
            h, w = img.shape[:2]
            s = min(1.0, 320 / max(w, h))
            rw, rh = round(w * s), round(h * s)
            blob = np.zeros((1, 3, (rh + 31) // 32 * 32, (rw + 31) // 32 * 32), np.float32)
            blob[0, :, :rh, :rw] = cv2.resize(img, (rw, rh)).transpose(2, 0, 1)
            detector_inputs.append(blob)
    print(f"{len(crops[2.7])} crops of {len(files)} images; {len(detector_inputs)} detector inputs\n")

    print("| model | PRelu | largest logit difference | ms per run |")
    print("|---|---|---|---|")
    for fname, scale in (("minifasnet_v2", 2.7), ("minifasnet_v1se", 4.0)):
        src = f"{a.models}/{fname}.onnx"
        m = onnx.load(src)
        nodes = []
        for n in m.graph.node:
            if n.op_type == "PRelu":
                scaled = n.output[0] + "__prelu_scaled"
                nodes.append(onnx.helper.make_node("Mul", [n.input[0], n.input[1]], [scaled], name=n.name + "__mul"))
                nodes.append(onnx.helper.make_node("Max", [n.input[0], scaled], list(n.output), name=n.name + "__max"))
            else:
                nodes.append(n)
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        onnx.save(m, f"{work}/{fname}.max.onnx")
        ref_sess, max_sess = session(src), session(f"{work}/{fname}.max.onnx")
        name = ref_sess.get_inputs()[0].name
        diff = max(float(np.abs(ref_sess.run(None, {name: x})[0] - max_sess.run(None, {name: x})[0]).max())
                   for x in crops[scale])
        print(f"| {fname} | published | | {best_ms(ref_sess, name, crops[scale][0]):.2f} |")
        print(f"| {fname} | Max(x, x*a) | {diff} | {best_ms(max_sess, name, crops[scale][0]):.2f} |")
    print()

    print("| model | calibration | largest move | 99th percentile | decisions flipped | fp32 ms | int8 ms |")
    print("|---|---|---|---|---|---|---|")
    for fname, scale in (("minifasnet_v2", 2.7), ("minifasnet_v1se", 4.0)):
        src = f"{a.models}/{fname}.onnx"
        pre = f"{work}/{fname}.pre.onnx"
        quant_pre_process(src, pre)
        ref_sess = session(src)
        name = ref_sess.get_inputs()[0].name
        ref = np.array([real_probability(ref_sess, name, x) for x in crops[scale]])
        fp32_ms = best_ms(ref_sess, name, crops[scale][0])
        for method in (CalibrationMethod.MinMax, CalibrationMethod.Percentile, CalibrationMethod.Entropy):
            dst = f"{work}/{fname}.{method.name}.onnx"
            quantize_static(pre, dst, Reader(name, crops[scale][::2]), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=method)
            q = session(dst)
            got = np.array([real_probability(q, name, x) for x in crops[scale]])
            move = np.abs(got - ref)
            flips = int(np.sum((got >= 0.5) != (ref >= 0.5)))
            print(f"| {fname} | {method.name} | {move.max():.3f} | {np.percentile(move, 99):.3f} | "
                  f"{flips} of {len(ref)} | {fp32_ms:.2f} | {best_ms(q, name, crops[scale][0]):.2f} |")

    # YuNet is opset 11; per-channel QDQ needs opset 13.
    y13 = f"{work}/yunet13.onnx"
    onnx.save(version_converter.convert_version(onnx.load(f"{a.models}/yunet_s_dynamic.onnx"), 13), y13)
    quant_pre_process(y13, f"{work}/yunet.pre.onnx", skip_symbolic_shape=True)
    quantize_static(f"{work}/yunet.pre.onnx", f"{work}/yunet.int8.onnx", Reader("input", detector_inputs),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    q = session(f"{work}/yunet.int8.onnx")
    names = [o.name for o in yunet.get_outputs()]
    worst = {}
    for x in detector_inputs:
        for n, r, g in zip(names, yunet.run(None, {"input": x}), q.run(None, {"input": x})):
            worst[n[:3]] = max(worst.get(n[:3], 0.0), float(np.abs(r - g).max()))
    x = next(b for b in detector_inputs if b.shape[2:] == (320, 320)) if any(b.shape[2:] == (320, 320) for b in detector_inputs) else detector_inputs[0]
    print(f"\nYuNet {tuple(x.shape[2:])}: fp32 {best_ms(yunet, 'input', x, 50):.2f} ms, int8 "
          f"{best_ms(q, 'input', x, 50):.2f} ms; largest output moves (grid units): "
          + ", ".join(f"{k} {v:.3f}" for k, v in sorted(worst.items())))


if __name__ == "__main__":
    main()
