//! Configuration: `config/default.toml` (compiled in) < an optional file < `LIVENESS__SECTION__KEY`
//! environment variables. Every threshold's default is justified in `docs/thresholds.md`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The defaults, compiled into the binary so that it runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] config::ConfigError);

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The sections `[models]` to `[challenge]`: what scoring reads.
    #[serde(flatten)]
    pub scoring: ScoringSettings,
    pub amqp: AmqpSettings,
    pub worker: WorkerSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub gateway: GatewaySettings,
}

/// What the scoring pipeline ([`crate::pipeline::Engine`]) reads: the models and every
/// threshold, none of the broker, auth, gateway or telemetry settings. Its sections are
/// top-level sections of the configuration, like the others.
#[derive(Debug, Clone, Deserialize)]
pub struct ScoringSettings {
    pub models: ModelSettings,
    pub limits: Limits,
    pub detector: DetectorSettings,
    pub quality: QualitySettings,
    pub texture: TextureSettings,
    pub medium: MediumSettings,
    pub motion: MotionSettings,
    pub challenge: ChallengeSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: String,
    pub job_queue: String,
    pub dead_letter_exchange: String,
    pub dead_letter_queue: String,
    pub delivery_limit: u32,
    pub results_exchange: String,
    pub results_queue: String,
    pub prefetch: u16,
    /// Answered jobs acked together in one `multiple` ack ([`crate::queue`]'s acks module);
    /// 1 acks each job as soon as its result is confirmed. Read through [`Self::ack_batch`].
    pub ack_batch: usize,
    /// How long a result the broker refuses (nacks) is published again, with pauses doubling
    /// from 0.25 to 4 s, before its job is requeued.
    pub result_retry_seconds: u64,
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
}

impl AmqpSettings {
    /// The configured `ack_batch`, at least 1 (0 would mean the same as 1: each job acked at
    /// once).
    pub fn ack_batch(&self) -> usize {
        self.ack_batch.max(1)
    }

    /// These settings with every queue and exchange named after `id` (`id`, `id.dlx`,
    /// `id.dead`, `id.results`): a private topology for a load test or an integration test.
    pub fn renamed(&self, id: &str) -> AmqpSettings {
        AmqpSettings {
            job_queue: id.to_string(),
            dead_letter_exchange: format!("{id}.dlx"),
            dead_letter_queue: format!("{id}.dead"),
            results_exchange: format!("{id}.results"),
            results_queue: format!("{id}.results"),
            ..self.clone()
        }
    }

