//! The second passive cue: the border of the medium that shows the face (a phone, a tablet, a
//! printed sheet, an ID card), independent of the MiniFASNet pair, which misses held-up media.
//!
//! Geometry, in the face's own eye-aligned frame (`s` along the eye line, `t` toward the mouth,
//! both in eye distances from the eye midpoint). A photo shows its face upright on the medium,
//! so the medium's edges run parallel and perpendicular to the face's eye line, whatever way the
//! medium is held. Two shapes count as a medium:
//!
//! - **A corner under the face** ([`Frame::Corner`]): a straight edge below the chin running
//!   unbroken across the face's whole width, met by a straight edge beside the face that runs
//!   unbroken from the brow down to it. Where a live person is, the neck and shoulders fill the
//!   space under the chin, so a line of the room behind (a shelf, a window sill, a picture frame)
//!   is cut by the body there instead of running across it.
//! - **A frame whose bottom is out of the picture** ([`Frame::Sides`]): a straight edge above the
//!   head and straight edges on both sides close to the face, the side edges unbroken from the
//!   top edge down past the shoulders (or to the image border). Behind a live person a door frame
//!   or window lies farther out, and the shoulders cut a picture frame's sides.
//!
//! An edge sample is a luminance step, relative to the face's own luminance (so that dim and
//! bright captures are judged alike), across the line's direction. A line's coverage is the
//! fraction of its samples that hold such a step within ±1 sample; the strength of a frame is
//! the smallest coverage of its lines. Every limit is in [`MediumSettings`] and measured in
//! docs/thresholds.md.

use image::RgbImage;

use super::face::{Detection, EyeFrame};
use super::quality;
use super::rows::{ColumnSums, RECENT_ROWS_MAX, RecentRows};
use crate::config::MediumSettings;

/// Grid samples per eye distance.
const PER_EYE: f32 = 8.0;
/// Extent of the grid, in eye distances: beside the eye midpoint, above it, below it.
const S_MAX: f32 = 7.0;
const T_ABOVE: f32 = 7.0;
const T_BELOW: f32 = 10.0;
/// Slopes tried for a line (about -8..8 degrees of misalignment with the face's axes).
const SLOPES: [f32; 9] = [-0.14, -0.105, -0.07, -0.035, 0.0, 0.035, 0.07, 0.105, 0.14];
/// Half-width, in eye distances, of the span a horizontal line must cover: the face's width.
const FACE_HALF_WIDTH: f32 = 1.2;
/// Top of the brow, eye distances above the eyes: where a side line must start at the latest.
const BROW: f32 = 1.5;
/// A line whose samples lie inside the image for less than this fraction is not evaluated.
const MIN_VALID: f32 = 0.7;

/// Which shape was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Frame {
    /// A line under the chin met by a line beside the face.
    Corner { bottom: f32, side: f32 },
    /// A line above the head and lines on both sides.
    Sides { top: f32, left: f32, right: f32 },
}

/// What the cue found around one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The smallest coverage of the frame's lines, 0..1 (0 when nothing was found).
    pub strength: f32,
    pub frame: Option<Frame>,
}

impl Evidence {
    /// The highest passive score a face framed like this may get: below `threshold` once the
    /// frame is stronger than `min_strength`, and the lower the stronger the frame (a perfect
    /// frame caps it near 0). Kept just under the threshold so that rounding on the wire cannot
    /// lift it back to it.
    pub fn score_cap(&self, threshold: f64, min_strength: f32) -> f64 {
        let above = (1.0 - self.strength) / (1.0 - min_strength).max(1e-3);
        (threshold * f64::from(above.clamp(0.0, 1.0)) * 0.999).max(1e-6)
    }

    /// A description for the error message.
    pub fn describe(&self) -> String {
        match self.frame {
            Some(Frame::Corner { bottom, side }) => format!(
                "straight edges of a medium frame the face: one across the face {bottom:.1} eye distances below the eyes, where the neck should be, meeting one beside it {:.1} eye distances {}",
                side.abs(),
                if side < 0.0 {
                    "to its right"
                } else {
                    "to its left"
                }
            ),
            Some(Frame::Sides { top, left, right }) => format!(
                "straight edges of a medium frame the face: above it ({:.1} eye distances above the eyes) and on both sides ({:.1} and {:.1} eye distances away), unbroken past the shoulders",
                -top, -left, right
            ),
            None => "no medium border was found around the face".into(),
        }
    }
}

/// The face-aligned grid of mean luminance, NaN outside the image.
struct Grid {
    cols: usize,
    rows: usize,
    values: Vec<f32>,
}

impl Grid {
    fn col(s: f32) -> f32 {
        (s + S_MAX) * PER_EYE
    }

    fn row(t: f32) -> f32 {
        (t + T_ABOVE) * PER_EYE
    }

    fn at(&self, r: isize, c: isize) -> f32 {
        if r < 0 || c < 0 || r as usize >= self.rows || c as usize >= self.cols {
            return f32::NAN;
        }
        self.values[r as usize * self.cols + c as usize]
    }
}

/// `x.round() as i64` (round half away from zero, saturating, NaN to 0) without the call to
/// libm's `roundf` that `f32::round` compiles to on the baseline x86-64 target.
///
/// For `|x| < 2^23` the truncation `x as i32` is exact and so is `x - trunc(x)` (a multiple of
/// `x`'s ulp below 1), which then decides the half-away-from-zero step. Larger magnitudes are
/// integers already (and NaN and the infinities cast as `round` leaves them).
#[inline]
fn round_i64(x: f32) -> i64 {
    round_small(x).map_or(x as i64, i64::from)
}

/// `x.round() as isize`, as [`round_i64`].
#[inline]
fn round_isize(x: f32) -> isize {
    round_small(x).map_or(x as isize, |v| v as isize)
}

/// `x.round()` for `|x| < 2^23`, where truncation plus the exact fractional part decide it;
/// None for larger values, infinities and NaN, which the callers cast as they are (already
/// whole, or saturated, or 0 for NaN, as `f32::round` then `as` would give).
#[inline]
fn round_small(x: f32) -> Option<i32> {
    (x.abs() < 8_388_608.0).then(|| {
        let t = x as i32;
        let frac = x - t as f32;
        t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)
    })
}

/// Rows summed into the `u32` column sums of [`box_luma`] before they are moved into `u64`:
/// 255 times this still fits a `u32`.
const ROWS_PER_U32: usize = (u32::MAX / 255) as usize;

/// The sum over the pixels `[x0, x1) x [y0, y1)` of BT.601 luma x 1000 (`299 r + 587 g + 114 b`,
/// exact integers) of an image of `row_bytes` bytes per row: the box's rows added byte by byte
/// ([`ColumnSums`]), then the R, G and B column sums weighted.
fn box_luma(
    raw: &[u8],
    row_bytes: usize,
    [x0, x1]: [usize; 2],
    [y0, y1]: [usize; 2],
    sums: &mut ColumnSums,
) -> u64 {
    let [mut r, mut g, mut b] = [0u64; 3];
    let mut y = y0;
    while y < y1 {
        let band_end = y1.min(y + ROWS_PER_U32);
        for px in sums
            .sum(raw, row_bytes, x0 * 3, (x1 - x0) * 3, y..band_end)
            .chunks_exact(3)
        {
            r += u64::from(px[0]);
            g += u64::from(px[1]);
            b += u64::from(px[2]);
        }
        y = band_end;
    }
    299 * r + 587 * g + 114 * b
}

