//! Photo fixtures shared by the photo tests, the role matrix and the photo
//! bench: pictures with detail in them, their JPEG, PNG and WebP encodings,
//! a camera's EXIF block with a GPS position laid out byte by byte, JPEG
//! segment surgery, and `multipart/form-data` upload bodies.
//!
//! Use from a test file with `mod support_photos;`, from a bench with
//! `#[path = "../tests/support_photos/mod.rs"] mod support_photos;`:
//!
//! ```ignore
//! let upload = support_photos::jpeg_with_gps(&support_photos::picture(64, 48, 1));
//! assert!(support_photos::contains(&upload, &support_photos::latitude_bytes()));
//! ```
//!
//! Everything here panics on an encoder failure: that is a test failure.

// Each test binary uses part of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Cursor;

use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage, RgbaImage};

// ---------------------------------------------------------------- pictures

/// A picture with detail in it, so that encoders have something to code;
/// `seed` makes distinct photos (0 for any).
pub fn picture(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            ((x ^ y).wrapping_add(seed.wrapping_mul(37)) & 0xFF) as u8,
        ])
    })
}

/// Noise: compresses badly, so a small picture makes a large file.
pub fn noise(w: u32, h: u32) -> RgbImage {
    let mut s = 0x2545_F491_u32;
    RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for c in &mut px {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            *c = s as u8;
        }
        Rgb(px)
    })
}

// ---------------------------------------------------------------- encodings

/// Writes an RGB picture with `encoder`.
fn write_rgb(encoder: impl ImageEncoder, img: &RgbImage) {
    encoder
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
}

/// A baseline JPEG at quality 90, as a phone writes.
pub fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    write_rgb(
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90),
        img,
    );
    out
}

pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    write_rgb(image::codecs::png::PngEncoder::new(&mut out), img);
    out
}

pub fn png_rgba(img: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgba8,
        )
        .unwrap();
    out
}

/// A lossless WebP (the only WebP encoder the `image` crate has).
pub fn webp(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    write_rgb(
        image::codecs::webp::WebPEncoder::new_lossless(&mut out),
        img,
    );
    out
}

/// A lossless WebP carrying `exif` (a TIFF block) in its EXIF chunk.
pub fn webp_with_exif(img: &RgbImage, exif: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
    encoder.set_exif_metadata(exif).unwrap();
    write_rgb(encoder, img);
    out
}

// ---------------------------------------------------------------- EXIF

/// Paris, Hôtel de Ville: 48° 51' 29.60" N, 2° 21' 7.80" E, as the three
/// RATIONALs (little-endian numerator, denominator) a camera writes.
fn rationals(parts: [(u32, u32); 3]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
        .collect()
}

/// The latitude of [`exif_tiff`], as its bytes (to look for in outputs).
pub fn latitude_bytes() -> Vec<u8> {
    rationals([(48, 1), (51, 1), (2960, 100)])
}

/// The longitude of [`exif_tiff`], as its bytes.
pub fn longitude_bytes() -> Vec<u8> {
    rationals([(2, 1), (21, 1), (780, 100)])
}

