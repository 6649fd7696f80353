//! The Paris reference data shipped in `data/` (embedded in the binary, so the
//! service runs from any directory), and parsers for the city's CSV formats
//! (DansMaRue reports, participatory-budget winners) used both at first start
//! and by `civicmap import`.
//!
//! Parsers return rows with the line number of each rejected record and why,
//! or refuse a damaged file whole (`ReferenceError::Damaged`, with its line);
//! they do not attribute districts or touch the store.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::model::{Channel, LonLat, ProjectScale};

pub const TAXONOMY_CSV: &str = include_str!("../data/dansmarue_taxonomy.csv");
pub const ARRONDISSEMENTS_GEOJSON: &str = include_str!("../data/paris_arrondissements.geojson");
pub const QUARTIERS_GEOJSON: &str = include_str!("../data/paris_quartiers_administratifs.geojson");
pub const CONSEILS_GEOJSON: &str = include_str!("../data/paris_conseils_de_quartier_2014.geojson");
pub const IRIS_GEOJSON: &str = include_str!("../data/paris_iris_2013_rp2011_cs8.geojson");
pub const POPULATION_CSV: &str = include_str!("../data/paris_population_arrondissements_insee.csv");
pub const BAN_ADDRESSES_CSV_GZ: &[u8] = include_bytes!("../data/paris_ban_adresses_75.csv.gz");
pub const BAN_STREETS_CSV: &[u8] =
    include_bytes!("../data/paris_ban_voies_points_representatifs.csv");
pub const DANSMARUE_SAMPLE_CSV: &[u8] =
    include_bytes!("../data/paris_dansmarue_echantillon_api_2023_2024.csv");
pub const BUDGET_PROJECTS_CSV: &[u8] =
    include_bytes!("../data/paris_budget_participatif_projets_gagnants.csv");
pub const BUDGET_PROJECTS_2024_CSV: &[u8] =
    include_bytes!("../data/paris_budget_participatif_projets_gagnants_2023_2024_complement.csv");

/// A record refused by a parser: its line in the file and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// Why a reference file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{file}: missing column {column:?}")]
    MissingColumn {
        file: &'static str,
        column: &'static str,
    },
    /// The file is damaged: bytes that are not UTF-8, a record with the wrong
    /// number of fields, a last line cut short. The whole file is refused, so
    /// an import stores nothing of it.
    #[error("{file}: line {line}: {reason}; the file is refused and nothing of it is imported")]
    Damaged {
        file: &'static str,
        line: u64,
        reason: String,
    },
    #[error("geocoder: {0}")]
    Geocoder(#[from] crate::geocode::GeocodeError),
}

/// The 1-based line holding the byte at `offset`.
fn line_at(bytes: &[u8], offset: usize) -> u64 {
    let before = bytes.get(..offset).unwrap_or(bytes);
    1 + before.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The text of an imported file, refused as [`ReferenceError::Damaged`]
/// (naming the line) when it is not UTF-8.
///
/// # Errors
/// [`ReferenceError::Damaged`] at the line of the first byte that is not UTF-8.
pub fn utf8_text<'a>(file: &'static str, bytes: &'a [u8]) -> Result<&'a str, ReferenceError> {
    std::str::from_utf8(bytes).map_err(|e| ReferenceError::Damaged {
        file,
        line: line_at(bytes, e.valid_up_to()),
        reason: format!(
            "byte {:#04x} is not UTF-8 (is the file in another encoding?)",
            bytes.get(e.valid_up_to()).copied().unwrap_or(0)
        ),
    })
}

/// Checks that a CSV file is whole before any of it is read: UTF-8 text
/// whose last line ends with a line end (a file cut short in transfer
/// usually ends mid-line).
fn check_intact(file: &'static str, bytes: &[u8]) -> Result<(), ReferenceError> {
    utf8_text(file, bytes)?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        return Err(ReferenceError::Damaged {
            file,
            line: line_at(bytes, bytes.len()),
            reason: "the last line has no line end: the file looks truncated".into(),
        });
    }
    Ok(())
}

