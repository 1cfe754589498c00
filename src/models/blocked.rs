//! The MiniFASNet graphs laid out so that ONNX Runtime runs every convolution in its blocked
//! (NCHWc) layout, with no layout change inside the network.
//!
//! Why: ONNX Runtime's NCHWc kernels (16 channels a block with AVX-512, 8 with AVX2) are its
//! fast convolutions, but its NCHWc transformer only takes a convolution whose channel counts
//! are whole blocks, and it has no NCHWc form of `PRelu` or `Max`. The published MiniFASNet
//! graphs are pruned to expansion widths such as 13, 26, 103, 231 and 308 channels, and every
//! convolution is followed by a `PRelu`. ONNX Runtime's profiler (one thread, 80x80 input) put
//! the three most expensive nodes of MiniFASNetV2 in its plain NCHW depthwise convolutions of
//! 103 and 231 channels, and 15 to 20 % of a run in the reorders between the two layouts around
//! each `Max` of the [`super::prelu`] form (`docs/performance.md`, "The networks").
//!
//! Two rewrites, each exact in real arithmetic:
//!
//! 1. **Padded expansions.** Every block `Conv 1x1 (C channels) → PRelu → depthwise Conv (C
//!    groups) → PRelu → Conv 1x1` whose `C` is not a multiple of [`BLOCK`] gets zero filters,
//!    zero biases and zero slopes up to the next multiple, and the projection zero weights for
//!    them. The added channels hold exactly 0 all the way through (`PRelu(0) = 0`, no bias), and
//!    the projection adds `0 · w`, so they change no value of the block's output.
//! 2. **`PRelu(x, a)` as `a·x + Relu((1 − a)·x)`** for slopes `a ≤ 1`. For `x < 0` the second
//!    term is `Relu` of a non-positive number, exactly 0, so the result is the same single
//!    product `a·x` that `PRelu` computes. For `x ≥ 0` it is `x` up to the rounding of one
//!    multiplication and one addition (about one unit in the last place). ONNX Runtime turns
//!    both products into NCHWc depthwise scalings and fuses the `Relu` and the sum into them.
//!
//! Unlike [`super::prelu`], the outputs are not the same bits: on random inputs the logits moved
//! by at most 3e-6. [`super::ModelPool::load`] compares the logits with the published graph's on
//! a probe input and keeps the published graph beyond [`super::BLOCKED_LOGIT_TOLERANCE`], and
//! `tests/model_graphs.rs` checks every response on the shared images against the published
//! graphs (every decision the same, every score within 1e-4).

use prost::Message;

use super::prelu::{
    FLOAT, Rewrite, RewriteError, constant, default_domain, float_values, group, int, is_prelu,
    onnx, readers, rewritable_prelus, set_floats, sole_reader,
};

/// Channels per NCHWc block: 16 with AVX-512, 8 with AVX2; a multiple of 16 suits both.
pub const BLOCK: i64 = 16;

/// Pads the MiniFASNet expansions to whole blocks and rewrites every `PRelu` as
/// `a·x + Relu((1 − a)·x)`. All or nothing for the `PRelu` part, as [`super::prelu::prelu_as_max`];
/// a block that does not have the expected shape is simply left unpadded.
pub fn blocked(model: &[u8]) -> Result<Rewrite, RewriteError> {
    let mut model = onnx::ModelProto::decode(model)?;
    let Some(graph) = model.graph.as_mut() else {
        return Ok(Rewrite::Kept("the model has no graph"));
    };
    let prelus = match rewritable_prelus(graph) {
        Ok(count) => count,
        Err(why) => return Ok(Rewrite::Kept(why)),
    };
    let padded = pad_expansions(graph);
    prelu_as_relu_sum(graph);
    Ok(Rewrite::Done {
        bytes: model.encode_to_vec(),
        nodes: prelus + padded,
    })
}

fn is_conv(n: &onnx::NodeProto) -> bool {
    n.op_type() == "Conv" && default_domain(n) && n.input.len() >= 2
}

/// The dimensions of the float constant `name`, when exactly one node reads it.
fn own_constant(graph: &onnx::GraphProto, name: &str) -> Option<Vec<i64>> {
    let t = constant(graph, name)?;
    (t.data_type() == FLOAT && readers(graph, name).len() == 1).then(|| t.dims.clone())
}

/// One expansion block: the node indices of expand, PRelu, depthwise, PRelu, project.
struct Block {
    nodes: [usize; 5],
    channels: i64,
}

