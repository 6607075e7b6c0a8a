//! A fault-injecting TCP proxy between the daemon and a node: it passes
//! bytes through, or delays them, resets connections, cuts answers short,
//! answers with an HTTP error of its own, or refuses every connection (a
//! node that is down). Setting a fault closes the connections passing
//! through, as a restarting node would; new ones meet the fault.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProxyFault {
    Pass,
    /// Each connection waits this long before it is passed through.
    Delay(Duration),
    /// Reads the request, then closes the connection without answering.
    Reset,
    /// Passes the request; only the first `n` bytes of the answer come back.
    Truncate(usize),
    /// Answers every request with this HTTP status and an HTML body.
    Status(u16),
    /// Closes every connection as soon as it is accepted.
    Refuse,
    /// Answers every request `429 Too Many Requests` with this
    /// `Retry-After` (seconds), as a rate-limited provider does.
    RateLimited(u64),
}

/// What the proxy did, and when: a `429` answered, or a connection passed
/// through to the node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seen {
    Limited(std::time::Instant),
    Passed(std::time::Instant),
}

pub struct FaultProxy {
    pub url: String,
    fault: watch::Sender<ProxyFault>,
    stop: watch::Sender<bool>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (fault, current) = watch::channel(ProxyFault::Pass);
        let (stop, mut stopped) = watch::channel(false);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                    _ = stopped.changed() => break,
                };
                let fault = current.clone();
                let target = target.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = serve(client, &target, fault, log).await;
                });
            }
        });
        FaultProxy {
            url,
            fault,
            stop,
            seen,
        }
    }

    /// What the proxy did so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn set(&self, f: ProxyFault) {
        self.fault.send_replace(f);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Reads one request's head and body (by `content-length`).
async fn read_request(client: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = client.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(());
        }
    }
}

async fn serve(
    mut client: TcpStream,
    target: &str,
    mut fault: watch::Receiver<ProxyFault>,
    log: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let now = *fault.borrow_and_update();
    match now {
        ProxyFault::RateLimited(secs) => loop {
            read_request(&mut client).await?;
            let body =
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}"#;
            let answer = format!(
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
                 retry-after: {secs}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
            log.lock()
                .unwrap()
                .push(Seen::Limited(std::time::Instant::now()));
            if *fault.borrow() != now {
                return Ok(());
            }
        },
        ProxyFault::Refuse => return Ok(()),
        ProxyFault::Reset => {
            read_request(&mut client).await?;
            return Ok(());
        }
        ProxyFault::Status(code) => {
            // Keep-alive: every request on the connection gets it.
            loop {
                read_request(&mut client).await?;
                let body = format!("<html><body>{code} from the proxy</body></html>");
                let answer = format!(
                    "HTTP/1.1 {code} Proxy Fault\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                client.write_all(answer.as_bytes()).await?;
                if *fault.borrow() != now {
                    return Ok(());
                }
            }
        }
        ProxyFault::Delay(d) => tokio::time::sleep(d).await,
        ProxyFault::Pass | ProxyFault::Truncate(_) => {}
    }
    log.lock()
        .unwrap()
        .push(Seen::Passed(std::time::Instant::now()));
    let upstream = TcpStream::connect(target).await?;
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let to_node = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            uw.write_all(&buf[..n]).await?;
        }
    };
    let to_client = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0usize;
        loop {
            let n = ur.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            let n = match now {
                ProxyFault::Truncate(limit) => n.min(limit.saturating_sub(sent)),
                _ => n,
            };
            cw.write_all(&buf[..n]).await?;
            sent += n;
            if matches!(now, ProxyFault::Truncate(limit) if sent >= limit) {
                return Ok(());
            }
        }
    };
    // Either side ending, or a new fault, ends the connection.
    tokio::select! {
        r = to_node => r,
        r = to_client => r,
        _ = fault.changed() => Ok(()),
    }
}
