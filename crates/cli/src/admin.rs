//! `signet admin`: bootstrap a server instance without a browser (users, API keys).

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use signet_server::{IdGlob, Registry, Role, Scopes};

use crate::serve::{load_config, runtime};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `signet admin` options.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The server's TOML configuration file.
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    config: Option<PathBuf>,
    /// The server's data directory (when it runs without a configuration file).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Create the data directory and database when they do not exist yet. Without it, a
    /// data directory with no database is refused: a mistyped --data-dir must not silently
    /// start an empty second server.
    #[arg(long, global = true)]
    create: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create a user. On a terminal the password is asked for (hidden, twice); otherwise it
    /// is read from the first line of standard input with --password-stdin.
    CreateUser {
        /// Account name.
        name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input (never an argument).
        /// Needed when standard input is not a terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API key for a user and print it (once: only its hash is stored).
    CreateApiKey {
        /// The user.
        user: String,
        /// Comma-separated scopes: push (= push-new,push-version), push-new, push-version,
        /// unlist, read, all. `read` alone makes a read-only key (a private feed's CI): it
        /// reads and is refused by every push, dry run, unlist and relist.
        #[arg(long, default_value = "all")]
        scopes: String,
        /// Package-id glob the key is limited to (`*` wildcard; repeatable; default all).
        #[arg(long = "packages", value_name = "GLOB")]
        packages: Vec<String>,
        /// Days until the key expires (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in: Option<u32>,
        /// A note to recognise the key by.
        #[arg(long, default_value = "")]
        description: String,
        /// Act for this organization (the user must be a member): new ids become its packages.
        #[arg(long, value_name = "ORG")]
        owner: Option<String>,
    },
    /// List a user's API keys (ids, scopes, globs, expiry; the secrets are not stored).
    ListApiKeys {
        /// The user.
        user: String,
    },
    /// Revoke one of a user's API keys by id (see list-api-keys).
    RevokeApiKey {
        /// The user.
        user: String,
        /// The key's id.
        id: i64,
    },
    /// Create an organization with a user as its first admin.
    CreateOrganization {
        /// Organization name.
        name: String,
        /// Its first admin (a user).
        #[arg(long, value_name = "USER")]
        admin: String,
    },
    /// Add a user to an organization, or change their role.
    AddMember {
        /// Organization.
        organization: String,
        /// User.
        user: String,
        /// admin or collaborator.
        #[arg(long, default_value = "collaborator")]
        role: String,
    },
    /// Remove a user from an organization (never its last administrator); their keys acting
    /// for the organization stop working at once.
    RemoveMember {
        /// Organization.
        organization: String,
        /// User.
        user: String,
    },
    /// Disable a user: their web sessions end and their API keys stop working at once.
    DisableUser {
        /// The user.
        user: String,
    },
    /// Enable a disabled user again.
    EnableUser {
        /// The user.
        user: String,
    },
    /// Lift the failed-attempt limits on a user's sign-in (web, two-factor codes, HTTP
    /// Basic) on every running server, whoever made the failures; the addresses that made
    /// them stay limited.
    UnlockUser {
        /// The user.
        user: String,
    },
    /// Set a new password for a user (asked for on a terminal, or read from the first line
    /// of standard input with --password-stdin); every session of the user ends.
    ResetPassword {
        /// The user.
        user: String,
        /// Read the password from the first line of standard input (never an argument).
        /// Needed when standard input is not a terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Ask an account (user or organization) to become an owner of a package: it is one only
    /// after it accepts (accept-owner, or its account page on the web).
    AddOwner {
        /// Package id.
        package: String,
        /// Account name.
        account: String,
    },
    /// List the ownership requests a user may answer (their own, and their organizations').
    OwnerRequests {
        /// The user.
        user: String,
    },
    /// Accept an ownership request: the account becomes an owner of the package.
    AcceptOwner {
        /// Package id.
        package: String,
        /// The invited account.
        account: String,
        /// The user answering: the account itself (the default) or an administrator of the
        /// invited organization.
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
    /// Decline an ownership request.
    DeclineOwner {
        /// Package id.
        package: String,
        /// The invited account.
        account: String,
        /// The user answering (see accept-owner).
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
    /// Remove an owner from a package (a package keeps at least one owner).
    RemoveOwner {
        /// Package id.
        package: String,
        /// Account name.
        account: String,
    },
    /// Register a code-signing certificate (DER .cer, or PEM with its chain) on an account:
    /// from then on the account's packages must be signed with one of its certificates.
    RegisterCertificate {
        /// User or organization.
        account: String,
        /// The certificate file.
        file: PathBuf,
    },
    /// List an account's registered certificates with their status.
    ListCertificates {
        /// User or organization.
        account: String,
    },
    /// Delete a registration: removed if no package was signed with it, else deactivated.
    DeleteCertificate {
        /// User or organization.
        account: String,
        /// SHA-256 fingerprint (hex).
        fingerprint: String,
    },
    /// Set a package's required signer (the owner whose certificates it must be signed with;
    /// an owner without certificates means "unsigned only"); no account: any owner.
    SetRequiredSigner {
        /// Package id.
        package: String,
        /// Account name (omit for any owner).
        account: Option<String>,
    },
    /// Require (or stop requiring) every package of an account to be author-signed.
    SetRequireSigned {
        /// User or organization.
        account: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Repository-sign every stored package that lacks the current repository signature
    /// (after enabling signing or rotating the certificate); resumable and idempotent.
    Backfill {
        /// Packages signed at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Recheck the revocation status of every known signer certificate now.
    RecheckCertificates,
    /// Fetch the stapled OCSP responses again now (all of them, not only the stale ones); a
    /// certificate found revoked runs the recheck.
    RefreshStaples,
    /// Let a user see the signing status page (/admin/signing).
    GrantSiteAdmin {
        /// The user.
        user: String,
    },
    /// Reserve a package-id prefix (e.g. `Contoso.`) for an account: new ids under it are
    /// pushed only by that account, and the mirror never takes them from an upstream.
    ReservePrefix {
        /// The account (an organization, usually).
        account: String,
        /// The prefix.
        prefix: String,
    },
    /// List the reserved prefixes.
    ListPrefixes,
    /// The mirror's upstream feeds (NuGet.org or another server): add, sync pins, policy.
    Upstream {
        #[command(subcommand)]
        command: crate::mirror_admin::UpstreamCommand,
    },
    /// The mirror: prefetch packages, refusals, quarantine releases, rechecks.
    Mirror {
        #[command(subcommand)]
        command: crate::mirror_admin::MirrorCommand,
    },
    /// Webhooks of an account or organization: events about its packages posted to a URL,
    /// signed with HMAC-SHA256 as GitHub signs its own (`X-Hub-Signature-256`).
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Apply the configuration's `[[retention]]` rules: unlist or delete old versions (never
    /// one a kept version depends on). With --dry-run, only list what would be done.
    Retention {
        /// List what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable output (`formatVersion` 2).
        #[arg(long)]
        json: bool,
    },
    /// Show the audit log: sign-ins, pushes, unlists, owner requests, administrator commands
    /// (newest first).
    AuditLog {
        /// Only entries of the last DURATION (`90m`, `24h`, `7d`; default 7d).
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        since: String,
        /// Only entries by this actor (an account name, or `admin (command line)`).
        #[arg(long)]
        actor: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Machine-readable output (`formatVersion` 2).
        #[arg(long)]
        json: bool,
    },
    /// Take a consistent backup of the embedded default (database, package files,
    /// development PKI) into a new or empty directory, while the server runs. The backup
    /// holds private keys and password hashes: keep it as you keep the server.
    Backup {
        /// The backup directory (new or empty).
        dir: PathBuf,
    },
    /// Restore a backup as the data directory given by --data-dir (or the configuration's
    /// data_dir), which must be new or empty; the server must not run on it. Every file is
    /// checked against the backup's manifest first.
    Restore {
        /// The backup directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum WebhookCommand {
    /// Register a webhook; prints its id and its secret (shown once).
    Add {
        /// The account or organization whose packages it is about.
        account: String,
        /// Where to POST (http or https).
        url: String,
        /// Events (repeatable; default all): package.pushed, package.unlisted,
        /// package.relisted, package.deleted, package.flagged, certificate.registered,
        /// certificate.deleted, certificate.revoked.
        #[arg(long = "event", value_name = "EVENT")]
        events: Vec<String>,
        /// Allow a destination on a loopback, private or reserved address (refused by default:
        /// a webhook must not become a way into the server's own network).
        #[arg(long)]
        allow_private_destination: bool,
    },
    /// List an account's webhooks.
    List {
        /// The account or organization.
        account: String,
    },
    /// Remove a webhook (undelivered events are dropped).
    Remove {
        /// The account or organization.
        account: String,
        /// The webhook's id.
        id: i64,
    },
    /// The latest deliveries to an account's webhooks, with each one's last answer.
    Deliveries {
        /// The account or organization.
        account: String,
        /// Machine-readable output (`formatVersion` 2).
        #[arg(long)]
        json: bool,
    },
}

/// `signet admin webhook …`.
fn webhook(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    command: WebhookCommand,
) -> u8 {
    let r: Result<String, signet_server::Error> = runtime.block_on(async {
        let registry = cfg.open_registry().await?;
        let r = match command {
            WebhookCommand::Add {
                account,
                url,
                events,
                allow_private_destination,
            } => registry
                .add_webhook(&account, &url, &events, allow_private_destination)
                .await
                .map(|(id, secret)| {
                    format!(
                        "webhook {id} for {account} posts to {url}\nsecret (shown once; \
                         verify X-Hub-Signature-256 with it): {secret}"
                    )
                }),
            WebhookCommand::List { account } => registry.webhooks(&account).await.map(|hooks| {
                if hooks.is_empty() {
                    return format!("{account} has no webhooks");
                }
                hooks
                    .iter()
                    .map(|h| {
                        let private = if h.allow_private {
                            " (private destination allowed)"
                        } else {
                            ""
                        };
                        format!("{} {} [{}]{private}", h.id, h.url, h.events)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
            WebhookCommand::Remove { account, id } => registry
                .remove_webhook(&account, id)
                .await
                .map(|()| format!("removed webhook {id} of {account}")),
            WebhookCommand::Deliveries { account, json } => {
                registry.webhook_deliveries(&account, 100).await.map(|d| {
                    if json {
                        let doc = serde_json::json!({ "formatVersion": 2, "deliveries": d });
                        return serde_json::to_string_pretty(&doc).unwrap_or_default();
                    }
                    if d.is_empty() {
                        return format!("no deliveries for {account}");
                    }
                    d.iter()
                        .map(|d| {
                            let state = if d.delivered {
                                "delivered"
                            } else if d.attempts >= signet_server::webhooks::MAX_ATTEMPTS {
                                "gave up"
                            } else {
                                "pending"
                            };
                            let status = d
                                .last_status
                                .map(|s| format!(" (last answer {s})"))
                                .unwrap_or_default();
                            let error = if d.last_error.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", d.last_error)
                            };
                            format!(
                                "{} {} to webhook {}: {state} after {} attempts{status}{error}",
                                d.id, d.event, d.webhook_id, d.attempts
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
        };
        registry.db().close().await;
        r
    });
    match r {
        Ok(text) => {
            out!("{text}");
            EXIT_OK
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

impl AdminCommand {
    /// Commands that change nothing (not written to the audit log).
    fn is_read_only(&self) -> bool {
        use crate::mirror_admin::{MirrorCommand, UpstreamCommand};
        matches!(
            self,
            Self::ListApiKeys { .. }
                | Self::OwnerRequests { .. }
                | Self::ListCertificates { .. }
                | Self::ListPrefixes
                | Self::AuditLog { .. }
                | Self::Retention { dry_run: true, .. }
                | Self::Webhook {
                    command: WebhookCommand::List { .. } | WebhookCommand::Deliveries { .. }
                }
                | Self::Upstream {
                    command: UpstreamCommand::List
                }
                | Self::Mirror {
                    command: MirrorCommand::Refusals { .. }
                }
        )
    }
}

/// `signet admin audit-log`.
fn audit_log(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    since: &str,
    actor: Option<&str>,
    limit: usize,
    json: bool,
) -> u8 {
    let age = match signet_server::audit::parse_age(since) {
        Ok(a) => a,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let since = signet_common::UtcTime::now()
        .unix_micros()
        .saturating_sub(age);
    let read = runtime.block_on(async {
        let registry = cfg.open_registry().await?;
        let entries = registry.audit_log(since, actor, limit).await;
        registry.db().close().await;
        entries
    });
    let entries = match read {
        Ok(e) => e,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    if json {
        let doc = serde_json::json!({ "formatVersion": 2, "entries": entries });
        out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return EXIT_OK;
    }
    for e in &entries {
        let client = if e.client.is_empty() {
            String::new()
        } else {
            format!(" from {}", e.client)
        };
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail)
        };
        out!(
            "{} {} {} {} {}{client}{detail}",
            e.at,
            e.actor,
            e.action,
            e.target,
            e.outcome
        );
    }
    if entries.is_empty() {
        out!("no audit log entries in that time");
    }
    EXIT_OK
}

/// `signet admin retention`.
fn retention(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    dry_run: bool,
    json: bool,
) -> u8 {
    if cfg.retention.is_empty() {
        err!(
            "error: the configuration has no [[retention]] rules (see signet serve --print-config)"
        );
        return EXIT_USAGE;
    }
    let r = runtime.block_on(async {
        let registry = cfg.open_registry().await?;
        let plan = registry.retention_plan(&cfg.retention).await;
        let done = match (&plan, dry_run) {
            (Ok(p), false) => registry.apply_retention(p).await.map(Some),
            _ => Ok(None),
        };
        registry.db().close().await;
        Ok::<_, signet_server::Error>((plan?, done?))
    });
    let (plan, done) = match r {
        Ok(p) => p,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    if json {
        let doc = serde_json::json!({
            "formatVersion": 2,
            "dryRun": dry_run,
            "plan": plan,
            "done": done,
        });
        out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return EXIT_OK;
    }
    let verb = |a: signet_server::retention::RetentionAction| match (a, dry_run) {
        (signet_server::retention::RetentionAction::Unlist, true) => "would unlist",
        (signet_server::retention::RetentionAction::Unlist, false) => "unlisted",
        (signet_server::retention::RetentionAction::Delete, true) => "would delete",
        (signet_server::retention::RetentionAction::Delete, false) => "deleted",
    };
    for s in &plan.steps {
        out!(
            "{} {} {} (rule {})",
            verb(s.action),
            s.id,
            s.version,
            s.rule
        );
    }
    for k in &plan.kept_as_dependencies {
        out!("kept {k}: a kept version depends on it");
    }
    match done {
        Some(n) => out!("{n} of {} versions retired", plan.steps.len()),
        None => out!(
            "{} versions would be retired (dry run: nothing changed)",
            plan.steps.len()
        ),
    }
    EXIT_OK
}

/// `signet admin backup DIR`.
fn backup(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    dir: &std::path::Path,
) -> u8 {
    let now = signet_common::UtcTime::now().rfc3339();
    match runtime.block_on(signet_server::backup::backup(cfg, dir, &now)) {
        Ok(s) => {
            out!(
                "backed up {} package versions: {} files, {} bytes, into {}",
                s.package_versions,
                s.files,
                s.bytes,
                dir.display()
            );
            if s.replaced_meanwhile > 0 {
                out!(
                    "{} package files were re-signed during the backup: their new files were taken",
                    s.replaced_meanwhile
                );
            }
            if !s.dev_pki {
                out!(
                    "no development PKI in the data directory: back up the repository key and certificate the configuration names yourself"
                );
            }
            EXIT_OK
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// `signet admin restore DIR`.
fn restore(backup: &std::path::Path, data_dir: &std::path::Path) -> u8 {
    match signet_server::backup::restore(backup, data_dir) {
        Ok(s) => {
            out!(
                "restored {} package versions: {} files, {} bytes, into {}",
                s.package_versions,
                s.files,
                s.bytes,
                data_dir.display()
            );
            EXIT_OK
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// Opens the registry with the configured signing setup (trust roots, repository signer).
async fn open_signing_registry(
    cfg: &signet_server::Config,
) -> Result<Registry, signet_server::Error> {
    let public = match &cfg.server.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}", cfg.listen()?),
    };
    let setup = cfg.signing_setup(&public, std::sync::Arc::new(signet_server::SystemClock))?;
    cfg.open_registry().await?.with_signing(setup).await
}

/// Like [`with_registry`], with the signing setup.
pub(crate) fn with_signing_registry<F>(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    f: F,
) -> u8
where
    F: AsyncFnOnce(&Registry) -> Result<(), signet_server::Error>,
{
    let r = runtime.block_on(async {
        let registry = open_signing_registry(cfg).await?;
        let r = f(&registry).await;
        registry.db().close().await;
        r
    });
    match r {
        Ok(()) => EXIT_OK,
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// Opens the registry, runs `f`, closes the database, prints `done` on success.
pub(crate) fn with_registry<F>(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    done: &str,
    f: F,
) -> u8
where
    F: AsyncFnOnce(&Registry) -> Result<(), signet_server::Error>,
{
    let r = runtime.block_on(async {
        let registry = cfg.open_registry().await?;
        let r = f(&registry).await;
        registry.db().close().await;
        r
    });
    match r {
        Ok(()) => {
            if !done.is_empty() {
                out!("{done}");
            }
            EXIT_OK
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// Shortest password accepted (NuGet.org's rule).
const MIN_PASSWORD_LEN: usize = 8;

/// Attempts at typing a password on a terminal before giving up.
const PROMPT_ATTEMPTS: usize = 3;

/// The new password of `user`: the first line of standard input with `--password-stdin`;
/// otherwise, on a terminal, asked for without echo and a second time to confirm (as
/// `passwd` does); otherwise an error naming `--password-stdin`. At least
/// [`MIN_PASSWORD_LEN`] characters either way.
fn read_password(user: &str, from_stdin: bool) -> Result<zeroize::Zeroizing<String>, String> {
    if from_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let password = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
        return check_length(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "no password: standard input is not a terminal, so give --password-stdin and the password on standard input"
                .into(),
        );
    }
    for _ in 0..PROMPT_ATTEMPTS {
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map(zeroize::Zeroizing::new)
                .map_err(|e| format!("cannot read the password from the terminal: {e}"))
        };
        let first = ask(&format!("New password for {user}: "))?;
        if first.chars().count() < MIN_PASSWORD_LEN {
            err!("a password needs at least {MIN_PASSWORD_LEN} characters (NuGet.org's minimum)");
        } else if *ask("Repeat the password: ")? == *first {
            return Ok(first);
        } else {
            err!("the passwords do not match");
        }
    }
    Err(format!("no password set after {PROMPT_ATTEMPTS} attempts"))
}

/// `password` if it is at least [`MIN_PASSWORD_LEN`] characters long.
fn check_length(
    password: zeroize::Zeroizing<String>,
) -> Result<zeroize::Zeroizing<String>, String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters (NuGet.org's minimum)"
        ));
    }
    Ok(password)
}

/// Runs `signet admin`.
pub fn run(args: AdminArgs) -> u8 {
    let cfg = match load_config(args.config.as_ref(), args.data_dir.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    // A restore makes the data directory: it must not exist yet (or be empty).
    if let AdminCommand::Restore { dir } = &args.command {
        return restore(dir, &cfg.data_dir());
    }
    // The embedded default database must exist unless --create says to make it.
    let db_file = cfg.data_dir().join("signet.db");
    if cfg.database.url.is_none() && !args.create && !db_file.is_file() {
        err!(
            "error: no signet server data in {} (no signet.db): give the server's --data-dir or --config, or --create to start a new one",
            cfg.data_dir().display()
        );
        return EXIT_USAGE;
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let read_only = args.command.is_read_only();
    // What the audit log records of the command: its arguments (passwords are read from
    // standard input, never arguments; API keys are printed, never arguments).
    let (target, detail) = describe_command(&format!("{:?}", args.command));
    let code = execute(&runtime, &cfg, args.command);
    if !read_only {
        let outcome = if code == EXIT_OK {
            signet_server::audit::AuditOutcome::Ok
        } else {
            signet_server::audit::AuditOutcome::Failed
        };
        let recorded = runtime.block_on(async {
            let registry = cfg.open_registry().await?;
            registry
                .audit(signet_server::audit::AuditEvent {
                    actor: "admin (command line)",
                    action: signet_server::audit::AuditAction::AdminCommand,
                    target: &target,
                    outcome,
                    client: None,
                    detail: &detail,
                })
                .await;
            registry.db().close().await;
            Ok::<(), signet_server::Error>(())
        });
        if let Err(e) = recorded {
            err!("warning: the audit log could not be written: {e}");
        }
    }
    code
}

/// The audit log's view of a command, from its `Debug` form (`CreateApiKey { user: "me",
/// scopes: "all", expires_in: None }`): the target is the first text argument (`me`), the
/// detail the command as `create-api-key user=me scopes=all`, leaving out what was not given
/// (`None`, empty, `false`, `[]`). Nested commands (`Webhook { command: Add { … } }`) are
/// flattened (`webhook add account=…`).
fn describe_command(debug: &str) -> (String, String) {
    fn kebab(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
    /// Splits `a: x, b: Y { … }, c: "d, e"` at the commas of this level.
    fn fields(body: &str) -> Vec<&str> {
        let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
        let mut out = Vec::new();
        for (i, c) in body.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '{' | '[' | '(' if !quoted => depth += 1,
                '}' | ']' | ')' if !quoted => depth -= 1,
                ',' if !quoted && depth == 0 => {
                    out.push(body.get(start..i).unwrap_or_default().trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(body.get(start..).unwrap_or_default().trim());
        out.retain(|f| !f.is_empty());
        out
    }
    fn walk(debug: &str, words: &mut Vec<String>, target: &mut Option<String>) {
        let debug = debug.trim();
        let (name, body) = match debug.split_once(" {") {
            Some((name, rest)) => (name, rest.trim_end().trim_end_matches('}')),
            None => (debug, ""),
        };
        words.push(kebab(name.trim()));
        for field in fields(body) {
            let Some((key, value)) = field.split_once(": ") else {
                continue;
            };
            let value = value.trim();
            if key == "command" {
                walk(value, words, target);
                continue;
            }
            let value = value
                .strip_prefix("Some(")
                .and_then(|v| v.strip_suffix(')'))
                .unwrap_or(value);
            if matches!(value, "None" | "false" | "[]" | "\"\"") {
                continue;
            }
            let shown = redact_url(value.trim_matches('"'));
            let shown = shown.as_str();
            if target.is_none() && value.starts_with('"') {
                *target = Some(shown.to_owned());
            }
            if value == "true" {
                words.push(key.replace('_', "-"));
            } else {
                words.push(format!("{}={shown}", key.replace('_', "-")));
            }
        }
    }
    let (mut words, mut target) = (Vec::new(), None);
    walk(debug, &mut words, &mut target);
    (target.unwrap_or_default(), words.join(" "))
}

/// A URL as the audit log keeps it: scheme and host only. User information, paths and queries
/// can hold secrets (a webhook's token in its path, a password in an upstream URL).
fn redact_url(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let elided = if authority.len() < rest.len() || host.len() < authority.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{elided}")
}

/// Runs one `signet admin` command.
fn execute(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    command: AdminCommand,
) -> u8 {
    match command {
        AdminCommand::CreateUser {
            name,
            email,
            password_stdin,
        } => {
            let password = match read_password(&name, password_stdin) {
                Ok(p) => p,
                Err(e) => {
                    err!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            let r = runtime.block_on(async {
                let registry = cfg.open_registry().await?;
                let r = registry
                    .create_user(&name, email.as_deref(), &password)
                    .await;
                registry.db().close().await;
                r
            });
            match r {
                Ok(()) => {
                    out!("created user {name}");
                    EXIT_OK
                }
                Err(e) => {
                    err!("error: {e}");
                    EXIT_FAILED
                }
            }
        }
        AdminCommand::CreateApiKey {
            user,
            scopes,
            packages,
            expires_in,
            description,
            owner,
        } => {
            let parsed = Scopes::parse(&scopes).and_then(|s| {
                let globs = packages
                    .iter()
                    .map(|g| IdGlob::parse(g))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((s, globs))
            });
            let (scopes, globs) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    err!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            let r = runtime.block_on(async {
                let registry = cfg.open_registry().await?;
                let r = registry
                    .create_api_key(
                        &user,
                        owner.as_deref(),
                        &description,
                        scopes,
                        &globs,
                        expires_in,
                    )
                    .await;
                registry.db().close().await;
                r
            });
            match r {
                Ok(key) => {
                    out!("{key}");
                    err!(
                        "API key for {user} (scopes {scopes}); it is shown only once: store it now"
                    );
                    EXIT_OK
                }
                Err(e) => {
                    err!("error: {e}");
                    EXIT_FAILED
                }
            }
        }
        AdminCommand::CreateOrganization { name, admin } => with_registry(
            runtime,
            cfg,
            &format!("created organization {name}"),
            async |r| r.create_organization(&name, &admin).await,
        ),
        AdminCommand::AddMember {
            organization,
            user,
            role,
        } => {
            let Some(role) = Role::parse(&role) else {
                err!("error: unknown role {role:?} (admin or collaborator)");
                return EXIT_USAGE;
            };
            with_registry(
                runtime,
                cfg,
                &format!("{user} is a member of {organization} ({})", role.as_str()),
                async |r| r.set_member(&organization, &user, role).await,
            )
        }
        AdminCommand::RemoveMember { organization, user } => with_registry(
            runtime,
            cfg,
            &format!("{user} is no longer a member of {organization}"),
            async |r| r.remove_member(&organization, &user).await,
        ),
        AdminCommand::DisableUser { user } => with_registry(
            runtime,
            cfg,
            &format!("disabled {user}: sessions ended, API keys no longer accepted"),
            async |r| r.disable_user(&user).await,
        ),
        AdminCommand::EnableUser { user } => {
            with_registry(runtime, cfg, &format!("enabled {user}"), async |r| {
                r.enable_user(&user).await
            })
        }
        AdminCommand::UnlockUser { user } => with_registry(
            runtime,
            cfg,
            &format!("lifted the sign-in limits on {user}"),
            async |r| r.unlock_sign_in(&user).await,
        ),
        AdminCommand::ResetPassword {
            user,
            password_stdin,
        } => {
            let password = match read_password(&user, password_stdin) {
                Ok(p) => p,
                Err(e) => {
                    err!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            with_registry(
                runtime,
                cfg,
                &format!("new password set for {user}; their sessions ended"),
                async |r| r.reset_password(&user, &password).await,
            )
        }
        AdminCommand::AddOwner { package, account } => with_registry(runtime, cfg, "", async |r| {
            match r
                .add_owner(&package, &account, "a site administrator")
                .await?
            {
                signet_server::OwnerRequestOutcome::AlreadyOwner => {
                    out!("{account} already owns {package}");
                }
                _ => out!(
                    "asked {account} to become an owner of {package}; it is one once it \
                         accepts (signet admin accept-owner {package} {account})"
                ),
            }
            Ok(())
        }),
        AdminCommand::OwnerRequests { user } => with_registry(runtime, cfg, "", async |r| {
            for q in r.owner_requests(&user).await? {
                out!(
                    "{}\t{}\trequested by {}",
                    q.package,
                    q.account,
                    q.requested_by
                );
            }
            Ok(())
        }),
        AdminCommand::AcceptOwner {
            package,
            account,
            as_user,
        } => with_registry(
            runtime,
            cfg,
            &format!("{account} owns {package}"),
            async |r| {
                let by = as_user.as_deref().unwrap_or(&account);
                r.answer_owner_request(by, &package, &account, true).await
            },
        ),
        AdminCommand::DeclineOwner {
            package,
            account,
            as_user,
        } => with_registry(
            runtime,
            cfg,
            &format!("{account} declined to own {package}"),
            async |r| {
                let by = as_user.as_deref().unwrap_or(&account);
                r.answer_owner_request(by, &package, &account, false).await
            },
        ),
        AdminCommand::RemoveOwner { package, account } => with_registry(
            runtime,
            cfg,
            &format!("{account} no longer owns {package}"),
            async |r| r.remove_owner(&package, &account).await,
        ),
        AdminCommand::ListApiKeys { user } => {
            let time = |t: i64| signet_common::UtcTime::from_unix_micros(t).rfc3339();
            with_registry(runtime, cfg, "", async |r| {
                for k in r.api_keys(&user).await? {
                    let state = match (k.revoked_at, k.expires_at) {
                        (Some(t), _) => format!("revoked {}", time(t)),
                        (None, Some(t)) => format!("expires {}", time(t)),
                        (None, None) => "no expiry".to_owned(),
                    };
                    out!(
                        "{}\towner={}\tscopes={}\tpackages={}\tcreated {}\t{state}\t{}",
                        k.id,
                        k.owner,
                        k.scopes,
                        k.globs,
                        time(k.created_at),
                        k.description
                    );
                }
                Ok(())
            })
        }
        AdminCommand::RegisterCertificate { account, file } => {
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    err!("error: cannot read {}: {e}", file.display());
                    return EXIT_USAGE;
                }
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            with_signing_registry(runtime, cfg, async |r| {
                let c = r.register_certificate(&account, &name, &bytes).await?;
                out!(
                    "registered {} on {account}",
                    c.fingerprint.to_ascii_uppercase()
                );
                out!("  subject: {}", c.subject);
                out!("  issuer:  {}", c.issuer);
                out!("  expires: {}", c.expires);
                for w in &c.warnings {
                    err!("warning: {w}");
                }
                Ok(())
            })
        }
        AdminCommand::ListCertificates { account } => {
            with_signing_registry(runtime, cfg, async |r| {
                let now = signet_common::UtcTime::now();
                let time = |t: i64| signet_common::UtcTime::from_unix_micros(t).rfc3339();
                for c in r.certificates(&account).await? {
                    let status = signet_server::signing::CertificateStatus::of(&c, now);
                    out!(
                        "{}	{}	expires {}	{} signed version(s)	{}	issuer: {}",
                        c.fingerprint.to_ascii_uppercase(),
                        status.as_str(),
                        time(c.not_after),
                        c.signed_versions,
                        c.subject,
                        c.issuer
                    );
                }
                Ok(())
            })
        }
        AdminCommand::DeleteCertificate {
            account,
            fingerprint,
        } => with_signing_registry(runtime, cfg, async |r| {
            let shown = fingerprint.trim().to_ascii_uppercase();
            if r.delete_certificate(&account, &fingerprint).await? {
                out!(
                    "deactivated {shown} on {account}: packages were signed with it, so it stays listed; pushes signed with it are refused (register it again to re-activate)"
                );
            } else {
                out!("removed {shown} from {account}");
            }
            Ok(())
        }),
        AdminCommand::SetRequiredSigner { package, account } => {
            with_signing_registry(runtime, cfg, async |r| {
                r.set_required_signer(&package, account.as_deref()).await?;
                match &account {
                    Some(a) => out!("{package}: required signer {a}"),
                    None => out!("{package}: any owner may sign"),
                }
                Ok(())
            })
        }
        AdminCommand::SetRequireSigned { account, state } => {
            with_signing_registry(runtime, cfg, async |r| {
                r.set_require_signed(&account, state == "on").await?;
                out!("{account}: require author-signed packages {state}");
                Ok(())
            })
        }
        AdminCommand::Backfill { parallel } => with_signing_registry(runtime, cfg, async |r| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} packages ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let start = std::time::Instant::now();
            let done = r
                .backfill(parallel, &|p| {
                    bar.set_length(p.total);
                    bar.set_position(p.signed + p.skipped + p.failed);
                })
                .await?;
            bar.finish_and_clear();
            let secs = start.elapsed().as_secs_f64();
            out!(
                "backfill: {} signed, {} skipped, {} failed of {} in {secs:.1} s ({:.0} packages/s)",
                done.signed,
                done.skipped,
                done.failed,
                done.total,
                if secs > 0.0 {
                    done.signed as f64 / secs
                } else {
                    0.0
                }
            );
            if done.failed > 0 {
                return Err(signet_server::Error::Signing(format!(
                    "{} package(s) could not be signed (see the log); run backfill again",
                    done.failed
                )));
            }
            Ok(())
        }),
        AdminCommand::RefreshStaples => with_signing_registry(runtime, cfg, async |r| {
            let s = r.refresh_all_staples().await?;
            out!(
                "refreshed staples: {} fetched, {} failed, {} revoked",
                s.fetched,
                s.failed,
                s.revoked.len()
            );
            Ok(())
        }),
        AdminCommand::RecheckCertificates => with_signing_registry(runtime, cfg, async |r| {
            let s = r.recheck_certificates().await?;
            out!(
                "rechecked {} certificate(s): {} newly revoked, {} unknown, {} version(s) flagged",
                s.checked,
                s.revoked,
                s.unknown,
                s.flagged_versions
            );
            Ok(())
        }),
        AdminCommand::Upstream { command } => crate::mirror_admin::upstream(runtime, cfg, command),
        AdminCommand::Mirror { command } => crate::mirror_admin::mirror(runtime, cfg, command),
        AdminCommand::Backup { dir } => backup(runtime, cfg, &dir),
        AdminCommand::Webhook { command } => webhook(runtime, cfg, command),
        AdminCommand::Retention { dry_run, json } => retention(runtime, cfg, dry_run, json),
        AdminCommand::AuditLog {
            since,
            actor,
            limit,
            json,
        } => audit_log(runtime, cfg, &since, actor.as_deref(), limit, json),
        // Handled before the data directory is required to exist.
        AdminCommand::Restore { dir } => restore(&dir, &cfg.data_dir()),
        AdminCommand::ReservePrefix { account, prefix } => with_registry(
            runtime,
            cfg,
            &format!(
                "reserved the prefix {} for {}",
                signet_common::Untrusted(&prefix),
                signet_common::Untrusted(&account)
            ),
            async |r| r.reserve_prefix(&account, &prefix).await,
        ),
        AdminCommand::ListPrefixes => with_registry(runtime, cfg, "", async |r| {
            let all = r.reserved_prefixes().await?;
            if all.is_empty() {
                out!("no reserved prefixes");
            }
            for p in all {
                out!(
                    "{} reserved by {}",
                    signet_common::Untrusted(&p.prefix),
                    signet_common::Untrusted(&p.account)
                );
            }
            Ok(())
        }),
        AdminCommand::GrantSiteAdmin { user } => with_registry(
            runtime,
            cfg,
            &format!("{user} is a site administrator"),
            async |r| r.grant_site_admin(&user).await,
        ),
        AdminCommand::RevokeApiKey { user, id } => with_registry(
            runtime,
            cfg,
            &format!("revoked API key {id} of {user}"),
            async |r| r.revoke_api_key(&user, id).await,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_command;

    #[test]
    fn commands_are_described_for_the_audit_log() {
        assert_eq!(
            describe_command(
                r#"CreateApiKey { user: "me", scopes: "all", packages: [], expires_in: None, description: "", owner: None }"#
            ),
            (
                "me".to_owned(),
                "create-api-key user=me scopes=all".to_owned()
            )
        );
        assert_eq!(
            describe_command(r#"CreateUser { name: "me", email: None, password_stdin: true }"#),
            (
                "me".to_owned(),
                "create-user name=me password-stdin".to_owned()
            )
        );
        assert_eq!(
            describe_command(
                r#"Webhook { command: Add { account: "contoso", url: "https://hooks.test/services/T0/SECRET?a=1, b", events: ["package.pushed"], allow_private_destination: false } }"#
            ),
            (
                "contoso".to_owned(),
                r#"webhook add account=contoso url=https://hooks.test/… events=["package.pushed"]"#
                    .to_owned()
            )
        );
        let (_, upstream) = describe_command(
            r#"Upstream { command: Add { name: "up", url: "https://user:hunter2@feed.test/v3/index.json" } }"#,
        );
        assert_eq!(upstream, "upstream add name=up url=https://feed.test/…");
        assert_eq!(
            describe_command("Backfill"),
            (String::new(), "backfill".to_owned())
        );
    }
}
