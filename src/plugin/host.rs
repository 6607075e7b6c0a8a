//! Host functions a plugin may import from the `paywatch` module, and the
//! per-instance state behind them.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::{Caller, Engine, Linker, ResourceLimiter};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

const MAX_LOG_BYTES: usize = 4096;
const LOG_LINES_PER_SEC: u32 = 100;
pub const MAX_KV_KEY: usize = 256;
pub const MAX_KV_VALUE: usize = 64 << 10;

const ABSENT: i32 = -1;
const BAD_ARGUMENT: i32 = -2;
const TOO_LARGE: i32 = -3;
const FULL: i32 = -4;

/// Why a key-value write was refused.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("the plugin's store is full")]
    Full,
    #[error("storage error: {0}")]
    Storage(String),
}

/// A plugin's key-value store: RocksDB in the daemon, memory in `plugin test`.
pub trait KvStore: Send + Sync {
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Stores `value`, refusing when the plugin's total would pass `quota` bytes.
    fn set(&self, plugin: &str, key: &[u8], value: &[u8], quota: u64) -> Result<(), KvError>;
    fn delete(&self, plugin: &str, key: &[u8]) -> Result<(), KvError>;
}

/// Keys of [`MemoryKv`]: the plugin's name and the key.
type KvKey = (String, Vec<u8>);

/// A key-value store in memory.
#[derive(Default)]
pub struct MemoryKv(Mutex<HashMap<KvKey, Vec<u8>>>);

/// The daemon's plugin storage: a column family of the store.
impl KvStore for crate::store::Store {
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.plugin_kv_get(plugin, key)
            .map_err(|e| KvError::Storage(e.to_string()))
    }

    fn set(&self, plugin: &str, key: &[u8], value: &[u8], quota: u64) -> Result<(), KvError> {
        match self.plugin_kv_set(plugin, key, value, quota) {
            Ok(true) => Ok(()),
            Ok(false) => Err(KvError::Full),
            Err(e) => Err(KvError::Storage(e.to_string())),
        }
    }

    fn delete(&self, plugin: &str, key: &[u8]) -> Result<(), KvError> {
        self.plugin_kv_delete(plugin, key)
            .map_err(|e| KvError::Storage(e.to_string()))
    }
}

impl KvStore for MemoryKv {
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let map = self.0.lock().expect("kv lock");
        Ok(map.get(&(plugin.to_string(), key.to_vec())).cloned())
    }

    fn set(&self, plugin: &str, key: &[u8], value: &[u8], quota: u64) -> Result<(), KvError> {
        let mut map = self.0.lock().expect("kv lock");
        let k = (plugin.to_string(), key.to_vec());
        let used: usize = map
            .iter()
            .filter(|((p, kk), _)| p == plugin && *kk != k.1)
            .map(|((_, kk), v)| kk.len() + v.len())
            .sum();
        if (used + key.len() + value.len()) as u64 > quota {
            return Err(KvError::Full);
        }
        map.insert(k, value.to_vec());
        Ok(())
    }

    fn delete(&self, plugin: &str, key: &[u8]) -> Result<(), KvError> {
        let mut map = self.0.lock().expect("kv lock");
        map.remove(&(plugin.to_string(), key.to_vec()));
        Ok(())
    }
}

/// One line a plugin logged.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// What every instance of one plugin shares.
pub(super) struct PluginCtx {
    pub name: String,
    pub config: serde_json::Value,
    pub kv: Arc<dyn KvStore>,
    pub kv_quota: u64,
    pub capture_logs: bool,
}

pub(super) struct MemoryLimiter {
    cap: usize,
    pub hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit: {desired} bytes asked, {} allowed",
                self.cap
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub(super) struct HostState {
    wasi: WasiP1Ctx,
    pub limiter: MemoryLimiter,
    ctx: Arc<PluginCtx>,
    log_window: Instant,
    log_lines: u32,
    log_dropped: u64,
    pub captured: Vec<LogLine>,
}

impl HostState {
    pub fn new(ctx: Arc<PluginCtx>, memory_cap: usize) -> Self {
        HostState {
            // No arguments, environment, files, sockets or stdio.
            wasi: WasiCtxBuilder::new().build_p1(),
            limiter: MemoryLimiter {
                cap: memory_cap,
                hit: false,
            },
            ctx,
            log_window: Instant::now(),
            log_lines: 0,
            log_dropped: 0,
            captured: Vec::new(),
        }
    }

