//! The command-line client: `status`, `watch add|remove|import`, `invoice
//! create|get|list|cancel`, `rescan` and `events tail` talk to a running
//! daemon over its HTTP API.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

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
            "{:<12} {:<8} {:<17} {:>10} {:>10} {:>6} {:>8}  ETA",
            "CHAIN", "KIND", "STATE", "INDEXED", "NODE TIP", "LAG", "BLK/S"
        )?;
        let opt = |v: &Value| v.as_u64().map_or("-".to_string(), |n| n.to_string());
        for c in s["chains"].as_array().into_iter().flatten() {
            let rate = c["blocks_per_second"].as_f64().unwrap_or(0.0);
            // While it syncs, how long the rest takes at the current rate.
            let eta = match c["lag"].as_u64() {
                Some(lag) if lag > 0 && c["state"] == "syncing" => crate::status::eta(lag, rate),
                _ => "-".to_string(),
            };
            writeln!(
                out,
                "{:<12} {:<8} {:<17} {:>10} {:>10} {:>6} {:>8.1}  {}",
                c["chain"].as_str().unwrap_or("?"),
                c["kind"].as_str().unwrap_or("?"),
                c["state"].as_str().unwrap_or("?"),
                opt(&c["indexed_height"]),
                opt(&c["node_tip"]),
                opt(&c["lag"]),
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
    pub async fn watch_import(&self, file: &Path, chain: Option<&str>) -> anyhow::Result<Value> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let body = to_ndjson(&text, chain).with_context(|| format!("{}", file.display()))?;
        self.send(
            self.http
                .post(format!("{}/v1/watches:batch", self.base))
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await
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

    /// Asks the daemon to scan `chain` again from `from`.
    pub async fn rescan(&self, chain: &str, from: u64) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/v1/chains/{chain}/rescan", self.base))
                .json(&json!({ "from": from })),
        )
        .await
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
        "{:<28} {:<8} {:<6} {:>16} {:>16} {:<10} ORDER",
        "ID", "CHAIN", "ASSET", "DUE", "PAID", "STATUS"
    )?;
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for i in list["invoices"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "{:<28} {:<8} {:<6} {:>16} {:>16} {:<10} {}",
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
