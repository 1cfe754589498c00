#!/usr/bin/env python3
"""Speed and output of YuNet as published and with its heads merged (`[models] yunet_graph`),
in onnxruntime directly, one thread. The merge is done here the way src/models/yunet_heads.rs
does it at load: per stride, the 1x1 and the 3x3 depthwise convolutions of the cls, obj, bbox
and kps heads (1 + 1 + 4 + 10 channels) stacked into one pair of 16 channels, whose output
`head_{stride}` holds their channels as planes, before the sigmoid of cls and obj.

Prints, for the detector inputs of the two benchmark images (320x320 and 320x192, the images
scaled to a long side of 320 px and zero-padded), the best of five rounds of 300 runs of each
graph, interleaved, and the largest difference of each head over those inputs and three random
ones.

    python3 -m venv .venv-nv && .venv-nv/bin/pip install --require-hashes \
        -r scripts/network-variants-requirements.txt
    .venv-nv/bin/python scripts/yunet_heads.py models/yunet_s_dynamic.onnx ../shared/data
"""
import os
import sys

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from network_variants import best_ms_of, session  # noqa: E402  one thread, the same packages

HEADS = [("cls", True), ("obj", True), ("bbox", False), ("kps", False)]
STRIDES = [8, 16, 32]


def merged(path):
    m = onnx.load(path)
    g = m.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    nodes, inits = list(g.node), list(g.initializer)
    for s in STRIDES:
        parts = {"pw_w": [], "pw_b": [], "dw_w": [], "dw_b": []}
        feature = None
        for kind, _ in HEADS:
            n = producer[f"{kind}_{s}"]
            while n.op_type != "Conv":  # Sigmoid, Reshape, Transpose
                n = producer[n.input[0]]
            dw, pw = n, producer[n.input[0]]
            feature = pw.input[0]
            parts["pw_w"].append(init[pw.input[1]])
            parts["pw_b"].append(init[pw.input[2]])
            parts["dw_w"].append(init[dw.input[1]])
            parts["dw_b"].append(init[dw.input[2]])
        for part, arrays in parts.items():
            inits.append(numpy_helper.from_array(np.concatenate(arrays), f"head_{s}__{part}"))
        nodes.append(helper.make_node(
            "Conv", [feature, f"head_{s}__pw_w", f"head_{s}__pw_b"], [f"head_{s}__pw"],
            kernel_shape=[1, 1], pads=[0, 0, 0, 0], strides=[1, 1], group=1))
        nodes.append(helper.make_node(
            "Conv", [f"head_{s}__pw", f"head_{s}__dw_w", f"head_{s}__dw_b"], [f"head_{s}"],
            kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=16))
    outputs = [helper.make_tensor_value_info(f"head_{s}", onnx.TensorProto.FLOAT,
                                             ["N", 16, f"H{s}", f"W{s}"]) for s in STRIDES]
    # Keep what the new outputs need.
    needed, kept = {o.name for o in outputs}, []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            kept.append(n)
            needed.update(i for i in n.input if i)
    graph = helper.make_graph(list(reversed(kept)), "yunet_merged_heads", list(g.input), outputs,
                              [i for i in inits if i.name in needed])
    return helper.make_model(graph, opset_imports=m.opset_import, ir_version=m.ir_version)


def detector_input(path, h, w):
    img = cv2.imread(path)
    scale = 320 / max(img.shape[:2])
    img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                     interpolation=cv2.INTER_AREA)
    padded = np.zeros((h, w, 3), np.float32)
    padded[:img.shape[0], :img.shape[1]] = img[:h, :w]
    return padded.transpose(2, 0, 1)[None].copy()


def main():
    model, data = sys.argv[1], sys.argv[2]
    published = session(model)
    fast = session(merged(model).SerializeToString())
    sigmoid = lambda v: 1 / (1 + np.exp(-v.astype(np.float64)))  # noqa: E731
    for (h, w), image in [((320, 320), "bioid/challenge_right_1.png"),
                          ((192, 320), "bioid/nod/001.jpg")]:
        rng = np.random.RandomState(1)
        x = detector_input(os.path.join(data, image), h, w)
        inputs = [x] + [(rng.rand(1, 3, h, w) * 255).astype(np.float32) for _ in range(3)]
        largest = {kind: 0.0 for kind, _ in HEADS}
        for inp in inputs:
            old = dict(zip([o.name for o in published.get_outputs()], published.run(None, {"input": inp})))
            new = dict(zip([o.name for o in fast.get_outputs()], fast.run(None, {"input": inp})))
            for s in STRIDES:
                planes = new[f"head_{s}"].reshape(16, -1)
                at = 0
                for kind, is_prob in HEADS:
                    c = 1 if kind in ("cls", "obj") else 4 if kind == "bbox" else 10
                    v = planes[at:at + c].T
                    v = sigmoid(v) if is_prob else v
                    ref = old[f"{kind}_{s}"].reshape(v.shape)
                    largest[kind] = max(largest[kind], float(np.abs(ref - v).max()))
                    at += c
        times = {"published": [], "merged_heads": []}
        for _ in range(3):
            times["published"].append(best_ms_of(lambda: published.run(None, {"input": x}), runs=300))
            times["merged_heads"].append(best_ms_of(lambda: fast.run(None, {"input": x}), runs=300))
        print(f"{h}x{w} ({image}): " + ", ".join(
            f"{k} {min(v):.3f} ms" for k, v in times.items()) +
            "; largest differences " + ", ".join(f"{k} {d:.1e}" for k, d in largest.items()))


if __name__ == "__main__":
    main()
