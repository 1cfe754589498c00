//! Homography estimation: normalised DLT and RANSAC with a small deterministic PRNG.
//!
//! A flat surface (photo, screen) seen by a pinhole camera moves between two frames exactly by
//! one homography, whatever its motion; that is why the plane model is a homography and not an
//! affine or similarity transform (a tilted photo shows perspective foreshortening).

/// A 3x3 homography, row-major, mapping `[x, y, 1]` to homogeneous image coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// Map a point. Returns `None` when it maps to (near) infinity.
    pub fn apply(&self, p: [f64; 2]) -> Option<[f64; 2]> {
        let h = &self.0;
        let w = h[6] * p[0] + h[7] * p[1] + h[8];
        if w.abs() < 1e-12 {
            return None;
        }
        Some([
            (h[0] * p[0] + h[1] * p[1] + h[2]) / w,
            (h[3] * p[0] + h[4] * p[1] + h[5]) / w,
        ])
    }

    fn mul(&self, o: &Homography) -> Homography {
        let (a, b) = (&self.0, &o.0);
        let mut r = [0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                r[3 * i + j] = (0..3).map(|k| a[3 * i + k] * b[3 * k + j]).sum();
            }
        }
        Homography(r)
    }

    /// Transfer error `|H p - q|`, infinite when `p` maps to infinity.
    pub fn error(&self, p: [f64; 2], q: [f64; 2]) -> f64 {
        match self.apply(p) {
            Some(m) => ((m[0] - q[0]).powi(2) + (m[1] - q[1]).powi(2)).sqrt(),
            None => f64::INFINITY,
        }
    }
}

/// SplitMix64: a tiny, well-mixed deterministic generator. Determinism matters: the same pair
/// must always give the same score, so RANSAC may not draw from a time-seeded source.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n` (`n > 0`); the modulo bias is negligible for small `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Hartley normalisation: translate the centroid to the origin and scale so the mean distance
/// is sqrt(2). Without it the DLT system is badly conditioned in pixel units.
fn normaliser(pts: &[[f64; 2]]) -> Option<(Homography, Vec<[f64; 2]>)> {
    let n = pts.len() as f64;
    if pts.is_empty() {
        return None;
    }
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let md = pts
        .iter()
        .map(|p| ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    if md < 1e-9 {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / md;
    let t = Homography([s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0]);
    let out = pts
        .iter()
        .map(|p| [s * (p[0] - cx), s * (p[1] - cy)])
        .collect();
    Some((t, out))
}

/// Solve the dense `n x n` system `m x = v` (row-major `m`) by Gaussian elimination with
/// partial pivoting. `None` when singular.
fn solve(m: &mut [f64], v: &mut [f64], n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let piv =
            (col..n).max_by(|&a, &b| m[a * n + col].abs().total_cmp(&m[b * n + col].abs()))?;
        if m[piv * n + col].abs() < 1e-12 {
            return None;
        }
        if piv != col {
            for k in 0..n {
                m.swap(piv * n + k, col * n + k);
            }
            v.swap(piv, col);
        }
        for row in col + 1..n {
            let f = m[row * n + col] / m[col * n + col];
            if f != 0.0 {
                for k in col..n {
                    m[row * n + k] -= f * m[col * n + k];
                }
                v[row] -= f * v[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| m[row * n + k] * x[k]).sum();
        x[row] = (v[row] - s) / m[row * n + row];
    }
    x.iter().all(|t| t.is_finite()).then_some(x)
}

/// Least-squares DLT with `h33 = 1` on normalised points (normal equations of the 2N x 8
/// system). With 4 points it is the exact minimal solution. `h33 = 1` is safe after
/// normalisation: it only excludes homographies that send the centroid to infinity.
pub fn fit_dlt(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
    if src.len() < 4 || src.len() != dst.len() {
        return None;
    }
    let (ts, s) = normaliser(src)?;
    let (td, d) = normaliser(dst)?;
    let mut ata = [0.0f64; 64];
    let mut atb = [0.0f64; 8];
    for (p, q) in s.iter().zip(&d) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        let r1 = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y];
        let r2 = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y];
        for (r, b) in [(r1, u), (r2, v)] {
            for i in 0..8 {
                atb[i] += r[i] * b;
                for j in 0..8 {
                    ata[i * 8 + j] += r[i] * r[j];
                }
            }
        }
    }
    let h = solve(&mut ata, &mut atb, 8)?;
    let hn = Homography([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0]);
    // Denormalise: H = Td^-1 * Hn * Ts.
    let td0 = td.0;
    let (sd, tx, ty) = (td0[0], td0[2], td0[5]);
    let td_inv = Homography([
        1.0 / sd,
        0.0,
        -tx / sd,
        0.0,
        1.0 / sd,
        -ty / sd,
        0.0,
        0.0,
        1.0,
    ]);
    let mut out = td_inv.mul(&hn).mul(&ts);
    let w = out.0[8];
    if w.abs() < 1e-12 || !out.0.iter().all(|v| v.is_finite()) {
        return None;
    }
    out.0.iter_mut().for_each(|v| *v /= w);
    Some(out)
}

