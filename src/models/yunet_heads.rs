//! YuNet's twelve output heads merged into three, one per stride, each a whole NCHWc block.
//!
//! Why: per stride `s` (8, 16, 32) the published graph has four heads, `cls`, `obj`, `bbox` and
//! `kps`, of 1, 1, 4 and 10 channels. Each is a 1x1 convolution of the stride's 64-channel
//! feature map followed by a 3x3 depthwise convolution, then a `Transpose` to channels-last, a
//! `Reshape` (built from `Shape`, `Gather`, `Unsqueeze` and `Concat` nodes) and, for `cls` and
//! `obj`, a `Sigmoid`. ONNX Runtime's profiler (one thread, 320x320 input) put 20 % of a YuNet
//! run in those 96 small nodes: 24 convolutions whose 1, 4 and 10 channels are not whole NCHWc
//! blocks, so they run in the plain layout behind a reorder each, and the rest of them
//! bookkeeping of a few microseconds apiece (`docs/performance.md`).
//!
//! What: the four heads of a stride read the same feature map, so their 1x1 filters stacked
//! (1 + 1 + 4 + 10 = 16 of them) are one 1x1 convolution of 16 channels, and their depthwise
//! filters stacked are one depthwise convolution of 16 groups: exactly one block, which ONNX
//! Runtime runs in its blocked kernels. Its output `head_{s}`, `[1, 16, H/s, W/s]`, holds the
//! heads' channels in the order `cls, obj, bbox (4), kps (10)` as planes;
//! [`crate::pipeline::face`]'s decoder reads them there and applies the sigmoid to `cls` and
//! `obj` itself. The nodes only the old outputs needed are removed.
//!
//! Exactness: every output channel is the same sum of the same products as before; only the
//! order in which ONNX Runtime's blocked kernel adds the 64 products of a 1x1 filter may differ
//! from its plain kernel's. Measured on random inputs and both benchmark images at 320x320 and
//! 320x192: `cls` and `obj` within 1.2e-7, `bbox` identical, `kps` within 1.5e-6 of a grid
//! cell. [`super::ModelPool::load`] compares the decoded heads with the published graph's on a
//! probe input and keeps the published graph beyond [`super::MERGED_HEADS_TOLERANCE`];
//! `tests/model_graphs.rs` compares every response on the shared images.

use prost::Message;

use super::prelu::{
    FLOAT, Rewrite, RewriteError, attribute, constant, default_domain, float_values, group, int,
    onnx, set_floats, sole_reader,
};

/// The strides of YuNet's heads.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// The heads of one stride, in the order of their channels in the merged output, with their
/// channel counts and whether the published graph ends them with a sigmoid: score of a face,
/// objectness, box (`dx, dy, log w, log h`), and the five landmarks' `x, y`.
pub const HEADS: [(&str, usize, bool); 4] = [
    ("cls", 1, true),
    ("obj", 1, true),
    ("bbox", 4, false),
    ("kps", 10, false),
];

/// Channels of a merged head: the sum of [`HEADS`]' counts.
pub const MERGED_CHANNELS: usize = first_plane(HEADS.len());

/// The logistic function, which the published graph applies to `cls` and `obj` and the
/// decoder of the merged heads applies itself.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The name of the merged output of `stride`.
pub fn output_name(stride: usize) -> String {
    format!("head_{stride}")
}

/// The name of the published graph's output `kind` (one of [`HEADS`]) of `stride`.
pub fn published_output_name(kind: &str, stride: usize) -> String {
    format!("{kind}_{stride}")
}

/// The first plane of head `n` of [`HEADS`] in a merged output: the channels of the heads
/// before it.
const fn first_plane(n: usize) -> usize {
    let mut plane = 0;
    let mut k = 0;
    while k < n {
        plane += HEADS[k].1;
        k += 1;
    }
    plane
}

/// One stride's outputs, in either form of the graph (`[models] yunet_graph`): the one place
/// that knows where each value sits, read by the detector and by the load-time probe alike.
pub enum Heads<'a> {
    /// The published graph's: per cell `i`, `cls[i]` and `obj[i]` (sigmoid applied),
    /// `bbox[4 i + k]` and `kps[10 i + k]` (channels last).
    Published {
        cls: &'a [f32],
        obj: &'a [f32],
        bbox: &'a [f32],
        kps: &'a [f32],
    },
    /// The merged graph's ([`merged_heads`]): one plane of `cells` values per channel, in the
    /// order cls, obj (both before the sigmoid), bbox (4), kps (10).
    Merged { head: &'a [f32], cells: usize },
}