/// Finds the block that starts at the 1x1 convolution `expand`, with its own constants.
fn block_at(graph: &onnx::GraphProto, expand: usize) -> Option<Block> {
    let n = &graph.node[expand];
    if !is_conv(n) || group(n) != 1 {
        return None;
    }
    let channels = *own_constant(graph, &n.input[1])?.first()?;
    let p1 = sole_reader(graph, n.output.first()?)?;
    let dw = sole_reader(graph, graph.node[p1].output.first()?)?;
    let p2 = sole_reader(graph, graph.node[dw].output.first()?)?;
    let project = sole_reader(graph, graph.node[p2].output.first()?)?;
    let (p1n, dwn, p2n, pn) = (
        &graph.node[p1],
        &graph.node[dw],
        &graph.node[p2],
        &graph.node[project],
    );
    let slope_ok = |p: &onnx::NodeProto| {
        is_prelu(p)
            && own_constant(graph, &p.input[1]).is_some_and(|d| {
                d.iter().product::<i64>() == channels && d.first() == Some(&channels)
            })
    };
    let dw_ok = is_conv(dwn)
        && group(dwn) == channels
        && dwn.input[0] == p1n.output[0]
        && own_constant(graph, &dwn.input[1])
            .is_some_and(|d| d.len() == 4 && d[0] == channels && d[1] == 1);
    let project_ok = is_conv(pn)
        && group(pn) == 1
        && pn.input[0] == p2n.output[0]
        && own_constant(graph, &pn.input[1]).is_some_and(|d| d.len() == 4 && d[1] == channels);
    let biases_ok = [n, dwn].iter().all(|c| {
        c.input
            .get(2)
            .is_none_or(|b| own_constant(graph, b).is_some())
    });
    (slope_ok(p1n)
        && slope_ok(p2n)
        && dw_ok
        && project_ok
        && biases_ok
        && p1n.input[0] == n.output[0])
        .then_some(Block {
            nodes: [expand, p1, dw, p2, project],
            channels,
        })
}

/// Pads every expansion block to whole [`BLOCK`]s; returns how many blocks were padded.
fn pad_expansions(graph: &mut onnx::GraphProto) -> usize {
    let blocks: Vec<Block> = (0..graph.node.len())
        .filter_map(|i| block_at(graph, i))
        .filter(|b| b.channels % BLOCK != 0)
        .collect();
    for b in &blocks {
        let to = (b.channels + BLOCK - 1) / BLOCK * BLOCK;
        let [expand, p1, dw, p2, project] = b.nodes;
        let mut along = |node: usize, input: usize, axis: usize| {
            let name = graph.node[node].input.get(input).cloned();
            if let Some(t) = name.and_then(|n| graph.initializer.iter_mut().find(|t| t.name() == n))
            {
                pad_axis(t, axis, to);
            }
        };
        // Filters and biases of the expansion and of the depthwise convolution, the slopes of
        // both PRelus, and the projection's weights for the new input channels.
        along(expand, 1, 0);
        along(expand, 2, 0);
        along(p1, 1, 0);
        along(dw, 1, 0);
        along(dw, 2, 0);
        along(p2, 1, 0);
        along(project, 1, 1);
        set_group(&mut graph.node[dw], to);
    }
    blocks.len()
}

fn set_group(n: &mut onnx::NodeProto, value: i64) {
    n.attribute.retain(|a| a.name() != "group");
    n.attribute.push(int("group", value));
}

/// Zero-pads a float constant along `axis` (0 or 1) to `to` entries.
fn pad_axis(t: &mut onnx::TensorProto, axis: usize, to: i64) {
    let Some(values) = float_values(t) else {
        return;
    };
    let dims = &t.dims;
    if axis >= dims.len() || dims[axis] >= to {
        return;
    }
    let from = dims[axis] as usize;
    let outer: usize = dims[..axis].iter().product::<i64>() as usize;
    let inner: usize = dims[axis + 1..].iter().product::<i64>() as usize;
    let to = to as usize;
    let mut out = Vec::with_capacity(outer * to * inner);
    for o in 0..outer {
        out.extend_from_slice(&values[o * from * inner..(o + 1) * from * inner]);
        out.resize(out.len() + (to - from) * inner, 0.0);
    }
    t.dims[axis] = to as i64;
    set_floats(t, &out);
}

