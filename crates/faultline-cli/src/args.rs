//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// faultline finds out why a distributed system is failing, from the OpenTelemetry traces, logs and
/// metrics it already emits, plus its change events.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v, -vv); FAULTLINE_LOG overrides (tracing filter syntax).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: OTLP receivers (gRPC 4317, HTTP 4318), API on 8080.
    Serve(ServeArgs),
    /// Import telemetry files into the data directory (no server needed).
    Import(ImportArgs),
    /// Look at traces.
    Traces(TracesArgs),
    /// Search logs.
    Logs(LogsArgs),
    /// Record and list change events (deploys, config changes, ...).
    Changes(ChangesArgs),
    /// Show what the data directory or server holds.
    Status(SourceArgs),
    /// Start the server, stream a simulated incident into it, investigate it, and keep serving.
    Demo(DemoArgs),
    /// Find out what broke, where it started, what changed: the root cause, with evidence.
    Investigate(InvestigateArgs),
    /// Has the system recovered since a fix or rollback? Compares the window since then with the
    /// healthy baseline before the incident.
    Verify(VerifyArgs),
    /// Draft a blameless post-mortem (Markdown with SVG charts) from an investigation.
    Postmortem(PostmortemArgs),
    /// What sets two groups of requests apart: failing vs succeeding (default), slow vs the rest,
    /// a window vs a baseline, two filters, or two traces span by span.
    Diff(DiffArgs),
    /// Mine log templates (one message per line; stdin when no file).
    Templates(TemplatesArgs),
    /// Simulate a distributed system that fails in a known way, and write or stream its telemetry.
    Sim(SimArgs),
    /// Flush, merge small segments and apply retention in a data directory now (the server does
    /// this in the background).
    Compact {
        /// Data directory.
        #[arg(long, env = "FAULTLINE_DATA_DIR", default_value = "./faultline-data")]
        data_dir: PathBuf,
    },
    /// Check a config file of `faultline serve`: what it sets, or what is wrong and on which line.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Make access tokens for a server that asks for them.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell), generated from this CLI.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (roff), one per command, generated from this CLI.
    Man {
        /// Directory to write `faultline.1`, `faultline-serve.1`, ... into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file (TOML).
    Check {
        /// The file [default: $FAULTLINE_CONFIG, else ./faultline.toml].
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// A new random secret, and the config lines (with its SHA-256, never the secret) that accept it.
    New {
        /// The token's name, for people (who holds it).
        #[arg(long)]
        name: String,
        /// What it may do: ingest, read, admin (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<faultline_server::auth::Scope>,
    },
    /// The SHA-256 of a secret read from standard input, as a config file keeps it.
    Hash,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
}

/// Where to read from: a data directory, or a running server.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Data directory.
    #[arg(long, env = "FAULTLINE_DATA_DIR", default_value = "./faultline-data", global = true)]
    pub data_dir: PathBuf,
    /// Read from a running faultline server instead of the data directory (e.g. http://127.0.0.1:8080).
    #[arg(long, env = "FAULTLINE_SERVER", global = true)]
    pub server: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML, see docs/config.md): its settings give way to the environment's, and
    /// those to the flags.
    #[arg(long, env = "FAULTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./faultline-data].
    #[arg(long, env = "FAULTLINE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where segments go: s3://bucket/prefix (S3-compatible object storage; endpoint, region and
    /// credentials from the AWS_* environment or ~/.aws files) or a directory. The write-ahead log
    /// stays in the data directory [default: <data-dir>/segments].
    #[arg(long, env = "FAULTLINE_STORAGE")]
    pub storage: Option<String>,
    /// With --storage s3://..., how often the list of segments is read again from the bucket, to
    /// take up what other nodes flushed [default: 10s].
    #[arg(long, env = "FAULTLINE_REFRESH_INTERVAL")]
    pub refresh_interval: Option<String>,
    /// The other nodes over the same bucket, asked for their unflushed rows on every read: their
    /// API addresses (http://10.0.0.2:8080,http://10.0.0.3:8080) or dns:name:port (every address
    /// of a name, as a headless Kubernetes service gives). A token for them: FAULTLINE_PEER_TOKEN.
    #[arg(long, env = "FAULTLINE_PEERS")]
    pub peers: Option<String>,
    /// OTLP/gRPC address ("off" to disable) [default: 127.0.0.1:4317].
    #[arg(long, env = "FAULTLINE_GRPC_ADDR")]
    pub grpc_addr: Option<String>,
    /// OTLP/HTTP address ("off" to disable; the API address serves /v1/* too) [default:
    /// 127.0.0.1:4318].
    #[arg(long, env = "FAULTLINE_OTLP_HTTP_ADDR")]
    pub otlp_http_addr: Option<String>,
    /// API and UI address [default: 127.0.0.1:8080].
    #[arg(long, env = "FAULTLINE_API_ADDR")]
    pub api_addr: Option<String>,
    /// Drop data older than this (e.g. 7d, 12h; "off" keeps everything) [default: 7d].
    #[arg(long, env = "FAULTLINE_RETENTION")]
    pub retention: Option<String>,
    /// Drop the oldest data while segments take more than this many bytes (e.g. 50GB).
    #[arg(long, env = "FAULTLINE_MAX_DISK")]
    pub max_disk: Option<String>,
    /// Largest accepted request body, decompressed (e.g. 64MB) [default: 64MB].
    #[arg(long, env = "FAULTLINE_MAX_BODY")]
    pub max_body: Option<String>,
    /// Stop a read (search, trace, investigation) still running after this long [default: 30s].
    #[arg(long, env = "FAULTLINE_QUERY_TIMEOUT")]
    pub query_timeout: Option<String>,
    /// Memory for the rows one read (trace, investigation, diff) may hold (e.g. 2GB) [default:
    /// 2GB].
    #[arg(long, env = "FAULTLINE_QUERY_MEMORY")]
    pub query_memory: Option<String>,
    /// Flush memory to Parquet segments at least this often [default: 60s].
    #[arg(long, env = "FAULTLINE_FLUSH_INTERVAL")]
    pub flush_interval: Option<String>,
    /// Memory for data not yet in segments (e.g. 2GB); past it, writers are told to retry
    /// [default: 2GB].
    #[arg(long, env = "FAULTLINE_MAX_MEMORY")]
    pub max_memory: Option<String>,
    /// How often small segments are merged and retention applied [default: 60s].
    #[arg(long, env = "FAULTLINE_COMPACT_INTERVAL")]
    pub compact_interval: Option<String>,
    /// Serve TLS on every listener with this PEM certificate chain (with --tls-key). The files are
    /// read again when they change: a renewed certificate needs no restart.
    #[arg(long, env = "FAULTLINE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FAULTLINE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve an address other than loopback without tokens: anyone who reaches it may read and
    /// write. Without it, such a server refuses to start until tokens are configured (the config
    /// file's [[tokens]], or FAULTLINE_TOKENS=name:scope[+scope]:secret,...).
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Data directory.
    #[arg(long, env = "FAULTLINE_DATA_DIR", default_value = "./faultline-data")]
    pub data_dir: PathBuf,
    /// Where segments go, as `faultline serve --storage` (s3://bucket/prefix or a directory).
    #[arg(long, env = "FAULTLINE_STORAGE")]
    pub storage: Option<String>,
    /// Service name for logs that carry none (plain-text logs).
    #[arg(long)]
    pub service: Option<String>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Memory the import may hold in records not yet written to segments; reading waits for a
    /// flush past it.
    #[arg(long, env = "FAULTLINE_MAX_MEMORY", default_value = "1GB")]
    pub max_memory: String,
    /// Files to import ("-" for standard input); gzip-compressed files too. The format is detected:
    /// OTLP/JSON lines or protobuf, change events (JSON), JSON-lines or plain-text logs.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TracesArgs {
    #[command(subcommand)]
    pub command: TracesCommand,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Subcommand)]
