//! Report photos, the pure core: bytes in, sanitised JPEGs out. No IO, no
//! HTTP, no SQL; the caller stores what [`sanitise`] returns and serves it.
//!
//! What [`sanitise`] does, in this order, each step before any costlier one:
//! 1. refuses more than [`Limits::max_bytes`] (10 MiB) before looking inside;
//! 2. tells the type from the magic bytes ([`sniff`]); the upload's name and
//!    declared `Content-Type` are never read. JPEG, PNG and WebP are decoded;
//!    HEIC, AVIF, GIF, TIFF, BMP and JPEG XL are recognised and refused by
//!    name; anything else is "not an image";
//! 3. refuses a JPEG whose walk of segments never reaches its end marker
//!    (the decoder would pad a truncated upload with grey);
//! 4. reads the dimensions from the header alone and refuses more than
//!    [`Limits::max_side`] (10,000 px) on a side or [`Limits::max_pixels`]
//!    (40 Mpx) in all, and a decoded buffer over [`Limits::max_decode_bytes`]
//!    (256 MiB): a 100 kB file claiming 50,000 × 50,000 px is refused without
//!    allocating its pixels. The image crate's own `Limits` are set to the
//!    same side limit and memory budget as a second guard;
//! 5. decodes, flattens any alpha onto white, scales the long side down to
//!    [`Limits::full_long_side`] (2048 px), applies the EXIF orientation to the
//!    pixels (so dropping the tag does not turn portraits sideways), converts
//!    an embedded RGB ICC profile (a phone's Display P3) to sRGB;
//! 6. encodes a full-size JPEG and a display JPEG (long side ≤
//!    [`Limits::display_long_side`], 800 px), quality 82, and names the photo
//!    by the SHA-256 of the full-size bytes ([`file_name`]).
//!
//! Why re-encode rather than strip: the output is written from decoded pixels
//! only, by an encoder given no metadata, so nothing of the upload but its
//! picture can survive: no EXIF (GPS position, camera serial, time), XMP,
//! IPTC, ICC, comments, thumbnails (which may show the uncropped original),
//! trailing data or polyglot payloads, whatever segment or chunk they hide
//! in. Copying "the safe segments" would trust a parser to have found every
//! one. A file that cannot be decoded is therefore refused: it is never
//! stored as uploaded. The output type is always JPEG (`image/jpeg`).
//!
//! `sanitise` is CPU-bound (about half a second of one core for a 2 Mpx
//! photo in the dev profile) and holds the decoded image (up to [`Limits::max_decode_bytes`])
//! plus a converted copy: the caller runs it off the async runtime
//! (`spawn_blocking`) and bounds how many run at once.

mod jpeg;
mod name;
mod sniff;

use std::io::Cursor;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader};
use image::{ExtendedColorType, RgbImage};

pub use name::{BadHash, ContentHash, Variant, file_name, parse_file_name};
pub use sniff::{ImageType, sniff};

/// At most this many photos per report (enforced by the caller, which knows
/// how many a report already has).
pub const MAX_PHOTOS_PER_REPORT: usize = 3;

/// The media type of every rendition [`sanitise`] returns.
pub const OUTPUT_CONTENT_TYPE: &str = "image/jpeg";

/// What [`sanitise`] accepts and what it makes. [`Limits::default`] holds the
/// values the service uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest upload, checked before anything is decoded: 10 MiB.
    pub max_bytes: usize,
    /// Widest and tallest image, from the header: 10,000 px.
    pub max_side: u32,
    /// Most pixels (width × height), from the header: 40,000,000.
    pub max_pixels: u64,
    /// Largest decoded buffer (pixels × bytes per pixel as decoded, e.g. 4
    /// for RGBA, 8 for 16-bit RGBA): 256 MiB. Also the image crate's
    /// allocation budget.
    pub max_decode_bytes: u64,
    /// Long side of the full-size rendition: 2048 px (never enlarged).
    pub full_long_side: u32,
    /// Long side of the display rendition: 800 px (never enlarged).
    pub display_long_side: u32,
    /// JPEG quality of both renditions, 1..=100: 82.
    pub jpeg_quality: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_side: 10_000,
            max_pixels: 40_000_000,
            max_decode_bytes: 256 * 1024 * 1024,
            full_long_side: 2048,
            display_long_side: 800,
            jpeg_quality: 82,
        }
    }
}

