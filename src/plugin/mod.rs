//! The plugin host: runs WASM plugins (ABI v1, `plugins/ABI.md`) on
//! wasmtime under a time, memory and size budget.
//!
//! A [`PluginEngine`] owns the wasmtime engine, the epoch ticker that enforces
//! call deadlines and the cache of compiled modules. A [`Plugin`] keeps one
//! instance alive between events and throws it away after any failure.

mod host;

use crate::clock::now_ms;
use crate::config::PluginLimits;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Engine, ExternType, InstancePre, Linker, Memory, Module, Store, Trap, TypedFunc,
    ValType, WasmBacktrace,
};

pub use host::{KvError, KvStore, LogLine, MemoryKv};

/// How often the engine's epoch advances: the unit of call deadlines.
const TICK: Duration = Duration::from_millis(1);
/// The longest a `delay` verdict may hold an event.
pub const MAX_DELAY_MS: u64 = 7 * 24 * 3600 * 1000;
/// First pause after a plugin reaches its failure limit; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What a plugin decided for one event.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Deliver to these sinks (`None`: every sink), optionally with another body.
    Forward {
        sinks: Option<Vec<String>>,
        payload: Option<Box<RawValue>>,
    },
    /// Stop the pipeline for this event.
    Drop { reason: String },
    /// Hold the event, then give it to the same plugin again.
    Delay { ms: u64 },
}

impl Verdict {
    /// The verdict as the ABI spells it. A payload is written as the plugin
    /// wrote it, byte for byte, as it is delivered (read into numbers and
    /// back, a float can come out different).
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Forward<'a> {
            action: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            sinks: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<&'a RawValue>,
        }
        match self {
            Verdict::Forward { sinks, payload } => serde_json::to_string(&Forward {
                action: "forward",
                sinks: sinks.as_deref(),
                payload: payload.as_deref(),
            })
            .expect("strings and JSON text always serialize"),
            Verdict::Drop { reason } => {
                serde_json::json!({"action": "drop", "reason": reason}).to_string()
            }
            Verdict::Delay { ms } => serde_json::json!({"action": "delay", "ms": ms}).to_string(),
        }
    }
}

/// Why a module cannot be used as a plugin.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` ({path}): {message}")]
pub struct LoadError {
    pub plugin: String,
    pub path: PathBuf,
    pub message: String,
}

/// Why the plugin engine cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start wasmtime: {0}")]
    Wasmtime(#[source] wasmtime::Error),
    #[error("cannot link host functions: {0}")]
    Link(#[source] wasmtime::Error),
    #[error("cannot create plugin cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the plugin clock thread: {0}")]
    Clock(#[source] std::io::Error),
}

/// How a module's exports break ABI v1 (`plugins/ABI.md`).
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    #[error("built for ABI {version} (export `{export}`); this paywatch runs ABI v1")]
    OtherVersion { version: String, export: String },
    #[error("not a paywatch plugin: the export `paywatch_abi_v1` is missing (see plugins/ABI.md)")]
    NotAPlugin,
    #[error("the module does not export its memory as `memory`")]
    NoMemory,
    #[error("the export `{0}` is missing")]
    Missing(&'static str),
    #[error("`{name}` has the signature {got}, expected {want}")]
    Signature {
        name: &'static str,
        got: String,
        want: &'static str,
    },
}

/// Why one call failed. Every variant recycles the instance.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("ran past its time limit of {0:?}")]
    Timeout(Duration),
    #[error("tried to grow its memory past the limit of {0} MiB")]
    Memory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned error code {0}")]
    Code(i64),
    #[error("bad verdict: {0}")]
    BadVerdict(String),
    #[error("the event is {size} bytes, over the plugin's input limit of {limit}")]
    InputTooLarge { size: usize, limit: usize },
    #[error("cannot start an instance: {0}")]
    Instantiate(String),
    #[error("disabled for {remaining:?} more after {failures} consecutive failures")]
    Disabled { remaining: Duration, failures: u32 },
}

impl CallError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout(_) => "timeout",
            CallError::Memory(_) => "memory",
            CallError::Trap(_) => "trap",
            CallError::Code(_) => "error_code",
            CallError::BadVerdict(_) => "bad_verdict",
            CallError::InputTooLarge { .. } => "input_too_large",
            CallError::Instantiate(_) => "instantiate",
            CallError::Disabled { .. } => "disabled",
        }
    }
}

