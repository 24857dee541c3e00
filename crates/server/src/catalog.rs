//! The read side that scales with the page, not the catalogue (issue 13): search, the home
//! page and the V2 `Search()` feed page in the database.
//!
//! Two tables, maintained in the transactions that change what they summarise:
//!
//! - `package_listing`: one row per package and [`VersionFilter`] under which it has at least
//!   one listed version, with how many (`versions`). Its primary key `(filter, id_lower)` is
//!   the order search results are shown in, so a page is an index range with `LIMIT`/`OFFSET`
//!   and `totalHits` a count over the same range; no package is read before paging.
//! - `package_terms`: search terms (lower case) of each package — its id and every word of
//!   its versions' titles and tags, each also from every segment start (`Contoso.Widgets` gives
//!   `contoso.widgets` and `widgets`). A query word matches a package when it is a prefix of
//!   one of its terms: an index range on the `(term, package_id)` primary key, compared
//!   bytewise (`COLLATE "C"` on PostgreSQL, SQLite's default `BINARY`).
//!
//! Databases created before these tables get them filled once, in the schema transaction
//! (`schema_steps` records that it ran).

use std::collections::HashMap;

use sqlx::Row as _;

use crate::Error;
use crate::db::{Db, VersionRow};
use crate::downloads::DownloadCounts;

/// Which versions a read may show.
#[derive(Clone, Copy, Debug)]
pub struct VersionFilter {
    /// Include prerelease versions.
    pub prerelease: bool,
    /// Include SemVer 2.0.0-only versions (`semVerLevel=2.0.0`).
    pub semver2: bool,
}

impl VersionFilter {
    pub(crate) fn accepts(self, v: &VersionRow) -> bool {
        (self.prerelease || !v.prerelease) && (self.semver2 || !v.semver2)
    }
}

/// The tables and indexes. `{C}` is the bytewise collation of the dialect.
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS package_listing (
        filter BIGINT NOT NULL,
        id_lower TEXT {C} NOT NULL,
        package_id BIGINT NOT NULL REFERENCES packages(id),
        versions BIGINT NOT NULL,
        PRIMARY KEY (filter, id_lower))",
    "CREATE INDEX IF NOT EXISTS package_listing_package ON package_listing (package_id, filter)",
    // Covers every listing query (pages, counts, the V2 window over version counts): a deep
    // page is then an index-only range. Through the primary key each row also read the
    // table, in id order, which is not the order rows were written: at `$skip=50000`,
    // 70 ms against 8 ms on PostgreSQL, 166 ms against 72 ms for the window on SQLite.
    "CREATE INDEX IF NOT EXISTS package_listing_cover ON package_listing \
     (filter, id_lower, package_id, versions)",
    "CREATE TABLE IF NOT EXISTS package_terms (
        term TEXT {C} NOT NULL,
        package_id BIGINT NOT NULL REFERENCES packages(id),
        PRIMARY KEY (term, package_id))",
    "CREATE INDEX IF NOT EXISTS package_terms_package ON package_terms (package_id)",
    // Numbered one-off steps (data migrations) that have run.
    "CREATE TABLE IF NOT EXISTS schema_steps (
        name TEXT PRIMARY KEY,
        done_at BIGINT NOT NULL)",
];

/// The one-off step that fills the tables of a database that predates them.
const FILL_STEP: &str = "0001-package-listing-and-terms";

/// Longest stored term, in bytes (longer ones are cut at a character boundary; so are query
/// words, so that they still match).
const TERM_MAX: usize = 100;
/// Most terms kept per pushed version.
const TERMS_PER_VERSION: usize = 200;
/// Most words of a query that are matched (the rest are ignored).
const QUERY_WORDS_MAX: usize = 8;

/// The `filter` column value of a [`VersionFilter`].
fn filter_code(f: VersionFilter) -> i64 {
    i64::from(f.prerelease) * 2 + i64::from(f.semver2)
}

const FILTERS: [VersionFilter; 4] = [
    VersionFilter {
        prerelease: false,
        semver2: false,
    },
    VersionFilter {
        prerelease: false,
        semver2: true,
    },
    VersionFilter {
        prerelease: true,
        semver2: false,
    },
    VersionFilter {
        prerelease: true,
        semver2: true,
    },
];