/// Why an upload was refused. [`PhotoError::http_status`] gives the status
/// an HTTP edge answers with; every message is safe to show to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// 413: over [`Limits::max_bytes`].
    #[error("the photo is {bytes} bytes: at most {max} are accepted")]
    TooLarge { bytes: usize, max: usize },
    /// 415: the bytes start like no known image type.
    #[error("not an image: send a JPEG, PNG or WebP photo")]
    NotAnImage,
    /// 415: a recognised image type that is not decoded here.
    #[error("{0} images are not accepted: send a JPEG, PNG or WebP photo")]
    Unsupported(ImageType),
    /// 422: over [`Limits::max_side`], [`Limits::max_pixels`] or
    /// [`Limits::max_decode_bytes`], by the header's dimensions.
    #[error(
        "the photo is {width} × {height} px: at most {max_side} px a side and {max_pixels} px in all are accepted"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    /// 422: damaged or incomplete (truncated, bad header, undecodable data).
    #[error("the {kind} file is damaged or incomplete: {reason}")]
    Corrupt { kind: ImageType, reason: String },
    /// 422: well-formed as far as can be told, but it cannot be turned into
    /// clean pixels (a codec feature the decoder lacks, an encoder failure).
    #[error("the {kind} file cannot be processed: {reason}")]
    CannotSanitise { kind: ImageType, reason: String },
}

impl PhotoError {
    /// The HTTP status for this refusal: 413, 415 or 422.
    pub fn http_status(&self) -> u16 {
        match self {
            PhotoError::TooLarge { .. } => 413,
            PhotoError::NotAnImage | PhotoError::Unsupported(_) => 415,
            PhotoError::TooManyPixels { .. }
            | PhotoError::Corrupt { .. }
            | PhotoError::CannotSanitise { .. } => 422,
        }
    }
}

/// One JPEG rendition, written from pixels only.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Always [`OUTPUT_CONTENT_TYPE`].
    pub content_type: &'static str,
}

impl std::fmt::Debug for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("bytes", &self.bytes.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// A sanitised photo: what may be stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitised {
    /// The type the upload was decoded as (from its bytes).
    pub source_type: ImageType,
    /// SHA-256 of `full.bytes`: the photo's stable name.
    pub hash: ContentHash,
    pub full: Rendition,
    pub display: Rendition,
}

impl Sanitised {
    pub fn rendition(&self, variant: Variant) -> &Rendition {
        match variant {
            Variant::Full => &self.full,
            Variant::Display => &self.display,
        }
    }

    /// [`file_name`] of this photo's `variant`.
    pub fn file_name(&self, variant: Variant) -> String {
        file_name(&self.hash, variant)
    }
}

/// Checks, decodes and re-encodes an upload; see the module documentation
/// for the steps and the limits. Never panics on any input.
pub fn sanitise(bytes: &[u8], limits: &Limits) -> Result<Sanitised, PhotoError> {
    if bytes.len() > limits.max_bytes {
        return Err(PhotoError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let kind = sniff(bytes).ok_or(PhotoError::NotAnImage)?;
    let format = match kind {
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Png => ImageFormat::Png,
        ImageType::WebP => ImageFormat::WebP,
        other => return Err(PhotoError::Unsupported(other)),
    };
    if kind == ImageType::Jpeg && !jpeg::reaches_end_of_image(bytes) {
        return Err(corrupt(
            kind,
            "truncated: the end-of-image marker is missing",
        ));
    }

    // Headers only: dimensions, orientation, colour profile.
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_decode_bytes);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(image_limits.clone());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(kind, None, limits, e))?;
    let (width, height) = decoder.dimensions();
    let too_many = PhotoError::TooManyPixels {
        width,
        height,
        max_side: limits.max_side,
        max_pixels: limits.max_pixels,
    };
    if width == 0 || height == 0 {
        return Err(corrupt(kind, "the header gives an empty image"));
    }
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
        || decoder.total_bytes() > limits.max_decode_bytes
    {
        return Err(too_many);
    }
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    decoder
        .set_limits(image_limits)
        .map_err(|e| decode_error(kind, Some((width, height)), limits, e))?;
    // A damaged EXIF or ICC block is dropped anyway: it costs the photo its
    // rotation or colour conversion, not its acceptance.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();

    let decoded = DynamicImage::from_decoder(decoder)
        .map_err(|e| decode_error(kind, Some((width, height)), limits, e))?;
    if decoded.width() != width || decoded.height() != height {
        return Err(corrupt(kind, "decoded size differs from the header"));
    }

    let pixels = fit(flatten_onto_white(decoded), limits.full_long_side);
    let mut oriented = DynamicImage::ImageRgb8(pixels);
    oriented.apply_orientation(orientation);
    let mut pixels = oriented.into_rgb8();
    if let Some(icc) = icc {
        to_srgb(&mut pixels, &icc);
    }

    let full = encode(kind, &pixels, limits.jpeg_quality)?;
    let display_pixels = fit(pixels, limits.display_long_side);
    let display = encode(kind, &display_pixels, limits.jpeg_quality)?;
    Ok(Sanitised {
        source_type: kind,
        hash: ContentHash::of(&full.bytes),
        full,
        display,
    })
}

