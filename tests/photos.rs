//! Report photos: `civicmap::photos::sanitise` on images built here, byte by
//! byte where it matters (EXIF with GPS, XMP, comments, PNG text chunks,
//! forged headers), and on arbitrary bytes.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use civicmap::photos::{
    self, ContentHash, ImageType, Limits, PhotoError, Sanitised, Variant, sanitise, sniff,
};
use image::{Rgb, RgbImage, Rgba, RgbaImage};
use proptest::prelude::*;

mod support_photos;

use support_photos::{
    contains, exif_tiff, jpeg, latitude_bytes, longitude_bytes, picture, png, png_rgba, segment,
    webp, webp_with_exif, with_segments,
};

// ---------------------------------------------------------------- builders

/// An ICC profile for Display P3, the colour space of most phone photos.
fn display_p3_icc() -> Vec<u8> {
    moxcms::ColorProfile::new_display_p3().encode().unwrap()
}

const XMP_SECRET: &[u8] = b"<exif:GPSLatitude>48,51.4933N</exif:GPSLatitude>";
const COMMENT_SECRET: &[u8] = b"taken by Jean Dupont, 12 rue de Rivoli";
const IPTC_SECRET: &[u8] = b"IPTC-byline-Jean-Dupont";
const TRAILER_SECRET: &[u8] = b"TRAILING-DATA-AFTER-EOI";

/// A JPEG's segments up to its first scan: (marker, payload).
fn segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut out = Vec::new();
    let mut i = 2;
    loop {
        assert_eq!(jpeg[i], 0xFF, "segment walk lost at {i}");
        let marker = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        out.push((marker, jpeg[i + 4..i + 2 + len].to_vec()));
        if marker == 0xDA {
            return out;
        }
        i += 2 + len;
    }
}

/// A JPEG carrying every kind of metadata a phone or an editor leaves.
fn jpeg_full_of_metadata(img: &RgbImage, orientation: Option<u16>) -> Vec<u8> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(exif_tiff(orientation));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'>".to_vec();
    xmp.extend(XMP_SECRET);
    xmp.extend(b"</x:xmpmeta>");
    let mut iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x17".to_vec();
    iptc.extend(IPTC_SECRET);
    let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc.extend(display_p3_icc());
    let mut out = with_segments(
        &jpeg(img),
        &[
            segment(0xE1, &exif),
            segment(0xE1, &xmp),
            segment(0xED, &iptc),
            segment(0xE2, &icc),
            segment(0xFE, COMMENT_SECRET),
        ],
    );
    out.extend(TRAILER_SECRET);
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    c.extend(kind);
    c.extend(data);
    c.extend(crc32(&c[4..]).to_be_bytes());
    c
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `png` with `chunks` inserted right after IHDR (signature 8 + IHDR 25).
fn with_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = png[..33].to_vec();
    for c in chunks {
        out.extend(c);
    }
    out.extend(&png[33..]);
    out
}

/// A PNG of nothing but a header claiming `w` × `h`, a scrap of data, IEND.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// Asserts that a rendition is a bare JPEG: only the segments an encoder
/// needs (JFIF APP0, quantisation and Huffman tables, frame, scan), nothing
/// after EOI, and nothing kamadak-exif can read.
fn assert_bare_jpeg(bytes: &[u8]) {
    assert_eq!(sniff(bytes), Some(ImageType::Jpeg));
    for (marker, payload) in segments(bytes) {
        match marker {
            0xE0 => assert!(payload.starts_with(b"JFIF\0"), "APP0 that is not JFIF"),
            0xDB | 0xC0 | 0xC4 | 0xDA | 0xDD => {}
            other => panic!("unexpected segment FF{other:02X} in the output"),
        }
    }
    assert!(bytes.ends_with(&[0xFF, 0xD9]), "bytes after EOI");
    let exif = exif::Reader::new().read_from_container(&mut Cursor::new(bytes));
    assert!(exif.is_err(), "EXIF found in the output");
}