fn cut(s: &str) -> &str {
    if s.len() <= TERM_MAX {
        return s;
    }
    let mut end = TERM_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// The terms of a text: each whitespace-separated word, lower case, from its start and from
/// every segment start after a character that is not alphanumeric.
pub(crate) fn terms_of(text: &str, out: &mut Vec<String>) {
    for word in text.split_whitespace() {
        let word = word.to_lowercase();
        let mut previous_alnum = false;
        for (i, c) in word.char_indices() {
            if c.is_alphanumeric()
                && (i == 0 || !previous_alnum)
                && let Some(rest) = word.get(i..)
            {
                out.push(cut(rest).to_owned());
            }
            previous_alnum = c.is_alphanumeric();
        }
        if !word.starts_with(char::is_alphanumeric) {
            out.push(cut(&word).to_owned());
        }
    }
}

/// The terms stored for one pushed version of `id`.
fn version_terms(id: &str, metadata: &crate::inspect::Metadata) -> Vec<String> {
    // The id's terms first, so that the cap only ever drops title and tag words (a package
    // with hundreds of tags must stay findable by its id); then in order, each once.
    let mut terms = Vec::new();
    terms_of(id, &mut terms);
    terms_of(&metadata.title, &mut terms);
    terms_of(&metadata.tags.replace([',', ';'], " "), &mut terms);
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(t.clone()));
    terms.truncate(TERMS_PER_VERSION);
    terms
}

/// The words of a query, lower case and cut like terms.
fn query_words(query: &str) -> Vec<String> {
    query
        .split_whitespace()
        .take(QUERY_WORDS_MAX)
        .map(|w| cut(&w.to_lowercase()).to_owned())
        .collect()
}

