//! Start-up and offline ingestion: opens the store, loads the reference data,
//! seeds a new store, rebuilds the in-memory index from the store, and starts
//! the group-commit writer whose hook keeps the index in step.
//!
//! Also the shared ingestion paths of `civicmap import` (DansMaRue CSV,
//! participatory-budget CSV, perimeter GeoJSON), which go through the same
//! validation and placement as the HTTP API.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use time::{Date, Month};

use crate::auth::PseudonymKey;
use crate::config::{Config, MAX_WRITE_BATCH};
use crate::districts::{DistrictRegistry, LayerSpec, ParisFiles};
use crate::geocode::Geocoder;
use crate::model::{
    CategoryId, Channel, Districts, Kind, Layer, LonLat, Project, Report, Status, Taxonomy,
};
use crate::reference::{self, DansMaRueRecord, RawProject, Rejected};
use crate::service::{
    App, Codec, FollowStart, Lifecycle, ServiceError, TileService, from_unix_ms, summary_of,
};
use crate::spatial::{self, ProjectIndex, ReportIndex, ReportIndexBuilder, ReportSummary};
use crate::store::{IndexRow, Inserted, LayerRow, ProjectRow, Store, Writer};
use crate::tiles::TileCache;

/// Meta key recording that the DansMaRue sample was loaded.
const SEEDED_KEY: &str = "seed.dansmarue";
/// Meta key recording that the reference budget projects were loaded.
const PROJECTS_KEY: &str = "reference.projects";
/// Rows per transaction when importing files.
const IMPORT_CHUNK: usize = 5_000;