    /// The environment (`LIVENESS__AMQP__*`) that makes a child `liveness` process use this
    /// broker and these queue and exchange names: for load tests and integration tests that
    /// start workers on private queues.
    pub fn env_vars(&self) -> [(&'static str, &str); 6] {
        [
            ("LIVENESS__AMQP__URL", self.url.as_str()),
            ("LIVENESS__AMQP__JOB_QUEUE", self.job_queue.as_str()),
            (
                "LIVENESS__AMQP__DEAD_LETTER_EXCHANGE",
                self.dead_letter_exchange.as_str(),
            ),
            (
                "LIVENESS__AMQP__DEAD_LETTER_QUEUE",
                self.dead_letter_queue.as_str(),
            ),
            (
                "LIVENESS__AMQP__RESULTS_EXCHANGE",
                self.results_exchange.as_str(),
            ),
            ("LIVENESS__AMQP__RESULTS_QUEUE", self.results_queue.as_str()),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    pub threads: usize,
    pub drain_seconds: u64,
}

impl WorkerSettings {
    /// Scoring threads: the configured number, or one per core available when 0.
    ///
    /// Why one per core: each scoring thread takes its next job from the queue itself
    /// ([`crate::queue::ScoringThreads`]), so as many threads as cores keep the cores busy, and
    /// a thread more only makes them take turns, each turn finding the caches full of another
    /// job. Measured on 2 cores with the broker on the same machine (`liveness-loadtest --mix
    /// peer --workers 1 --threads N --jobs 1000`, three interleaved pairs): 181.4 to 186.8
    /// jobs/s with 2 threads, 175.6 to 177.5 with 3, and 8.4 to 8.7 ms of the worker's CPU per
    /// job against 8.9 to 9.0; each thread also holds about 28 MB of model sessions
    /// (docs/performance.md, "Scoring threads that take their own jobs"). One more than the
    /// cores was the default while jobs reached the threads through tokio's reactor, which
    /// left one thread per core idle 10 to 12 % of the time.
    pub fn threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            default_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
    }
}

/// The scoring threads for `cores` available cores when none are configured.
fn default_threads(cores: usize) -> usize {
    cores.max(1)
}

#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    pub enabled: bool,
    /// Comma-separated client keys, each `client-id:base64-key` or a bare `base64-key`: the
    /// BWS portal's base64 text, whose decoded bytes are the HMAC key (see [`crate::auth`]).
    pub keys: String,
    pub audience: String,
    pub leeway_seconds: u64,
}

impl std::fmt::Debug for AuthSettings {
    // Keys never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("enabled", &self.enabled)
            .field("keys", &format_args!("<{} redacted>", self.key_entries()))
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

impl AuthSettings {
    /// How many key entries are configured (read, not checked: [`crate::auth::check_settings`]).
    pub fn key_entries(&self) -> usize {
        self.keys
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .count()
    }
}

/// The HTTP gateway (`liveness gateway`); each default is explained in `config/default.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    pub listen: String,
    /// The BWS 3 gRPC API's address.
    pub grpc_listen: String,
    pub max_body_bytes: usize,
    /// How much of a refused REST body is still read (and discarded) so that the client,
    /// which may write all of it before it reads, gets the answer; see `drain_timeout_ms`.
    pub drain_max_bytes: u64,
    pub drain_timeout_ms: u64,
    pub deadline_seconds: u64,
    pub deadline_grace_ms: u64,
    pub consumer_check_ms: u64,
}

impl GatewaySettings {
    pub fn deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.deadline_seconds)
    }

    pub fn grace(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.deadline_grace_ms)
    }

    pub fn consumer_check(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.consumer_check_ms)
    }

    pub fn drain_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.drain_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    pub log_format: String,
    pub log_level: String,
    pub metrics_addr: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSettings {
    pub dir: PathBuf,
    pub onnxruntime: PathBuf,
    pub intra_threads: usize,
    /// Which form of the MiniFASNet graphs runs (`models::blocked`, `models::prelu`).
    pub minifasnet_graph: MiniFasnetGraph,
    /// Which form of the YuNet graph runs (`models::yunet_heads`).
    pub yunet_graph: YunetGraph,
}

/// The form in which ONNX Runtime runs YuNet, rewritten at load from the published file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YunetGraph {
    /// The file exactly as published: twelve outputs, three strides of `cls`, `obj`, `bbox`
    /// and `kps`.
    Published,
    /// The four heads of each stride merged into one 16-channel convolution pair (one NCHWc
    /// block), with one output per stride: 13 to 15 % faster; scores within 1.2e-7 and
    /// landmarks within 1.5e-6 grid cells of the published graph's.
    MergedHeads,
}

/// The form in which ONNX Runtime runs the MiniFASNet pair, rewritten at load from the
/// published files (which are always the ones checksummed). `docs/performance.md`, "The
/// networks", has the speed of each on this project's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiniFasnetGraph {
    /// The files exactly as published.
    Published,
    /// Every `PRelu` as `Max(x, x·a)`: the same output bits, about twice as fast.
    PreluAsMax,
    /// Expansions padded to whole NCHWc blocks and `PRelu` as `a·x + Relu((1 − a)·x)`: every
    /// convolution in ONNX Runtime's blocked layout, about 1.7 times as fast again; logits within
    /// a few 1e-6 of the published ones.
    Blocked,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_pixels: u64,
    pub max_working_side: u32,
    /// Read a JPEG of at least about twice the working side at 1/2, 1/4 or 1/8 scale straight
    /// from its DCT coefficients instead of decoding every pixel and scaling down
    /// ([`crate::pipeline::image::decode`]).
    pub jpeg_dct_scaling: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DetectorSettings {
    pub input_side: u32,
    pub pair_input_side: u32,
    pub fallback_side: u32,
    pub fallback_below_px: f32,
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub upright_accept_score: f32,
    pub other_face_min_ratio: f32,
}

