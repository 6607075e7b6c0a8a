//! The `paywatch` command: parses arguments and hands over to the daemon or
//! to the API client.

use clap::{Args, Parser, Subcommand};
use paywatch::client::Client;
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

/// How the client commands find the running daemon.
#[derive(Args)]
struct Target {
    /// The daemon's API, e.g. http://127.0.0.1:8480 (default: `[api] listen`
    /// of --config, else http://127.0.0.1:8480).
    #[arg(long, env = "PAYWATCH_URL")]
    url: Option<String>,
    /// Config file to take the API address and key from.
    #[arg(short, long, default_value = "/etc/paywatch/paywatch.toml")]
    config: PathBuf,
    /// API key for requests that change state (default: the config's).
    #[arg(long, env = "PAYWATCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
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
    /// Show each chain's state, height, node tip and lag, from the running
    /// daemon.
    ///
    /// Example: paywatch status --url http://127.0.0.1:8480
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Add, remove or import watched addresses on the running daemon.
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Create, read, list and cancel invoices (payment requests) on the
    /// running daemon.
    #[command(subcommand)]
    Invoice(InvoiceCommand),
    /// Read the events feed of the running daemon.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Work with WASM plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Scan a chain again from a height, to find payments to addresses that
    /// were added after their blocks were scanned. Transfers already recorded
    /// are not reported twice. Prints the daemon's answer, then follows the
    /// rescan on stderr (a bar on a terminal, a line every few seconds
    /// otherwise) until the chain is back at the node's tip; Ctrl-C stops
    /// following, not the rescan.
    ///
    /// Example: paywatch rescan --chain btc --from 866000
    Rescan {
        #[arg(long)]
        chain: String,
        #[arg(long)]
        from: u64,
        /// Return once the daemon has the request, without following it.
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum WatchCommand {
    /// Watch one address.
    ///
    /// Example: paywatch watch add btc bc1q… --label order-42 --metadata '{"order":42}'
    Add {
        chain: String,
        address: String,
        #[arg(long)]
        label: Option<String>,
        /// A JSON object kept with the watch and copied into its events.
        #[arg(long)]
        metadata: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Stop watching an address (its recorded transfers stay).
    ///
    /// Example: paywatch watch remove tron TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb
    Remove {
        chain: String,
        address: String,
        #[command(flatten)]
        target: Target,
    },
    /// Watch every address of a CSV (`chain,address[,label]`, optional header)
    /// or NDJSON file, all or nothing. The upload's progress goes to stderr.
    ///
    /// Example: paywatch watch import addresses.csv --chain btc
    Import {
        file: PathBuf,
        /// Chain for rows that name none.
        #[arg(long)]
        chain: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum InvoiceCommand {
    /// Create an invoice for an order: an amount in the asset, or a price in
    /// a fiat currency converted at the current rate. Prints the invoice
    /// (address, exact amount due, payment URI, checkout URL) as JSON. The
    /// same chain and order id give back the open invoice instead of a new
    /// one.
    ///
    /// Example: paywatch invoice create --chain tron --asset USDT --amount 13.5 --order-id 42
    ///
    /// Example: paywatch invoice create --chain btc --asset BTC --price 19.90 --currency EUR --order-id 43
    Create {
        #[arg(long)]
        chain: String,
        /// The asset's symbol: BTC, ETH, TRX, USDT, or a configured token.
        #[arg(long)]
        asset: String,
        /// Whole units of the asset (`13.5`); or --price and --currency.
        #[arg(long, conflicts_with_all = ["price", "currency"])]
        amount: Option<String>,
        #[arg(long, requires = "currency")]
        price: Option<String>,
        /// ISO 4217 code of --price (a `[[rate]]` must convert it).
        #[arg(long, requires = "price")]
        currency: Option<String>,
        #[arg(long)]
        order_id: String,
        /// Seconds the invoice stays open (default: the chain's
        /// `default_expires_in`).
        #[arg(long)]
        expires_in: Option<i64>,
        /// Where the checkout page sends the buyer once paid.
        #[arg(long)]
        redirect_url: Option<String>,
        /// How short a payment may fall and still pay: `1%`, or an amount
        /// of the asset (default: the chain's `underpayment_tolerance`).
        #[arg(long)]
        underpayment_tolerance: Option<String>,
        /// Confirmations to wait for instead of the chain's, within its
        /// `min_confirmations` and `max_confirmations` (0: zero-conf).
        #[arg(long)]
        confirmations: Option<u64>,
        /// With --price: adjust the market rate (`~1.02` multiply, `+0.3`
        /// add, `-0.1` subtract) instead of the chain's `rate_adjust`.
        #[arg(long, requires = "price", allow_hyphen_values = true)]
        rate_adjust: Option<String>,
        /// A JSON object kept with the invoice and copied into its events.
        #[arg(long)]
        metadata: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Print one invoice as JSON: status, what was paid, its payments.
    ///
    /// Example: paywatch invoice get inv_01J9Z3…
    Get {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// List invoices, one line each, filtered by chain, order id or status.
    ///
    /// Example: paywatch invoice list --order-id 42
    List {
        #[arg(long)]
        chain: Option<String>,
        #[arg(long)]
        order_id: Option<String>,
        /// pending, underpaid, paid, confirmed, expired, paid_late,
        /// cancelled, settled or invalid.
        #[arg(long)]
        status: Option<String>,
        /// The id the last page ended with.
        #[arg(long)]
        after: Option<String>,
        /// Invoices per page, 1 to 1000.
        #[arg(long)]
        limit: Option<u32>,
        /// Print the API's JSON instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Cancel an open invoice; a payment that arrives later is recorded as
    /// paid_late.
    ///
    /// Example: paywatch invoice cancel inv_01J9Z3…
    Cancel {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Mark an invoice settled by hand (paid some other way, or a shortfall
    /// accepted); recorded with the API key's name and the note.
    ///
    /// Example: paywatch invoice settle inv_01J9Z3… --note "paid by bank transfer"
    Settle {
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Mark an invoice invalid by hand: it will not be fulfilled.
    ///
    /// Example: paywatch invoice invalidate inv_01J9Z3… --note "fraud"
    Invalidate {
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Credit a transaction the buyer says was theirs; paywatch checks that
    /// it pays the invoice's address in its asset and no other invoice has
    /// it.
    ///
    /// Example: paywatch invoice attach inv_01J9Z3… --txid 5e1f… --note "buyer sent the fee short"
    Attach {
        id: String,
        #[arg(long)]
        txid: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run a plugin on one event and print its verdict, its log lines and the
    /// time the call took; exits 1 with the cause when the plugin fails.
    ///
    /// Example: paywatch plugin test plugins/dist/min_amount.wasm --event event.json --config '{"min":{"USDT":"10"}}'
    Test {
        /// The plugin's .wasm (or .wat) file.
        plugin: PathBuf,
        /// A file holding one event as JSON (as `paywatch events tail` prints it).
        #[arg(long)]
        event: PathBuf,
        /// The plugin's configuration as a JSON object.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Sink names a verdict may use (any name when none is given).
        #[arg(long = "sink")]
        sinks: Vec<String>,
        /// Time limit per call, in milliseconds.
        #[arg(long, default_value_t = 10)]
        timeout_ms: u64,
        /// Memory limit, in MiB.
        #[arg(long, default_value_t = 32)]
        memory_mib: usize,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Print events as NDJSON, oldest first.
    ///
    /// Example: paywatch events tail --after 1040 --follow
    Tail {
        /// Print events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Keep waiting for new events.
        #[arg(short, long)]
        follow: bool,
        #[command(flatten)]
        target: Target,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plugin(PluginCommand::Test {
            plugin,
            event,
            config,
            sinks,
            timeout_ms,
            memory_mib,
        }) => plugin_test(&plugin, &event, &config, sinks, timeout_ms, memory_mib),
        Command::CheckConfig { file } => match paywatch::config::Config::load(&file) {
            Ok(c) => {
                for m in &c.missing {
                    eprintln!("warning: {}: {m}; `paywatch run` needs it", file.display());
                }
                if let Err(e) = check_plugins(&c) {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
                let n =
                    |k: usize, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
                println!(
                    "{}: ok ({}, {}, {})",
                    file.display(),
                    n(c.chains.len(), "chain"),
                    n(c.plugins.len(), "plugin"),
                    n(c.sinks.len(), "sink")
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
            // Colours only on a terminal: not in the journal, a file or a pipe.
            let logs = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
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
            block_on(paywatch::daemon::run(config))
        }
        Command::Status { target } => {
            client_command(
                target,
                |c| async move { c.status(&mut std::io::stdout()).await },
            )
        }
        Command::Watch(WatchCommand::Add {
            chain,
            address,
            label,
            metadata,
            target,
        }) => client_command(target, |c| async move {
            let w = c
                .watch_add(&chain, &address, label.as_deref(), metadata.as_deref())
                .await?;
            println!("{w}");
            Ok(())
        }),
        Command::Watch(WatchCommand::Remove {
            chain,
            address,
            target,
        }) => client_command(target, |c| async move {
            println!("{}", c.watch_remove(&chain, &address).await?);
            Ok(())
        }),
        Command::Watch(WatchCommand::Import {
            file,
            chain,
            target,
        }) => client_command(target, |c| async move {
            println!("{}", c.watch_import(&file, chain.as_deref()).await?);
            Ok(())
        }),
        Command::Invoice(InvoiceCommand::Create {
            chain,
            asset,
            amount,
            price,
            currency,
            order_id,
            expires_in,
            redirect_url,
            underpayment_tolerance,
            confirmations,
            rate_adjust,
            metadata,
            target,
        }) => client_command(target, |c| async move {
            let metadata: serde_json::Value = match metadata {
                Some(m) => {
                    anyhow::Context::context(serde_json::from_str(&m), "--metadata is not JSON")?
                }
                None => serde_json::json!({}),
            };
            let mut body = serde_json::json!({
                "chain": chain, "asset": asset, "order_id": order_id, "metadata": metadata,
            });
            for (key, value) in [
                ("amount", amount),
                ("price", price),
                ("currency", currency),
                ("redirect_url", redirect_url),
                ("underpayment_tolerance", underpayment_tolerance),
                ("rate_adjust", rate_adjust),
            ] {
                if let Some(v) = value {
                    body[key] = v.into();
                }
            }
            if let Some(e) = expires_in {
                body["expires_in"] = e.into();
            }
            if let Some(c) = confirmations {
                body["confirmations"] = c.into();
            }
            println!("{:#}", c.invoice_create(&body).await?);
            Ok(())
        }),
        Command::Invoice(InvoiceCommand::Get { id, target }) => {
            client_command(target, |c| async move {
                println!("{:#}", c.invoice_get(&id).await?);
                Ok(())
            })
        }
        Command::Invoice(InvoiceCommand::List {
            chain,
            order_id,
            status,
            after,
            limit,
            json,
            target,
        }) => client_command(target, |c| async move {
            let query: Vec<(&str, String)> = [
                ("chain", chain),
                ("order_id", order_id),
                ("status", status),
                ("after", after),
                ("limit", limit.map(|l| l.to_string())),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
            let list = c.invoice_list(&query).await?;
            if json {
                println!("{list}");
            } else {
                paywatch::client::print_invoices(&list, &mut std::io::stdout())?;
            }
            Ok(())
        }),
        Command::Invoice(InvoiceCommand::Cancel { id, target }) => {
            client_command(target, |c| async move {
                println!("{:#}", c.invoice_cancel(&id).await?);
                Ok(())
            })
        }
        Command::Invoice(InvoiceCommand::Settle { id, note, target }) => {
            client_command(target, |c| async move {
                let body = serde_json::json!({ "note": note });
                println!("{:#}", c.invoice_by_hand(&id, "settle", &body).await?);
                Ok(())
            })
        }
        Command::Invoice(InvoiceCommand::Invalidate { id, note, target }) => {
            client_command(target, |c| async move {
                let body = serde_json::json!({ "note": note });
                println!("{:#}", c.invoice_by_hand(&id, "invalidate", &body).await?);
                Ok(())
            })
        }
        Command::Invoice(InvoiceCommand::Attach {
            id,
            txid,
            note,
            target,
        }) => client_command(target, |c| async move {
            let body = serde_json::json!({ "txid": txid, "note": note });
            println!("{:#}", c.invoice_by_hand(&id, "attach", &body).await?);
            Ok(())
        }),
        Command::Rescan {
            chain,
            from,
            detach: true,
            target,
        } => client_command(target, |c| async move {
            println!("{}", c.rescan(&chain, from).await?);
            Ok(())
        }),
        Command::Rescan {
            chain,
            from,
            detach: false,
            target,
        } => client_command(target, |c| async move {
            c.rescan_follow(&chain, from, &mut std::io::stdout()).await
        }),
        Command::Events(EventsCommand::Tail {
            after,
            follow,
            target,
        }) => client_command(target, |c| async move {
            c.events_tail(after, follow, &mut std::io::stdout()).await
        }),
    }
}

fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
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
    match runtime.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a client command against the daemon `target` points at.
fn client_command<F, Fut>(target: Target, f: F) -> ExitCode
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    // The config is optional here: it only supplies defaults.
    let config = paywatch::config::Config::load(&target.config).ok();
    let url = target.url.unwrap_or_else(|| match &config {
        Some(c) => format!("http://{}", c.api.listen),
        None => format!("http://{}", paywatch::config::DEFAULT_LISTEN),
    });
    let api_key = target.api_key.or_else(|| {
        config
            .as_ref()
            .and_then(|c| c.api.api_key.as_ref().map(|k| k.expose().to_string()))
    });
    match Client::new(&url, api_key) {
        Ok(client) => block_on(f(client)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `paywatch plugin test`.
fn plugin_test(
    path: &std::path::Path,
    event: &std::path::Path,
    config: &str,
    sinks: Vec<String>,
    timeout_ms: u64,
    memory_mib: usize,
) -> ExitCode {
    use paywatch::plugin::{MemoryKv, PluginEngine, PluginSpec};
    let fail = |m: String| {
        eprintln!("error: {m}");
        ExitCode::from(2)
    };
    let event_json = match std::fs::read(event) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {}: {e}", event.display())),
    };
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&event_json) {
        return fail(format!("{}: not JSON: {e}", event.display()));
    }
    let config: serde_json::Value = match serde_json::from_str(config) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => return fail("--config: expected a JSON object".into()),
        Err(e) => return fail(format!("--config: not JSON: {e}")),
    };
    let limits = paywatch::config::PluginLimits {
        timeout: std::time::Duration::from_millis(timeout_ms.max(1)),
        memory_bytes: memory_mib.max(1) << 20,
        ..Default::default()
    };
    let engine = match PluginEngine::new(None) {
        Ok(e) => e,
        Err(e) => return fail(e.to_string()),
    };
    let name = path
        .file_stem()
        .map_or("plugin".into(), |s| s.to_string_lossy().into_owned());
    let started = std::time::Instant::now();
    let loaded = engine.load(PluginSpec {
        name: &name,
        path,
        config: &config,
        limits: &limits,
        kv: std::sync::Arc::new(MemoryKv::default()),
        sinks: sinks.into(),
        capture_logs: true,
    });
    let load_time = started.elapsed();
    let mut plugin = match loaded {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let started = std::time::Instant::now();
    let verdict = plugin.call(&event_json);
    let call_time = started.elapsed();
    for line in plugin.take_logs() {
        println!("log [{}] {}", line.level, line.message);
    }
    println!("load: {load_time:.2?} (compile, instantiate, init)");
    println!("call: {call_time:.2?}");
    match verdict {
        Ok(v) => {
            println!("verdict: {}", v.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: plugin `{name}` {e}");
            ExitCode::from(1)
        }
    }
}

/// Loads every configured plugin (compile, exports, imports, `init` with its
/// configuration), as the daemon does at start.
fn check_plugins(config: &paywatch::config::Config) -> anyhow::Result<()> {
    use paywatch::plugin::{MemoryKv, PluginEngine, PluginSpec};
    if config.plugins.is_empty() {
        return Ok(());
    }
    let engine = PluginEngine::new(None)?;
    let sinks: std::sync::Arc<[String]> = config.sinks.iter().map(|s| s.name.clone()).collect();
    for p in &config.plugins {
        engine.load(PluginSpec {
            name: &p.name,
            path: &p.path,
            config: &p.config,
            limits: &p.limits,
            kv: std::sync::Arc::new(MemoryKv::default()),
            sinks: sinks.clone(),
            capture_logs: false,
        })?;
    }
    Ok(())
}
