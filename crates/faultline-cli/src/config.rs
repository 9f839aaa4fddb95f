//! The config file of `faultline serve` (TOML), layered: the file, then the environment
//! (`FAULTLINE_*`), then the flags, each overriding the one before. `faultline config check`
//! validates a file, naming the line of what is wrong. Secrets never sit in the file: a token is its
//! SHA-256 there (`faultline token new` makes one), or the name of an environment variable or a
//! file that holds the secret.
//!
//! ```toml
//! [server]
//! data_dir = "/var/lib/faultline"
//! api_addr = "0.0.0.0:8080"
//! retention = "7d"
//!
//! [[tokens]]
//! name = "collector"
//! scopes = ["ingest"]
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//!
//! [[tokens]]
//! name = "oncall"
//! scopes = ["read"]
//! secret_env = "ONCALL_TOKEN"
//! tenants = ["acme"]        # only X-Scope-OrgID: acme
//!
//! [tenants]
//! required = true           # every request names its tenant
//! ingest_rate = 50000       # records per second, each tenant
//!
//! [tenants.limits.acme]
//! ingest_rate = 200000
//! max_body = "16MB"
//! ```

use anyhow::{bail, Context};
use faultline_server::auth::{Scope, Token, Tokens};
use faultline_server::tenant::{TenantConfig, TenantLimits};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A value checked when the file is read, kept as written (the flags' syntax).
#[derive(Debug, Clone)]
pub struct Checked(pub String);

fn checked<'de, D: serde::Deserializer<'de>>(
    d: D,
    check: fn(&str) -> anyhow::Result<()>,
) -> Result<Option<Checked>, D::Error> {
    let s = String::deserialize(d)?;
    check(&s).map_err(|e| serde::de::Error::custom(format!("{e:#}")))?;
    Ok(Some(Checked(s)))
}

fn addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Checked>, D::Error> {
    checked(d, |s| crate::units::addr(s, "address").map(|_| ()))
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Checked>, D::Error> {
    checked(d, |s| crate::units::duration(s, "duration").map(|_| ()))
}

fn storage<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Checked>, D::Error> {
    checked(d, |s| faultline_store::remote::Location::parse(s).map(|_| ()).map_err(anyhow::Error::from))
}

fn peers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Checked>, D::Error> {
    checked(d, |s| faultline_server::peers::PeerList::parse(s).map(|_| ()).map_err(anyhow::Error::msg))
}

fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Checked>, D::Error> {
    checked(d, |s| crate::units::parse_bytes(s).map(|_| ()))
}

/// `[server]`: the flags of `faultline serve`, by the same names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub data_dir: Option<PathBuf>,
    /// Where segments go: `s3://bucket/prefix` or a directory (`faultline serve --storage`).
    #[serde(default, deserialize_with = "storage")]
    pub storage: Option<Checked>,
    #[serde(default, deserialize_with = "duration")]
    pub refresh_interval: Option<Checked>,
    /// Other nodes over the same bucket (`faultline serve --peers`).
    #[serde(default, deserialize_with = "peers")]
    pub peers: Option<Checked>,
    #[serde(default, deserialize_with = "addr")]
    pub grpc_addr: Option<Checked>,
    #[serde(default, deserialize_with = "addr")]
    pub otlp_http_addr: Option<Checked>,
    #[serde(default, deserialize_with = "addr")]
    pub api_addr: Option<Checked>,
    #[serde(default, deserialize_with = "duration")]
    pub retention: Option<Checked>,
    #[serde(default, deserialize_with = "size")]
    pub max_disk: Option<Checked>,
    #[serde(default, deserialize_with = "size")]
    pub max_body: Option<Checked>,
    #[serde(default, deserialize_with = "duration")]
    pub query_timeout: Option<Checked>,
    #[serde(default, deserialize_with = "size")]
    pub query_memory: Option<Checked>,
    #[serde(default, deserialize_with = "duration")]
    pub flush_interval: Option<Checked>,
    #[serde(default, deserialize_with = "duration")]
    pub compact_interval: Option<Checked>,
    #[serde(default, deserialize_with = "size")]
    pub max_memory: Option<Checked>,
    /// Serve a non-loopback address without tokens.
    pub insecure: Option<bool>,
    /// TLS certificate chain and key (PEM), for every listener.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// `[[tokens]]`: one of `sha256`, `secret_env`, `secret_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub sha256: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// The tenants it may use; none: any.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// `[tenants]`: multi-tenancy by `X-Scope-OrgID` (`faultline_server::tenant`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsSection {
    /// Refuse requests that name no tenant.
    pub required: Option<bool>,
    /// Tenants held open at once.
    pub max_open: Option<usize>,
    /// Records per second each tenant may send.
    pub ingest_rate: Option<f64>,
    /// Per-tenant limits, by tenant id.
    #[serde(default)]
    pub limits: std::collections::BTreeMap<String, toml::Spanned<TenantLimitsEntry>>,
}

/// `[tenants.limits.<id>]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimitsEntry {
    pub ingest_rate: Option<f64>,
    #[serde(default, deserialize_with = "size")]
    pub max_body: Option<Checked>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub tokens: Vec<toml::Spanned<TokenEntry>>,
    #[serde(default)]
    pub tenants: TenantsSection,
    /// Where it was read from, and its text (for line numbers).
    #[serde(skip)]
    source: Option<(PathBuf, String)>,
}

