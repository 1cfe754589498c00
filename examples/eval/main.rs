//! Active-liveness evaluation: genuine pairs (the BioID nod frames at many spacings, the BioID
//! challenge pair) and attack pairs (planar warps of single real images imitating a photo or a
//! screen being moved, tilted, rotated, scaled; a bent photo; no motion; passive spoofs), every
//! pair scored end to end by `Engine::score`. Reports scores, decisions, APCER per attack type
//! and BPCER (ISO/IEC 30107-3), and a sweep of the motion threshold. Then the passive
//! evaluation ([`passive`]): live photos and their realistic dim captures, shared spoofs and
//! medium composites, one image each. Writes both to `docs/evaluation.md`. Run with `make eval`
//! (release build, needs `make setup`).

#[path = "../../tests/common/attacks.rs"]
mod attacks;
#[path = "../../tests/common/captures.rs"]
mod captures;
#[path = "../../tests/common/composites.rs"]
mod composites;
#[path = "../../tests/common/images.rs"]
mod images;
mod parity;
mod passive;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use attacks::{Attack, Base, Kind, Op};
use base64::Engine as _;
use liveness::Engine;
use liveness::api::{ErrorCode, ImageData, LivenessDetectionRequest, LivenessDetectionResponse};
use liveness::config::{ScoringSettings, Settings};