/// Why the service could not start or an import could not run.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("districts: {0}")]
    Districts(#[from] crate::districts::DistrictError),
    /// A CSV file refused (each message names its file).
    #[error("{0}")]
    Reference(#[from] reference::ReferenceError),
    #[error("taxonomy: {0}")]
    Taxonomy(#[from] crate::model::TaxonomyError),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Invalid(String),
}

/// The immutable reference parts, loaded once.
pub struct Reference {
    pub taxonomy: Arc<Taxonomy>,
    pub districts: Arc<DistrictRegistry>,
    pub geocoder: Arc<Geocoder>,
}

/// The shipped Paris files, for the district registry.
#[must_use]
pub fn paris_files() -> ParisFiles<'static> {
    ParisFiles {
        arrondissements: reference::ARRONDISSEMENTS_GEOJSON,
        quartiers: reference::QUARTIERS_GEOJSON,
        conseils_quartier: reference::CONSEILS_GEOJSON,
        iris: reference::IRIS_GEOJSON,
        population: reference::POPULATION_CSV,
    }
}

/// Spec of a stored (CLI-imported) perimeter layer.
///
/// # Errors
/// [`BootError::Invalid`] on an unknown layer or a bad date.
pub fn layer_spec(row: &LayerRow) -> Result<LayerSpec, BootError> {
    let layer: Layer = row
        .layer
        .parse()
        .map_err(|e: crate::model::LayerError| BootError::Invalid(e.to_string()))?;
    let day = |s: &Option<String>| -> Result<Option<Date>, BootError> {
        s.as_deref()
            .map(|d| {
                reference::parse_day(d).ok_or_else(|| {
                    BootError::Invalid(format!("bad date {d:?} in layer {}", row.version))
                })
            })
            .transpose()
    };
    Ok(LayerSpec {
        layer,
        version: row.version.clone(),
        source: row.source.clone(),
        official: row.official,
        valid_from: day(&row.valid_from)?,
        valid_to: day(&row.valid_to)?,
        code_property: row.code_property.clone(),
        name_property: row.name_property.clone(),
    })
}

/// Loads the taxonomy, the district layers (shipped + imported ones stored in
/// `store`) and the geocoder.
///
/// # Errors
/// [`BootError`] if a reference file or a stored layer is unreadable.
pub async fn load_reference(
    store: &Store,
    working_class_threshold: f64,
) -> Result<Reference, BootError> {
    let geocoder = tokio::task::spawn_blocking(reference::geocoder);
    let taxonomy = Taxonomy::from_csv(reference::TAXONOMY_CSV)?;
    let layers = store.layers().await?;
    let districts = tokio::task::spawn_blocking(move || -> Result<DistrictRegistry, BootError> {
        let mut reg = DistrictRegistry::paris_defaults(&paris_files(), working_class_threshold)?;
        for row in &layers {
            reg.add_layer_geojson(&layer_spec(row)?, &row.geojson)?;
        }
        Ok(reg)
    })
    .await
    .map_err(|e| BootError::Invalid(format!("district loading panicked: {e}")))??;
    let geocoder = geocoder
        .await
        .map_err(|e| BootError::Invalid(format!("geocoder loading panicked: {e}")))??;
    Ok(Reference {
        taxonomy: Arc::new(taxonomy),
        districts: Arc::new(districts),
        geocoder: Arc::new(geocoder),
    })
}

/// Opens the data directory and builds a serving application: reference
/// data, first-start seeding, index rebuilt from the store, writer running.
///
/// # Errors
/// [`BootError`] if the store cannot be opened or a reference file is bad.
pub async fn open(config: Config) -> Result<App, BootError> {
    let t0 = Instant::now();
    let store = Store::open_url(config.database_url.as_deref(), &config.data_dir).await?;
    let reference = load_reference(&store, config.working_class_threshold).await?;
    tracing::info!(ms = t0.elapsed().as_millis(), "reference data loaded");
    if store.meta_get(PROJECTS_KEY).await?.is_none() {
        let (raw, rejected) = reference_projects()?;
        let summary = import_projects(&store, &reference, raw).await?;
        tracing::info!(
            projects = summary.imported,
            located = summary.located,
            rejected = rejected.len(),
            "participatory-budget projects loaded"
        );
        store.meta_set(PROJECTS_KEY, "paris-bp-2014-2024").await?;
    }
    if config.seed_reports && store.meta_get(SEEDED_KEY).await?.is_none() {
        let (records, _) = reference::parse_dansmarue(reference::DANSMARUE_SAMPLE_CSV)?;
        let s = import_dansmarue(&store, &reference, records, true, |_| {}).await?;
        tracing::info!(
            reports = s.imported,
            rejected = s.rejected.len(),
            "DansMaRue sample loaded as seed reports"
        );
        store
            .meta_set(SEEDED_KEY, "paris-dansmarue-2023-2024")
            .await?;
    }
    let pseudonyms = pseudonym_key(&store).await?;
    let named = store
        .set_missing_reporters(|contact| pseudonyms.pseudonym(contact))
        .await?;
    if named > 0 {
        tracing::info!(
            reports = named,
            "reporter pseudonyms given to reports of earlier versions"
        );
    }
    // LISTEN, then the seq, then the index: nothing committed in between
    // is missed (see `service::follower`).
    let follow = if config.follow_store {
        FollowStart::begin(&store).await?
    } else {
        None
    };
    let index = load_index(&store, &reference).await?;
    let projects = load_projects(&store, &reference).await?;
    tracing::info!(
        reports = index.len(),
        projects = projects.len(),
        ms = t0.elapsed().as_millis(),
        "index rebuilt"
    );
    let reports = Arc::new(RwLock::new(index));
    let hook_index = Arc::clone(&reports);
    let tile_cache = Arc::new(TileCache::new(config.tile_cache_bytes));
    let tile_settings = config.tiles;
    let hook_cache = Arc::clone(&tile_cache);
    let hook_ref = (
        Arc::clone(&reference.taxonomy),
        Arc::clone(&reference.districts),
    );
    let pump = Arc::new(tokio::sync::Notify::new());
    let hook_pump = Arc::clone(&pump);
    let writer = Writer::spawn_with_hook(
        store.clone(),
        MAX_WRITE_BATCH,
        move |batch: &[Inserted]| {
            let codec = Codec {
                taxonomy: &hook_ref.0,
                districts: &hook_ref.1,
            };
            // Decoded before the lock: only the index update holds it.
            let summaries: Vec<(ReportSummary, Option<&str>)> = batch
                .iter()
                .filter_map(|ins| match ins {
                    Inserted::New(row) => match codec.report_from_row(row) {
                        Ok(r) => Some((
                            ReportSummary {
                                reporter: row.reporter.map(|p| u64::from_ne_bytes(p.to_ne_bytes())),
                                ..summary_of(&r)
                            },
                            row.campaign.as_deref(),
                        )),
                        Err(e) => {
                            tracing::error!(error = %e, "committed report could not be indexed");
                            None
                        }
                    },
                    Inserted::Existing(_) => None,
                })
                .collect();
            let mut idx = hook_index
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (s, campaign) in &summaries {
                idx.upsert(s);
                if let Some(c) = campaign {
                    idx.set_campaign(s.id, c);
                }
                // Under the write lock: see `tiles::cache`.
                hook_cache.invalidate_report_at(&tile_settings, s.location);
            }
            drop(idx);
            if !summaries.is_empty() {
                // New reports wrote `created` events: wake the event pump.
                hook_pump.notify_one();
            }
        },
    );
    let tiles = TileService::new(config.tiles, tile_cache, &reference.districts);
    let app = App::from_parts(
        config,
        reference.taxonomy,
        reference.districts,
        reference.geocoder,
        reports,
        projects,
        store,
        writer,
        tiles,
        Lifecycle::new(pump),
        pseudonyms,
    );
    app.load_lifecycle().await?;
    if let Some(follow) = follow {
        app.follow_from(follow);
    }
    Ok(app)
}

/// Where the key of reporter pseudonyms is kept in the meta table.
const PSEUDONYM_KEY: &str = "reporter_pseudonym_key";

/// The store's key of reporter pseudonyms, made on first start.
async fn pseudonym_key(store: &Store) -> Result<PseudonymKey, BootError> {
    match store.meta_get(PSEUDONYM_KEY).await? {
        Some(hex) => PseudonymKey::from_hex(&hex).ok_or_else(|| {
            BootError::Invalid("the stored reporter pseudonym key is malformed".into())
        }),
        None => {
            let key = PseudonymKey::generate();
            store.meta_set(PSEUDONYM_KEY, &key.to_hex()).await?;
            Ok(key)
        }
    }
}

/// Rebuilds the report index from the store (the boot path: no attribution,
/// no geocoding, just the stored summaries).
///
/// # Errors
/// [`BootError::Store`] on a read failure or a corrupt row.
pub async fn load_index(store: &Store, reference: &Reference) -> Result<ReportIndex, BootError> {
    load_index_with(store, &reference.taxonomy, &reference.districts).await
}

/// [`load_index`] with the taxonomy and districts given one by one (what an
/// [`App`] holds: the follower's full reload).
///
/// # Errors
/// As [`load_index`].
pub async fn load_index_with(
    store: &Store,
    taxonomy: &Taxonomy,
    districts: &DistrictRegistry,
) -> Result<ReportIndex, BootError> {
    let mut categories: HashMap<String, CategoryId> = HashMap::new();
    let mut district_ids: HashMap<String, u32> = HashMap::new();
    // Sized once: a growing vector would peak at twice the final size.
    let expected = usize::try_from(store.count_reports().await?).unwrap_or(0);
    let mut builder = ReportIndexBuilder::with_capacity(expected);
    // When each closed report closed and when each answered report was
    // first answered (lifecycle state, a small table).
    let states: HashMap<i64, (Option<i64>, Option<i64>)> = store
        .report_states()
        .await?
        .into_iter()
        .filter(|s| s.closed_at_ms.is_some() || s.first_response_at_ms.is_some())
        .map(|s| (s.report_id, (s.closed_at_ms, s.first_response_at_ms)))
        .collect();
    let mut bad = 0_u64;
    store
        .load_index_rows(|row: IndexRow<'_>| {
            let category = match categories.get(row.category) {
                Some(c) => *c,
                None => match taxonomy.category_id(row.category) {
                    Ok(c) => {
                        categories.insert(row.category.to_owned(), c);
                        c
                    }
                    Err(_) => {
                        bad += 1;
                        return;
                    }
                },
            };
            let mut d = Districts::default();
            for (i, id) in row.districts.iter().enumerate() {
                if let Some(id) = id {
                    let dense = match district_ids.get(*id) {
                        Some(x) => Some(*x),
                        None => districts.by_public_id(id).inspect(|x| {
                            district_ids.insert((*id).to_owned(), *x);
                        }),
                    };
                    d.0[i] = dense;
                }
            }
            let (Ok(location), Ok(kind), Ok(status), Ok(channel)) = (
                LonLat::new(row.lon, row.lat),
                row.kind.parse::<Kind>(),
                row.status.parse::<Status>(),
                row.channel.parse::<Channel>(),
            ) else {
                bad += 1;
                return;
            };
            let state = if states.is_empty() {
                (None, None)
            } else {
                states.get(&row.id).copied().unwrap_or((None, None))
            };
            builder.push(&ReportSummary {
                id: row.id,
                location,
                kind,
                category,
                status,
                created_ms: row.created_at_ms,
                h3: u64::from_ne_bytes(row.h3.to_ne_bytes()),
                districts: d,
                closed_ms: state.0,
                channel,
                reporter: row.reporter.map(|r| u64::from_ne_bytes(r.to_ne_bytes())),
                first_response_ms: state.1,
            });
        })
        .await?;
    if bad > 0 {
        tracing::warn!(
            rows = bad,
            "stored reports with values this version does not know were left out of the index"
        );
    }
    Ok(builder.finish())
}

