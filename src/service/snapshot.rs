//! The daily open-data snapshot: one directory per UTC day that an open-data
//! portal can harvest, with a DCAT-style manifest.
//!
//! ```text
//! <out>/2026-12-05/reports.csv.gz        every report, CSV, gzip
//! <out>/2026-12-05/reports.geojson.gz    every report, GeoJSON, gzip
//! <out>/2026-12-05/projects.csv          every project, CSV
//! <out>/2026-12-05/projects.geojson      every project, GeoJSON
//! <out>/2026-12-05/manifest.json         title, licences, per file: rows, bytes, sha256
//! <out>/latest.json                      the newest manifest, paths relative to <out>
//! ```
//!
//! Atomic: the day's files are written and fsynced in a hidden temporary
//! directory, which is then renamed to the day's name (replacing an earlier
//! snapshot of the same day); `latest.json` is written to a temporary file
//! and renamed. A reader never sees a half-written file set. Reports are
//! streamed through the same page-by-page export as the HTTP routes
//! (constant memory), compressed on a blocking thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{App, ProjectFormat, ReportExport, ReportFormat, ServiceError};
use crate::spatial::ProjectFilter;
use crate::store::ExportFilter;

/// The licence of every file: the reports continue the city's DansMaRue
/// data and the projects are the city's budget file (data/SOURCES.md), both
/// under the Open Database License.
const LICENCE: &str = "ODbL-1.0";
const LICENCE_URL: &str = "https://opendatacommons.org/licenses/odbl/1-0/";

/// The manifest of one snapshot (`manifest.json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Manifest {
    pub title: String,
    pub description: String,
    /// The day of the snapshot, `YYYY-MM-DD` (UTC).
    pub issued: String,
    /// When it was written (RFC 3339).
    pub generated_at: String,
    pub license: String,
    pub license_url: String,
    pub attribution: String,
    pub distributions: Vec<Distribution>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Distribution {
    /// The file name (in `latest.json`: its path relative to the output
    /// directory).
    pub name: String,
    pub title: String,
    /// The media type of the content.
    pub media_type: String,
    /// `application/gzip` for a compressed file.
    pub compress_format: Option<String>,
    pub license: String,
    /// Records (CSV lines after the header, GeoJSON features).
    pub rows: u64,
    /// Size of the file as written.
    pub bytes: u64,
    /// SHA-256 of the file as written, lower-case hex.
    pub sha256: String,
}

/// Writes today's snapshot (the day of `now`, UTC) under `out`; returns its
/// manifest and directory.
///
/// # Errors
/// [`ServiceError::Internal`] when a file cannot be written (nothing of the
/// day is replaced then), [`ServiceError::Store`] when the store cannot be
/// read.
pub async fn write_snapshot(
    app: &Arc<App>,
    out: &Path,
    now: OffsetDateTime,
) -> Result<(Manifest, PathBuf), ServiceError> {
    let day = day_of(now);
    let io =
        |what: &str, e: std::io::Error| ServiceError::Internal(format!("snapshot: {what}: {e}"));
    tokio::fs::create_dir_all(out)
        .await
        .map_err(|e| io("output directory", e))?;
    let tmp = out.join(format!(".{day}.tmp-{}", std::process::id()));
    let _ = tokio::fs::remove_dir_all(&tmp).await;
    tokio::fs::create_dir(&tmp)
        .await
        .map_err(|e| io("temporary directory", e))?;
    let written = write_files(app, &tmp).await;
    let distributions = match written {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(e);
        }
    };
    let manifest = Manifest {
        title: "civicmap: Paris street reports and participatory-budget projects".to_owned(),
        description: "Every street report (DansMaRue categories, open and closed, with its \
             state, supports and districts; never the reporter's contact) and every winning \
             participatory-budget project, as of the day issued."
            .to_owned(),
        issued: day.clone(),
        generated_at: now.format(&Rfc3339).unwrap_or_default(),
        license: LICENCE.to_owned(),
        license_url: LICENCE_URL.to_owned(),
        attribution: "Ville de Paris (DansMaRue, Budget participatif), civicmap".to_owned(),
        distributions,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ServiceError::Internal(format!("snapshot manifest: {e}")))?;
    write_synced(&tmp.join("manifest.json"), &json).map_err(|e| io("manifest", e))?;
    let dir = out.join(&day);
    // Replace an earlier snapshot of the same day: move it aside first (a
    // directory cannot be renamed over a non-empty one).
    let old = out.join(format!(".{day}.old-{}", std::process::id()));
    let had_old = tokio::fs::rename(&dir, &old).await.is_ok();
    tokio::fs::rename(&tmp, &dir)
        .await
        .map_err(|e| io("rename", e))?;
    if had_old {
        let _ = tokio::fs::remove_dir_all(&old).await;
    }
    let mut latest = manifest.clone();
    for d in &mut latest.distributions {
        d.name = format!("{day}/{}", d.name);
    }
    let json = serde_json::to_vec_pretty(&latest)
        .map_err(|e| ServiceError::Internal(format!("snapshot manifest: {e}")))?;
    let latest_tmp = out.join(format!(".latest.json.tmp-{}", std::process::id()));
    write_synced(&latest_tmp, &json).map_err(|e| io("latest.json", e))?;
    std::fs::rename(&latest_tmp, out.join("latest.json")).map_err(|e| io("latest.json", e))?;
    sync_dir(out).map_err(|e| io("output directory", e))?;
    Ok((manifest, dir))
}

