//! Report photos in the service: the upload and the public list.
//!
//! An upload is checked in order of cost: the key's role, the report and
//! its status; then each photo is sanitised ([`crate::photos::sanitise`]:
//! decoded and re-encoded from pixels, so no metadata survives) on the
//! blocking pool, at most [`SANITISE_PERMITS`] at once in the whole
//! process; then the room left is checked against the photos the report
//! holds (at most [`MAX_PHOTOS_PER_REPORT`] reporter photos and
//! [`MAX_AFTER_PHOTOS`] after-treatment photo), so that a refused upload
//! writes nothing; then the renditions are written to `<data dir>/photos/`
//! atomically (temporary file, fsync, rename, fsync of the directory); then
//! ONE store transaction checks the report, its status and the count again
//! and inserts the rows; then each new photo gets a `photo` event on the
//! report's public timeline.
//!
//! So a committed row always has its files. The other way round is not
//! guaranteed: a crash, or an upload refused by the transaction (a
//! concurrent upload took the room after the check), leaves files without
//! a row. They are harmless: files are served only when a row holds their
//! hash, and they can be swept by comparing the directory with the `photos`
//! table. A crash during a write also leaves its temporary file (never a
//! servable name): [`sweep_partial_uploads`] removes them at start-up. Files are never deleted by the service: two reports holding the
//! same photo share its files.
//!
//! A photo the report already holds (same bytes after sanitising, same
//! role) is not stored twice and does not count again: a retried upload
//! gets the stored photos back (`new: false`) and no second event, even on
//! a report that is now full. (That is why the room is checked after
//! sanitising, when the photos' hashes are known.)

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::{App, Caller, ServiceError, from_unix_ms, unix_ms};
use crate::model::{Action, ReportId, Role, Status};
use crate::photos::{
    ContentHash, Limits, MAX_PHOTOS_PER_REPORT, PhotoError, Sanitised, Variant, file_name,
    parse_file_name, sanitise,
};
use crate::store::photos::{PhotoBatch, PhotoRow, PhotosAdded};

/// The directory of photo files, inside the data directory.
pub const PHOTOS_DIR: &str = "photos";

/// After-treatment photos a report may hold (added by an agent once the
/// report is done).
pub const MAX_AFTER_PHOTOS: usize = 1;

/// Photos sanitised at once in the whole process: each takes a core for
/// about half a second and up to a few hundred MiB (see `crate::photos`).
pub const SANITISE_PERMITS: usize = 2;

static SANITISING: Semaphore = Semaphore::const_new(SANITISE_PERMITS);

/// A photo of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoInfo {
    pub id: i64,
    pub report_id: ReportId,
    /// Names the files: see [`PhotoInfo::file_name`].
    pub hash: ContentHash,
    /// The after-treatment photo an agent added once the report was done.
    pub after_treatment: bool,
    /// Of the full-size rendition.
    pub width: u32,
    pub height: u32,
    pub created_at: OffsetDateTime,
    /// False when the report already held this photo (a retried upload):
    /// nothing was stored.
    pub new: bool,
}

impl PhotoInfo {
    /// The file name of a rendition, as served under `/photos/`.
    #[must_use]
    pub fn file_name(&self, variant: Variant) -> String {
        file_name(&self.hash, variant)
    }

    fn from_row(row: &PhotoRow, new: bool) -> Result<Self, ServiceError> {
        let bad = |what: &str| {
            ServiceError::Internal(format!("photo {}: stored {what} is invalid", row.id))
        };
        Ok(Self {
            id: row.id,
            report_id: row.report_id,
            hash: row.hash.parse().map_err(|_| bad("hash"))?,
            after_treatment: match row.role.as_str() {
                "report" => false,
                "after" => true,
                _ => return Err(bad("role")),
            },
            width: u32::try_from(row.width).map_err(|_| bad("width"))?,
            height: u32::try_from(row.height).map_err(|_| bad("height"))?,
            created_at: from_unix_ms(row.created_at_ms).ok_or_else(|| bad("created_at"))?,
            new,
        })
    }
}

