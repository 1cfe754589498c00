//! Small float grayscale images: crop + resample, pyramid reduction, Scharr gradients and
//! bilinear sampling. Everything the tracker needs, with `std` only.

use super::Gray;
use super::working::Similarity;

/// A row-major `f32` image. Values stay in the 0..255 range of the source.
#[derive(Debug, Clone)]
pub(crate) struct ImageF {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl ImageF {
    pub fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            data: vec![0.0; w * h],
        }
    }

    #[cfg(test)]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// Fill `out` with the `(2r+1)^2` bilinear samples of the square window centred on
    /// `(cx, cy)`, row by row. All samples share one fractional offset, so the weights are
    /// computed once (this is the tracker's inner loop). Returns `false` (and leaves `out`
    /// untouched) when the window does not lie fully inside the image.
    #[inline]
    pub fn window(&self, cx: f32, cy: f32, r: usize, out: &mut [f32]) -> bool {
        let (fx0, fy0) = ((cx - r as f32).floor(), (cy - r as f32).floor());
        if !(fx0 >= 0.0 && fy0 >= 0.0) {
            return false;
        }
        let (x0, y0) = (fx0 as usize, fy0 as usize);
        let side = 2 * r + 1;
        if x0 + side >= self.w || y0 + side >= self.h || out.len() < side * side {
            return false;
        }
        let (ax, ay) = (cx - r as f32 - fx0, cy - r as f32 - fy0);
        let w00 = (1.0 - ax) * (1.0 - ay);
        let w01 = ax * (1.0 - ay);
        let w10 = (1.0 - ax) * ay;
        let w11 = ax * ay;
        for (j, orow) in out.chunks_exact_mut(side).take(side).enumerate() {
            let r0 = &self.data[(y0 + j) * self.w + x0..(y0 + j) * self.w + x0 + side + 1];
            let r1 = &self.data[(y0 + j + 1) * self.w + x0..(y0 + j + 1) * self.w + x0 + side + 1];
            for (i, o) in orow.iter_mut().enumerate() {
                *o = w00 * r0[i] + w01 * r0[i + 1] + w10 * r1[i] + w11 * r1[i + 1];
            }
        }
        true
    }

    /// Bilinear sample at index coordinates (pixel `i` has its centre at `i`). Coordinates are
    /// clamped to the image, so callers must keep their windows inside (the tracker does) for
    /// the value to be meaningful.
    #[inline]
    pub fn bilinear(&self, x: f32, y: f32) -> f32 {
        let maxx = (self.w - 1) as f32;
        let maxy = (self.h - 1) as f32;
        let x = x.clamp(0.0, maxx);
        let y = y.clamp(0.0, maxy);
        // x, y >= 0 here, so truncation is floor (and avoids a libm call per sample).
        let x0 = (x as usize).min(self.w.saturating_sub(2));
        let y0 = (y as usize).min(self.h.saturating_sub(2));
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let x1 = (x0 + 1).min(self.w - 1);
        let y1 = (y0 + 1).min(self.h - 1);
        let r0 = y0 * self.w;
        let r1 = y1 * self.w;
        let a = self.data[r0 + x0] + fx * (self.data[r0 + x1] - self.data[r0 + x0]);
        let b = self.data[r1 + x0] + fx * (self.data[r1 + x1] - self.data[r1 + x0]);
        a + fy * (b - a)
    }
}

/// Filter taps of one output sample: `(first source index, weights)`.
type Taps = (usize, Vec<f32>);

