//! PostgreSQL sink: each batch of events is written in one transaction to
//! tables paywatch creates and migrates itself (`schema_version` records
//! which migrations ran). Every event is a row of `events`, keyed by its id,
//! so a batch sent again after a crash adds nothing; the transfer an event
//! concerns is a row of `transfers` and the invoice it changes a row of
//! `invoices` (with one row per change in `invoice_history`), each updated
//! only by a later event than the one it holds. A reorged transfer keeps
//! its row with `status = 'reorged'`.

use super::batch::Item;
use super::SendError;
use crate::config::PostgresSink;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// The migrations, in order; `{s}` is the quoted schema. A migration is
/// never changed once released: a change is a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE {s}.events (
    seq bigint NOT NULL,
    id text PRIMARY KEY,
    type text NOT NULL,
    chain text NOT NULL,
    network text NOT NULL,
    address text NOT NULL,
    txid text,
    invoice_id text,
    body jsonb NOT NULL,
    payload jsonb,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_seq ON {s}.events (seq);
CREATE INDEX events_address ON {s}.events (chain, address);
CREATE INDEX events_invoice ON {s}.events (invoice_id) WHERE invoice_id IS NOT NULL;
CREATE TABLE {s}.transfers (
    chain text NOT NULL,
    txid text NOT NULL,
    index bigint NOT NULL,
    direction text NOT NULL,
    address text NOT NULL,
    counterparty text,
    asset text NOT NULL,
    contract text,
    decimals integer NOT NULL,
    amount numeric(78, 0) NOT NULL,
    status text NOT NULL,
    block_height bigint,
    block_hash text,
    block_time timestamptz,
    confirmations bigint NOT NULL,
    label text,
    risk jsonb NOT NULL,
    event_id text NOT NULL,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, txid, index, direction)
);
CREATE INDEX transfers_address ON {s}.transfers (chain, address);
CREATE TABLE {s}.invoices (
    id text PRIMARY KEY,
    order_id text NOT NULL,
    chain text NOT NULL,
    asset text NOT NULL,
    address text NOT NULL,
    amount_due numeric NOT NULL,
    paid numeric NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    invoice jsonb NOT NULL,
    event_id text NOT NULL,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_order ON {s}.invoices (order_id);
CREATE TABLE {s}.invoice_history (
    event_id text PRIMARY KEY,
    invoice_id text NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    payment_event text,
    seq bigint NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_history_invoice ON {s}.invoice_history (invoice_id, seq);
"#];

pub struct Postgres {
    config: PostgresSink,
    /// The schema, quoted for SQL.
    schema: String,
    timeout: Duration,
    client: Option<Client>,
}

impl Postgres {
    pub fn new(config: PostgresSink, timeout: Duration) -> Self {
        Postgres {
            schema: format!("\"{}\"", config.schema),
            config,
            timeout,
            client: None,
        }
    }

    /// The open connection, or a new one with the tables migrated.
    async fn client(&mut self) -> Result<&mut Client, SendError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let (mut client, connection) =
                self.config.connect.connect(NoTls).await.map_err(|e| {
                    SendError::Sink(format!("cannot connect to PostgreSQL: {}", chain(&e)))
                })?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!("PostgreSQL connection closed: {e}");
                }
            });
            migrate(&mut client, &self.schema).await?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    pub async fn send(&mut self, items: &[Item]) -> Vec<Result<(), SendError>> {
        let timeout = self.timeout;
        let schema = self.schema.clone();
        let result = tokio::time::timeout(timeout, async {
            let client = self.client().await?;
            match write(client, &schema, items).await {
                Err(e) if items.len() > 1 && is_data_error(&e) => {
                    // One event the database cannot take: each in its own
                    // transaction, so only that one is turned down.
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(
                            match write(client, &schema, std::slice::from_ref(item)).await {
                                Ok(()) => Ok(()),
                                Err(e) if is_data_error(&e) => Err(SendError::Rejected(format!(
                                    "PostgreSQL cannot store this event: {}",
                                    chain(&e)
                                ))),
                                Err(e) => {
                                    Err(SendError::Sink(format!("PostgreSQL: {}", chain(&e))))
                                }
                            },
                        );
                    }
                    Ok(out)
                }
                Err(e) if is_data_error(&e) => Ok(vec![Err(SendError::Rejected(format!(
                    "PostgreSQL cannot store this event: {}",
                    chain(&e)
                )))]),
                Err(e) => Err(SendError::Sink(format!("PostgreSQL: {}", chain(&e)))),
                Ok(()) => Ok(items.iter().map(|_| Ok(())).collect()),
            }
        })
        .await;
        match result {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                self.drop_if_broken();
                items
                    .iter()
                    .map(|_| Err(SendError::Sink(e.to_string())))
                    .collect()
            }
            Err(_) => {
                // The transaction's fate is unknown: a new connection, and
                // the batch again (its rows are keyed by event id).
                self.client = None;
                items
                    .iter()
                    .map(|_| Err(SendError::Timeout(timeout)))
                    .collect()
            }
        }
    }

    fn drop_if_broken(&mut self) {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
    }
}