fn project_from_row(codec: &Codec<'_>, r: ProjectRow) -> Project {
    Project {
        id: r.id,
        title: r.title,
        edition: r.edition,
        theme: r.theme,
        lead_department: r.lead_department,
        budget_eur: r.budget_eur,
        scale: if r.scale == "city" {
            crate::model::ProjectScale::City
        } else {
            crate::model::ProjectScale::Arrondissement
        },
        address: r.address,
        arrondissement_code: r.arrondissement_code,
        working_class_flag: r.working_class_flag,
        progress: r.progress,
        studies_start: r.studies_start,
        procedures_start: r.procedures_start,
        works_start: r.works_start,
        delivery_planned: r.delivery_planned,
        opened: r.opened,
        url: r.url,
        location: r
            .lon
            .zip(r.lat)
            .and_then(|(lon, lat)| LonLat::new(lon, lat).ok()),
        geocode_quality: r.geocode_quality,
        h3: r.h3.map(|h| u64::from_ne_bytes(h.to_ne_bytes())),
        districts: codec.districts_from(&r.districts),
    }
}

fn project_to_row(codec: &Codec<'_>, p: &Project) -> ProjectRow {
    ProjectRow {
        id: p.id,
        title: p.title.clone(),
        edition: p.edition,
        theme: p.theme.clone(),
        lead_department: p.lead_department.clone(),
        budget_eur: p.budget_eur,
        scale: p.scale.as_str().to_owned(),
        address: p.address.clone(),
        arrondissement_code: p.arrondissement_code.clone(),
        working_class_flag: p.working_class_flag,
        progress: p.progress.clone(),
        studies_start: p.studies_start.clone(),
        procedures_start: p.procedures_start.clone(),
        works_start: p.works_start.clone(),
        delivery_planned: p.delivery_planned.clone(),
        opened: p.opened.clone(),
        url: p.url.clone(),
        lon: p.location.map(LonLat::lon),
        lat: p.location.map(LonLat::lat),
        geocode_quality: p.geocode_quality.clone(),
        h3: p.h3.map(|h| i64::from_ne_bytes(h.to_ne_bytes())),
        districts: codec.district_ids(&p.districts),
    }
}