/// A record the CSV reader could not read: the whole file is damaged.
fn damaged(file: &'static str, e: &csv::Error) -> ReferenceError {
    let line = e.position().map_or(0, csv::Position::line);
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("a record of {len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8", err.field() + 1),
        _ => e.to_string(),
    };
    ReferenceError::Damaged { file, line, reason }
}

/// The embedded Paris address base as a geocoder.
///
/// # Errors
/// [`ReferenceError::Geocoder`] if the embedded files are corrupt.
pub fn geocoder() -> Result<crate::geocode::Geocoder, ReferenceError> {
    let addresses = flate2::read::GzDecoder::new(BAN_ADDRESSES_CSV_GZ);
    Ok(crate::geocode::Geocoder::from_readers(
        addresses,
        BAN_STREETS_CSV,
    )?)
}

/// One DansMaRue record as published (`dans-ma-rue` dataset columns).
#[derive(Debug, Clone, PartialEq)]
pub struct DansMaRueRecord {
    pub line: u64,
    pub id_dmr: String,
    pub category_label: String,
    pub subcategory_label: String,
    pub address: Option<String>,
    pub created_at: OffsetDateTime,
    pub channel: Channel,
    pub location: LonLat,
}

/// Maps DansMaRue's `prefixe` (the channel the report came through).
#[must_use]
pub fn dansmarue_channel(prefixe: &str) -> Option<Channel> {
    match prefixe.trim() {
        "Android" => Some(Channel::Android),
        // The source's spelling of the iOS application channel.
        "IOPage DMR Paris.fr application" | "iOS" => Some(Channel::Ios),
        "Page DMR Paris.fr" => Some(Channel::Web),
        "Back Office" => Some(Channel::BackOffice),
        _ => None,
    }
}

struct Columns<'a> {
    file: &'static str,
    headers: &'a csv::StringRecord,
}

impl Columns<'_> {
    fn find(&self, column: &'static str) -> Result<usize, ReferenceError> {
        self.headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == column)
            .ok_or(ReferenceError::MissingColumn {
                file: self.file,
                column,
            })
    }
}

fn field(rec: &csv::StringRecord, i: usize) -> Option<&str> {
    rec.get(i).map(str::trim).filter(|s| !s.is_empty())
}

/// The DansMaRue columns [`parse_dansmarue`] reads (a published export has
/// more, in another order), in the order `civicmap generate` writes them.
pub const DANSMARUE_COLUMNS: [&str; 8] = [
    "id_dmr",
    "type",
    "soustype",
    "adresse",
    "datedecl",
    "prefixe",
    "latitude",
    "longitude",
];

