//! The common PNG, read with libdeflate: 8 bits per sample, not interlaced, any colour type,
//! straight to the RGB the pipeline works on.
//!
//! Why: inflating the image data was most of a PNG's decode. The `png` crate inflates with
//! `fdeflate`; libdeflate inflates the same stream in one call into a buffer of the known size,
//! 0.85 against 1.40 ms for the BioID PNG (930x850, palette), measured in docs/performance.md.
//!
//! Anything else (16-bit or sub-byte samples, Adam7, a damaged chunk, an unknown critical
//! chunk, image data that does not inflate to exactly the rows the header promises) returns
//! `None`, and the caller decodes with the `image` crate as before, which also words the error
//! for a broken file. What this path returns is the `image` crate's answer to the byte: the
//! same rows unfiltered, the same palette (an index past its end reads black), and alpha
//! dropped, as `to_rgb8` drops it. `tests` compare the two on every colour type and filter.

use image::RgbImage;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The colour types of the PNG specification (table 11.1), with 8 bits per sample.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Colour {
    Grey = 0,
    Rgb = 2,
    Palette = 3,
    GreyAlpha = 4,
    Rgba = 6,
}

impl Colour {
    fn from_byte(b: u8) -> Option<Colour> {
        Some(match b {
            0 => Colour::Grey,
            2 => Colour::Rgb,
            3 => Colour::Palette,
            4 => Colour::GreyAlpha,
            6 => Colour::Rgba,
            _ => return None,
        })
    }

    /// Bytes per pixel at 8 bits per sample.
    fn bytes_per_pixel(self) -> usize {
        match self {
            Colour::Grey | Colour::Palette => 1,
            Colour::GreyAlpha => 2,
            Colour::Rgb => 3,
            Colour::Rgba => 4,
        }
    }
}

/// What the chunks say: the header's fields, the palette, and where the image data is.
struct Layout<'a> {
    width: u32,
    height: u32,
    colour: Colour,
    palette: &'a [u8],
    /// The `IDAT` chunks' data, in order (one zlib stream split across them).
    data: Vec<&'a [u8]>,
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// Walks the chunks up to `IEND`, checking each CRC.
fn layout(bytes: &[u8]) -> Option<Layout<'_>> {
    let mut rest = bytes.strip_prefix(SIGNATURE)?;
    let mut header = None;
    let mut palette: &[u8] = &[];
    let mut data = Vec::new();
    // The IDAT chunks must be consecutive (PNG specification 5.6).
    let mut data_ended = false;
    loop {
        let len = usize::try_from(be_u32(rest)?).ok()?;
        let chunk = rest.get(4..8 + len)?;
        let crc = be_u32(rest.get(8 + len..)?)?;
        if crc32fast::hash(chunk) != crc {
            return None;
        }
        let (kind, body) = chunk.split_at(4);
        rest = &rest[12 + len..];
        if header.is_none() && kind != b"IHDR" {
            return None;
        }
        if !data.is_empty() && kind != b"IDAT" {
            data_ended = true;
        }
        match kind {
            b"IHDR" => {
                // width, height, bit depth, colour type, compression, filter, interlace
                if header.is_some() || body.len() != 13 {
                    return None;
                }
                let (width, height) = (be_u32(body)?, be_u32(&body[4..])?);
                let colour = Colour::from_byte(body[9])?;
                if width == 0 || height == 0 || body[8] != 8 || body[10..13] != [0, 0, 0] {
                    return None;
                }
                header = Some((width, height, colour));
            }
            b"PLTE" => {
                if body.len() % 3 != 0 || body.len() > 3 * 256 || !data.is_empty() {
                    return None;
                }
                palette = body;
            }
            b"IDAT" => {
                if data_ended {
                    return None;
                }
                data.push(body);
            }
            b"IEND" => break,
            // An unknown critical chunk (upper-case first letter) must not be skipped.
            _ if kind[0].is_ascii_uppercase() => return None,
            _ => {}
        }
    }
    let (width, height, colour) = header?;
    if data.is_empty() || (colour == Colour::Palette && palette.is_empty()) {
        return None;
    }
    Some(Layout {
        width,
        height,
        colour,
        palette,
        data,
    })
}

/// The Paeth predictor in the branch-free form of stb_image (equivalent to the specification's
/// 9.4), on values widened to `i16`.
fn paeth_predictor(a: i16, b: i16, c: i16) -> u8 {
    let threshold = c * 3 - (a + b);
    let (lo, hi) = (a.min(b), a.max(b));
    let t0 = if hi <= threshold { lo } else { c };
    let t1 = if threshold <= lo { hi } else { t0 };
    t1 as u8
}