pub enum TracesCommand {
    /// Show one trace as a tree with timings.
    Get {
        /// Trace id (32 hex digits; 16 accepted).
        id: String,
        /// Shift the spans of hosts whose clocks are off by their offset (estimated across the
        /// span pairs of the half hour around the trace).
        #[arg(long)]
        correct_skew: bool,
    },
    /// Find traces with a span matching a filter, e.g. 'service = "checkout" and status = error and duration > 500ms'.
    Search {
        /// Filter (see docs/filter.md); empty matches all.
        #[arg(default_value = "")]
        filter: String,
        #[command(flatten)]
        window: WindowArgs,
        /// Most traces to show (read from the API a page at a time).
        #[arg(long, default_value_t = 20, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
        limit: usize,
    },
}

#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Start: RFC 3339, unix seconds, or relative (-15m); default: all data.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End (exclusive); default: all data.
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(subcommand)]
    pub command: LogsCommand,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Search logs by filter, text, severity, service or trace id.
    Search {
        /// Filter, e.g. 'severity >= warn and body ~ "timeout"'.
        #[arg(default_value = "")]
        filter: String,
        /// Text the message must contain (case-insensitive).
        #[arg(long)]
        text: Option<String>,
        /// Lowest severity (trace, debug, info, warn, error, fatal).
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        trace_id: Option<String>,
        #[command(flatten)]
        window: WindowArgs,
        /// Most log records to show (read from the API a page at a time).
        #[arg(long, default_value_t = 100, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    #[command(subcommand)]
    pub command: ChangesCommand,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Subcommand)]
