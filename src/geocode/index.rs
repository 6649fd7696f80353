//! Building the in-memory index from the two BAN CSV files.

use std::collections::HashMap;
use std::io::Read;

use rstar::RTree;
use rstar::primitives::GeomWithData;

use super::GeocodeError;
use super::text::{FoldedName, folded_text, is_street_type, single_deletions};
use crate::model::LonLat;

const ADDRESSES: &str = "BAN addresses CSV";
const STREETS: &str = "BAN streets CSV";

/// Tokens shorter than this (in characters) are only matched exactly.
pub(crate) const FUZZY_MIN_CHARS: usize = 4;

/// One BAN address.
#[derive(Debug, Clone)]
pub(crate) struct Address {
    pub(crate) street: u32,
    pub(crate) numero: u32,
    /// Paris BAL suffix code, lower case (`b`, `t`, `q`, `v`, `p1` …), or empty.
    pub(crate) rep: Box<str>,
    pub(crate) location: LonLat,
}

/// One street in one arrondissement (a row of the streets file).
#[derive(Debug, Clone)]
pub(crate) struct Street {
    pub(crate) name: Box<str>,
    pub(crate) postcode: Box<str>,
    pub(crate) citycode: Box<str>,
    /// Arrondissement number 1..=20 from the INSEE code, 0 if unknown.
    pub(crate) arrondissement: u8,
    /// Where a street-level match lands: the address nearest the middle of
    /// the street's extent ([`middle_address`]), or for a street without
    /// addresses the streets file's point.
    pub(crate) point: LonLat,
    /// Indexes into `addresses`, sorted by number then suffix (plain first).
    pub(crate) numbers: Vec<u32>,
    /// For an open space (a `Place` …) with addresses: the address nearest
    /// the centre of its addresses, which is also its `point` (a number it
    /// lacks lands there too).
    pub(crate) centre: Option<u32>,
}

/// How a key of the exact-key map was made from a street name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyKind {
    /// The whole name (`ruelune`).
    Full,
    /// One part of a name made of several (`Quai de la Corse` for `Quai de
    /// la Corse - Pasquale Paoli`).
    Part,
    /// The street type and the last word of a longer name (`ruebellefond`
    /// for `Rue Marie-Éléonore de Bellefond`, the street's former name).
    Short,
    /// The name without its street type (`lune`).
    WithoutType,
}

/// A distinct folded street name and the streets (one per arrondissement) that bear it.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub(crate) tokens: Vec<u32>,
    pub(crate) type_len: usize,
    pub(crate) streets: Vec<u32>,
}

/// The word vocabulary of street names, for fuzzy matching.
#[derive(Debug, Default)]
pub(crate) struct Vocabulary {
    pub(crate) ids: HashMap<Box<str>, u32>,
    pub(crate) words: Vec<Box<str>>,
    /// Names containing each word.
    pub(crate) postings: Vec<Vec<u32>>,
    /// Inverse document frequency of each word over names.
    pub(crate) idf: Vec<f64>,
    /// SymSpell: every one-character deletion of a word → the words.
    pub(crate) deletions: HashMap<Box<str>, Vec<u32>>,
    /// Whether each word is a street type.
    pub(crate) is_type: Vec<bool>,
    /// Word ids in alphabetical order (for abbreviations).
    pub(crate) sorted: Vec<u32>,
}

impl Vocabulary {
    fn intern(&mut self, w: &str) -> u32 {
        if let Some(&id) = self.ids.get(w) {
            return id;
        }
        let id = u32::try_from(self.words.len()).unwrap_or(u32::MAX);
        self.ids.insert(w.into(), id);
        self.words.push(w.into());
        self.postings.push(Vec::new());
        self.is_type.push(is_street_type(w));
        id
    }
}

pub(crate) type TreePoint = GeomWithData<[f64; 3], u32>;

