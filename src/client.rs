//! The command-line client: `status`, `watch add|remove|import`, `invoice
//! create|get|list|cancel`, `rescan` and `events tail` talk to a running
//! daemon over its HTTP API.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a followed rescan asks for the chain's status.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// Upload piece of `watch import`, the step its progress moves by.
const UPLOAD_CHUNK: usize = 256 << 10;
/// Without a terminal, the longest wait between two progress lines.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The progress of a long command, on stderr (stdout keeps the result): a
/// bar on a terminal, otherwise a plain line at most every few seconds and
/// when the step or the end is reached.
#[derive(Clone)]
struct Progress {
    what: String,
    unit: &'static str,
    bar: Option<ProgressBar>,
    /// The bar shows a spinner (a step with no measure) instead.
    spinning: std::sync::Arc<AtomicBool>,
    /// When the last plain line was written, and the note it carried.
    last: std::sync::Arc<std::sync::Mutex<(Option<Instant>, String)>>,
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({percent}%, ETA {eta})")
        .expect("the progress template is valid")
        .progress_chars("=> ")
}

impl Progress {
    fn new(what: String, unit: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(bar_style())
                .with_prefix(what.clone())
                .with_message(unit)
        });
        Progress {
            what,
            unit,
            bar,
            spinning: Default::default(),
            last: Default::default(),
        }
    }

    fn set(&self, pos: u64, len: u64) {
        match &self.bar {
            Some(b) => {
                if self.spinning.swap(false, Ordering::Relaxed) {
                    b.disable_steady_tick();
                    b.set_style(bar_style());
                    b.set_message(self.unit);
                }
                b.set_length(len);
                b.set_position(pos);
            }
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                let due = last.0.is_none_or(|t| t.elapsed() >= LINE_EVERY);
                if due || pos == len {
                    let tenths = match len {
                        0 => 1000,
                        _ => u128::from(pos.min(len)) * 1000 / u128::from(len),
                    };
                    eprintln!(
                        "{}: {pos}/{len} {} ({}.{}%)",
                        self.what,
                        self.unit,
                        tenths / 10,
                        tenths % 10
                    );
                    last.0 = Some(Instant::now());
                }
            }
        }
    }

    /// A passing remark shown with the progress; empty clears it.
    fn note(&self, text: &str) {
        match &self.bar {
            Some(b) if text.is_empty() => b.set_message(self.unit),
            Some(b) => b.set_message(format!("{} ({text})", self.unit)),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                if last.1 != text {
                    if !text.is_empty() {
                        eprintln!("{}: {text}", self.what);
                    }
                    last.1 = text.to_string();
                }
            }
        }
    }

    /// A step with no measure of its own: a spinner, or one line.
    fn wait(&self, text: &str) {
        match &self.bar {
            Some(b) => {
                self.spinning.store(true, Ordering::Relaxed);
                b.set_style(
                    ProgressStyle::with_template("{prefix} {spinner} {msg} ({elapsed})")
                        .expect("the spinner template is valid"),
                );
                b.set_message(text.to_string());
                b.enable_steady_tick(Duration::from_millis(120));
            }
            None => eprintln!("{}: {text}", self.what),
        }
    }

    fn finish(&self, text: &str) {
        match &self.bar {
            Some(b) => {
                b.disable_steady_tick();
                b.finish_and_clear();
                eprintln!("{}: {text}", self.what);
            }
            None => eprintln!("{}: {text}", self.what),
        }
    }

    fn abandon(&self) {
        if let Some(b) = &self.bar {
            b.abandon();
        }
    }
}