/// Line (from 1) of a byte offset in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

impl ConfigFile {
    /// Reads and checks a file; errors name the file and the line.
    pub fn read(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        ConfigFile::parse(path, text)
    }

    /// Parses and checks a file's text (`path` names it in errors).
    pub fn parse(path: &Path, text: String) -> anyhow::Result<ConfigFile> {
        let mut c: ConfigFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        c.source = Some((path.to_path_buf(), text));
        c.tokens()?;
        c.tenant_config()?;
        if c.server.tls_cert.is_some() != c.server.tls_key.is_some() {
            bail!("{}: [server] needs both tls_cert and tls_key, or neither", path.display());
        }
        Ok(c)
    }

    fn at(&self, span: std::ops::Range<usize>) -> String {
        match &self.source {
            Some((p, text)) => format!("{}, line {}", p.display(), line_of(text, span.start)),
            None => "config".to_string(),
        }
    }

    /// The tokens of the file, secrets read from the environment or files and hashed.
    pub fn tokens(&self) -> anyhow::Result<Vec<Token>> {
        let mut out = Vec::new();
        for t in &self.tokens {
            let at = self.at(t.span());
            let e = t.get_ref();
            if e.name.trim().is_empty() {
                bail!("{at}: a token needs a name");
            }
            if e.scopes.is_empty() {
                bail!("{at}: token {:?} has no scopes (ingest, read, admin)", e.name);
            }
            let token = match (&e.sha256, &e.secret_env, &e.secret_file) {
                (Some(h), None, None) => Token::from_hash(&e.name, e.scopes.clone(), h)
                    .map_err(|m| anyhow::anyhow!("{at}: {m}"))?,
                (None, Some(var), None) => {
                    let secret = std::env::var(var).with_context(|| {
                        format!("{at}: token {:?}: environment variable {var} is not set", e.name)
                    })?;
                    Token::from_secret(&e.name, e.scopes.clone(), &secret)
                }
                (None, None, Some(file)) => {
                    let secret = std::fs::read_to_string(file).with_context(|| {
                        format!("{at}: token {:?}: cannot read {}", e.name, file.display())
                    })?;
                    Token::from_secret(&e.name, e.scopes.clone(), &secret)
                }
                _ => bail!("{at}: token {:?} needs exactly one of sha256, secret_env, secret_file", e.name),
            };
            for t in &e.tenants {
                faultline_server::tenant::parse_tenant_id(t).map_err(|m| anyhow::anyhow!("{at}: {m}"))?;
            }
            out.push(token.for_tenants(e.tenants.clone()));
        }
        Ok(out)
    }
}

impl ConfigFile {
    /// The `[tenants]` section as the server takes it, checked.
    pub fn tenant_config(&self) -> anyhow::Result<TenantConfig> {
        let t = &self.tenants;
        let positive = |rate: Option<f64>, at: &str| match rate {
            Some(r) if !(r.is_finite() && r > 0.0) => bail!("{at}: ingest_rate must be a positive number"),
            _ => Ok(rate),
        };
        let mut cfg = TenantConfig {
            required: t.required.unwrap_or(false),
            max_tenants: t.max_open.unwrap_or(faultline_server::tenant::DEFAULT_MAX_TENANTS),
            ..TenantConfig::default()
        };
        positive(t.ingest_rate, "[tenants]")?;
        for (id, entry) in &t.limits {
            let at = self.at(entry.span());
            faultline_server::tenant::parse_tenant_id(id).map_err(|m| anyhow::anyhow!("{at}: {m}"))?;
            let e = entry.get_ref();
            let max_body_bytes = match &e.max_body {
                Some(c) => Some(crate::units::parse_bytes(&c.0)? as usize),
                None => None,
            };
            let ingest_rate = positive(e.ingest_rate, &at)?;
            cfg.limits.insert(id.clone(), TenantLimits { ingest_rate, max_body_bytes });
        }
        Ok(cfg)
    }
}

