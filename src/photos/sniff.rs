//! The image type, told from the file's first bytes ("magic numbers"); the
//! name, extension and declared `Content-Type` of an upload are never read.

/// An image type recognised from its magic bytes. Only [`ImageType::accepted`]
/// types are decoded; the others are recognised so that the refusal can name
/// them ("HEIC is not accepted") instead of calling the file "not an image".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageType {
    Jpeg,
    Png,
    WebP,
    Gif,
    /// HEIF family with an HEVC brand (iPhone photos): no pure-Rust decoder.
    Heic,
    /// HEIF family with an AV1 brand.
    Avif,
    Tiff,
    Bmp,
    JpegXl,
}

impl ImageType {
    /// Whether `sanitise` decodes this type (JPEG, PNG, WebP).
    pub fn accepted(self) -> bool {
        matches!(self, ImageType::Jpeg | ImageType::Png | ImageType::WebP)
    }

    /// The registered media type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::WebP => "image/webp",
            ImageType::Gif => "image/gif",
            ImageType::Heic => "image/heic",
            ImageType::Avif => "image/avif",
            ImageType::Tiff => "image/tiff",
            ImageType::Bmp => "image/bmp",
            ImageType::JpegXl => "image/jxl",
        }
    }

    /// A short human name, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ImageType::Jpeg => "JPEG",
            ImageType::Png => "PNG",
            ImageType::WebP => "WebP",
            ImageType::Gif => "GIF",
            ImageType::Heic => "HEIC",
            ImageType::Avif => "AVIF",
            ImageType::Tiff => "TIFF",
            ImageType::Bmp => "BMP",
            ImageType::JpegXl => "JPEG XL",
        }
    }
}

impl std::fmt::Display for ImageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const JXL_CONTAINER: &[u8] = b"\x00\x00\x00\x0cJXL \r\n\x87\n";

/// The image type of `bytes` from their magic numbers, or `None` when they
/// start like no image type known here.
pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(ImageType::Jpeg);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return Some(ImageType::Png);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(ImageType::WebP);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(ImageType::Gif);
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Some(ImageType::Tiff);
    }
    if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(JXL_CONTAINER) {
        return Some(ImageType::JpegXl);
    }
    if let Some(t) = iso_bmff(bytes) {
        return Some(t);
    }
    // "BM", then the file size (little-endian u32), then 4 reserved bytes.
    if bytes.len() >= 14 && bytes.starts_with(b"BM") && bytes[6..10] == [0, 0, 0, 0] {
        return Some(ImageType::Bmp);
    }
    None
}

/// HEIC or AVIF: an ISO-BMFF `ftyp` box first, whose major or compatible
/// brands name the codec.
fn iso_bmff(bytes: &[u8]) -> Option<ImageType> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let box_len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = box_len.clamp(16, bytes.len());
    // Major brand at 8..12, minor version at 12..16, compatible brands after.
    let brands = std::iter::once(&bytes[8..12]).chain(bytes[16..end].chunks_exact(4));
    let mut heif = false;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Some(ImageType::Avif),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                heif = true;
            }
            _ => {}
        }
    }
    heif.then_some(ImageType::Heic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_accepted_types_are_told_from_their_first_bytes() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageType::Png)
        );
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(ImageType::WebP));
    }

    #[test]
    fn refused_types_are_still_named() {
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some(ImageType::Gif));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(ImageType::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(ImageType::Tiff));
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Some(ImageType::Heic)
        );
        assert_eq!(
            sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf"),
            Some(ImageType::Avif)
        );
        assert_eq!(
            sniff(b"\0\0\0\x14ftypavif\0\0\0\0avif"),
            Some(ImageType::Avif)
        );
        assert_eq!(
            sniff(b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0"),
            Some(ImageType::Bmp)
        );
        assert_eq!(sniff(b"\xFF\x0A\xFA\x7F"), Some(ImageType::JpegXl));
        assert_eq!(sniff(JXL_CONTAINER), Some(ImageType::JpegXl));
        assert!(ImageType::Heic.mime().starts_with("image/"));
        assert!(!ImageType::Heic.accepted() && !ImageType::Gif.accepted());
    }

    #[test]
    fn text_video_and_short_inputs_are_not_images() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"%PDF-1.7\n"), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        // An MP4 video is ISO-BMFF too, with no image brand.
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2"), None);
        assert_eq!(sniff(b"BM but just a sentence"), None);
    }
}
