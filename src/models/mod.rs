//! Locating, checksumming and loading the ONNX models.
//!
//! ONNX Runtime is loaded at run time from the shared library that `make setup` extracts from
//! the PyPI wheel (`ort`'s `load-dynamic`): nothing is downloaded at build time. A [`Session`]
//! runs with `&mut self`, so concurrent jobs each borrow one [`ModelSet`] from a [`ModelPool`]
//! that holds as many sets as there are scoring threads; the sets are created once per process.

mod blocked;
mod prelu;
pub mod yunet_heads;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use prelu::{Rewrite, RewriteError, prelu_as_max};

use crate::config::{MiniFasnetGraph, ModelSettings, YunetGraph};

/// The manifest committed with the project: file name, sha256, upstream URL.
pub const MANIFEST: &str = include_str!("../../models/manifest.tsv");

pub const YUNET: &str = "yunet_s_dynamic.onnx";
pub const MINIFASNET_V2: &str = "minifasnet_v2.onnx";
pub const MINIFASNET_V1SE: &str = "minifasnet_v1se.onnx";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot load the ONNX Runtime library {path}: {message} (run `make setup`)")]
    Runtime { path: PathBuf, message: String },
    #[error("model file {path} is missing or unreadable: {source} (run `make setup`)")]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {path} has sha256 {actual}, the manifest says {expected}")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model {name} is not in models/manifest.tsv")]
    NotInManifest { name: String },
    #[error("ONNX Runtime: {0}")]
    Ort(ort::Error),
    #[error("model {name}: {source}")]
    Rewrite {
        name: &'static str,
        source: RewriteError,
    },
}

impl<R> From<ort::Error<R>> for ModelError
where
    ort::Error<R>: Into<ort::Error>,
{
    fn from(e: ort::Error<R>) -> Self {
        ModelError::Ort(e.into())
    }
}

/// One entry of `models/manifest.tsv`. Its third column, the upstream URL, is read by
/// `make setup` (scripts/setup.sh) only.
#[derive(Debug, Clone)]
struct ManifestEntry {
    file: String,
    sha256: String,
}

fn manifest() -> Vec<ManifestEntry> {
    MANIFEST
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split('\t');
            Some(ManifestEntry {
                file: parts.next()?.to_string(),
                sha256: parts.next()?.to_string(),
            })
        })
        .collect()
}

/// Reads a model file and checks it against the manifest's sha256.
pub fn read_verified(dir: &Path, name: &str) -> Result<Vec<u8>, ModelError> {
    let entry = manifest()
        .into_iter()
        .find(|e| e.file == name)
        .ok_or_else(|| ModelError::NotInManifest {
            name: name.to_string(),
        })?;
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Missing {
        path: path.clone(),
        source,
    })?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual != entry.sha256 {
        return Err(ModelError::Checksum {
            path,
            expected: entry.sha256,
            actual,
        });
    }
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ONNX Runtime environment is process-wide; it is initialised once from the library path
/// (`ORT_DYLIB_PATH` when set, else the configured one). `init_from` returns an error where
/// `ort::init()` would panic on a missing library.
fn environment(settings: &ModelSettings) -> Result<Arc<ort::environment::Environment>, ModelError> {
    static ENV: OnceLock<Arc<ort::environment::Environment>> = OnceLock::new();
    if let Some(env) = ENV.get() {
        return Ok(env.clone());
    }
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| settings.onnxruntime.clone());
    let runtime_err = |message: String| ModelError::Runtime {
        path: path.clone(),
        message,
    };
    if !path.exists() {
        return Err(runtime_err("no such file".into()));
    }
    let builder = ort::init_from(&path).map_err(|e| runtime_err(e.to_string()))?;
    let env = builder
        .with_name("liveness")
        .with_telemetry(false)
        .build()
        .map_err(|e| runtime_err(e.to_string()))?;
    let env = Arc::new(env);
    Ok(ENV.get_or_init(|| env).clone())
}

/// The three sessions one scoring job needs.
pub struct ModelSet {
    pub yunet: Session,
    pub fas_v2: Session,
    pub fas_v1se: Session,
}