/// Unit vector of a WGS84 position on the sphere. The straight-line (chord)
/// distance between two such vectors grows monotonically with the great-circle
/// distance, so the nearest point in 3D is exactly the haversine nearest.
pub(crate) fn unit_vector(p: LonLat) -> [f64; 3] {
    let (lon, lat) = (p.lon().to_radians(), p.lat().to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Everything the geocoder keeps in memory.
pub(crate) struct Index {
    pub(crate) addresses: Vec<Address>,
    pub(crate) streets: Vec<Street>,
    pub(crate) names: Vec<Name>,
    pub(crate) keys: HashMap<Box<str>, Vec<(u32, KeyKind)>>,
    pub(crate) vocabulary: Vocabulary,
    pub(crate) tree: RTree<TreePoint>,
    /// Every address (its index and longitude), by number then longitude,
    /// for the same number on a nearby street.
    pub(crate) by_numero: Vec<(u32, f64)>,
    /// Where each number starts in `by_numero` (`numero_start[n]..numero_start[n + 1]`).
    pub(crate) numero_start: Vec<u32>,
    /// Every spelling of every name as [`folded_text`], sorted, with its
    /// name (for a name cut short).
    pub(crate) texts: Vec<(Box<str>, u32)>,
}

struct Columns {
    file: &'static str,
    headers: csv::ByteRecord,
}

impl Columns {
    fn find(&self, column: &'static str) -> Result<usize, GeocodeError> {
        self.headers
            .iter()
            .position(|h| h.strip_prefix(b"\xef\xbb\xbf").unwrap_or(h) == column.as_bytes())
            .ok_or(GeocodeError::MissingColumn {
                file: self.file,
                column,
            })
    }
}

fn line_of(rec: &csv::ByteRecord) -> u64 {
    rec.position().map_or(0, csv::Position::line)
}

fn text<'r>(
    file: &'static str,
    rec: &'r csv::ByteRecord,
    i: usize,
    field: &'static str,
) -> Result<&'r str, GeocodeError> {
    let bytes = rec.get(i).unwrap_or_default();
    std::str::from_utf8(bytes)
        .map(str::trim)
        .map_err(|_| GeocodeError::BadField {
            file,
            line: line_of(rec),
            field,
            value: String::from_utf8_lossy(bytes).into_owned(),
            reason: "not UTF-8".to_owned(),
        })
}

fn non_empty<'r>(
    file: &'static str,
    rec: &'r csv::ByteRecord,
    i: usize,
    field: &'static str,
) -> Result<&'r str, GeocodeError> {
    let v = text(file, rec, i, field)?;
    if v.is_empty() {
        return Err(GeocodeError::BadField {
            file,
            line: line_of(rec),
            field,
            value: String::new(),
            reason: "empty".to_owned(),
        });
    }
    Ok(v)
}

fn location(
    file: &'static str,
    rec: &csv::ByteRecord,
    lon_col: usize,
    lat_col: usize,
) -> Result<LonLat, GeocodeError> {
    let number = |i: usize, field: &'static str| -> Result<f64, GeocodeError> {
        let v = non_empty(file, rec, i, field)?;
        v.parse::<f64>().map_err(|e| GeocodeError::BadField {
            file,
            line: line_of(rec),
            field,
            value: v.to_owned(),
            reason: e.to_string(),
        })
    };
    let (lon, lat) = (number(lon_col, "lon")?, number(lat_col, "lat")?);
    LonLat::new(lon, lat).map_err(|e| GeocodeError::BadField {
        file,
        line: line_of(rec),
        field: "lon/lat",
        value: format!("{lon},{lat}"),
        reason: e.to_string(),
    })
}

/// Arrondissement number of a Paris INSEE code (`75101` → 1), 0 otherwise.
fn arrondissement_of(citycode: &str) -> u8 {
    citycode
        .strip_prefix("751")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=20).contains(n))
        .unwrap_or(0)
}