/// Nod spacings (frames) of the genuine pairs.
const SPACINGS: [usize; 6] = [5, 10, 15, 20, 30, 40];
/// A pair "shows motion" when the detector's eye midpoint moved at least this far between the
/// two images, in eye distances of the first (measured by the face detector, independently of
/// the motion estimator). 0.15 eye distances is about 2.5 degrees of head pitch here.
const MOVED: f64 = 0.15;
const ATTACK_BASES: [&str; 6] = [
    "bioid/challenge_right_1.png",
    "bioid/challenge_right_2.png",
    "bioid/nod/001.jpg",
    "bioid/nod/040.jpg",
    "bioid/nod/075.jpg",
    "minivision/live_T1.jpg",
];
const SPOOF_BASES: [&str; 3] = [
    "bioid/photo.png",
    "minivision/spoof_print_F1.jpg",
    "minivision/spoof_screen_F2.jpg",
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn read(name: &str) -> Result<Vec<u8>> {
    let p = data_dir().join(name);
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

fn score(engine: &Engine, first: &[u8], second: &[u8], tags: &[&str]) -> LivenessDetectionResponse {
    score_labelled(engine, first, second, tags, "a pair")
}

fn score_labelled(
    engine: &Engine,
    first: &[u8],
    second: &[u8],
    tags: &[&str],
    label: &str,
) -> LivenessDetectionResponse {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let request = LivenessDetectionRequest {
        live_images: vec![
            ImageData {
                image: b64(first),
                tags: vec![],
            },
            ImageData {
                image: b64(second),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            },
        ],
    };
    let response = engine.score(&request).expect("valid request");
    parity::check(&request, &response, label);
    response
}

/// What one scored pair says.
#[derive(Clone, Debug)]
struct Row {
    group: String,
    name: String,
    tag: Option<&'static str>,
    /// 0 when not computed (a face was not usable).
    motion: f64,
    direction: f64,
    /// Eye-midpoint shift between the images, eye distances of the first (detector).
    shift: f64,
    live: bool,
    /// Errors other than the active check's (passive, face, challenge).
    other_errors: Vec<ErrorCode>,
    challenge_ok: bool,
    errors: Vec<ErrorCode>,
}

impl Row {
    fn active_accepts(&self, t: f64) -> bool {
        self.motion > 0.0 && self.motion >= t
    }
    /// The overall decision had the motion threshold been `t` (the other decisions unchanged).
    fn live_at(&self, t: f64) -> bool {
        self.active_accepts(t) && self.other_errors.is_empty()
    }
}

fn row(
    group: String,
    name: String,
    tag: Option<&'static str>,
    r: &LivenessDetectionResponse,
) -> Row {
    let face = |i: usize| r.image_properties.get(i).and_then(|p| p.faces.first());
    let (motion, direction) = face(1).map_or((0.0, 0.0), |f| {
        (f.motion_liveness_score, f.movement_direction)
    });
    let shift = match (face(0), face(1)) {
        (Some(a), Some(b)) => {
            let mid = |f: &liveness::api::Face| {
                [
                    0.5 * (f.left_eye.x + f.right_eye.x),
                    0.5 * (f.left_eye.y + f.right_eye.y),
                ]
            };
            let d = ((a.left_eye.x - a.right_eye.x).powi(2)
                + (a.left_eye.y - a.right_eye.y).powi(2))
            .sqrt()
            .max(1.0);
            let (ma, mb) = (mid(a), mid(b));
            ((mb[0] - ma[0]).powi(2) + (mb[1] - ma[1]).powi(2)).sqrt() / d
        }
        _ => 0.0,
    };
    let errors: Vec<ErrorCode> = r.errors.iter().map(|e| e.error_code).collect();
    Row {
        group,
        name,
        tag,
        motion,
        direction,
        shift,
        live: r.live,
        other_errors: errors
            .iter()
            .filter(|c| **c != ErrorCode::RejectedByActiveLiveDetection)
            .copied()
            .collect(),
        challenge_ok: !errors.contains(&ErrorCode::RejectedByChallengeResponse),
        errors,
    }
}

/// Error codes as the report lists them.
fn joined(codes: &[ErrorCode]) -> String {
    codes
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One unit of work for the thread pool.
enum Job {
    /// Genuine pair of files, with the tag the movement should satisfy.
    Files {
        group: String,
        first: String,
        second: String,
        tag: Option<&'static str>,
    },
    Attack {
        base: usize,
        attack: Attack,
    },
    Spoof {
        base: usize,
        attack: Attack,
    },
}

fn phase_of(i: usize, j: usize) -> (&'static str, Option<&'static str>) {
    if j <= 40 {
        ("down (both ≤ 040)", Some("down"))
    } else if i >= 64 {
        ("up (both ≥ 064)", Some("up"))
    } else if i >= 40 && j <= 64 {
        ("rest (040..064)", None)
    } else {
        ("cross-phase", None)
    }
}

fn make_base(engine: &Engine, name: &str) -> Result<Base> {
    let decoded = liveness::pipeline::image::decode(&read(name)?, &engine.settings().limits)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let rgb = decoded.rgb;
    let request = LivenessDetectionRequest {
        live_images: vec![ImageData {
            image: base64::engine::general_purpose::STANDARD.encode(attacks::png(&rgb)),
            tags: vec![],
        }],
    };
    let r = engine.score(&request)?;
    let p = &r.image_properties[0];
    anyhow::ensure!(
        p.rotated == 0 && p.faces.len() == 1,
        "{name}: expected one upright face"
    );
    let f = &p.faces[0];
    Ok(Base::new(
        name,
        rgb,
        [f.right_eye.x, f.right_eye.y],
        [f.left_eye.x, f.left_eye.y],
    ))
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    (s[0], s[s.len() / 2], s[s.len() - 1])
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1} % ({k}/{n})", 100.0 * k as f64 / n as f64)
    }
}

fn cmd(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {cores} cores available; {}; {}",
        cmd("uname", &["-sr"]),
        cmd("rustc", &["--version"])
    )
}