/// Verified model bytes, read once and shared by every [`ModelSet`] built from them.
struct ModelBytes {
    /// How many of the MiniFASNet graphs run in the configured faster form (0 to 2).
    rewritten: usize,
    /// Whether YuNet runs with its heads merged ([`yunet_heads`]).
    yunet_merged: bool,
    yunet: Vec<u8>,
    fas_v2: Vec<u8>,
    fas_v1se: Vec<u8>,
}

impl ModelBytes {
    fn load(
        env: &ort::environment::Environment,
        settings: &ModelSettings,
    ) -> Result<Self, ModelError> {
        let dir = &settings.dir;
        let fas = |name: &'static str| -> Result<(Vec<u8>, bool), ModelError> {
            let bytes = read_verified(dir, name)?;
            faster_minifasnet(env, name, bytes, settings)
        };
        let (fas_v2, v2_rewritten) = fas(MINIFASNET_V2)?;
        let (fas_v1se, v1se_rewritten) = fas(MINIFASNET_V1SE)?;
        let (yunet, yunet_merged) = faster_yunet(env, read_verified(dir, YUNET)?, settings)?;
        Ok(ModelBytes {
            rewritten: usize::from(v2_rewritten) + usize::from(v1se_rewritten),
            yunet_merged,
            yunet,
            fas_v2,
            fas_v1se,
        })
    }
}

/// The largest difference of any logit between the [`blocked`] form and the published graph on
/// the probe input for which the blocked form is used. Measured: at most 3e-6 on random inputs
/// and on the face crops of every shared image (`tests/model_graphs.rs`); a logit moved by 1e-3
/// moves the real-face probability by at most 2.5e-4. Anything larger means the rewrite met a
/// graph it does not understand, and the published graph runs instead.
pub const BLOCKED_LOGIT_TOLERANCE: f32 = 1e-3;

/// The MiniFASNet graph in the configured form (`[models] minifasnet_graph`) when the rewrite
/// applies and, on a probe input, gives the original's output (exactly for
/// [`MiniFasnetGraph::PreluAsMax`], within [`BLOCKED_LOGIT_TOLERANCE`] for
/// [`MiniFasnetGraph::Blocked`]); else the original. The flag says whether it was rewritten.
fn faster_minifasnet(
    env: &ort::environment::Environment,
    name: &'static str,
    original: Vec<u8>,
    settings: &ModelSettings,
) -> Result<(Vec<u8>, bool), ModelError> {
    let form = settings.minifasnet_graph;
    let rewrite = match form {
        MiniFasnetGraph::Published => return Ok((original, false)),
        MiniFasnetGraph::PreluAsMax => prelu_as_max(&original),
        MiniFasnetGraph::Blocked => blocked::blocked(&original),
    };
    let (bytes, nodes) = match rewrite.map_err(|source| ModelError::Rewrite { name, source })? {
        Rewrite::Done { bytes, nodes } => (bytes, nodes),
        Rewrite::Kept(why) => {
            warn!(
                model = name,
                ?form,
                why,
                "graph rewrite not applied; running the published graph"
            );
            return Ok((original, false));
        }
    };
    let before = probe_output(&mut session(env, &original, settings)?)?;
    let after = probe_output(&mut session(env, &bytes, settings)?)?;
    let largest = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let same = before.len() == after.len()
        && match form {
            MiniFasnetGraph::Blocked => largest <= BLOCKED_LOGIT_TOLERANCE,
            _ => before == after,
        };
    if !same {
        warn!(
            model = name,
            ?form,
            ?before,
            ?after,
            "the graph rewrite changed the output; running the published graph"
        );
        return Ok((original, false));
    }
    info!(
        model = name,
        ?form,
        nodes,
        largest_logit_change = largest,
        "MiniFASNet graph rewritten; output checked on the probe"
    );
    Ok((bytes, true))
}

/// The largest difference between YuNet's published outputs and the merged heads'
/// ([`yunet_heads`]) on the probe input for which the merged form is used: a score (0..1) or a
/// box or landmark coordinate in grid cells. Measured: at most 1.2e-7 for the scores and 1.5e-6
/// for the landmarks, on random inputs and both benchmark images at 320x320 and 320x192.
/// Anything larger means the rewrite met a graph it does not understand.
pub const MERGED_HEADS_TOLERANCE: f32 = 1e-4;