/// A connection to a running daemon's API.
pub struct Client {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, api_key: Option<String>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_string();
        url::Url::parse(&base).with_context(|| format!("`{base}` is not a URL"))?;
        Ok(Client {
            base,
            api_key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let req = match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the daemon at {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("no details");
            let code = body["error"]["code"].as_str().unwrap_or("error");
            match body["error"].get("details") {
                Some(d) => bail!("{status} {code}: {msg}\n{d}"),
                None => bail!("{status} {code}: {msg}"),
            }
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// Prints one line per chain.
    pub async fn status(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let s = self.get("/v1/status").await?;
        writeln!(
            out,
            "{:<12} {:<8} {:<17} {:>10} {:>10} {:>6} {:>7} {:>8}  ETA",
            "CHAIN", "KIND", "STATE", "INDEXED", "NODE TIP", "LAG", "SYNCED", "BLK/S"
        )?;
        let opt = |v: &Value| v.as_u64().map_or("-".to_string(), |n| n.to_string());
        for c in s["chains"].as_array().into_iter().flatten() {
            let rate = c["blocks_per_second"].as_f64().unwrap_or(0.0);
            // While it syncs, how long the rest takes at the current rate.
            let eta = match c["lag"].as_u64() {
                Some(lag) if lag > 0 && c["state"] == "syncing" => crate::status::eta(lag, rate),
                _ => "-".to_string(),
            };
            let synced = c["synced_percent"]
                .as_f64()
                .map_or("-".to_string(), |p| format!("{p:.1}%"));
            writeln!(
                out,
                "{:<12} {:<8} {:<17} {:>10} {:>10} {:>6} {:>7} {:>8.1}  {}",
                c["chain"].as_str().unwrap_or("?"),
                c["kind"].as_str().unwrap_or("?"),
                c["state"].as_str().unwrap_or("?"),
                opt(&c["indexed_height"]),
                opt(&c["node_tip"]),
                opt(&c["lag"]),
                synced,
                rate,
                eta,
            )?;
            if let Some(e) = c["last_error"].as_str() {
                writeln!(out, "  last error: {e}")?;
            }
        }
        writeln!(out, "last event: {}", opt(&s["events"]["last_seq"]))?;
        Ok(())
    }

    pub async fn watch_add(
        &self,
        chain: &str,
        address: &str,
        label: Option<&str>,
        metadata: Option<&str>,
    ) -> anyhow::Result<Value> {
        let metadata: Value = match metadata {
            Some(m) => serde_json::from_str(m).context("--metadata is not JSON")?,
            None => json!({}),
        };
        let body =
            json!({"chain": chain, "address": address, "label": label, "metadata": metadata});
        self.send(
            self.http
                .post(format!("{}/v1/watches", self.base))
                .json(&body),
        )
        .await
    }

    pub async fn watch_remove(&self, chain: &str, address: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .delete(format!("{}/v1/watches/{chain}/{address}", self.base)),
        )
        .await
    }

    /// Imports a CSV (`chain,address[,label]`, an optional header line) or
    /// NDJSON file; `chain` fills in rows that name none.
    ///
    /// The upload shows its progress on stderr, then that the daemon is
    /// storing the watches (it checks them all before it stores any).
    pub async fn watch_import(&self, file: &Path, chain: Option<&str>) -> anyhow::Result<Value> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let body = to_ndjson(&text, chain).with_context(|| format!("{}", file.display()))?;
        let body = body.into_bytes();
        let rows = body.iter().filter(|b| **b == b'\n').count();
        let total = body.len() as u64;
        let progress = Progress::new(format!("import {rows} watches"), "bytes");
        progress.set(0, total);
        // Pieces of the one buffer, each counted as it is handed on.
        let body = bytes::Bytes::from(body);
        let shown = progress.clone();
        let upload =
            futures_util::stream::iter((0..body.len()).step_by(UPLOAD_CHUNK).map(move |start| {
                let end = (start + UPLOAD_CHUNK).min(body.len());
                shown.set(end as u64, total);
                if end == body.len() {
                    shown.wait("sent; the daemon is checking and storing them");
                }
                Ok::<_, std::io::Error>(body.slice(start..end))
            }));
        let answer = self
            .send(
                self.http
                    .post(format!("{}/v1/watches:batch", self.base))
                    .header("content-type", "application/x-ndjson")
                    .header("content-length", total)
                    .body(reqwest::Body::wrap_stream(upload)),
            )
            .await;
        match &answer {
            Ok(a) => progress.finish(&format!(
                "{} created, {} already watched",
                a["created"], a["existing"]
            )),
            Err(_) => progress.abandon(),
        }
        answer
    }

    /// Creates an invoice (`POST /v1/invoices`); `body` is the request as
    /// the API takes it.
    pub async fn invoice_create(&self, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/v1/invoices", self.base))
                .json(body),
        )
        .await
    }

    pub async fn invoice_get(&self, id: &str) -> anyhow::Result<Value> {
        self.get(&format!("/v1/invoices/{}", invoice_id(id)?)).await
    }

    /// One page of invoices, newest filters applied by the daemon: `query`
    /// holds `chain`, `order_id`, `status`, `after`, `limit` as given.
    pub async fn invoice_list(&self, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut url = url::Url::parse(&format!("{}/v1/invoices", self.base))?;
        url.query_pairs_mut().extend_pairs(query);
        self.send(self.http.get(url)).await
    }

    pub async fn invoice_cancel(&self, id: &str) -> anyhow::Result<Value> {
        let id = invoice_id(id)?;
        self.send(
            self.http
                .post(format!("{}/v1/invoices/{id}/cancel", self.base)),
        )
        .await
    }

    /// A change by hand: `settle`, `invalidate` or `attach`; `body` holds
    /// `note` and, for attach, `txid`.
    pub async fn invoice_by_hand(
        &self,
        id: &str,
        action: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let id = invoice_id(id)?;
        self.send(
            self.http
                .post(format!("{}/v1/invoices/{id}/{action}", self.base))
                .json(body),
        )
        .await
    }