async fn load_projects(store: &Store, reference: &Reference) -> Result<ProjectIndex, BootError> {
    let codec = Codec {
        taxonomy: &reference.taxonomy,
        districts: &reference.districts,
    };
    let rows = store.projects().await?;
    Ok(ProjectIndex::new(
        rows.into_iter()
            .map(|r| project_from_row(&codec, r))
            .collect(),
    ))
}

/// Both shipped budget files, parsed.
///
/// # Errors
/// [`BootError::Reference`] if a shipped file is unreadable.
pub fn reference_projects() -> Result<(Vec<RawProject>, Vec<Rejected>), BootError> {
    let (mut a, mut ra) = reference::parse_projects(reference::BUDGET_PROJECTS_CSV)?;
    let (b, rb) = reference::parse_projects(reference::BUDGET_PROJECTS_2024_CSV)?;
    a.extend(b);
    ra.extend(rb);
    Ok((a, ra))
}

/// The date at which a project is attributed to districts: the end of its
/// edition's year (votes close in the autumn).
fn project_date(edition: i32) -> Date {
    Date::from_calendar_date(edition, Month::December, 31).unwrap_or(Date::MIN)
}

/// Geocodes a project's address, restricted to its arrondissement(s).
#[must_use]
pub fn place_project(reference: &Reference, raw: RawProject) -> Project {
    let citycodes: Vec<&'static str> = raw
        .arrondissement
        .as_deref()
        .and_then(crate::districts::arrondissement_codes_for)
        .unwrap_or_default();
    let best = raw.address.as_deref().and_then(|a| {
        reference
            .geocoder
            .forward(a, &citycodes, 1)
            .into_iter()
            .next()
    });
    let location = best.as_ref().map(|m| m.location);
    let districts = location
        .map(|l| reference.districts.attribute(l, project_date(raw.edition)))
        .unwrap_or_default();
    Project {
        id: raw.id,
        title: raw.title,
        edition: raw.edition,
        theme: raw.theme,
        lead_department: raw.lead_department,
        budget_eur: raw.budget_eur,
        scale: raw.scale,
        address: raw.address,
        arrondissement_code: raw
            .arrondissement
            .map(|a| normalise_arrondissement_code(&a)),
        working_class_flag: raw.working_class_flag,
        progress: raw.progress,
        studies_start: raw.studies_start,
        procedures_start: raw.procedures_start,
        works_start: raw.works_start,
        delivery_planned: raw.delivery_planned,
        opened: raw.opened,
        url: raw.url,
        location,
        geocode_quality: best.map(|m| m.precision.as_str().to_owned()),
        h3: location.map(spatial::h3_cell),
        districts,
    }
}