/// A plugin's health as `/v1/status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginStatus {
    pub name: String,
    /// `active` or `disabled`.
    pub state: &'static str,
    /// Unix milliseconds at which a disabled plugin is tried again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_until_ms: Option<u64>,
    pub calls: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The wasmtime engine shared by all plugins, its epoch ticker and the
/// compiled-module cache.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<host::HostState>,
    cache_dir: Option<PathBuf>,
    modules: Mutex<HashMap<[u8; 32], Module>>,
    stop: Arc<AtomicBool>,
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl PluginEngine {
    /// An engine whose compiled modules are kept in `cache_dir` (created if
    /// missing); `None` compiles every time.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, EngineError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
        config.max_wasm_stack(512 << 10);
        let engine = Engine::new(&config).map_err(EngineError::Wasmtime)?;
        let linker = host::linker(&engine).map_err(EngineError::Link)?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| EngineError::Cache {
                path: dir.clone(),
                source,
            })?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(EngineError::Clock)?;
        Ok(PluginEngine {
            engine,
            linker,
            cache_dir,
            modules: Mutex::new(HashMap::new()),
            stop,
        })
    }

    /// Compiles (or takes from the cache) the module at `path`, checks its
    /// exports and imports, and starts one instance so that a plugin that
    /// cannot run is refused now, not at its first event.
    pub fn load(&self, spec: PluginSpec<'_>) -> Result<Plugin, LoadError> {
        let fail = |message: String| LoadError {
            plugin: spec.name.to_string(),
            path: spec.path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(spec.path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let module = self.module(&bytes).map_err(|e| {
            fail(format!(
                "not a valid WebAssembly module: {}",
                error_text(&e)
            ))
        })?;
        let has_init = check_exports(&module).map_err(|e| fail(e.to_string()))?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| fail(error_text(&e)))?;
        let mut plugin = Plugin {
            name: spec.name.to_string(),
            engine: self.engine.clone(),
            pre,
            has_init,
            ctx: Arc::new(host::PluginCtx {
                name: spec.name.to_string(),
                config: spec.config.clone(),
                kv: spec.kv,
                kv_quota: spec.limits.kv_quota,
                capture_logs: spec.capture_logs,
            }),
            sinks: spec.sinks,
            limits: spec.limits.clone(),
            live: None,
            health: Health::default(),
            logs: Vec::new(),
        };
        let live = plugin.instantiate().map_err(|e| fail(e.to_string()))?;
        plugin.live = Some(live);
        Ok(plugin)
    }

    fn module(&self, bytes: &[u8]) -> Result<Module, wasmtime::Error> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(m) = self.modules.lock().expect("module cache lock").get(&hash) {
            return Ok(m.clone());
        }
        let cached = self.cache_dir.as_ref().map(|dir| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut h);
            dir.join(format!("{}-{:016x}.cwasm", hex::encode(hash), h.finish()))
        });
        // SAFETY: the file is one this engine wrote (named by the module hash
        // and the engine's compatibility hash) into the daemon's own data dir.
        let module = match cached
            .as_ref()
            .filter(|p| p.exists())
            .and_then(|p| unsafe { Module::deserialize_file(&self.engine, p) }.ok())
        {
            Some(m) => m,
            None => {
                let m = Module::new(&self.engine, bytes)?;
                if let (Some(path), Ok(serialized)) = (&cached, m.serialize()) {
                    let tmp = path.with_extension("tmp");
                    if std::fs::write(&tmp, serialized).is_ok() {
                        let _ = std::fs::rename(&tmp, path);
                    }
                }
                m
            }
        };
        self.modules
            .lock()
            .expect("module cache lock")
            .insert(hash, module.clone());
        Ok(module)
    }
}