/// Whether the snapshot of `now`'s day is already under `out`.
#[must_use]
pub fn has_snapshot(out: &Path, now: OffsetDateTime) -> bool {
    out.join(day_of(now)).join("manifest.json").is_file()
}

fn day_of(now: OffsetDateTime) -> String {
    let d = now.to_offset(time::UtcOffset::UTC).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn write_files(app: &Arc<App>, dir: &Path) -> Result<Vec<Distribution>, ServiceError> {
    let mut out = Vec::with_capacity(4);
    for (name, format, title) in [
        ("reports.csv.gz", ReportFormat::Csv, "Street reports (CSV)"),
        (
            "reports.geojson.gz",
            ReportFormat::GeoJson,
            "Street reports (GeoJSON)",
        ),
    ] {
        let (rows, bytes, sha256) = write_reports(app, &dir.join(name), format).await?;
        out.push(Distribution {
            name: name.to_owned(),
            title: title.to_owned(),
            media_type: media_type(name).to_owned(),
            compress_format: Some("application/gzip".to_owned()),
            license: LICENCE.to_owned(),
            rows,
            bytes,
            sha256,
        });
    }
    for (name, format, title) in [
        (
            "projects.csv",
            ProjectFormat::Csv,
            "Participatory-budget projects (CSV)",
        ),
        (
            "projects.geojson",
            ProjectFormat::GeoJson,
            "Participatory-budget projects (GeoJSON)",
        ),
    ] {
        let (body, rows) = app.export_projects(&ProjectFilter::default(), format);
        write_synced(&dir.join(name), &body)
            .map_err(|e| ServiceError::Internal(format!("snapshot: {name}: {e}")))?;
        out.push(Distribution {
            name: name.to_owned(),
            title: title.to_owned(),
            media_type: media_type(name).to_owned(),
            compress_format: None,
            license: LICENCE.to_owned(),
            rows,
            bytes: body.len() as u64,
            sha256: hex(&Sha256::digest(&body)),
        });
    }
    Ok(out)
}

fn media_type(name: &str) -> &'static str {
    if name.contains(".csv") {
        "text/csv"
    } else {
        "application/geo+json"
    }
}

/// Streams every report into a gzip file; returns rows, bytes and SHA-256
/// of the file.
async fn write_reports(
    app: &Arc<App>,
    path: &Path,
    format: ReportFormat,
) -> Result<(u64, u64, String), ServiceError> {
    let file = std::fs::File::create(path)
        .map_err(|e| ServiceError::Internal(format!("snapshot: {}: {e}", path.display())))?;
    // Two chunks in flight: the export formats the next page while the
    // blocking thread compresses this one.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, String)> {
        let hashing = Hashing {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::new(6));
        while let Some(chunk) = rx.blocking_recv() {
            gz.write_all(&chunk)?;
        }
        let mut hashing = gz.finish()?;
        hashing.inner.flush()?;
        hashing.inner.get_ref().sync_all()?;
        Ok((hashing.bytes, hex(&hashing.hasher.finalize())))
    });
    let mut export = ReportExport::new(Arc::clone(app), ExportFilter::default(), format);
    let mut failed = None;
    loop {
        match export.next_chunk().await {
            Ok(Some(chunk)) => {
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed: its error is below
                }
            }
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ServiceError::Internal(format!("snapshot writer: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("snapshot: {}: {e}", path.display())));
    if let Some(e) = failed {
        return Err(e);
    }
    let (bytes, sha256) = written?;
    Ok((export.rows(), bytes, sha256))
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Writes a snapshot now if today's is missing, then one each UTC day, for
/// as long as `app` lives (`civicmap serve --snapshot-dir`). Failures are
/// logged and retried at the next day.
pub fn spawn_daily(app: &Arc<App>, out: PathBuf) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            let now = OffsetDateTime::now_utc();
            if !has_snapshot(&out, now) {
                let Some(app) = weak.upgrade() else { return };
                match write_snapshot(&app, &out, now).await {
                    Ok((m, dir)) => tracing::info!(
                        dir = %dir.display(),
                        files = m.distributions.len(),
                        "open-data snapshot written"
                    ),
                    Err(e) => tracing::error!(error = %e, "open-data snapshot failed"),
                }
            }
            let now = OffsetDateTime::now_utc();
            let next_day = now.date().next_day().map(|d| d.midnight().assume_utc());
            let wait = next_day.map_or(3_600.0, |t| (t - now).as_seconds_f64().max(1.0));
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait + 1.0)).await;
            if weak.strong_count() == 0 {
                return;
            }
        }
    })
}
