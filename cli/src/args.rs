//! The command line: every subcommand and option.

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

/// keyroll's operator CLI: keys, rotations, compliance, audit trails and imports,
/// against the deployed API (SigV4 from your AWS credentials) or keyroll-local (its
/// admin token).
#[derive(Debug, Parser)]
#[command(name = "keyroll", version, propagate_version = true)]
pub struct Cli {
    /// keyroll's base URL: the API's invoke URL, or keyroll-local's.
    #[arg(
        long,
        env = "KEYROLL_URL",
        global = true,
        default_value = "http://127.0.0.1:3000"
    )]
    pub url: url::Url,
    /// keyroll-local's admin token; without it requests are signed with SigV4 from the
    /// standard AWS credential chain (profiles, SSO, environment).
    #[arg(
        long,
        env = "KEYROLL_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The API's AWS region (default: from the URL, else AWS_REGION or the profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Print keyroll's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keys: list, show, create, update, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Rotate a key now or later; `--emergency` retires every other secret at once.
    Rotate(RotateArgs),
    /// Rotations: in progress, a key's, one; complete, extend, cancel.
    #[command(subcommand)]
    Rotations(RotationsCommand),
    /// Where every active key stands against the maximum-age rule.
    Compliance(ComplianceArgs),
    /// A key's audit trail; `--verify` checks its hash chain (exit 7 when broken).
    Audit(AuditArgs),
    /// Import keys from a CSV file (the API's import columns), resumably.
    Import(ImportArgs),
    /// An organisation's notification settings.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Keys, filtered; every page unless --limit.
    List {
        #[arg(long = "org")]
        organization: Option<String>,
        /// active, revoked or expired.
        #[arg(long)]
        status: Option<String>,
        /// Keys whose secrets start with this display prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many keys.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One key with its secret versions.
    Show { key: String },
    /// Issue a key; its secret is printed once.
    Create {
        #[arg(long = "org")]
        organization: String,
        #[arg(long)]
        name: String,
        /// Requests per second.
        #[arg(long)]
        rate_limit: u32,
        /// A scope (repeat for more).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// standard or embedded.
        #[arg(long)]
        class: Option<String>,
        /// When the whole key stops verifying (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Change a key's name, rate limit, scopes, expiry or labels.
    Update {
        key: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        rate_limit: Option<u32>,
        /// The key's scopes, replacing the old ones (repeat for more).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// RFC 3339, or `never`.
        #[arg(long)]
        expires_at: Option<String>,
        /// A label `name=value` set on the key (repeat for more); `name=` removes one.
        /// Labels not named are kept.
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Revoke a key: every secret stops verifying now.
    Revoke {
        key: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    pub key: String,
    /// How long the old secret keeps working, e.g. 72h, 30m (default: the class's).
    #[arg(long, value_parser = parse_duration)]
    pub grace: Option<u64>,
    /// Start at this time (RFC 3339) instead of now.
    #[arg(long, conflicts_with = "emergency")]
    pub at: Option<String>,
    /// The secret may have leaked: every other secret stops within the grace (0 = now).
    #[arg(long, requires = "reason")]
    pub emergency: bool,
    /// Why, for the audit trail and the customer's notification (required with
    /// --emergency).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RotationsCommand {
    /// Rotations in progress, soonest due first; or a key's, newest first.
    List {
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One rotation.
    Show { rotation: String },
    /// End the grace now: the old secret is revoked.
    Complete {
        rotation: String,
        /// Even while the new secret has not been delivered.
        #[arg(long)]
        force: bool,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Give the old secret more time, within the class's maximum.
    Extend {
        rotation: String,
        /// How much longer, e.g. 24h.
        #[arg(long, value_parser = parse_duration)]
        by: u64,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: String,
    },
    /// Cancel a rotation that has not started.
    Cancel {
        rotation: String,
        /// Even though its held new secret was already handed out (it is revoked, and
        /// a client already using it breaks).
        #[arg(long)]
        force: bool,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ComplianceArgs {
    #[arg(long = "org")]
    pub organization: Option<String>,
    /// compliant, rotation_in_progress, rotation_blocked or overdue.
    #[arg(long)]
    pub status: Option<String>,
    /// Write the whole report as CSV to this file (every page).
    #[arg(long)]
    pub csv: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    pub key: String,
    /// Check the hash chain and its head; exit 7 when it does not verify.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A CSV file with the import's header row.
    pub file: std::path::PathBuf,
    /// Rows per request (at most 1,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub batch: u32,
    /// Start from the first row even if an earlier run left progress.
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Contacts: list, add, remove.
    Contacts {
        organization: String,
        #[command(subcommand)]
        command: ContactsCommand,
    },
    /// Webhook endpoints: list, add, remove, rotate-secret.
    Webhooks {
        organization: String,
        #[command(subcommand)]
        command: WebhooksCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    List,
    Add {
        email: String,
        /// A notification type wanted (repeat; all when left out).
        #[arg(long = "type")]
        types: Vec<String>,
    },
    Remove {
        contact: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    List,
    /// Add an endpoint; its signing secret is printed once.
    Add {
        #[arg(value_name = "URL")]
        endpoint: String,
        #[arg(long = "type")]
        types: Vec<String>,
    },
    Remove {
        webhook: String,
    },
    /// A new signing secret (printed once); the old one keeps signing for a day.
    RotateSecret {
        webhook: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
