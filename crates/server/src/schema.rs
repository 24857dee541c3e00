//! The schema in one place: every module's tables, in the order they are created, and the
//! one-off steps that fill tables added to existing databases. Each feature module owns its
//! tables' SQL beside its queries; this module, above them all, is the only one that lists
//! them, so that `db` (the pool and the core tables) depends on no feature module.

use sqlx::any::AnyPoolOptions;

use crate::Error;
use crate::db::{DEFAULT_ACQUIRE_TIMEOUT, Db, SCHEMA_LOCK, private_sqlite_files, sqlite_path};

impl Db {
    /// Connects (`sqlite://FILE?mode=rwc` or `postgres://…`) and creates the schema.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, Error> {
        Self::connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// [`Db::connect`] with the time a request may wait for a connection: past it the
    /// request fails with 503 and `Retry-After` ([`Error::status`]) instead of hanging.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: std::time::Duration,
    ) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        if let Some(path) = sqlite_path(url) {
            private_sqlite_files(&path)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect(url)
            .await?;
        let db = Self { pool };
        if url.starts_with("sqlite:") {
            // WAL: readers never wait for the writer; the setting is stored in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&db.pool)
                .await?;
        }
        let postgres = url.starts_with("postgres");
        let blob = if postgres { "BYTEA" } else { "BLOB" };
        // Search terms and listing keys compare bytewise (prefix ranges, `catalog.rs`).
        let bytewise = if postgres {
            "COLLATE \"C\""
        } else {
            "COLLATE BINARY"
        };
        // One transaction on one connection. On PostgreSQL, `IF NOT EXISTS` is not race-free:
        // two servers starting at once on an empty database can both pass the check and one
        // then fails on pg_type's unique index. A transaction-scoped advisory lock makes them
        // take turns, and is released with the transaction even when a statement fails. (On
        // SQLite the transaction takes the write lock when it begins: a deferred one that read
        // the schema and then wrote was refused with SQLITE_BUSY_SNAPSHOT whenever a running
        // server had committed in between, as `signet admin` does beside a live server.)
        let mut tx = if postgres {
            db.pool.begin().await?
        } else {
            db.pool.begin_with("BEGIN IMMEDIATE").await?
        };
        if postgres {
            // The function returns void, which `Any` cannot decode: select a constant instead.
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock($1)")
                .bind(SCHEMA_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        for stmt in crate::db::SCHEMA
            .iter()
            .chain(crate::signing::store::SCHEMA)
            .chain(crate::downloads::SCHEMA)
            .chain(crate::owners::SCHEMA)
            .chain(crate::lifecycle::SCHEMA)
            .chain(crate::catalog::SCHEMA)
            .chain(crate::mirror::store::SCHEMA)
            .chain(crate::prefixes::SCHEMA)
            .chain(crate::audit::SCHEMA)
            .chain(crate::webhooks::SCHEMA)
            .chain(crate::retention::SCHEMA)
            .chain(crate::tlog::store::SCHEMA)
        {
            // Only constants are substituted into these statements.
            sqlx::query(sqlx::AssertSqlSafe(
                stmt.replace("{BLOB}", blob).replace("{C}", bytewise),
            ))
            .execute(&mut *tx)
            .await?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        crate::catalog::fill_once(&mut tx, now).await?;
        tx.commit().await?;
        Ok(db)
    }
}