/// The service's refusal for a photo the core refused: 413, 415 or 422 at
/// the HTTP edge, as [`PhotoError::http_status`] says.
fn photo_error(e: &PhotoError, which: Option<(usize, usize)>) -> ServiceError {
    let message = match which {
        Some((n, of)) => format!("photo {n} of {of}: {e}"),
        None => e.to_string(),
    };
    match e {
        PhotoError::TooLarge { .. } => ServiceError::PayloadTooLarge(message),
        PhotoError::NotAnImage | PhotoError::Unsupported(_) => {
            ServiceError::UnsupportedMedia(message)
        }
        PhotoError::TooManyPixels { .. }
        | PhotoError::Corrupt { .. }
        | PhotoError::CannotSanitise { .. } => ServiceError::Invalid {
            field: "photo",
            reason: message,
        },
    }
}

impl App {
    /// The directory of photo files.
    #[must_use]
    pub fn photos_dir(&self) -> PathBuf {
        self.config.data_dir.join(PHOTOS_DIR)
    }

    /// Adds one photo to a report; see [`App::add_photos`].
    ///
    /// # Errors
    /// As [`App::add_photos`].
    pub async fn add_photo(
        &self,
        caller: &Caller,
        report_id: ReportId,
        bytes: Vec<u8>,
        after_treatment: bool,
    ) -> Result<PhotoInfo, ServiceError> {
        let mut added = self
            .add_photos(caller, report_id, vec![bytes], after_treatment)
            .await?;
        added
            .pop()
            .ok_or_else(|| ServiceError::Internal("one photo in, none out".into()))
    }

    /// Adds photos to a report, all or none: a reporter's photos (app or
    /// agent key), or the after-treatment photo (agent key, report done).
    /// Returns one [`PhotoInfo`] per upload, in order, once the rows are
    /// committed.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] for a role that may not;
    /// [`ServiceError::NotFound`] for an unknown report;
    /// [`ServiceError::Conflict`] when the report has no room left for them,
    /// already holds one of them as another role, or (after-treatment) is
    /// not done; [`ServiceError::PayloadTooLarge`],
    /// [`ServiceError::UnsupportedMedia`] or [`ServiceError::Invalid`]
    /// (field `photo`) for an upload the photo core refuses. No photo is
    /// stored in any of these cases (a refusal by the final transaction may
    /// leave unserved files: see the module documentation).
    /// [`ServiceError::Internal`] if a file cannot be written,
    /// [`ServiceError::Store`].
    pub async fn add_photos(
        &self,
        caller: &Caller,
        report_id: ReportId,
        uploads: Vec<Vec<u8>>,
        after_treatment: bool,
    ) -> Result<Vec<PhotoInfo>, ServiceError> {
        Self::authorize(caller, Action::UploadPhoto)?;
        let (role, max, required) = if after_treatment {
            if caller.role != Role::Agent {
                return Err(ServiceError::Forbidden(format!(
                    "a key with role {} may not add the after-treatment photo; it needs role agent",
                    caller.role
                )));
            }
            ("after", MAX_AFTER_PHOTOS, Some(Status::Done))
        } else {
            ("report", MAX_PHOTOS_PER_REPORT, None)
        };
        if uploads.is_empty() {
            return Err(ServiceError::Invalid {
                field: "photo",
                reason: "send at least one photo".into(),
            });
        }

        // Cheap refusals before any decoding (the transaction checks again).
        let Some(summary) = self.reports().get(report_id) else {
            return Err(ServiceError::NotFound(format!("no report {report_id}")));
        };
        if let Some(required) = required
            && summary.status != required
        {
            return Err(not_done(report_id, summary.status.as_str()));
        }

        let sanitised = sanitise_all(uploads).await?;
        let held = self.store().photos_of(report_id).await?;
        let hashes: Vec<String> = sanitised.iter().map(|s| s.hash.to_string()).collect();
        check_room(report_id, after_treatment, role, max, &held, &hashes)?;

        let dir = self.photos_dir();
        let sanitised =
            tokio::task::spawn_blocking(move || write_files(&dir, &sanitised).map(|()| sanitised))
                .await
                .map_err(|e| ServiceError::Internal(format!("photo writer: {e}")))?
                .map_err(|e| ServiceError::Internal(format!("cannot write photo files: {e}")))?;

        let now = unix_ms(OffsetDateTime::now_utc());
        let rows = sanitised
            .iter()
            .map(|s| PhotoRow {
                id: 0,
                report_id,
                hash: s.hash.to_string(),
                role: role.to_owned(),
                width: i64::from(s.full.width),
                height: i64::from(s.full.height),
                full_bytes: i64::try_from(s.full.bytes.len()).unwrap_or(i64::MAX),
                display_bytes: i64::try_from(s.display.bytes.len()).unwrap_or(i64::MAX),
                uploaded_by: caller.name.clone(),
                created_at_ms: now,
            })
            .collect();
        let batch = PhotoBatch {
            report_id,
            role: role.to_owned(),
            max: i64::try_from(max).unwrap_or(i64::MAX),
            required_status: required.map(|s| s.as_str().to_owned()),
            rows,
        };
        let added = match self.store().add_photos(batch).await? {
            PhotosAdded::Done(added) => added,
            PhotosAdded::NotFound => {
                return Err(ServiceError::NotFound(format!("no report {report_id}")));
            }
            PhotosAdded::WrongStatus { status } => return Err(not_done(report_id, &status)),
            PhotosAdded::Full { stored } => {
                let stored = usize::try_from(stored).unwrap_or(usize::MAX);
                return Err(no_room(
                    report_id,
                    after_treatment,
                    stored,
                    sanitised.len(),
                    max,
                ));
            }
            PhotosAdded::RoleTaken { role, .. } => return Err(role_taken(report_id, &role)),
        };
        let infos = added
            .iter()
            .map(|(row, new)| PhotoInfo::from_row(row, *new))
            .collect::<Result<Vec<_>, _>>()?;
        for info in infos.iter().filter(|i| i.new) {
            // The photo is committed: a failure to record its event is
            // logged, not turned into a failed upload that a client would
            // retry (the retry would find the photo and record nothing).
            if let Err(e) = self
                .record_photo(caller, report_id, info.file_name(Variant::Display))
                .await
            {
                tracing::error!(report_id, photo = info.id, error = %e, "photo event not recorded");
            }
        }
        Ok(infos)
    }

