//! Redis Streams sink: `XADD` of each event to the stream its template
//! names, the entry id `<seq>-0` taken from the event's place in the feed.
//! The batch goes out as one pipeline of a small script that adds an entry
//! only when the stream does not hold that id yet, so a batch sent again
//! after a crash or a lost answer adds nothing twice.

use super::batch::Item;
use super::{nats, EventView, SendError};
use crate::config::RedisSink;
use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// KEYS[1] the stream; ARGV[1] the entry id; ARGV[2] the `MAXLEN` or "";
/// ARGV[3..] the fields and values. Returns 0 when the entry is there
/// already, 1 when added, 2 when added under a new id because the stream
/// has moved past this one (an event sent again from the dead-letter
/// list, whose entry was trimmed or never added).
const XADD_ONCE: &str = r"
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1], 'COUNT', 1)
if #found > 0 then return 0 end
local args = {'XADD', KEYS[1]}
if ARGV[2] ~= '' then
  args[#args + 1] = 'MAXLEN'
  args[#args + 1] = '~'
  args[#args + 1] = ARGV[2]
end
args[#args + 1] = ARGV[1]
local id_at = #args
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
local added = redis.pcall(unpack(args))
if type(added) == 'table' and added.err then
  args[id_at] = '*'
  redis.call(unpack(args))
  return 2
end
return 1
";

pub struct Redis {
    config: RedisSink,
    client: redis::Client,
    script: redis::Script,
    timeout: Duration,
    connection: Option<MultiplexedConnection>,
}

/// A stream key may hold anything; only control characters are replaced.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect()
}

/// The entry id of the event at `seq` in the feed.
pub fn entry_id(seq: u64) -> String {
    // 0-0 is not a valid id; the feed starts at 1 anyway.
    if seq == 0 {
        "0-1".into()
    } else {
        format!("{seq}-0")
    }
}

impl Redis {
    pub fn new(config: RedisSink, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.expose())
            .map_err(|e| anyhow::anyhow!("redis url: {e}"))?;
        Ok(Redis {
            config,
            client,
            script: redis::Script::new(XADD_ONCE),
            timeout,
            connection: None,
        })
    }

    async fn connection(&mut self) -> Result<MultiplexedConnection, SendError> {
        if let Some(c) = &self.connection {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| SendError::Sink(format!("cannot connect to Redis: {e}")))?;
        self.connection = Some(c.clone());
        Ok(c)
    }

    pub async fn send(&mut self, items: &[Item]) -> Vec<Result<(), SendError>> {
        let mut pipe = redis::pipe();
        pipe.load_script(&self.script).ignore();
        let maxlen = self
            .config
            .maxlen
            .map(|n| n.to_string())
            .unwrap_or_default();
        let mut out: Vec<Option<Result<(), SendError>>> = Vec::with_capacity(items.len());
        let mut invocations = Vec::with_capacity(items.len());
        for item in items {
            let Ok(view) = serde_json::from_slice::<EventView>(&item.event) else {
                out.push(Some(Err(SendError::Rejected(
                    "the stored event cannot be read".into(),
                ))));
                continue;
            };
            let stream = nats::render(&self.config.stream, &view, clean);
            let mut invocation = self.script.prepare_invoke();
            invocation
                .key(stream)
                .arg(entry_id(item.delivery.seq))
                .arg(&maxlen)
                .arg("id")
                .arg(view.id.as_ref())
                .arg("type")
                .arg(view.kind.as_ref())
                .arg("seq")
                .arg(item.delivery.seq)
                .arg("event")
                .arg(item.body());
            invocations.push(invocation);
            out.push(None);
        }
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        let timeout = self.timeout;
        let sent = async {
            let mut c = self.connection().await?;
            pipe.query_async::<Vec<i64>>(&mut c)
                .await
                .map_err(|e| SendError::Sink(format!("Redis: {e}")))
        };
        let result = match tokio::time::timeout(timeout, sent).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout(timeout)),
        };
        if let Err(e) = &result {
            tracing::debug!("Redis batch failed: {e}");
            // A new connection next time: this one may be gone.
            self.connection = None;
        }
        out.into_iter()
            .map(|slot| match (slot, &result) {
                (Some(r), _) => r,
                (None, Ok(_)) => Ok(()),
                (None, Err(e)) => Err(SendError::Sink(e.to_string())),
            })
            .collect()
    }
}
