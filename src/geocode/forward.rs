//! Forward geocoding: reading the query, finding candidate streets, placing
//! the house number, scoring.
//!
//! Streets are found in two passes. The exact pass looks every contiguous run
//! of query words up in the exact-key map (folded names, AFNOR forms, names
//! without their type); it is a few dozen hash lookups. When that leaves words
//! of the query unexplained (a typo, a place name in front, a missing word),
//! the fuzzy pass scores the names sharing a word, or a word one edit away,
//! with the query.

use super::index::{FUZZY_MIN_CHARS, Index, KeyKind, unit_vector};
use super::text::{
    canonical, edit_distance_at_most, is_city_noise, is_locator_word, is_number_sign, is_stop_word,
    is_street_type, single_deletions, tokenize,
};
use super::{GeocodeMatch, MatchPrecision};
use crate::model::LonLat;

/// Longest run of words tried as a street name.
const MAX_SPAN: usize = 14;
/// Words of a query beyond this are ignored (bounds the work on odd input).
const MAX_QUERY_TOKENS: usize = 40;
/// Characters of a query beyond this are ignored.
const MAX_QUERY_CHARS: usize = 400;
/// Below this score a match is not worth returning.
const MIN_SCORE: f64 = 0.3;
/// Factor applied to matches outside the requested arrondissements.
const OUT_OF_AREA_FACTOR: f64 = 0.5;
/// A match outside the requested arrondissements is kept only if its name
/// scored at least this before the factor (a strong match, not a stray word),
/// whether or not its number exists: a bridge or a boundary street is often
/// given the postcode of its other end.
const OUT_OF_AREA_MIN: f64 = 0.8;
/// Fuzzy pass: share (idf-weighted) of a street name's words the query must have.
const FUZZY_MIN_RECALL: f64 = 0.6;
/// Fuzzy pass: words in more street names than this do not propose candidates.
const FUZZY_MAX_POSTINGS: usize = 400;
/// Fuzzy pass: a lower share accepted when every query word in the matched
/// stretch is used and at least two of the name's own words are present
/// (`Rue des Docteurs Dejerine` for `Rue des Docteurs Augusta et Jules Dejerine`).
const FUZZY_MIN_RECALL_COMPLETE: f64 = 0.4;
/// Weight of a word one edit away, against 1 for the exact word.
const FUZZY_WORD_WEIGHT: f64 = 0.8;
/// Weight of a word the query abbreviates (`Chau.` for `Chaussée`).
const PREFIX_WORD_WEIGHT: f64 = 0.6;
/// Words of the vocabulary at least this long (in characters), street types
/// aside, also match the words one edit away.
const FUZZY_KNOWN_MIN_CHARS: usize = 5;
/// Weight of a word one edit from a query word that is itself a word of the
/// vocabulary (`Andre` is not a misspelling of `Ancre`, `Hippolyte` may be
/// one of `Hyppolyte`).
const FUZZY_KNOWN_WORD_WEIGHT: f64 = 0.7;
/// At most this many words are tried for an abbreviation.
const MAX_PREFIX_EXPANSIONS: usize = 60;

/// Weight of a name the query cuts short (`Rue du N` for `Rue du Nord`).
const TRUNCATED_NAME_SCORE: f64 = 0.7;
/// A name cut short may begin at most this many spellings of names (and
/// must begin exactly one name in the arrondissements asked).
const MAX_TRUNCATED_NAMES: usize = 64;
/// A number far beyond a street's last number is looked for on the streets
/// within this many metres of its addresses.
const NEXT_DOOR_M: f64 = 40.0;
/// Placement factor of the same number on the street next door.
const NEXT_DOOR_FACTOR: f64 = 0.75;

/// A second name of the query that is not a full street name places a
/// street-level match where the two streets meet only if their addresses
/// come this close, in metres.
const CROSSING_MAX_M: f64 = 60.0;
/// At most this many other names are tried as the crossing street.
const MAX_CROSSING_TRIES: usize = 4;
/// A street-level match found only outside the arrondissements asked is
/// placed halfway to their nearest address if that is within this many
/// metres (a bridge across the Seine is at most about 250 m long); farther,
/// the arrondissement asked is not across the way's end.
const OTHER_END_MAX_M: f64 = 300.0;
/// Metres per degree of latitude (mean).
const METRES_PER_DEGREE: f64 = 111_195.0;

/// Every arrondissement, as a bit mask (bit n = arrondissement n).
const ALL_ARRONDISSEMENTS: u32 = ((1 << 21) - 1) & !1;

/// Arrondissements designated by an INSEE code (`75102`), a postcode
/// (`75002`, `75116`), Paris Centre (`75123`) or Paris as a whole (`75056`,
/// `75000`). `None` for a code that is not in Paris.
pub(crate) fn arrondissements_of_code(code: &str) -> Option<u32> {
    let code = code.trim();
    if code.len() != 5 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = code[3..].parse().ok()?;
    match &code[..3] {
        "750" if (1..=20).contains(&n) => Some(1 << n),
        "751" if (1..=20).contains(&n) => Some(1 << n),
        "751" if n == 23 => Some(0b1_1110),
        "750" if n == 0 => Some(ALL_ARRONDISSEMENTS),
        "750" if n == 56 => Some(ALL_ARRONDISSEMENTS),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A word, possibly part of a street name.
    Word,
    /// A number that may be a house number (up to 4 digits).
    Number(u32),
    /// "Paris", "France": not counted as unexplained, may be part of a name.
    Noise,
    /// A postcode or an arrondissement mention: never part of a street name.
    Boundary,
}

#[derive(Debug, Clone)]
struct QToken {
    text: String,
    canon: String,
    /// The word in the street-name vocabulary, if it is one.
    word: Option<u32>,
    kind: Kind,
    stop: bool,
    break_before: bool,
    glued: bool,
}

impl QToken {
    /// Whether the word should be explained by a match.
    fn is_content(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Number(_)) && !self.stop
    }
}

