//! Sanitising one uploaded photo, the whole path `civicmap::photos::sanitise`
//! runs for each upload: type sniffed from the bytes, header checks,
//! decoding, alpha flattening, scaling to the full size (long side 2048 px),
//! EXIF orientation, ICC conversion to sRGB, the full-size and display
//! (800 px) JPEG encodings and the SHA-256 name. Everything but the picture
//! (EXIF GPS included) is dropped on the way.
//!
//! `cargo bench --bench photos`
//!
//! With `TILE_BENCH_CLOCK=cpu` the same benches are timed in thread CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), under the group name `photos_cpu`: on a
//! machine shared with other builds, wall time also counts the time other
//! processes held the core. `sanitise` runs on one thread, so its CPU time
//! per photo is what one core spends on it.
//!
//! Inputs, generated once before anything is timed (sizes printed at start):
//! - `jpeg_12mp_gps_p3`: 4000 × 3000 JPEG (quality 90) with an EXIF block
//!   holding a GPS position and a Display P3 ICC profile, as an iPhone
//!   writes them;
//! - `jpeg_3mp_gps`: 2000 × 1500 JPEG (quality 90) with EXIF GPS, sRGB, as
//!   a mid-range Android phone;
//! - `png_3mp`: 2000 × 1500 RGB PNG (a screenshot-like picture);
//! - `webp_3mp`: 2000 × 1500 lossless WebP (the `image` crate encodes no
//!   lossy WebP).
//!
//! The photo-like pictures have smooth shading, mid-frequency texture and
//! sensor-like grain, so that JPEG decoding has about the entropy of a real
//! photo to read (a flat picture would decode unrealistically fast).
//!
//! Medians: `target/criterion/<group>/<bench>/new/estimates.json`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

mod support;
#[path = "../tests/support_photos/mod.rs"]
mod support_photos;

use civicmap::photos::{Limits, sanitise};
use criterion::Criterion;
use criterion::measurement::Measurement;
use image::{Rgb, RgbImage};

use support_photos::{
    contains, exif_tiff, jpeg, latitude_bytes, picture, png, segment, webp, with_segments,
};

// The service's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A 12-megapixel phone photo (4:3).
const SIZE_12MP: (u32, u32) = (4000, 3000);
/// A 3-megapixel photo (4:3).
const SIZE_3MP: (u32, u32) = (2000, 1500);
/// Seed of the pictures' grain, fixed so that runs compare.
const SEED: u32 = 0x9E37_79B9;
/// Samples per input: a 12-MP photo takes a good fraction of a second.
const SAMPLES: usize = 20;
const MEASUREMENT_TIME: Duration = Duration::from_secs(15);

/// A picture with the structure of a street photo: smooth shading over the
/// frame, blocky mid-frequency texture (walls, paving) and ±4 of grain.
fn photo_like(w: u32, h: u32) -> RgbImage {
    let mut s = SEED;
    RgbImage::from_fn(w, h, |x, y| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let grain = (s & 7) as i32 - 4;
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let texture = (((x / 9) ^ (y / 7)) & 31) as i32 - 16;
        let shade = [
            40.0 + 150.0 * fy + 30.0 * (x as f32 / 97.0).sin(),
            60.0 + 120.0 * fx + 30.0 * (y as f32 / 61.0).cos(),
            90.0 + 80.0 * (fx + fy) / 2.0,
        ];
        Rgb(shade.map(|v| (v as i32 + texture + grain).clamp(0, 255) as u8))
    })
}

/// An APP1 EXIF segment with a GPS position.
fn exif_gps_segment() -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif_tiff(Some(1)));
    segment(0xE1, &payload)
}

/// An APP2 segment holding a Display P3 ICC profile (one chunk of one).
fn display_p3_segment() -> Vec<u8> {
    let mut payload = b"ICC_PROFILE\0\x01\x01".to_vec();
    payload.extend(moxcms::ColorProfile::new_display_p3().encode().unwrap());
    segment(0xE2, &payload)
}

/// The inputs, by bench name.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let (w12, h12) = SIZE_12MP;
    let (w3, h3) = SIZE_3MP;
    let big = jpeg(&photo_like(w12, h12));
    let small_photo = photo_like(w3, h3);
    let inputs = vec![
        (
            "jpeg_12mp_gps_p3",
            with_segments(&big, &[exif_gps_segment(), display_p3_segment()]),
        ),
        (
            "jpeg_3mp_gps",
            with_segments(&jpeg(&small_photo), &[exif_gps_segment()]),
        ),
        ("png_3mp", png(&picture(w3, h3, 1))),
        ("webp_3mp", webp(&small_photo)),
    ];
    let limits = Limits::default();
    for (name, bytes) in &inputs {
        assert!(bytes.len() <= limits.max_bytes, "{name} is over the limit");
        let out = sanitise(bytes, &limits).unwrap();
        assert!(!contains(&out.full.bytes, &latitude_bytes()));
        eprintln!(
            "{name}: {} bytes in, full {} × {} ({} bytes), display {} bytes",
            bytes.len(),
            out.full.width,
            out.full.height,
            out.full.bytes.len(),
            out.display.bytes.len(),
        );
    }
    inputs
}

fn bench<M: Measurement>(c: &mut Criterion<M>, suffix: &str) {
    let limits = Limits::default();
    let mut group = c.benchmark_group(format!("photos{suffix}"));
    group
        .sample_size(SAMPLES)
        .measurement_time(MEASUREMENT_TIME);
    for (name, bytes) in inputs() {
        group.bench_function(format!("sanitise/{name}"), |b| {
            b.iter(|| sanitise(black_box(&bytes), &limits).unwrap());
        });
    }
    group.finish();
}

fn main() {
    support::run_with_clock(|c| bench(c, ""), |c| bench(c, "_cpu"));
}