fn assert_no_secrets(bytes: &[u8]) {
    for needle in [
        &b"Exif"[..],
        &b"SpyCam"[..],
        &latitude_bytes()[..],
        &longitude_bytes()[..],
        &b"http://ns.adobe.com"[..],
        &b"xmpmeta"[..],
        XMP_SECRET,
        COMMENT_SECRET,
        IPTC_SECRET,
        &b"Photoshop"[..],
        &b"ICC_PROFILE"[..],
        TRAILER_SECRET,
    ] {
        assert!(
            !contains(bytes, needle),
            "output holds {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

fn ok(bytes: &[u8]) -> Sanitised {
    sanitise(bytes, &Limits::default()).unwrap()
}

fn err(bytes: &[u8]) -> PhotoError {
    sanitise(bytes, &Limits::default()).unwrap_err()
}

fn pixel(jpeg: &[u8], x: u32, y: u32) -> Rgb<u8> {
    *image::load_from_memory(jpeg)
        .unwrap()
        .to_rgb8()
        .get_pixel(x, y)
}

fn close(a: Rgb<u8>, b: [u8; 3], tolerance: u8) -> bool {
    a.0.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

// ---------------------------------------------------------------- metadata

#[test]
fn the_test_jpeg_really_carries_gps_that_an_exif_reader_finds() {
    let input = jpeg_full_of_metadata(&picture(64, 48, 0), None);
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&input))
        .unwrap();
    let lat = exif
        .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
        .unwrap();
    let exif::Value::Rational(ref dms) = lat.value else {
        panic!("GPSLatitude is not RATIONAL: {:?}", lat.value);
    };
    let dms: Vec<f64> = dms.iter().map(|r| r.to_f64()).collect();
    assert_eq!(dms, [48.0, 51.0, 29.6]);
    assert!(
        exif.get_field(exif::Tag::GPSLongitude, exif::In::PRIMARY)
            .is_some()
    );
    assert!(contains(&input, XMP_SECRET) && contains(&input, COMMENT_SECRET));
}

#[test]
fn exif_gps_xmp_iptc_icc_comments_and_trailing_data_do_not_survive_a_jpeg() {
    let input = jpeg_full_of_metadata(&picture(64, 48, 0), None);
    let out = ok(&input);
    assert_eq!(out.source_type, ImageType::Jpeg);
    for v in Variant::ALL {
        let r = out.rendition(v);
        assert_eq!(r.content_type, "image/jpeg");
        assert_bare_jpeg(&r.bytes);
        assert_no_secrets(&r.bytes);
    }
    assert_eq!((out.full.width, out.full.height), (64, 48));
}

#[test]
fn png_text_xmp_time_and_exif_chunks_do_not_survive() {
    let exif_chunk = exif_tiff(None);
    let mut itxt = b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>".to_vec();
    itxt.extend(XMP_SECRET);
    itxt.extend(b"</x:xmpmeta>");
    let mut text = b"Comment\0".to_vec();
    text.extend(COMMENT_SECRET);
    let input = with_chunks(
        &png(&picture(40, 30, 0)),
        &[
            png_chunk(b"tEXt", &text),
            png_chunk(b"iTXt", &itxt),
            png_chunk(b"tIME", &[0x07, 0xE9, 6, 1, 12, 0, 0]),
            png_chunk(b"eXIf", &exif_chunk),
        ],
    );
    assert!(contains(&input, COMMENT_SECRET) && contains(&input, &latitude_bytes()));
    let out = ok(&input);
    assert_eq!(out.source_type, ImageType::Png);
    for v in Variant::ALL {
        assert_bare_jpeg(&out.rendition(v).bytes);
        assert_no_secrets(&out.rendition(v).bytes);
    }
}

#[test]
fn webp_exif_does_not_survive() {
    let input = webp_with_exif(&picture(40, 30, 0), exif_tiff(None));
    assert!(contains(&input, &latitude_bytes()));
    let out = ok(&input);
    assert_eq!(out.source_type, ImageType::WebP);
    assert_eq!((out.full.width, out.full.height), (40, 30));
    assert_bare_jpeg(&out.full.bytes);
    assert_no_secrets(&out.full.bytes);
}

// ---------------------------------------------------------------- orientation

/// 200 × 100, blue, with a red block in the top-left corner (60 × 30).
fn marked() -> RgbImage {
    RgbImage::from_fn(200, 100, |x, y| {
        if x < 60 && y < 30 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

#[test]
fn exif_orientation_6_turns_the_pixels_so_the_photo_stays_upright_without_the_tag() {
    let input = jpeg_full_of_metadata(&marked(), Some(6));
    let out = ok(&input);
    // Orientation 6: shown rotated 90° clockwise, so 200 × 100 becomes
    // 100 × 200 and the top-left corner goes to the top right.
    assert_eq!((out.full.width, out.full.height), (100, 200));
    assert!(close(pixel(&out.full.bytes, 90, 20), [255, 0, 0], 40));
    assert!(close(pixel(&out.full.bytes, 10, 20), [0, 0, 255], 40));
    assert!(close(pixel(&out.full.bytes, 90, 150), [0, 0, 255], 40));
    assert_eq!((out.display.width, out.display.height), (100, 200));
    assert_bare_jpeg(&out.full.bytes);
}

#[test]
fn exif_orientation_in_a_png_exif_chunk_is_applied_too() {
    let input = with_chunks(&png(&marked()), &[png_chunk(b"eXIf", &exif_tiff(Some(6)))]);
    let out = ok(&input);
    assert_eq!((out.full.width, out.full.height), (100, 200));
    assert!(close(pixel(&out.full.bytes, 90, 20), [255, 0, 0], 40));
}

#[test]
fn exif_orientation_3_turns_the_photo_upside_down_in_place() {
    let out = ok(&jpeg_full_of_metadata(&marked(), Some(3)));
    assert_eq!((out.full.width, out.full.height), (200, 100));
    assert!(close(pixel(&out.full.bytes, 190, 90), [255, 0, 0], 40));
    assert!(close(pixel(&out.full.bytes, 10, 10), [0, 0, 255], 40));
}

// ---------------------------------------------------------------- types

#[test]
fn a_png_sent_as_photo_jpg_with_type_image_jpeg_is_still_read_as_a_png() {
    // Nothing but the bytes is given to `sanitise`: a name or a declared
    // Content-Type cannot steer the decoder.
    let bytes = png(&picture(32, 32, 0));
    assert_eq!(sniff(&bytes), Some(ImageType::Png));
    let out = ok(&bytes);
    assert_eq!(out.source_type, ImageType::Png);
    assert_eq!(out.full.content_type, "image/jpeg");
    assert_bare_jpeg(&out.full.bytes);
}

#[test]
fn heic_gif_and_tiff_are_recognised_and_refused_by_name_with_415() {
    for (bytes, kind) in [
        (&b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"[..], ImageType::Heic),
        (&b"GIF89a\x01\0\x01\0\x80\0\0"[..], ImageType::Gif),
        (&b"II*\0\x08\0\0\0\0\0"[..], ImageType::Tiff),
    ] {
        let e = err(bytes);
        assert_eq!(e, PhotoError::Unsupported(kind));
        assert_eq!(e.http_status(), 415);
        assert!(e.to_string().starts_with(kind.name()), "{e}");
    }
}

#[test]
fn random_bytes_text_and_empty_uploads_are_not_images() {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 24) as u8
        })
        .collect();
    for bytes in [
        &noise[..],
        &b""[..],
        &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
    ] {
        let e = err(bytes);
        assert_eq!(e, PhotoError::NotAnImage);
        assert_eq!(e.http_status(), 415);
    }
}

#[test]
fn bytes_that_start_like_a_jpeg_but_hold_a_png_are_refused_as_corrupt() {
    let mut bytes = vec![0xFF, 0xD8, 0xFF];
    bytes.extend(png(&picture(16, 16, 0)));
    let e = err(&bytes);
    assert!(
        matches!(
            e,
            PhotoError::Corrupt {
                kind: ImageType::Jpeg,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.http_status(), 422);
}

#[test]
fn a_truncated_jpeg_is_refused_not_padded_with_grey() {
    let full = jpeg(&picture(120, 80, 0));
    for cut in [full.len() - 2, full.len() * 2 / 3, full.len() / 3, 200, 4] {
        let e = err(&full[..cut]);
        assert!(
            matches!(
                e,
                PhotoError::Corrupt {
                    kind: ImageType::Jpeg,
                    ..
                }
            ),
            "cut at {cut}: {e:?}"
        );
        assert_eq!(e.http_status(), 422);
    }
}

#[test]
fn a_truncated_png_or_webp_is_refused() {
    let p = png(&picture(120, 80, 0));
    // Without metadata, so that every cut falls in the image data (a cut in
    // a trailing EXIF chunk loses nothing of the picture).
    let w = webp(&picture(120, 80, 0));
    for (bytes, kind) in [(&p, ImageType::Png), (&w, ImageType::WebP)] {
        for cut in [bytes.len() - 13, bytes.len() / 2, 40] {
            let e = err(&bytes[..cut]);
            assert!(
                matches!(&e, PhotoError::Corrupt { kind: k, .. } if *k == kind),
                "{kind} cut at {cut}: {e:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- limits

#[test]
fn an_upload_over_the_byte_limit_is_refused_with_413_before_it_is_decoded() {
    // A valid PNG signature followed by garbage: were it decoded, it would
    // fail as corrupt; refused on size alone, it fails as too large.
    let limits = Limits::default();
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(limits.max_bytes + 1, 0xAB);
    let e = sanitise(&bytes, &limits).unwrap_err();
    assert_eq!(
        e,
        PhotoError::TooLarge {
            bytes: limits.max_bytes + 1,
            max: limits.max_bytes
        }
    );
    assert_eq!(e.http_status(), 413);
}

#[test]
fn the_byte_limit_is_inclusive() {
    let bytes = jpeg(&picture(64, 64, 0));
    let exact = Limits {
        max_bytes: bytes.len(),
        ..Limits::default()
    };
    assert!(sanitise(&bytes, &exact).is_ok());
    let under = Limits {
        max_bytes: bytes.len() - 1,
        ..Limits::default()
    };
    assert_eq!(sanitise(&bytes, &under).unwrap_err().http_status(), 413);
}

#[test]
fn a_png_header_claiming_50000_by_50000_is_refused_from_the_header_alone() {
    // 7.5 GB of pixels announced in 70 bytes: refused with the header's own
    // dimensions, which only the header check (before any decoding) knows.
    let bytes = png_header_only(50_000, 50_000);
    assert!(bytes.len() < 100);
    let e = err(&bytes);
    assert_eq!(
        e,
        PhotoError::TooManyPixels {
            width: 50_000,
            height: 50_000,
            max_side: 10_000,
            max_pixels: 40_000_000
        }
    );
    assert_eq!(e.http_status(), 422);
}

#[test]
fn a_header_within_the_side_limit_but_over_the_pixel_limit_is_refused() {
    let e = err(&png_header_only(9_000, 9_000));
    assert!(matches!(
        e,
        PhotoError::TooManyPixels {
            width: 9_000,
            height: 9_000,
            ..
        }
    ));
    let e = err(&png_header_only(10_001, 10));
    assert!(matches!(e, PhotoError::TooManyPixels { width: 10_001, .. }));
}

#[test]
fn a_jpeg_frame_header_forged_to_50000_by_50000_is_refused_before_decoding() {
    let mut bytes = jpeg(&picture(16, 16, 0));
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    // SOF0: marker, length (2), precision (1), height (2), width (2).
    bytes[sof + 5..sof + 7].copy_from_slice(&50_000u16.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
    let e = err(&bytes);
    assert!(
        matches!(
            e,
            PhotoError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn the_decoded_buffer_budget_is_checked_from_the_header_too() {
    let limits = Limits {
        max_decode_bytes: 100 * 100 * 3 - 1,
        ..Limits::default()
    };
    let e = sanitise(&png(&picture(100, 100, 0)), &limits).unwrap_err();
    assert!(
        matches!(e, PhotoError::TooManyPixels { width: 100, .. }),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- sizes

#[test]
fn the_display_version_has_a_long_side_of_at_most_800_and_the_full_one_2048() {
    let out = ok(&jpeg(&picture(3000, 1000, 0)));
    assert_eq!((out.full.width, out.full.height), (2048, 683));
    assert_eq!((out.display.width, out.display.height), (800, 267));
    let decoded = image::load_from_memory(&out.display.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (800, 267));

    let tall = ok(&png(&picture(500, 1200, 0)));
    assert_eq!((tall.full.width, tall.full.height), (500, 1200));
    assert_eq!((tall.display.width, tall.display.height), (333, 800));
}

#[test]
fn a_small_photo_is_never_enlarged() {
    let out = ok(&png(&picture(300, 200, 0)));
    assert_eq!((out.full.width, out.full.height), (300, 200));
    assert_eq!((out.display.width, out.display.height), (300, 200));
}

// ---------------------------------------------------------------- pixels

#[test]
fn transparent_areas_become_white_not_black() {
    let img = RgbaImage::from_fn(50, 50, |x, _| {
        if x < 25 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 128, 0, 255])
        }
    });
    let out = ok(&png_rgba(&img));
    assert!(close(pixel(&out.full.bytes, 5, 25), [255, 255, 255], 8));
    assert!(close(pixel(&out.full.bytes, 45, 25), [0, 128, 0], 12));
}

#[test]
fn a_display_p3_photo_is_converted_to_srgb_before_its_profile_is_dropped() {
    let colour = Rgb([60, 170, 90]);
    let flat = RgbImage::from_pixel(32, 32, colour);
    let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc.extend(display_p3_icc());
    let tagged = with_segments(&jpeg(&flat), &[segment(0xE2, &icc)]);

    let plain = pixel(&ok(&jpeg(&flat)).full.bytes, 16, 16);
    let converted = ok(&tagged);
    assert_bare_jpeg(&converted.full.bytes);
    let converted = pixel(&converted.full.bytes, 16, 16);
    assert!(close(plain, colour.0, 3), "{plain:?}");
    // P3 is wider than sRGB: the same numbers mean a more saturated green,
    // which sRGB writes with less red and more green.
    assert!(converted[0] + 10 < plain[0], "{converted:?} vs {plain:?}");
    assert!(converted[1] > plain[1], "{converted:?} vs {plain:?}");
}

// ---------------------------------------------------------------- names

#[test]
fn the_same_upload_gives_the_same_bytes_and_the_same_file_names() {
    let input = jpeg_full_of_metadata(&picture(90, 60, 0), Some(6));
    let (a, b) = (ok(&input), ok(&input));
    assert_eq!(a, b);
    assert_eq!(a.hash, ContentHash::of(&a.full.bytes));
    let name = a.file_name(Variant::Display);
    assert_eq!(name, format!("{}-display.jpg", a.hash));
    assert_eq!(
        photos::parse_file_name(&name),
        Some((a.hash, Variant::Display))
    );
    let other = ok(&jpeg(&picture(90, 61, 0)));
    assert_ne!(other.hash, a.hash);
}

// ---------------------------------------------------------------- no panics

fn small_valid_images() -> Vec<Vec<u8>> {
    let img = picture(24, 16, 0);
    vec![
        jpeg_full_of_metadata(&img, Some(6)),
        with_chunks(&png(&img), &[png_chunk(b"eXIf", &exif_tiff(Some(8)))]),
        webp_with_exif(&img, exif_tiff(Some(3))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_make_sanitise_panic(
        prefix in prop_oneof![
            Just(&b""[..]),
            Just(&[0xFF, 0xD8, 0xFF][..]),
            Just(&b"\x89PNG\r\n\x1a\n"[..]),
            Just(&b"RIFF\0\0\0\0WEBPVP8 "[..]),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend(tail);
        let _ = sanitise(&bytes, &Limits::default());
    }

    #[test]
    fn a_real_image_cut_short_anywhere_in_its_pixels_is_refused_never_stored_half_grey(
        which in 0usize..3,
        cut in any::<prop::sample::Index>(),
    ) {
        // Without metadata, so that every cut before the end loses pixels;
        // a PNG keeps its picture when only its 12-byte IEND chunk is cut.
        let img = picture(48, 32, 2);
        let (bytes, kept) = vec![(jpeg(&img), 0), (png(&img), 12), (webp(&img), 0)].swap_remove(which);
        let cut = cut.index(bytes.len() - kept);
        match sanitise(&bytes[..cut], &Limits::default()) {
            Ok(_) => prop_assert!(false, "cut at {} of {}: accepted", cut, bytes.len()),
            Err(e) => prop_assert!((400..500).contains(&e.http_status()), "{:?}", e),
        }
    }

    #[test]
    fn damaged_real_images_never_make_sanitise_panic(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = small_valid_images().swap_remove(which);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(out) = sanitise(&bytes, &Limits::default()) {
            prop_assert!(out.full.width <= 2048 && out.full.height <= 2048);
            assert_bare_jpeg(&out.full.bytes);
        }
    }
}
