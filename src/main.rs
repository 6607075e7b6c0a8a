//! The `paywatch` command: parses arguments and hands over to the daemon.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Self-hosted, watch-only chain indexer: finds payments to watched addresses
/// in every block of your own nodes and serves them over a local HTTP API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    ///
    /// Example: paywatch run --config /etc/paywatch/paywatch.toml
    Run {
        /// Path of the TOML config file.
        #[arg(short, long, default_value = "/etc/paywatch/paywatch.toml")]
        config: PathBuf,
        /// Log format: human-readable text, or one JSON object per line.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Check a config file and exit: 0 when it is valid, 2 with the reason
    /// when not.
    ///
    /// Example: paywatch check-config config/paywatch.toml
    CheckConfig {
        /// Path of the TOML config file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match paywatch::config::Config::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok ({} chain{})",
                    file.display(),
                    c.chains.len(),
                    if c.chains.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run { config, log_format } => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into());
            let logs = tracing_subscriber::fmt().with_env_filter(filter);
            match log_format {
                LogFormat::Text => logs.init(),
                LogFormat::Json => logs.json().init(),
            }
            let config = match paywatch::config::Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(paywatch::daemon::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