fn main() -> Result<()> {
    let started = Instant::now();
    let settings = Settings::load(None).context("configuration")?.scoring;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let engine = Engine::new(settings.clone(), workers).context("models (run `make setup`)")?;
    parity::init(&settings, workers)?;
    let threshold = settings.motion.threshold;

    // --- jobs ---
    let mut jobs = Vec::new();
    jobs.push(Job::Files {
        group: "BioID challenge pair".into(),
        first: "bioid/challenge_right_1.png".into(),
        second: "bioid/challenge_right_2.png".into(),
        tag: Some("right"),
    });
    jobs.push(Job::Files {
        group: "BioID challenge pair".into(),
        first: "bioid/challenge_right_2.png".into(),
        second: "bioid/challenge_right_1.png".into(),
        tag: Some("left"),
    });
    for s in SPACINGS {
        for i in 1..=92 - s {
            let j = i + s;
            let (phase, tag) = phase_of(i, j);
            jobs.push(Job::Files {
                group: format!("nod {phase}, spacing {s}"),
                first: format!("bioid/nod/{i:03}.jpg"),
                second: format!("bioid/nod/{j:03}.jpg"),
                tag,
            });
        }
    }
    let bases: Vec<Base> = ATTACK_BASES
        .iter()
        .map(|n| make_base(&engine, n))
        .collect::<Result<_>>()?;
    for (bi, b) in bases.iter().enumerate() {
        for a in attacks::catalogue(b) {
            jobs.push(Job::Attack {
                base: bi,
                attack: a,
            });
        }
    }
    // Passive spoofs: the spoof image twice, and the spoof then the same spoof tilted and moved.
    let spoof_bases: Vec<Base> = SPOOF_BASES
        .iter()
        .map(|n| make_base(&engine, n))
        .collect::<Result<_>>()?;
    for (bi, b) in spoof_bases.iter().enumerate() {
        jobs.push(Job::Spoof {
            base: bi,
            attack: Attack {
                kind: Kind::NoMotion,
                name: "twice".into(),
                op: Op::Identical,
            },
        });
        jobs.push(Job::Spoof {
            base: bi,
            attack: Attack {
                kind: Kind::Combination,
                name: "tilted y 20° and moved".into(),
                op: Op::Warp(attacks::mat_mul(
                    &attacks::tilt(b, 20.0, false),
                    &attacks::similarity(b, 0.0, 1.0, 0.4 * b.eye_distance, 0.0),
                )),
            },
        });
    }

    // --- run on all cores ---
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Row)>> = Mutex::new(Vec::new());
    let total = jobs.len();
    eprintln!("eval: {total} pairs on {workers} threads");
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(k) else { break };
                    let r = match job {
                        Job::Files {
                            group,
                            first,
                            second,
                            tag,
                        } => {
                            let (a, b) =
                                (read(first).expect("image"), read(second).expect("image"));
                            let tags: Vec<&str> = tag.iter().copied().collect();
                            let resp = score_labelled(
                                &engine,
                                &a,
                                &b,
                                &tags,
                                &format!("{first} → {second}"),
                            );
                            let short = |p: &str| {
                                p.trim_start_matches("bioid/")
                                    .trim_start_matches("nod/")
                                    .to_string()
                            };
                            row(
                                group.clone(),
                                format!("{} → {}", short(first), short(second)),
                                *tag,
                                &resp,
                            )
                        }
                        Job::Attack { base, attack } => {
                            let b = &bases[*base];
                            let (x, y) = attacks::render(b, &attack.op);
                            let resp = score_labelled(
                                &engine,
                                &x,
                                &y,
                                &[],
                                &format!("{}: {}", b.name, attack.name),
                            );
                            row(
                                attack.kind.name().into(),
                                format!("{}: {}", b.name, attack.name),
                                None,
                                &resp,
                            )
                        }
                        Job::Spoof { base, attack } => {
                            let b = &spoof_bases[*base];
                            let (x, y) = attacks::render(b, &attack.op);
                            let resp = score(&engine, &x, &y, &[]);
                            row(
                                "passive spoof pair".into(),
                                format!("{}: {}", b.name, attack.name),
                                None,
                                &resp,
                            )
                        }
                    };
                    let mut res = results.lock().expect("results");
                    res.push((k, r));
                    if res.len().is_multiple_of(50) {
                        eprintln!("  {}/{total}", res.len());
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(k, _)| *k);
    let rows: Vec<Row> = results.into_iter().map(|(_, r)| r).collect();
    let elapsed = started.elapsed();

    let genuine: Vec<&Row> = rows
        .iter()
        .filter(|r| r.group.starts_with("nod") || r.group.starts_with("BioID"))
        .collect();
    let attacks_rows: Vec<&Row> = rows.iter().filter(|r| !genuine_row(r)).collect();
    let moved: Vec<&Row> = genuine
        .iter()
        .copied()
        .filter(|r| shows_motion(r))
        .collect();

    let report = write_report(
        &settings,
        threshold,
        &genuine,
        &moved,
        &attacks_rows,
        total,
        workers,
        elapsed.as_secs_f64(),
    );
    let (passive_md, passive_summary) = passive::run(&engine, workers)?;
    let report = format!("{report}\n{passive_md}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/evaluation.md");
    std::fs::write(&out, report).with_context(|| format!("writing {}", out.display()))?;
    println!("{passive_summary}");
    if let Some(line) = parity::report() {
        println!("{line}");
    }
    // Console summary.
    let planar: Vec<&Row> = attacks_rows
        .iter()
        .copied()
        .filter(|r| planar_group(&r.group))
        .collect();
    let bpcer = moved
        .iter()
        .filter(|r| !r.active_accepts(threshold))
        .count();
    let apcer = planar
        .iter()
        .filter(|r| r.active_accepts(threshold))
        .count();
    println!(
        "{total} pairs in {:.0} s. At threshold {threshold}: active APCER planar {}, BPCER (moved genuine) {}. Wrote {}",
        elapsed.as_secs_f64(),
        pct(apcer, planar.len()),
        pct(bpcer, moved.len()),
        out.display()
    );
    Ok(())
}