/// Taps for resampling one axis: output index `j` is centred on source index coordinate
/// `start + j * step`. For `step >= 1` the weights are the exact overlap of the output pixel's
/// footprint with each source pixel (area averaging, which avoids aliasing when the face is
/// shrunk by 2-5x); for `step < 1` it is linear interpolation.
fn axis_taps(start: f64, step: f64, n_out: usize, n_src: usize) -> Vec<Taps> {
    let last = n_src as f64 - 1.0;
    (0..n_out)
        .map(|j| {
            let c = start + j as f64 * step;
            if step >= 1.0 {
                // Footprint in continuous coordinates where source pixel i covers [i-0.5, i+0.5).
                let lo = (c - 0.5 * step).clamp(-0.5, last + 0.5);
                let hi = (c + 0.5 * step).clamp(-0.5, last + 0.5);
                // i0 <= n_src - 1 and i0 < i1 <= n_src, even for footprints beyond the edge.
                let i0 = ((lo + 0.5).floor().max(0.0) as usize).min(n_src - 1);
                let i1 = ((hi + 0.5).ceil() as usize).min(n_src).max(i0 + 1);
                let mut w: Vec<f32> = (i0..i1)
                    .map(|i| {
                        let a = (i as f64 - 0.5).max(lo);
                        let b = (i as f64 + 0.5).min(hi);
                        (b - a).max(0.0) as f32
                    })
                    .collect();
                let s: f32 = w.iter().sum();
                if s > 0.0 {
                    w.iter_mut().for_each(|v| *v /= s);
                } else {
                    // Footprint entirely outside the image: replicate the nearest edge pixel.
                    w.iter_mut().for_each(|v| *v = 0.0);
                    w[0] = 1.0;
                }
                (i0, w)
            } else {
                let x = c.clamp(0.0, last);
                let i0 = (x.floor() as usize).min(n_src.saturating_sub(2));
                let f = (x - i0 as f64) as f32;
                if n_src < 2 {
                    (0, vec![1.0])
                } else {
                    (i0, vec![1.0 - f, f])
                }
            }
        })
        .collect()
}

/// Resample the window of `src` whose output pixel `(u, v)` is centred on source index
/// coordinate `(x0 + u * step, y0 + v * step)` into an `out_w x out_h` float image. Separable:
/// rows first (only the rows the output needs), then columns.
pub(crate) fn resample(
    src: &Gray,
    x0: f64,
    y0: f64,
    step: f64,
    out_w: usize,
    out_h: usize,
) -> ImageF {
    let tx = axis_taps(x0, step, out_w, src.width);
    let ty = axis_taps(y0, step, out_h, src.height);
    // Source rows actually touched.
    let r_lo = ty.iter().map(|t| t.0).min().unwrap_or(0);
    let r_hi = ty
        .iter()
        .map(|t| t.0 + t.1.len())
        .max()
        .unwrap_or(0)
        .min(src.height);
    let mut tmp = vec![0.0f32; (r_hi - r_lo) * out_w];
    for r in r_lo..r_hi {
        let row = &src.data[r * src.width..(r + 1) * src.width];
        let out = &mut tmp[(r - r_lo) * out_w..(r - r_lo + 1) * out_w];
        for (o, (i0, w)) in out.iter_mut().zip(&tx) {
            let mut acc = 0.0;
            for (k, wk) in w.iter().enumerate() {
                acc += wk * row[(i0 + k).min(src.width - 1)] as f32;
            }
            *o = acc;
        }
    }
    let mut img = ImageF::new(out_w, out_h);
    for (v, (i0, w)) in ty.iter().enumerate() {
        let out = &mut img.data[v * out_w..(v + 1) * out_w];
        for (k, wk) in w.iter().enumerate() {
            let r = (i0 + k).min(r_hi.saturating_sub(1)).saturating_sub(r_lo);
            let row = &tmp[r * out_w..(r + 1) * out_w];
            for (o, s) in out.iter_mut().zip(row) {
                *o += wk * s;
            }
        }
    }
    img
}

/// Warp `img` by a similarity: output pixel `p` takes the bilinear value of `img` at `sim(p)`. Used to pre-align the second
/// frame onto the first with the landmark similarity, so that LK only has to find a small,
/// nearly translational residual motion (a translation-only LK window is biased under 10-20
/// degree rotations or 20 % scale changes).
pub(crate) fn warp_similarity(img: &ImageF, sim: &Similarity) -> ImageF {
    let mut out = ImageF::new(img.w, img.h);
    for y in 0..img.h {
        let (yf, row) = (y as f32, y * img.w);
        for x in 0..img.w {
            let [sx, sy] = sim.apply([x as f32, yf]);
            out.data[row + x] = img.bilinear(sx, sy);
        }
    }
    out
}