/// A query, tokenised and classified.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    tokens: Vec<QToken>,
    /// Arrondissements named in the text (postcode, "11e arrondissement").
    area: Option<u32>,
}

fn is_ordinal(s: &str) -> bool {
    matches!(s, "e" | "eme" | "er" | "ere" | "em" | "ieme" | "nd")
}

fn is_arrondissement_word(s: &str) -> bool {
    matches!(
        s,
        "arrondissement" | "arrondissements" | "arr" | "arrt" | "arrdt" | "ardt" | "arrondt"
    )
}

/// A house-number suffix as a Paris BAL code (`b`, `t`, `bv` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rep {
    bytes: [u8; 2],
    len: usize,
}

impl Rep {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// A house-number suffix as written in a query (`bis`, `B`, `ter`, `BV`), as
/// a Paris BAL code. Articles and abbreviations (`d`, `au`, `bd`, `st`) are not
/// suffixes unless `glued` to the number (`9D`).
fn rep_code(s: &str, glued: bool) -> Option<Rep> {
    const LETTERS: &[u8] = b"abcdefghmpqstuvwxz";
    let code = match s {
        "bis" => "b",
        "ter" => "t",
        "quater" => "q",
        _ => s,
    };
    let ok = (1..=2).contains(&code.len())
        && code.bytes().all(|b| LETTERS.contains(&b))
        && (glued || (!is_stop_word(code) && canonical(code) == code));
    if !ok {
        return None;
    }
    let mut bytes = [0u8; 2];
    bytes[..code.len()].copy_from_slice(code.as_bytes());
    Some(Rep {
        bytes,
        len: code.len(),
    })
}

impl Query {
    /// The arrondissements asked, by the caller's codes and the text together.
    fn area(&self, param_area: Option<u32>) -> u32 {
        match (param_area, self.area) {
            (Some(a), Some(b)) => a & b,
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => ALL_ARRONDISSEMENTS,
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        let text = text
            .char_indices()
            .nth(MAX_QUERY_CHARS)
            .map_or(text, |(i, _)| &text[..i]);
        let mut tokens: Vec<QToken> = tokenize(text)
            .into_iter()
            .take(MAX_QUERY_TOKENS)
            .map(|t| {
                let canon = canonical(&t.text).to_owned();
                let kind = if t.is_digits() && !t.from_words {
                    if t.text.len() <= 4 {
                        t.text.parse().map_or(Kind::Boundary, Kind::Number)
                    } else {
                        Kind::Boundary
                    }
                } else if is_city_noise(&canon) || is_locator_word(&canon) {
                    Kind::Noise
                } else {
                    Kind::Word
                };
                let stop = kind == Kind::Word && is_stop_word(&canon);
                QToken {
                    text: t.text,
                    canon,
                    word: None,
                    kind,
                    stop,
                    break_before: t.break_before,
                    glued: t.glued,
                }
            })
            .collect();
        let mut area: Option<u32> = None;
        let mut restrict = |mask: u32| area = Some(area.unwrap_or(0) | mask);
        let n = tokens.len();
        for i in 0..n {
            let t = &tokens[i];
            if t.kind == Kind::Boundary && t.text.len() == 5 {
                if let Some(mask) =
                    arrondissements_of_code(&t.text).filter(|&m| m != ALL_ARRONDISSEMENTS)
                {
                    restrict(mask);
                }
                continue;
            }
            let Kind::Number(v) = t.kind else { continue };
            if !(1..=20).contains(&v) {
                continue;
            }
            // "11e arrondissement", "Paris 11", "mairie du 19e", "17 arrondissement"
            let ordinal = tokens
                .get(i + 1)
                .is_some_and(|u| is_ordinal(&u.text) && !u.break_before);
            let j = if ordinal { i + 2 } else { i + 1 };
            let arr_word = tokens
                .get(j)
                .is_some_and(|u| is_arrondissement_word(&u.text));
            let at_end = tokens
                .get(j)
                .is_none_or(|u| u.break_before || u.kind == Kind::Boundary);
            let after_paris = i > 0 && tokens[i - 1].canon == "paris";
            if arr_word || (ordinal && at_end) || (after_paris && at_end) {
                restrict(1 << v);
                let last = if arr_word { j } else { j - 1 };
                for u in &mut tokens[i..=last] {
                    u.kind = Kind::Boundary;
                    u.stop = false;
                }
            }
        }
        for t in &mut tokens {
            if t.kind == Kind::Word && is_arrondissement_word(&t.text) {
                t.kind = Kind::Noise;
            }
        }
        // "n° 12", "numéro 12"
        for i in 1..tokens.len() {
            if matches!(tokens[i].kind, Kind::Number(_))
                && tokens[i - 1].kind == Kind::Word
                && is_number_sign(&tokens[i - 1].canon)
            {
                tokens[i - 1].kind = Kind::Noise;
            }
        }
        Self { tokens, area }
    }

    /// The non-article token before `i`, if any.
    fn previous_word(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|&k| !self.tokens[k].stop)
    }