impl Heads<'_> {
    /// How many cells every output holds (the grid's, unless an output is short).
    pub fn cells(&self) -> usize {
        match *self {
            Heads::Published {
                cls,
                obj,
                bbox,
                kps,
            } => cls
                .len()
                .min(obj.len())
                .min(bbox.len() / 4)
                .min(kps.len() / 10),
            // All sixteen planes or none (a short output would put them elsewhere).
            Heads::Merged { head, cells } => {
                if head.len() >= MERGED_CHANNELS * cells {
                    cells
                } else {
                    0
                }
            }
        }
    }

    /// Face score and objectness of cell `i`, both probabilities.
    pub fn probabilities(&self, i: usize) -> (f32, f32) {
        match *self {
            Heads::Published { cls, obj, .. } => (cls[i], obj[i]),
            Heads::Merged { head, cells } => {
                (sigmoid(head[i]), sigmoid(head[first_plane(1) * cells + i]))
            }
        }
    }

    /// Box value `k` (0..4: dx, dy, log w, log h) of cell `i`.
    pub fn bbox(&self, i: usize, k: usize) -> f32 {
        match *self {
            Heads::Published { bbox, .. } => bbox[i * 4 + k],
            Heads::Merged { head, cells } => head[(first_plane(2) + k) * cells + i],
        }
    }

    /// Landmark value `k` (0..10: x and y of the five landmarks) of cell `i`.
    pub fn kps(&self, i: usize, k: usize) -> f32 {
        match *self {
            Heads::Published { kps, .. } => kps[i * 10 + k],
            Heads::Merged { head, cells } => head[(first_plane(3) + k) * cells + i],
        }
    }
}

/// One published head: the 1x1 convolution and the depthwise one, by node index.
struct Head {
    pointwise: usize,
    depthwise: usize,
}

/// Merges the heads of every stride (all or nothing: a head that does not have the published
/// shape keeps the whole graph as it is).
pub fn merged_heads(model: &[u8]) -> Result<Rewrite, RewriteError> {
    let mut model = onnx::ModelProto::decode(model)?;
    let Some(graph) = model.graph.as_mut() else {
        return Ok(Rewrite::Kept("the model has no graph"));
    };
    let mut merged = Vec::with_capacity(STRIDES.len());
    for stride in STRIDES {
        let mut heads = Vec::with_capacity(HEADS.len());
        for (kind, channels, sigmoid) in HEADS {
            match head(
                graph,
                &published_output_name(kind, stride),
                channels,
                sigmoid,
            ) {
                Some(h) => heads.push(h),
                None => {
                    return Ok(Rewrite::Kept(
                        "a YuNet head does not have the published shape",
                    ));
                }
            }
        }
        let feature = graph.node[heads[0].pointwise].input[0].clone();
        if heads
            .iter()
            .any(|h| graph.node[h.pointwise].input[0] != feature)
        {
            return Ok(Rewrite::Kept(
                "the heads of a stride read different feature maps",
            ));
        }
        merged.push((stride, feature, heads));
    }
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    for (stride, feature, heads) in &merged {
        // Weights and biases of the four heads, stacked along the output channels.
        let stack = |which: fn(&Head) -> usize, input: usize| -> Option<(Vec<f32>, Vec<i64>)> {
            let mut values = Vec::new();
            let mut dims: Option<Vec<i64>> = None;
            for h in heads {
                let t = constant(graph, graph.node[which(h)].input.get(input)?)?;
                values.extend(float_values(t)?);
                let d = t.dims.clone();
                dims = Some(match dims {
                    None => d,
                    Some(mut acc) if acc.len() == d.len() && acc[1..] == d[1..] => {
                        acc[0] += d[0];
                        acc
                    }
                    Some(_) => return None,
                });
            }
            Some((values, dims?))
        };
        let (Some(pw_w), Some(pw_b), Some(dw_w), Some(dw_b)) = (
            stack(|h| h.pointwise, 1),
            stack(|h| h.pointwise, 2),
            stack(|h| h.depthwise, 1),
            stack(|h| h.depthwise, 2),
        ) else {
            return Ok(Rewrite::Kept(
                "a YuNet head's weights are not float constants",
            ));
        };
        let name = |part: &str| format!("head_{stride}__{part}");
        for (part, (values, dims)) in [
            ("pw_w", pw_w),
            ("pw_b", pw_b),
            ("dw_w", dw_w),
            ("dw_b", dw_b),
        ] {
            let mut tensor = onnx::TensorProto {
                name: Some(name(part)),
                dims,
                data_type: Some(FLOAT),
                ..Default::default()
            };
            set_floats(&mut tensor, &values);
            initializers.push(tensor);
        }
        let conv = |input: String, part: &str, output: String, kernel: i64, group: i64| {
            let pad = kernel / 2;
            onnx::NodeProto {
                input: vec![
                    input,
                    name(&format!("{part}_w")),
                    name(&format!("{part}_b")),
                ],
                output: vec![output],
                name: Some(name(part)),
                op_type: Some("Conv".into()),
                domain: Some(String::new()),
                attribute: vec![
                    ints("kernel_shape", &[kernel, kernel]),
                    ints("pads", &[pad, pad, pad, pad]),
                    ints("strides", &[1, 1]),
                    ints("dilations", &[1, 1]),
                    int("group", group),
                ],
                ..Default::default()
            }
        };
        nodes.push(conv(feature.clone(), "pw", name("pw"), 1, 1));
        nodes.push(conv(
            name("pw"),
            "dw",
            output_name(*stride),
            3,
            MERGED_CHANNELS as i64,
        ));
    }
    // The new nodes read feature maps made earlier, so appended they keep the order
    // topological; then everything only the old outputs needed goes.
    graph.node.extend(nodes);
    graph.initializer.extend(initializers);
    graph.output = STRIDES.iter().map(|&s| output_info(s)).collect();
    prune(graph);
    Ok(Rewrite::Done {
        bytes: model.encode_to_vec(),
        nodes: STRIDES.len() * HEADS.len(),
    })
}

