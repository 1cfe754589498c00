//! Column sums of rows of bytes: the inner loop of the box averages of [`super::medium`] and
//! the area shrink of [`super::texture`], in a shape the compiler vectorises.

use std::ops::Range;

/// Rows added up in `u16` before they are moved into the `u32` sums: 257 · 255 = 65535.
const NARROW_ROWS: usize = 257;

/// The buffers of [`ColumnSums::sum`], kept between calls.
#[derive(Default)]
pub(crate) struct ColumnSums {
    narrow: Vec<u16>,
    wide: Vec<u32>,
}

impl ColumnSums {
    /// `sums[i]` = the sum over `y` in `rows` of `raw[y · stride + offset + i]`, for `i` below
    /// `len`: the exact integer sums, added row by row (in `u16` for up to [`NARROW_ROWS`] rows
    /// at a time, eight bytes per SSE2 instruction), so the caller must keep `rows.len() · 255`
    /// within `u32`. Panics if a row lies outside `raw`.
    pub(crate) fn sum(
        &mut self,
        raw: &[u8],
        stride: usize,
        offset: usize,
        len: usize,
        rows: Range<usize>,
    ) -> &[u32] {
        let row = |y: usize| &raw[y * stride + offset..y * stride + offset + len];
        self.wide.clear();
        if rows.is_empty() {
            self.wide.resize(len, 0);
        }
        let mut y = rows.start;
        while y < rows.end {
            let end = rows.end.min(y + NARROW_ROWS);
            self.narrow.clear();
            self.narrow.extend(row(y).iter().map(|&p| u16::from(p)));
            for r in y + 1..end {
                for (a, &p) in self.narrow.iter_mut().zip(row(r)) {
                    *a += u16::from(p);
                }
            }
            if self.wide.is_empty() {
                self.wide.extend(self.narrow.iter().map(|&n| u32::from(n)));
            } else {
                for (w, &n) in self.wide.iter_mut().zip(&self.narrow) {
                    *w += u32::from(n);
                }
            }
            y = end;
        }
        &self.wide
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
}
