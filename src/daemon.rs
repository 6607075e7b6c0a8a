//! Wires the daemon together: opens the store, starts one scanner per chain
//! and the HTTP API, and stops them all on SIGINT/SIGTERM.

use crate::api::{self, ApiChain, AppState};
use crate::chain::{Decoder, Launch, Node, Started};
use crate::config::Config;
use crate::scan::{Finality, ScanSettings, Scanner};
use crate::status::ChainStatus;
use crate::store::Store;
use crate::watch::Matcher;
use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

/// Runs a chain's scanner on the node and decoder `chain::start` built.
struct ScanLaunch {
    settings: ScanSettings,
    store: Arc<Store>,
    status: Arc<ChainStatus>,
    stop: watch::Receiver<bool>,
    rescan: tokio::sync::mpsc::Receiver<u64>,
    screen: crate::risk::Screen,
}

impl Launch for ScanLaunch {
    type Output = tokio::task::JoinHandle<()>;

    fn launch<N, D>(self, node: N, decoder: D, started: &Started) -> Self::Output
    where
        N: Node,
        D: Decoder<Raw = N::Raw>,
    {
        let mut settings = self.settings;
        if started.node_finality {
            settings.finality = Finality::Node;
        }
        let mut scanner = Scanner::new(
            settings,
            self.store,
            node,
            decoder,
            self.status,
            self.screen,
        );
        if let Some(wake) = &started.wake {
            scanner = scanner.with_wake(wake.clone());
        }
        tokio::spawn(scanner.run(self.stop, self.rescan))
    }
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("stopping");
        let _ = stop_tx.send(true);
    });
    run_until(config, stop_rx).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs until `stop` turns true: the scanners finish the block they are
/// committing, the API drains, the store closes.
pub async fn run_until(config: Config, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    run_with_listener(config, listener, stop).await
}

