//! Column sums of rows of bytes: the inner loop of the box averages of [`super::medium`] and
//! the area shrink of [`super::texture`], in a shape the compiler vectorises.

use std::ops::Range;

/// Rows added up in `u16` before they are moved into the `u32` sums: 257 · 255 = 65535.
const NARROW_ROWS: usize = 257;

/// Columns (bytes) summed together down a band of rows: 64 `u16` sums are eight SSE2
/// registers, so they stay in registers while the band's rows are added, where a row-by-row
/// pass over the whole width loaded and stored every sum once per row.
const STRIP: usize = 64;

/// The buffer of [`ColumnSums::sum`], kept between calls.
#[derive(Default)]
pub(crate) struct ColumnSums {
    wide: Vec<u32>,
}

impl ColumnSums {
    /// `sums[i]` = the sum over `y` in `rows` of `raw[y · stride + offset + i]`, for `i` below
    /// `len`: the exact integer sums, added strip by strip of [`STRIP`] columns down up to
    /// [`NARROW_ROWS`] rows at a time in `u16` (eight bytes per SSE2 instruction), so the
    /// caller must keep `rows.len() · 255` within `u32`. Panics if a row lies outside `raw`.
    pub(crate) fn sum(
        &mut self,
        raw: &[u8],
        stride: usize,
        offset: usize,
        len: usize,
        rows: Range<usize>,
    ) -> &[u32] {
        self.wide.clear();
        self.wide.resize(len, 0);
        let mut y = rows.start;
        while y < rows.end {
            let end = rows.end.min(y + NARROW_ROWS);
            // The band's bytes from its first row's first column to its last row's last one.
            let band = &raw[y * stride + offset..(end - 1) * stride + offset + len];
            let rows_in_band = end - y;
            let add_strip = |x: usize, width: usize, wide: &mut [u32]| {
                let mut narrow = [0u16; STRIP];
                for r in 0..rows_in_band {
                    let row = &band[r * stride + x..r * stride + x + width];
                    for (a, &p) in narrow.iter_mut().zip(row) {
                        *a += u16::from(p);
                    }
                }
                for (w, n) in wide.iter_mut().zip(narrow) {
                    *w += u32::from(n);
                }
            };
            let whole = len - len % STRIP;
            for (i, wide) in self.wide[..whole].chunks_exact_mut(STRIP).enumerate() {
                add_strip(i * STRIP, STRIP, wide);
            }
            if whole < len {
                add_strip(whole, len - whole, &mut self.wide[whole..]);
            }
            y = end;
        }
        &self.wide
    }
}

/// Box heights up to which [`RecentRows`] gives column sums exactly: a column of up to 257
/// bytes sums to at most 257 · 255 = 65535, within the `u16` whose wrapping difference it is.
pub(crate) const RECENT_ROWS_MAX: usize = 257;

/// Running column sums of a band of rows of bytes, for the sums of RGB boxes that end at the
/// last row added: `prefix(y)[i]`, the sum of byte `i` over the rows before row `y`, modulo
/// 2^16 (vectorised, eight columns per SSE2 instruction), kept for the last `depth + 1` values
/// of `y` in a ring. A box's column sum is then the wrapping difference of two of them, exact
/// for boxes at most `depth` (at most [`RECENT_ROWS_MAX`]) rows tall; the ring stays small (a
/// box's height times the band's width), where a table of every row would not.
pub(crate) struct RecentRows {
    ring: Vec<u16>,
    /// Bytes per row.
    len: usize,
    /// Prefix rows in the ring: the tallest box plus one.
    slots: usize,
    /// The ring slot of the last prefix row (the sums over every row added).
    last: usize,
}

impl RecentRows {
    /// Room for rows of `len` bytes and boxes up to `depth` rows tall (1..=[`RECENT_ROWS_MAX`],
    /// clamped into it; the caller keeps its boxes within).
    pub(crate) fn new(len: usize, depth: usize) -> RecentRows {
        let slots = depth.clamp(1, RECENT_ROWS_MAX) + 1;
        RecentRows {
            // The first slot is the prefix of no rows, 0; the others are written before read.
            ring: vec![0; slots * len],
            len,
            slots,
            last: 0,
        }
    }