    /// Asks the daemon to scan `chain` again from `from`.
    pub async fn rescan(&self, chain: &str, from: u64) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/v1/chains/{chain}/rescan", self.base))
                .json(&json!({ "from": from })),
        )
        .await
    }

    /// Starts a rescan, prints the daemon's answer to `out`, then follows it
    /// on stderr until `chain` has indexed up to the node's tip again.
    /// Leaving early (Ctrl-C) leaves the rescan running in the daemon.
    pub async fn rescan_follow(
        &self,
        chain: &str,
        from: u64,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        let before = self.chain_status(chain).await?["rescans"].as_u64();
        let answer = self.rescan(chain, from).await?;
        writeln!(out, "{answer}")?;
        out.flush()?;
        // A daemon that does not count rescans cannot be followed.
        let Some(before) = before else {
            return Ok(());
        };
        let progress = Progress::new(format!("rescan {chain} from {from}"), "blocks");
        progress.wait("waiting for the scanner to start it");
        loop {
            let s = self.chain_status(chain).await?;
            if s["rescans"].as_u64().unwrap_or(0) > before {
                break;
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
        loop {
            let s = self.chain_status(chain).await?;
            let indexed = s["indexed_height"].as_u64();
            if let Some(tip) = s["node_tip"].as_u64() {
                let len = tip.saturating_add(1).saturating_sub(from);
                let pos = indexed.map_or(0, |h| h.saturating_add(1).saturating_sub(from));
                progress.set(pos.min(len), len);
                if indexed.is_some_and(|h| h >= tip) {
                    progress.finish(&format!("indexed up to {tip} again"));
                    return Ok(());
                }
            }
            match (s["state"].as_str(), s["last_error"].as_str()) {
                (Some(state @ ("node_unreachable" | "degraded")), e) => {
                    progress.note(&format!("{state}: {}", e.unwrap_or("no details")))
                }
                _ => progress.note(""),
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }

    /// One chain's entry of `/v1/status`.
    async fn chain_status(&self, chain: &str) -> anyhow::Result<Value> {
        let s = self.get("/v1/status").await?;
        s["chains"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["chain"] == chain)
            .cloned()
            .with_context(|| format!("the daemon has no chain `{chain}`"))
    }

    /// Prints events after `after` as NDJSON; with `follow`, keeps waiting
    /// for new ones.
    pub async fn events_tail(
        &self,
        mut after: u64,
        follow: bool,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        loop {
            let wait = if follow { 30 } else { 0 };
            let page = self
                .get(&format!("/v1/events?after={after}&limit=1000&wait={wait}"))
                .await?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            for e in &events {
                writeln!(out, "{e}")?;
            }
            out.flush()?;
            after = page["next_after"].as_u64().unwrap_or(after);
            if events.is_empty() && !follow {
                return Ok(());
            }
        }
    }
}

/// Turns an import file into NDJSON watch requests.
fn to_ndjson(text: &str, chain: Option<&str>) -> anyhow::Result<String> {
    let mut out = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut item: Value = if line.starts_with('{') {
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", n + 1))?
        } else {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            if n == 0
                && cols
                    .first()
                    .is_some_and(|c| c.eq_ignore_ascii_case("chain"))
            {
                continue;
            }
            match cols.as_slice() {
                [c, a] => json!({"chain": c, "address": a}),
                [c, a, "", ..] => json!({"chain": c, "address": a}),
                [c, a, l, ..] => json!({"chain": c, "address": a, "label": l}),
                [a] => json!({"address": a}),
                _ => bail!("line {}: expected chain,address[,label]", n + 1),
            }
        };
        if item.get("chain").is_none_or(|c| c.as_str() == Some("")) {
            match chain {
                Some(c) => item["chain"] = json!(c),
                None => bail!("line {}: no chain (add a chain column or --chain)", n + 1),
            }
        }
        out.push_str(&item.to_string());
        out.push('\n');
    }
    Ok(out)
}

/// An invoice id (`inv_` and hex digits) checked before it goes into a URL
/// path, so that no `/`, `?` or `..` in it can reach another route.
fn invoice_id(id: &str) -> anyhow::Result<&str> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("`{id}` is not an invoice id (like inv_01a2376c3531ec68d91abb4d7434)");
    }
    Ok(id)
}

/// One line per invoice: id, chain, asset, the amount due, what was paid,
/// status and order id.
pub fn print_invoices(list: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<32} {:<8} {:<6} {:>16} {:>16} {:<10} ORDER",
        "ID", "CHAIN", "ASSET", "DUE", "PAID", "STATUS"
    )?;
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for i in list["invoices"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "{:<32} {:<8} {:<6} {:>16} {:>16} {:<10} {}",
            text(&i["id"]),
            text(&i["chain"]),
            text(&i["asset"]["symbol"]),
            text(&i["amount_due"]),
            text(&i["paid"]),
            text(&i["status"]),
            text(&i["order_id"]),
        )?;
    }
    if let Some(next) = list["next"].as_str() {
        writeln!(out, "more: --after {next}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_ndjson_imports() {
        let csv = "chain,address,label\nbtc,bc1qabc,order-1\n\ntron,TXyz\n# note\n";
        let out = to_ndjson(csv, None).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            json!({"chain": "btc", "address": "bc1qabc", "label": "order-1"})
        );
        assert_eq!(lines[1], json!({"chain": "tron", "address": "TXyz"}));
        let only = to_ndjson("bc1qa\nbc1qb\n", Some("btc")).unwrap();
        assert_eq!(only.lines().count(), 2);
        assert!(to_ndjson("bc1qa\n", None)
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        let nd = to_ndjson("{\"address\":\"x\"}\n", Some("eth")).unwrap();
        assert!(nd.contains("\"chain\":\"eth\""));
    }
}