/// The grouping key of the streets file: (`nom_voie`, `nom_afnor`, `code_postal`, `code_insee`).
fn group_key(buf: &mut String, parts: [&str; 4]) {
    buf.clear();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            buf.push('\u{1f}');
        }
        buf.push_str(p);
    }
}

struct Builder {
    addresses: Vec<Address>,
    streets: Vec<Street>,
    afnor: Vec<Box<str>>,
    groups: HashMap<Box<str>, u32>,
}

impl Builder {
    fn street_id(&mut self, key: &str, fields: [&str; 4], point: LonLat) -> u32 {
        if let Some(&id) = self.groups.get(key) {
            return id;
        }
        let id = u32::try_from(self.streets.len()).unwrap_or(u32::MAX);
        let [name, afnor, postcode, citycode] = fields;
        self.streets.push(Street {
            name: name.into(),
            postcode: postcode.into(),
            citycode: citycode.into(),
            arrondissement: arrondissement_of(citycode),
            point,
            numbers: Vec::new(),
            centre: None,
        });
        self.afnor.push(afnor.into());
        self.groups.insert(key.into(), id);
        id
    }
}

pub(crate) fn build(
    addresses_csv: impl Read,
    streets_csv: impl Read,
) -> Result<Index, GeocodeError> {
    let mut b = Builder {
        addresses: Vec::with_capacity(160_000),
        streets: Vec::with_capacity(8_000),
        afnor: Vec::with_capacity(8_000),
        groups: HashMap::with_capacity(8_000),
    };
    read_addresses(&mut b, addresses_csv)?;
    if b.addresses.is_empty() {
        return Err(GeocodeError::Empty { file: ADDRESSES });
    }
    read_streets(&mut b, streets_csv)?;

    let Builder {
        addresses,
        mut streets,
        afnor,
        ..
    } = b;
    for (i, a) in addresses.iter().enumerate() {
        if let Some(s) = streets.get_mut(a.street as usize) {
            s.numbers.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
    }
    for s in &mut streets {
        s.numbers.sort_by(|&x, &y| {
            let (x, y) = (&addresses[x as usize], &addresses[y as usize]);
            (x.numero, &x.rep).cmp(&(y.numero, &y.rep))
        });
        let middle = middle_address(s, &addresses);
        if let Some(m) = middle {
            s.point = addresses[m as usize].location;
        }
        if FoldedName::new(&s.name).is_open_space() {
            s.centre = middle;
        }
    }
    let (names, keys, vocabulary) = build_names(&streets, &afnor);
    let tree = RTree::bulk_load(
        addresses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                GeomWithData::new(
                    unit_vector(a.location),
                    u32::try_from(i).unwrap_or(u32::MAX),
                )
            })
            .collect(),
    );
    let (by_numero, numero_start) = by_numero(&addresses);
    let texts = name_texts(&names, &streets);
    Ok(Index {
        addresses,
        streets,
        names,
        keys,
        vocabulary,
        tree,
        by_numero,
        numero_start,
        texts,
    })
}

/// Every address (index, longitude) sorted by number then longitude, and
/// where each number starts.
fn by_numero(addresses: &[Address]) -> (Vec<(u32, f64)>, Vec<u32>) {
    let mut by_numero: Vec<(u32, f64)> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (u32::try_from(i).unwrap_or(u32::MAX), a.location.lon()))
        .collect();
    by_numero.sort_by(|&(x, x_lon), &(y, y_lon)| {
        addresses[x as usize]
            .numero
            .cmp(&addresses[y as usize].numero)
            .then(x_lon.total_cmp(&y_lon))
    });
    let max_numero = addresses.iter().map(|a| a.numero).max().unwrap_or(0) as usize;
    let mut numero_start = vec![0u32; max_numero + 2];
    for a in addresses {
        numero_start[a.numero as usize + 1] += 1;
    }
    for n in 1..numero_start.len() {
        numero_start[n] += numero_start[n - 1];
    }
    (by_numero, numero_start)
}