/// One grid cell's box of pixels, `[x0, x1) x [y0, y1)` relative to the region the grid covers.
#[derive(Clone, Copy, Default)]
struct CellBox {
    cell: u32,
    x: [u32; 2],
    y: [u32; 2],
}

/// Luminance of the image, box-averaged over cells of about one grid step, sampled on the
/// face-aligned grid.
///
/// The grid is rotated with the face, so its boxes do not line up in rows or columns of
/// pixels, but each is axis-aligned and about one grid step tall. The boxes are sorted by
/// their bottom row, and the region's rows are added once, top to bottom, into running column
/// sums that keep just the last box height's worth of rows ([`RecentRows`]): when the sums
/// reach a box's bottom row, its column sums are the difference of two of them. That reads
/// each pixel once with one vectorised add per eight bytes, where summing each box on its own
/// paid a loop's setup per row of every box (and an integral image of the region wrote and
/// zeroed a `u64` per pixel, 6 MB for a 930x850 image). Boxes taller than the ring's `u16`
/// sums allow (eye distances of about 2000 px) are summed on their own ([`box_luma`]).
fn sample_grid(rgb: &RgbImage, frame: &EyeFrame) -> Grid {
    let d = frame.eye_distance;
    let cols = (2.0 * S_MAX * PER_EYE) as usize + 1;
    let rows = ((T_ABOVE + T_BELOW) * PER_EYE) as usize + 1;
    let step = d / PER_EYE;
    let to_image = |c: usize, r: usize| {
        let s = c as f32 / PER_EYE - S_MAX;
        let t = r as f32 / PER_EYE - T_ABOVE;
        frame.point(s, t)
    };
    // The region of the image the grid covers, clipped.
    let (w, h) = (rgb.width() as i64, rgb.height() as i64);
    let corners = [
        to_image(0, 0),
        to_image(cols - 1, 0),
        to_image(0, rows - 1),
        to_image(cols - 1, rows - 1),
    ];
    // The corners' extent along one axis, in whole pixels inside 0..=size.
    let span = |axis: usize, size: i64| {
        let lo = corners.iter().map(|p| p[axis]).fold(f32::MAX, f32::min);
        let hi = corners.iter().map(|p| p[axis]).fold(f32::MIN, f32::max);
        (
            (lo.floor() as i64).clamp(0, size),
            (hi.ceil() as i64).clamp(0, size),
        )
    };
    let ((x0, x1), (y0, y1)) = (span(0, w), span(1, h));
    let (rw, rh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut values = vec![f32::NAN; cols * rows];
    if rw == 0 || rh == 0 {
        return Grid { cols, rows, values };
    }
    let half = (step / 2.0).max(0.5);
    // Every cell inside the image, with its box (relative to the region, as the integral
    // image's corners were; the region is at most 2048 pixels a side, so `u32` holds it).
    let mut boxes = Vec::new();
    let mut tallest = 0;
    for r in 0..rows {
        for c in 0..cols {
            let [x, y] = to_image(c, r);
            if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
                continue;
            }
            let bx0 = (round_i64(x - half) - x0).clamp(0, rw as i64 - 1);
            let bx1 = (round_i64(x + half) - x0).clamp(bx0 + 1, rw as i64);
            let by0 = (round_i64(y - half) - y0).clamp(0, rh as i64 - 1);
            let by1 = (round_i64(y + half) - y0).clamp(by0 + 1, rh as i64);
            tallest = tallest.max(by1 - by0);
            boxes.push(CellBox {
                cell: (r * cols + c) as u32,
                x: [bx0 as u32, bx1 as u32],
                y: [by0 as u32, by1 as u32],
            });
        }
    }
    let raw = rgb.as_raw();
    let row_bytes = w as usize * 3;
    let (rx0, ry0) = (x0 as usize, y0 as usize);
    let mean = |sum: u64, b: &CellBox| {
        let area = (b.x[1] - b.x[0]) as usize * (b.y[1] - b.y[0]) as usize;
        (sum as f64 / (1000 * area) as f64) as f32
    };
    if tallest as usize > RECENT_ROWS_MAX {
        let mut sums = ColumnSums::default();
        for b in &boxes {
            let sum = box_luma(
                raw,
                row_bytes,
                b.x.map(|x| rx0 + x as usize),
                b.y.map(|y| ry0 + y as usize),
                &mut sums,
            );
            values[b.cell as usize] = mean(sum, b);
        }
        return Grid { cols, rows, values };
    }
    // The boxes by bottom row (a counting sort): those ending at row `y` (exclusive) are
    // `sorted[first[y]..first[y + 1]]`.
    let mut first = vec![0usize; rh + 2];
    for b in &boxes {
        first[b.y[1] as usize + 1] += 1;
    }
    for y in 1..first.len() {
        first[y] += first[y - 1];
    }
    let mut sorted = vec![CellBox::default(); boxes.len()];
    let mut next = first.clone();
    for b in &boxes {
        let slot = &mut next[b.y[1] as usize];
        sorted[*slot] = *b;
        *slot += 1;
    }
    // Only the rows and columns some box covers are added.
    let left = boxes.iter().map(|b| b.x[0]).min().unwrap_or(0) as usize;
    let right = boxes.iter().map(|b| b.x[1]).max().unwrap_or(0) as usize;
    let top = boxes.iter().map(|b| b.y[0]).min().unwrap_or(0) as usize;
    let bottom = boxes.iter().map(|b| b.y[1]).max().unwrap_or(0) as usize;
    let len = (right - left) * 3;
    let mut recent = RecentRows::new(len, tallest as usize);
    for y in top..bottom {
        let start = (ry0 + y) * row_bytes + (rx0 + left) * 3;
        recent.push(&raw[start..start + len]);
        for b in &sorted[first[y + 1]..first[y + 2]] {
            let [r, g, bl] = recent.rgb_sums(
                (b.y[1] - b.y[0]) as usize,
                b.x[0] as usize - left..b.x[1] as usize - left,
            );
            values[b.cell as usize] = mean(299 * r + 587 * g + 114 * bl, b);
        }
    }
    Grid { cols, rows, values }
}

/// Edge maps: where a horizontal (`horizontal`) or vertical (`vertical`) line passes a sample,
/// as +1 (the luminance steps up across it), -1 (steps down), 0 (no edge) or NaN (outside the
/// image).
struct Edges {
    horizontal: Vec<f32>,
    vertical: Vec<f32>,
    cols: usize,
    rows: usize,
}

fn edges(grid: &Grid, face_luma: f32, min_step: f32) -> Edges {
    let (cols, rows) = (grid.cols, grid.rows);
    let mut horizontal = vec![f32::NAN; cols * rows];
    let mut vertical = vec![f32::NAN; cols * rows];
    // Steps relative to the face's luminance, so that a dim capture's edges count alike.
    let norm = 1.0 / face_luma.max(20.0);
    for r in 0..rows as isize {
        for c in 0..cols as isize {
            let dt = grid.at(r + 1, c) - grid.at(r - 1, c);
            let ds = grid.at(r, c + 1) - grid.at(r, c - 1);
            if dt.is_nan() || ds.is_nan() {
                continue;
            }
            let (dt, ds) = (dt * norm, ds * norm);
            let i = r as usize * cols + c as usize;
            horizontal[i] = if dt.abs() >= min_step && dt.abs() >= ds.abs() {
                dt.signum()
            } else {
                0.0
            };
            vertical[i] = if ds.abs() >= min_step && ds.abs() >= dt.abs() {
                ds.signum()
            } else {
                0.0
            };
        }
    }
    Edges {
        horizontal,
        vertical,
        cols,
        rows,
    }
}

