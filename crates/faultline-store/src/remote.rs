//! Where segments live: `<data_dir>/segments` by default, or S3-compatible object storage named by
//! a URL (`s3://bucket/prefix`), as Tempo, Loki and Quickwit keep theirs. The write-ahead log stays
//! on local disk either way; a segment is one object, written by one PUT, so readers see it only
//! once it is whole.
//!
//! Settings come the way every AWS tool takes them: the environment first (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...), then the
//! profile (`AWS_PROFILE`, else `default`) of the shared files `~/.aws/credentials` and
//! `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`), then the instance's role.

use crate::StoreError;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Retries of one request on throttling (503 SlowDown, 429), server errors and time-outs: S3 asks
/// clients to back off and retry, and a flush that gives up keeps its data in the log anyway.
pub const MAX_RETRIES: usize = 10;
/// First pause before a retry, doubled each time up to [`BACKOFF_MAX`] (with jitter).
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between two retries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// How long one request may be retried in all before the error is returned.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(180);
/// Time-out of one request: a segment is a few MB, which a healthy link moves in well under this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time-out of a connection's set-up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A storage location as the user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `<data_dir>/segments` (no `--storage`, or `file://` with no path).
    Local,
    /// A directory of the local file system (`file:///path` or a plain path).
    Dir(PathBuf),
    /// `s3://bucket/prefix` (or `s3a://`).
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parses `--storage`: `s3://bucket/prefix`, `file:///dir`, or a directory path.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        let bad = |why: &str| StoreError::Config(format!("storage {url:?}: {why}"));
        if let Some(rest) = url.strip_prefix("s3://").or_else(|| url.strip_prefix("s3a://")) {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket: write s3://bucket or s3://bucket/prefix"));
            }
            if !bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
                return Err(bad("a bucket name has lower-case letters, digits, '-' and '.' only"));
            }
            let prefix = prefix.trim_matches('/').to_string();
            if prefix.split('/').any(|p| p == ".." || p == ".") {
                return Err(bad("a prefix may not hold '.' or '..' parts"));
            }
            return Ok(Location::S3 { bucket: bucket.to_string(), prefix });
        }
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(if path.is_empty() { Location::Local } else { Location::Dir(path.into()) });
        }
        if url.contains("://") {
            return Err(bad("unknown scheme: use s3://bucket/prefix or a directory"));
        }
        Ok(Location::Dir(url.into()))
    }

    /// The object store for this location, `None` for the data directory's own.
    pub fn open(&self) -> Result<Option<Arc<dyn ObjectStore>>, StoreError> {
        match self {
            Location::Local => Ok(None),
            Location::Dir(d) => {
                std::fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
                crate::quarantine::remove_staging_files(d);
                Ok(Some(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(d)?)))
            }
            Location::S3 { bucket, prefix } => {
                let s3 = s3_builder(bucket, &AwsSettings::from_env_and_files())
                    .build()
                    .map_err(|e| StoreError::Config(format!("s3://{bucket}: {e}")))?;
                let s3: Arc<dyn ObjectStore> = Arc::new(s3);
                Ok(Some(if prefix.is_empty() {
                    s3
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
                }))
            }
        }
    }
}

/// Lists the location once, so that a wrong bucket, endpoint or credentials is said in one line
/// at start ("s3://b/p: NoSuchBucket: The specified bucket does not exist"), not as the chain of
/// retries a failed listing carries.
pub async fn probe(objects: &Arc<dyn ObjectStore>, location: &Location) -> Result<(), StoreError> {
    use futures::StreamExt;
    match objects.list(None).next().await {
        None | Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(StoreError::Config(format!("{location}: {}", short_error(&e)))),
    }
}