/// The published head whose graph output is `output`: `Conv 1x1 (channels) → Conv 3x3
/// depthwise → Transpose (to channels-last) → Reshape`, and `→ Sigmoid` when `sigmoid`.
fn head(graph: &onnx::GraphProto, output: &str, channels: usize, sigmoid: bool) -> Option<Head> {
    graph.output.iter().find(|o| o.name() == output)?;
    let producer = |tensor: &str| {
        graph
            .node
            .iter()
            .position(|n| n.output.iter().any(|o| o == tensor))
    };
    let mut at = producer(output)?;
    let expected: &[&str] = if sigmoid {
        &["Sigmoid", "Reshape", "Transpose"]
    } else {
        &["Reshape", "Transpose"]
    };
    for op in expected {
        let n = &graph.node[at];
        if n.op_type() != *op || !default_domain(n) {
            return None;
        }
        if *op == "Transpose"
            && attribute(n, "perm").map(|a| a.ints.as_slice()) != Some(&[0, 2, 3, 1])
        {
            return None;
        }
        at = producer(n.input.first()?)?;
    }
    let depthwise = at;
    let dw = &graph.node[depthwise];
    let c = channels as i64;
    if !conv_shaped(graph, dw, &[c, 1, 3, 3], c, 1) {
        return None;
    }
    let pointwise = producer(dw.input.first()?)?;
    let pw = &graph.node[pointwise];
    let features = constant(graph, pw.input.get(1)?)?.dims.get(1).copied()?;
    if !conv_shaped(graph, pw, &[c, features, 1, 1], 1, 0) {
        return None;
    }
    // Nothing else may read what the merge removes.
    (sole_reader(graph, &pw.output[0]) == Some(depthwise)).then_some(Head {
        pointwise,
        depthwise,
    })
}

/// A `Conv` of the default domain with weights of `dims`, a float bias, `group`, stride 1,
/// dilation 1 and `pad` on every side.
fn conv_shaped(
    graph: &onnx::GraphProto,
    n: &onnx::NodeProto,
    dims: &[i64],
    expected_group: i64,
    pad: i64,
) -> bool {
    let ints_or = |name: &str, default: &[i64]| {
        attribute(n, name).map_or(default.to_vec(), |a| a.ints.clone())
    };
    n.op_type() == "Conv"
        && default_domain(n)
        && n.input.len() == 3
        && n.output.len() == 1
        && constant(graph, &n.input[1]).is_some_and(|t| t.data_type() == FLOAT && t.dims == dims)
        && constant(graph, &n.input[2])
            .is_some_and(|t| t.data_type() == FLOAT && t.dims == [dims[0]])
        && group(n) == expected_group
        && ints_or("strides", &[1, 1]) == [1, 1]
        && ints_or("dilations", &[1, 1]) == [1, 1]
        && ints_or("pads", &[0, 0, 0, 0]) == [pad; 4]
        && attribute(n, "auto_pad").is_none_or(|a| matches!(a.s.as_deref(), None | Some(b"NOTSET")))
}