    /// The house number written just before token `start`: `12`, `12 bis`,
    /// `12B`, and for a range (`10-12`, `10 à 12`) the first number.
    fn house_number_before(&self, start: usize) -> Option<HouseNumber> {
        let t = &self.tokens;
        let mut k = start;
        let mut rep = None;
        if k >= 2
            && matches!(t[k - 2].kind, Kind::Number(_))
            && !t[k - 1].break_before
            && let Some(r) = rep_code(&t[k - 1].text, t[k - 1].glued)
        {
            rep = Some(r);
            k -= 1;
        }
        // "12, de la rue", "12 d rue": articles between the number and the name.
        if rep.is_none() {
            while k >= 1 && t[k - 1].stop && !t[k - 1].glued {
                k -= 1;
            }
        }
        let end = k;
        let Kind::Number(mut numero) = t.get(k.checked_sub(1)?)?.kind else {
            return None;
        };
        k -= 1;
        loop {
            if k >= 1
                && let Kind::Number(m) = t[k - 1].kind
            {
                numero = m;
                rep = None;
                k -= 1;
            } else if k >= 2
                && let Kind::Number(m) = t[k - 2].kind
                && (matches!(t[k - 1].text.as_str(), "a" | "au" | "et")
                    || rep_code(&t[k - 1].text, t[k - 1].glued).is_some())
            {
                numero = m;
                rep = rep_code(&t[k - 1].text, t[k - 1].glued)
                    .filter(|_| !matches!(t[k - 1].text.as_str(), "a" | "au" | "et"));
                k -= 2;
            } else {
                break;
            }
        }
        Some(HouseNumber {
            numero,
            rep,
            first: k,
            end,
        })
    }
}

/// A house number read from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HouseNumber {
    numero: u32,
    rep: Option<Rep>,
    /// Its tokens (number, suffix, range): `first..end`.
    first: usize,
    end: usize,
}

impl HouseNumber {
    fn covers(&self, i: usize) -> bool {
        (self.first..self.end).contains(&i)
    }
}

/// A street proposed for the query.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    street: u32,
    name: u32,
    /// Found by the exact pass under its full name (or a part of it).
    exact: bool,
    /// Start of the matched words.
    start: usize,
    /// How well the street's name matches (1 for its exact full name).
    name_score: f64,
    /// Share of the query's words the match explains.
    coverage: f64,
    number: Option<HouseNumber>,
    /// End of the matched words; later is preferred on ties (DansMaRue puts
    /// a place name before the street).
    end: usize,
}

/// Where a candidate lands.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// The BAN address, or `None` for the street's point.
    address: Option<u32>,
    /// For a number the street lacks, the point interpolated between its
    /// neighbours (`address` is then the nearest existing number).
    interpolated: Option<LonLat>,
    factor: f64,
}

/// A placement factor at or above this means the number asked for exists.
const EXACT_NUMBER: f64 = 0.91;
/// A name quality at or above this means the query is exactly a street's name.
const EXACT_NAME: f64 = 0.999;

struct Scored {
    in_area: bool,
    score: f64,
    /// The score without the placement factor (how well the name matches).
    name_quality: f64,
    start: usize,
    end: usize,
    street: u32,
    name: u32,
    exact: bool,
    number: Option<HouseNumber>,
    placement: Placement,
    /// Where a street-level match is placed, if not at the street's point.
    at: Option<u32>,
}

impl Index {
    pub(crate) fn forward(
        &self,
        query: &str,
        citycodes: &[&str],
        limit: usize,
    ) -> Vec<GeocodeMatch> {
        if limit == 0 {
            return Vec::new();
        }
        let mut q = Query::parse(query);
        for t in &mut q.tokens {
            t.word = self.vocabulary.ids.get(t.canon.as_str()).copied();
        }
        let param_area = if citycodes.is_empty() {
            None
        } else {
            Some(
                citycodes
                    .iter()
                    .filter_map(|c| arrondissements_of_code(c))
                    .fold(0, |a, m| a | m),
            )
        };
        let mut candidates = Vec::new();
        self.exact_candidates(&q, &mut candidates);
        if candidates
            .iter()
            .all(|c| c.coverage < 1.0 || c.name_score < 1.0)
        {
            self.fuzzy_candidates(&q, &mut candidates);
        }
        let mut scored = self.score(&q, &candidates, param_area);
        // No name explains the whole query: it may end with a name cut short.
        if scored.is_empty() || candidates.iter().all(|c| c.coverage < 1.0) {
            let before = candidates.len();
            self.truncated_candidates(&q, param_area, &mut candidates);
            if candidates.len() > before {
                scored = self.score(&q, &candidates, param_area);
            }
        }
        scored.sort_by(|a, b| {
            b.in_area
                .cmp(&a.in_area)
                .then(b.score.total_cmp(&a.score))
                .then(b.end.cmp(&a.end))
                .then(
                    self.streets[b.street as usize]
                        .numbers
                        .len()
                        .cmp(&self.streets[a.street as usize].numbers.len()),
                )
                .then(a.street.cmp(&b.street))
        });
        self.place_at_crossing(&mut scored);
        let mut seen: Vec<(u32, Option<u32>)> = Vec::new();
        let mut out = Vec::new();
        for s in scored {
            let key = (s.street, s.placement.address);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let mut m = self.to_match(s.street, s.placement.address, s.score);
            if let Some(a) = s.at {
                m.location = self.addresses[a as usize].location;
            } else if s.placement.address.is_none()
                && !s.in_area
                && let Some(p) = self.halfway_to_area(m.location, q.area(param_area))
            {
                m.location = p;
            }
            if let (Some(p), Some(h)) = (s.placement.interpolated, s.number) {
                let street = &self.streets[s.street as usize];
                let rep = h.rep.as_ref().map_or("", Rep::as_str);
                m.label = super::address_label(h.numero, rep, &street.name, &street.postcode);
                m.location = p;
            }
            out.push(m);
            if out.len() >= limit {
                break;
            }
        }
        out
    }

