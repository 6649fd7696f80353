//! API keys: generation and digests. Pure (no IO): the store keeps digests,
//! the HTTP edge reads keys from requests.
//!
//! A key is `cm_` followed by 64 hex digits (256 random bits from the
//! operating system's generator, through `rand`'s thread generator). Only
//! its SHA-256 digest is stored: with that much entropy a slow password hash
//! adds nothing, and a fast digest keeps each authenticated request cheap.

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "cm_";
/// Characters of a key shown in listings (`cm_` and 7 hex digits).
const SHOWN_CHARS: usize = 10;

/// A freshly generated key: shown once, then only its digest is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    pub secret: String,
    pub digest: [u8; 32],
    pub prefix: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// `prefix` followed by 256 random bits in 64 lowercase hex digits.
fn random_secret(prefix: &str) -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut secret = String::with_capacity(prefix.len() + 64);
    secret.push_str(prefix);
    for b in bytes {
        secret.push_str(&format!("{b:02x}"));
    }
    secret
}

/// Every webhook signing secret starts with this.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Generates a webhook signing secret: [`WEBHOOK_SECRET_PREFIX`] and 256
/// random bits. Unlike a key it is stored as is (deliveries are signed
/// with it), and shown once.
#[must_use]
pub fn webhook_secret() -> String {
    random_secret(WEBHOOK_SECRET_PREFIX)
}

/// Generates a key.
#[must_use]
pub fn generate() -> NewKey {
    let secret = random_secret(KEY_PREFIX);
    NewKey {
        digest: digest(&secret),
        prefix: secret[..SHOWN_CHARS].to_owned(),
        secret,
    }
}

/// The digest under which a key is stored.
#[must_use]
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether `s` has the shape of a key (checked before any lookup, so that
/// garbage never reaches the store).
#[must_use]
pub fn looks_like_key(s: &str) -> bool {
    s.len() == KEY_PREFIX.len() + 64
        && s.starts_with(KEY_PREFIX)
        && s[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_well_formed_and_never_printed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(looks_like_key(&a.secret));
        assert_eq!(a.digest, digest(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
        assert!(!format!("{a:?}").contains(&a.secret));
        assert!(!looks_like_key("cm_xyz"));
        assert!(!looks_like_key(&a.secret.to_uppercase()));
    }
}

/// The key of reporter pseudonyms: statistics count distinct reporters by
/// an HMAC-SHA256 of the contact under this key, kept in the store (never
/// in a response or a log), so that a pseudonym cannot be matched to an
/// e-mail address or a phone number by hashing guesses.
#[derive(Clone, PartialEq, Eq)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

impl PseudonymKey {
    /// A new random key.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key as stored: 64 hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a stored key.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut bytes = [0_u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// The pseudonym of a contact: 63 bits of the HMAC of its normal form
    /// (trimmed; an e-mail address lower-cased; a phone number reduced to
    /// its digits and a leading `+`), as stored (a non-negative `i64`).
    #[must_use]
    pub fn pseudonym(&self, contact: &str) -> i64 {
        use hmac::{Hmac, Mac as _};
        let c = contact.trim();
        let normal: String = if c.contains('@') {
            c.to_lowercase()
        } else {
            c.chars()
                .enumerate()
                .filter(|(i, ch)| ch.is_ascii_digit() || (*i == 0 && *ch == '+'))
                .map(|(_, ch)| ch)
                .collect()
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return 0;
        };
        mac.update(normal.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut first = [0_u8; 8];
        first.copy_from_slice(&out[..8]);
        i64::from_be_bytes(first) & i64::MAX
    }
}

#[cfg(test)]
mod pseudonym_tests {
    use super::PseudonymKey;

    #[test]
    fn a_pseudonym_ignores_case_spacing_and_phone_punctuation_but_not_the_key() {
        let k = PseudonymKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(
            k.pseudonym(" Marie@Example.fr "),
            k.pseudonym("marie@example.fr")
        );
        assert_eq!(k.pseudonym("06 12 34 56 78"), k.pseudonym("06.12.34.56.78"));
        assert_ne!(k.pseudonym("06 12 34 56 78"), k.pseudonym("06 12 34 56 79"));
        assert!(k.pseudonym("marie@example.fr") >= 0);
        let other = PseudonymKey::generate();
        assert_ne!(
            other.pseudonym("marie@example.fr"),
            k.pseudonym("marie@example.fr")
        );
        assert_eq!(PseudonymKey::from_hex(&k.to_hex()), Some(k));
    }
}