/// `75001`…`75020` (postal) and `1`…`20` become INSEE `75101`…`75120`;
/// `75116` and `75123` (Paris Centre) are kept as they are.
#[must_use]
pub fn normalise_arrondissement_code(code: &str) -> String {
    let code = code.trim();
    match code.parse::<u32>() {
        Ok(n @ 1..=20) => format!("751{n:02}"),
        Ok(n @ 75_001..=75_020) => format!("751{:02}", n - 75_000),
        _ => code.to_owned(),
    }
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub imported: usize,
    pub located: usize,
    pub already_present: usize,
    pub rejected: Vec<Rejected>,
}

/// Geocodes, attributes and stores budget projects (upsert by id).
///
/// # Errors
/// [`BootError::Store`] if the write fails (nothing of that transaction kept).
pub async fn import_projects(
    store: &Store,
    reference: &Reference,
    raw: Vec<RawProject>,
) -> Result<ImportSummary, BootError> {
    let codec = Codec {
        taxonomy: &reference.taxonomy,
        districts: &reference.districts,
    };
    let projects: Vec<Project> = raw
        .into_iter()
        .map(|r| place_project(reference, r))
        .collect();
    let located = projects.iter().filter(|p| p.location.is_some()).count();
    let rows = projects.iter().map(|p| project_to_row(&codec, p)).collect();
    store.insert_projects(rows).await?;
    Ok(ImportSummary {
        imported: projects.len(),
        located,
        ..ImportSummary::default()
    })
}

