//! Telegram sink: one short message per event to a chat, through the Bot
//! API's `sendMessage`, in English or Chinese. Messages are spaced to the
//! configured rate (the Bot API allows about one a second into one chat
//! and 20 a minute into a group) and a `429` answer's `retry_after` is
//! honoured. A plugin that forwards an event with a payload that is a JSON
//! string, or an object with a `text` field, sends that text instead.

use super::batch::Item;
use super::SendError;
use crate::amount::Amount;
use crate::config::{Explorer, Language, TelegramSink};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

pub struct Telegram {
    config: TelegramSink,
    explorers: HashMap<String, Explorer>,
    client: reqwest::Client,
    /// `…/bot<token>/sendMessage`.
    endpoint: url::Url,
    /// When the last message went out.
    last: Option<Instant>,
}

impl Telegram {
    pub fn new(
        config: TelegramSink,
        explorers: HashMap<String, Explorer>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut endpoint = config.api_url.clone();
        let base = endpoint.path().trim_end_matches('/').to_string();
        endpoint.set_path(&format!("{base}/bot{}/sendMessage", config.token.expose()));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Telegram {
            config,
            explorers,
            client,
            endpoint,
            last: None,
        })
    }

    pub async fn send(&mut self, items: &[Item]) -> Vec<Result<(), SendError>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let r = self.send_one(item).await;
            let stop = matches!(&r, Err(e) if !e.is_final());
            out.push(r);
            if stop {
                break;
            }
        }
        while out.len() < items.len() {
            out.push(Err(SendError::Sink(
                "waits for the message before it".into(),
            )));
        }
        out
    }

    async fn send_one(&mut self, item: &Item) -> Result<(), SendError> {
        let event: Value = serde_json::from_slice(&item.event)
            .map_err(|_| SendError::Rejected("the stored event cannot be read".into()))?;
        let mut body = match item.delivery.payload.as_ref().map(|p| p.get()) {
            Some(p) => match serde_json::from_str::<Value>(p) {
                Ok(Value::String(text)) => json!({ "text": text }),
                Ok(Value::Object(o)) if o.get("text").is_some_and(Value::is_string) => {
                    json!({ "text": o["text"] })
                }
                _ => self.message(&event),
            },
            None => self.message(&event),
        };
        body["chat_id"] = json!(self.config.chat_id);
        body["link_preview_options"] = json!({ "is_disabled": true });
        let gap = Duration::from_secs(60) / self.config.per_minute;
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + gap).await;
        }
        self.last = Some(Instant::now());
        let response = self
            .client
            .post(self.endpoint.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                SendError::Unreachable(format!("Telegram Bot API: {}", e.without_url()))
            })?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() && answer["ok"] == true {
            return Ok(());
        }
        let description = answer["description"]
            .as_str()
            .unwrap_or("no description")
            .to_string();
        let text = format!("Telegram answered {status}: {description}");
        let parameters = &answer["parameters"];
        if let Some(after) = parameters["retry_after"].as_u64() {
            return Err(SendError::RateLimited {
                after: Duration::from_secs(after.clamp(1, 3600)),
                text,
            });
        }
        if let Some(to) = parameters["migrate_to_chat_id"].as_i64() {
            return Err(SendError::Sink(format!(
                "{text} (the group is now the supergroup {to}: set chat_id = {to})"
            )));
        }
        // A message-specific refusal (its text, its entities) would come
        // again: it goes to the dead-letter list. Everything else — a
        // wrong token, an unknown chat, a bot not (or no longer) in the
        // chat, a server error — is the setup's and waits for it.
        let chat_level = description.contains("chat not found")
            || description.contains("not enough rights")
            || description.contains("bot is not a member");
        if status == reqwest::StatusCode::BAD_REQUEST && !chat_level {
            Err(SendError::Rejected(text))
        } else {
            Err(SendError::Sink(text))
        }
    }

    /// The message for `event`, as `sendMessage` fields.
    fn message(&self, e: &Value) -> Value {
        let zh = self.config.language == Language::Zh;
        let kind = e["type"].as_str().unwrap_or_default();
        let mempool = e["status"] == "mempool";
        let mut lines = vec![format!("<b>{}</b>", escape(&title(kind, mempool, zh)))];
        let symbol = e["asset"]["symbol"].as_str().unwrap_or_default();
        let chain = e["chain"].as_str().unwrap_or_default();
        let invoice = e.get("invoice").filter(|i| i.is_object());
        let label = |zh_word: &str, en_word: &str| {
            if zh {
                zh_word.to_string()
            } else {
                en_word.to_string()
            }
        };
        if let Some(i) = invoice {
            let field = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            lines.push(format!(
                "{}: <code>{}</code>",
                label("订单", "Order"),
                escape(&field("order_id"))
            ));
            lines.push(format!(
                "{}: {} / {} {} ({chain})",
                label("已付 / 应付", "Paid / due"),
                escape(&field("paid")),
                escape(&field("amount_due")),
                escape(symbol),
            ));
            lines.push(format!(
                "{}: {}",
                label("状态", "Status"),
                escape(&field("status"))
            ));
        } else if let Some(amount) = e["amount"]
            .as_str()
            .and_then(|a| Amount::parse_base(a).ok())
        {
            let decimals = e["asset"]["decimals"].as_u64().unwrap_or(0).min(77) as u8;
            lines.push(format!(
                "{}: {} {} ({})",
                label("金额", "Amount"),
                escape(&amount.to_whole(decimals)),
                escape(symbol),
                escape(chain)
            ));
        }
        if let Some(address) = e["address"].as_str() {
            let watch = e["watch"]["label"]
                .as_str()
                .filter(|l| !l.is_empty() && invoice.is_none())
                .map(|l| format!(" ({})", escape(&truncate(l, 100))))
                .unwrap_or_default();
            lines.push(format!(
                "{}: <code>{}</code>{watch}",
                label("地址", "Address"),
                escape(address)
            ));
        }
        if let Some(flags) = e["risk"]["flags"].as_array().filter(|f| !f.is_empty()) {
            let flags: Vec<&str> = flags.iter().filter_map(Value::as_str).collect();
            lines.push(format!(
                "{}: {}",
                label("风险", "Risk"),
                escape(&flags.join(", "))
            ));
        }
        if let Some(n) = e["confirmations"].as_u64() {
            lines.push(format!("{}: {n}", label("确认数", "Confirmations")));
        }
        if let Some(link) = e["txid"]
            .as_str()
            .and_then(|txid| self.explorers.get(chain)?.tx(txid))
        {
            lines.push(format!(
                "<a href=\"{}\">{}</a>",
                escape(&link),
                label("查看交易", "View transaction")
            ));
        }
        json!({ "text": lines.join("\n"), "parse_mode": "HTML" })
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Text for Telegram's HTML: `<`, `>`, `&` and `"` as entities.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// What happened, in a few words.
fn title(kind: &str, mempool: bool, zh: bool) -> String {
    let (en, cn) = match kind {
        "payment.detected" if mempool => ("Payment seen, not yet in a block", "收到付款（未上链）"),
        "payment.detected" => ("Payment received", "收到付款"),
        "payment.confirmed" => ("Payment confirmed", "付款已确认"),
        "payment.reorged" => (
            "Payment undone by a chain reorganization",
            "付款因链重组被撤销",
        ),
        "payment.replaced" => ("Unconfirmed payment replaced", "未确认付款被替换"),
        "payment.double_spent" => ("Unconfirmed payment double-spent", "未确认付款被双花"),
        "payment.dropped" => ("Unconfirmed payment dropped", "未确认付款已被丢弃"),
        "payment.flagged" => ("Payment flagged by risk screening", "付款被风控标记"),
        "invoice.underpaid" => ("Order underpaid", "订单少付"),
        "invoice.paid" => ("Order paid", "订单已支付"),
        "invoice.confirmed" => ("Order paid and confirmed", "订单支付已确认"),
        "invoice.overpaid" => ("Order overpaid", "订单多付"),
        "invoice.paid_late" => ("Order paid after it expired", "订单过期后付款"),
        "invoice.expired" => ("Order expired", "订单已过期"),
        "invoice.cancelled" => ("Order cancelled", "订单已取消"),
        "invoice.reorged" => (
            "Order payment undone by a reorganization",
            "订单付款因链重组被撤销",
        ),
        "invoice.reverted" => ("Order payment reverted", "订单付款被撤回"),
        "invoice.repriced" => ("Order repriced", "订单已重新定价"),
        "invoice.settled" => ("Order marked paid by hand", "订单已手动标记为已支付"),
        "invoice.invalidated" => ("Order marked invalid", "订单已标记为无效"),
        "invoice.payment_attached" => (
            "Payment credited to the order by hand",
            "付款已手动计入订单",
        ),
        "invoice.held" => ("Order held for review", "订单已暂扣待审核"),
        "invoice.released" => ("Held order released", "暂扣订单已放行"),
        "invoice.rejected" => ("Held order rejected", "暂扣订单已拒绝"),
        "invoice.unmatched_payment" => ("Payment matches no order", "付款无法匹配订单"),
        "refund.requested" => ("Refund requested", "已申请退款"),
        "refund.sent" => ("Refund sent", "退款已发出"),
        "refund.completed" => ("Refund completed", "退款已完成"),
        "refund.reorged" => ("Refund undone by a reorganization", "退款因链重组被撤销"),
        "address.frozen" => (
            "Address frozen by the token's issuer",
            "地址被代币发行方冻结",
        ),
        "address.unfrozen" => (
            "Address unfrozen by the token's issuer",
            "地址已被代币发行方解冻",
        ),
        other => (other, other),
    };
    if zh { cn } else { en }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_title_in_both_languages() {
        let types = [
            "payment.detected",
            "payment.confirmed",
            "payment.reorged",
            "payment.replaced",
            "payment.double_spent",
            "payment.dropped",
            "payment.flagged",
            "address.frozen",
            "address.unfrozen",
            "invoice.unmatched_payment",
        ];
        let invoice = [
            crate::invoice_record::InvoiceEventType::Underpaid,
            crate::invoice_record::InvoiceEventType::Paid,
            crate::invoice_record::InvoiceEventType::Confirmed,
            crate::invoice_record::InvoiceEventType::Overpaid,
            crate::invoice_record::InvoiceEventType::PaidLate,
            crate::invoice_record::InvoiceEventType::Expired,
            crate::invoice_record::InvoiceEventType::Cancelled,
            crate::invoice_record::InvoiceEventType::Reorged,
            crate::invoice_record::InvoiceEventType::Reverted,
            crate::invoice_record::InvoiceEventType::Repriced,
            crate::invoice_record::InvoiceEventType::Settled,
            crate::invoice_record::InvoiceEventType::Invalidated,
            crate::invoice_record::InvoiceEventType::PaymentAttached,
            crate::invoice_record::InvoiceEventType::Held,
            crate::invoice_record::InvoiceEventType::Released,
            crate::invoice_record::InvoiceEventType::Rejected,
            crate::invoice_record::InvoiceEventType::RefundRequested,
            crate::invoice_record::InvoiceEventType::RefundSent,
            crate::invoice_record::InvoiceEventType::RefundCompleted,
            crate::invoice_record::InvoiceEventType::RefundReorged,
        ]
        .map(|t| t.name());
        for kind in types.iter().chain(invoice.iter()) {
            for zh in [false, true] {
                assert_ne!(title(kind, false, zh), *kind, "{kind} has no title");
            }
        }
    }

    #[test]
    fn labels_cannot_inject_markup() {
        assert_eq!(
            escape("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
        assert_eq!(truncate("ab€d", 3), "ab€…");
        assert_eq!(truncate("ab", 3), "ab");
    }
}