/// As [`run_until`], serving the API on an already bound listener.
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // What `check-config` only warns about stops the start.
    if let Some(m) = config.missing.first() {
        anyhow::bail!("{m}");
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let store =
        Arc::new(Store::open(&config.data_dir.join("db")).with_context(|| {
            format!("cannot open the database in {}", config.data_dir.display())
        })?);
    // Everything stops on the caller's signal, or at once when the disk
    // refuses a write: nothing more could be recorded.
    let stop = {
        let (tx, rx) = watch::channel(false);
        let mut asked = stop;
        let mut failure = store.failure();
        tokio::spawn(async move {
            tokio::select! {
                _ = asked.wait_for(|s| *s) => {}
                f = failure.wait_for(|f| f.is_some()) => {
                    if let Ok(f) = f {
                        tracing::error!(error = %f.as_deref().unwrap_or_default(), "the database cannot be written; stopping");
                    }
                }
            }
            let _ = tx.send(true);
        });
        rx
    };
    let metrics = crate::telemetry::install();
    let deliverer = crate::deliver::start(&config, store.clone(), stop.clone())?;
    let mut chains = BTreeMap::new();
    let mut invoices = BTreeMap::new();
    let mut tasks = Vec::new();
    let sanctions = crate::risk::Sanctions::load(config.risk.sanctions_file.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tasks.push(tokio::spawn(
        sanctions
            .clone()
            .follow(std::time::Duration::from_secs(2), stop.clone()),
    ));
    let risk = crate::risk::RiskSetup {
        cfg: config.risk.clone(),
        sanctions: sanctions.clone(),
    };
    for chain in &config.chains {
        crate::telemetry::register_chain(&chain.name);
        let matcher = Arc::new(
            Matcher::load(&chain.name, store.clone())
                .with_context(|| format!("chain {}: cannot load watches", chain.name))?,
        );
        let status = Arc::new(ChainStatus::new(
            &chain.name,
            chain.kind_name(),
            chain.network_name(),
            chain.confirmations,
            chain.start_height,
        ));
        let settings = ScanSettings {
            finality: Finality::Depth,
            chain: chain.name.clone(),
            network: chain.network_name().to_string(),
            start_height: chain.start_height,
            confirmations: chain.confirmations,
            prefetch: chain.prefetch,
            poll_interval: chain.poll_interval,
            max_reorg_depth: chain.max_reorg_depth,
        };
        let (rescan_tx, rescan_rx) = tokio::sync::mpsc::channel(1);
        let launch = ScanLaunch {
            settings,
            store: store.clone(),
            status: status.clone(),
            stop: stop.clone(),
            rescan: rescan_rx,
            screen: risk.screen(chain, &store).with_context(|| {
                format!("chain {}: cannot load risk screening's state", chain.name)
            })?,
        };
        let (scanner, started) = crate::chain::start(
            chain,
            matcher.clone(),
            &store,
            status.clone(),
            stop.clone(),
            &risk,
            launch,
        )
        .await?;
        tasks.extend(started.tasks);
        tasks.push(scanner);
        if let Some(inv) =
            crate::invoice::service::InvoiceChain::new(chain, matcher.clone(), &store)
                .map_err(|e| anyhow::anyhow!("chain {}: {e}", chain.name))?
        {
            invoices.insert(chain.name.clone(), Arc::new(inv));
        }
        info!(chain = %chain.name, kind = chain.kind_name(), network = chain.network_name(), "chain started");
        chains.insert(
            chain.name.clone(),
            ApiChain {
                format: chain.address_format(),
                matcher,
                status,
                rescan: rescan_tx,
            },
        );
    }
    if config.api.keys.is_empty() && !config.api.listen.ip().is_loopback() {
        warn!(listen = %config.api.listen, "the API listens beyond loopback without any API key");
    }
    info!(listen = %listener.local_addr()?, "API listening");
    let rates = Arc::new(crate::invoice::rates::Rates::new(&config.rates));
    tasks.extend(rates.spawn(stop.clone()));
    let checkout = config.checkout.enabled.then(|| {
        Arc::new(
            crate::api::checkout::Checkout::new(config.checkout.clone(), &config.chains)
                .with_merchants(config.merchants.clone()),
        )
    });
    let state = Arc::new(AppState {
        store: store.clone(),
        chains,
        keys: config.api.keys.clone(),
        open_reads: config.api.open_reads,
        metrics,
        delivery: deliverer.state.clone(),
        invoices,
        epusdt: config.epusdt.clone(),
        merchants: config.merchants.clone(),
        stop: stop.clone(),
        checkout,
        rates,
        sanctions,
    });
    // Without a chain that takes invoices there is nothing to track, and
    // the feed need not be read a second time.
    if !state.invoices.is_empty() {
        let policies = config
            .chains
            .iter()
            .filter_map(|c| {
                let inv = c.invoices.as_ref()?;
                Some((
                    c.name.clone(),
                    crate::invoice::tracker::ChainPolicy {
                        zero_conf: crate::invoice::tracker::ZeroConf {
                            enabled: inv.zero_conf,
                            rbf: inv.zero_conf_rbf,
                        },
                        amount_reuse_after: inv.amount_reuse_after.as_secs(),
                        confirmations: c.confirmations,
                    },
                ))
            })
            .collect();
        let relocking: Vec<_> = state
            .invoices
            .values()
            .filter(|c| c.relock_after().is_some())
            .cloned()
            .collect();
        if !relocking.is_empty() {
            tasks.push(tokio::spawn(crate::invoice::service::run_relock(
                relocking,
                store.clone(),
                state.rates.clone(),
                stop.clone(),
            )));
        }
        tasks.push(tokio::spawn(crate::invoice::tracker::run(
            store.clone(),
            policies,
            stop.clone(),
        )));
    }
    crate::telemetry::notify_ready();
    let reporter = tokio::spawn(report_status(state.clone(), stop.clone()));
    api::serve(listener, state, stop.clone()).await;
    crate::telemetry::notify_stopping();
    reporter.abort();
    let _ = reporter.await;
    for t in tasks.into_iter().chain(deliverer.tasks) {
        let _ = t.await;
    }
    if let Some(d) = deliverer.dispatcher {
        let _ = tokio::task::spawn_blocking(move || d.join()).await;
    }
    // Connection tasks that just finished may still hold the store for a
    // moment; the database is closed (and its lock released) only when the
    // last holder lets go, so wait for that before reporting the stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let failure = store.failure().borrow().clone();
    drop(store);
    if let Some(f) = failure {
        anyhow::bail!(
            "stopped because the database in {} cannot be written (is the disk full?): {f}",
            config.data_dir.display()
        );
    }
    info!("stopped");
    Ok(())
}

/// Sends a one-line sync status to systemd every few seconds.
async fn report_status(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        let line = state
            .chains
            .values()
            .map(|c| {
                let v = c.status.view();
                format!(
                    "{}: {}/{} {:?}",
                    v.chain,
                    v.indexed_height.map_or("-".into(), |h| h.to_string()),
                    v.node_tip.map_or("-".into(), |h| h.to_string()),
                    v.state
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        crate::telemetry::notify_status(&line);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}