/// A genuine pair that shows motion: the detector's eyes moved at least [`MOVED`], or the BioID
/// challenge pair (a head turn to the right by the data's description; a turn moves the eyes
/// less than a nod).
fn shows_motion(r: &Row) -> bool {
    r.shift >= MOVED || r.group.starts_with("BioID")
}

fn genuine_row(r: &Row) -> bool {
    r.group.starts_with("nod") || r.group.starts_with("BioID")
}

fn planar_group(g: &str) -> bool {
    Kind::ALL.iter().any(|k| k.planar() && k.name() == g)
}

#[allow(clippy::too_many_arguments)]
fn write_report(
    settings: &ScoringSettings,
    threshold: f64,
    genuine: &[&Row],
    moved: &[&Row],
    attack_rows: &[&Row],
    total: usize,
    workers: usize,
    secs: f64,
) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Active liveness: evaluation\n");
    let _ = writeln!(
        w,
        "Written by `make eval` (`cargo run --release --locked --example eval`, source \
         `examples/eval/main.rs`, attacks in `tests/common/attacks.rs`; the passive part below: `examples/eval/passive.rs`); do not edit by hand.\n"
    );
    let _ = writeln!(w, "- Machine: {}", machine());
    let _ = writeln!(
        w,
        "- Run: {}, {total} pairs in {secs:.0} s on {workers} threads; every pair is a \
         two-image request scored end to end by `Engine::score` (decode, face detection with \
         the rotation search, quality, passive texture, active motion, challenge, decision).",
        cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        w,
        "- Configuration: `motion.threshold` = {threshold}, `motion.parallax_threshold` = {}, \
         `motion.min_motion` = {}, `texture.threshold` = {}, `challenge.tolerance_deg` = {}, \
         `challenge.min_magnitude` = {}.",
        settings.motion.parallax_threshold,
        settings.motion.min_motion,
        settings.texture.threshold,
        settings.challenge.tolerance_deg,
        settings.challenge.min_magnitude
    );
    let _ = writeln!(
        w,
        "- Metrics (ISO/IEC 30107-3): **APCER** = proportion of attack presentations of one \
         type wrongly accepted as live; **BPCER** = proportion of bona fide presentations \
         wrongly rejected. \"Active\" = the motion decision alone (`motionLivenessScore` ≥ \
         threshold); \"overall\" = the response's `live` (every decision, including passive \
         texture and, for genuine pairs with a tag, the challenge).\n"
    );

    // --- summary ---
    let planar: Vec<&Row> = attack_rows
        .iter()
        .copied()
        .filter(|r| planar_group(&r.group))
        .collect();
    let _ = writeln!(w, "## Summary at the configured threshold ({threshold})\n");
    let _ = writeln!(w, "| population | n | active | overall |");
    let _ = writeln!(w, "|---|---|---|---|");
    let _ = writeln!(
        w,
        "| BPCER, genuine pairs that show motion (eye shift ≥ {MOVED}, and the BioID pair) | {} | {} | {} |",
        moved.len(),
        pct(
            moved
                .iter()
                .filter(|r| !r.active_accepts(threshold))
                .count(),
            moved.len()
        ),
        pct(moved.iter().filter(|r| !r.live).count(), moved.len())
    );
    let _ = writeln!(
        w,
        "| BPCER, all genuine pairs (incl. no-motion ones) | {} | {} | {} |",
        genuine.len(),
        pct(
            genuine
                .iter()
                .filter(|r| !r.active_accepts(threshold))
                .count(),
            genuine.len()
        ),
        pct(genuine.iter().filter(|r| !r.live).count(), genuine.len())
    );
    let _ = writeln!(
        w,
        "| APCER, all planar attacks | {} | {} | {} |",
        planar.len(),
        pct(
            planar
                .iter()
                .filter(|r| r.active_accepts(threshold))
                .count(),
            planar.len()
        ),
        pct(planar.iter().filter(|r| r.live).count(), planar.len())
    );
    let _ = writeln!(
        w,
        "| APCER, all attacks | {} | {} | {} |\n",
        attack_rows.len(),
        pct(
            attack_rows
                .iter()
                .filter(|r| r.active_accepts(threshold))
                .count(),
            attack_rows.len()
        ),
        pct(
            attack_rows.iter().filter(|r| r.live).count(),
            attack_rows.len()
        )
    );

    // --- genuine by group ---
    let _ = writeln!(w, "## Genuine pairs\n");
    let _ = writeln!(
        w,
        "The nod video (`bioid/nod/NNN.jpg`): the face moves down until about frame 040, rests, \
         and comes back up from about 064 to 092. Pairs are all i < j with j − i in {SPACINGS:?}, \
         grouped by phase: *down* and *up* pairs carry the tag of their direction (`down`, `up`), \
         so their overall decision includes the challenge; *rest* and *cross-phase* pairs carry \
         no tag. Whether a pair **shows motion** is measured independently of the motion \
         estimator, by the face detector: the eye midpoint moved at least {MOVED} eye distances \
         (the BioID challenge pair, a head turn that moves the eyes less, counts as moving by \
         the data's description). \
         Pairs in the rest phase, and cross-phase pairs at the same pose on the way down and up \
         (e.g. 010 → 085), show no net motion: rejecting them is the intended behaviour (\"too \
         little motion cannot show 3D\"), so BPCER is reported on the moved pairs and, for \
         completeness, on all.\n"
    );
    let _ = writeln!(
        w,
        "| group | n | moved | motion score min / median / max | moved: score min | active pass (moved) | challenge pass (moved, tagged) | live (moved) | live (all) |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|");
    let mut groups: BTreeMap<(String, usize), Vec<&Row>> = BTreeMap::new();
    for r in genuine {
        // order: BioID first, then phase, then spacing numerically
        let spacing = r
            .group
            .rsplit("spacing ")
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let key = r.group.split(", spacing").next().unwrap_or("").to_string();
        groups.entry((key, spacing)).or_default().push(r);
    }
    for ((key, spacing), rs) in &groups {
        let name = if *spacing > 0 {
            format!("{key}, spacing {spacing}")
        } else {
            key.clone()
        };
        let mv: Vec<&Row> = rs.iter().copied().filter(|r| shows_motion(r)).collect();
        let (lo, med, hi) = stats(&rs.iter().map(|r| r.motion).collect::<Vec<_>>());
        let (mlo, _, _) = stats(&mv.iter().map(|r| r.motion).collect::<Vec<_>>());
        let tagged: Vec<&Row> = mv.iter().copied().filter(|r| r.tag.is_some()).collect();
        let _ = writeln!(
            w,
            "| {name} | {} | {} | {lo:.3} / {med:.3} / {hi:.3} | {} | {} | {} | {} | {} |",
            rs.len(),
            mv.len(),
            if mv.is_empty() {
                "–".into()
            } else {
                format!("{mlo:.3}")
            },
            pct(
                mv.iter().filter(|r| r.active_accepts(threshold)).count(),
                mv.len()
            ),
            pct(
                tagged.iter().filter(|r| r.challenge_ok).count(),
                tagged.len()
            ),
            pct(mv.iter().filter(|r| r.live).count(), mv.len()),
            pct(rs.iter().filter(|r| r.live).count(), rs.len()),
        );
    }
    let _ = writeln!(
        w,
        "\nBy the size of the motion (eye-midpoint shift, eye distances):\n"
    );
    let _ = writeln!(
        w,
        "| shift | n | motion score min / median / max | active pass | live |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|");
    let bins = [0.0, 0.05, 0.10, 0.15, 0.25, 0.5, f64::INFINITY];
    for win in bins.windows(2) {
        let rs: Vec<&Row> = genuine
            .iter()
            .copied()
            .filter(|r| r.shift >= win[0] && r.shift < win[1])
            .collect();
        if rs.is_empty() {
            continue;
        }
        let (lo, med, hi) = stats(&rs.iter().map(|r| r.motion).collect::<Vec<_>>());
        let _ = writeln!(
            w,
            "| {:.2} – {} | {} | {lo:.3} / {med:.3} / {hi:.3} | {} | {} |",
            win[0],
            if win[1].is_finite() {
                format!("{:.2}", win[1])
            } else {
                "∞".into()
            },
            rs.len(),
            pct(
                rs.iter().filter(|r| r.active_accepts(threshold)).count(),
                rs.len()
            ),
            pct(rs.iter().filter(|r| r.live).count(), rs.len()),
        );
    }
    let mut worst: Vec<&Row> = moved.to_vec();
    worst.sort_by(|a, b| a.motion.total_cmp(&b.motion));
    let _ = writeln!(w, "\nLowest-scoring genuine pairs that show motion:\n");
    let _ = writeln!(
        w,
        "| pair | group | shift | motion score | direction | errors |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for r in worst.iter().take(12) {
        let _ = writeln!(
            w,
            "| {} | {} | {:.3} | {:.4} | {:.1} | {} |",
            r.name,
            r.group,
            r.shift,
            r.motion,
            r.direction,
            joined(&r.errors)
        );
    }

    // --- attacks ---
    let _ = writeln!(w, "\n## Attack pairs\n");
    let _ = writeln!(
        w,
        "Synthetic attacks on single real images ({}), each a pair (first image, second image) \
         encoded as PNG (JPEG where named). Sizes are relative to the face: *d* is the eye \
         distance. Tilts rotate the photo plane in 3D about an axis through the face centre, \
         seen by a pinhole camera whose focal length is the image width (true perspective). The \
         first image of most attacks is the unwarped base. Passive spoof pairs use the spoof \
         images ({}).\n",
        ATTACK_BASES.join(", "),
        SPOOF_BASES.join(", ")
    );
    let _ = writeln!(
        w,
        "| attack type | n | motion score min / median / max | active APCER | overall APCER | motion not computed |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    let mut types: Vec<String> = Kind::ALL.iter().map(|k| k.name().to_string()).collect();
    types.push("passive spoof pair".into());
    for t in &types {
        let rs: Vec<&Row> = attack_rows
            .iter()
            .copied()
            .filter(|r| &r.group == t)
            .collect();
        let (lo, med, hi) = stats(&rs.iter().map(|r| r.motion).collect::<Vec<_>>());
        let _ = writeln!(
            w,
            "| {t} | {} | {lo:.3} / {med:.3} / {hi:.3} | {} | {} | {} |",
            rs.len(),
            pct(
                rs.iter().filter(|r| r.active_accepts(threshold)).count(),
                rs.len()
            ),
            pct(rs.iter().filter(|r| r.live).count(), rs.len()),
            rs.iter().filter(|r| r.motion == 0.0).count(),
        );
    }
    let not_computed: Vec<&Row> = attack_rows
        .iter()
        .copied()
        .filter(|r| r.motion == 0.0)
        .collect();
    if !not_computed.is_empty() {
        let _ = writeln!(
            w,
            "\n\"Motion not computed\": the pair never reached the active stage because a face \
             check failed first; it is rejected overall and counted as not accepted by the \
             active check too. Here:\n"
        );
        for r in &not_computed {
            let _ = writeln!(w, "- {}: {}", r.name, joined(&r.errors));
        }
    }
    let mut worst: Vec<&Row> = attack_rows.to_vec();
    worst.sort_by(|a, b| b.motion.total_cmp(&a.motion));
    let _ = writeln!(w, "\nHighest-scoring attacks:\n");
    let _ = writeln!(w, "| attack | type | motion score | direction | errors |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for r in worst.iter().take(12) {
        let _ = writeln!(
            w,
            "| {} | {} | {:.4} | {:.1} | {} |",
            r.name,
            r.group,
            r.motion,
            r.direction,
            joined(&r.errors)
        );
    }

    // --- sweep ---
    let _ = writeln!(w, "\n## Sweep of the motion threshold\n");
    let _ = writeln!(
        w,
        "Recomputed from the scores above (`motionLivenessScore` is a logistic of the nose \
         parallax centred on `parallax_threshold`, times a gate on the amount of motion). \
         \"Overall\" assumes the other decisions unchanged.\n"
    );
    let _ = writeln!(
        w,
        "| threshold | APCER planar (active) | APCER bent photo (active) | APCER no motion (active) | APCER all attacks (overall) | BPCER moved genuine (active) | BPCER moved genuine (overall) | BPCER all genuine (active) |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    let of = |k: Kind| -> Vec<&Row> {
        attack_rows
            .iter()
            .copied()
            .filter(|r| r.group == k.name())
            .collect()
    };
    let (bent, still) = (of(Kind::BentPhoto), of(Kind::NoMotion));
    let mut ok_range: Vec<f64> = Vec::new();
    for step in 1..=9 {
        let t = step as f64 / 10.0;
        let ap = planar.iter().filter(|r| r.active_accepts(t)).count();
        let bp = moved.iter().filter(|r| !r.active_accepts(t)).count();
        if ap == 0 && (bp as f64) <= 0.05 * moved.len() as f64 {
            ok_range.push(t);
        }
        let _ = writeln!(
            w,
            "| {t:.1}{} | {} | {} | {} | {} | {} | {} | {} |",
            if (t - threshold).abs() < 1e-9 {
                " (default)"
            } else {
                ""
            },
            pct(ap, planar.len()),
            pct(
                bent.iter().filter(|r| r.active_accepts(t)).count(),
                bent.len()
            ),
            pct(
                still.iter().filter(|r| r.active_accepts(t)).count(),
                still.len()
            ),
            pct(
                attack_rows.iter().filter(|r| r.live_at(t)).count(),
                attack_rows.len()
            ),
            pct(bp, moved.len()),
            pct(moved.iter().filter(|r| !r.live_at(t)).count(), moved.len()),
            pct(
                genuine.iter().filter(|r| !r.active_accepts(t)).count(),
                genuine.len()
            ),
        );
    }
    let max_attack = attack_rows.iter().map(|r| r.motion).fold(0.0f64, f64::max);
    let min_moved = moved.iter().map(|r| r.motion).fold(1.0f64, f64::min);
    let _ = writeln!(w, "\n## Threshold choice\n");
    let _ = writeln!(
        w,
        "Highest attack score: {max_attack:.4}; lowest score of a genuine pair that shows motion: \
         {min_moved:.4}. Thresholds of the sweep that reach APCER 0 % on planar attacks at BPCER \
         ≤ 5 % on moved genuine pairs: {}.\n",
        if ok_range.is_empty() {
            "none".to_string()
        } else {
            ok_range
                .iter()
                .map(|t| format!("{t:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        w,
        "The default `motion.threshold` = {threshold} is kept. It is the midpoint of the score's \
         logistic, i.e. the point where the measured nose parallax equals \
         `parallax_threshold` ({} eye distances) and the motion gate is open; that parallax was \
         set by the estimator's development at about 4× the worst planar attack, not tuned to \
         these images. Because the score is a steep logistic, the attacks sit near the floor and \
         the moving genuine pairs near 1, and any threshold inside the range above gives the \
         same decisions on this data: the middle of the range, not an edge, is the robust \
         choice. A higher threshold buys nothing against these attacks and costs small genuine \
         motions; a lower one would move toward the bent-photo and tilted-photo scores, which \
         are the attacks closest to a real head.\n",
        settings.motion.parallax_threshold
    );

    // --- weaknesses ---
    let _ = writeln!(w, "## Weaknesses and what this does not show\n");
    let _ = writeln!(
        w,
        "- **No real attack pair exists in the data.** There is no video or image pair of a \
           printed photo or a screen being moved in front of a camera; every attack here is a \
           synthetic warp of one real image. Real prints flex non-rigidly, screens add moiré, \
           glare and refresh artefacts, and lighting and motion blur change between frames. \
           The bent-photo attacks approximate flexing only crudely.\n\
         - **Two real sequences.** The genuine pairs come from one person nodding (one video) \
           and one challenge pair; the pairs are strongly correlated (same person, camera, \
           light). The BPCER figures are not those of a population.\n\
         - **Small motions are rejected by design.** Genuine pairs with little motion (the rest \
           phase, short spacings at the slow ends of the nod, same pose on the way down and \
           up) fail the active check; a user must move clearly (the table by shift shows where \
           the estimator starts to accept).\n\
         - **\"Shows motion\" is measured with the eye midpoint**, a 2D proxy: a pure head \
           rotation about the eyes would move the nose without moving the eyes, and a head \
           translation moves the eyes without much rotation (translation alone gives little \
           parallax).\n\
         - **What motion cannot catch:** a video replay of a real moving person on a screen has \
           real parallax in the displayed video; a 3D mask is 3D. Those are the passive \
           (texture) check's job, and it is not evaluated here.\n\
         - **Warps can create spurious faces:** on a few warped nod frames the detector found a \
           second face (the app's overlay and the repeated border pixels), so those pairs were \
           rejected by `MultipleFacesFound` before the active stage (listed under the attack \
           table); they say nothing about the motion check.\n\
         - **Same-size assumption:** images of the same size are taken as the same camera; the \
           attacks keep the frame size, as a photo held in front of a fixed camera would.\n"
    );

    // --- appendix ---
    let _ = writeln!(w, "## Appendix: every pair\n");
    for (title, rs) in [("Genuine pairs", genuine), ("Attack pairs", attack_rows)] {
        let _ = writeln!(w, "<details><summary>{title} ({})</summary>\n", rs.len());
        let _ = writeln!(
            w,
            "| pair | group | tag | shift | motion score | direction | live | errors |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
        for r in rs {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:.3} | {:.4} | {:.1} | {} | {} |",
                r.name,
                r.group,
                r.tag.unwrap_or(""),
                r.shift,
                r.motion,
                r.direction,
                r.live,
                joined(&r.errors)
            );
        }
        let _ = writeln!(w, "\n</details>\n");
    }
    md
}
