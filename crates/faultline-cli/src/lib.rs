//! faultline's command line. `main` parses arguments, sets up logging, runs a command, and turns
//! errors into a message and an exit status (a closed pipe is not an error).

mod args;
mod client;
pub mod config;
mod demo;
mod git;
mod import;
mod investigate;
mod manual;
mod output;
mod query;
mod serve;
mod sim;
mod units;

use clap::Parser;
use std::process::ExitCode;

pub use args::Cli;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,faultline_server=info,faultline_cli=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            args::Command::Serve(a) => serve::run(a).await,
            args::Command::Import(a) => import::run(a).await,
            args::Command::Traces(a) => query::traces(a).await,
            args::Command::Logs(a) => query::logs(a).await,
            args::Command::Changes(a) => query::changes(a).await,
            args::Command::Status(a) => query::status(a).await,
            args::Command::Compact { data_dir } => compact(data_dir).await,
            args::Command::Config { command: args::ConfigCommand::Check { file } } => {
                let file = file
                    .or_else(|| std::env::var_os("FAULTLINE_CONFIG").map(Into::into))
                    .unwrap_or_else(|| "faultline.toml".into());
                config::check(&file)
            }
            args::Command::Completions { shell } => {
                manual::completions(shell, &mut std::io::stdout());
                Ok(())
            }
            args::Command::Man { out } => manual::man_pages(&out),
            args::Command::Token { command: args::TokenCommand::New { name, scopes } } => {
                print!("{}", config::new_token(&name, &scopes));
                Ok(())
            }
            args::Command::Token { command: args::TokenCommand::Hash } => {
                let mut secret = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)?;
                anyhow::ensure!(!secret.trim().is_empty(), "no secret on standard input");
                println!("{}", faultline_server::auth::hash_secret(&secret));
                Ok(())
            }
            args::Command::Sim(a) => sim::run(a).await,
            args::Command::Demo(a) => demo::run(a).await,
            args::Command::Investigate(a) => investigate::investigate(a).await,
            args::Command::Postmortem(a) => investigate::postmortem(a).await,
            args::Command::Verify(a) => investigate::verify(a).await,
            args::Command::Diff(a) => investigate::diff(a).await,
            args::Command::Templates(a) => investigate::templates(a),
        }
    })
}

async fn compact(data_dir: std::path::PathBuf) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = faultline_store::Store::open(faultline_store::StoreConfig::new(&data_dir))
        .await
        .with_context(|| format!("opening data directory {}", data_dir.display()))?;
    let before = store.stats();
    store.flush().await?;
    let mut merged = 0;
    loop {
        let n = store.compact().await?;
        if n == 0 {
            break;
        }
        merged += n;
    }
    let dropped = store.apply_retention(faultline_model::time::now_ns()).await?;
    let after = store.stats();
    println!(
        "{} segments ({:.1} MiB) -> {} segments ({:.1} MiB): {merged} merged, {dropped} dropped by retention",
        before.segments,
        before.segment_bytes as f64 / 1048576.0,
        after.segments,
        after.segment_bytes as f64 / 1048576.0
    );
    Ok(())
}