/// What [`PluginEngine::load`] needs to know about one plugin.
pub struct PluginSpec<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    pub config: &'a serde_json::Value,
    pub limits: &'a PluginLimits,
    pub kv: Arc<dyn KvStore>,
    /// The configured sink names a verdict may use.
    pub sinks: Arc<[String]>,
    /// Keep the plugin's log lines for [`Plugin::take_logs`] (plugin test).
    pub capture_logs: bool,
}

/// Checks the exports ABI v1 requires; tells whether `init` is exported.
fn check_exports(module: &Module) -> Result<bool, AbiError> {
    let mut funcs = HashMap::new();
    let mut memory = false;
    for e in module.exports() {
        match e.ty() {
            ExternType::Func(f) => {
                let sig = |v: &mut dyn Iterator<Item = ValType>| {
                    v.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
                };
                let s = format!("({}) -> ({})", sig(&mut f.params()), sig(&mut f.results()));
                funcs.insert(e.name().to_string(), s);
            }
            ExternType::Memory(_) if e.name() == "memory" => memory = true,
            _ => {}
        }
    }
    if !funcs.contains_key("paywatch_abi_v1") {
        if let Some(other) = funcs.keys().find(|n| n.starts_with("paywatch_abi_v")) {
            return Err(AbiError::OtherVersion {
                version: other["paywatch_abi_".len()..].to_string(),
                export: other.clone(),
            });
        }
        return Err(AbiError::NotAPlugin);
    }
    if !memory {
        return Err(AbiError::NoMemory);
    }
    for (name, want) in [
        ("alloc", "(i32) -> (i32)"),
        ("on_event", "(i32, i32) -> (i64)"),
    ] {
        match funcs.get(name) {
            None => return Err(AbiError::Missing(name)),
            Some(got) if got != want => {
                return Err(AbiError::Signature {
                    name,
                    got: got.clone(),
                    want,
                })
            }
            Some(_) => {}
        }
    }
    match funcs.get("init") {
        None => Ok(false),
        Some(s) if s == "(i32, i32) -> (i32)" => Ok(true),
        Some(s) => Err(AbiError::Signature {
            name: "init",
            got: s.clone(),
            want: "(i32, i32) -> (i32)",
        }),
    }
}

/// A wasmtime error as text: the trap (or the error chain) on the first
/// line, then the WebAssembly backtrace when there is one.
fn error_text(e: &wasmtime::Error) -> String {
    let mut text = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => e
            .chain()
            .map(|c| c.to_string())
            .filter(|c| !c.starts_with("error while executing at wasm backtrace"))
            .collect::<Vec<_>>()
            .join(": "),
    };
    if let Some(bt) = e.downcast_ref::<WasmBacktrace>() {
        // Display starts with a heading line, then one line per frame.
        let shown = bt.to_string();
        let frames: Vec<&str> = shown
            .lines()
            .filter(|l| !l.starts_with("error while executing"))
            .collect();
        if !frames.is_empty() {
            text.push_str("\nwasm backtrace:\n");
            text.push_str(&frames.join("\n"));
        }
    }
    text
}

#[derive(Default)]
struct Health {
    calls: u64,
    failures: u64,
    consecutive: u32,
    disabled_until: Option<Instant>,
    backoff: Option<Duration>,
    last_error: Option<String>,
}

struct Live {
    store: Store<host::HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    on_event: TypedFunc<(i32, i32), i64>,
}

