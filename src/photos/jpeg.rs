//! A JPEG marker walker, for the one check the decoder does not make: the
//! JPEG decoder pads a truncated scan with grey instead of failing, so a
//! photo cut off mid-upload would be stored half grey. The walker follows the
//! segments from SOI by their lengths (so a JPEG thumbnail inside an EXIF
//! segment, with its own EOI, is skipped whole) and through each scan's
//! entropy-coded data, and answers whether the image's own EOI is reached.

const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

/// Whether the JPEG in `bytes` (starting with SOI) reaches its EOI marker by
/// a walk of its segments and scans. Bytes after EOI are ignored.
pub(crate) fn reaches_end_of_image(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let n = bytes.len();
    let mut i = 2;
    loop {
        // The next marker: 0xFF, any fill 0xFF bytes, then the marker code.
        while i < n && bytes[i] != 0xFF {
            i += 1;
        }
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            EOI => return true,
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 | 0x00 => continue,
            _ => {}
        }
        let Some(len) = bytes.get(i..i + 2) else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 || i + len > n {
            return false;
        }
        i += len;
        if marker == SOS {
            // Entropy-coded data: 0xFF is followed by a stuffed 0x00 or a
            // restart marker inside it; anything else ends the scan.
            loop {
                while i < n && bytes[i] != 0xFF {
                    i += 1;
                }
                match bytes.get(i + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP1 holding a whole thumbnail JPEG (with its own EOI), a
    /// minimal header, a scan with stuffed bytes and a restart marker, EOI.
    fn tiny() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        let thumb = [0xFF, 0xD8, 0xFF, 0xD9];
        v.extend([0xFF, 0xE1, 0x00, 2 + thumb.len() as u8]);
        v.extend(thumb);
        v.extend([0xFF, 0xDB, 0x00, 0x03, 0x00]);
        v.extend([0xFF, 0xDA, 0x00, 0x03, 0x00]);
        v.extend([
            0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD1, 0x78,
        ]);
        v.extend([0xFF, 0xD9]);
        v
    }

    #[test]
    fn a_complete_jpeg_reaches_its_end_marker() {
        assert!(reaches_end_of_image(&tiny()));
        let mut trailer = tiny();
        trailer.extend(b"camera maker trailer");
        assert!(reaches_end_of_image(&trailer));
    }

    #[test]
    fn a_jpeg_cut_anywhere_before_its_end_marker_does_not() {
        let full = tiny();
        for cut in 0..full.len() {
            assert!(!reaches_end_of_image(&full[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn the_end_marker_of_a_thumbnail_inside_a_segment_does_not_count() {
        let full = tiny();
        // Cut just after the thumbnail's own EOI, inside the main image.
        assert!(!reaches_end_of_image(&full[..12]));
    }
}