/// YuNet in the configured form (`[models] yunet_graph`) when the rewrite applies and, on a
/// probe input, gives the published outputs within [`MERGED_HEADS_TOLERANCE`]; else the
/// published graph. The flag says whether it was rewritten.
fn faster_yunet(
    env: &ort::environment::Environment,
    original: Vec<u8>,
    settings: &ModelSettings,
) -> Result<(Vec<u8>, bool), ModelError> {
    if settings.yunet_graph == YunetGraph::Published {
        return Ok((original, false));
    }
    let bytes =
        match yunet_heads::merged_heads(&original).map_err(|source| ModelError::Rewrite {
            name: YUNET,
            source,
        })? {
            Rewrite::Done { bytes, .. } => bytes,
            Rewrite::Kept(why) => {
                warn!(
                    model = YUNET,
                    why, "heads not merged; running the published graph"
                );
                return Ok((original, false));
            }
        };
    let largest = yunet_probe_difference(
        &mut session(env, &original, settings)?,
        &mut session(env, &bytes, settings)?,
    )?;
    if largest.is_none_or(|d| d > MERGED_HEADS_TOLERANCE) {
        warn!(
            model = YUNET,
            ?largest,
            "merging the heads changed the output; running the published graph"
        );
        return Ok((original, false));
    }
    info!(
        model = YUNET,
        largest_change = largest,
        "YuNet heads merged; output checked on the probe"
    );
    Ok((bytes, true))
}

/// The largest difference between the published graph's twelve outputs and the merged
/// graph's three, decoded alike, on a fixed 64x96 input covering 0..255; `None` when an output
/// is missing or of another size.
fn yunet_probe_difference(
    published: &mut Session,
    merged: &mut Session,
) -> Result<Option<f32>, ModelError> {
    const H: usize = 64;
    const W: usize = 96;
    let input = probe_pattern(H, W);
    let run = |s: &mut Session| -> Result<Vec<(String, Vec<f32>)>, ModelError> {
        let tensor = TensorRef::from_array_view(([1usize, 3, H, W], input.as_slice()))?;
        let outputs = s.run(ort::inputs!["input" => tensor])?;
        let mut all = Vec::new();
        for (name, value) in outputs.iter() {
            let (_, v) = value.try_extract_tensor::<f32>()?;
            all.push((name.to_string(), v.to_vec()));
        }
        Ok(all)
    };
    let (a, b) = (run(published)?, run(merged)?);
    fn find<'a>(all: &'a [(String, Vec<f32>)], name: &str) -> Option<&'a [f32]> {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
    // Both forms are read through the detector's own accessors ([`yunet_heads::Heads`]), so
    // the probe checks the layout the detector relies on.
    let mut largest = 0f32;
    for stride in yunet_heads::STRIDES {
        let cells = (H / stride) * (W / stride);
        let get = |kind: &str| find(&a, &yunet_heads::published_output_name(kind, stride));
        let (Some(head), Some(cls), Some(obj), Some(bbox), Some(kps)) = (
            find(&b, &yunet_heads::output_name(stride)),
            get("cls"),
            get("obj"),
            get("bbox"),
            get("kps"),
        ) else {
            return Ok(None);
        };
        let published = yunet_heads::Heads::Published {
            cls,
            obj,
            bbox,
            kps,
        };
        let merged = yunet_heads::Heads::Merged { head, cells };
        if published.cells() != cells || merged.cells() != cells {
            return Ok(None);
        }
        for i in 0..cells {
            let (p, m) = (published.probabilities(i), merged.probabilities(i));
            let boxes = (0..4).map(|k| (published.bbox(i, k) - merged.bbox(i, k)).abs());
            let landmarks = (0..10).map(|k| (published.kps(i, k) - merged.kps(i, k)).abs());
            largest = [(p.0 - m.0).abs(), (p.1 - m.1).abs()]
                .into_iter()
                .chain(boxes)
                .chain(landmarks)
                .fold(largest, f32::max);
        }
    }
    Ok(Some(largest))
}