/// One loaded plugin with its live instance.
pub struct Plugin {
    name: String,
    engine: Engine,
    pre: InstancePre<host::HostState>,
    has_init: bool,
    ctx: Arc<host::PluginCtx>,
    sinks: Arc<[String]>,
    limits: PluginLimits,
    live: Option<Live>,
    health: Health,
    logs: Vec<LogLine>,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Passes one event (its JSON) to the plugin. A failure recycles the
    /// instance and counts towards disabling the plugin.
    pub fn call(&mut self, event_json: &[u8]) -> Result<Verdict, CallError> {
        if let Some(until) = self.health.disabled_until {
            let now = Instant::now();
            if now < until {
                return Err(CallError::Disabled {
                    remaining: until - now,
                    failures: self.health.consecutive,
                });
            }
        }
        self.health.calls += 1;
        let started = Instant::now();
        let result = self.call_inner(event_json);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        metrics::counter!(crate::telemetry::PLUGIN_CALLS, "plugin" => self.name.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!(crate::telemetry::PLUGIN_CALL_SECONDS, "plugin" => self.name.clone())
            .record(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => {
                self.health.consecutive = 0;
                self.health.disabled_until = None;
                self.health.backoff = None;
            }
            Err(e) => {
                self.live = None;
                self.health.failures += 1;
                self.health.consecutive += 1;
                self.health.last_error = Some(e.to_string());
                if self.health.consecutive >= self.limits.max_failures {
                    let backoff = self
                        .health
                        .backoff
                        .map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
                    self.health.backoff = Some(backoff);
                    self.health.disabled_until = Some(Instant::now() + backoff);
                    tracing::error!(plugin = %self.name, failures = self.health.consecutive, ?backoff, "plugin disabled after repeated failures: {e}");
                }
            }
        }
        result
    }

    /// Health figures for `/v1/status`.
    pub fn status(&self) -> PluginStatus {
        let now = Instant::now();
        let disabled = self.health.disabled_until.filter(|u| *u > now);
        PluginStatus {
            name: self.name.clone(),
            state: if disabled.is_some() {
                "disabled"
            } else {
                "active"
            },
            disabled_until_ms: disabled.map(|u| now_ms() + (u - now).as_millis() as u64),
            calls: self.health.calls,
            failures: self.health.failures,
            consecutive_failures: self.health.consecutive,
            last_error: self.health.last_error.clone(),
        }
    }

    /// The log lines kept since the last call (when loaded with `capture_logs`).
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        if let Some(live) = &mut self.live {
            self.logs.append(&mut live.store.data_mut().captured);
        }
        std::mem::take(&mut self.logs)
    }

    /// Throws the live instance away and starts a fresh one (what a failure does).
    pub fn recycle(&mut self) -> Result<(), CallError> {
        self.retire();
        self.live = Some(self.instantiate()?);
        Ok(())
    }

    fn retire(&mut self) {
        if let Some(mut live) = self.live.take() {
            self.logs.append(&mut live.store.data_mut().captured);
        }
    }

    fn deadline_ticks(&self) -> u64 {
        (self.limits.timeout.as_micros() / TICK.as_micros()).max(1) as u64 + 1
    }