/// Every street's name as [`folded_text`], with its name, sorted.
fn name_texts(names: &[Name], streets: &[Street]) -> Vec<(Box<str>, u32)> {
    let mut texts: Vec<(Box<str>, u32)> = Vec::with_capacity(streets.len());
    for (id, n) in names.iter().enumerate() {
        let id = u32::try_from(id).unwrap_or(u32::MAX);
        for &s in &n.streets {
            texts.push((folded_text(&streets[s as usize].name).into_boxed_str(), id));
        }
    }
    texts.sort_unstable();
    texts.dedup();
    texts
}

fn read_addresses(b: &mut Builder, reader: impl Read) -> Result<(), GeocodeError> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(reader);
    let headers = rdr
        .byte_headers()
        .map_err(|source| GeocodeError::Csv {
            file: ADDRESSES,
            source,
        })?
        .clone();
    let cols = Columns {
        file: ADDRESSES,
        headers,
    };
    let (c_num, c_rep, c_name, c_afnor, c_post, c_insee, c_lon, c_lat) = (
        cols.find("numero")?,
        cols.find("rep")?,
        cols.find("nom_voie")?,
        cols.find("nom_afnor")?,
        cols.find("code_postal")?,
        cols.find("code_insee")?,
        cols.find("lon")?,
        cols.find("lat")?,
    );
    let mut rec = csv::ByteRecord::new();
    let mut key = String::new();
    let mut last_key = String::new();
    let mut last_id = u32::MAX;
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|source| GeocodeError::Csv {
            file: ADDRESSES,
            source,
        })?
    {
        let f = ADDRESSES;
        let numero_text = non_empty(f, &rec, c_num, "numero")?;
        let numero = numero_text
            .parse::<u32>()
            .map_err(|e| GeocodeError::BadField {
                file: f,
                line: line_of(&rec),
                field: "numero",
                value: numero_text.to_owned(),
                reason: e.to_string(),
            })?;
        let rep = text(f, &rec, c_rep, "rep")?.to_lowercase();
        let fields = [
            non_empty(f, &rec, c_name, "nom_voie")?,
            text(f, &rec, c_afnor, "nom_afnor")?,
            non_empty(f, &rec, c_post, "code_postal")?,
            non_empty(f, &rec, c_insee, "code_insee")?,
        ];
        let location = location(f, &rec, c_lon, c_lat)?;
        group_key(&mut key, fields);
        // Rows come grouped by street: skip the hash lookup for runs.
        let street = if key == last_key {
            last_id
        } else {
            let id = b.street_id(&key, fields, location);
            std::mem::swap(&mut last_key, &mut key);
            last_id = id;
            id
        };
        b.addresses.push(Address {
            street,
            numero,
            rep: rep.into_boxed_str(),
            location,
        });
    }
    Ok(())
}

fn read_streets(b: &mut Builder, reader: impl Read) -> Result<(), GeocodeError> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(reader);
    let headers = rdr
        .byte_headers()
        .map_err(|source| GeocodeError::Csv {
            file: STREETS,
            source,
        })?
        .clone();
    let cols = Columns {
        file: STREETS,
        headers,
    };
    let (c_name, c_afnor, c_post, c_insee, c_lon, c_lat) = (
        cols.find("nom_voie")?,
        cols.find("nom_afnor")?,
        cols.find("code_postal")?,
        cols.find("code_insee")?,
        cols.find("lon")?,
        cols.find("lat")?,
    );
    let mut rec = csv::ByteRecord::new();
    let mut key = String::new();
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|source| GeocodeError::Csv {
            file: STREETS,
            source,
        })?
    {
        let f = STREETS;
        let fields = [
            non_empty(f, &rec, c_name, "nom_voie")?,
            text(f, &rec, c_afnor, "nom_afnor")?,
            non_empty(f, &rec, c_post, "code_postal")?,
            non_empty(f, &rec, c_insee, "code_insee")?,
        ];
        let point = location(f, &rec, c_lon, c_lat)?;
        group_key(&mut key, fields);
        b.street_id(&key, fields, point);
    }
    Ok(())
}

