//! Street reports: anomalies and positive contributions.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use super::{CategoryId, Layer, LonLat};

/// Store-assigned identifier of a report (positive, dense, increasing).
pub type ReportId = i64;

/// Longest description accepted, in characters (Unicode scalar values).
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Longest free-text address accepted, in characters.
pub const MAX_ADDRESS_CHARS: usize = 300;
/// Longest client-generated idempotency id accepted, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 128;
/// Longest reporter contact accepted, in characters.
const MAX_CONTACT_CHARS: usize = 254;

/// Why a report field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("unknown {field} {value:?}: expected one of {expected}")]
    UnknownValue {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{field} is too long: {chars} characters, at most {max}")]
    TooLong {
        field: &'static str,
        chars: usize,
        max: usize,
    },
    #[error("{field} contains control characters")]
    ControlCharacters { field: &'static str },
}

/// Why a reporter contact was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("contact must be an e-mail address or a phone number")]
    Malformed,
    #[error("contact is too long: at most {MAX_CONTACT_CHARS} characters")]
    TooLong,
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const EXPECTED: &'static str = concat!($($text, " "),+);

            /// The wire and storage spelling.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ReportError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ReportError::UnknownValue {
                        field: $field,
                        value: s.chars().take(64).collect(),
                        expected: Self::EXPECTED.trim_ascii_end(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What a resident is telling the city.
    Kind, "kind" { Anomaly = "anomaly", Contribution = "contribution" }
);

string_enum!(
    /// Where a report came from.
    Channel, "channel" { Ios = "ios", Android = "android", Web = "web", BackOffice = "back_office" }
);

string_enum!(
    /// Lifecycle state, named after the DansMaRue workflow. Every report starts
    /// as `new`; the transitions between states belong to the lifecycle issue.
    Status, "status" {
        New = "new",
        ToProcess = "to_process",
        Scheduled = "scheduled",
        Transferred = "transferred",
        UnderWatch = "under_watch",
        Done = "done",
        Rejected = "rejected",
        Archived = "archived",
    }
);

impl Status {
    /// Whether the city still has something to do (the "open" of Open311).
    #[must_use]
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Done | Status::Rejected | Status::Archived)
    }
}

/// The districts a record was attributed to, one per [`Layer`], as dense ids
/// into the loaded district registry (`spatial::districts`). `None` means the
/// point lies in no district of that layer valid at the record's date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Districts(pub [Option<u32>; 5]);

impl Districts {
    #[must_use]
    pub fn get(&self, layer: Layer) -> Option<u32> {
        self.0[layer.index()]
    }

    pub fn set(&mut self, layer: Layer, id: Option<u32>) {
        self.0[layer.index()] = id;
    }

    /// Whether the record lies in a working-class district.
    #[must_use]
    pub fn working_class(&self) -> bool {
        self.get(Layer::WorkingClass).is_some()
    }
}

/// A district as shown to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictRef {
    pub id: String,
    pub code: String,
    pub name: String,
}

/// A reporter's private contact (e-mail or phone). Its `Debug` is redacted so
/// that it cannot leak through logs; the only way to read it is
/// [`Contact::expose`], used by the store alone.
#[derive(Clone, PartialEq, Eq)]
pub struct Contact(String);

impl Contact {
    /// The raw value, for the store.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Contact(<redacted>)")
    }
}

/// Checks a reporter contact: an e-mail address (`local@domain.tld`) or a phone
/// number (digits, spaces, `+().-`, 6 to 20 digits).
///
/// # Errors
/// [`ContactError`] when it is neither, or too long.
pub fn validate_contact(raw: &str) -> Result<Contact, ContactError> {
    let s = raw.trim();
    if s.chars().count() > MAX_CONTACT_CHARS {
        return Err(ContactError::TooLong);
    }
    let is_email = match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        }
        None => false,
    };
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let is_phone = (6..=20).contains(&digits)
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +().-".contains(c));
    if is_email || is_phone {
        Ok(Contact(s.to_owned()))
    } else {
        Err(ContactError::Malformed)
    }
}

/// Checks a plain-text field: at most `max` characters and no control
/// characters other than newlines and tabs.
///
/// # Errors
/// [`ReportError`] naming `field`.
pub fn validate_text(field: &'static str, s: &str, max: usize) -> Result<(), ReportError> {
    let chars = s.chars().count();
    if chars > max {
        return Err(ReportError::TooLong { field, chars, max });
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(ReportError::ControlCharacters { field });
    }
    Ok(())
}

/// A stored report. `contact` is private: it never leaves the store except to
/// the city services of a later issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: ReportId,
    pub client_id: Option<String>,
    pub kind: Kind,
    pub category: CategoryId,
    /// Index into the category's subcategories.
    pub subcategory: Option<u16>,
    pub description: String,
    pub location: LonLat,
    pub address: Option<String>,
    pub channel: Channel,
    pub created_at: OffsetDateTime,
    pub status: Status,
    pub campaign: Option<String>,
    pub contact: Option<Contact>,
    /// H3 cell at [`crate::spatial::H3_RESOLUTION`].
    pub h3: u64,
    pub districts: Districts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_wire_spelling() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), *k);
        }
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
        }
        let err = "Anomaly".parse::<Kind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown kind \"Anomaly\": expected one of anomaly contribution"
        );
    }

    #[test]
    fn contacts_are_emails_or_phone_numbers_and_never_printed() {
        assert!(validate_contact("jeanne@example.org").is_ok());
        assert!(validate_contact("+33 6 12 34 56 78").is_ok());
        assert!(validate_contact("not a contact").is_err());
        assert!(validate_contact("a@b").is_err());
        let c = validate_contact("secret@example.org").unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn text_longer_than_the_limit_is_refused_by_characters_not_bytes() {
        let accents = "é".repeat(MAX_DESCRIPTION_CHARS);
        assert!(validate_text("description", &accents, MAX_DESCRIPTION_CHARS).is_ok());
        let over = "é".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(
            validate_text("description", &over, MAX_DESCRIPTION_CHARS),
            Err(ReportError::TooLong {
                field: "description",
                chars: 4_001,
                max: 4_000
            })
        );
        assert!(validate_text("address", "a\u{0}b", 10).is_err());
    }
}