/// Undoes one row's filter (PNG specification 9.2) in place; `previous` is the row above,
/// already unfiltered, or zeros for the first row. `B` is the bytes per pixel.
fn unfilter_row<const B: usize>(filter: u8, previous: &[u8], row: &mut [u8]) -> Option<()> {
    match filter {
        0 => {}
        1 => {
            for i in B..row.len() {
                row[i] = row[i].wrapping_add(row[i - B]);
            }
        }
        2 => {
            for (x, &b) in row.iter_mut().zip(previous) {
                *x = x.wrapping_add(b);
            }
        }
        3 => {
            let mut a = [0u8; B];
            for (px, above) in row.chunks_exact_mut(B).zip(previous.chunks_exact(B)) {
                for k in 0..B {
                    let mean = ((u16::from(a[k]) + u16::from(above[k])) / 2) as u8;
                    px[k] = px[k].wrapping_add(mean);
                    a[k] = px[k];
                }
            }
        }
        4 => {
            let (mut a, mut c) = ([0i16; B], [0i16; B]);
            for (px, above) in row.chunks_exact_mut(B).zip(previous.chunks_exact(B)) {
                for k in 0..B {
                    let b = i16::from(above[k]);
                    px[k] = px[k].wrapping_add(paeth_predictor(a[k], b, c[k]));
                    a[k] = i16::from(px[k]);
                    c[k] = b;
                }
            }
        }
        _ => return None,
    }
    Some(())
}

/// Unfilters every row of `raw` (each a filter byte and `stride` bytes) in place.
fn unfilter<const B: usize>(raw: &mut [u8], stride: usize) -> Option<()> {
    let zeros = vec![0u8; stride];
    let mut above: Option<usize> = None;
    for start in (0..raw.len()).step_by(stride + 1) {
        let (done, rest) = raw.split_at_mut(start + 1);
        let filter = done[start];
        let row = &mut rest[..stride];
        let previous = match above {
            Some(p) => &done[p..p + stride],
            None => &zeros[..],
        };
        unfilter_row::<B>(filter, previous, row)?;
        above = Some(start + 1);
    }
    Some(())
}

/// Decodes `bytes` to RGB if it is a PNG of the kind described at the top, within `max_alloc`
/// bytes for each of the inflated data and the picture; `None` otherwise.
pub fn decode_rgb8(bytes: &[u8], max_alloc: u64) -> Option<RgbImage> {
    let png = layout(bytes)?;
    let (width, height) = (png.width as usize, png.height as usize);
    let bpp = png.colour.bytes_per_pixel();
    let stride = width.checked_mul(bpp)?;
    let raw_len = stride.checked_add(1)?.checked_mul(height)?;
    let rgb_len = width.checked_mul(height)?.checked_mul(3)?;
    if raw_len as u64 > max_alloc || rgb_len as u64 > max_alloc {
        return None;
    }
    let joined;
    let stream = match png.data.as_slice() {
        [one] => *one,
        parts => {
            joined = parts.concat();
            &joined[..]
        }
    };
    // The stream must inflate to exactly the rows the header promises; libdeflate checks the
    // Adler-32 and fails on a longer stream.
    let mut raw = vec![0u8; raw_len];
    let inflated = libdeflater::Decompressor::new()
        .zlib_decompress(stream, &mut raw)
        .ok()?;
    if inflated != raw_len {
        return None;
    }
    match bpp {
        1 => unfilter::<1>(&mut raw, stride)?,
        2 => unfilter::<2>(&mut raw, stride)?,
        3 => unfilter::<3>(&mut raw, stride)?,
        _ => unfilter::<4>(&mut raw, stride)?,
    }
    // An index past the palette's end reads black, as in the `png` crate.
    let mut palette = [[0u8; 3]; 256];
    for (entry, rgb) in palette.iter_mut().zip(png.palette.chunks_exact(3)) {
        entry.copy_from_slice(rgb);
    }
    let rgb = match png.colour {
        Colour::Rgb => {
            // Drop the filter bytes in place: the buffer becomes the picture.
            for y in 0..height {
                let from = y * (stride + 1) + 1;
                raw.copy_within(from..from + stride, y * stride);
            }
            raw.truncate(rgb_len);
            raw
        }
        colour => {
            // Written pixel by pixel through a small buffer that stays in L1, so that the
            // picture is written once (a zeroed `vec!` would write it twice).
            let mut rgb = Vec::with_capacity(rgb_len);
            let mut chunk = [0u8; 3 * 64];
            for row in raw.chunks_exact(stride + 1).map(|r| &r[1..]) {
                for pixels in row.chunks(64 * bpp) {
                    let n = pixels.len() / bpp;
                    let out = chunk[..3 * n].chunks_exact_mut(3);
                    match colour {
                        Colour::Palette => {
                            for (px, &i) in out.zip(pixels) {
                                px.copy_from_slice(&palette[usize::from(i)]);
                            }
                        }
                        Colour::Grey | Colour::GreyAlpha => {
                            for (px, v) in out.zip(pixels.chunks_exact(bpp)) {
                                px.fill(v[0]);
                            }
                        }
                        Colour::Rgba | Colour::Rgb => {
                            for (px, v) in out.zip(pixels.chunks_exact(bpp)) {
                                px.copy_from_slice(&v[..3]);
                            }
                        }
                    }
                    rgb.extend_from_slice(&chunk[..3 * n]);
                }
            }
            rgb
        }
    };
    RgbImage::from_raw(png.width, png.height, rgb)
}