/// A fixed 3-channel `height` x `width` input that covers the whole 0..255 range, the same on
/// every run, for the probes that compare a rewritten graph with the published one.
fn probe_pattern(height: usize, width: usize) -> Vec<f32> {
    (0..3 * height * width)
        .map(|i| ((i * 7919 + i / width * 104_729) % 256) as f32)
        .collect()
}

/// The logits of a MiniFASNet graph for a fixed 80x80 input that covers the whole 0..255 range
/// (a deterministic pattern, so the comparison is reproducible).
fn probe_output(session: &mut Session) -> Result<Vec<f32>, ModelError> {
    const SIDE: usize = 80;
    let input = probe_pattern(SIDE, SIDE);
    let tensor = TensorRef::from_array_view(([1usize, 3, SIDE, SIDE], input.as_slice()))?;
    let outputs = session.run(ort::inputs![tensor])?;
    let (_, logits) = outputs[0].try_extract_tensor::<f32>()?;
    Ok(logits.to_vec())
}

fn session(
    env: &ort::environment::Environment,
    bytes: &[u8],
    settings: &ModelSettings,
) -> Result<Session, ModelError> {
    // One intra-op thread: a single image is small work, and parallelism comes from scoring
    // several jobs at once (one ModelSet per scoring thread). Spinning threads would only burn
    // the cores other jobs need.
    let session = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)?
        .with_intra_threads(settings.intra_threads.max(1))?
        .with_inter_threads(1)?
        .with_intra_op_spinning(false)?
        .commit_from_memory(bytes)?;
    Ok(session)
}

impl ModelSet {
    fn build(
        env: &ort::environment::Environment,
        bytes: &ModelBytes,
        settings: &ModelSettings,
    ) -> Result<Self, ModelError> {
        Ok(ModelSet {
            yunet: session(env, &bytes.yunet, settings)?,
            fas_v2: session(env, &bytes.fas_v2, settings)?,
            fas_v1se: session(env, &bytes.fas_v1se, settings)?,
        })
    }
}

/// A fixed set of [`ModelSet`]s shared by all jobs of a process. `get` blocks until a set is
/// free, so at most `size` jobs run the models at once.
pub struct ModelPool {
    free: Mutex<Vec<ModelSet>>,
    rewritten_graphs: usize,
    yunet_merged: bool,
    available: Condvar,
    size: usize,
}

impl ModelPool {
    pub fn load(settings: &ModelSettings, size: usize) -> Result<Self, ModelError> {
        let env = environment(settings)?;
        let bytes = ModelBytes::load(&env, settings)?;
        let size = size.max(1);
        let sets = (0..size)
            .map(|_| ModelSet::build(&env, &bytes, settings))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ModelPool {
            free: Mutex::new(sets),
            rewritten_graphs: bytes.rewritten,
            yunet_merged: bytes.yunet_merged,
            available: Condvar::new(),
            size,
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// How many MiniFASNet graphs run in the configured faster form (0 to 2; see [`prelu`]
    /// and [`blocked`]).
    pub fn rewritten_graphs(&self) -> usize {
        self.rewritten_graphs
    }

    /// Whether YuNet runs with its heads merged (`[models] yunet_graph`, [`yunet_heads`]).
    pub fn yunet_heads_merged(&self) -> bool {
        self.yunet_merged
    }

    /// Borrows a model set; it goes back to the pool when the guard drops (also on panic).
    pub fn get(&self) -> PooledSet<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(set) = free.pop() {
                return PooledSet {
                    pool: self,
                    set: Some(set),
                };
            }
            free = self.available.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }
}

pub struct PooledSet<'a> {
    pool: &'a ModelPool,
    set: Option<ModelSet>,
}

impl std::ops::Deref for PooledSet<'_> {
    type Target = ModelSet;
    fn deref(&self) -> &ModelSet {
        // The option is only emptied in drop.
        self.set.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for PooledSet<'_> {
    fn deref_mut(&mut self) -> &mut ModelSet {
        self.set.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for PooledSet<'_> {
    fn drop(&mut self) {
        if let Some(set) = self.set.take() {
            let mut free = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
            free.push(set);
            self.pool.available.notify_one();
        }
    }
}