/// Result of [`ransac`].
#[derive(Debug, Clone)]
pub struct RansacFit {
    pub h: Homography,
    /// Per input pair: within `threshold` of the final fit.
    pub inliers: Vec<bool>,
}

/// RANSAC over minimal 4-point samples, then a least-squares refit on the consensus set
/// (repeated twice so the inlier set can settle). `threshold` is the inlier transfer error in
/// pixels. Deterministic for a given `seed`.
pub fn ransac(
    src: &[[f64; 2]],
    dst: &[[f64; 2]],
    threshold: f64,
    iterations: usize,
    seed: u64,
) -> Option<RansacFit> {
    let n = src.len();
    if n < 4 || dst.len() != n {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let mut best: Option<(usize, f64, Homography)> = None;
    let count = |h: &Homography| -> (usize, f64) {
        let mut c = 0;
        let mut cost = 0.0;
        for (p, q) in src.iter().zip(dst) {
            let e = h.error(*p, *q);
            // MSAC-style cost: ties in inlier count are broken by a smaller truncated error.
            if e < threshold {
                c += 1;
                cost += e * e;
            } else {
                cost += threshold * threshold;
            }
        }
        (c, cost)
    };
    for _ in 0..iterations {
        let mut idx = [0usize; 4];
        let mut k = 0;
        let mut guard = 0;
        while k < 4 && guard < 100 {
            guard += 1;
            let i = rng.below(n);
            if !idx[..k].contains(&i) {
                idx[k] = i;
                k += 1;
            }
        }
        if k < 4 {
            continue;
        }
        let s: Vec<[f64; 2]> = idx.iter().map(|&i| src[i]).collect();
        let d: Vec<[f64; 2]> = idx.iter().map(|&i| dst[i]).collect();
        let Some(h) = fit_dlt(&s, &d) else { continue };
        let (c, cost) = count(&h);
        let better = match &best {
            None => true,
            Some((bc, bcost, _)) => c > *bc || (c == *bc && cost < *bcost),
        };
        if better {
            best = Some((c, cost, h));
        }
    }
    let (_, _, mut h) = best?;
    let mut inliers = vec![false; n];
    for _ in 0..2 {
        for (i, flag) in inliers.iter_mut().enumerate() {
            *flag = h.error(src[i], dst[i]) < threshold;
        }
        let s: Vec<[f64; 2]> = (0..n).filter(|&i| inliers[i]).map(|i| src[i]).collect();
        let d: Vec<[f64; 2]> = (0..n).filter(|&i| inliers[i]).map(|i| dst[i]).collect();
        match fit_dlt(&s, &d) {
            Some(h2) => h = h2,
            None => break,
        }
    }
    for (i, flag) in inliers.iter_mut().enumerate() {
        *flag = h.error(src[i], dst[i]) < threshold;
    }
    Some(RansacFit { h, inliers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_homography_with_outliers() {
        let h = Homography([1.05, 0.08, 12.0, -0.04, 0.97, -7.0, 0.0004, -0.0002, 1.0]);
        let mut src = Vec::new();
        let mut dst = Vec::new();
        let mut rng = SplitMix64::new(7);
        for i in 0..60 {
            let p = [(i % 8) as f64 * 20.0 + 5.0, (i / 8) as f64 * 18.0 + 3.0];
            let mut q = h.apply(p).expect("finite");
            if i % 5 == 0 {
                q[0] += 10.0 + (rng.below(10) as f64);
            }
            src.push(p);
            dst.push(q);
        }
        let fit = ransac(&src, &dst, 0.5, 200, 1).expect("fit");
        assert_eq!(fit.inliers.iter().filter(|&&b| b).count(), 48);
        for (p, q) in src.iter().zip(&dst).skip(1).step_by(5) {
            assert!(fit.h.error(*p, *q) < 1e-6);
        }
    }
}
