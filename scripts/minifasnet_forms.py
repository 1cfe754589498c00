#!/usr/bin/env python3
"""Speed and output of the three forms of the MiniFASNet graphs (`[models] minifasnet_graph`)
in onnxruntime directly, one thread: `published`, `prelu_as_max` (src/models/prelu.rs) and
`blocked` (src/models/blocked.rs), the last two rewritten here the same way the service rewrites
them at load. Prints, per model and form, the best of five runs of 400 inferences on random
80x80 inputs and the largest logit difference from the published graph.

    python3 -m venv .venv-nv && .venv-nv/bin/pip install --require-hashes \
        -r scripts/network-variants-requirements.txt
    .venv-nv/bin/python scripts/minifasnet_forms.py models/minifasnet_v2.onnx models/minifasnet_v1se.onnx
"""
import os
import sys
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from network_variants import session  # noqa: E402  one thread, the same packages

BLOCK = 16


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def transform(path, form):
    m = onnx.load(path)
    g = m.graph
    inits = {i.name: i for i in g.initializer}

    def arr(name):
        return numpy_helper.to_array(inits[name])

    def put(name, a):
        inits[name].CopyFrom(numpy_helper.from_array(a.astype(np.float32), name))

    def padded(a, axis, to):
        shape = list(a.shape)
        shape[axis] = to - a.shape[axis]
        return np.concatenate([a, np.zeros(shape, np.float32)], axis=axis)

    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    if form == "blocked":
        # Conv 1x1 (C) -> PRelu -> depthwise Conv (C) -> PRelu -> Conv 1x1: C up to a multiple of 16.
        for n in list(g.node):
            if n.op_type != "Conv" or attr(n, "group", 1) != 1:
                continue
            c = arr(n.input[1]).shape[0]
            if c % BLOCK == 0:
                continue
            to = (c + BLOCK - 1) // BLOCK * BLOCK
            chain = [n]
            for op in ("PRelu", "Conv", "PRelu", "Conv"):
                nxt = readers.get(chain[-1].output[0], [])
                if len(nxt) != 1 or nxt[0].op_type != op:
                    break
                chain.append(nxt[0])
            if len(chain) != 5 or attr(chain[2], "group") != c:
                continue
            expand, p1, dw, p2, project = chain
            for node, k, axis in ((expand, 1, 0), (expand, 2, 0), (p1, 1, 0), (dw, 1, 0),
                                  (dw, 2, 0), (p2, 1, 0), (project, 1, 1)):
                if len(node.input) > k:
                    put(node.input[k], padded(arr(node.input[k]), axis, to))
            for a in dw.attribute:
                if a.name == "group":
                    a.i = to
    nodes = []
    for n in g.node:
        if n.op_type != "PRelu" or form == "published":
            nodes.append(n)
            continue
        x, a = n.input
        y = n.output[0]
        if form == "prelu_as_max":
            nodes.append(helper.make_node("Mul", [x, a], [y + "__prelu_scaled"]))
            nodes.append(helper.make_node("Max", [x, y + "__prelu_scaled"], [y]))
        else:
            g.initializer.append(numpy_helper.from_array((1 - arr(a)).astype(np.float32), a + "__one_minus"))
            nodes.append(helper.make_node("Mul", [x, a], [y + "__prelu_ax"]))
            nodes.append(helper.make_node("Mul", [x, a + "__one_minus"], [y + "__prelu_rest"]))
            nodes.append(helper.make_node("Relu", [y + "__prelu_rest"], [y + "__prelu_relu"]))
            nodes.append(helper.make_node("Add", [y + "__prelu_ax", y + "__prelu_relu"], [y]))
    del g.node[:]
    g.node.extend(nodes)
    return m.SerializeToString()


def main():
    rng = np.random.RandomState(0)
    xs = [rng.uniform(0, 255, (1, 3, 80, 80)).astype(np.float32) for _ in range(50)]
    for path in sys.argv[1:]:
        ref = None
        for form in ("published", "prelu_as_max", "blocked"):
            s = session(transform(path, form))
            name = s.get_inputs()[0].name
            outs = [s.run(None, {name: x})[0] for x in xs]
            ref = outs if ref is None else ref
            diff = max(float(np.abs(o - r).max()) for o, r in zip(outs, ref))
            best = []
            for _ in range(5):
                t = time.perf_counter()
                for i in range(400):
                    s.run(None, {name: xs[i % len(xs)]})
                best.append((time.perf_counter() - t) / 400 * 1000)
            print(f"{path}: {form:13s} {min(best):.2f} ms per run, largest logit difference {diff:.2e}")


if __name__ == "__main__":
    main()
