#!/usr/bin/env python3
"""OpenVINO's CPU plugin against onnxruntime for the three networks, one thread each: the
MiniFASNet pair in the form the service runs (`blocked`, rewritten as scripts/minifasnet_forms.py
does) and YuNet at the service's two usual input shapes (320x320, 320x192). OpenVINO reads the
published files and runs them in fp32 and with the bf16 precision hint. Prints the best of five
runs of 300 inferences on random inputs, and the largest output difference from onnxruntime.

    python3 -m venv .venv-ov && .venv-ov/bin/pip install --require-hashes \\
        -r scripts/network-variants-requirements.txt -r scripts/openvino-requirements.txt
    .venv-ov/bin/python scripts/openvino_compare.py
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import openvino as ov

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minifasnet_forms import transform  # noqa: E402  the service's rewrite at load
from network_variants import best_ms_of, session  # noqa: E402  timing, one-thread onnxruntime session


def best_ms(run):
    return best_ms_of(run, runs=300, warmup=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="models")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="openvino-")
    core = ov.Core()
    rng = np.random.default_rng(1)
    cases = [("minifasnet_v2.onnx", (1, 3, 80, 80)), ("minifasnet_v1se.onnx", (1, 3, 80, 80)),
             ("yunet_s_dynamic.onnx", (1, 3, 320, 320)), ("yunet_s_dynamic.onnx", (1, 3, 192, 320))]
    print("| network | input | onnxruntime ms | OpenVINO precision | OpenVINO ms | largest output difference |")
    print("|---|---|---|---|---|---|")
    for name, shape in cases:
        src = f"{a.models}/{name}"
        if name.startswith("minifasnet"):
            x = rng.random(shape, dtype=np.float32)
            ort_path = f"{work}/{name}"
            onnx.save(transform(src, "blocked"), ort_path)
        else:
            x = rng.random(shape, dtype=np.float32) * 255
            ort_path = src
        sess = session(ort_path)
        feed = {sess.get_inputs()[0].name: x}
        want = sess.run(None, feed)
        ort_ms = best_ms(lambda: sess.run(None, feed))
        model = core.read_model(src)
        model.reshape({model.inputs[0].any_name: shape})
        for precision in ("f32", "bf16"):
            compiled = core.compile_model(model, "CPU", {
                "INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": precision, "ENABLE_CPU_PINNING": False})
            req = compiled.create_infer_request()
            req.infer({0: x})
            got = [req.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]
            diff = max(float(np.abs(w - g).max()) for w, g in zip(want, got))
            ov_ms = best_ms(lambda: req.infer({0: x}))
            print(f"| {name} | {shape[2]}x{shape[3]} | {ort_ms:.3f} | {precision} | {ov_ms:.3f} | {diff:.2e} |",
                  flush=True)


if __name__ == "__main__":
    main()
