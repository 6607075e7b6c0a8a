//! bitcoind's ZMQ notifications: one subscription to one topic, kept up
//! (reconnecting with a growing pause) until stopped. The mempool follower
//! reads `rawtx` and `sequence` through it, the scanner `hashblock`.

use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Subscribes to `topic` at `endpoint` and calls `f` with each message's
/// body, and with `None` after every (re)connection (messages may have
/// been missed). Returns when `stop` turns true or `f` returns false.
pub async fn subscribe(
    chain: String,
    endpoint: String,
    topic: &'static str,
    mut f: impl FnMut(Option<&[u8]>) -> bool + Send,
    mut stop: watch::Receiver<bool>,
) {
    use zeromq::{Socket, SocketRecv};
    let mut pause = Duration::from_millis(100);
    loop {
        let mut socket = zeromq::SubSocket::new();
        let connected = async {
            socket.connect(&endpoint).await?;
            socket.subscribe(topic).await
        };
        let connected = tokio::select! {
            r = connected => r,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(()) => {
                info!(%chain, %endpoint, topic, "following bitcoind over ZMQ");
                pause = Duration::from_millis(100);
                if !f(None) {
                    return;
                }
                loop {
                    let msg = tokio::select! {
                        m = socket.recv() => m,
                        _ = stop.changed() => return,
                    };
                    match msg {
                        Ok(m) => {
                            let (Some(t), Some(body)) = (m.get(0), m.get(1)) else {
                                continue;
                            };
                            if t.as_ref() == topic.as_bytes() && !f(Some(body)) {
                                return;
                            }
                        }
                        Err(e) => {
                            warn!(%chain, %endpoint, topic, error = %e, "ZMQ subscription lost");
                            break;
                        }
                    }
                }
            }
            Err(e) => debug!(%chain, %endpoint, topic, error = %e, "ZMQ connect failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}