/// The part of an object store error that says what is wrong: S3's own code and message where the
/// server answered, else the innermost cause (a refused connection, a time-out).
pub fn short_error(e: &(dyn std::error::Error + 'static)) -> String {
    let text = e.to_string();
    let between = |open: &str, close: &str| {
        let start = text.find(open)? + open.len();
        Some(text[start..].split(close).next()?.to_string())
    };
    if let Some(code) = between("<Code>", "</Code>") {
        let message = between("<Message>", "</Message>").unwrap_or_default();
        return format!("{code}: {message}").trim_end_matches(": ").to_string();
    }
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let retries = text.split_once("after ").and_then(|(_, r)| r.split_once(" retries")).map(|(n, _)| n);
    match retries {
        Some(n) => format!("{inner} (after {n} retries)"),
        None => inner.to_string(),
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local => write!(f, "the data directory"),
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

fn s3_builder(bucket: &str, aws: &AwsSettings) -> AmazonS3Builder {
    let retry = RetryConfig {
        backoff: BackoffConfig { init_backoff: BACKOFF_FIRST, max_backoff: BACKOFF_MAX, base: 2.0 },
        max_retries: MAX_RETRIES,
        retry_timeout: RETRY_TIMEOUT,
    };
    let client = ClientOptions::new().with_timeout(REQUEST_TIMEOUT).with_connect_timeout(CONNECT_TIMEOUT);
    let mut b = AmazonS3Builder::new().with_bucket_name(bucket).with_retry(retry).with_client_options(client);
    for (key, value) in &aws.settings {
        b = b.with_config(*key, value);
    }
    // An endpoint the user wrote as http:// (a test server, MinIO on a private network) is meant.
    if aws.settings.iter().any(|(k, v)| *k == AmazonS3ConfigKey::Endpoint && v.starts_with("http://")) {
        b = b.with_allow_http(true);
    }
    b
}

/// The AWS settings that apply: environment over the profile's files.
#[derive(Debug, Default)]
struct AwsSettings {
    settings: Vec<(AmazonS3ConfigKey, String)>,
}

impl AwsSettings {
    fn from_env_and_files() -> AwsSettings {
        let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let file = |var: &str, default: &str| {
            env.get(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let read = |p: Option<PathBuf>| p.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        let credentials = read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"));
        let config = read(file("AWS_CONFIG_FILE", "config"));
        Self::resolve(&env, &credentials, &config)
    }

    /// `env` (the `AWS_*` variables) wins over the profile's `credentials` and `config` files.
    fn resolve(env: &BTreeMap<String, String>, credentials: &str, config: &str) -> AwsSettings {
        let profile = env.get("AWS_PROFILE").map(String::as_str).unwrap_or("default");
        let mut from_files = ini_section(config, &config_section_name(profile));
        from_files.extend(ini_section(credentials, profile));
        let mut settings = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let from_env = env.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone()));
        for (key, value) in from_env.chain(from_files) {
            let Ok(k) = key.parse::<AmazonS3ConfigKey>() else { continue };
            if seen.insert(k.as_ref().to_string()) {
                settings.push((k, value));
            }
        }
        AwsSettings { settings }
    }
}

/// In `~/.aws/config` a profile's section is `[profile name]`, but the default's is `[default]`.
fn config_section_name(profile: &str) -> String {
    if profile == "default" {
        profile.to_string()
    } else {
        format!("profile {profile}")
    }
}

/// The `key = value` pairs of section `[name]` of an INI text (the AWS shared files' format), in
/// order; `#` and `;` start comments.
fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
        } else if let (true, Some((k, v))) = (inside, line.split_once('=')) {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_prefix_or_a_directory() {
        let s3 = |b: &str, p: &str| Location::S3 { bucket: b.into(), prefix: p.into() };
        assert_eq!(Location::parse("s3://traces").unwrap(), s3("traces", ""));
        assert_eq!(Location::parse("s3://traces/prod/eu/").unwrap(), s3("traces", "prod/eu"));
        assert_eq!(Location::parse("s3a://traces/x").unwrap(), s3("traces", "x"));
        assert_eq!(Location::parse("file:///var/seg").unwrap(), Location::Dir("/var/seg".into()));
        assert_eq!(Location::parse("/var/seg").unwrap(), Location::Dir("/var/seg".into()));
        for bad in ["s3://", "s3:///x", "s3://Bad_Bucket/x", "s3://b/../x", "gs://b/x"] {
            let e = Location::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        assert_eq!(s3("traces", "prod").to_string(), "s3://traces/prod");
    }

    #[test]
    fn the_environment_wins_over_the_profile_and_the_profile_is_chosen_by_name() {
        let credentials = "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\
                           [ci]\naws_access_key_id = CI\n# comment\naws_secret_access_key = cisecret\n";
        let config = "[default]\nregion = us-east-1\n[profile ci]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:9000\n";
        let get = |s: &AwsSettings, k: AmazonS3ConfigKey| {
            s.settings.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone())
        };
        let env = BTreeMap::from([("AWS_PROFILE".to_string(), "ci".to_string())]);
        let s = AwsSettings::resolve(&env, credentials, config);
        assert_eq!(get(&s, AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("CI"));
        assert_eq!(get(&s, AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-3"));
        assert_eq!(get(&s, AmazonS3ConfigKey::Endpoint).as_deref(), Some("http://127.0.0.1:9000"));
        let env = BTreeMap::from([("AWS_ACCESS_KEY_ID".to_string(), "ENV".to_string())]);
        let s = AwsSettings::resolve(&env, credentials, config);
        assert_eq!(get(&s, AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("ENV"));
        assert_eq!(get(&s, AmazonS3ConfigKey::SecretAccessKey).as_deref(), Some("defsecret"));
        assert_eq!(get(&s, AmazonS3ConfigKey::Region).as_deref(), Some("us-east-1"));
    }

    #[test]
    fn errors_are_said_in_one_line() {
        let answered = object_store::Error::Generic {
            store: "S3",
            source: "Error performing list request: 404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>".into(),
        };
        assert_eq!(short_error(&answered), "NoSuchBucket: The specified bucket does not exist");
        let io =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let unreachable = object_store::Error::Generic { store: "S3", source: Box::new(io) };
        assert_eq!(short_error(&unreachable), "Connection refused (os error 111)");
    }

    #[test]
    fn an_http_endpoint_is_allowed_and_the_store_builds_without_network() {
        let aws = AwsSettings {
            settings: vec![
                (AmazonS3ConfigKey::Endpoint, "http://127.0.0.1:1".into()),
                (AmazonS3ConfigKey::Region, "us-east-1".into()),
            ],
        };
        assert!(s3_builder("b", &aws).build().is_ok());
    }
}
