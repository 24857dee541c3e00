//! Webhooks (issue 19): an account or organization asks to be told, by an HTTP POST, when
//! something happens to its packages.
//!
//! - Registration: `signet admin webhook add ACCOUNT URL` stores the URL, the events and a
//!   secret made here (shown once). A destination whose host resolves to a loopback, private,
//!   link-local or otherwise non-public address is refused unless the administrator allows it
//!   for that hook (`--allow-private-destination`: the tests, an intranet service).
//! - Events are queued in the transaction's wake (`webhook_deliveries`), one row per hook:
//!   `package.pushed`, `package.unlisted`, `package.relisted`, `package.deleted` (retention),
//!   `package.flagged` (a version whose author certificate the recheck found revoked), and
//!   for the account itself `certificate.registered`, `certificate.deleted` and
//!   `certificate.revoked` (found by the recheck, with the versions it flagged).
//! - Delivery is a job (`Registry::deliver_webhooks`, run every few seconds by `signet serve`,
//!   idempotent: a row is delivered once, by whichever server claims it first): a JSON body,
//!   signed as GitHub signs its webhooks (`X-Hub-Signature-256: sha256=` HMAC-SHA256 of the
//!   body under the hook's secret), `X-Signet-Event` and `X-Signet-Delivery` headers, no
//!   redirects followed, 10 s per attempt. The destination is resolved again for every attempt
//!   and the request sent to the address that was checked (a DNS answer that changes to a
//!   private address after registration is refused too). A failed attempt is retried with
//!   backoff (30 s doubling to 1 h, at most 8 attempts); each attempt's status or error is kept
//!   (`signet admin webhook deliveries`).

use std::net::{IpAddr, SocketAddr};

use sqlx::Row as _;

use crate::Error;
use crate::clock::random_id;
use crate::db::Db;

pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS webhooks (
        id BIGINT PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT NOT NULL,
        allow_private BIGINT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhooks_account ON webhooks (account_id)",
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id BIGINT PRIMARY KEY,
        webhook_id BIGINT NOT NULL,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        claimed_until BIGINT NOT NULL,
        delivered_at BIGINT,
        last_status BIGINT,
        last_error TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (delivered_at, next_attempt_at)",
];

/// The events a hook can ask for.
pub const EVENTS: &[&str] = &[
    "package.pushed",
    "package.unlisted",
    "package.relisted",
    "package.deleted",
    "package.flagged",
    "certificate.registered",
    "certificate.deleted",
    "certificate.revoked",
];
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// Deliveries one run of the job sends at most (one after another: the claim below must
/// outlast them all).
pub(crate) const BATCH: i64 = 10;
/// How long a run holds the deliveries it claimed: more than [`BATCH`] attempts with their
/// lookups take, so another server never sends one a second time while it is in flight.
pub(crate) const CLAIM_MICROS: i64 = 300_000_000;
/// Time for the destination's DNS lookup.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Delivered or abandoned deliveries are kept this long for `webhook deliveries`.
pub(crate) const KEEP_DELIVERIES_MICROS: i64 = 30 * 86_400_000_000;
/// Time for one attempt.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest URL accepted.
const URL_MAX: usize = 2000;

/// A registered hook, as listed (the secret is never shown again).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// The events, comma-separated.
    pub events: String,
    /// Whether a private or loopback destination is allowed.
    pub allow_private: bool,
}

/// One delivery, as listed.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its id (also the `X-Signet-Delivery` header).
    pub id: i64,
    /// The hook.
    pub webhook_id: i64,
    /// The event.
    pub event: String,
    /// Attempts made.
    pub attempts: i64,
    /// Whether it was delivered (a 2xx answer).
    pub delivered: bool,
    /// The last answer's status, if any.
    pub last_status: Option<i64>,
    /// The last attempt's error, if any.
    pub last_error: String,
}

/// What one run of the delivery job did.
#[derive(Debug, Default)]
pub struct DeliveryRun {
    /// Delivered (2xx).
    pub delivered: usize,
    /// Failed this time (to be retried, or given up).
    pub failed: usize,
}

