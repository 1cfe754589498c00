//! The MiniFASNet graphs with every `PRelu(x, a)` written as `Max(x, Mul(x, a))`.
//!
//! Why: ONNX Runtime 1.32 has no fused or blocked-layout (NCHWc) kernel for `PRelu`. Each of
//! the 33 `PRelu` nodes of MiniFASNetV2 runs a generic broadcasting kernel and makes the graph
//! leave and re-enter the NCHWc layout around it. Profiled with ONNX Runtime's own profiler,
//! one thread, 80x80 input: `PRelu` was 45 % of a run and the layout reorders another 8 %.
//! `Mul` and `Max` have fast elementwise kernels, and the rewritten graphs run in about half the
//! time (`docs/performance.md`, "The networks").
//!
//! Why it is exact: for a slope `a ≤ 1`, `max(x, a·x)` is `x` when `x ≥ 0` and `a·x` when
//! `x < 0`, which is `PRelu`'s definition, and the product `a·x` is the same single float
//! multiplication `PRelu` does. So the outputs are bit-for-bit those of the original graph.
//! The rewrite is refused (the original graph is kept) when a slope is above 1, or when the
//! slope is not a constant of the graph. [`super::ModelPool::load`] also runs both graphs on a
//! probe input and keeps the original on any difference.

use prost::Message;

/// The ONNX protobuf messages (`Protos/onnx/onnx.proto`, from the `onnx` package), compiled
/// by `build.rs`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub(super) mod onnx {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// `TensorProto.DataType.FLOAT`.
pub(super) const FLOAT: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("the model is not a readable ONNX protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// What [`prelu_as_max`] did with a graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Rewrite {
    /// Every `PRelu` was replaced; `nodes` of them.
    Done { bytes: Vec<u8>, nodes: usize },
    /// Nothing was changed, and why.
    Kept(&'static str),
}

/// Rewrites every `PRelu` of the main graph as `Max(x, Mul(x, a))` when that is exact (every
/// slope a float constant ≤ 1). All or nothing: one node that cannot be rewritten keeps the
/// whole graph as it is.
pub fn prelu_as_max(model: &[u8]) -> Result<Rewrite, RewriteError> {
    let mut model = onnx::ModelProto::decode(model)?;
    let Some(graph) = model.graph.as_mut() else {
        return Ok(Rewrite::Kept("the model has no graph"));
    };
    let count = match rewritable_prelus(graph) {
        Ok(count) => count,
        Err(why) => return Ok(Rewrite::Kept(why)),
    };
    let mut nodes = Vec::with_capacity(graph.node.len() + count);
    for node in std::mem::take(&mut graph.node) {
        if !is_prelu(&node) {
            nodes.push(node);
            continue;
        }
        // Same position in the node list, so the graph stays topologically sorted.
        let x = node.input[0].clone();
        let name = node.name().to_string();
        let scaled = format!(
            "{}__prelu_scaled",
            node.output.first().map_or("", String::as_str)
        );
        nodes.push(onnx::NodeProto {
            input: vec![x.clone(), node.input[1].clone()],
            output: vec![scaled.clone()],
            name: Some(format!("{name}__mul")),
            op_type: Some("Mul".into()),
            domain: Some(String::new()),
            ..Default::default()
        });
        nodes.push(onnx::NodeProto {
            input: vec![x, scaled],
            output: node.output,
            name: Some(format!("{name}__max")),
            op_type: Some("Max".into()),
            domain: Some(String::new()),
            ..Default::default()
        });
    }
    graph.node = nodes;
    Ok(Rewrite::Done {
        bytes: model.encode_to_vec(),
        nodes: count,
    })
}

/// A `PRelu` node of the default domain with its two inputs.
pub(super) fn is_prelu(n: &onnx::NodeProto) -> bool {
    n.op_type() == "PRelu" && default_domain(n) && n.input.len() == 2
}

// Graph helpers shared by the rewrites ([`super::blocked`], [`super::yunet_heads`]).

/// `AttributeProto.AttributeType.INT`.
pub(super) const INT: i32 = 2;

/// Whether `n` is an operator of the default ONNX domain.
pub(super) fn default_domain(n: &onnx::NodeProto) -> bool {
    matches!(n.domain(), "" | "ai.onnx")
}

/// The attribute `name` of `n`.
pub(super) fn attribute<'n>(
    n: &'n onnx::NodeProto,
    name: &str,
) -> Option<&'n onnx::AttributeProto> {
    n.attribute.iter().find(|a| a.name() == name)
}

/// The `group` of a `Conv` (1 when absent).
pub(super) fn group(n: &onnx::NodeProto) -> i64 {
    attribute(n, "group").map_or(1, |a| a.i())
}

/// An `INT` attribute.
pub(super) fn int(name: &str, value: i64) -> onnx::AttributeProto {
    onnx::AttributeProto {
        name: Some(name.into()),
        r#type: Some(INT),
        i: Some(value),
        ..Default::default()
    }
}

/// The constant (initializer) of the graph named `name`.
pub(super) fn constant<'g>(
    graph: &'g onnx::GraphProto,
    name: &str,
) -> Option<&'g onnx::TensorProto> {
    graph.initializer.iter().find(|t| t.name() == name)
}

