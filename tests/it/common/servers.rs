//! Real PostgreSQL, Redis and Mosquitto servers from Debian's packages, each
//! on a free loopback port with its data in a temporary folder, killed and
//! removed when dropped. Used by the sink tests and the sink bench (which
//! includes this file).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// False, with a note, when `what` is missing (outside CI; under `CI=true`
/// a missing server fails the test).
pub fn have(what: &str, found: bool) -> bool {
    if found {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is missing (scripts/setup-deps.sh installs it)"
    );
    eprintln!("skipped: {what} is not installed");
    false
}

async fn wait_listening(port: u16, what: &str, child: &mut Child) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not listen on {port}");
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

// ---- PostgreSQL -------------------------------------------------------------

/// The folder of the newest installed PostgreSQL's programs.
pub fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// A throwaway cluster made by `initdb`, its superuser `paywatch` with a
/// password (TCP connections use SCRAM). PostgreSQL refuses to run as
/// root, so under root it runs as the `postgres` user.
pub struct Postgres {
    child: Option<Child>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    pub password: String,
}

impl Postgres {
    pub fn available() -> bool {
        have("PostgreSQL (postgresql)", pg_bin().is_some())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    pub async fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let mut pg = Postgres {
            child: None,
            bin: pg_bin().expect("PostgreSQL is installed"),
            port: free_port(),
            password: "pw-for-the-sink-tests".into(),
            dir,
        };
        let pwfile = pg.dir.path().join("pw");
        std::fs::write(&pwfile, &pg.password).unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(pg.data())
            .args([
                "-U",
                "paywatch",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.run().await;
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A file holding the password, for `password_file`.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("pw")
    }

    /// The sink's `url` (without the password).
    pub fn url(&self) -> String {
        format!("postgresql://paywatch@127.0.0.1:{}/postgres", self.port)
    }

    /// A connection string with the password, for the test's own client.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=paywatch password={} dbname=postgres",
            self.port, self.password
        )
    }

    /// The postmaster on this cluster's data, port and socket folder.
    fn spawn(&self) -> Child {
        self.command("postgres")
            .arg("-D")
            .arg(self.data())
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts")
    }

    /// Starts the server (again, on the same data).
    pub async fn run(&mut self) {
        let mut child = self.spawn();
        // A restart after a kill may find the old postmaster's children
        // still leaving: try a few times.
        for _ in 0..40 {
            match child.try_wait() {
                Ok(Some(_)) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    child = self.spawn();
                }
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_listening(self.port, "postgres", &mut child).await;
        // Listening is not yet accepting: wait for a real login.
        for _ in 0..100 {
            if tokio_postgres::connect(&self.conninfo(), tokio_postgres::NoTls)
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = Some(child);
    }

    /// SIGKILL to the postmaster: a crash, not a shutdown.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.conninfo(), tokio_postgres::NoTls)
            .await
            .expect("the test connects to PostgreSQL");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // SIGQUIT: the postmaster stops its backends at once.
            let _ = Command::new("kill")
                .args(["-QUIT", &c.id().to_string()])
                .status();
        }
        if let Some(mut c) = self.child.take() {
            for _ in 0..50 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---- Redis ------------------------------------------------------------------

fn redis_binary() -> Option<PathBuf> {
    ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// `redis-server` with its append-only file synced on every write, so that
/// a kill loses nothing it acknowledged.
pub struct Redis {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Redis {
    pub fn available() -> bool {
        have("redis-server", redis_binary().is_some())
    }

    pub async fn start() -> Redis {
        let mut r = Redis {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        };
        r.run().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub async fn run(&mut self) {
        let mut child = Command::new(redis_binary().unwrap())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        wait_listening(self.port, "redis-server", &mut child).await;
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        kill(&mut self.child);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

// ---- Mosquitto --------------------------------------------------------------

fn mosquitto_binary() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// `mosquitto` with a user and password, and persistence: a subscriber's
/// session and queued messages survive a stop.
pub struct Mosquitto {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// With [`Mosquitto::start_with_tls`]: a second listener speaking TLS
    /// with a certificate for `localhost` and 127.0.0.1, and the CA that
    /// signed it (PEM).
    pub tls: Option<(u16, PathBuf)>,
}

impl Mosquitto {
    pub fn available() -> bool {
        have(
            "mosquitto",
            mosquitto_binary().is_some() && Path::new("/usr/bin/mosquitto_passwd").exists(),
        )
    }

    pub async fn start() -> Mosquitto {
        Self::start_inner(false).await
    }

    /// As [`Mosquitto::start`], with a TLS listener beside the plain one.
    pub async fn start_with_tls() -> Mosquitto {
        Self::start_inner(true).await
    }

    async fn start_inner(tls: bool) -> Mosquitto {
        let mut m = Mosquitto {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            user: "paywatch".into(),
            password: "mqtt-pw-for-tests".into(),
            tls: None,
        };
        let mut tls_listener = String::new();
        if tls {
            let port = free_port();
            let ca = make_certificates(m.dir.path());
            let d = m.dir.path().display();
            tls_listener = format!(
                "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n"
            );
            m.tls = Some((port, ca));
        }
        let passwd = m.dir.path().join("passwd");
        std::fs::write(&passwd, "").unwrap();
        let status = Command::new("/usr/bin/mosquitto_passwd")
            .arg("-b")
            .arg(&passwd)
            .args([&m.user, &m.password])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "mosquitto_passwd failed");
        std::fs::write(
            m.dir.path().join("mosquitto.conf"),
            format!(
                "user root\nlistener {port} 127.0.0.1\nallow_anonymous false\n\
                 password_file {passwd}\npersistence true\npersistence_location {dir}/\n\
                 max_queued_messages 100000\n{tls_listener}",
                port = m.port,
                passwd = passwd.display(),
                dir = m.dir.path().display()
            ),
        )
        .unwrap();
        m.run().await;
        m
    }

    /// A file holding the password, for `password_file`.
    pub fn password_file(&self) -> PathBuf {
        let f = self.dir.path().join("password");
        std::fs::write(&f, &self.password).unwrap();
        f
    }

    pub async fn run(&mut self) {
        let mut child = Command::new(mosquitto_binary().unwrap())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        wait_listening(self.port, "mosquitto", &mut child).await;
        self.child = Some(child);
    }

    /// SIGTERM: mosquitto saves its sessions and queued messages and
    /// exits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1,
/// made with `openssl` in `dir` (`ca.pem`, `server.pem`, `server.key`);
/// returns the CA's path.
fn make_certificates(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=paywatch test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    dir.join("ca.pem")
}
