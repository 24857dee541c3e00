//! The [`Registry`] services over `webhooks`: here, in the services layer, so that
//! `webhooks` stays below `registry`.

use crate::Error;
use crate::clock::{random_hex, random_id};
use crate::registry::Registry;
use crate::webhooks::{
    CLAIM_MICROS, Delivery, DeliveryRun, EVENTS, KEEP_DELIVERIES_MICROS, NewWebhook, Webhook,
    backoff_micros, destination, send,
};

impl Registry {
    async fn account_id(&self, account: &str) -> Result<i64, Error> {
        Ok(self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?
            .0)
    }

    /// Registers a hook for `account`; returns its id and secret (shown once).
    pub async fn add_webhook(
        &self,
        account: &str,
        url: &str,
        events: &[String],
        allow_private: bool,
    ) -> Result<(i64, String), Error> {
        let account_id = self.account_id(account).await?;
        let events: Vec<&str> = if events.is_empty() {
            EVENTS.to_vec()
        } else {
            events.iter().map(String::as_str).collect()
        };
        if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(e)) {
            return Err(Error::Invalid(format!(
                "unknown webhook event {unknown:?} (known: {})",
                EVENTS.join(", ")
            )));
        }
        destination(url, allow_private).await?;
        let id = random_id(self.rng.as_ref())?;
        let secret = random_hex(self.rng.as_ref(), 32)?;
        self.db
            .insert_webhook(&NewWebhook {
                id,
                account: account_id,
                url,
                secret: &secret,
                events: &events.join(","),
                allow_private,
                now: self.clock.now().unix_micros(),
            })
            .await?;
        Ok((id, secret))
    }

    /// `account`'s hooks.
    pub async fn webhooks(&self, account: &str) -> Result<Vec<Webhook>, Error> {
        let account_id = self.account_id(account).await?;
        self.db.webhooks_of(account_id).await
    }

    /// Removes one of `account`'s hooks (and its undelivered deliveries).
    pub async fn remove_webhook(&self, account: &str, id: i64) -> Result<(), Error> {
        let account_id = self.account_id(account).await?;
        if self.db.delete_webhook(account_id, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("{account} has no webhook {id}")))
        }
    }

    /// `account`'s latest deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        account: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, Error> {
        let account_id = self.account_id(account).await?;
        self.db
            .deliveries_of(account_id, i64::try_from(limit).unwrap_or(i64::MAX))
            .await
    }

    /// Queues `event` about package `id` (`version`) for the hooks of its owners. Never fails
    /// the action that caused it (a queue that cannot be written is a logged error).
    pub(crate) async fn package_event(&self, event: &str, id: &str, version: &str) {
        let queued = async {
            let owners = self.db.owner_accounts(&id.to_lowercase()).await?;
            let accounts: Vec<i64> = owners.iter().map(|(a, _, _)| *a).collect();
            let names: Vec<&str> = owners.iter().map(|(_, n, _)| n.as_str()).collect();
            let now = self.clock.now();
            let payload = serde_json::json!({
                "event": event,
                "id": id,
                "version": version,
                "owners": names,
                "at": now.rfc3339(),
            })
            .to_string();
            self.db
                .queue_event(
                    &accounts,
                    event,
                    &payload,
                    self.rng.as_ref(),
                    now.unix_micros(),
                )
                .await
        };
        if let Err(e) = queued.await {
            tracing::error!(error = %e, event, id, "cannot queue webhook deliveries");
        }
    }

    /// Queues `event` (with `payload`'s fields and the time) for `account`'s own hooks.
    pub(crate) async fn account_event(
        &self,
        account: i64,
        event: &str,
        mut payload: serde_json::Value,
    ) {
        let now = self.clock.now();
        if let Some(map) = payload.as_object_mut() {
            map.insert("event".into(), event.into());
            map.insert("at".into(), now.rfc3339().into());
        }
        let queued = self
            .db
            .queue_event(
                &[account],
                event,
                &payload.to_string(),
                self.rng.as_ref(),
                now.unix_micros(),
            )
            .await;
        if let Err(e) = queued {
            tracing::error!(error = %e, event, "cannot queue webhook deliveries");
        }
    }

    /// The delivery job: sends what is due, records each attempt. Idempotent, and safe to run
    /// on several servers at once (deliveries are claimed first).
    pub async fn deliver_webhooks(&self) -> Result<DeliveryRun, Error> {
        let now = self.clock.now().unix_micros();
        self.db
            .prune_deliveries(now.saturating_sub(KEEP_DELIVERIES_MICROS))
            .await?;
        let claim_until = now.saturating_add(CLAIM_MICROS);
        let due = self.db.claim_due(now, claim_until).await?;
        let mut run = DeliveryRun::default();
        for (id, _hook, event, payload, attempts, url, secret, allow_private) in due {
            let sent = send(&url, allow_private, &secret, &event, id, &payload).await;
            let now = self.clock.now().unix_micros();
            let (delivered, status, error) = match sent {
                Ok(status) if (200..300).contains(&status) => (true, Some(status), String::new()),
                Ok(status) => (false, Some(status), format!("answered {status}")),
                Err(e) => (false, None, e),
            };
            let next = now.saturating_add(backoff_micros(attempts));
            self.db
                .record_attempt(id, now, delivered, status, &error, next)
                .await?;
            if delivered {
                run.delivered += 1;
            } else {
                run.failed += 1;
                tracing::warn!(delivery = id, url = %url, error = %error, "webhook delivery failed");
            }
        }
        Ok(run)
    }
}