    /// The photos of a report, oldest first (`None`: no such report).
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn photos_of(
        &self,
        report_id: ReportId,
    ) -> Result<Option<Vec<PhotoInfo>>, ServiceError> {
        if self.reports().get(report_id).is_none() {
            return Ok(None);
        }
        let rows = self.store().photos_of(report_id).await?;
        rows.iter()
            .map(|r| PhotoInfo::from_row(r, false))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The bytes of a photo file by its name (`{hash}-full.jpg` or
    /// `{hash}-display.jpg`): `None` for any other name and for a photo no
    /// report holds. The name is parsed strictly before anything is read,
    /// so no other file can be reached.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] if a stored photo's file cannot be read,
    /// [`ServiceError::Store`].
    pub async fn photo_file(&self, name: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        let Some((hash, variant)) = parse_file_name(name) else {
            return Ok(None);
        };
        if !self.store().photo_exists(&hash.to_string()).await? {
            return Ok(None);
        }
        let path = self.photos_dir().join(file_name(&hash, variant));
        tokio::fs::read(&path)
            .await
            .map(Some)
            .map_err(|e| ServiceError::Internal(format!("photo file {name}: {e}")))
    }
}

fn not_done(report_id: ReportId, status: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "report {report_id} is {status}: the after-treatment photo is added once it is done"
    ))
}