/// Parses a DansMaRue CSV (`id_dmr,…,type,soustype,adresse,…,datedecl,…,prefixe,…,latitude,longitude`).
/// Dates are days (the public export has no time): a report is placed at noon,
/// Paris time being UTC+1/+2, so its calendar date is the same in both.
///
/// The whole file is read before anything is returned: a damaged file
/// (not UTF-8, a record with the wrong number of fields, a last line without
/// its line end) is refused as a whole, naming the line. Records that are
/// well-formed but unusable (bad date, unknown channel, coordinate out of
/// range) are returned as [`Rejected`] with their line numbers.
///
/// # Errors
/// [`ReferenceError::Damaged`] for a damaged file;
/// [`ReferenceError::MissingColumn`] when the header lacks a column.
pub fn parse_dansmarue(
    bytes: &[u8],
) -> Result<(Vec<DansMaRueRecord>, Vec<Rejected>), ReferenceError> {
    const FILE: &str = "DansMaRue CSV";
    check_intact(FILE, bytes)?;
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = rdr.headers().map_err(|e| damaged(FILE, &e))?.clone();
    let cols = Columns {
        file: FILE,
        headers: &headers,
    };
    let (c_id, c_type, c_sub, c_addr, c_date, c_prefix, c_lat, c_lon) = (
        cols.find("id_dmr")?,
        cols.find("type")?,
        cols.find("soustype")?,
        cols.find("adresse")?,
        cols.find("datedecl")?,
        cols.find("prefixe")?,
        cols.find("latitude")?,
        cols.find("longitude")?,
    );
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| damaged(FILE, &e))?;
        let line = rec.position().map_or(0, csv::Position::line);
        let row = (|| -> Result<DansMaRueRecord, String> {
            let id_dmr = field(&rec, c_id).ok_or("empty id_dmr")?.to_owned();
            let category_label = field(&rec, c_type).ok_or("empty type")?.to_owned();
            let subcategory_label = field(&rec, c_sub).ok_or("empty soustype")?.to_owned();
            let date = field(&rec, c_date).ok_or("empty datedecl")?;
            let date =
                parse_day(date).ok_or_else(|| format!("datedecl {date:?} is not YYYY-MM-DD"))?;
            let created_at =
                PrimitiveDateTime::new(date, Time::from_hms(11, 0, 0).unwrap_or(Time::MIDNIGHT))
                    .assume_utc();
            let prefixe = field(&rec, c_prefix).unwrap_or("");
            let channel =
                dansmarue_channel(prefixe).ok_or_else(|| format!("unknown prefixe {prefixe:?}"))?;
            let num = |i: usize, name: &str| -> Result<f64, String> {
                field(&rec, i)
                    .ok_or_else(|| format!("empty {name}"))?
                    .parse::<f64>()
                    .map_err(|_| format!("{name} is not a number"))
            };
            let location = LonLat::new(num(c_lon, "longitude")?, num(c_lat, "latitude")?)
                .map_err(|e| e.to_string())?;
            Ok(DansMaRueRecord {
                line,
                id_dmr,
                category_label,
                subcategory_label,
                address: field(&rec, c_addr).map(str::to_owned),
                created_at,
                channel,
                location,
            })
        })();
        match row {
            Ok(r) => ok.push(r),
            Err(reason) => rejected.push(Rejected { line, reason }),
        }
    }
    Ok((ok, rejected))
}