/// Places and stores DansMaRue records as reports (client id `dmr:{id_dmr}`,
/// so importing the same file twice adds nothing). `progress` is called after
/// each committed chunk with the number of records handled so far.
///
/// A damaged file never gets here: [`reference::parse_dansmarue`] refuses it
/// whole before anything is placed or stored.
///
/// # Errors
/// [`BootError::Store`] if a write fails; chunks committed before stay (a
/// rerun completes the import: the client ids make it idempotent).
pub async fn import_dansmarue(
    store: &Store,
    reference: &Reference,
    records: Vec<DansMaRueRecord>,
    seed: bool,
    mut progress: impl FnMut(usize),
) -> Result<ImportSummary, BootError> {
    let codec = Codec {
        taxonomy: &reference.taxonomy,
        districts: &reference.districts,
    };
    let mut summary = ImportSummary::default();
    let mut done = 0;
    for chunk in records.chunks(IMPORT_CHUNK) {
        let mut rows = Vec::with_capacity(chunk.len());
        for rec in chunk {
            match place_dansmarue(reference, rec) {
                Ok(r) => rows.push(codec.report_to_row(&r, seed)),
                Err(reason) => summary.rejected.push(Rejected {
                    line: rec.line,
                    reason,
                }),
            }
        }
        for ins in store.insert_reports(rows).await? {
            match ins {
                Inserted::New(_) => summary.imported += 1,
                Inserted::Existing(_) => summary.already_present += 1,
            }
        }
        done += chunk.len();
        progress(done);
    }
    Ok(summary)
}

/// A DansMaRue record as a report (attributed at its own date).
///
/// # Errors
/// The reason, when its category or subcategory is not in the taxonomy.
pub fn place_dansmarue(reference: &Reference, rec: &DansMaRueRecord) -> Result<Report, String> {
    let category = reference
        .taxonomy
        .category_id(&rec.category_label)
        .map_err(|e| e.to_string())?;
    let subcategory = reference
        .taxonomy
        .subcategory_index(category, &rec.subcategory_label)
        .map_err(|e| e.to_string())?;
    Ok(Report {
        id: 0,
        client_id: Some(format!("dmr:{}", rec.id_dmr)),
        kind: Kind::Anomaly,
        category,
        subcategory: Some(subcategory),
        description: String::new(),
        location: rec.location,
        address: rec.address.clone(),
        channel: rec.channel,
        created_at: rec.created_at,
        status: Status::New,
        campaign: None,
        contact: None,
        h3: spatial::h3_cell(rec.location),
        districts: reference
            .districts
            .attribute(rec.location, rec.created_at.date()),
    })
}

/// Re-attributes every stored report and project for one layer (after a
/// perimeter import), at each record's own date.
///
/// # Errors
/// [`BootError::Store`] on a store failure.
pub async fn reattribute(
    store: &Store,
    reference: &Reference,
    layer: Layer,
) -> Result<(usize, usize), BootError> {
    let codec = Codec {
        taxonomy: &reference.taxonomy,
        districts: &reference.districts,
    };
    let mut updates = Vec::new();
    store
        .load_index_rows(|row: IndexRow<'_>| {
            let Ok(p) = LonLat::new(row.lon, row.lat) else {
                return;
            };
            let date = from_unix_ms(row.created_at_ms).map_or(Date::MIN, |t| t.date());
            let new = reference.districts.attribute(p, date).get(layer);
            let mut ids: [Option<String>; 5] = row.districts.map(|d| d.map(str::to_owned));
            let new_id = new.and_then(|i| reference.districts.get(i).map(|d| d.public_id.clone()));
            if ids[layer.index()] != new_id {
                ids[layer.index()] = new_id;
                updates.push((row.id, ids));
            }
        })
        .await?;
    let reports = updates.len();
    for chunk in updates.chunks(IMPORT_CHUNK) {
        store.update_report_districts(chunk.to_vec()).await?;
    }
    let mut project_updates = Vec::new();
    for row in store.projects().await? {
        let p = project_from_row(&codec, row);
        if let Some(l) = p.location {
            let d = reference.districts.attribute(l, project_date(p.edition));
            project_updates.push((p.id, codec.district_ids(&d)));
        }
    }
    let projects = project_updates.len();
    store.update_project_districts(project_updates).await?;
    Ok((reports, projects))
}