fn corrupt(kind: ImageType, reason: impl Into<String>) -> PhotoError {
    PhotoError::Corrupt {
        kind,
        reason: reason.into(),
    }
}

fn decode_error(
    kind: ImageType,
    size: Option<(u32, u32)>,
    limits: &Limits,
    e: ImageError,
) -> PhotoError {
    match e {
        ImageError::Limits(_) => match size {
            Some((width, height)) => PhotoError::TooManyPixels {
                width,
                height,
                max_side: limits.max_side,
                max_pixels: limits.max_pixels,
            },
            None => PhotoError::CannotSanitise {
                kind,
                reason: format!("over the decoding limits ({e})"),
            },
        },
        ImageError::Unsupported(_) => PhotoError::CannotSanitise {
            kind,
            reason: e.to_string(),
        },
        ImageError::Decoding(_)
        | ImageError::IoError(_)
        | ImageError::Parameter(_)
        | ImageError::Encoding(_) => corrupt(kind, e.to_string()),
    }
}

/// 8-bit RGB; transparent areas become white (JPEG has no alpha, and the
/// colour under a transparent pixel is arbitrary, often black).
fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(px[3]);
        for (o, &v) in out.0.iter_mut().zip(&px.0[..3]) {
            let v = (u16::from(v) * a + 255 * (255 - a) + 127) / 255;
            *o = u8::try_from(v).unwrap_or(u8::MAX);
        }
    }
    rgb
}

/// Scales `image` down so that its long side is at most `long_side`,
/// keeping the aspect ratio; smaller images are returned as they are.
fn fit(image: RgbImage, long_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let long = w.max(h);
    if long <= long_side || long_side == 0 {
        return image;
    }
    let scale = |side: u32| -> u32 {
        let scaled =
            (u64::from(side) * u64::from(long_side) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled)
            .unwrap_or(long_side)
            .clamp(1, long_side)
    };
    image::imageops::resize(&image, scale(w), scale(h), FilterType::CatmullRom)
}

/// Converts pixels described by an embedded RGB ICC profile to sRGB. A
/// profile that cannot be read, or is not RGB (CMYK, grey), is ignored and
/// the pixels are taken as sRGB, as a browser would show them once the
/// profile is gone.
fn to_srgb(pixels: &mut RgbImage, icc: &[u8]) {
    use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};
    let Ok(source) = ColorProfile::new_from_slice(icc) else {
        return;
    };
    if source.color_space != DataColorSpace::Rgb {
        return;
    }
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) =
        source.create_transform_8bit(Layout::Rgb, &srgb, Layout::Rgb, TransformOptions::default())
    else {
        return;
    };
    let mut out = vec![0u8; pixels.as_raw().len()];
    if transform.transform(pixels.as_raw(), &mut out).is_ok()
        && let Some(converted) = RgbImage::from_raw(pixels.width(), pixels.height(), out)
    {
        *pixels = converted;
    }
}

fn encode(kind: ImageType, pixels: &RgbImage, quality: u8) -> Result<Rendition, PhotoError> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .write_image(
            pixels.as_raw(),
            pixels.width(),
            pixels.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| PhotoError::CannotSanitise {
            kind,
            reason: format!("re-encoding failed: {e}"),
        })?;
    Ok(Rendition {
        bytes,
        width: pixels.width(),
        height: pixels.height(),
        content_type: OUTPUT_CONTENT_TYPE,
    })
}