/// Parses `YYYY-MM-DD`.
#[must_use]
pub fn parse_day(s: &str) -> Option<Date> {
    let mut it = s.splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.get(..2)?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// A participatory-budget project as published, before geocoding.
#[derive(Debug, Clone, PartialEq)]
pub struct RawProject {
    pub line: u64,
    pub id: i64,
    pub title: Option<String>,
    pub edition: i32,
    pub theme: Option<String>,
    pub lead_department: Option<String>,
    pub budget_eur: i64,
    pub scale: ProjectScale,
    pub address: Option<String>,
    /// As published: `75001`…`75020` postal-style, `75116`, `75123` (Paris Centre), or `1`…`20`.
    pub arrondissement: Option<String>,
    pub working_class_flag: bool,
    pub progress: Option<String>,
    pub studies_start: Option<String>,
    pub procedures_start: Option<String>,
    pub works_start: Option<String>,
    pub delivery_planned: Option<String>,
    pub opened: Option<String>,
    pub url: Option<String>,
}

/// Column names of the two published layouts of the winners file.
struct ProjectColumns {
    id: &'static str,
    url: Option<&'static str>,
    edition: &'static str,
    title: &'static str,
    theme: &'static str,
    lead: &'static str,
    budget: &'static str,
    scale: &'static str,
    address: &'static str,
    arrondissement: &'static str,
    flag: &'static str,
    progress: &'static str,
    dates: [&'static str; 5],
}

const OPENDATA_LABELS: ProjectColumns = ProjectColumns {
    id: "Identifiant du projet lauréat",
    url: Some("Lien URL vers le projet lauréat"),
    edition: "Edition",
    title: "Titre du projet lauréat",
    theme: "Thématique",
    lead: "Direction pilote du projet lauréat",
    budget: "Budget global du projet lauréat",
    scale: "Echelle du Budget participatif",
    address: "Adresse du projet lauréat",
    arrondissement: "Arrondissement du projet lauréat",
    flag: "Projet en Quartier populaire",
    progress: "Avancement du projet",
    dates: [
        "Date de début des études du projet",
        "Date de lancement des procédures du projet",
        "Date de lancement des travaux du projet",
        "Date prévisonnelle de livraison du projet",
        "Date d'ouverture du projet au public",
    ],
};

const OPENDATA_FIELDS: ProjectColumns = ProjectColumns {
    id: "identifiant_projet_gagnant",
    url: None,
    edition: "edition",
    title: "titre_projet_gagnant",
    theme: "thematique",
    lead: "direction_pilote_projet",
    budget: "budget_global_projet_gagnant",
    scale: "echelle_bp",
    address: "adresse_projet_gagnant",
    arrondissement: "arrondissement_projet_gagnant",
    flag: "projet_q_pop",
    progress: "avancement_projet",
    dates: [
        "debut_etudes_projet",
        "lancement_procedure_projet",
        "lancement_travaux_projet",
        "livraison_prev_projet",
        "ouverture_projet",
    ],
};

/// Parses a participatory-budget winners CSV in either published layout: the
/// opendata export with French labels (`;`-separated) or with field names
/// (`,`-separated). The layout is recognised from the header.
///
/// A damaged file is refused as a whole, as by [`parse_dansmarue`]; every
/// record has the header's number of fields.
///
/// # Errors
/// [`ReferenceError::Damaged`] for a damaged file,
/// [`ReferenceError::MissingColumn`] when the header lacks a column; bad rows
/// are returned as [`Rejected`].
pub fn parse_projects(bytes: &[u8]) -> Result<(Vec<RawProject>, Vec<Rejected>), ReferenceError> {
    const FILE: &str = "participatory-budget CSV";
    check_intact(FILE, bytes)?;
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = if first_line.contains(&b';') {
        b';'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(bytes);
    let headers = rdr.headers().map_err(|e| damaged(FILE, &e))?.clone();
    let cols = Columns {
        file: FILE,
        headers: &headers,
    };
    let layout = if cols.find(OPENDATA_LABELS.id).is_ok() {
        &OPENDATA_LABELS
    } else {
        &OPENDATA_FIELDS
    };
    let id = cols.find(layout.id)?;
    let url = layout.url.map(|c| cols.find(c)).transpose()?;
    let (edition, title, theme, lead, budget, scale, address, arr, flag, progress) = (
        cols.find(layout.edition)?,
        cols.find(layout.title)?,
        cols.find(layout.theme)?,
        cols.find(layout.lead)?,
        cols.find(layout.budget)?,
        cols.find(layout.scale)?,
        cols.find(layout.address)?,
        cols.find(layout.arrondissement)?,
        cols.find(layout.flag)?,
        cols.find(layout.progress)?,
    );
    let mut dates = [0; 5];
    for (slot, name) in dates.iter_mut().zip(layout.dates) {
        *slot = cols.find(name)?;
    }
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| damaged(FILE, &e))?;
        let line = rec.position().map_or(0, csv::Position::line);
        let text = |i: usize| field(&rec, i).map(str::to_owned);
        let row = (|| -> Result<RawProject, String> {
            let id = field(&rec, id).ok_or("empty project id")?;
            let id: i64 = id
                .parse()
                .map_err(|_| format!("project id {id:?} is not a number"))?;
            let ed = field(&rec, edition).ok_or("empty edition")?;
            let edition: i32 = ed
                .parse()
                .map_err(|_| format!("edition {ed:?} is not a year"))?;
            let b = field(&rec, budget).ok_or("empty budget")?;
            let budget_eur: i64 = b
                .replace([' ', '\u{a0}'], "")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v.round() as i64)
                .ok_or_else(|| format!("budget {b:?} is not an amount in euros"))?;
            let scale_text = field(&rec, scale).unwrap_or("");
            let scale = if scale_text.to_lowercase().contains("arrondissement") {
                ProjectScale::Arrondissement
            } else {
                ProjectScale::City
            };
            let flag = match field(&rec, flag).map(str::to_lowercase).as_deref() {
                Some("oui") => true,
                Some("non") | None => false,
                Some(other) => {
                    return Err(format!(
                        "working-class flag {other:?} is neither Oui nor Non"
                    ));
                }
            };
            let progress = text(progress).map(|p| match p.as_str() {
                "NON DEMARRE" => "(non démarré)".to_owned(),
                _ => p,
            });
            Ok(RawProject {
                line,
                id,
                title: text(title),
                edition,
                theme: text(theme),
                lead_department: text(lead),
                budget_eur,
                scale,
                address: text(address),
                arrondissement: text(arr),
                working_class_flag: flag,
                progress,
                studies_start: text(dates[0]),
                procedures_start: text(dates[1]),
                works_start: text(dates[2]),
                delivery_planned: text(dates[3]),
                opened: text(dates[4]),
                url: url.and_then(text),
            })
        })();
        match row {
            Ok(r) => ok.push(r),
            Err(reason) => rejected.push(Rejected { line, reason }),
        }
    }
    Ok((ok, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_dansmarue_sample_parses_without_rejections() {
        let (rows, rejected) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
        assert_eq!(rows.len(), 39_515);
        assert!(
            rejected.is_empty(),
            "{:?}",
            &rejected[..rejected.len().min(3)]
        );
        assert_eq!(rows[0].id_dmr, "A2023G041622");
        assert_eq!(rows[0].channel, Channel::Ios);
    }

    #[test]
    fn both_budget_files_parse_and_keep_the_paris_centre_code() {
        let (main, rej) = parse_projects(BUDGET_PROJECTS_CSV).unwrap();
        assert_eq!(main.len(), 1_214, "{rej:?}");
        assert_eq!(main.iter().filter(|p| p.working_class_flag).count(), 326);
        assert!(
            main.iter()
                .any(|p| p.arrondissement.as_deref() == Some("75123"))
        );
        let (extra, rej) = parse_projects(BUDGET_PROJECTS_2024_CSV).unwrap();
        assert_eq!(extra.len(), 130, "{rej:?}");
        assert_eq!(extra.iter().filter(|p| p.edition == 2024).count(), 121);
    }

    #[test]
    fn a_dansmarue_row_with_a_bad_coordinate_is_rejected_with_its_line() {
        let csv = "id_dmr,type,soustype,adresse,datedecl,prefixe,latitude,longitude\n\
                   A1,Propreté,Déchets,\"1 Rue X\",2024-01-02,Android,48.85,2.35\n\
                   A2,Propreté,Déchets,\"1 Rue X\",2024-01-02,Android,NaN,2.35\n\
                   A3,Propreté,Déchets,\"1 Rue X\",2024-13-02,Android,48.85,2.35\n";
        let (ok, rejected) = parse_dansmarue(csv.as_bytes()).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(
            rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    // ------------------------------------------------------ properties

    use proptest::prelude::*;

    const HEADER: [&str; 8] = DANSMARUE_COLUMNS;

    /// A DansMaRue record as a test writes it: fields as text, and what the
    /// parser must read from them.
    #[derive(Debug, Clone)]
    struct Written {
        id: String,
        category: String,
        subcategory: String,
        address: Option<String>,
        day: (i32, u8, u8),
        prefixe: &'static str,
        lat: f64,
        lon: f64,
    }

    impl Written {
        fn fields(&self) -> Vec<String> {
            let (y, m, d) = self.day;
            vec![
                self.id.clone(),
                self.category.clone(),
                self.subcategory.clone(),
                self.address.clone().unwrap_or_default(),
                format!("{y:04}-{m:02}-{d:02}"),
                self.prefixe.to_owned(),
                self.lat.to_string(),
                self.lon.to_string(),
            ]
        }
    }

    /// Text a field may hold: anything printable, commas, quotes and line
    /// breaks included (the writer quotes them), with something left after
    /// trimming.
    fn text() -> impl Strategy<Value = String> {
        "[^\\s\\p{C}][\\PC\n\",]{0,30}[^\\s\\p{C}]|[^\\s\\p{C}]"
    }

    fn written() -> impl Strategy<Value = Written> {
        (
            "[A-Z0-9]{1,12}",
            text(),
            text(),
            proptest::option::of(text()),
            (1900_i32..2100, 1_u8..=12, 1_u8..=28),
            proptest::sample::select(
                &[
                    "Android",
                    "iOS",
                    "IOPage DMR Paris.fr application",
                    "Page DMR Paris.fr",
                    "Back Office",
                ][..],
            ),
            -90.0_f64..=90.0,
            -180.0_f64..=180.0,
        )
            .prop_map(
                |(id, category, subcategory, address, day, prefixe, lat, lon)| Written {
                    id,
                    category,
                    subcategory,
                    address,
                    day,
                    prefixe,
                    lat,
                    lon,
                },
            )
    }

    /// Writes a file with the header and `records`, one of them changed to
    /// `fields` when given; returns it with the byte offset of each record.
    fn file(records: &[Written], odd: Option<(usize, Vec<String>)>) -> (Vec<u8>, Vec<usize>) {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        w.write_record(HEADER).unwrap();
        let mut starts = Vec::new();
        for (i, r) in records.iter().enumerate() {
            w.flush().unwrap();
            starts.push(w.get_ref().len());
            match &odd {
                Some((k, fields)) if *k == i => w.write_record(fields).unwrap(),
                _ => w.write_record(r.fields()).unwrap(),
            }
        }
        (w.into_inner().unwrap(), starts)
    }

    fn damaged_line<T: std::fmt::Debug>(r: Result<(Vec<T>, Vec<Rejected>), ReferenceError>) -> u64 {
        match r {
            Err(ReferenceError::Damaged { line, .. }) => line,
            Err(other) => panic!("refused, but not as damaged: {other}"),
            Ok((ok, rejected)) => panic!("read: {} records, {rejected:?}", ok.len()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn generated_dansmarue_files_read_back_record_for_record(
            records in proptest::collection::vec(written(), 0..12)
        ) {
            let (bytes, starts) = file(&records, None);
            let (read, rejected) = parse_dansmarue(&bytes).unwrap();
            prop_assert!(rejected.is_empty(), "{:?}", rejected);
            prop_assert_eq!(read.len(), records.len());
            for ((w, r), start) in records.iter().zip(&read).zip(&starts) {
                prop_assert_eq!(r.line, line_at(&bytes, *start));
                prop_assert_eq!(&r.id_dmr, &w.id);
                prop_assert_eq!(&r.category_label, w.category.trim());
                prop_assert_eq!(&r.subcategory_label, w.subcategory.trim());
                prop_assert_eq!(r.address.as_deref(), w.address.as_deref().map(str::trim));
                prop_assert_eq!(
                    (r.created_at.year(), u8::from(r.created_at.month()), r.created_at.day()),
                    w.day
                );
                prop_assert_eq!(Some(r.channel), dansmarue_channel(w.prefixe));
                prop_assert_eq!((r.location.lat(), r.location.lon()), (w.lat, w.lon));
            }
        }

        #[test]
        fn a_csv_file_cut_anywhere_but_at_a_line_end_is_refused_naming_the_line_of_the_cut(
            records in proptest::collection::vec(written(), 1..8),
            at in any::<proptest::sample::Index>(),
        ) {
            let (bytes, _) = file(&records, None);
            let cut = &bytes[..at.index(bytes.len())];
            // A cut at a line end leaves a shorter file that is whole.
            prop_assume!(!cut.is_empty() && !cut.ends_with(b"\n"));
            let line = line_at(cut, cut.len());
            prop_assert_eq!(damaged_line(parse_dansmarue(cut)), line);
            prop_assert_eq!(damaged_line(parse_projects(cut)), line);
        }

        #[test]
        fn a_dansmarue_record_with_a_field_more_or_less_is_refused_with_its_line(
            records in proptest::collection::vec(written(), 1..8),
            which in any::<proptest::sample::Index>(),
            more in any::<bool>(),
        ) {
            let k = which.index(records.len());
            let mut fields = records[k].fields();
            if more {
                fields.push("surplus".into());
            } else {
                fields.pop();
            }
            let (bytes, starts) = file(&records, Some((k, fields)));
            prop_assert_eq!(damaged_line(parse_dansmarue(&bytes)), line_at(&bytes, starts[k]));
        }

        #[test]
        fn a_byte_that_is_not_utf8_anywhere_in_a_csv_file_is_refused_with_its_line(
            records in proptest::collection::vec(written(), 1..8),
            at in any::<proptest::sample::Index>(),
            bad in prop_oneof![Just(0xff_u8), Just(0xc3), Just(0x80), Just(0xe9)],
        ) {
            let (mut bytes, _) = file(&records, None);
            let at = at.index(bytes.len());
            bytes.insert(at, bad);
            let line = line_at(&bytes, at);
            // 0xc3 before a continuation byte is UTF-8: nothing to refuse.
            if let Err(e) = std::str::from_utf8(&bytes) {
                prop_assert_eq!(line_at(&bytes, e.valid_up_to()), line);
                prop_assert_eq!(damaged_line(parse_dansmarue(&bytes)), line);
                prop_assert_eq!(damaged_line(parse_projects(&bytes)), line);
            }
        }

        #[test]
        fn arbitrary_bytes_never_make_a_csv_parser_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            text in "[\\PC\n\r\",;]{0,400}",
        ) {
            for input in [bytes.as_slice(), text.as_bytes()] {
                let lines = line_at(input, input.len());
                if let Ok((ok, rejected)) = parse_dansmarue(input) {
                    prop_assert!(ok.iter().map(|r| r.line).chain(rejected.iter().map(|r| r.line)).all(|l| (2..=lines).contains(&l)));
                }
                let _ = parse_projects(input);
                let _ = crate::model::Taxonomy::from_csv(&String::from_utf8_lossy(input));
            }
            let with_header = format!("{}\n{text}\n", HEADER.join(","));
            let _ = parse_dansmarue(with_header.as_bytes());
        }

        #[test]
        fn mutated_shipped_csv_files_never_make_a_parser_panic(
            file in 0_usize..4,
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<proptest::sample::Index>(),
        ) {
            // The first 60 lines of each shipped CSV.
            let shipped: [&[u8]; 4] = [
                DANSMARUE_SAMPLE_CSV,
                BUDGET_PROJECTS_CSV,
                BUDGET_PROJECTS_2024_CSV,
                TAXONOMY_CSV.as_bytes(),
            ];
            let whole = shipped[file];
            let end = whole
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(59)
                .map_or(whole.len(), |(i, _)| i + 1);
            let mut bytes = whole[..end].to_vec();
            for (at, v) in flips {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
            let _ = parse_dansmarue(&bytes);
            let _ = parse_projects(&bytes);
            let _ = crate::model::Taxonomy::from_csv(&String::from_utf8_lossy(&bytes));
        }
    }
}