/// Face coordinate (eye distances) → grid index along one axis.
type Axis = fn(f32) -> f32;

/// Parallel lines this many samples away must not be edges of the same sign as well: a border
/// stands alone, while hair, fabric and foliage cover every line near them.
const ISOLATION: f32 = 3.0;

/// The fields of a [`Lines`] sample, one byte each so that a line's samples add up in one
/// `u32`: the sample is inside the image (`VALID`), a step up (`UP`) or down (`DOWN`) lies on it
/// or on one of its two neighbours across the line's direction.
const VALID: u32 = 1;
const UP: u32 = 1 << 8;
const DOWN: u32 = 1 << 16;

/// The edge maps prepared for the line search: per sample, what [`Edges`] says about it and its
/// neighbours across (outside the map counts as outside the image, which is neither sign),
/// packed as [`VALID`] | [`UP`] | [`DOWN`], 0 outside the image.
struct Lines {
    /// Across a horizontal line is along the grid's columns (the neighbours are the rows above
    /// and below), across a vertical line along its rows.
    horizontal: Vec<u32>,
    vertical: Vec<u32>,
    cols: usize,
    rows: usize,
}

impl Lines {
    fn new(e: &Edges) -> Lines {
        let (cols, rows) = (e.cols, e.rows);
        // A line has at most this many samples, each adding at most 1 to a byte field.
        assert!(cols.max(rows) < 256);
        let pack = |map: &[f32], horizontal: bool| -> Vec<u32> {
            let get = |r: usize, c: Option<usize>, dr: bool| -> f32 {
                // The neighbour `c` positions away across, NaN outside the map.
                let (r, c) = match (c, dr) {
                    (Some(k), true) if k < rows => (k, r),
                    (Some(k), false) if k < cols => (r, k),
                    _ => return f32::NAN,
                };
                map[r * cols + c]
            };
            let mut out = vec![0u32; cols * rows];
            for r in 0..rows {
                for c in 0..cols {
                    let here = map[r * cols + c];
                    if here.is_nan() {
                        continue;
                    }
                    let (before, after) = if horizontal {
                        (get(c, r.checked_sub(1), true), get(c, Some(r + 1), true))
                    } else {
                        (get(r, c.checked_sub(1), false), get(r, Some(c + 1), false))
                    };
                    let hit = |s: f32| before == s || here == s || after == s;
                    out[r * cols + c] =
                        VALID | (u32::from(hit(1.0)) * UP) | (u32::from(hit(-1.0)) * DOWN);
                }
            }
            out
        };
        Lines {
            horizontal: pack(&e.horizontal, true),
            vertical: pack(&e.vertical, false),
            cols,
            rows,
        }
    }

    /// Coverage by steps up (`[0]`) and by steps down (`[1]`) of the straight line
    /// `t = t0 + slope · (s - s_mid)` over `s` in `[from, to]` (horizontal), or
    /// `s = s0 + slope · (t - t_mid)` over `t` in `[from, to]` (vertical), the line shifted by
    /// `offset` samples across. None when too little of it is inside the image.
    ///
    /// Both signs and the count of valid samples come from one load per sample.
    fn coverage(
        &self,
        horizontal: bool,
        at: f32,
        from: f32,
        to: f32,
        slope: f32,
        offset: f32,
    ) -> Option<[f32; 2]> {
        // The map, the line's length and breadth in samples, and the index steps along/across.
        let (map, n_along, n_across, step_along, step_across) = if horizontal {
            (&self.horizontal, self.cols, self.rows, 1, self.cols)
        } else {
            (&self.vertical, self.rows, self.cols, self.cols, 1)
        };
        let (to_along, to_across): (Axis, Axis) = if horizontal {
            (Grid::col, Grid::row)
        } else {
            (Grid::row, Grid::col)
        };
        let (a0, a1) = (round_isize(to_along(from)), round_isize(to_along(to)));
        let mid = (a0 + a1) as f32 / 2.0;
        let across0 = to_across(at) + offset;
        let mut sum = 0u32;
        for a in a0.max(0)..=a1.min(n_along as isize - 1) {
            let x = round_isize(across0 + slope * (a as f32 - mid));
            // Negative `x` wraps to a huge index.
            if (x as usize) < n_across {
                sum += map[a as usize * step_along + x as usize * step_across];
            }
        }
        let (valid, up, down) = (
            (sum & 0xff) as usize,
            ((sum >> 8) & 0xff) as usize,
            (sum >> 16) as usize,
        );
        let expected = (a1 - a0 + 1).max(1) as f32;
        (valid > 0 && valid as f32 >= MIN_VALID * expected)
            .then(|| [up as f32 / valid as f32, down as f32 / valid as f32])
    }

    /// The best score of a line at `at` over `[from, to]`, over the slopes and both signs: its
    /// coverage less the coverage of the parallel lines [`ISOLATION`] samples to either side;
    /// None when no slope's line is inside the image enough.
    ///
    /// Only scores above `floor` matter to the caller: the result is exact when it is above
    /// `floor`, and otherwise some value at most `floor`. A score is its coverage `c` less a
    /// coverage (at least 0), so when `c <= floor` the score is at most `floor` too and `c`
    /// stands in for it without the parallel lines. The result is the largest of the scores
    /// and stand-ins: if the true best score is above `floor`, it comes from a line whose `c` is
    /// above `floor` and so is computed, and every stand-in (at most `floor`) is below it; if it
    /// is not, every score and stand-in is at most `floor`. Whether it is None does not depend
    /// on `floor`.
    fn best(&self, horizontal: bool, at: f32, from: f32, to: f32, floor: f32) -> Option<f32> {
        let mut best: Option<f32> = None;
        for &slope in &SLOPES {
            let Some(cover) = self.coverage(horizontal, at, from, to, slope, 0.0) else {
                continue;
            };
            // The parallel lines, for both signs, once one sign needs them.
            let mut beside: Option<[f32; 2]> = None;
            // Sign +1 (index 0), then -1.
            for (sign, &c) in cover.iter().enumerate() {
                if best.is_some_and(|b| c <= b) {
                    continue;
                }
                if c <= floor {
                    // Above the best so far (or the first): the stand-in.
                    best = Some(c);
                    continue;
                }
                let beside = *beside.get_or_insert_with(|| {
                    [-ISOLATION, ISOLATION]
                        .iter()
                        .filter_map(|&o| self.coverage(horizontal, at, from, to, slope, o))
                        .fold([0.0f32; 2], |m, v| [m[0].max(v[0]), m[1].max(v[1])])
                });
                let score = c - beside[sign];
                if best.is_none_or(|b| score > b) {
                    best = Some(score);
                }
            }
        }
        best
    }

    /// Is the grid sample at face coordinate `t` (row) outside the image for the whole face
    /// width? (The medium's bottom is then out of the picture.)
    fn row_outside(&self, t: f32) -> bool {
        let r = Grid::row(t).round() as isize;
        if r < 0 || r >= self.rows as isize {
            return true;
        }
        let (c0, c1) = (
            Grid::col(-FACE_HALF_WIDTH).round() as usize,
            Grid::col(FACE_HALF_WIDTH).round() as usize,
        );
        (c0..=c1).all(|c| self.horizontal[r as usize * self.cols + c] & VALID == 0)
    }
}