/// The indices of the nodes that read `tensor`.
pub(super) fn readers(graph: &onnx::GraphProto, tensor: &str) -> Vec<usize> {
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.input.iter().any(|i| i == tensor))
        .map(|(i, _)| i)
        .collect()
}

/// The one node that reads `tensor`, when it is not also a graph output.
pub(super) fn sole_reader(graph: &onnx::GraphProto, tensor: &str) -> Option<usize> {
    if graph.output.iter().any(|o| o.name() == tensor) {
        return None;
    }
    match readers(graph, tensor).as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Stores `values` in a float tensor, as little-endian `raw_data`.
pub(super) fn set_floats(t: &mut onnx::TensorProto, values: &[f32]) {
    t.raw_data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
    t.float_data.clear();
}

/// How many `PRelu` nodes the graph has, when every one of them can be rewritten: its slope is
/// a float constant of the graph, at most 1 everywhere (what both the `Max` form and the
/// [`super::blocked`] form rely on). Else why not.
pub(super) fn rewritable_prelus(graph: &onnx::GraphProto) -> Result<usize, &'static str> {
    let mut count = 0;
    for node in graph.node.iter().filter(|n| is_prelu(n)) {
        let Some(slope) = graph.initializer.iter().find(|t| t.name() == node.input[1]) else {
            return Err("a PRelu slope is not a constant of the graph");
        };
        match float_values(slope) {
            Some(values) if values.iter().all(|a| *a <= 1.0) => count += 1,
            Some(_) => return Err("a PRelu slope is above 1"),
            None => return Err("a PRelu slope is not a float tensor"),
        }
    }
    if count == 0 {
        return Err("the graph has no PRelu");
    }
    Ok(count)
}

/// The values of a float tensor stored in `raw_data` (little-endian) or `float_data`.
pub(super) fn float_values(t: &onnx::TensorProto) -> Option<Vec<f32>> {
    if t.data_type() != FLOAT {
        return None;
    }
    if let Some(raw) = t.raw_data.as_deref().filter(|r| !r.is_empty()) {
        if raw.len() % 4 != 0 {
            return None;
        }
        return Some(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        );
    }
    Some(t.float_data.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slope(name: &str, values: &[f32]) -> onnx::TensorProto {
        onnx::TensorProto {
            name: Some(name.into()),
            dims: vec![values.len() as i64, 1, 1],
            data_type: Some(FLOAT),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        }
    }

    fn prelu(x: &str, a: &str, y: &str) -> onnx::NodeProto {
        onnx::NodeProto {
            input: vec![x.into(), a.into()],
            output: vec![y.into()],
            name: Some(format!("p_{y}")),
            op_type: Some("PRelu".into()),
            ..Default::default()
        }
    }

    fn model(nodes: Vec<onnx::NodeProto>, inits: Vec<onnx::TensorProto>) -> Vec<u8> {
        onnx::ModelProto {
            graph: Some(onnx::GraphProto {
                node: nodes,
                initializer: inits,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn every_prelu_becomes_mul_then_max_in_place() {
        let bytes = model(
            vec![prelu("x", "a", "y"), prelu("y", "b", "z")],
            vec![slope("a", &[0.25, -0.3]), slope("b", &[1.0])],
        );
        let Rewrite::Done { bytes, nodes } = prelu_as_max(&bytes).unwrap() else {
            panic!("not rewritten");
        };
        assert_eq!(nodes, 2);
        let graph = onnx::ModelProto::decode(bytes.as_slice())
            .unwrap()
            .graph
            .unwrap();
        let ops: Vec<_> = graph.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["Mul", "Max", "Mul", "Max"]);
        assert_eq!(graph.node[0].input, ["x", "a"]);
        assert_eq!(graph.node[1].input, ["x", "y__prelu_scaled"]);
        assert_eq!(graph.node[1].output, ["y"]);
        assert_eq!(graph.node[3].output, ["z"]);
    }

    #[test]
    fn a_slope_above_one_keeps_the_graph() {
        let bytes = model(
            vec![prelu("x", "a", "y"), prelu("y", "b", "z")],
            vec![slope("a", &[0.25]), slope("b", &[0.5, 1.5])],
        );
        assert_eq!(
            prelu_as_max(&bytes).unwrap(),
            Rewrite::Kept("a PRelu slope is above 1")
        );
    }

    #[test]
    fn a_slope_computed_at_run_time_keeps_the_graph() {
        let bytes = model(vec![prelu("x", "a", "y")], vec![]);
        assert!(matches!(prelu_as_max(&bytes).unwrap(), Rewrite::Kept(_)));
    }

    /// Both published MiniFASNet files: every one of their 33 PRelu nodes is rewritten.
    #[test]
    fn the_rewrite_applies_to_both_published_minifasnet_graphs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        for name in [super::super::MINIFASNET_V2, super::super::MINIFASNET_V1SE] {
            let bytes = super::super::read_verified(&dir, name).expect("model (run `make setup`)");
            match prelu_as_max(&bytes).expect("an ONNX model") {
                Rewrite::Done { nodes, .. } => assert_eq!(nodes, 33, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(prelu_as_max(&[0xff, 0xff, 0xff]).is_err());
    }
}