/// A TIFF-structured EXIF block, little-endian, laid out by hand:
/// header, IFD0 (Make `SpyCam Co`, optional Orientation, GPSInfo pointer),
/// the GPS IFD (version, latitude and longitude with their references),
/// then the values too long to sit in their entries.
pub fn exif_tiff(orientation: Option<u16>) -> Vec<u8> {
    struct Entry {
        tag: u16,
        typ: u16,
        count: u32,
        value: Vec<u8>, // inline if ≤ 4 bytes, else stored after the IFDs
    }
    const BYTE: u16 = 1;
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;

    let mut ifd0 = vec![Entry {
        tag: 0x010F, // Make
        typ: ASCII,
        count: 10,
        value: b"SpyCam Co\0".to_vec(),
    }];
    if let Some(o) = orientation {
        ifd0.push(Entry {
            tag: 0x0112,
            typ: SHORT,
            count: 1,
            value: o.to_le_bytes().to_vec(),
        });
    }
    ifd0.push(Entry {
        tag: 0x8825, // GPSInfo: offset patched below
        typ: LONG,
        count: 1,
        value: vec![0; 4],
    });
    let gps = vec![
        Entry {
            tag: 0x0000,
            typ: BYTE,
            count: 4,
            value: vec![2, 3, 0, 0],
        },
        Entry {
            tag: 0x0001,
            typ: ASCII,
            count: 2,
            value: b"N\0".to_vec(),
        },
        Entry {
            tag: 0x0002,
            typ: RATIONAL,
            count: 3,
            value: latitude_bytes(),
        },
        Entry {
            tag: 0x0003,
            typ: ASCII,
            count: 2,
            value: b"E\0".to_vec(),
        },
        Entry {
            tag: 0x0004,
            typ: RATIONAL,
            count: 3,
            value: longitude_bytes(),
        },
    ];
    let ifd_len = |n: usize| 2 + 12 * n + 4;
    let ifd0_at = 8;
    let gps_at = ifd0_at + ifd_len(ifd0.len());
    let mut data_at = gps_at + ifd_len(gps.len());
    for e in &mut ifd0 {
        if e.tag == 0x8825 {
            e.value = (gps_at as u32).to_le_bytes().to_vec();
        }
    }

    let mut out = b"II\x2a\x00".to_vec();
    out.extend((ifd0_at as u32).to_le_bytes());
    let mut data: Vec<u8> = Vec::new();
    for ifd in [&ifd0, &gps] {
        out.extend((ifd.len() as u16).to_le_bytes());
        for e in ifd {
            out.extend(e.tag.to_le_bytes());
            out.extend(e.typ.to_le_bytes());
            out.extend(e.count.to_le_bytes());
            if e.value.len() <= 4 {
                let mut v = e.value.clone();
                v.resize(4, 0);
                out.extend(v);
            } else {
                out.extend((data_at as u32).to_le_bytes());
                data.extend_from_slice(&e.value);
                data_at += e.value.len();
            }
        }
        out.extend(0u32.to_le_bytes()); // no next IFD
    }
    out.extend(data);
    out
}

/// Whether an independent EXIF reader (kamadak-exif) finds EXIF in `bytes`.
pub fn has_exif(bytes: &[u8]) -> bool {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .is_ok()
}

// ---------------------------------------------------------------- JPEG segments

/// One JPEG marker segment: `FF marker`, its length, its payload.
pub fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend(u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    s.extend(payload);
    s
}

/// `jpeg` with `extra` segments right after SOI.
pub fn with_segments(jpeg: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    for s in extra {
        out.extend(s);
    }
    out.extend(&jpeg[2..]);
    out
}

/// A JPEG of `img` carrying an EXIF APP1 block with a GPS position, as a
/// phone's camera writes it.
pub fn jpeg_with_gps(img: &RgbImage) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif_tiff(None));
    with_segments(&jpeg(img), &[segment(0xE1, &payload)])
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------- uploads

/// One part of a `multipart/form-data` body.
pub struct Part<'a> {
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// A `photo` field as a phone's form sends it (the name and type are not
/// what the server goes by).
pub fn photo_part(bytes: &[u8]) -> Part<'_> {
    Part {
        name: "photo",
        file_name: Some("photo.jpg"),
        content_type: Some("image/jpeg"),
        bytes,
    }
}

pub fn text_part<'a>(name: &'a str, value: &'a str) -> Part<'a> {
    Part {
        name,
        file_name: None,
        content_type: None,
        bytes: value.as_bytes(),
    }
}

const BOUNDARY: &str = "----civicmap-test-7MA4YWxkTrZu0gW";

/// The `Content-Type` of a [`multipart`] body.
pub fn multipart_content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A `multipart/form-data` body, by hand.
pub fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = p.file_name {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend(disposition.as_bytes());
        body.extend(b"\r\n");
        if let Some(ct) = p.content_type {
            body.extend(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend(b"\r\n");
        body.extend(p.bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}