/// The shared data folder's image list, as the tests and examples read it.
#[cfg(test)]
#[path = "../../tests/common/images.rs"]
mod shared_images;

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat};

    /// The `image` crate's reading of the same bytes, as the pipeline did it before.
    fn reference(bytes: &[u8]) -> RgbImage {
        image::load_from_memory_with_format(bytes, ImageFormat::Png)
            .expect("a valid PNG")
            .to_rgb8()
    }

    fn encode(
        width: u32,
        height: u32,
        colour: png::ColorType,
        filter: png::Filter,
        pixels: &[u8],
        palette: Option<(&[u8], Option<&[u8]>)>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(colour);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_filter(filter);
        if let Some((plte, trns)) = palette {
            enc.set_palette(plte.to_vec());
            if let Some(t) = trns {
                enc.set_trns(t.to_vec());
            }
        }
        let mut w = enc.write_header().expect("header");
        w.write_image_data(pixels).expect("data");
        w.finish().expect("finish");
        out
    }

    /// Noise with smooth regions, so that every filter meets both kinds of rows.
    fn pixels(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                if (i / 97) % 3 == 0 {
                    (i % 251) as u8
                } else {
                    rng.u8(..)
                }
            })
            .collect()
    }

    #[test]
    fn every_colour_type_and_filter_reads_as_the_image_crate_reads_it() {
        use png::ColorType as C;
        let mut rng = fastrand::Rng::with_seed(7);
        let filters = [
            png::Filter::NoFilter,
            png::Filter::Sub,
            png::Filter::Up,
            png::Filter::Avg,
            png::Filter::Paeth,
            png::Filter::Adaptive,
        ];
        for (colour, bpp) in [
            (C::Grayscale, 1),
            (C::GrayscaleAlpha, 2),
            (C::Rgb, 3),
            (C::Rgba, 4),
            (C::Indexed, 1),
        ] {
            for filter in filters {
                for (w, h) in [(1, 1), (3, 5), (37, 23), (130, 61)] {
                    let px = pixels(&mut rng, w * h * bpp);
                    // A palette shorter than the indices used (they read black) and a tRNS.
                    let plte: Vec<u8> = (0..3 * 200).map(|_| rng.u8(..)).collect();
                    let trns = [0u8, 128, 255];
                    let palette = (colour == C::Indexed).then_some((&plte[..], Some(&trns[..])));
                    let bytes = encode(w as u32, h as u32, colour, filter, &px, palette);
                    let fast = decode_rgb8(&bytes, u64::MAX)
                        .unwrap_or_else(|| panic!("{colour:?} {filter:?} {w}x{h} not read"));
                    assert!(
                        fast == reference(&bytes),
                        "{colour:?} {filter:?} {w}x{h} differs"
                    );
                }
            }
        }
    }

    #[test]
    fn the_shared_pngs_read_as_the_image_crate_reads_them() {
        let root = std::path::Path::new("../shared/data");
        let pngs: Vec<String> = shared_images::under(root, root)
            .into_iter()
            .filter(|name| name.ends_with(".png"))
            .collect();
        for name in &pngs {
            let bytes = std::fs::read(root.join(name)).expect("readable");
            let fast = decode_rgb8(&bytes, u64::MAX).unwrap_or_else(|| panic!("{name} not read"));
            assert!(fast == reference(&bytes), "{name} differs");
        }
        assert!(pngs.len() >= 8, "only {} PNGs found", pngs.len());
    }

    #[test]
    fn what_this_path_does_not_read_is_left_to_the_image_crate() {
        let mut rng = fastrand::Rng::with_seed(3);
        let px = pixels(&mut rng, 40 * 30 * 3);
        let good = encode(40, 30, png::ColorType::Rgb, png::Filter::Paeth, &px, None);
        assert!(decode_rgb8(&good, u64::MAX).is_some());
        // 16 bits per sample.
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 40, 15);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Sixteen);
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&px).expect("data");
        w.finish().expect("finish");
        assert!(decode_rgb8(&out, u64::MAX).is_none());
        // A flipped bit anywhere: a bad CRC, or data that does not inflate to the rows.
        for i in [9, 20, 40, good.len() / 2, good.len() - 10] {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(decode_rgb8(&bad, u64::MAX).is_none(), "byte {i} flipped");
        }
        // Cut short, and too large for the allocation limit.
        assert!(decode_rgb8(&good[..good.len() - 20], u64::MAX).is_none());
        assert!(decode_rgb8(&good, 40 * 30 * 3 - 1).is_none());
        // Another format altogether.
        let mut jpeg = std::io::Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(RgbImage::new(8, 8))
            .write_to(&mut jpeg, ImageFormat::Jpeg)
            .expect("jpeg");
        assert!(decode_rgb8(jpeg.get_ref(), u64::MAX).is_none());
    }
}
