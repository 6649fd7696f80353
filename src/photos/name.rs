//! Stable file names for stored photos: the SHA-256 of the sanitised
//! full-size JPEG, then the rendition. Parsing is strict, so the public
//! serving route can refuse any other name (no path, no dot-dot, no case
//! variants) before it touches storage.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The SHA-256 of a sanitised photo's full-size bytes; shown as 64 lowercase
/// hex digits. Equal photos get equal hashes (the encoder is deterministic).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// Not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a photo hash: expected 64 lowercase hex digits")]
pub struct BadHash;

impl FromStr for ContentHash {
    type Err = BadHash;

    fn from_str(s: &str) -> Result<Self, BadHash> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return Err(BadHash);
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *o = (nibble(pair[0]).ok_or(BadHash)? << 4) | nibble(pair[1]).ok_or(BadHash)?;
        }
        Ok(Self(out))
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Which rendition of a photo: both are JPEGs made from the decoded pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Long side capped at [`super::Limits::full_long_side`].
    Full,
    /// Long side capped at [`super::Limits::display_long_side`], for lists
    /// and popups.
    Display,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Full, Variant::Display];

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Full => "full",
            Variant::Display => "display",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{hash}-{variant}.jpg`, e.g. `3f…a9-display.jpg`.
pub fn file_name(hash: &ContentHash, variant: Variant) -> String {
    format!("{hash}-{variant}.jpg")
}

/// The inverse of [`file_name`]; `None` for any other string.
pub fn parse_file_name(name: &str) -> Option<(ContentHash, Variant)> {
    let stem = name.strip_suffix(".jpg")?;
    let (hash, variant) = stem.split_once('-')?;
    let variant = Variant::ALL.into_iter().find(|v| v.as_str() == variant)?;
    Some((hash.parse().ok()?, variant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_the_hex_hash_and_the_variant_and_parses_back() {
        let h = ContentHash::of(b"abc");
        let name = file_name(&h, Variant::Display);
        assert_eq!(
            name,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad-display.jpg"
        );
        assert_eq!(parse_file_name(&name), Some((h, Variant::Display)));
        let full = file_name(&h, Variant::Full);
        assert_eq!(parse_file_name(&full), Some((h, Variant::Full)));
    }

    #[test]
    fn any_other_name_is_refused() {
        let h = ContentHash::of(b"abc").to_string();
        for bad in [
            String::new(),
            format!("{h}-display.png"),
            format!("{h}-thumb.jpg"),
            format!("{h}.jpg"),
            format!("{}-full.jpg", h.to_uppercase()),
            format!("{}-full.jpg", &h[..63]),
            format!("{h}0-full.jpg"),
            format!("../{h}-full.jpg"),
            format!("{h}-full.jpg/.."),
            format!("{}g-full.jpg", &h[..63]),
        ] {
            assert_eq!(parse_file_name(&bad), None, "{bad:?}");
        }
    }
}