/// An error with its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

/// A data exception (SQLSTATE class 22: a string PostgreSQL cannot store,
/// a number out of range): the same rows would fail again.
fn is_data_error(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code().starts_with("22"))
}

/// Creates the schema and runs the migrations not run yet, under a lock so
/// that two daemons sharing a database do not run them twice.
async fn migrate(client: &mut Client, schema: &str) -> Result<(), SendError> {
    let fail = |e: tokio_postgres::Error| {
        SendError::Sink(format!(
            "cannot set up the tables in {schema}: {}",
            chain(&e)
        ))
    };
    let tx = client.transaction().await.map_err(fail)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("paywatch:{schema}")],
    )
    .await
    .map_err(fail)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(fail)?;
    let row = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_version"),
            &[],
        )
        .await
        .map_err(fail)?;
    let have: i32 = row.get(0);
    let known = MIGRATIONS.len() as i32;
    if have > known {
        return Err(SendError::Sink(format!(
            "the tables in {schema} are at version {have}, written by a newer paywatch (this one knows up to {known})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(&sql.replace("{s}", schema))
            .await
            .map_err(fail)?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(fail)?;
        tracing::info!(schema, version, "PostgreSQL tables migrated");
    }
    tx.commit().await.map_err(fail)
}

/// The columns of `events` for one item.
struct EventRow {
    seq: i64,
    id: String,
    kind: String,
    chain: String,
    network: String,
    address: String,
    txid: Option<String>,
    invoice_id: Option<String>,
    body: String,
    payload: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The transfer a `payment.*` event is about, as `transfers` holds it.
#[derive(Clone)]
struct TransferRow {
    key: (String, String, i64, String),
    address: String,
    counterparty: Option<String>,
    asset: String,
    contract: Option<String>,
    decimals: i32,
    amount: String,
    /// `None` for `payment.flagged`, which changes only `risk`.
    status: Option<String>,
    block_height: Option<i64>,
    block_hash: Option<String>,
    block_time: Option<i64>,
    confirmations: i64,
    label: Option<String>,
    risk: String,
    event_id: String,
    seq: i64,
}

fn transfer_row(kind: &str, e: &Value, seq: i64) -> Option<TransferRow> {
    let suffix = kind.strip_prefix("payment.")?;
    let status = match suffix {
        "flagged" => None,
        "detected" if e["status"] == "mempool" => Some("mempool".to_string()),
        other => Some(other.to_string()),
    };
    Some(TransferRow {
        key: (
            text(&e["chain"])?,
            text(&e["txid"])?,
            e["index"].as_i64()?,
            text(&e["direction"])?,
        ),
        address: text(&e["address"])?,
        counterparty: text(&e["counterparty"]),
        asset: text(&e["asset"]["symbol"])?,
        contract: text(&e["asset"]["contract"]),
        decimals: e["asset"]["decimals"].as_i64()? as i32,
        amount: text(&e["amount"])?,
        status,
        block_height: e["block"]["height"].as_i64(),
        block_hash: text(&e["block"]["hash"]),
        block_time: e["block"]["time"].as_i64(),
        confirmations: e["confirmations"].as_i64().unwrap_or(0),
        label: text(&e["watch"]["label"]),
        risk: e.get("risk").map_or_else(|| "{}".into(), Value::to_string),
        event_id: text(&e["id"])?,
        seq,
    })
}

/// The invoice an `invoice.*` or `refund.*` event carries.
struct InvoiceRow {
    id: String,
    order_id: String,
    chain: String,
    asset: String,
    address: String,
    amount_due: String,
    paid: String,
    status: String,
    created_at: i64,
    expires_at: i64,
    invoice: String,
    event_id: String,
    kind: String,
    payment_event: Option<String>,
    seq: i64,
}

fn invoice_row(kind: &str, e: &Value, seq: i64) -> Option<InvoiceRow> {
    let i = e.get("invoice")?;
    Some(InvoiceRow {
        id: text(&i["id"])?,
        order_id: text(&i["order_id"]).unwrap_or_default(),
        chain: text(&i["chain"])?,
        asset: text(&i["asset"]["symbol"])?,
        address: text(&i["address"])?,
        amount_due: text(&i["amount_due"])?,
        paid: text(&i["paid"]).unwrap_or_else(|| "0".into()),
        status: text(&i["status"])?,
        created_at: i["created_at"].as_i64().unwrap_or(0),
        expires_at: i["expires_at"].as_i64().unwrap_or(0),
        invoice: i.to_string(),
        event_id: text(&e["id"])?,
        kind: kind.to_string(),
        payment_event: text(&e["payment_event"]),
        seq,
    })
}

/// Writes `items` in one transaction.
async fn write(client: &mut Client, s: &str, items: &[Item]) -> Result<(), tokio_postgres::Error> {
    let mut events = Vec::with_capacity(items.len());
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        let e: Value = serde_json::from_slice(&item.event).unwrap_or(Value::Null);
        let kind = text(&e["type"]).unwrap_or_default();
        events.push(EventRow {
            seq: item.delivery.seq as i64,
            id: item.delivery.event_id.clone(),
            kind: kind.clone(),
            chain: item.delivery.chain.clone(),
            network: text(&e["network"]).unwrap_or_default(),
            address: item.delivery.address.clone(),
            txid: text(&e["txid"]),
            invoice_id: text(&e["invoice"]["id"]),
            body: String::from_utf8_lossy(&item.event).into_owned(),
            payload: item.delivery.payload.as_ref().map(|p| p.get().to_string()),
        });
        parsed.push((kind, e));
    }
    let tx = client.transaction().await?;
    let inserted = tx
        .query(
            &format!(
                "INSERT INTO {s}.events (seq, id, type, chain, network, address, txid, invoice_id, body, payload)
                 SELECT seq, id, type, chain, network, address, txid, invoice_id, body::jsonb, payload::jsonb
                 FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::text[], $10::text[])
                      AS u(seq, id, type, chain, network, address, txid, invoice_id, body, payload)
                 ON CONFLICT (id) DO NOTHING
                 RETURNING id"
            ),
            &[
                &events.iter().map(|r| r.seq).collect::<Vec<_>>(),
                &events.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.chain.as_str()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.network.as_str()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.txid.as_deref()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.invoice_id.as_deref()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(),
                &events.iter().map(|r| r.payload.as_deref()).collect::<Vec<_>>(),
            ],
        )
        .await?;
    let new: HashSet<String> = inserted.iter().map(|r| r.get::<_, String>(0)).collect();

    // What the new events say about transfers and invoices: for each, the
    // latest word in this batch.
    let mut transfers: HashMap<(String, String, i64, String), TransferRow> = HashMap::new();
    let mut invoices: HashMap<String, InvoiceRow> = HashMap::new();
    let mut history = Vec::new();
    for (row, (kind, e)) in events.iter().zip(&parsed) {
        if !new.contains(&row.id) {
            continue;
        }
        if let Some(t) = transfer_row(kind, e, row.seq) {
            match transfers.get_mut(&t.key) {
                Some(old) => {
                    let status = t.status.clone().or(old.status.take());
                    *old = TransferRow { status, ..t };
                }
                None => {
                    transfers.insert(t.key.clone(), t);
                }
            }
        }
        if let Some(i) = invoice_row(kind, e, row.seq) {
            history.push((
                i.event_id.clone(),
                i.id.clone(),
                i.kind.clone(),
                i.status.clone(),
                i.payment_event.clone(),
                i.seq,
            ));
            invoices.insert(i.id.clone(), i);
        }
    }
    let (with_status, risk_only): (Vec<TransferRow>, Vec<TransferRow>) =
        transfers.into_values().partition(|t| t.status.is_some());
    for (rows, update) in [
        (
            with_status,
            "address = EXCLUDED.address, counterparty = EXCLUDED.counterparty,
             amount = EXCLUDED.amount, status = EXCLUDED.status,
             block_height = EXCLUDED.block_height, block_hash = EXCLUDED.block_hash,
             block_time = EXCLUDED.block_time, confirmations = EXCLUDED.confirmations,
             label = EXCLUDED.label, risk = EXCLUDED.risk",
        ),
        (risk_only, "risk = EXCLUDED.risk"),
    ] {
        if rows.is_empty() {
            continue;
        }
        tx.execute(
            &format!(
                "INSERT INTO {s}.transfers (chain, txid, index, direction, address, counterparty, asset,
                     contract, decimals, amount, status, block_height, block_hash, block_time,
                     confirmations, label, risk, event_id, seq)
                 SELECT chain, txid, idx, direction, address, counterparty, asset, contract, decimals,
                        amount::numeric, coalesce(status, 'detected'), block_height, block_hash,
                        to_timestamp(block_time), confirmations, label, risk::jsonb, event_id, seq
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::int4[], $10::text[], $11::text[], $12::int8[],
                             $13::text[], $14::int8[], $15::int8[], $16::text[], $17::text[],
                             $18::text[], $19::int8[])
                      AS u(chain, txid, idx, direction, address, counterparty, asset, contract,
                           decimals, amount, status, block_height, block_hash, block_time,
                           confirmations, label, risk, event_id, seq)
                 ON CONFLICT (chain, txid, index, direction) DO UPDATE SET {update},
                     event_id = EXCLUDED.event_id, seq = EXCLUDED.seq, updated_at = now()
                 WHERE {s}.transfers.seq < EXCLUDED.seq"
            ),
            &[
                &rows.iter().map(|t| t.key.0.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.key.1.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.key.2).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.key.3.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.address.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.counterparty.as_deref()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.asset.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.contract.as_deref()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.decimals).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.amount.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.status.as_deref()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.block_height).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.block_hash.as_deref()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.block_time).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.confirmations).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.label.as_deref()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.risk.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.event_id.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|t| t.seq).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    if !invoices.is_empty() {
        let rows: Vec<InvoiceRow> = invoices.into_values().collect();
        tx.execute(
            &format!(
                "INSERT INTO {s}.invoices (id, order_id, chain, asset, address, amount_due, paid, status,
                     created_at, expires_at, invoice, event_id, seq)
                 SELECT id, order_id, chain, asset, address, amount_due::numeric, paid::numeric, status,
                        to_timestamp(created_at), to_timestamp(expires_at), invoice::jsonb, event_id, seq
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::int8[], $10::int8[], $11::text[], $12::text[],
                             $13::int8[])
                      AS u(id, order_id, chain, asset, address, amount_due, paid, status, created_at,
                           expires_at, invoice, event_id, seq)
                 ON CONFLICT (id) DO UPDATE SET paid = EXCLUDED.paid, status = EXCLUDED.status,
                     amount_due = EXCLUDED.amount_due, expires_at = EXCLUDED.expires_at,
                     invoice = EXCLUDED.invoice, event_id = EXCLUDED.event_id, seq = EXCLUDED.seq,
                     updated_at = now()
                 WHERE {s}.invoices.seq < EXCLUDED.seq"
            ),
            &[
                &rows.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.order_id.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.chain.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.asset.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.address.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.amount_due.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.paid.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.status.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.created_at).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.expires_at).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.invoice.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.event_id.as_str()).collect::<Vec<_>>(),
                &rows.iter().map(|i| i.seq).collect::<Vec<_>>(),
            ],
        )
        .await?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.invoice_history (event_id, invoice_id, type, status, payment_event, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[])
                 ON CONFLICT (event_id) DO NOTHING"
            ),
            &[
                &history.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
                &history.iter().map(|h| h.1.as_str()).collect::<Vec<_>>(),
                &history.iter().map(|h| h.2.as_str()).collect::<Vec<_>>(),
                &history.iter().map(|h| h.3.as_str()).collect::<Vec<_>>(),
                &history.iter().map(|h| h.4.as_deref()).collect::<Vec<_>>(),
                &history.iter().map(|h| h.5).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    tx.commit().await
}