    fn log(&mut self, level: i32, message: &str) {
        let now = Instant::now();
        if now.duration_since(self.log_window).as_secs() >= 1 {
            if self.log_dropped > 0 {
                tracing::warn!(plugin = %self.ctx.name, dropped = self.log_dropped, "plugin logged more than {LOG_LINES_PER_SEC} lines a second; lines dropped");
            }
            self.log_window = now;
            self.log_lines = 0;
            self.log_dropped = 0;
        }
        if self.log_lines >= LOG_LINES_PER_SEC {
            self.log_dropped += 1;
            return;
        }
        self.log_lines += 1;
        let name = &self.ctx.name;
        let level = match level {
            0 => {
                tracing::error!(plugin = %name, "{message}");
                "error"
            }
            1 => {
                tracing::warn!(plugin = %name, "{message}");
                "warn"
            }
            2 => {
                tracing::info!(plugin = %name, "{message}");
                "info"
            }
            _ => {
                tracing::debug!(plugin = %name, "{message}");
                "debug"
            }
        };
        if self.ctx.capture_logs {
            self.captured.push(LogLine {
                level,
                message: message.to_string(),
            });
        }
    }
}

type Call<'a> = Caller<'a, HostState>;

fn memory(caller: &mut Call<'_>) -> Option<wasmtime::Memory> {
    caller.get_export("memory")?.into_memory()
}

fn read(caller: &mut Call<'_>, ptr: i32, len: i32, max: usize) -> Result<Vec<u8>, i32> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > max {
        return Err(TOO_LARGE);
    }
    let mem = memory(caller).ok_or(BAD_ARGUMENT)?;
    mem.data(&*caller)
        .get(ptr..ptr.checked_add(len).ok_or(BAD_ARGUMENT)?)
        .map(<[u8]>::to_vec)
        .ok_or(BAD_ARGUMENT)
}

/// Writes `value` at `out` when it fits in `cap`; returns its length either way.
fn write_out(caller: &mut Call<'_>, out: i32, cap: i32, value: &[u8]) -> i32 {
    if value.len() > cap as u32 as usize {
        return value.len() as i32;
    }
    let Some(mem) = memory(caller) else {
        return BAD_ARGUMENT;
    };
    match mem.write(&mut *caller, out as u32 as usize, value) {
        Ok(()) => value.len() as i32,
        Err(_) => BAD_ARGUMENT,
    }
}

/// The linker every plugin is instantiated with: WASI preview 1 (with the
/// empty context each instance gets) and the `paywatch` host functions.
pub(super) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)?;
    linker.func_wrap(
        "paywatch",
        "log",
        |mut c: Call<'_>, level: i32, ptr: i32, len: i32| {
            let len = (len as u32 as usize).min(MAX_LOG_BYTES) as i32;
            if let Ok(bytes) = read(&mut c, ptr, len, MAX_LOG_BYTES) {
                let msg = String::from_utf8_lossy(&bytes).into_owned();
                c.data_mut().log(level, &msg);
            }
        },
    )?;
    linker.func_wrap(
        "paywatch",
        "config_get",
        |mut c: Call<'_>, kp: i32, kl: i32, out: i32, cap: i32| -> i32 {
            let key = match read(&mut c, kp, kl, MAX_KV_KEY) {
                Ok(k) => k,
                Err(code) => return code,
            };
            let Ok(key) = std::str::from_utf8(&key) else {
                return BAD_ARGUMENT;
            };
            let value = match c.data().ctx.config.get(key) {
                Some(v) => serde_json::to_vec(v).expect("JSON values serialize"),
                None => return ABSENT,
            };
            write_out(&mut c, out, cap, &value)
        },
    )?;
    linker.func_wrap(
        "paywatch",
        "kv_get",
        |mut c: Call<'_>, kp: i32, kl: i32, out: i32, cap: i32| -> i32 {
            let key = match read(&mut c, kp, kl, MAX_KV_KEY) {
                Ok(k) => k,
                Err(code) => return code,
            };
            let ctx = c.data().ctx.clone();
            match ctx.kv.get(&ctx.name, &key) {
                Ok(Some(v)) => write_out(&mut c, out, cap, &v),
                Ok(None) => ABSENT,
                Err(e) => {
                    tracing::error!(plugin = %ctx.name, "key-value read failed: {e}");
                    ABSENT
                }
            }
        },
    )?;
    linker.func_wrap(
        "paywatch",
        "kv_set",
        |mut c: Call<'_>, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
            let key = match read(&mut c, kp, kl, MAX_KV_KEY) {
                Ok(k) => k,
                Err(code) => return code,
            };
            let value = match read(&mut c, vp, vl, MAX_KV_VALUE) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let ctx = c.data().ctx.clone();
            match ctx.kv.set(&ctx.name, &key, &value, ctx.kv_quota) {
                Ok(()) => 0,
                Err(KvError::Full) => FULL,
                Err(e) => {
                    tracing::error!(plugin = %ctx.name, "key-value write failed: {e}");
                    FULL
                }
            }
        },
    )?;
    linker.func_wrap(
        "paywatch",
        "kv_delete",
        |mut c: Call<'_>, kp: i32, kl: i32| -> i32 {
            let key = match read(&mut c, kp, kl, MAX_KV_KEY) {
                Ok(k) => k,
                Err(code) => return code,
            };
            let ctx = c.data().ctx.clone();
            match ctx.kv.delete(&ctx.name, &key) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!(plugin = %ctx.name, "key-value delete failed: {e}");
                    BAD_ARGUMENT
                }
            }
        },
    )?;
    linker.func_wrap("paywatch", "now_ms", || -> i64 {
        crate::clock::now_ms() as i64
    })?;
    Ok(linker)
}