/// `AttributeProto.AttributeType.INTS`.
const INTS: i32 = 7;

fn ints(name: &str, values: &[i64]) -> onnx::AttributeProto {
    onnx::AttributeProto {
        name: Some(name.into()),
        r#type: Some(INTS),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// `head_{stride}`: float, `[N, 16, H, W]` with the batch and grid left symbolic.
fn output_info(stride: usize) -> onnx::ValueInfoProto {
    use onnx::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = |value: Value| Dimension {
        value: Some(value),
        ..Default::default()
    };
    onnx::ValueInfoProto {
        name: Some(output_name(stride)),
        r#type: Some(onnx::TypeProto {
            value: Some(onnx::type_proto::Value::TensorType(
                onnx::type_proto::Tensor {
                    elem_type: Some(FLOAT),
                    shape: Some(onnx::TensorShapeProto {
                        dim: vec![
                            dim(Value::DimParam("N".into())),
                            dim(Value::DimValue(MERGED_CHANNELS as i64)),
                            dim(Value::DimParam(format!("H{stride}"))),
                            dim(Value::DimParam(format!("W{stride}"))),
                        ],
                    }),
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Removes the nodes no graph output depends on, and the constants no node reads.
fn prune(graph: &mut onnx::GraphProto) {
    let mut needed: std::collections::HashSet<String> =
        graph.output.iter().map(|o| o.name().to_string()).collect();
    let mut keep = vec![false; graph.node.len()];
    // The list is topologically sorted, so one pass from the end sees every reader first.
    for (i, n) in graph.node.iter().enumerate().rev() {
        if n.output.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(n.input.iter().filter(|x| !x.is_empty()).cloned());
        }
    }
    let mut flags = keep.into_iter();
    graph.node.retain(|_| flags.next().unwrap_or(false));
    graph.initializer.retain(|t| needed.contains(t.name()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        super::super::read_verified(&dir, super::super::YUNET).expect("model (run `make setup`)")
    }

    #[test]
    fn the_published_yunet_gets_three_merged_heads() {
        let Rewrite::Done { bytes, nodes } = merged_heads(&published()).expect("an ONNX model")
        else {
            panic!("not rewritten");
        };
        assert_eq!(nodes, 12, "every head merged");
        let graph = onnx::ModelProto::decode(bytes.as_slice())
            .expect("decodes")
            .graph
            .expect("a graph");
        let outputs: Vec<_> = graph.output.iter().map(|o| o.name()).collect();
        assert_eq!(outputs, ["head_8", "head_16", "head_32"]);
        for op in [
            "Sigmoid",
            "Transpose",
            "Reshape",
            "Shape",
            "Gather",
            "Concat",
        ] {
            assert!(!graph.node.iter().any(|n| n.op_type() == op), "{op} left");
        }
        for stride in STRIDES {
            let dw = graph
                .node
                .iter()
                .find(|n| n.output == [output_name(stride)])
                .expect("the merged depthwise convolution");
            assert_eq!(attribute(dw, "group").map(|a| a.i()), Some(16));
            let w = constant(&graph, &dw.input[1]).expect("weights");
            assert_eq!(w.dims, [16, 1, 3, 3]);
        }
        // Every tensor a node reads is made by a node before it, or is an input or constant.
        let mut known: std::collections::HashSet<&str> =
            graph.input.iter().map(|i| i.name()).collect();
        known.extend(graph.initializer.iter().map(|t| t.name()));
        for n in &graph.node {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                assert!(
                    known.contains(i.as_str()),
                    "{} reads {i} before it is made",
                    n.name()
                );
            }
            known.extend(n.output.iter().map(String::as_str));
        }
    }

    #[test]
    fn a_graph_without_the_heads_is_kept() {
        let mut model = onnx::ModelProto::decode(published().as_slice()).expect("decodes");
        if let Some(g) = model.graph.as_mut() {
            g.output.retain(|o| o.name() != "kps_16");
        }
        assert!(matches!(
            merged_heads(&model.encode_to_vec()).expect("an ONNX model"),
            Rewrite::Kept(_)
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(merged_heads(&[0xff, 0xff, 0xff]).is_err());
    }
}
