//! `[database]`: where the store lives, and the URL kept as a secret (it may hold a password).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://…`, which may hold a
    /// password: see [`DatabaseUrl`].
    pub url: DatabaseUrl,
    /// Connections for reads (SQLite: writes always use one dedicated connection).
    pub max_connections: u32,
    /// SQLite `synchronous` pragma: `full` (default; a committed write survives power loss) or
    /// `normal` (faster; a crash of the machine may lose the last transactions, a crash of the
    /// process loses nothing).
    pub sqlite_synchronous: SqliteSync,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DatabaseUrl::from("sqlite://cic-bridge.db"),
            max_connections: 8,
            sqlite_synchronous: SqliteSync::Full,
        }
    }
}

/// The database URL. A PostgreSQL URL may carry a password (`postgres://user:PASSWORD@host/db`,
/// or `?password=`), so the URL is a secret: only [`DatabaseUrl::expose`] gives it whole (to
/// the store, which connects with it), while `Debug`, `Display` and `Serialize` give it with
/// the password replaced by `***`. Serializing happens only for figment's defaults, whose URL
/// has no password.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// The URL with its password, to connect with. Never log or format it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        DatabaseUrl(SecretString::from(url))
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        DatabaseUrl(SecretString::from(url))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// `url` without the password of its user info or of a `password` query parameter (sqlx
/// reads both), for messages.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &base[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &base[..s], &base[at + 1..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}