pub enum ChangesCommand {
    /// Record a change event.
    Add {
        /// Service the change touched.
        #[arg(long)]
        service: String,
        /// deploy, config, infra, feature_flag, dependency, scale or other.
        #[arg(long, default_value = "other")]
        kind: String,
        /// Change id (default: derived from service, kind and time).
        #[arg(long)]
        id: Option<String>,
        /// When it took effect (default: now).
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        #[arg(long)]
        instance: Option<String>,
        #[arg(long)]
        version_before: Option<String>,
        #[arg(long)]
        version_after: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        link: Option<String>,
    },
    /// Turn commits that touch config or infrastructure paths into change events.
    ImportGit {
        /// Path of the git repository.
        repo: PathBuf,
        /// Only commits touching these paths (repeatable); then every such commit counts.
        #[arg(long)]
        path: Vec<String>,
        /// Service the changes belong to (default: the repository's directory name).
        #[arg(long)]
        service: Option<String>,
        /// Newest commits to read.
        #[arg(long, default_value_t = 1000)]
        max_commits: usize,
    },
    /// List change events.
    List {
        #[command(flatten)]
        window: WindowArgs,
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// List the built-in scenarios.
    #[arg(long)]
    pub list: bool,
    /// A built-in scenario's name, or a scenario file (TOML; see docs/sim.md).
    #[arg(long, required_unless_present = "list")]
    pub scenario: Option<String>,
    /// Write traces.jsonl, logs.jsonl, metrics.jsonl, changes.jsonl and truth.json here.
    #[arg(long, conflicts_with = "otlp")]
    pub out: Option<PathBuf>,
    /// Stream to an OTLP/HTTP receiver (e.g. http://127.0.0.1:4318) instead.
    #[arg(long)]
    pub otlp: Option<String>,
    /// With --otlp: how much faster than real time (0 = as fast as possible).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Random seed (default: the scenario's); the same seed gives byte-identical output.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated time (e.g. 10m, 1h), overriding the scenario.
    #[arg(long)]
    pub duration: Option<String>,
    /// Requests per second at the entry points, overriding the scenario.
    #[arg(long)]
    pub rps: Option<f64>,
    /// Start of the simulated window, overriding the scenario's date: RFC 3339, unix seconds, or
    /// relative to now (-1h). The receivers refuse data more than a day in the future.
    #[arg(long, allow_hyphen_values = true)]
    pub start: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    /// For people: aligned, coloured on a terminal, with sparklines.
    #[default]
    Text,
    /// The JSON report (schema faultline.investigation/v1).
    Json,
    /// Markdown, with the charts inline.
    Markdown,
}

/// What to investigate.
#[derive(Debug, Clone, Args)]
pub struct InvestigationArgs {
    /// Data directory.
    #[arg(long, env = "FAULTLINE_DATA_DIR", default_value = "./faultline-data")]
    pub data_dir: PathBuf,
    /// Ask a running faultline server instead of reading the data directory.
    #[arg(long, env = "FAULTLINE_SERVER")]
    pub server: Option<String>,
    /// Start of the incident window: RFC 3339, unix seconds, or relative (-15m). Default: found in
    /// the data.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the window (default: the newest data).
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Healthy window to compare with, as T..T (default: picked before the onset).
    #[arg(long, allow_hyphen_values = true)]
    pub baseline: Option<String>,
    /// How far back to look for an incident when no window is given.
    #[arg(long, default_value = "1h")]
    pub lookback: String,
    /// Root causes to report.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub what: InvestigationArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct PostmortemArgs {
    #[command(flatten)]
    pub what: InvestigationArgs,
    /// Directory for postmortem.md and its charts.
    #[arg(long, default_value = "./postmortem")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    /// Files with one log message per line; stdin when none (or `-`).
    pub files: Vec<PathBuf>,
    /// Output: `text` lists the templates with their counts; `json` writes one object per input
    /// line, in input order.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The built-in scenario to stream (see `faultline sim --list`).
    #[arg(long, default_value = "lb-bad-backend")]
    pub scenario: String,
    /// Requests per second of the simulated system.
    #[arg(long, default_value_t = 30.0)]
    pub rps: f64,
    /// Random seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Data directory (default: a fresh one under the system's temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// API address (another free port is used when it is busy).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub api_addr: SocketAddr,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Stop after the report instead of serving on.
    #[arg(long)]
    pub exit: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  faultline diff                                        failing vs succeeding requests, last hour
  faultline diff --slow --from -30m                     slow requests vs the rest
  faultline diff --from 08:00 --to 08:30 --baseline 07:00..07:55
  faultline diff --a 'service = \"checkout\" and status = error' --b 'service = \"checkout\"'
  faultline diff --trace 5b8efff798038103d269b633813fc60c --trace 9a1c...")]
pub struct DiffArgs {
    /// Start of the window: RFC 3339, unix seconds, or relative (-15m). Default: an hour before --to.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the window (default: the newest data).
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Compare the window with this one (T..T) instead of failing with succeeding requests.
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["slow", "a", "trace"])]
    pub baseline: Option<String>,
    /// Slow requests (over their endpoint's p95) against the rest, instead of failing ones.
    #[arg(long, conflicts_with_all = ["a", "trace"])]
    pub slow: bool,
    /// Group A: traces with a span matching this filter (see docs/filter.md).
    #[arg(long, conflicts_with = "trace")]
    pub a: Option<String>,
    /// Group B: traces with a span matching this filter (default: all other traces).
    #[arg(long, requires = "a")]
    pub b: Option<String>,
    /// Compare two traces span by span (give it twice).
    #[arg(long, num_args = 1, action = clap::ArgAction::Append)]
    pub trace: Vec<String>,
    /// Differences to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Data directory.
    #[arg(long, env = "FAULTLINE_DATA_DIR", default_value = "./faultline-data")]
    pub data_dir: PathBuf,
    /// Ask a running faultline server instead.
    #[arg(long, env = "FAULTLINE_SERVER")]
    pub server: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// When the fix or rollback took effect: RFC 3339, unix seconds, or relative (-10m).
    #[arg(long, allow_hyphen_values = true)]
    pub since: String,
    /// End of the window after the fix (default: the newest data).
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Healthy window to compare with, as T..T (default: the hour before the incident).
    #[arg(long, allow_hyphen_values = true)]
    pub baseline: Option<String>,
    /// Data directory.
    #[arg(long, env = "FAULTLINE_DATA_DIR", default_value = "./faultline-data")]
    pub data_dir: PathBuf,
    /// Ask a running faultline server instead.
    #[arg(long, env = "FAULTLINE_SERVER")]
    pub server: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