/// The address of `s` nearest the centre of the box around its addresses:
/// the middle of the street's extent, where a street named without a number
/// is placed. The streets file's point is the address nearest the median of
/// the addresses' longitudes and latitudes, which falls where the numbers
/// are dense (one end of a boulevard whose other end runs along a park, one
/// side of a square whose numbers run around it) rather than in the middle.
fn middle_address(s: &Street, addresses: &[Address]) -> Option<u32> {
    let location = |i: &u32| addresses[*i as usize].location;
    let (mut west, mut east) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut south, mut north) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in s.numbers.iter().map(location) {
        west = west.min(p.lon());
        east = east.max(p.lon());
        south = south.min(p.lat());
        north = north.max(p.lat());
    }
    let (lon, lat) = ((west + east) / 2.0, (south + north) / 2.0);
    let cos = lat.to_radians().cos();
    let d2 = |p: LonLat| {
        let (dx, dy) = ((p.lon() - lon) * cos, p.lat() - lat);
        dx * dx + dy * dy
    };
    s.numbers
        .iter()
        .copied()
        .min_by(|a, b| d2(location(a)).total_cmp(&d2(location(b))))
}

/// Names that designate a set of streets. DansMaRue writes "Boulevards des
/// Maréchaux" for the ring of boulevards named after Napoleon's marshals; the
/// house number and the arrondissement then pick the boulevard.
const COLLECTIVE_NAMES: &[(&str, &[&str])] = &[
    ("Boulevards des Maréchaux", MARECHAUX),
    ("Boulevard des Maréchaux", MARECHAUX),
];

const MARECHAUX: &[&str] = &[
    "Boulevard Berthier",
    "Boulevard Bessières",
    "Boulevard Brune",
    "Boulevard Davout",
    "Boulevard du Général Martial Valin",
    "Boulevard de l'Amiral Bruix",
    "Boulevard Gouvion-Saint-Cyr",
    "Boulevard Jourdan",
    "Boulevard Kellermann",
    "Boulevard Lannes",
    "Boulevard Lefebvre",
    "Boulevard Macdonald",
    "Boulevard Masséna",
    "Boulevard Mortier",
    "Boulevard Murat",
    "Boulevard Ney",
    "Boulevard Poniatowski",
    "Boulevard Sérurier",
    "Boulevard Soult",
    "Boulevard Suchet",
    "Boulevard Victor",
];

/// `"Cour de Rome"` for `"Cour de Rome 8ème"`: a name ending with an
/// arrondissement ordinal, without it.
fn without_arrondissement_suffix(name: &str) -> Option<&str> {
    let (base, last) = name.rsplit_once(' ')?;
    let digits = last.find(|c: char| !c.is_ascii_digit())?;
    let (n, ordinal) = last.split_at(digits);
    let n: u32 = n.parse().ok()?;
    ((1..=20).contains(&n) && matches!(ordinal, "e" | "ème" | "eme" | "er") && base.contains(' '))
        .then_some(base)
}

type NameIndex = (
    Vec<Name>,
    HashMap<Box<str>, Vec<(u32, KeyKind)>>,
    Vocabulary,
);