impl DetectorSettings {
    /// The settings for the images of a two-image request: `pair_input_side` as the first pass.
    pub fn for_pairs(&self) -> DetectorSettings {
        DetectorSettings {
            input_side: self.pair_input_side,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct QualitySettings {
    pub min_face_width: f32,
    pub margin_side: f32,
    pub margin_top: f32,
    pub margin_chin: f32,
    pub sharpness_reference: f32,
    pub exposure_low: f32,
    pub exposure_high: f32,
    pub max_clipped_fraction: f32,
    pub max_noise: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TextureSettings {
    pub threshold: f64,
    pub area_downscale: bool,
    pub reference_luma: f32,
    pub min_gain: f32,
    pub max_gain: f32,
}

/// The medium cue ([`crate::pipeline::medium`]): distances in eye distances from the eye
/// midpoint, steps relative to the face's luminance.
#[derive(Debug, Clone, Deserialize)]
pub struct MediumSettings {
    pub enabled: bool,
    pub min_step: f32,
    pub min_strength: f32,
    pub min_side: f32,
    pub max_side: f32,
    pub max_side_open: f32,
    pub min_top: f32,
    pub below_shoulders: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MotionSettings {
    pub threshold: f64,
    pub parallax_threshold: f32,
    pub min_motion: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChallengeSettings {
    pub tolerance_deg: f64,
    pub min_magnitude: f64,
}

impl Settings {
    /// Loads the layered configuration. `file` is an optional extra TOML file.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let settings = builder
            .add_source(environment())
            .build()?
            .try_deserialize()?;
        Ok(settings)
    }

    /// The compiled-in defaults, without file or environment.
    pub fn defaults() -> Result<Settings, ConfigError> {
        let settings = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .build()?
            .try_deserialize()?;
        Ok(settings)
    }
}

/// The `LIVENESS__SECTION__KEY` variables, values parsed as numbers and booleans where they
/// are ones.
fn environment() -> config::Environment {
    config::Environment::with_prefix("LIVENESS")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoring_threads_default_to_one_per_core() {
        assert_eq!(default_threads(2), 2);
        assert_eq!(default_threads(1), 1);
        assert_eq!(
            default_threads(0),
            1,
            "no core count known: as for one core"
        );
        let configured = WorkerSettings {
            threads: 5,
            drain_seconds: 30,
        };
        assert_eq!(configured.threads(), 5, "a configured number is kept");
        let auto = WorkerSettings {
            threads: 0,
            drain_seconds: 30,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(auto.threads(), cores);
    }

    #[test]
    fn environment_variables_reach_every_kind_of_section() {
        // The scoring sections are read through `serde(flatten)`, the others directly: both
        // must take values from the environment, numbers written as integers included.
        let vars = [
            ("LIVENESS__TEXTURE__THRESHOLD", "0.6"),
            ("LIVENESS__TEXTURE__MAX_GAIN", "3"),
            ("LIVENESS__DETECTOR__INPUT_SIDE", "480"),
            ("LIVENESS__MEDIUM__ENABLED", "false"),
            ("LIVENESS__MODELS__DIR", "/opt/models"),
            ("LIVENESS__WORKER__THREADS", "3"),
            ("LIVENESS__AMQP__URL", "amqp://a:b@broker:5672/%2f"),
        ];
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s: Settings = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(environment().source(Some(env)))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(s.scoring.texture.threshold, 0.6);
        assert_eq!(s.scoring.texture.max_gain, 3.0);
        assert_eq!(s.scoring.detector.input_side, 480);
        assert!(!s.scoring.medium.enabled);
        assert_eq!(s.scoring.models.dir, PathBuf::from("/opt/models"));
        assert_eq!(s.worker.threads, 3);
        assert_eq!(s.amqp.url, "amqp://a:b@broker:5672/%2f");
    }

    #[test]
    fn defaults_parse() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.scoring.detector.input_side, 320);
        assert!(s.scoring.texture.threshold > 0.0 && s.scoring.texture.threshold < 1.0);
        assert_eq!(s.gateway.listen, "0.0.0.0:8080");
        assert_eq!(s.gateway.grpc_listen, "0.0.0.0:8081");
        assert_eq!(s.gateway.max_body_bytes, 52_428_800);
        assert_eq!(s.gateway.drain_max_bytes, 2 * 52_428_800);
        assert_eq!(s.gateway.drain_timeout_ms, 30_000);
        // A REST body the gateway accepts is a job body the workers accept.
        assert_eq!(s.gateway.max_body_bytes, s.scoring.limits.max_request_bytes);
    }
}