/// Tokens from `FAULTLINE_TOKENS`: `name:scope[+scope]:secret`, comma-separated.
pub fn tokens_from_env(value: &str) -> anyhow::Result<Vec<Token>> {
    let mut out = Vec::new();
    for (k, item) in value.split(',').map(str::trim).filter(|s| !s.is_empty()).enumerate() {
        let mut parts = item.splitn(3, ':');
        let (Some(name), Some(scopes), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("FAULTLINE_TOKENS, item {}: expected name:scope[+scope]:secret", k + 1);
        };
        let scopes = scopes
            .split('+')
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("FAULTLINE_TOKENS, token {name:?}: {e}"))?;
        if secret.trim().is_empty() {
            bail!("FAULTLINE_TOKENS, token {name:?}: empty secret");
        }
        out.push(Token::from_secret(name, scopes, secret));
    }
    Ok(out)
}

/// All tokens: the file's, then the environment's.
pub fn all_tokens(file: &ConfigFile) -> anyhow::Result<Tokens> {
    let mut t = file.tokens()?;
    if let Ok(v) = std::env::var("FAULTLINE_TOKENS") {
        t.extend(tokens_from_env(&v)?);
    }
    Ok(Tokens::new(t))
}

/// `faultline config check`: what the file sets, or what is wrong with it.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let c = ConfigFile::read(path)?;
    let tokens = c.tokens()?;
    let s = &c.server;
    let set: Vec<&str> = [
        ("data_dir", s.data_dir.is_some()),
        ("storage", s.storage.is_some()),
        ("refresh_interval", s.refresh_interval.is_some()),
        ("peers", s.peers.is_some()),
        ("grpc_addr", s.grpc_addr.is_some()),
        ("otlp_http_addr", s.otlp_http_addr.is_some()),
        ("api_addr", s.api_addr.is_some()),
        ("retention", s.retention.is_some()),
        ("max_disk", s.max_disk.is_some()),
        ("max_body", s.max_body.is_some()),
        ("query_timeout", s.query_timeout.is_some()),
        ("query_memory", s.query_memory.is_some()),
        ("flush_interval", s.flush_interval.is_some()),
        ("compact_interval", s.compact_interval.is_some()),
        ("max_memory", s.max_memory.is_some()),
        ("insecure", s.insecure.is_some()),
        ("tls_cert", s.tls_cert.is_some()),
        ("tls_key", s.tls_key.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    println!("{}: ok", path.display());
    println!("  server: {}", if set.is_empty() { "defaults".to_string() } else { set.join(", ") });
    println!(
        "  tokens: {}",
        if tokens.is_empty() {
            "none (the server is open: loopback only, unless insecure)".to_string()
        } else {
            tokens.iter().map(|t| format!("{} {:?}", t.name, t.scopes)).collect::<Vec<_>>().join(", ")
        }
    );
    let t = c.tenant_config()?;
    println!(
        "  tenants: {}{}{}",
        if t.required { "required" } else { "optional (no X-Scope-OrgID: the default tenant)" },
        c.tenants.ingest_rate.map(|r| format!(", {r} records/s each")).unwrap_or_default(),
        if t.limits.is_empty() {
            String::new()
        } else {
            format!(", own limits for {}", t.limits.keys().cloned().collect::<Vec<_>>().join(", "))
        }
    );
    Ok(())
}

/// `faultline token new`: a random secret and the config lines that accept it.
pub fn new_token(name: &str, scopes: &[Scope]) -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let secret = hex::encode(bytes);
    let scopes: Vec<String> =
        scopes.iter().map(|s| format!("{:?}", format!("{s:?}").to_lowercase())).collect();
    format!(
        "secret (give it to the client; it is shown once): {secret}\n\n[[tokens]]\nname = {name:?}\nscopes = [{}]\nsha256 = \"{}\"\n",
        scopes.join(", "),
        faultline_server::auth::hash_secret(&secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("faultline.toml");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn a_valid_file_with_tokens_of_each_kind() {
        let hash = faultline_server::auth::hash_secret("abc");
        let (_d, p) = write(&format!(
            "[server]\napi_addr = \"0.0.0.0:8080\"\nretention = \"3d\"\nmax_body = \"16MB\"\n\n\
             [[tokens]]\nname = \"collector\"\nscopes = [\"ingest\"]\nsha256 = \"{hash}\"\n"
        ));
        let c = ConfigFile::read(&p).unwrap();
        assert_eq!(c.server.api_addr.as_ref().unwrap().0, "0.0.0.0:8080");
        let t = Tokens::new(c.tokens().unwrap());
        assert!(t.check(Some("Bearer abc"), Scope::Ingest, None).is_ok());
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("[server]\nretention = \"soon\"\n", "line 2"),
            ("[server]\napi_addr = \"localhost\"\n", "line 2"),
            ("[server]\nmax_body = \"lots\"\n", "line 2"),
            ("[server]\n\nstorage = \"gs://bucket/x\"\n", "line 3"),
            ("[server]\nport = 1\n", "line 2"),
            ("\n[[tokens]]\nname = \"x\"\nscopes = [\"root\"]\nsha256 = \"00\"\n", "line 4"),
            ("\n\n[[tokens]]\nname = \"x\"\nscopes = [\"read\"]\nsha256 = \"00\"\n", "line 3"),
            ("[[tokens]]\nname = \"x\"\nscopes = [\"read\"]\n", "line 1"),
            (
                "[[tokens]]\nname = \"x\"\nscopes = [\"read\"]\nsha256 = \"00\"\ntenants = [\"../etc\"]\n",
                "line 1",
            ),
            ("[tenants]\nrequired = true\n\n[tenants.limits.\"a/b\"]\ningest_rate = 5\n", "line 4"),
            ("[tenants.limits.acme]\ningest_rate = -5\n", "line 1"),
            ("[tenants.limits.acme]\nmax_body = \"huge\"\n", "line 2"),
        ];
        for (text, line) in cases {
            let (_d, p) = write(text);
            let e = format!("{:#}", ConfigFile::read(&p).unwrap_err());
            assert!(e.contains(line), "{text:?}: {e}");
        }
    }

    #[test]
    fn tokens_from_the_environment() {
        let t = Tokens::new(tokens_from_env("ci:ingest+read:s1, ops:admin:s2").unwrap());
        assert_eq!(t.check(Some("Bearer s1"), Scope::Read, None), Ok(Some("ci")));
        assert_eq!(t.check(Some("Bearer s2"), Scope::Ingest, None), Ok(Some("ops")));
        assert!(tokens_from_env("ci:write:s1").is_err());
        assert!(tokens_from_env("ci:read").is_err());
    }

    #[test]
    fn a_new_token_is_accepted_by_its_own_lines() {
        let out = new_token("oncall", &[Scope::Read]);
        let secret = out.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
        let (_d, p) = write(out.split_once("\n\n").unwrap().1);
        let t = Tokens::new(ConfigFile::read(&p).unwrap().tokens().unwrap());
        assert_eq!(t.check(Some(&format!("Bearer {secret}")), Scope::Read, None), Ok(Some("oncall")));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Lines a config file is made of, right and wrong, shuffled into files.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[server]".to_string()),
            Just("[[tokens]]".to_string()),
            "[a-z_]{1,16} = \"[ -~]{0,24}\"".prop_map(|s| s),
            "(api_addr|grpc_addr|retention|max_body|query_timeout|insecure|name|scopes|sha256|secret_env) = [\\[\\]\" a-z0-9.:]{0,30}",
            "[ -~]{0,40}",
        ]
    }

    proptest! {
        /// Any text is read or refused, never a panic; a refusal names the file.
        #[test]
        fn any_text_is_read_or_refused_with_the_file_named(lines in proptest::collection::vec(line(), 0..12)) {
            let text = lines.join("\n");
            if let Err(e) = ConfigFile::parse(Path::new("p.toml"), text) {
                let shown = format!("{e:#}");
                prop_assert!(shown.contains("p.toml"), "{}", shown);
            }
        }
    }
}