/// Replaces every `PRelu(x, a)` by `Add(Mul(x, a), Relu(Mul(x, 1 − a)))`, in place, so the
/// node list stays topologically sorted.
fn prelu_as_relu_sum(graph: &mut onnx::GraphProto) {
    let mut nodes = Vec::with_capacity(graph.node.len() * 2);
    for node in std::mem::take(&mut graph.node) {
        if !is_prelu(&node) {
            nodes.push(node);
            continue;
        }
        let (x, a) = (node.input[0].clone(), node.input[1].clone());
        let Some(slope) = graph.initializer.iter().find(|t| t.name() == a) else {
            nodes.push(node);
            continue;
        };
        let Some(values) = float_values(slope) else {
            nodes.push(node);
            continue;
        };
        let complement_name = format!("{a}__one_minus");
        let mut complement = onnx::TensorProto {
            name: Some(complement_name.clone()),
            dims: slope.dims.clone(),
            data_type: Some(FLOAT),
            ..Default::default()
        };
        set_floats(
            &mut complement,
            &values.iter().map(|a| 1.0 - a).collect::<Vec<_>>(),
        );
        graph.initializer.push(complement);
        let y = node.output.first().cloned().unwrap_or_default();
        let name = node.name().to_string();
        let op = |op: &str, suffix: &str, input: Vec<String>, output: String| onnx::NodeProto {
            input,
            output: vec![output],
            name: Some(format!("{name}__{suffix}")),
            op_type: Some(op.into()),
            domain: Some(String::new()),
            ..Default::default()
        };
        let (scaled, rest, kept) = (
            format!("{y}__prelu_ax"),
            format!("{y}__prelu_rest"),
            format!("{y}__prelu_relu"),
        );
        nodes.push(op("Mul", "ax", vec![x.clone(), a], scaled.clone()));
        nodes.push(op("Mul", "rest", vec![x, complement_name], rest.clone()));
        nodes.push(op("Relu", "relu", vec![rest], kept.clone()));
        nodes.push(op("Add", "sum", vec![scaled, kept], y));
    }
    graph.node = nodes;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(name: &str, dims: &[i64], values: &[f32]) -> onnx::TensorProto {
        let mut t = onnx::TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(FLOAT),
            ..Default::default()
        };
        set_floats(&mut t, values);
        t
    }

    fn node(op: &str, inputs: &[&str], output: &str, group: Option<i64>) -> onnx::NodeProto {
        let mut n = onnx::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: Some(output.into()),
            op_type: Some(op.into()),
            ..Default::default()
        };
        if let Some(g) = group {
            set_group(&mut n, g);
        }
        n
    }

    /// expand (3 → 5 channels) → PRelu → depthwise (5) → PRelu → project (5 → 4).
    fn block_model() -> onnx::ModelProto {
        let seq = |n: usize| (0..n).map(|i| i as f32 + 1.0).collect::<Vec<_>>();
        onnx::ModelProto {
            graph: Some(onnx::GraphProto {
                node: vec![
                    node("Conv", &["x", "we", "be"], "e", Some(1)),
                    node("PRelu", &["e", "a1"], "e1", None),
                    node("Conv", &["e1", "wd"], "d", Some(5)),
                    node("PRelu", &["d", "a2"], "d1", None),
                    node("Conv", &["d1", "wp"], "y", None),
                ],
                initializer: vec![
                    floats("we", &[5, 3, 1, 1], &seq(15)),
                    floats("be", &[5], &seq(5)),
                    floats("a1", &[5, 1, 1], &[0.1, 0.2, -0.3, 0.4, 1.0]),
                    floats("wd", &[5, 1, 3, 3], &seq(45)),
                    floats("a2", &[5, 1, 1], &[0.5; 5]),
                    floats("wp", &[4, 5, 1, 1], &seq(20)),
                ],
                output: vec![onnx::ValueInfoProto {
                    name: Some("y".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rewritten(model: &onnx::ModelProto) -> onnx::GraphProto {
        let Rewrite::Done { bytes, nodes } = blocked(&model.encode_to_vec()).unwrap() else {
            panic!("not rewritten");
        };
        assert_eq!(nodes, 2 + 1, "two PRelus and one padded block");
        onnx::ModelProto::decode(bytes.as_slice())
            .unwrap()
            .graph
            .unwrap()
    }

    fn values(g: &onnx::GraphProto, name: &str) -> (Vec<i64>, Vec<f32>) {
        let t = constant(g, name).unwrap();
        (t.dims.clone(), float_values(t).unwrap())
    }

    #[test]
    fn an_expansion_block_is_padded_with_zeros_to_a_whole_block() {
        let g = rewritten(&block_model());
        let (dims, we) = values(&g, "we");
        assert_eq!(dims, [16, 3, 1, 1]);
        assert_eq!(
            &we[..15],
            &(1..=15).map(|v| v as f32).collect::<Vec<_>>()[..]
        );
        assert!(we[15..].iter().all(|v| *v == 0.0));
        assert_eq!(values(&g, "be").0, [16]);
        assert_eq!(values(&g, "a1").0, [16, 1, 1]);
        assert_eq!(values(&g, "wd").0, [16, 1, 3, 3]);
        let dw = g
            .node
            .iter()
            .find(|n| n.op_type() == "Conv" && n.output[0] == "d")
            .unwrap();
        assert_eq!(group(dw), 16);
        // The projection: each output filter keeps its 5 weights, then 11 zeros.
        let (dims, wp) = values(&g, "wp");
        assert_eq!(dims, [4, 16, 1, 1]);
        for o in 0..4 {
            let row = &wp[o * 16..(o + 1) * 16];
            assert_eq!(
                &row[..5],
                &(o * 5 + 1..=o * 5 + 5)
                    .map(|v| v as f32)
                    .collect::<Vec<_>>()[..]
            );
            assert!(row[5..].iter().all(|v| *v == 0.0));
        }
    }

    #[test]
    fn every_prelu_becomes_a_scaled_sum_with_a_relu() {
        let g = rewritten(&block_model());
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(
            ops,
            [
                "Conv", "Mul", "Mul", "Relu", "Add", "Conv", "Mul", "Mul", "Relu", "Add", "Conv"
            ]
        );
        assert_eq!(g.node[1].input, ["e", "a1"]);
        assert_eq!(g.node[2].input, ["e", "a1__one_minus"]);
        assert_eq!(g.node[4].output, ["e1"]);
        let (_, complement) = values(&g, "a1__one_minus");
        assert_eq!(&complement[..5], &[0.9, 0.8, 1.3, 0.6, 0.0]);
    }

    #[test]
    fn a_block_read_elsewhere_is_not_padded() {
        let mut m = block_model();
        let g = m.graph.as_mut().unwrap();
        // The expansion's output is also read by another node: padding it would change that one.
        g.node.push(node("Relu", &["e"], "other", None));
        let Rewrite::Done { bytes, nodes } = blocked(&m.encode_to_vec()).unwrap() else {
            panic!("not rewritten");
        };
        assert_eq!(nodes, 2, "PRelus rewritten, no block padded");
        let g = onnx::ModelProto::decode(bytes.as_slice())
            .unwrap()
            .graph
            .unwrap();
        assert_eq!(values(&g, "we").0, [5, 3, 1, 1]);
    }

    #[test]
    fn a_slope_above_one_keeps_the_graph() {
        let mut m = block_model();
        let g = m.graph.as_mut().unwrap();
        g.initializer[2] = floats("a1", &[5, 1, 1], &[0.1, 0.2, 1.5, 0.4, 1.0]);
        assert_eq!(
            blocked(&m.encode_to_vec()).unwrap(),
            Rewrite::Kept("a PRelu slope is above 1")
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(blocked(&[0xff, 0xff, 0xff]).is_err());
    }

    /// Both published MiniFASNet files: 33 PRelus each, and every expansion block whose width is
    /// not a whole block padded (their widths are 13 to 308; 32, 64, 128 and 512 need none).
    #[test]
    fn the_rewrite_applies_to_both_published_minifasnet_graphs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        for name in [super::super::MINIFASNET_V2, super::super::MINIFASNET_V1SE] {
            let bytes = super::super::read_verified(&dir, name).expect("model (run `make setup`)");
            let Rewrite::Done { bytes, nodes } = blocked(&bytes).expect("an ONNX model") else {
                panic!("{name} not rewritten");
            };
            assert!(nodes > 33 + 10, "{name}: {nodes}");
            let g = onnx::ModelProto::decode(bytes.as_slice())
                .unwrap()
                .graph
                .unwrap();
            for n in g.node.iter().filter(|n| is_conv(n)) {
                let out = constant(&g, &n.input[1]).unwrap().dims[0];
                assert!(out % BLOCK == 0, "{name}: {} has {out} filters", n.name());
            }
        }
    }
}