/// Next pyramid level: 5-tap binomial blur (1 4 6 4 1)/16, then keep every other pixel.
/// The blur is what makes the coarse levels usable for large displacements.
pub(crate) fn pyr_down(img: &ImageF) -> ImageF {
    let (w, h) = (img.w, img.h);
    let nw = w.div_ceil(2).max(1);
    let nh = h.div_ceil(2).max(1);
    let k = [1.0f32, 4.0, 6.0, 4.0, 1.0];
    let cx = |x: isize| x.clamp(0, w as isize - 1) as usize;
    let cy = |y: isize| y.clamp(0, h as isize - 1) as usize;
    // Horizontal pass at the decimated columns only.
    let mut tmp = vec![0.0f32; h * nw];
    for y in 0..h {
        let row = &img.data[y * w..(y + 1) * w];
        for nx in 0..nw {
            let x = (2 * nx) as isize;
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                acc += kv * row[cx(x + i as isize - 2)];
            }
            tmp[y * nw + nx] = acc / 16.0;
        }
    }
    let mut out = ImageF::new(nw, nh);
    for ny in 0..nh {
        let y = (2 * ny) as isize;
        for nx in 0..nw {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                acc += kv * tmp[cy(y + i as isize - 2) * nw + nx];
            }
            out.data[ny * nw + nx] = acc / 16.0;
        }
    }
    out
}

/// Scharr gradients (3x3, weights 3-10-3), scaled by 1/32 so they are in intensity units per
/// pixel. Scharr is more rotation-invariant than Sobel, which matters for sub-pixel LK.
pub(crate) fn scharr(img: &ImageF) -> (ImageF, ImageF) {
    let (w, h) = (img.w, img.h);
    let mut gx = ImageF::new(w, h);
    let mut gy = ImageF::new(w, h);
    if w < 3 || h < 3 {
        return (gx, gy);
    }
    let d = &img.data;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let (tl, t, tr) = (d[i - w - 1], d[i - w], d[i - w + 1]);
            let (l, r) = (d[i - 1], d[i + 1]);
            let (bl, b, br) = (d[i + w - 1], d[i + w], d[i + w + 1]);
            gx.data[i] = (3.0 * (tr - tl) + 10.0 * (r - l) + 3.0 * (br - bl)) / 32.0;
            gy.data[i] = (3.0 * (bl - tl) + 10.0 * (b - t) + 3.0 * (br - tr)) / 32.0;
        }
    }
    (gx, gy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_identity_and_halving() {
        let data: Vec<u8> = (0..64).map(|i| (i * 3) as u8).collect();
        let g = Gray {
            width: 8,
            height: 8,
            data: &data,
        };
        let id = resample(&g, 0.0, 0.0, 1.0, 8, 8);
        for (a, b) in id.data.iter().zip(&data) {
            assert!((a - *b as f32).abs() < 1e-4);
        }
        // step 2: output pixel 0 averages source pixels 0 and 1 (centre 0.5).
        let half = resample(&g, 0.5, 0.5, 2.0, 4, 4);
        let expect = (data[0] as f32 + data[1] as f32 + data[8] as f32 + data[9] as f32) / 4.0;
        assert!((half.data[0] - expect).abs() < 1e-3);
    }

    #[test]
    fn scharr_on_ramp() {
        let mut img = ImageF::new(10, 10);
        for y in 0..10 {
            for x in 0..10 {
                img.data[y * 10 + x] = 2.0 * x as f32 + 5.0 * y as f32;
            }
        }
        let (gx, gy) = scharr(&img);
        assert!((gx.at(5, 5) - 2.0).abs() < 1e-4);
        assert!((gy.at(5, 5) - 5.0).abs() < 1e-4);
        assert!((img.bilinear(2.5, 3.25) - (5.0 + 16.25)).abs() < 1e-4);
    }
}
