//! Listing changes: a version's `listed` flag and the catalogue's listing rows, changed in one
//! transaction. Above `catalog` (which owns the listing rows) and below `mirror`, whose
//! upstream sync calls it, so that neither depends on the push commit in `versions`.

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

impl Db {
    /// Sets `listed`; false when the version does not exist.
    pub async fn set_listed(
        &self,
        id_lower: &str,
        version_lower: &str,
        listed: bool,
    ) -> Result<bool, Error> {
        set_listed(self, id_lower, version_lower, listed).await
    }
}

/// [`Db::set_listed`] by path, for the stores below `registry` that call it (the mirror's
/// upstream sync), so that the dependency is one the module graph test sees.
pub(crate) async fn set_listed(
    db: &Db,
    id_lower: &str,
    version_lower: &str,
    listed: bool,
) -> Result<bool, Error> {
    let mut tx = db.pool.begin().await?;
    let r = sqlx::query(
        "UPDATE package_versions SET listed = $1 WHERE version_lower = $2 AND package_id = \
         (SELECT id FROM packages WHERE id_lower = $3)",
    )
    .bind(i64::from(listed))
    .bind(version_lower)
    .bind(id_lower)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    let row = sqlx::query("SELECT id FROM packages WHERE id_lower = $1")
        .bind(id_lower)
        .fetch_one(&mut *tx)
        .await?;
    crate::catalog::refresh_listing(&mut tx, row.try_get("id")?).await?;
    tx.commit().await?;
    Ok(true)
}