/// Whether `ip` is a public unicast address (what a hook may reach unless allowed).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Global unicast (2000::/3) only, and none of the forms that carry an IPv4
            // address a gateway may reach (6to4 2002::/16, Teredo 2001::/32), nor
            // documentation (2001:db8::/32). NAT64 (64:ff9b::/96), IPv4-compatible and
            // site-local addresses fall outside 2000::/3.
            (s[0] & 0xe000) == 0x2000
                && s[0] != 0x2002
                && !(s[0] == 0x2001 && (s[1] == 0 || s[1] == 0xdb8))
        }
    }
}

/// A destination checked for one attempt: the URL and the address it must be sent to.
#[derive(Debug)]
pub(crate) struct Destination {
    url: reqwest::Url,
    host: String,
    addr: SocketAddr,
}

/// Parses `url` (http or https, a host, no credentials) and resolves its host; every address
/// it resolves to must be public unless `allow_private`.
pub(crate) async fn destination(url: &str, allow_private: bool) -> Result<Destination, Error> {
    if url.len() > URL_MAX {
        return Err(Error::Invalid(format!(
            "the webhook URL is longer than {URL_MAX} characters"
        )));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::Invalid(format!("the webhook URL {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Invalid(format!(
            "the webhook URL must be http or https, not {}",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::Invalid(
            "the webhook URL must not carry credentials (the payload is signed instead)".into(),
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::Invalid("the webhook URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| Error::Invalid("the webhook URL has no port".into()))?;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        LOOKUP_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| Error::Invalid(format!("the webhook host {host} did not resolve in time")))?
    .map_err(|e| Error::Invalid(format!("the webhook host {host} does not resolve: {e}")))?
    .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| Error::Invalid(format!("the webhook host {host} has no address")))?;
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(Error::Forbidden(format!(
            "the webhook host {host} resolves to {}, a loopback, private or reserved address \
             (an administrator can allow it: --allow-private-destination)",
            bad.ip()
        )));
    }
    Ok(Destination {
        url: parsed,
        host,
        addr: first,
    })
}

/// `sha256=` and the lower-case hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
    )
}

type DueRow = (i64, i64, String, String, i64, String, String, bool);

/// A hook to store.
pub(crate) struct NewWebhook<'a> {
    pub(crate) id: i64,
    pub(crate) account: i64,
    pub(crate) url: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) events: &'a str,
    pub(crate) allow_private: bool,
    pub(crate) now: i64,
}

impl Db {
    pub(crate) async fn insert_webhook(&self, w: &NewWebhook<'_>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO webhooks (id, account_id, url, secret, events, allow_private, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(w.id)
        .bind(w.account)
        .bind(w.url.to_owned())
        .bind(w.secret.to_owned())
        .bind(w.events.to_owned())
        .bind(i64::from(w.allow_private))
        .bind(w.now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn webhooks_of(&self, account: i64) -> Result<Vec<Webhook>, Error> {
        let rows = sqlx::query(
            "SELECT id, url, events, allow_private FROM webhooks WHERE account_id = $1 \
             ORDER BY created_at",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Webhook {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    events: r.try_get("events")?,
                    allow_private: r.try_get::<i64, _>("allow_private")? != 0,
                })
            })
            .collect()
    }