    /// Adds the next row (`len` bytes; extra bytes are ignored).
    pub(crate) fn push(&mut self, row: &[u8]) {
        let next = if self.last + 1 == self.slots {
            0
        } else {
            self.last + 1
        };
        let len = self.len;
        // The previous prefix and the next one, in distinct slots (there are at least two).
        let (prev, out) = if next > self.last {
            let (a, b) = self.ring.split_at_mut(next * len);
            (&a[self.last * len..], &mut b[..len])
        } else {
            let (a, b) = self.ring.split_at_mut(self.last * len);
            (&b[..len], &mut a[..len])
        };
        for ((o, &p), &v) in out.iter_mut().zip(prev).zip(row) {
            *o = p.wrapping_add(u16::from(v));
        }
        self.last = next;
    }

    /// The sums over the last `rows` rows added (1..=depth, and no more than were added) of
    /// each of the R, G and B bytes of the pixels `pixels` (byte `3 · x` is pixel `x`'s R):
    /// exact, as a column's wrapping difference is its sum. Panics if `rows` is not below the
    /// ring's slots or the pixels lie outside the row.
    pub(crate) fn rgb_sums(&self, rows: usize, pixels: Range<usize>) -> [u64; 3] {
        assert!(rows < self.slots);
        let first = if rows > self.last {
            self.last + self.slots - rows
        } else {
            self.last - rows
        };
        let bytes = pixels.start * 3..pixels.end * 3;
        let top = &self.ring[first * self.len..][..self.len][bytes.clone()];
        let bottom = &self.ring[self.last * self.len..][..self.len][bytes];
        let mut sums = [0u64; 3];
        for (t, b) in top.chunks_exact(3).zip(bottom.chunks_exact(3)) {
            sums[0] += u64::from(b[0].wrapping_sub(t[0]));
            sums[1] += u64::from(b[1].wrapping_sub(t[1]));
            sums[2] += u64::from(b[2].wrapping_sub(t[2]));
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_sums_are_the_sums_of_the_rows() {
        let mut rng = fastrand::Rng::with_seed(3);
        let (stride, rows) = (37, 800);
        let mut raw = vec![0u8; stride * rows];
        rng.fill(&mut raw);
        // All 255 for the first 600 rows of column 5: past the u16 range of one chunk.
        for y in 0..600 {
            raw[y * stride + 5] = 255;
        }
        let mut sums = ColumnSums::default();
        for (offset, len, range) in [
            (0, 37, 0..0),
            (0, 37, 0..1),
            (3, 20, 10..266),
            (0, 37, 0..257),
            (0, 37, 0..258),
            (1, 30, 5..800),
            (5, 1, 0..600),
        ] {
            let expected: Vec<u32> = (0..len)
                .map(|i| {
                    range
                        .clone()
                        .map(|y| u32::from(raw[y * stride + offset + i]))
                        .sum()
                })
                .collect();
            assert_eq!(
                sums.sum(&raw, stride, offset, len, range.clone()),
                &expected[..],
                "{offset} {len} {range:?}"
            );
        }
    }

    #[test]
    fn recent_rows_sum_the_boxes_ending_at_the_last_row() {
        let mut rng = fastrand::Rng::with_seed(5);
        let (width, rows) = (40, 700);
        let mut raw = vec![0u8; width * 3 * rows];
        rng.fill(&mut raw);
        // All 255 in pixel 7's bytes: the tallest boxes' column sums reach 65535.
        for y in 0..rows {
            raw[y * width * 3 + 21..y * width * 3 + 24].fill(255);
        }
        for depth in [1, 2, 13, RECENT_ROWS_MAX] {
            let mut recent = RecentRows::new(width * 3, depth);
            for y in 0..rows {
                recent.push(&raw[y * width * 3..(y + 1) * width * 3]);
                for _ in 0..4 {
                    let n = rng.usize(1..=depth.min(y + 1));
                    let x0 = rng.usize(0..width);
                    let x1 = rng.usize(x0 + 1..=width);
                    let expected: [u64; 3] = std::array::from_fn(|c| {
                        (y + 1 - n..=y)
                            .flat_map(|r| (x0..x1).map(move |x| (r, x)))
                            .map(|(r, x)| u64::from(raw[(r * width + x) * 3 + c]))
                            .sum()
                    });
                    assert_eq!(recent.rgb_sums(n, x0..x1), expected, "{depth} {y} {n} {x0}");
                }
                let n = depth.min(y + 1);
                let full: [u64; 3] = std::array::from_fn(|c| {
                    (y + 1 - n..=y)
                        .map(|r| u64::from(raw[(r * width + 7) * 3 + c]))
                        .sum()
                });
                assert_eq!(recent.rgb_sums(n, 7..8), full);
            }
        }
    }
}