    fn trap_error(&self, store: &Store<host::HostState>, e: wasmtime::Error) -> CallError {
        if store.data().limiter.hit {
            return CallError::Memory(self.limits.memory_bytes >> 20);
        }
        if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return CallError::Timeout(self.limits.timeout);
        }
        CallError::Trap(error_text(&e))
    }

    fn instantiate(&mut self) -> Result<Live, CallError> {
        let state = host::HostState::new(self.ctx.clone(), self.limits.memory_bytes);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = match self.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(self.start_error(&store, e)),
        };
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| CallError::Instantiate("no memory export".into()))?;
        let typed = |store: &mut Store<host::HostState>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| CallError::Instantiate(format!("no `{name}` export")))
        };
        let alloc = typed(&mut store, "alloc")?
            .typed::<i32, i32>(&store)
            .map_err(|e| CallError::Instantiate(e.to_string()))?;
        let on_event = typed(&mut store, "on_event")?
            .typed::<(i32, i32), i64>(&store)
            .map_err(|e| CallError::Instantiate(e.to_string()))?;
        // A WASI reactor runs its constructors here.
        if let Ok(f) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            if let Err(e) = f.call(&mut store, ()) {
                return Err(self.start_error(&store, e));
            }
        }
        let mut live = Live {
            store,
            memory,
            alloc,
            on_event,
        };
        if self.has_init {
            let init = instance
                .get_typed_func::<(i32, i32), i32>(&mut live.store, "init")
                .map_err(|e| CallError::Instantiate(e.to_string()))?;
            let cfg = serde_json::to_vec(&self.ctx.config).expect("JSON values serialize");
            live.store.set_epoch_deadline(self.deadline_ticks());
            let ptr = self.write_input(&mut live, &cfg)?;
            match init.call(&mut live.store, (ptr, cfg.len() as i32)) {
                Ok(0) => {}
                Ok(code) => {
                    return Err(CallError::Instantiate(format!(
                        "init returned {code} (configuration rejected)"
                    )))
                }
                Err(e) => return Err(self.start_error(&live.store, e)),
            }
        }
        Ok(live)
    }

    fn start_error(&self, store: &Store<host::HostState>, e: wasmtime::Error) -> CallError {
        CallError::Instantiate(self.trap_error(store, e).to_string())
    }

    /// Copies `bytes` into memory the plugin allocated; returns the offset.
    fn write_input(&self, live: &mut Live, bytes: &[u8]) -> Result<i32, CallError> {
        let ptr = live
            .alloc
            .call(&mut live.store, bytes.len() as i32)
            .map_err(|e| self.trap_error(&live.store, e))?;
        if ptr <= 0 {
            return Err(CallError::Trap(format!(
                "alloc({}) returned {ptr}",
                bytes.len()
            )));
        }
        live.memory
            .write(&mut live.store, ptr as u32 as usize, bytes)
            .map_err(|_| {
                CallError::Trap(format!(
                    "alloc({}) returned {ptr}, which is outside the plugin's memory",
                    bytes.len()
                ))
            })?;
        Ok(ptr)
    }

    fn call_inner(&mut self, event_json: &[u8]) -> Result<Verdict, CallError> {
        if event_json.len() > self.limits.max_input {
            return Err(CallError::InputTooLarge {
                size: event_json.len(),
                limit: self.limits.max_input,
            });
        }
        let mut live = match self.live.take() {
            Some(l) => l,
            None => self.instantiate()?,
        };
        let result = self.call_live(&mut live, event_json);
        if result.is_ok() {
            self.live = Some(live);
        } else {
            self.logs.append(&mut live.store.data_mut().captured);
        }
        result
    }

    fn call_live(&self, live: &mut Live, event_json: &[u8]) -> Result<Verdict, CallError> {
        live.store.set_epoch_deadline(self.deadline_ticks());
        let ptr = self.write_input(live, event_json)?;
        let packed = live
            .on_event
            .call(&mut live.store, (ptr, event_json.len() as i32))
            .map_err(|e| self.trap_error(&live.store, e))?;
        if packed < 0 {
            return Err(CallError::Code(packed));
        }
        let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        if out_len > self.limits.max_output {
            return Err(CallError::BadVerdict(format!(
                "{out_len} bytes, over the limit of {}",
                self.limits.max_output
            )));
        }
        let data = live.memory.data(&live.store);
        let bytes = out_ptr
            .checked_add(out_len)
            .and_then(|end| data.get(out_ptr..end))
            .ok_or_else(|| {
                CallError::BadVerdict(format!(
                    "{out_len} bytes at {out_ptr} lie outside the plugin's memory"
                ))
            })?;
        parse_verdict(bytes, &self.sinks)
    }
}