/// Adds the terms of a pushed version (in the push transaction).
pub(crate) async fn add_terms(
    conn: &mut sqlx::AnyConnection,
    package_row: i64,
    id: &str,
    metadata: &crate::inspect::Metadata,
) -> Result<(), Error> {
    for term in version_terms(id, metadata) {
        sqlx::query(
            "INSERT INTO package_terms (term, package_id) VALUES ($1, $2) \
             ON CONFLICT (term, package_id) DO NOTHING",
        )
        .bind(term)
        .bind(package_row)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Recomputes the listing rows of one package (in the transaction that changed its versions
/// or their `listed` flag).
pub(crate) async fn refresh_listing(
    conn: &mut sqlx::AnyConnection,
    package_row: i64,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM package_listing WHERE package_id = $1")
        .bind(package_row)
        .execute(&mut *conn)
        .await?;
    for f in FILTERS {
        sqlx::query(
            "INSERT INTO package_listing (filter, id_lower, package_id, versions) \
             SELECT $1, p.id_lower, p.id, COUNT(*) FROM packages p \
             JOIN package_versions v ON v.package_id = p.id \
             WHERE p.id = $2 AND v.listed = 1 AND ($3 = 1 OR v.prerelease = 0) \
             AND ($4 = 1 OR v.semver2 = 0) GROUP BY p.id, p.id_lower",
        )
        .bind(filter_code(f))
        .bind(package_row)
        .bind(i64::from(f.prerelease))
        .bind(i64::from(f.semver2))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds the listing rows of every package that has none.
async fn fill_listing(conn: &mut sqlx::AnyConnection) -> Result<(), Error> {
    for f in FILTERS {
        sqlx::query(
            "INSERT INTO package_listing (filter, id_lower, package_id, versions) \
             SELECT $1, p.id_lower, p.id, COUNT(*) FROM packages p \
             JOIN package_versions v ON v.package_id = p.id \
             WHERE v.listed = 1 AND ($2 = 1 OR v.prerelease = 0) AND ($3 = 1 OR v.semver2 = 0) \
             AND NOT EXISTS (SELECT 1 FROM package_listing l WHERE l.package_id = p.id \
             AND l.filter = $1) GROUP BY p.id, p.id_lower",
        )
        .bind(filter_code(f))
        .bind(i64::from(f.prerelease))
        .bind(i64::from(f.semver2))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Fills both tables for a database that predates them (once; in the schema transaction).
pub(crate) async fn fill_once(conn: &mut sqlx::AnyConnection, now: i64) -> Result<(), Error> {
    let done = sqlx::query("SELECT 1 AS one FROM schema_steps WHERE name = $1")
        .bind(FILL_STEP)
        .fetch_optional(&mut *conn)
        .await?;
    if done.is_some() {
        return Ok(());
    }
    fill_listing(conn).await?;
    let rows =
        sqlx::query("SELECT v.package_id, v.id_as_pushed, v.metadata_json FROM package_versions v")
            .fetch_all(&mut *conn)
            .await?;
    for row in rows {
        let package_row: i64 = row.try_get("package_id")?;
        let id: String = row.try_get("id_as_pushed")?;
        let metadata: String = row.try_get("metadata_json")?;
        let metadata = serde_json::from_str(&metadata).unwrap_or_default();
        add_terms(conn, package_row, &id, &metadata).await?;
    }
    sqlx::query("INSERT INTO schema_steps (name, done_at) VALUES ($1, $2)")
        .bind(FILL_STEP)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The parts of a listing query over `l` (placeholders from `$first`): a `WITH` clause to put
/// first (or nothing), the `FROM` and `WHERE` clauses, and the binds after the filter: (lower,
/// upper) bounds of each query word. The first word drives the query: its matching packages
/// are read from the terms index into a materialized set first, then looked up in the
/// listing. (Joined directly, PostgreSQL walked the whole listing in id order probing the
/// terms of each package, betting that a `LIMIT 20` would be filled early: 240 ms for a word
/// on 1% of 100,000 packages, 9 ms this way.) Further words are `IN` checks.
fn listing_condition(words: &[String], first: usize) -> (String, String, String, Vec<String>) {
    let mut with = String::new();
    let mut from = String::from("package_listing l");
    let mut sql = String::from("l.filter = $1");
    let mut binds = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let lo = first + 2 * i;
        if i == 0 {
            with = format!(
                "WITH m AS MATERIALIZED (SELECT DISTINCT t.package_id FROM package_terms t \
                 WHERE t.term >= ${lo} AND t.term < ${}) ",
                lo + 1
            );
            from = String::from("m JOIN package_listing l ON l.package_id = m.package_id");
        } else {
            sql.push_str(&format!(
                " AND l.package_id IN (SELECT t{i}.package_id FROM package_terms t{i} \
                 WHERE t{i}.term >= ${lo} AND t{i}.term < ${})",
                lo + 1
            ));
        }
        binds.push(w.clone());
        binds.push(format!("{w}\u{10FFFF}"));
    }
    (with, from, sql, binds)
}

/// One package of a page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listed {
    /// Package row id.
    pub(crate) row: i64,
    /// Versions under the filter counted before this package (V2 window queries only).
    pub(crate) before: i64,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Packages visible under `filter` whose terms match every word of `query`, in id order:
    /// `limit` of them after `skip`.
    pub(crate) async fn listing_page(
        &self,
        query: &str,
        filter: VersionFilter,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<Listed>, Error> {
        let words = query_words(query);
        let (with, from, condition, binds) = listing_condition(&words, 4);
        let sql = format!(
            "{with}SELECT l.package_id, l.id_lower FROM {from} WHERE {condition} \
             ORDER BY l.id_lower LIMIT $2 OFFSET $3"
        );
        // Only placeholders are formatted into the statement.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter_code(filter))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(skip).unwrap_or(i64::MAX));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Listed {
                    row: r.try_get("package_id")?,
                    before: 0,
                })
            })
            .collect()
    }

    /// How many packages [`Db::listing_page`] pages through.
    pub(crate) async fn listing_count(
        &self,
        query: &str,
        filter: VersionFilter,
    ) -> Result<usize, Error> {
        let words = query_words(query);
        let (with, from, condition, binds) = listing_condition(&words, 2);
        let sql = format!("{with}SELECT COUNT(*) AS n FROM {from} WHERE {condition}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter_code(filter));
        for b in binds {
            q = q.bind(b);
        }
        let n: i64 = q.fetch_one(&self.pool).await?.try_get("n")?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Like [`Db::listing_page`], but `skip` counts versions: the packages whose versions
    /// (under `filter`) hold positions from `skip` on, with how many come before each.
    pub(crate) async fn listing_window(
        &self,
        query: &str,
        filter: VersionFilter,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<Listed>, Error> {
        let words = query_words(query);
        let (with, from, condition, binds) = listing_condition(&words, 4);
        let sql = format!(
            "{with}SELECT w.package_id, w.upto - w.versions AS before FROM (SELECT d.package_id, \
             d.id_lower, d.versions, CAST(SUM(d.versions) OVER (ORDER BY d.id_lower \
             ROWS UNBOUNDED PRECEDING) AS BIGINT) AS upto FROM (SELECT \
             l.package_id, l.id_lower, l.versions FROM {from} WHERE {condition}) d) w \
             WHERE w.upto > $2 ORDER BY w.id_lower LIMIT $3"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter_code(filter))
            .bind(i64::try_from(skip).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Listed {
                    row: r.try_get("package_id")?,
                    before: r.try_get("before")?,
                })
            })
            .collect()
    }

    /// The listed versions of the given packages, by package row id (unsorted).
    pub(crate) async fn listed_versions_of(
        &self,
        packages: &[i64],
    ) -> Result<HashMap<i64, Vec<VersionRow>>, Error> {
        let mut out: HashMap<i64, Vec<VersionRow>> = HashMap::new();
        if packages.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT v.package_id AS package_row, {} FROM package_versions v JOIN packages p \
             ON p.id = v.package_id WHERE v.listed = 1 AND v.package_id IN ({})",
            crate::db::VERSION_COLUMNS,
            placeholders(1, packages.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in packages {
            q = q.bind(*p);
        }
        for r in q.fetch_all(&self.pool).await? {
            let row: i64 = r.try_get("package_row")?;
            out.entry(row)
                .or_default()
                .push(crate::db::version_row(&r)?);
        }
        Ok(out)
    }

    /// Owner names of the given packages, by package row id.
    pub(crate) async fn owners_of(
        &self,
        packages: &[i64],
    ) -> Result<HashMap<i64, Vec<String>>, Error> {
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        if packages.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT o.package_id, a.name FROM package_owners o JOIN accounts a \
             ON a.id = o.account_id WHERE o.package_id IN ({}) ORDER BY a.name_lower",
            placeholders(1, packages.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in packages {
            q = q.bind(*p);
        }
        for r in q.fetch_all(&self.pool).await? {
            out.entry(r.try_get("package_id")?)
                .or_default()
                .push(r.try_get("name")?);
        }
        Ok(out)
    }

    /// Stored download counts of the given packages, by package row id.
    pub(crate) async fn download_counts_of(
        &self,
        packages: &[i64],
    ) -> Result<HashMap<i64, DownloadCounts>, Error> {
        let mut out: HashMap<i64, DownloadCounts> = HashMap::new();
        if packages.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT v.package_id, v.version_lower, d.count FROM package_versions v \
             JOIN download_counts d ON d.package_version_id = v.id \
             WHERE v.package_id IN ({})",
            placeholders(1, packages.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in packages {
            q = q.bind(*p);
        }
        for r in q.fetch_all(&self.pool).await? {
            let counts = out.entry(r.try_get("package_id")?).or_default();
            let n: i64 = r.try_get("count")?;
            counts.total = counts.total.saturating_add(n);
            counts.by_version.insert(r.try_get("version_lower")?, n);
        }
        Ok(out)
    }
}

/// A version for [`Db::import_for_benchmark`].
#[derive(Clone, Debug)]
pub struct ImportedVersion {
    /// Package id.
    pub id: String,
    /// Normalised version.
    pub version: String,
    /// Has release labels.
    pub prerelease: bool,
    /// Display metadata (title and tags are searched).
    pub metadata: crate::inspect::Metadata,
}

/// Packages per import transaction (bind parameters stay under SQLite's and PostgreSQL's
/// limits).
const IMPORT_CHUNK: usize = 500;

fn values(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Stores versions (grouped by id, in any order) owned by `owner` with multi-row
    /// statements, bypassing the push pipeline: no package file, no signature, no checks. For
    /// read benchmarks that need a catalogue of 100,000 packages in seconds, never for a
    /// served feed (downloads of these versions find no file).
    pub async fn import_for_benchmark(
        &self,
        owner: i64,
        versions: &[ImportedVersion],
        now: i64,
    ) -> Result<(), Error> {
        let rng = crate::clock::SystemRandom;
        let mut packages: Vec<(i64, &str, Vec<&ImportedVersion>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for v in versions {
            let i = *index.entry(v.id.to_lowercase()).or_insert_with(|| {
                packages.push((0, v.id.as_str(), Vec::new()));
                packages.len() - 1
            });
            if let Some(p) = packages.get_mut(i) {
                p.2.push(v);
            }
        }
        for p in &mut packages {
            p.0 = crate::clock::random_id(&rng)?;
        }
        for chunk in packages.chunks(IMPORT_CHUNK) {
            let mut tx = self.pool.begin().await?;
            let sql = format!(
                "INSERT INTO packages (id, package_id, id_lower, created_at) VALUES {}",
                values(chunk.len(), 4)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (row, id, _) in chunk {
                q = q.bind(*row).bind(*id).bind(id.to_lowercase()).bind(now);
            }
            q.execute(&mut *tx).await?;
            let sql = format!(
                "INSERT INTO package_owners (package_id, account_id) VALUES {}",
                values(chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (row, _, _) in chunk {
                q = q.bind(*row).bind(owner);
            }
            q.execute(&mut *tx).await?;
            let rows: Vec<(i64, &ImportedVersion)> = chunk
                .iter()
                .flat_map(|(row, _, vs)| vs.iter().map(move |v| (*row, *v)))
                .collect();
            for part in rows.chunks(IMPORT_CHUNK) {
                let sql = format!(
                    "INSERT INTO package_versions (id, package_id, id_as_pushed, version, \
                     version_lower, original_version, prerelease, semver2, listed, size, \
                     blob_key, nuspec, metadata_json, dependencies_json, published_at, \
                     pushed_by) VALUES {}",
                    values(part.len(), 16)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (row, v) in part {
                    let id_lower = v.id.to_lowercase();
                    let version_lower = v.version.to_lowercase();
                    q = q
                        .bind(crate::clock::random_id(&rng)?)
                        .bind(*row)
                        .bind(v.id.clone())
                        .bind(v.version.clone())
                        .bind(version_lower.clone())
                        .bind(v.version.clone())
                        .bind(i64::from(v.prerelease))
                        .bind(0_i64)
                        .bind(1_i64)
                        .bind(0_i64)
                        .bind(format!(
                            "packages/{id_lower}/{version_lower}/imported.nupkg"
                        ))
                        .bind(Vec::<u8>::new())
                        .bind(serde_json::to_string(&v.metadata).unwrap_or_default())
                        .bind("[]")
                        .bind(now)
                        .bind(owner);
                }
                q.execute(&mut *tx).await?;
            }
            let mut terms: Vec<(String, i64)> = Vec::new();
            for (row, id, vs) in chunk {
                let mut t: Vec<String> = vs
                    .iter()
                    .flat_map(|v| version_terms(id, &v.metadata))
                    .collect();
                t.sort();
                t.dedup();
                terms.extend(t.into_iter().map(|t| (t, *row)));
            }
            for part in terms.chunks(IMPORT_CHUNK * 4) {
                let sql = format!(
                    "INSERT INTO package_terms (term, package_id) VALUES {} \
                     ON CONFLICT (term, package_id) DO NOTHING",
                    values(part.len(), 2)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (term, row) in part {
                    q = q.bind(term.clone()).bind(*row);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        let mut conn = self.pool.acquire().await?;
        fill_listing(&mut conn).await?;
        // Planner statistics (and on PostgreSQL the visibility map that index-only scans
        // need) for the new rows, as after any bulk load; autovacuum gets there on its own,
        // later.
        let analyze = if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            "VACUUM ANALYZE"
        } else {
            "ANALYZE"
        };
        sqlx::query(analyze).execute(&mut *conn).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn terms_start_at_every_segment() {
        let mut t = Vec::new();
        terms_of("Contoso.Widgets-Core  json_parser", &mut t);
        assert_eq!(
            t,
            [
                "contoso.widgets-core",
                "widgets-core",
                "core",
                "json_parser",
                "parser"
            ]
        );
    }

    #[test]
    fn the_cap_never_drops_the_id() {
        let metadata = crate::inspect::Metadata {
            tags: (0..300)
                .map(|i| format!("a{i:03}"))
                .collect::<Vec<_>>()
                .join(" "),
            ..Default::default()
        };
        let terms = version_terms("Zzz.Package", &metadata);
        assert_eq!(terms.len(), TERMS_PER_VERSION);
        assert!(terms.iter().any(|t| t == "zzz.package"), "{terms:?}");
        assert!(terms.iter().any(|t| t == "package"), "{terms:?}");
    }

    #[test]
    fn long_words_are_cut_at_a_character_boundary() {
        let long = "é".repeat(80);
        let mut t = Vec::new();
        terms_of(&long, &mut t);
        assert!(t.iter().all(|w| w.len() <= TERM_MAX));
        assert_eq!(query_words(&long)[0], t[0]);
    }
}