    /// Scores the candidates: name quality times placement, the
    /// arrondissements asked first (with the boundary-street exceptions),
    /// implausible matches dropped.
    fn score(&self, q: &Query, candidates: &[Candidate], param_area: Option<u32>) -> Vec<Scored> {
        let mut scored: Vec<Scored> = Vec::with_capacity(candidates.len());
        for c in candidates {
            let bit = 1u32 << self.streets[c.street as usize].arrondissement;
            let in_area =
                param_area.is_none_or(|m| m & bit != 0) && q.area.is_none_or(|m| m & bit != 0);
            let placement = self.place(c.street, c.number.as_ref(), in_area);
            let name_quality = (c.name_score * (0.4 + 0.6 * c.coverage)).clamp(0.0, 1.0);
            let score = (name_quality * placement.factor).clamp(0.0, 1.0);
            scored.push(Scored {
                in_area,
                score,
                name_quality,
                start: c.start,
                end: c.end,
                street: c.street,
                name: c.name,
                exact: c.exact,
                number: c.number,
                placement,
                at: None,
            });
        }
        // A street along an arrondissement boundary: when the number asked
        // for is missing on the requested side but exists on the other, the
        // other side is the address (postcodes of boundary streets are often
        // those of the opposite side). Likewise when the requested
        // arrondissements only have a partial match for the name and the
        // exact name and number exist next door (`46 Rue Poissonnière, 75010`
        // is not `Rue du Faubourg Poissonnière`).
        let partial_name_in_area = scored.iter().any(|o| o.in_area)
            && !scored
                .iter()
                .any(|o| o.in_area && o.name_quality >= EXACT_NAME);
        let promote: Vec<usize> = (0..scored.len())
            .filter(|&i| {
                let s = &scored[i];
                !s.in_area
                    && s.placement.factor >= EXACT_NUMBER
                    && ((s.name_quality >= EXACT_NAME && partial_name_in_area)
                        || scored.iter().any(|o| {
                            o.in_area && o.name == s.name && o.placement.factor < EXACT_NUMBER
                        }))
            })
            .collect();
        for i in promote {
            scored[i].in_area = true;
            scored[i].score *= 0.95;
        }
        scored.retain(|s| {
            if s.in_area {
                s.score >= MIN_SCORE
            } else {
                s.name_quality >= OUT_OF_AREA_MIN && s.score >= MIN_SCORE
            }
        });
        for s in &mut scored {
            if !s.in_area {
                s.score *= OUT_OF_AREA_FACTOR;
            }
        }
        scored
    }

    /// "Place Dulcie September Rue du Château Landon": a street named with
    /// no number next to another street (a place, a bridge, a square that is
    /// also a BAN street) is placed where the two meet, at the address of the
    /// first street nearest to the second, rather than at its middle.
    fn place_at_crossing(&self, scored: &mut [Scored]) {
        let Some(best) = scored.first() else { return };
        if best.number.is_some() || best.placement.address.is_some() || !best.in_area {
            return;
        }
        // Another name of the query, outside the first's words: a full name,
        // or a name without its type (`Jasmin Rue de l'Yvette`) if the two
        // streets do meet.
        let others = scored[1..].iter().filter(|o| {
            o.in_area && o.name != best.name && (o.end <= best.start || best.end <= o.start)
        });
        let max = CROSSING_MAX_M / METRES_PER_DEGREE;
        for other in others.take(MAX_CROSSING_TRIES) {
            let max_d2 = if other.exact {
                f64::INFINITY
            } else {
                max * max
            };
            if let Some((_, i)) = self.nearest_pair(best.street, other.street, max_d2) {
                if let Some(first) = scored.first_mut() {
                    first.at = Some(i);
                }
                return;
            }
        }
    }

    /// A way matched at street level that exists only outside the
    /// arrondissements asked (`Pont des Invalides, 75007`: the BAN gives the
    /// bridge to the 8th and its one point is on the 8th's bank) joins them
    /// to its own: the resident stands on it, between its point and the
    /// arrondissement asked. The point halfway between the way's point `p` and
    /// the nearest address of `area`, if that address is within
    /// [`OTHER_END_MAX_M`].
    fn halfway_to_area(&self, p: LonLat, area: u32) -> Option<LonLat> {
        for n in self.tree.nearest_neighbor_iter(&unit_vector(p)) {
            let a = &self.addresses[n.data as usize];
            if p.distance_m(a.location) > OTHER_END_MAX_M {
                return None;
            }
            if area & (1 << self.streets[a.street as usize].arrondissement) != 0 {
                let q = a.location;
                return LonLat::new((p.lon() + q.lon()) / 2.0, (p.lat() + q.lat()) / 2.0).ok();
            }
        }
        None
    }