/// Positions, in eye distances, from `lo` to `hi` at one grid step.
fn positions(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
    let n = ((hi - lo) * PER_EYE).round().max(0.0) as usize;
    (0..=n).map(move |i| lo + i as f32 / PER_EYE)
}

/// Looks for the border of a medium around the face: the strongest frame, whatever its
/// strength (0 and no frame when none is found). For measuring the cue; the service calls
/// [`inspect_above`].
pub fn inspect(rgb: &RgbImage, det: &Detection, face_luma: f32, cfg: &MediumSettings) -> Evidence {
    inspect_above(rgb, det, face_luma, cfg, 0.0)
}

/// The strongest frame around the face if its strength is above `floor` (the same frame and
/// strength, bit for bit, as [`inspect`] finds), and otherwise strength 0 and no frame.
///
/// The service only acts on a frame stronger than `min_strength` (`pipeline::analyse_with`),
/// so it passes that as the floor: most faces have no such frame, and the search then rules
/// out most lines without scoring the parallel lines beside them and most bottom lines
/// without trying the side lines that would meet them. On the Python peer's two images this
/// took the cue from 0.56 and 0.92 ms to 0.44 and 0.46 ms (`examples/medium_bench.rs`).
///
/// A frame is recorded only when its strength, the smallest score of its lines, is above the
/// best strength so far, which starts at `floor` as if a frame of that strength had been
/// found first. So each line is searched with that strength as the floor of [`Lines::best`]:
/// a line whose result is at most the floor (exact or not) rules the frame out, exactly as its
/// true score would, and a frame that is recorded has all its lines above the floor, so exact.
/// A negative `floor` is taken as 0, where [`inspect`] starts.
pub fn inspect_above(
    rgb: &RgbImage,
    det: &Detection,
    face_luma: f32,
    cfg: &MediumSettings,
    floor: f32,
) -> Evidence {
    let g = quality::geometry(det);
    let grid = sample_grid(rgb, &g.frame);
    let e = Lines::new(&edges(&grid, face_luma, cfg.min_step));
    // Below the chin: the chin is about as far below the mouth as the thumbnail's margin says;
    // the first line looked for starts a little lower so that the jaw's own edge is not taken.
    let chin = g.mouth_down.max(0.5) * 1.8 + 0.4;
    let mut best = Evidence {
        strength: floor.max(0.0),
        frame: None,
    };
    fn consider(best: &mut Evidence, strength: f32, frame: Frame) {
        if strength > best.strength {
            *best = Evidence {
                strength,
                frame: Some(frame),
            };
        }
    }

    // A corner under the face.
    for bottom in positions(chin, T_BELOW - 0.5) {
        let Some(cb) = e.best(
            true,
            bottom,
            -FACE_HALF_WIDTH,
            FACE_HALF_WIDTH,
            best.strength,
        ) else {
            continue;
        };
        if cb <= best.strength {
            continue;
        }
        for side in positions(cfg.min_side, cfg.max_side).flat_map(|s| [-s, s]) {
            // The side line from the brow to the bottom line, and the bottom line on to it.
            let Some(cs) = e.best(false, side, -BROW, bottom, best.strength) else {
                continue;
            };
            if cs <= best.strength {
                // The frame's strength is at most `cs`: not recorded, whatever `cb2` is.
                continue;
            }
            let (from, to) = if side < 0.0 {
                (side, FACE_HALF_WIDTH)
            } else {
                (-FACE_HALF_WIDTH, side)
            };
            let Some(cb2) = e.best(true, bottom, from, to, best.strength) else {
                continue;
            };
            consider(
                &mut best,
                cb.min(cs).min(cb2),
                Frame::Corner { bottom, side },
            );
        }
    }

    // A frame whose bottom is out of the picture or hidden: top and both sides, close.
    let shoulders = chin + cfg.below_shoulders;
    let lowest = positions(chin, shoulders)
        .find(|&t| e.row_outside(t))
        .unwrap_or(shoulders);
    for top in positions(-T_ABOVE + 0.5, -cfg.min_top) {
        let floor = best.strength;
        let Some(ct) = e.best(true, top, -FACE_HALF_WIDTH, FACE_HALF_WIDTH, floor) else {
            continue;
        };
        if ct <= floor {
            continue;
        }
        // The first side position with the best score (0 and 0.0 if none is above 0).
        //
        // Each position is searched with the floor `floor.max(m.0)`. While the best so far
        // `m.0` is at most `floor`, a position's result is exact if its score is above `floor`
        // and at most `floor` otherwise, so `m.0` stays at most `floor` until the first position
        // whose score is above `floor`, which replaces it exactly as it replaces the reference's
        // best so far (also at most `floor`). From there on the floor is `m.0`: a score above it
        // is exact and replaces it, a result at most it does not, as in the reference. So when
        // the best score is above `floor` the result is the reference's; when it is not, the
        // result is at most `floor` and so is the frame's strength, which is then not recorded.
        let side_best = |sign: f32| {
            positions(cfg.min_side, cfg.max_side_open).fold((0.0f32, 0.0f32), |m, s| {
                match e.best(false, sign * s, top, lowest - 1.0 / PER_EYE, floor.max(m.0)) {
                    Some(c) if c > m.0 => (c, sign * s),
                    _ => m,
                }
            })
        };
        let (cl, left) = side_best(-1.0);
        if cl <= floor {
            continue;
        }
        let (cr, right) = side_best(1.0);
        consider(
            &mut best,
            ct.min(cl).min(cr),
            Frame::Sides { top, left, right },
        );
    }
    if best.frame.is_none() {
        // Nothing above the floor: the floor itself is not a strength that was found.
        best.strength = 0.0;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn settings() -> MediumSettings {
        crate::config::Settings::defaults().unwrap().scoring.medium
    }

    /// A "face" with eyes 40 px apart at (180, 200) and (220, 200) in a 400x500 image.
    fn det() -> Detection {
        Detection {
            score: 0.9,
            bbox: [160.0, 170.0, 80.0, 100.0],
            landmarks: [
                [180.0, 200.0],
                [220.0, 200.0],
                [200.0, 225.0],
                [185.0, 245.0],
                [215.0, 245.0],
            ],
        }
    }

    fn fill(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, v: u8) {
        for y in y0..y1 {
            for x in x0..x1 {
                img.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
    }

    #[test]
    fn a_phone_border_around_the_face_is_found() {
        // Background 60, a "screen" of 140 from x 100..300, y 80..420, a face-ish blob inside.
        let mut img = RgbImage::from_pixel(400, 500, Rgb([60, 60, 60]));
        fill(&mut img, 100, 80, 300, 420, 140);
        fill(&mut img, 165, 160, 235, 280, 170);
        let ev = inspect(&img, &det(), 170.0, &settings());
        assert!(ev.strength > 0.9, "{ev:?}");
        assert!(matches!(ev.frame, Some(Frame::Corner { .. })), "{ev:?}");
    }

    #[test]
    fn a_line_cut_by_the_neck_and_shoulders_is_not_a_medium() {
        // A wall edge behind the person at y 330 and a door frame at x 90 and 310: the body
        // (a neck below the face, shoulders from y 320) covers the wall edge under the face.
        let mut img = RgbImage::from_pixel(400, 500, Rgb([60, 60, 60]));
        fill(&mut img, 0, 330, 400, 500, 110);
        fill(&mut img, 88, 0, 92, 500, 200);
        fill(&mut img, 308, 0, 312, 500, 200);
        fill(&mut img, 165, 160, 235, 280, 170);
        fill(&mut img, 180, 280, 220, 320, 165);
        fill(&mut img, 110, 320, 290, 500, 90);
        let ev = inspect(&img, &det(), 170.0, &settings());
        assert!(ev.strength < settings().min_strength, "{ev:?}");
    }

    #[test]
    fn a_frame_caps_the_passive_score_below_the_threshold() {
        let at = |strength| {
            Evidence {
                strength,
                frame: None,
            }
            .score_cap(0.5, 0.65)
        };
        assert!(at(0.66) < 0.5 && at(0.66) > 0.45, "{}", at(0.66));
        assert!(at(0.9) < at(0.7));
        assert!(at(1.0) > 0.0 && at(1.0) < 0.01);
    }

    #[test]
    fn a_plain_background_has_no_medium() {
        let mut img = RgbImage::from_pixel(400, 500, Rgb([60, 60, 60]));
        fill(&mut img, 165, 160, 235, 280, 170);
        let ev = inspect(&img, &det(), 170.0, &settings());
        assert_eq!(ev.frame, None);
        assert_eq!(ev.strength, 0.0);
    }

    /// The line search before the packed maps and the floors, on the plain edge maps: the
    /// reference each line's coverage, best score and outside test must match bit for bit
    /// (`check_line_search`). The whole cue is compared with [`reference`].
    mod current {
        use super::super::*;

        impl Edges {
            /// Coverage by steps up (`[0]`) and by steps down (`[1]`) of the straight line
            /// `t = t0 + slope · (s - s_mid)` over `s` in `[from, to]` (horizontal), or
            /// `s = s0 + slope · (t - t_mid)` over `t` in `[from, to]` (vertical), the line shifted by
            /// `offset` samples across. None when too little of it is inside the image.
            ///
            /// Both signs come from one pass: which samples are valid does not depend on the sign.
            pub(super) fn coverage(
                &self,
                horizontal: bool,
                at: f32,
                from: f32,
                to: f32,
                slope: f32,
                offset: f32,
            ) -> Option<[f32; 2]> {
                // The map, the line's length and breadth in samples, and the index steps along/across.
                let (map, n_along, n_across, step_along, step_across) = if horizontal {
                    (&self.horizontal, self.cols, self.rows, 1, self.cols)
                } else {
                    (&self.vertical, self.rows, self.cols, self.cols, 1)
                };
                let (to_along, to_across): (Axis, Axis) = if horizontal {
                    (Grid::col, Grid::row)
                } else {
                    (Grid::row, Grid::col)
                };
                let (a0, a1) = (round_isize(to_along(from)), round_isize(to_along(to)));
                let mid = (a0 + a1) as f32 / 2.0;
                let across0 = to_across(at) + offset;
                let n_across = n_across as isize;
                let (mut up, mut down, mut valid) = (0usize, 0usize, 0usize);
                for a in a0.max(0)..=a1.min(n_along as isize - 1) {
                    let x = round_isize(across0 + slope * (a as f32 - mid));
                    if x < 0 || x >= n_across {
                        continue;
                    }
                    let base = a as usize * step_along;
                    let get = |k: isize| map[base + k as usize * step_across];
                    let here = get(x);
                    if here.is_nan() {
                        continue;
                    }
                    valid += 1;
                    // Outside the map counts as NaN, which is neither sign.
                    let before = if x > 0 { get(x - 1) } else { f32::NAN };
                    let after = if x + 1 < n_across {
                        get(x + 1)
                    } else {
                        f32::NAN
                    };
                    up += usize::from(before == 1.0 || here == 1.0 || after == 1.0);
                    down += usize::from(before == -1.0 || here == -1.0 || after == -1.0);
                }
                let expected = (a1 - a0 + 1).max(1) as f32;
                (valid > 0 && valid as f32 >= MIN_VALID * expected)
                    .then(|| [up as f32 / valid as f32, down as f32 / valid as f32])
            }

            /// The best score of a line at `at` over `[from, to]`, over the slopes and both signs: its
            /// coverage less the coverage of the parallel lines [`ISOLATION`] samples to either side.
            pub(super) fn best(
                &self,
                horizontal: bool,
                at: f32,
                from: f32,
                to: f32,
            ) -> Option<f32> {
                let mut best: Option<f32> = None;
                for &slope in &SLOPES {
                    let Some(cover) = self.coverage(horizontal, at, from, to, slope, 0.0) else {
                        continue;
                    };
                    // The parallel lines, for both signs, once one sign needs them.
                    let mut beside: Option<[f32; 2]> = None;
                    // Sign +1 (index 0), then -1.
                    for (sign, &c) in cover.iter().enumerate() {
                        if best.is_some_and(|b| c <= b) {
                            continue;
                        }
                        let beside = *beside.get_or_insert_with(|| {
                            [-ISOLATION, ISOLATION]
                                .iter()
                                .filter_map(|&o| self.coverage(horizontal, at, from, to, slope, o))
                                .fold([0.0f32; 2], |m, v| [m[0].max(v[0]), m[1].max(v[1])])
                        });
                        let score = c - beside[sign];
                        if best.is_none_or(|b| score > b) {
                            best = Some(score);
                        }
                    }
                }
                best
            }

            /// Is the grid sample at face coordinate `t` (row) outside the image for the whole face
            /// width? (The medium's bottom is then out of the picture.)
            pub(super) fn row_outside(&self, t: f32) -> bool {
                let r = Grid::row(t).round() as isize;
                if r < 0 || r >= self.rows as isize {
                    return true;
                }
                let (c0, c1) = (
                    Grid::col(-FACE_HALF_WIDTH).round() as usize,
                    Grid::col(FACE_HALF_WIDTH).round() as usize,
                );
                (c0..=c1).all(|c| self.horizontal[r as usize * self.cols + c].is_nan())
            }
        }
    }

    /// The implementation before the direct box sums and the inline rounding, kept as the
    /// reference the current one must match bit for bit.
    mod reference {
        use super::super::*;

        /// The grid from an integral image of the region (`u64`, luma x 1000).
        pub fn sample_grid(rgb: &RgbImage, frame: &EyeFrame) -> Grid {
            let d = frame.eye_distance;
            let cols = (2.0 * S_MAX * PER_EYE) as usize + 1;
            let rows = ((T_ABOVE + T_BELOW) * PER_EYE) as usize + 1;
            let step = d / PER_EYE;
            let to_image = |c: usize, r: usize| {
                let s = c as f32 / PER_EYE - S_MAX;
                let t = r as f32 / PER_EYE - T_ABOVE;
                frame.point(s, t)
            };
            let (w, h) = (rgb.width() as i64, rgb.height() as i64);
            let corners = [
                to_image(0, 0),
                to_image(cols - 1, 0),
                to_image(0, rows - 1),
                to_image(cols - 1, rows - 1),
            ];
            let span = |axis: usize, size: i64| {
                let lo = corners.iter().map(|p| p[axis]).fold(f32::MAX, f32::min);
                let hi = corners.iter().map(|p| p[axis]).fold(f32::MIN, f32::max);
                (
                    (lo.floor() as i64).clamp(0, size),
                    (hi.ceil() as i64).clamp(0, size),
                )
            };
            let ((x0, x1), (y0, y1)) = (span(0, w), span(1, h));
            let (rw, rh) = ((x1 - x0) as usize, (y1 - y0) as usize);
            let mut values = vec![f32::NAN; cols * rows];
            if rw == 0 || rh == 0 {
                return Grid { cols, rows, values };
            }
            let raw = rgb.as_raw();
            let stride = rw + 1;
            let mut integral = vec![0u64; stride * (rh + 1)];
            let row_bytes = w as usize * 3;
            for y in 0..rh {
                let start = (y0 as usize + y) * row_bytes + x0 as usize * 3;
                let pixels = &raw[start..start + rw * 3];
                let (above, below) = integral.split_at_mut((y + 1) * stride);
                let above = &above[y * stride + 1..];
                let below = &mut below[1..stride];
                let mut run = 0u64;
                for ((p, out), up) in pixels.chunks_exact(3).zip(below.iter_mut()).zip(above) {
                    run += u64::from(
                        299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]),
                    );
                    *out = up + run;
                }
            }
            let half = (step / 2.0).max(0.5);
            for r in 0..rows {
                for c in 0..cols {
                    let [x, y] = to_image(c, r);
                    if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
                        continue;
                    }
                    let bx0 = ((x - half).round() as i64 - x0).clamp(0, rw as i64 - 1) as usize;
                    let bx1 =
                        ((x + half).round() as i64 - x0).clamp(bx0 as i64 + 1, rw as i64) as usize;
                    let by0 = ((y - half).round() as i64 - y0).clamp(0, rh as i64 - 1) as usize;
                    let by1 =
                        ((y + half).round() as i64 - y0).clamp(by0 as i64 + 1, rh as i64) as usize;
                    let sum = (integral[by1 * stride + bx1] + integral[by0 * stride + bx0])
                        - (integral[by0 * stride + bx1] + integral[by1 * stride + bx0]);
                    values[r * cols + c] =
                        (sum as f64 / (1000 * (bx1 - bx0) * (by1 - by0)) as f64) as f32;
                }
            }
            Grid { cols, rows, values }
        }

        /// One sign per pass, `f32::round`, a closure per sample.
        #[allow(clippy::too_many_arguments)]
        fn coverage(
            e: &Edges,
            horizontal: bool,
            at: f32,
            from: f32,
            to: f32,
            slope: f32,
            sign: f32,
            offset: f32,
        ) -> Option<f32> {
            let (map, n_along, n_across) = if horizontal {
                (&e.horizontal, e.cols, e.rows)
            } else {
                (&e.vertical, e.rows, e.cols)
            };
            let (to_along, to_across): (Axis, Axis) = if horizontal {
                (Grid::col, Grid::row)
            } else {
                (Grid::row, Grid::col)
            };
            let (a0, a1) = (
                to_along(from).round() as isize,
                to_along(to).round() as isize,
            );
            let mid = (a0 + a1) as f32 / 2.0;
            let across0 = to_across(at) + offset;
            let (mut hit, mut valid) = (0usize, 0usize);
            for a in a0.max(0)..=a1.min(n_along as isize - 1) {
                let x = (across0 + slope * (a as f32 - mid)).round() as isize;
                let get = |k: isize| -> f32 {
                    if k < 0 || k >= n_across as isize {
                        return f32::NAN;
                    }
                    let (r, c) = if horizontal {
                        (k as usize, a as usize)
                    } else {
                        (a as usize, k as usize)
                    };
                    map[r * e.cols + c]
                };
                if get(x).is_nan() {
                    continue;
                }
                valid += 1;
                if [get(x - 1), get(x), get(x + 1)].contains(&sign) {
                    hit += 1;
                }
            }
            let expected = (a1 - a0 + 1).max(1) as f32;
            (valid > 0 && valid as f32 >= MIN_VALID * expected).then(|| hit as f32 / valid as f32)
        }

        pub fn best(e: &Edges, horizontal: bool, at: f32, from: f32, to: f32) -> Option<f32> {
            let mut best: Option<f32> = None;
            for &slope in &SLOPES {
                for sign in [1.0, -1.0] {
                    let Some(c) = coverage(e, horizontal, at, from, to, slope, sign, 0.0) else {
                        continue;
                    };
                    if best.is_some_and(|b| c <= b) {
                        continue;
                    }
                    let beside = [-ISOLATION, ISOLATION]
                        .iter()
                        .filter_map(|&o| coverage(e, horizontal, at, from, to, slope, sign, o))
                        .fold(0.0f32, f32::max);
                    let score = c - beside;
                    if best.is_none_or(|b| score > b) {
                        best = Some(score);
                    }
                }
            }
            best
        }

        pub fn inspect(
            rgb: &RgbImage,
            det: &Detection,
            face_luma: f32,
            cfg: &MediumSettings,
        ) -> Evidence {
            let g = quality::geometry(det);
            let grid = sample_grid(rgb, &g.frame);
            let e = edges(&grid, face_luma, cfg.min_step);
            let chin = g.mouth_down.max(0.5) * 1.8 + 0.4;
            let mut best_ev = Evidence {
                strength: 0.0,
                frame: None,
            };
            fn consider(best: &mut Evidence, strength: f32, frame: Frame) {
                if strength > best.strength {
                    *best = Evidence {
                        strength,
                        frame: Some(frame),
                    };
                }
            }
            for bottom in positions(chin, T_BELOW - 0.5) {
                let Some(cb) = best(&e, true, bottom, -FACE_HALF_WIDTH, FACE_HALF_WIDTH) else {
                    continue;
                };
                if cb <= best_ev.strength {
                    continue;
                }
                for side in positions(cfg.min_side, cfg.max_side).flat_map(|s| [-s, s]) {
                    let Some(cs) = best(&e, false, side, -BROW, bottom) else {
                        continue;
                    };
                    let (from, to) = if side < 0.0 {
                        (side, FACE_HALF_WIDTH)
                    } else {
                        (-FACE_HALF_WIDTH, side)
                    };
                    let Some(cb2) = best(&e, true, bottom, from, to) else {
                        continue;
                    };
                    consider(
                        &mut best_ev,
                        cb.min(cs).min(cb2),
                        Frame::Corner { bottom, side },
                    );
                }
            }
            let shoulders = chin + cfg.below_shoulders;
            let lowest = positions(chin, shoulders)
                .find(|&t| e.row_outside(t))
                .unwrap_or(shoulders);
            for top in positions(-T_ABOVE + 0.5, -cfg.min_top) {
                let Some(ct) = best(&e, true, top, -FACE_HALF_WIDTH, FACE_HALF_WIDTH) else {
                    continue;
                };
                if ct <= best_ev.strength {
                    continue;
                }
                let side_best = |sign: f32| {
                    positions(cfg.min_side, cfg.max_side_open)
                        .filter_map(|s| {
                            best(&e, false, sign * s, top, lowest - 1.0 / PER_EYE)
                                .map(|c| (c, sign * s))
                        })
                        .fold((0.0f32, 0.0f32), |m, v| if v.0 > m.0 { v } else { m })
                };
                let (cl, left) = side_best(-1.0);
                let (cr, right) = side_best(1.0);
                consider(
                    &mut best_ev,
                    ct.min(cl).min(cr),
                    Frame::Sides { top, left, right },
                );
            }
            best_ev
        }
    }

    #[test]
    fn inline_rounding_is_f32_round() {
        let check = |x: f32| {
            assert_eq!(round_i64(x), x.round() as i64, "{x:e} ({:#x})", x.to_bits());
            assert_eq!(
                round_isize(x),
                x.round() as isize,
                "{x:e} ({:#x})",
                x.to_bits()
            );
        };
        // Every f32 whose bits are a multiple of 61 (about 70 million, every exponent), and the
        // neighbours of the halves, the integers and the limits of the exact range.
        for bits in (0..=u32::MAX).step_by(61) {
            check(f32::from_bits(bits));
        }
        let mut special = vec![
            0.0,
            -0.0,
            0.49999997,
            -0.49999997,
            0.5,
            -0.5,
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            -8_388_608.0,
            16_777_216.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            9.3e18,
            -9.3e18,
            1e30,
            -1e30,
        ];
        for k in -5000i32..=5000 {
            special.push(k as f32 + 0.5);
            special.push(k as f32);
        }
        for k in (-8_388_608i32..=8_388_608).step_by(4093) {
            special.push(k as f32 + 0.5);
        }
        for &x in &special {
            check(x);
            // The neighbours, a few ulps either side.
            for d in 1..=3u32 {
                check(f32::from_bits(x.to_bits().wrapping_add(d)));
                check(f32::from_bits(x.to_bits().wrapping_sub(d)));
            }
        }
    }

    /// A noisy picture of random flat rectangles (some of them "media" frames), `w` x `h`.
    fn random_scene(rng: &mut fastrand::Rng, w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(w, h, Rgb([rng.u8(..), rng.u8(..), rng.u8(..)]));
        for _ in 0..rng.usize(0..8) {
            let (x0, y0) = (rng.u32(0..w), rng.u32(0..h));
            let (x1, y1) = (rng.u32(x0..=w), rng.u32(y0..=h));
            let v = rng.u8(..);
            fill(&mut img, x0, y0, x1, y1, v);
        }
        let noise = rng.u8(0..40);
        for p in img.pixels_mut() {
            for ch in p.0.iter_mut() {
                let n = i16::from(rng.u8(..noise.max(1))) - i16::from(noise / 2);
                *ch = (i16::from(*ch) + n).clamp(0, 255) as u8;
            }
        }
        img
    }

    /// A detection with eyes `d` apart around (cx, cy), rolled by `roll` radians.
    fn random_det(rng: &mut fastrand::Rng, w: u32, h: u32) -> Detection {
        let (w, h) = (w as f32, h as f32);
        // Mostly inside the image, sometimes at or past its border.
        let cx = rng.f32() * w * 1.4 - w * 0.2;
        let cy = rng.f32() * h * 1.4 - h * 0.2;
        let d = match rng.u8(0..4) {
            0 => 1.0 + rng.f32() * 8.0,
            1 => 8.0 + rng.f32() * 40.0,
            _ => 20.0 + rng.f32() * w.max(h) * 0.3,
        };
        let roll: f32 = match rng.u8(0..4) {
            0 => 0.0,
            1 => std::f32::consts::PI,
            _ => (rng.f32() - 0.5) * 1.2,
        };
        let (c, s) = (roll.cos(), roll.sin());
        let at = |u: f32, v: f32| [cx + d * (u * c - v * s), cy + d * (u * s + v * c)];
        let mouth = 0.6 + rng.f32();
        Detection {
            score: 0.9,
            bbox: [cx - d, cy - d, 2.0 * d, 2.5 * d],
            landmarks: [
                at(-0.5, 0.0),
                at(0.5, 0.0),
                at(rng.f32() * 0.4 - 0.2, 0.6),
                at(-0.35, mouth),
                at(0.35, mouth),
            ],
        }
    }

    fn same_f32(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// The grid of `det`'s face in `img` is the reference's, bit for bit.
    fn assert_same_grid(img: &RgbImage, det: &Detection) {
        let frame = det.eye_frame();
        let (new, old) = (
            sample_grid(img, &frame),
            reference::sample_grid(img, &frame),
        );
        assert_eq!((new.cols, new.rows), (old.cols, old.rows));
        let diff = new
            .values
            .iter()
            .zip(&old.values)
            .position(|(&a, &b)| !same_f32(a, b));
        assert_eq!(diff, None, "{}x{} {det:?}", img.width(), img.height());
    }

    #[test]
    fn grid_and_evidence_match_the_reference_bit_for_bit() {
        let mut rng = fastrand::Rng::with_seed(12);
        let cfg = settings();
        let sizes = [
            (1, 1),
            (2, 3),
            (7, 5),
            (31, 17),
            (120, 90),
            (400, 500),
            (930, 850),
        ];
        let mut found = 0;
        for i in 0..160 {
            let (w, h) = sizes[i % sizes.len()];
            let img = random_scene(&mut rng, w, h);
            for _ in 0..3 {
                let det = random_det(&mut rng, w, h);
                assert_same_grid(&img, &det);
                let luma = 10.0 + rng.f32() * 200.0;
                let new = inspect(&img, &det, luma, &cfg);
                let old = reference::inspect(&img, &det, luma, &cfg);
                assert!(
                    same_evidence(&new, &old),
                    "{w}x{h} {det:?}: {new:?} != {old:?}"
                );
                assert_floors_keep_the_frame(&img, &det, luma, &cfg, &old);
                found += usize::from(new.frame.is_some());
                check_line_search(&mut rng, &img, &det, luma, &cfg);
            }
        }
        // Boxes taller than the running sums' `u16` allow (summed on their own), and just
        // below that: eye distances of about 8 · 257 px, faces partly outside the image.
        for &(w, h) in &[(300, 2100), (2048, 600), (900, 900)] {
            let img = random_scene(&mut rng, w, h);
            for d in [2040.0, 2070.0, 2300.0, 4000.0] {
                let (cx, cy) = (rng.f32() * w as f32, rng.f32() * h as f32);
                let mut det = det();
                for p in det.landmarks.iter_mut() {
                    *p = [
                        cx + (p[0] - 200.0) / 40.0 * d,
                        cy + (p[1] - 200.0) / 40.0 * d,
                    ];
                }
                assert_same_grid(&img, &det);
            }
        }
        // The hand-made scenes of the tests above, where frames are found.
        let mut img = RgbImage::from_pixel(400, 500, Rgb([60, 60, 60]));
        fill(&mut img, 100, 80, 300, 420, 140);
        fill(&mut img, 165, 160, 235, 280, 170);
        let new = inspect(&img, &det(), 170.0, &cfg);
        assert!(same_evidence(
            &new,
            &reference::inspect(&img, &det(), 170.0, &cfg)
        ));
        eprintln!("{found} frames found in the random scenes");
    }

    #[test]
    fn line_search_matches_the_reference_on_framed_scenes() {
        // Frames of random size and contrast around the face of `det()`, some cut by the
        // border, so that many lines are covered and many frames found.
        let mut rng = fastrand::Rng::with_seed(7);
        let cfg = settings();
        let mut found = 0;
        let mut above = [0usize; 3];
        for _ in 0..150 {
            let mut img = RgbImage::from_pixel(400, 500, Rgb([rng.u8(..), 60, 60]));
            let x0 = rng.u32(0..170);
            let y0 = rng.u32(0..170);
            let x1 = rng.u32(230..=400);
            let y1 = rng.u32(260..=500);
            fill(&mut img, x0, y0, x1, y1, rng.u8(..));
            fill(&mut img, 165, 160, 235, 280, rng.u8(..));
            let luma = 20.0 + rng.f32() * 200.0;
            let new = inspect(&img, &det(), luma, &cfg);
            let old = reference::inspect(&img, &det(), luma, &cfg);
            assert!(same_evidence(&new, &old), "{new:?} != {old:?}");
            let kept = assert_floors_keep_the_frame(&img, &det(), luma, &cfg, &old);
            for (sum, k) in above.iter_mut().zip(kept) {
                *sum += k;
            }
            found += usize::from(new.frame.is_some());
        }
        assert!(found > 20, "only {found} frames found");
        // Each floor both kept frames above it and dropped frames at or below it.
        assert!(
            above.iter().all(|&k| k > 5 && k < found),
            "{above:?} of {found}"
        );
    }

    /// With each floor of [`FLOORS`], [`inspect_above`] finds the reference's frame `old`, bit
    /// for bit, when it is stronger than the floor, and nothing otherwise. Returns, per floor,
    /// whether the frame was above it.
    fn assert_floors_keep_the_frame(
        img: &RgbImage,
        det: &Detection,
        luma: f32,
        cfg: &MediumSettings,
        old: &Evidence,
    ) -> [usize; 3] {
        FLOORS.map(|floor| {
            let new = inspect_above(img, det, luma, cfg, floor);
            let kept = old.frame.is_some() && old.strength > floor;
            let expected = if kept {
                *old
            } else {
                Evidence {
                    strength: 0.0,
                    frame: None,
                }
            };
            assert!(
                same_evidence(&new, &expected),
                "floor {floor}, {}x{} {det:?}: {new:?} != {expected:?}",
                img.width(),
                img.height()
            );
            usize::from(kept)
        })
    }

    /// Floors tried by [`assert_floors_keep_the_frame`]: the service's `min_strength` (0.65)
    /// and one on either side.
    const FLOORS: [f32; 3] = [0.3, 0.65, 0.9];

    /// Evidence equal bit for bit.
    fn same_evidence(a: &Evidence, b: &Evidence) -> bool {
        let bits = |e: &Evidence| -> Vec<u32> {
            let mut v = vec![e.strength.to_bits()];
            match e.frame {
                None => {}
                Some(Frame::Corner { bottom, side }) => {
                    v.extend([1, bottom.to_bits(), side.to_bits()]);
                }
                Some(Frame::Sides { top, left, right }) => {
                    v.extend([2, top.to_bits(), left.to_bits(), right.to_bits()]);
                }
            }
            v
        };
        bits(a) == bits(b)
    }

    /// The packed line search against the reference's on the scene's edge maps: every line's
    /// coverage bit for bit, and `best` with random floors exact above the floor, at most the
    /// floor otherwise, None exactly when the reference's is.
    fn check_line_search(
        rng: &mut fastrand::Rng,
        img: &RgbImage,
        det: &Detection,
        luma: f32,
        cfg: &MediumSettings,
    ) {
        let g = quality::geometry(det);
        let e = edges(&sample_grid(img, &g.frame), luma, cfg.min_step);
        let lines = Lines::new(&e);
        // Positions past the grid on every side, and lines partly or wholly outside it.
        let pos = |rng: &mut fastrand::Rng| (rng.f32() - 0.5) * 2.0 * (T_BELOW + 2.0);
        for _ in 0..40 {
            let horizontal = rng.bool();
            let at = pos(rng);
            let (a, b) = (pos(rng), pos(rng));
            let (from, to) = if rng.u8(0..4) == 0 {
                (a, b)
            } else {
                (a.min(b), a.max(b))
            };
            for &slope in &SLOPES {
                for offset in [-ISOLATION, 0.0, ISOLATION] {
                    let new = lines.coverage(horizontal, at, from, to, slope, offset);
                    let old = e.coverage(horizontal, at, from, to, slope, offset);
                    assert_eq!(
                        new.map(|c| c.map(f32::to_bits)),
                        old.map(|c| c.map(f32::to_bits)),
                        "{horizontal} {at} {from} {to} {slope} {offset}"
                    );
                }
            }
            let old = e.best(horizontal, at, from, to);
            for floor in [0.0, rng.f32(), rng.f32(), old.unwrap_or(0.0), 1.0] {
                let new = lines.best(horizontal, at, from, to, floor);
                match (new, old) {
                    (None, None) => {}
                    (Some(n), Some(o)) if o > floor => assert_eq!(n.to_bits(), o.to_bits()),
                    (Some(n), Some(_)) => assert!(n <= floor, "{n} > {floor}"),
                    _ => panic!("{new:?} != {old:?}"),
                }
            }
        }
        assert_eq!(
            (-T_ABOVE as i32 * 8 - 20..(T_BELOW as i32 * 8 + 20))
                .map(|r| lines.row_outside(r as f32 / PER_EYE))
                .collect::<Vec<_>>(),
            (-T_ABOVE as i32 * 8 - 20..(T_BELOW as i32 * 8 + 20))
                .map(|r| e.row_outside(r as f32 / PER_EYE))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn line_search_matches_the_reference_on_nested_frames() {
        // One to three nested frames of random contrast and placement around the face of
        // `det()` (so that frames of several strengths compete and the floors prune), with
        // noise, and the face shifted, scaled and rolled a little.
        let mut rng = fastrand::Rng::with_seed(21);
        let cfg = settings();
        let mut found = 0;
        for _ in 0..200 {
            let mut img = RgbImage::from_pixel(400, 500, Rgb([rng.u8(..), 60, 60]));
            let (mut x0, mut y0, mut x1, mut y1) = (0, 0, 400, 500);
            for _ in 0..rng.u32(1..=3) {
                x0 = rng.u32(x0..(x0 + 170) / 2 + 1);
                y0 = rng.u32(y0..(y0 + 170) / 2 + 1);
                x1 = rng.u32((x1 + 230) / 2..=x1);
                y1 = rng.u32((y1 + 260) / 2..=y1);
                fill(&mut img, x0, y0, x1, y1, rng.u8(..));
            }
            fill(&mut img, 165, 160, 235, 280, rng.u8(..));
            let noise = rng.u8(0..30);
            if noise > 10 {
                for p in img.pixels_mut() {
                    for ch in p.0.iter_mut() {
                        let n = i16::from(rng.u8(..noise)) - i16::from(noise / 2);
                        *ch = (i16::from(*ch) + n).clamp(0, 255) as u8;
                    }
                }
            }
            let mut d = det();
            let (dx, dy) = ((rng.f32() - 0.5) * 20.0, (rng.f32() - 0.5) * 20.0);
            let (scale, roll) = (0.8 + rng.f32() * 0.4, (rng.f32() - 0.5) * 0.2);
            let (c, s) = (roll.cos(), roll.sin());
            for p in d.landmarks.iter_mut() {
                let (u, v) = ((p[0] - 200.0) * scale, (p[1] - 200.0) * scale);
                *p = [200.0 + dx + u * c - v * s, 200.0 + dy + u * s + v * c];
            }
            let luma = 20.0 + rng.f32() * 200.0;
            let new = inspect(&img, &d, luma, &cfg);
            let old = reference::inspect(&img, &d, luma, &cfg);
            assert!(same_evidence(&new, &old), "{new:?} != {old:?}");
            found += usize::from(new.frame.is_some());
            check_line_search(&mut rng, &img, &d, luma, &cfg);
        }
        assert!(found > 40, "only {found} frames found");
    }
}