    pub(crate) async fn delete_webhook(&self, account: i64, id: i64) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND delivered_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Queues `event` for every hook of the given accounts that asked for it.
    pub(crate) async fn queue_event(
        &self,
        accounts: &[i64],
        event: &str,
        payload: &str,
        rng: &dyn crate::clock::Random,
        now: i64,
    ) -> Result<usize, Error> {
        let mut queued = 0;
        for account in accounts {
            let hooks = sqlx::query("SELECT id, events FROM webhooks WHERE account_id = $1")
                .bind(*account)
                .fetch_all(&self.pool)
                .await?;
            for h in hooks {
                let events: String = h.try_get("events")?;
                if !events.split(',').any(|e| e == event || e == "*") {
                    continue;
                }
                let hook: i64 = h.try_get("id")?;
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at, \
                     attempts, next_attempt_at, claimed_until, last_error) \
                     VALUES ($1, $2, $3, $4, $5, 0, $5, 0, '')",
                )
                .bind(random_id(rng)?)
                .bind(hook)
                .bind(event.to_owned())
                .bind(payload.to_owned())
                .bind(now)
                .execute(&self.pool)
                .await?;
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Claims up to [`BATCH`] due deliveries until `claim_until` (another server running the
    /// job meanwhile skips them), with their hook's URL and secret.
    pub(crate) async fn claim_due(&self, now: i64, claim_until: i64) -> Result<Vec<DueRow>, Error> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, d.event, d.payload, d.attempts, w.url, w.secret, \
             w.allow_private FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.delivered_at IS NULL AND d.attempts < $1 AND d.next_attempt_at <= $2 \
             AND d.claimed_until <= $2 ORDER BY d.next_attempt_at LIMIT $3",
        )
        .bind(MAX_ATTEMPTS)
        .bind(now)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            // Claimed only if nobody claimed it since it was read.
            let took = sqlx::query(
                "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id = $2 \
                 AND claimed_until <= $3 AND delivered_at IS NULL",
            )
            .bind(claim_until)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if took.rows_affected() == 1 {
                claimed.push((
                    id,
                    r.try_get("webhook_id")?,
                    r.try_get("event")?,
                    r.try_get("payload")?,
                    r.try_get("attempts")?,
                    r.try_get("url")?,
                    r.try_get("secret")?,
                    r.try_get::<i64, _>("allow_private")? != 0,
                ));
            }
        }
        Ok(claimed)
    }

    pub(crate) async fn record_attempt(
        &self,
        id: i64,
        now: i64,
        delivered: bool,
        status: Option<i64>,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, claimed_until = 0, \
             delivered_at = $1, last_status = $2, last_error = $3, next_attempt_at = $4 \
             WHERE id = $5 AND delivered_at IS NULL",
        )
        .bind(delivered.then_some(now))
        .bind(status)
        .bind(error.to_owned())
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes deliveries created before `before` that are done: delivered, given up, or of
    /// a hook that was removed.
    pub(crate) async fn prune_deliveries(&self, before: i64) -> Result<(), Error> {
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE created_at < $1 AND (delivered_at IS NOT NULL \
             OR attempts >= $2 OR webhook_id NOT IN (SELECT id FROM webhooks))",
        )
        .bind(before)
        .bind(MAX_ATTEMPTS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn deliveries_of(
        &self,
        account: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, Error> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, d.event, d.attempts, d.delivered_at, d.last_status, \
             d.last_error FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE w.account_id = $1 ORDER BY d.created_at DESC LIMIT $2",
        )
        .bind(account)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event: r.try_get("event")?,
                    attempts: r.try_get("attempts")?,
                    delivered: r.try_get::<Option<i64>, _>("delivered_at")?.is_some(),
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }
}

/// Backoff after `attempts` failed attempts: 30 s doubling, at most an hour.
pub(crate) fn backoff_micros(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(0, 7)).unwrap_or(7);
    (30_000_000i64.saturating_mul(1i64 << exp)).min(3_600_000_000)
}

/// One attempt: the destination checked again and pinned, the body signed.
pub(crate) async fn send(
    url: &str,
    allow_private: bool,
    secret: &str,
    event: &str,
    delivery: i64,
    payload: &str,
) -> Result<i64, String> {
    let dest = destination(url, allow_private)
        .await
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .resolve(&dest.host, dest.addr)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(dest.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("signet/", env!("CARGO_PKG_VERSION")))
        .header("X-Signet-Event", event)
        .header("X-Signet-Delivery", delivery.to_string())
        .header("X-Hub-Signature-256", signature(secret, payload.as_bytes()))
        .body(payload.to_owned())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(i64::from(response.status().as_u16()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "::a9fe:a9fe",
            "fec0::1",
            "192.0.0.170",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// The signature GitHub's documentation gives for its example secret and payload.
    #[test]
    fn the_signature_is_githubs() {
        assert_eq!(
            signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(backoff_micros(0), 30_000_000);
        assert_eq!(backoff_micros(1), 60_000_000);
        assert_eq!(backoff_micros(7), 3_600_000_000);
        assert_eq!(backoff_micros(100), 3_600_000_000);
    }

    #[tokio::test]
    async fn destinations_are_checked() {
        assert!(destination("ftp://example.invalid/x", false).await.is_err());
        assert!(
            destination("http://user:pw@127.0.0.1/x", true)
                .await
                .is_err()
        );
        let e = destination("http://127.0.0.1:9/hook", false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("--allow-private-destination"), "{e}");
        let ok = destination("http://127.0.0.1:9/hook", true).await.unwrap();
        assert_eq!(ok.addr, "127.0.0.1:9".parse().unwrap());
        assert!(destination("http://[::1]:9/hook", false).await.is_err());
    }
}