#[derive(Deserialize)]
struct RawVerdict {
    action: String,
    sinks: Option<Vec<String>>,
    payload: Option<Box<RawValue>>,
    reason: Option<String>,
    ms: Option<u64>,
}

/// Reads a verdict; `sinks` are the names a forward may use (any name when
/// the list is empty).
pub fn parse_verdict(bytes: &[u8], sinks: &[String]) -> Result<Verdict, CallError> {
    let bad = |m: String| CallError::BadVerdict(m);
    let raw: RawVerdict = serde_json::from_slice(bytes).map_err(|e| {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
        bad(format!("not a verdict object ({e}): `{shown}`"))
    })?;
    match raw.action.as_str() {
        "forward" => {
            if let Some(list) = &raw.sinks {
                let known = |s: &String| sinks.is_empty() || sinks.contains(s);
                if let Some(unknown) = list.iter().find(|s| !known(s)) {
                    return Err(bad(format!(
                        "forward to `{unknown}`, which is not a configured sink (sinks: {})",
                        sinks.join(", ")
                    )));
                }
            }
            // A body nested deeper than JSON readers go (serde_json stops at
            // 128 levels, as do many receivers) is refused here, by name,
            // rather than sent to a receiver that cannot read it.
            if let Some(p) = &raw.payload {
                serde_json::from_str::<serde_json::Value>(p.get())
                    .map_err(|e| bad(format!("payload cannot be read back: {e}")))?;
            }
            Ok(Verdict::Forward {
                sinks: raw.sinks,
                payload: raw.payload,
            })
        }
        "drop" => Ok(Verdict::Drop {
            reason: raw.reason.unwrap_or_default(),
        }),
        "delay" => match raw.ms {
            Some(ms) if (1..=MAX_DELAY_MS).contains(&ms) => Ok(Verdict::Delay { ms }),
            Some(ms) => Err(bad(format!("delay of {ms} ms is outside 1 ms … 7 days"))),
            None => Err(bad("delay without `ms`".into())),
        },
        other => Err(bad(format!(
            "unknown action `{other}` (expected forward, drop or delay)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sinks() -> Vec<String> {
        vec!["shop".into(), "ops".into()]
    }

    #[test]
    fn a_payload_nested_past_what_readers_accept_is_refused() {
        let deep = format!(
            r#"{{"action":"forward","payload":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        match parse_verdict(deep.as_bytes(), &[]) {
            Err(CallError::BadVerdict(m)) => assert!(m.contains("recursion limit"), "{m}"),
            other => panic!("{other:?}"),
        }
        let fine = format!(
            r#"{{"action":"forward","payload":{}{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(parse_verdict(fine.as_bytes(), &[]).is_ok());
    }

    #[test]
    fn verdicts_parse_and_ignore_unknown_fields() {
        let v = parse_verdict(
            br#"{"action":"forward","sinks":["shop"],"payload":{"a":1},"extra":true}"#,
            &sinks(),
        )
        .unwrap();
        match v {
            Verdict::Forward { sinks, payload } => {
                assert_eq!(sinks.unwrap(), vec!["shop"]);
                assert_eq!(payload.unwrap().get(), r#"{"a":1}"#);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_verdict(br#"{"action":"delay","ms":60000}"#, &sinks()).unwrap(),
            Verdict::Delay { ms: 60000 }
        ));
    }

    #[test]
    fn bad_verdicts_say_what_is_wrong() {
        let err = |b: &[u8]| parse_verdict(b, &sinks()).unwrap_err().to_string();
        assert!(err(br#"{"action":"forward","sinks":["nope"]}"#).contains("`nope`"));
        assert!(err(br#"{"action":"explode"}"#).contains("unknown action `explode`"));
        assert!(err(br#"{"action":"delay","ms":0}"#).contains("outside"));
        assert!(err(b"not json").contains("not a verdict"));
    }
}
