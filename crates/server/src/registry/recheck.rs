//! The [`Registry`] services over `signing::recheck`: here, in the services layer, so that
//! `signing::recheck` stays below `registry`.

use crate::Error;
use crate::registry::Registry;
use crate::signing::recheck::{RecheckSummary, Verdict, split_der};
use signet_signature::{Certificate, oids};
use signet_trust::{RevocationContext, RevocationStatus, build_chain};
use std::sync::Arc;

impl Registry {
    /// Rechecks every certificate not yet known revoked; see the module documentation.
    pub async fn recheck_certificates(&self) -> Result<RecheckSummary, Error> {
        let rows = self.db.certificates_to_recheck().await?;
        let mut summary = RecheckSummary::default();
        let policy = &self.signing.policy;
        for row in rows {
            let Some(source) = policy.revocation.clone() else {
                summary.unknown += 1;
                continue;
            };
            let trust = Arc::clone(&policy.trust);
            let now = self.clock.now();
            let mode = policy.mode;
            let der = row.der.clone();
            let chain = row.chain.clone();
            let verdict = tokio::task::spawn_blocking(move || {
                let Ok(leaf) = Certificate::from_der(&der) else {
                    return Verdict::Unknown("the certificate does not parse".into());
                };
                let intermediates = split_der(&chain);
                let built = build_chain(
                    &leaf,
                    &intermediates,
                    trust.code_signing(),
                    &oids::EKU_CODE_SIGNING,
                );
                if built.certificates.len() < 2 {
                    return Verdict::Unknown("no issuer certificate is known".into());
                }
                // Only a path to the server's roots says who the issuer really is; asking
                // a responder named by an unverified issuer proves nothing.
                if !built.is_trusted() {
                    return Verdict::Unknown(
                        "no issuer chain to the server's code-signing roots is known".into(),
                    );
                }
                let context = RevocationContext::new(mode, now);
                let mut unknown = None;
                for pair in built.certificates.windows(2) {
                    let [cert, issuer] = pair else { continue };
                    match source.status(cert, issuer, &context) {
                        RevocationStatus::Good => {}
                        RevocationStatus::Revoked {
                            time,
                            reason,
                            invalidity_date,
                        } => {
                            let whose = if cert.der() == leaf.der() {
                                "the certificate".to_owned()
                            } else {
                                format!("its issuer {}", cert.subject())
                            };
                            let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                            // The key was unusable from the invalidity date when the CA gives
                            // an earlier one (a key compromise found later): versions signed
                            // since then are flagged too.
                            let since = invalidity_date.filter(|d| *d < time);
                            let detail = match since {
                                Some(d) => format!(
                                    "{whose} was revoked at {time}{reason}, invalid since {d}"
                                ),
                                None => format!("{whose} was revoked at {time}{reason}"),
                            };
                            return Verdict::Revoked {
                                at: since.unwrap_or(time).unix_micros(),
                                detail,
                            };
                        }
                        RevocationStatus::Unknown { why } => {
                            unknown.get_or_insert(format!("{}: {why}", cert.subject()));
                        }
                        _ => {
                            unknown.get_or_insert("an unrecognised revocation status".into());
                        }
                    }
                }
                match unknown {
                    Some(why) => Verdict::Unknown(why),
                    None => Verdict::Good,
                }
            })
            .await
            .map_err(|e| Error::io("recheck task", std::io::Error::other(e)))?;
            summary.checked += 1;
            let now = self.clock.now().unix_micros();
            match verdict {
                Verdict::Good => {
                    self.db
                        .set_certificate_status(row.id, "good", None, None, now)
                        .await?;
                }
                Verdict::Unknown(why) => {
                    summary.unknown += 1;
                    self.db
                        .set_certificate_status(row.id, "unknown", Some(&why), None, now)
                        .await?;
                }
                Verdict::Revoked { at, detail } => {
                    summary.revoked += 1;
                    self.db
                        .set_certificate_status(row.id, "revoked", Some(&detail), Some(at), now)
                        .await?;
                    let flag = format!(
                        "The author signing certificate (SHA-256 {}) is revoked: {detail}. \
                         This version was signed at or after that time, so its signature is \
                         no longer valid (NU3012).",
                        row.fingerprint
                    );
                    let flagged = self
                        .db
                        .flag_signed_since(&row.fingerprint, at, &flag)
                        .await?;
                    let n = u64::try_from(flagged.len()).unwrap_or(u64::MAX);
                    summary.flagged_versions += n;
                    tracing::warn!(fingerprint = %row.fingerprint, %detail, flagged = n, "certificate revoked");
                    // Webhooks: the accounts the certificate is registered to (each told of the
                    // flagged versions of its own packages only: anyone may register a public
                    // certificate), and the owners of every version it flagged.
                    let mut owners_of = Vec::with_capacity(flagged.len());
                    for (id, version) in &flagged {
                        let owners = self.db.owner_accounts(&id.to_lowercase()).await?;
                        owners_of.push((id, version, owners));
                    }
                    for account in self.db.certificate_accounts(&row.fingerprint).await? {
                        let versions: Vec<serde_json::Value> = owners_of
                            .iter()
                            .filter(|(_, _, owners)| owners.iter().any(|(a, _, _)| *a == account))
                            .map(|(id, version, _)| {
                                serde_json::json!({ "id": id, "version": version })
                            })
                            .collect();
                        self.account_event(
                            account,
                            "certificate.revoked",
                            serde_json::json!({
                                "fingerprint": row.fingerprint,
                                "detail": detail,
                                "flaggedVersions": versions,
                            }),
                        )
                        .await;
                    }
                    for (id, version) in &flagged {
                        self.package_event("package.flagged", id, version).await;
                    }
                }
            }
        }
        Ok(summary)
    }
}