/// Refuses photos that would take the report over `max` of `role`, or that
/// it already holds as the other role. Photos it holds as `role` (a retry)
/// and repeats within the upload count once.
fn check_room(
    report_id: ReportId,
    after_treatment: bool,
    role: &str,
    max: usize,
    held: &[PhotoRow],
    hashes: &[String],
) -> Result<(), ServiceError> {
    let mut adding: Vec<&str> = Vec::new();
    for hash in hashes {
        match held.iter().find(|p| p.hash == *hash) {
            Some(p) if p.role != role => return Err(role_taken(report_id, &p.role)),
            Some(_) => {}
            None if adding.contains(&hash.as_str()) => {}
            None => adding.push(hash),
        }
    }
    let held = held.iter().filter(|p| p.role == role).count();
    if held + adding.len() > max {
        return Err(no_room(report_id, after_treatment, held, adding.len(), max));
    }
    Ok(())
}

fn role_taken(report_id: ReportId, role: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "report {report_id} already holds this photo as {}",
        if role == "after" {
            "its after-treatment photo"
        } else {
            "a reporter's photo"
        }
    ))
}

fn no_room(
    report_id: ReportId,
    after_treatment: bool,
    held: usize,
    adding: usize,
    max: usize,
) -> ServiceError {
    let what = if after_treatment {
        "after-treatment photo"
    } else {
        "photo"
    };
    ServiceError::Conflict(format!(
        "report {report_id} holds {held} {what}{} of at most {max}: {adding} more cannot be added",
        if held == 1 { "" } else { "s" }
    ))
}

/// Sanitises every upload, each on the blocking pool behind [`SANITISING`];
/// the first refusal in upload order wins.
async fn sanitise_all(uploads: Vec<Vec<u8>>) -> Result<Vec<Sanitised>, ServiceError> {
    let total = uploads.len();
    let tasks = uploads.into_iter().map(|bytes| async move {
        let permit = SANITISING
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(format!("sanitiser semaphore: {e}")))?;
        tokio::task::spawn_blocking(move || {
            // Held until the work is done, even if the request is dropped.
            let _permit = permit;
            sanitise(&bytes, &Limits::default())
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("photo sanitiser: {e}")))
    });
    let results = futures_util::future::join_all(tasks).await;
    let mut out = Vec::with_capacity(total);
    for (i, r) in results.into_iter().enumerate() {
        match r? {
            Ok(s) => out.push(s),
            Err(e) => return Err(photo_error(&e, (total > 1).then_some((i + 1, total)))),
        }
    }
    Ok(out)
}

/// Writes both renditions of each photo into `dir` (created if needed)
/// atomically and durably: a temporary file in `dir`, fsync, rename, fsync
/// of `dir`. A name already present is not rewritten: names are content
/// hashes, and a present file is whole (it was renamed into place).
fn write_files(dir: &Path, photos: &[Sanitised]) -> std::io::Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    for photo in photos {
        for variant in Variant::ALL {
            let path = dir.join(photo.file_name(variant));
            if !path.is_file() {
                write_atomic(dir, &path, &photo.rendition(variant).bytes)?;
            }
        }
    }
    // Also when every file was already there: another upload may have
    // renamed it without having synced the directory yet.
    sync_dir(dir)
}

/// The temporary files of [`write_atomic`]: `.upload-{pid}-{n}.tmp`.
const PARTIAL_PREFIX: &str = ".upload-";
const PARTIAL_SUFFIX: &str = ".tmp";

/// Removes the temporary files that uploads cut off by a crash left in
/// the photo directory of `data_dir` (a kill between a temporary file's
/// creation and its rename). Run at start-up, before serving: one serving
/// process per store, so no upload of another process is writing them.
/// Returns how many were removed.
///
/// # Errors
/// The directory cannot be listed or a file removed.
pub fn sweep_partial_uploads(data_dir: &Path) -> std::io::Result<usize> {
    let dir = data_dir.join(PHOTOS_DIR);
    if !dir.is_dir() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PARTIAL_PREFIX) && name.ends_with(PARTIAL_SUFFIX) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(&dir)?;
    }
    Ok(removed)
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static N: AtomicU64 = AtomicU64::new(0);
    // Starts with a dot and ends in `.tmp`: never a servable name.
    let tmp = dir.join(format!(
        "{PARTIAL_PREFIX}{}-{}{PARTIAL_SUFFIX}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