fn build_names(streets: &[Street], afnor: &[Box<str>]) -> NameIndex {
    let mut names: Vec<Name> = Vec::new();
    let mut by_key: HashMap<String, u32> = HashMap::new();
    let mut keys: HashMap<Box<str>, Vec<(u32, KeyKind)>> = HashMap::new();
    let mut vocabulary = Vocabulary::default();
    let add_key = |keys: &mut HashMap<Box<str>, Vec<(u32, KeyKind)>>,
                   key: String,
                   name: u32,
                   kind: KeyKind| {
        // A type-less key shorter than 3 letters (`Villa A`) would match noise.
        if key.is_empty() || (kind == KeyKind::WithoutType && key.chars().count() < 3) {
            return;
        }
        let v = keys.entry(key.into_boxed_str()).or_default();
        if !v.contains(&(name, kind)) {
            v.push((name, kind));
        }
    };
    for (sid, (s, afnor)) in streets.iter().zip(afnor).enumerate() {
        let sid = u32::try_from(sid).unwrap_or(u32::MAX);
        let folded = FoldedName::new(&s.name);
        let key = folded.key();
        let name_id = match by_key.get(&key) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(names.len()).unwrap_or(u32::MAX);
                let tokens = folded.tokens.iter().map(|t| vocabulary.intern(t)).collect();
                names.push(Name {
                    tokens,
                    type_len: folded.type_len,
                    streets: Vec::new(),
                });
                by_key.insert(key.clone(), id);
                add_key(&mut keys, key, id, KeyKind::Full);
                if folded.type_len > 0 {
                    add_key(
                        &mut keys,
                        folded.key_without_type(),
                        id,
                        KeyKind::WithoutType,
                    );
                }
                if let Some(short) = folded.short_key() {
                    add_key(&mut keys, short, id, KeyKind::Short);
                }
                id
            }
        };
        names[name_id as usize].streets.push(sid);
        // "Cour de Rome 8ème": the arrondissement is not part of the name.
        if let Some(base) = without_arrondissement_suffix(&s.name) {
            add_key(
                &mut keys,
                FoldedName::new(base).key(),
                name_id,
                KeyKind::Part,
            );
        }
        if s.name.contains(" - ") {
            for part in s.name.split(" - ") {
                let part = FoldedName::new(part);
                add_key(&mut keys, part.key(), name_id, KeyKind::Part);
                if part.type_len > 0 {
                    add_key(
                        &mut keys,
                        part.key_without_type(),
                        name_id,
                        KeyKind::WithoutType,
                    );
                }
            }
        }
        if !afnor.is_empty() {
            let af = FoldedName::new(afnor);
            add_key(&mut keys, af.key(), name_id, KeyKind::Full);
            if af.type_len > 0 {
                add_key(
                    &mut keys,
                    af.key_without_type(),
                    name_id,
                    KeyKind::WithoutType,
                );
            }
        }
    }
    // Collective names: each stands for every street it names.
    for (alias, members) in COLLECTIVE_NAMES {
        let key = FoldedName::new(alias).key();
        for member in *members {
            if let Some(&id) = by_key.get(&FoldedName::new(member).key()) {
                add_key(&mut keys, key.clone(), id, KeyKind::Part);
            }
        }
    }
    // A full match beats a partial or type-less one for the same key.
    for v in keys.values_mut() {
        v.sort_by_key(|&(id, kind)| (kind, id));
    }
    for (id, n) in names.iter().enumerate() {
        let id = u32::try_from(id).unwrap_or(u32::MAX);
        for &t in &n.tokens {
            let p = &mut vocabulary.postings[t as usize];
            if p.last() != Some(&id) {
                p.push(id);
            }
        }
    }
    let n_names = names.len().max(1) as f64;
    vocabulary.idf = vocabulary
        .postings
        .iter()
        .map(|p| (n_names / p.len().max(1) as f64).ln().max(0.1))
        .collect();
    let mut deletions: HashMap<Box<str>, Vec<u32>> = HashMap::new();
    for (id, w) in vocabulary.words.iter().enumerate() {
        if w.chars().count() >= FUZZY_MIN_CHARS {
            for d in single_deletions(w) {
                deletions
                    .entry(d.into_boxed_str())
                    .or_default()
                    .push(u32::try_from(id).unwrap_or(u32::MAX));
            }
        }
    }
    vocabulary.deletions = deletions;
    let mut sorted: Vec<u32> = (0..vocabulary.words.len())
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    sorted.sort_by(|&a, &b| vocabulary.words[a as usize].cmp(&vocabulary.words[b as usize]));
    vocabulary.sorted = sorted;
    (names, keys, vocabulary)
}
