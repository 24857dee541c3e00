//! The [`Registry`] services over `audit`: here, in the services layer, so that
//! `audit` stays below `registry`.

use crate::Error;
use crate::audit::{
    AuditAction, AuditEntry, AuditEvent, AuditOutcome, UNKNOWN_ACCOUNT, request_client,
};
use crate::clock::random_id;
use crate::registry::Registry;

impl Registry {
    /// Appends `event` to the audit log (see the module documentation: never fails the
    /// action).
    pub async fn audit(&self, event: AuditEvent<'_>) {
        let ambient = request_client();
        let event = AuditEvent {
            client: event.client.or(ambient.as_deref()),
            ..event
        };
        let at = self.clock.now().unix_micros();
        let written = match random_id(self.rng.as_ref()) {
            Ok(id) => self.db.append_audit(id, at, &event).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, action = event.action.as_str(), "cannot write the audit log");
        }
    }

    /// Appends the entry of an action that ended in `r` (its error, if any, as the detail);
    /// the client is the request's.
    pub(crate) async fn audit_result<T>(
        &self,
        actor: &str,
        action: AuditAction,
        target: &str,
        r: &Result<T, Error>,
    ) {
        self.audit_result_with(actor, action, target, "", r).await;
    }

    /// As [`Registry::audit_result`], with `detail` kept when the action succeeded (a
    /// fingerprint, a key's description; never a secret).
    pub(crate) async fn audit_result_with<T>(
        &self,
        actor: &str,
        action: AuditAction,
        target: &str,
        detail: &str,
        r: &Result<T, Error>,
    ) {
        let detail = match r {
            Ok(_) => detail.to_owned(),
            Err(e) => e.to_string(),
        };
        self.audit(AuditEvent {
            actor,
            action,
            target,
            outcome: AuditOutcome::of(r),
            client: None,
            detail: &detail,
        })
        .await;
    }

    /// Entries since `since` (µs), newest first, at most `limit`; only `actor`'s if given.
    pub async fn audit_log(
        &self,
        since: i64,
        actor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .db
            .audit_entries(since, actor, limit)
            .await?
            .into_iter()
            .map(
                |(at, actor, action, target, outcome, client, detail)| AuditEntry {
                    at: signet_common::UtcTime::from_unix_micros(at).rfc3339(),
                    actor,
                    action,
                    target,
                    outcome,
                    client,
                    detail,
                },
            )
            .collect())
    }

    /// The name to record for a sign-in attempt with `typed`: the account's own name when
    /// there is one (as stored, whatever the case typed), else [`UNKNOWN_ACCOUNT`].
    pub(crate) async fn audit_name_of(&self, typed: &str) -> String {
        match self.db.find_account(typed.trim()).await {
            Ok(Some((id, _))) => self
                .db
                .account_name(id)
                .await
                .unwrap_or_else(|_| UNKNOWN_ACCOUNT.to_owned()),
            _ => UNKNOWN_ACCOUNT.to_owned(),
        }
    }

    /// Deletes entries older than `days`; returns how many.
    pub async fn prune_audit_log(&self, days: u64) -> Result<u64, Error> {
        let age = i64::try_from(days)
            .unwrap_or(i64::MAX)
            .saturating_mul(86_400_000_000);
        let before = self.clock.now().unix_micros().saturating_sub(age);
        self.db.prune_audit(before).await
    }
}