    /// The address of street `a` nearest to an address of street `b`, with
    /// their squared planar distance in degrees of latitude (exact enough at
    /// this scale), if that is at most `max_d2`. An address of `a` farther
    /// from the box around `b` than the best pair so far is skipped, so
    /// streets that do not meet cost one pass over each.
    fn nearest_pair(&self, a: u32, b: u32, max_d2: f64) -> Option<(f64, u32)> {
        let (a, b) = (&self.streets[a as usize], &self.streets[b as usize]);
        let location = |i: u32| self.addresses[i as usize].location;
        let cos = a.point.lat().to_radians().cos();
        let d2 = |p: LonLat, q: LonLat| {
            let (dx, dy) = ((p.lon() - q.lon()) * cos, p.lat() - q.lat());
            dx * dx + dy * dy
        };
        let (mut west, mut east) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut south, mut north) = (f64::INFINITY, f64::NEG_INFINITY);
        for q in b.numbers.iter().map(|&j| location(j)) {
            west = west.min(q.lon());
            east = east.max(q.lon());
            south = south.min(q.lat());
            north = north.max(q.lat());
        }
        let mut nearest: Option<(f64, u32)> = None;
        let mut bound = max_d2;
        for &i in &a.numbers {
            let p = location(i);
            let dx = (west - p.lon()).max(p.lon() - east).max(0.0) * cos;
            let dy = (south - p.lat()).max(p.lat() - north).max(0.0);
            if dx * dx + dy * dy > bound {
                continue;
            }
            for &j in &b.numbers {
                let d = d2(p, location(j));
                if d <= bound && nearest.is_none_or(|(bd, _)| d < bd) {
                    nearest = Some((d, i));
                    bound = d;
                }
            }
        }
        nearest
    }

    fn to_match(&self, street: u32, address: Option<u32>, score: f64) -> GeocodeMatch {
        let s = &self.streets[street as usize];
        match address {
            Some(a) => {
                let a = &self.addresses[a as usize];
                // The same number next door is on a street of its own.
                let s = &self.streets[a.street as usize];
                GeocodeMatch {
                    label: super::address_label(a.numero, &a.rep, &s.name, &s.postcode),
                    location: a.location,
                    score,
                    precision: MatchPrecision::HouseNumber,
                    citycode: s.citycode.to_string(),
                    postcode: s.postcode.to_string(),
                }
            }
            None => GeocodeMatch {
                label: format!("{} {} Paris", s.name, s.postcode),
                location: s.point,
                score,
                precision: MatchPrecision::Street,
                citycode: s.citycode.to_string(),
                postcode: s.postcode.to_string(),
            },
        }
    }

    /// Content words of the query (outside `number`) that a name explains:
    /// those inside its matched run, or equal to one of its words (a name
    /// written twice, as DansMaRue sometimes does, is explained twice).
    fn explained(
        &self,
        q: &Query,
        name: u32,
        span: std::ops::Range<usize>,
        number: Option<&HouseNumber>,
    ) -> f64 {
        let words = &self.names[name as usize].tokens;
        let (mut total, mut explained) = (0usize, 0usize);
        for (i, t) in q.tokens.iter().enumerate() {
            if !t.is_content() || number.is_some_and(|h| h.covers(i)) {
                continue;
            }
            total += 1;
            if span.contains(&i) || t.word.is_some_and(|w| words.contains(&w)) {
                explained += 1;
            }
        }
        if total == 0 {
            1.0
        } else {
            (explained as f64 / total as f64).min(1.0)
        }
    }

    /// Where to look for a house number before a name starting at token `i`:
    /// before a street type that precedes it (`12 rue Rue X`, `12 rue Foch`
    /// for Avenue Foch).
    fn lookback(q: &Query, i: usize) -> (usize, bool) {
        match q.previous_word(i) {
            Some(p) if is_street_type(&q.tokens[p].canon) && !q.tokens[i].break_before => (p, true),
            _ => (i, false),
        }
    }

    /// Whether the street type written at token `at` is one edit from the
    /// type of `name` (`cours` / `Cour`, `allées` / `Allée`).
    fn type_is_near(&self, q: &Query, at: usize, name: u32) -> bool {
        let n = &self.names[name as usize];
        n.type_len == 1
            && n.tokens.first().is_some_and(|&w| {
                edit_distance_at_most(&q.tokens[at].canon, &self.vocabulary.words[w as usize], 1)
                    .is_some()
            })
    }

    /// Exact pass: every run of words of the query looked up as a key.
    fn exact_candidates(&self, q: &Query, out: &mut Vec<Candidate>) {
        let t = &q.tokens;
        let n = t.len();
        let mut found: Vec<(usize, usize, u32, KeyKind)> = Vec::new();
        let mut key = String::new();
        for i in 0..n {
            if t[i].kind == Kind::Boundary || t[i].stop {
                continue;
            }
            key.clear();
            for (j, tj) in t.iter().enumerate().take(n.min(i + MAX_SPAN)).skip(i) {
                if tj.kind == Kind::Boundary || (j > i && tj.break_before) {
                    break;
                }
                if tj.stop {
                    continue;
                }
                key.push_str(&tj.canon);
                if let Some(v) = self.keys.get(key.as_str()) {
                    found.extend(v.iter().map(|&(name, kind)| (i, j + 1, name, kind)));
                }
            }
        }
        // A run inside a longer matched run is part of that name, not a name.
        let keep: Vec<bool> = found
            .iter()
            .map(|a| {
                !found
                    .iter()
                    .any(|b| b.0 <= a.0 && a.1 <= b.1 && b.1 - b.0 > a.1 - a.0)
            })
            .collect();
        for (&(i, j, name, kind), keep) in found.iter().zip(keep) {
            if !keep {
                continue;
            }
            let (lookback, after_type) = Self::lookback(q, i);
            let name_score = match kind {
                KeyKind::Full => 1.0,
                KeyKind::Part => 0.95,
                KeyKind::Short => 0.85,
                // "cours de l'Île Louviers" for "Cour de l'Île Louviers"
                KeyKind::WithoutType if after_type && self.type_is_near(q, lookback, name) => 0.9,
                // "rue Foch" for "Avenue Foch"
                KeyKind::WithoutType if after_type => 0.8,
                // A single word ("Mairie" for "Cité de la Mairie") is weak evidence.
                KeyKind::WithoutType
                    if self.names[name as usize].tokens.len()
                        <= self.names[name as usize].type_len + 1 =>
                {
                    0.75
                }
                KeyKind::WithoutType => 0.9,
            };
            let number = q.house_number_before(lookback);
            let coverage = self.explained(q, name, i..j, number.as_ref());
            for &street in &self.names[name as usize].streets {
                let exact = matches!(kind, KeyKind::Full | KeyKind::Part);
                out.push(Candidate {
                    street,
                    name,
                    exact,
                    start: i,
                    name_score,
                    coverage,
                    number,
                    end: j,
                });
            }
        }
    }

    /// Words of the vocabulary equal to `word`, one edit from it, or (for a
    /// word not in it) starting with it, with weights. A word of the
    /// vocabulary may still be a misspelling of another (`Hippolyte` for
    /// `Hyppolyte`, `Lisle` for `l'Isle`), so its neighbours are kept when it
    /// is long enough not to be a different short word.
    fn alternatives(&self, word: &str, fuzzy: bool, out: &mut Vec<(u32, f64)>) {
        let v = &self.vocabulary;
        out.clear();
        let known = v.ids.get(word).copied();
        if let Some(id) = known {
            out.push((id, 1.0));
        }
        let chars = word.chars().count();
        if !fuzzy
            || chars < 3
            || known.is_some_and(|id| chars < FUZZY_KNOWN_MIN_CHARS || v.is_type[id as usize])
        {
            return;
        }
        let weight = if known.is_some() {
            FUZZY_KNOWN_WORD_WEIGHT
        } else {
            FUZZY_WORD_WEIGHT
        };
        let push = |id: u32, out: &mut Vec<(u32, f64)>| {
            if !out.iter().any(|&(x, _)| x == id)
                && edit_distance_at_most(word, &v.words[id as usize], 1).is_some()
            {
                out.push((id, weight));
            }
        };
        for d in single_deletions(word).filter(|_| chars >= FUZZY_MIN_CHARS) {
            // The query has an extra letter.
            if let Some(&id) = v.ids.get(d.as_str()) {
                push(id, out);
            }
            // Substitutions and transpositions.
            if let Some(ids) = v.deletions.get(d.as_str()) {
                for &id in ids {
                    push(id, out);
                }
            }
        }
        // The query misses a letter.
        if let Some(ids) = v
            .deletions
            .get(word)
            .filter(|_| chars >= FUZZY_MIN_CHARS - 1)
        {
            for &id in ids {
                push(id, out);
            }
        }
        // An abbreviation (`Chau.` for `Chaussée`): words starting with it,
        // even when a word one edit away exists (`Chaux`).
        if known.is_none() {
            let from = v
                .sorted
                .partition_point(|&id| *v.words[id as usize] < *word);
            let prefixed = v.sorted[from..]
                .iter()
                .take_while(|&&id| v.words[id as usize].starts_with(word));
            let ids: Vec<u32> = prefixed.take(MAX_PREFIX_EXPANSIONS + 1).copied().collect();
            if ids.len() <= MAX_PREFIX_EXPANSIONS {
                for id in ids {
                    if !out.iter().any(|&(x, _)| x == id) {
                        out.push((id, PREFIX_WORD_WEIGHT));
                    }
                }
            }
        }
    }

    /// Fuzzy pass: names sharing (nearly) a word with the query, scored by the
    /// idf-weighted share of their words present in the query.
    fn fuzzy_candidates(&self, q: &Query, out: &mut Vec<Candidate>) {
        let t = &q.tokens;
        let mut alts: Vec<(usize, Vec<(u32, f64)>)> = Vec::new();
        let mut buf = Vec::new();
        for (i, tok) in t.iter().enumerate() {
            if tok.stop || tok.kind == Kind::Boundary {
                continue;
            }
            self.alternatives(&tok.canon, tok.kind == Kind::Word, &mut buf);
            if !buf.is_empty() {
                alts.push((i, buf.clone()));
            }
        }
        let v = &self.vocabulary;
        let mut names: Vec<u32> = Vec::new();
        for (_, a) in &alts {
            for &(w, _) in a {
                let p = &v.postings[w as usize];
                if !v.is_type[w as usize] && p.len() <= FUZZY_MAX_POSTINGS {
                    names.extend_from_slice(p);
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        let mut matched: Vec<usize> = Vec::new();
        for name in names {
            let nm = &self.names[name as usize];
            let (mut got, mut all) = (0.0, 0.0);
            let mut own_words = 0usize;
            matched.clear();
            for (pos, &w) in nm.tokens.iter().enumerate() {
                let weight = v.idf[w as usize]
                    * if pos < nm.type_len || v.is_type[w as usize] {
                        0.5
                    } else {
                        1.0
                    };
                all += weight;
                let mut best: Option<(usize, f64)> = None;
                for (i, a) in &alts {
                    if matched.contains(i) {
                        continue;
                    }
                    if let Some(&(_, s)) = a.iter().find(|&&(x, _)| x == w)
                        && best.is_none_or(|(_, b)| s > b)
                    {
                        best = Some((*i, s));
                    }
                }
                if let Some((i, s)) = best {
                    got += weight * s;
                    matched.push(i);
                    own_words += usize::from(pos >= nm.type_len && !v.is_type[w as usize]);
                }
            }
            let recall = if all > 0.0 { got / all } else { 0.0 };
            let Some(&first) = matched.iter().min() else {
                continue;
            };
            let end = matched.iter().max().map_or(first, |&m| m + 1);
            let complete = (first..end).all(|i| matched.contains(&i) || !t[i].is_content());
            if recall < FUZZY_MIN_RECALL
                && !(recall >= FUZZY_MIN_RECALL_COMPLETE && complete && own_words >= 2)
            {
                continue;
            }
            let (lookback, _) = Self::lookback(q, first);
            let number = q
                .house_number_before(lookback)
                .filter(|h| !matched.iter().any(|m| h.covers(*m)));
            let explained_in = |i: usize| matched.contains(&i);
            let (mut total, mut explained) = (0usize, 0usize);
            for (i, tok) in t.iter().enumerate() {
                if !tok.is_content() || number.is_some_and(|h| h.covers(i)) {
                    continue;
                }
                total += 1;
                explained += usize::from(explained_in(i));
            }
            let coverage = if total == 0 {
                1.0
            } else {
                explained as f64 / total as f64
            };
            let name_score = 0.85 * recall.max(0.5);
            for &street in &nm.streets {
                out.push(Candidate {
                    street,
                    name,
                    exact: false,
                    start: first,
                    name_score,
                    coverage,
                    number,
                    end,
                });
            }
        }
    }

    /// A name cut short (`Rue du N`, `Port de l`, as some forms truncate
    /// what they store): a street type and the words after it, up to the end
    /// of the street part of the query, that begin exactly one name of the
    /// arrondissements asked. Tried only when no name explains the whole query.
    fn truncated_candidates(&self, q: &Query, param_area: Option<u32>, out: &mut Vec<Candidate>) {
        let t = &q.tokens;
        let area = q.area(param_area);
        for start in 0..t.len() {
            if t[start].kind != Kind::Word || !is_street_type(&t[start].canon) {
                continue;
            }
            let end = (start + 1..t.len())
                .find(|&j| t[j].break_before || matches!(t[j].kind, Kind::Boundary | Kind::Noise))
                .unwrap_or(t.len());
            if end < start + 2 || t[start + 1..end].iter().any(|u| u.kind != Kind::Word) {
                continue;
            }
            let mut text = String::new();
            for u in &t[start..end] {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&u.canon);
            }
            let from = self.texts.partition_point(|(k, _)| **k < *text);
            let mut found: Option<u32> = None;
            let mut ambiguous = false;
            let prefixed = self.texts[from..]
                .iter()
                .take_while(|(k, _)| k.starts_with(text.as_str()))
                .filter(|(k, _)| k.len() > text.len());
            if prefixed.clone().nth(MAX_TRUNCATED_NAMES).is_some() {
                continue;
            }
            for &(_, name) in prefixed {
                let in_area = self.names[name as usize]
                    .streets
                    .iter()
                    .any(|&st| area & (1 << self.streets[st as usize].arrondissement) != 0);
                if !in_area || found == Some(name) {
                    continue;
                }
                if found.is_some() {
                    ambiguous = true;
                    break;
                }
                found = Some(name);
            }
            let Some(name) = found.filter(|_| !ambiguous) else {
                continue;
            };
            let number = q.house_number_before(start);
            let coverage = self.explained(q, name, start..end, number.as_ref());
            for &street in &self.names[name as usize].streets {
                out.push(Candidate {
                    street,
                    name,
                    exact: false,
                    start,
                    name_score: TRUNCATED_NAME_SCORE,
                    coverage,
                    number,
                    end,
                });
            }
            return;
        }
    }

    /// The address bearing number `h` on another street that comes within
    /// [`NEXT_DOOR_M`] of street `street` (the street it opens onto), the
    /// suffix asked (or none) first, then the nearest.
    fn same_number_next_door(&self, street: u32, h: &HouseNumber) -> Option<u32> {
        let s = &self.streets[street as usize];
        let addr = |i: u32| &self.addresses[i as usize];
        let (mut west, mut east) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut south, mut north) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in s.numbers.iter().map(|&i| addr(i).location) {
            west = west.min(p.lon());
            east = east.max(p.lon());
            south = south.min(p.lat());
            north = north.max(p.lat());
        }
        let cos = s.point.lat().to_radians().cos();
        let max = NEXT_DOOR_M / METRES_PER_DEGREE;
        let max_d2 = max * max;
        // The addresses bearing the number, within the street's longitudes
        // (widened by the distance asked).
        let margin = max / cos.max(0.1);
        let n = h.numero as usize;
        let (Some(&first), Some(&end)) = (self.numero_start.get(n), self.numero_start.get(n + 1))
        else {
            return None;
        };
        let same = &self.by_numero[first as usize..end as usize];
        let lo = same.partition_point(|&(_, lon)| lon < west - margin);
        let hi = lo + same[lo..].partition_point(|&(_, lon)| lon <= east + margin);
        let wanted = h.rep.as_ref().map_or("", Rep::as_str);
        let mut best: Option<((u8, f64), u32)> = None;
        for &(c, _) in &same[lo..hi] {
            let a = addr(c);
            if a.street == street {
                continue;
            }
            let p = a.location;
            let dx = (west - p.lon()).max(p.lon() - east).max(0.0) * cos;
            let dy = (south - p.lat()).max(p.lat() - north).max(0.0);
            if dx * dx + dy * dy > max_d2 {
                continue;
            }
            let d2 = s
                .numbers
                .iter()
                .map(|&i| {
                    let q = addr(i).location;
                    let (dx, dy) = ((p.lon() - q.lon()) * cos, p.lat() - q.lat());
                    dx * dx + dy * dy
                })
                .fold(f64::INFINITY, f64::min);
            let key = (u8::from(*a.rep != *wanted), d2);
            if d2 <= max_d2 && best.is_none_or(|(k, _)| key < k) {
                best = Some((key, c));
            }
        }
        best.map(|(_, c)| c)
    }

    /// The address for a house number on a street: the exact number and
    /// suffix, else the same number, else (for a number the street lacks)
    /// the point interpolated between its neighbours on its side, else the
    /// nearest number (same side of the street first), else the street's
    /// point. A number far beyond the street's last one is first looked for
    /// on the street it opens onto (if `next_door`: for a street of the
    /// arrondissements asked). An open space lacking the number is placed at
    /// its centre.
    fn place(&self, street: u32, number: Option<&HouseNumber>, next_door: bool) -> Placement {
        let s = &self.streets[street as usize];
        let at_street = |factor: f64| Placement {
            address: None,
            interpolated: None,
            factor,
        };
        let Some(h) = number else {
            return at_street(1.0);
        };
        if s.numbers.is_empty() {
            return at_street(0.7);
        }
        let addr = |i: u32| &self.addresses[i as usize];
        let nums = &s.numbers;
        let lo = nums.partition_point(|&a| addr(a).numero < h.numero);
        let hi = nums.partition_point(|&a| addr(a).numero <= h.numero);
        if lo < hi {
            let same = &nums[lo..hi];
            let plain = same.iter().copied().find(|&a| addr(a).rep.is_empty());
            let with_rep = h
                .rep
                .and_then(|r| same.iter().copied().find(|&a| *addr(a).rep == *r.as_str()));
            let (address, factor) = match (h.rep, with_rep, plain) {
                (Some(_), Some(a), _) => (a, 1.0),
                (Some(_), None, Some(p)) => (p, 0.92),
                (None, _, Some(p)) => (p, 1.0),
                _ => (same[0], 0.9),
            };
            return Placement {
                address: Some(address),
                interpolated: None,
                factor,
            };
        }
        // The other side of the street is about as far as 8 numbers along it.
        let cost = |a: &super::index::Address| {
            a.numero.abs_diff(h.numero) + 8 * ((a.numero ^ h.numero) & 1)
        };
        let best = nums.iter().copied().min_by_key(|&a| {
            let a = addr(a);
            (cost(a), !a.rep.is_empty())
        });
        let Some(best) = best else {
            return at_street(0.7);
        };
        // A number far beyond the street's last one is not one of its own
        // (`153 Villa Murat`, a private way numbered 1 to 14): it is that of
        // the street it opens onto (`153 Boulevard Murat`), when that street
        // has it at its corner. Not for an open space, whose numbers run
        // around it: whoever names one stands in it.
        let last = nums.last().map_or(0, |&a| addr(a).numero);
        if next_door
            && s.centre.is_none()
            && h.numero > last + last / 3 + 2
            && let Some(next_door) = self.same_number_next_door(street, h)
        {
            return Placement {
                address: Some(next_door),
                interpolated: None,
                factor: NEXT_DOOR_FACTOR,
            };
        }
        let factor = match cost(addr(best)) {
            0..=4 => 0.85,
            5..=12 => 0.8,
            _ => 0.7,
        };
        if s.centre.is_some() {
            return at_street(factor);
        }
        Placement {
            address: Some(best),
            interpolated: self.interpolated(nums, h.numero),
            factor,
        }
    }

    /// A number missing between two numbers of its side of the street
    /// (`14` between `12` and `18`): the point interpolated between them, by
    /// number. `None` when the number is not between two plain numbers of its
    /// side.
    fn interpolated(&self, nums: &[u32], numero: u32) -> Option<LonLat> {
        let addr = |i: u32| &self.addresses[i as usize];
        let side = |&&i: &&u32| {
            let a = addr(i);
            a.rep.is_empty() && (a.numero ^ numero) & 1 == 0
        };
        let below = nums
            .iter()
            .filter(side)
            .filter(|&&i| addr(i).numero < numero)
            .max_by_key(|&&i| addr(i).numero)?;
        let above = nums
            .iter()
            .filter(side)
            .filter(|&&i| addr(i).numero > numero)
            .min_by_key(|&&i| addr(i).numero)?;
        let (a, b) = (addr(*below), addr(*above));
        let t = f64::from(numero - a.numero) / f64::from(b.numero - a.numero);
        let (p, q) = (a.location, b.location);
        LonLat::new(
            p.lon() + t * (q.lon() - p.lon()),
            p.lat() + t * (q.lat() - p.lat()),
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(q: &str) -> Option<(u32, Option<String>)> {
        let q = Query::parse(q);
        let start = q.tokens.iter().position(|t| t.canon == "rue")?;
        q.house_number_before(start)
            .map(|h| (h.numero, h.rep.map(|r| r.as_str().to_owned())))
    }

    #[test]
    fn house_numbers_read_suffixes_and_ranges() {
        let some = |n: u32, r: &str| Some((n, Some(r.to_owned())));
        assert_eq!(number("12 rue X"), Some((12, None)));
        assert_eq!(number("12 bis rue X"), some(12, "b"));
        assert_eq!(number("12B rue X"), some(12, "b"));
        assert_eq!(number("12ter, rue X"), some(12, "t"));
        assert_eq!(number("9bV rue X"), some(9, "bv"));
        assert_eq!(number("216D rue X"), some(216, "d"));
        assert_eq!(number("216 d rue X"), Some((216, None)));
        assert_eq!(number("10-12 rue X"), Some((10, None)));
        assert_eq!(number("10/12 rue X"), Some((10, None)));
        assert_eq!(number("10 à 14 rue X"), Some((10, None)));
        assert_eq!(number("10 et 12 rue X"), Some((10, None)));
        assert_eq!(number("rue X"), None);
    }

    #[test]
    fn postcodes_and_arrondissement_mentions_restrict_the_area() {
        assert_eq!(
            Query::parse("26 Rue de la Lune, 75002 PARIS").area,
            Some(1 << 2)
        );
        assert_eq!(
            Query::parse("15 Rue Nicolo, 75116 PARIS").area,
            Some(1 << 16)
        );
        assert_eq!(
            Query::parse("Mairie du 19e arrondissement").area,
            Some(1 << 19)
        );
        assert_eq!(Query::parse("rue X Paris 11").area, Some(1 << 11));
        assert_eq!(Query::parse("rue X, 75000 Paris").area, None);
        assert_eq!(Query::parse("17 Boulevard Pereire").area, None);
    }

    #[test]
    fn codes_of_paris_map_to_arrondissements() {
        assert_eq!(arrondissements_of_code("75101"), Some(1 << 1));
        assert_eq!(arrondissements_of_code("75011"), Some(1 << 11));
        assert_eq!(arrondissements_of_code("75116"), Some(1 << 16));
        assert_eq!(arrondissements_of_code("75123"), Some(0b1_1110));
        assert_eq!(arrondissements_of_code("92300"), None);
    }
}
