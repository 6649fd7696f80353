//! Where a store test runs: SQLite in a temporary directory, or a fresh
//! PostgreSQL database of its own.
//!
//! PostgreSQL tests need `CIVICMAP_TEST_POSTGRES_URL`: the URL of a database
//! whose role may create databases (each test creates `t_<pid>_<n>_<ns>`
//! and drops it at the end). Without it they print
//! "skipped: CIVICMAP_TEST_POSTGRES_URL not set" and pass, unless
//! `CIVICMAP_POSTGRES_TEST=require` (CI), which makes them fail.
//!
//! [`on_both_backends!`] turns one test body into a module with two tests,
//! `on_sqlite` and `on_postgres`; the body gets a [`Place`] to open stores
//! in (as often as it likes: reopening is how restarts are tested).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use civicmap::store::Store;
use sqlx::Connection as _;

/// The admin URL's variable.
pub const URL_VAR: &str = "CIVICMAP_TEST_POSTGRES_URL";

/// Where one test's store lives.
pub enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(PgDatabase),
}

/// A database created for one test, dropped with it.
pub struct PgDatabase {
    pub admin_url: String,
    pub url: String,
    pub name: String,
    /// Photo files and the like (the data directory of an instance).
    pub dir: tempfile::TempDir,
}

impl Place {
    pub fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh PostgreSQL database, or `None` (skipped) when no server is
    /// configured and none is required.
    pub async fn postgres() -> Option<Place> {
        let Some(admin_url) = admin_url() else {
            assert!(
                std::env::var("CIVICMAP_POSTGRES_TEST").as_deref() != Ok("require"),
                "CIVICMAP_POSTGRES_TEST=require but {URL_VAR} is not set"
            );
            eprintln!("skipped: {URL_VAR} not set");
            return None;
        };
        Some(Place::Postgres(PgDatabase::create(&admin_url).await))
    }

    /// Opens (again) the store of this place.
    pub async fn open(&self) -> Store {
        let opened = match self {
            Place::Sqlite(dir) => Store::open_sqlite(dir.path()).await,
            Place::Postgres(db) => Store::open_postgres(&db.url).await,
        };
        match opened {
            Ok(store) => store,
            Err(e) => panic!("cannot open the {} store: {e}", self.backend()),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Place::Sqlite(_) => "sqlite",
            Place::Postgres(_) => "postgres",
        }
    }

    /// The data directory of an instance on this place.
    pub fn data_dir(&self) -> &Path {
        match self {
            Place::Sqlite(dir) => dir.path(),
            Place::Postgres(db) => db.dir.path(),
        }
    }

    /// The database URL an instance is given (`None`: SQLite in
    /// [`Place::data_dir`]).
    pub fn database_url(&self) -> Option<&str> {
        match self {
            Place::Sqlite(_) => None,
            Place::Postgres(db) => Some(&db.url),
        }
    }

    /// A number read by `sql` on a connection of its own, beside the store
    /// (as another program would).
    pub async fn count(&self, sql: &'static str) -> i64 {
        match self {
            Place::Sqlite(dir) => {
                let db = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join(civicmap::store::DB_FILE_NAME))
                    .read_only(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&db).await.unwrap();
                let n = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                n
            }
            Place::Postgres(db) => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let n = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                n
            }
        }
    }
}

/// The admin URL, if set and not empty.
pub fn admin_url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|u| !u.is_empty())
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a URL with a scheme");
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> PgDatabase {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
        // The name is ours: letters, digits and underscores only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        PgDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // On a thread of its own: a test's runtime may be the current one.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("test database {} left behind", self.name);
        }
    }
}

/// One test body run on both backends: a module named after the test with
/// `on_sqlite` and `on_postgres` inside. The body sees the [`Place`] under
/// the given name (the calling file must import `Place`).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($(#[$attr:meta])* async fn $name:ident($place:ident) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let $place = Place::sqlite();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let Some($place) = Place::postgres().await else {
                    return;
                };
                $body
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;
