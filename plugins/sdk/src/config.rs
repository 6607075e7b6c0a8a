//! The plugin's configuration: the `config` table of its `[[plugin]]`
//! section, read key by key.

use crate::host;
use serde::de::DeserializeOwned;
use std::fmt;

/// A configuration value that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration key.
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.to_string()
    }
}

/// The configuration value under `key`, deserialized into `T`; `Ok(None)`
/// when the key is not set, an error when its value is not a `T`.
///
/// ```
/// use paywatch_plugin::{config, testing};
/// # testing::set_config(serde_json::json!({"sinks": ["shop"], "max_per_minute": "ten"}));
///
/// // With the configuration {"sinks": ["shop"], "max_per_minute": "ten"}:
/// let sinks: Option<Vec<String>> = config("sinks")?;
/// assert_eq!(sinks, Some(vec!["shop".to_string()]));
/// assert_eq!(config::<u32>("missing")?, None);
/// assert!(config::<u32>("max_per_minute").is_err());
/// # Ok::<(), paywatch_plugin::ConfigError>(())
/// ```
pub fn config<T: DeserializeOwned>(key: &str) -> Result<Option<T>, ConfigError> {
    let json = match host::config_get(key) {
        Ok(json) => json,
        Err(host::ABSENT) => return Ok(None),
        Err(code) => {
            return Err(ConfigError {
                key: key.to_owned(),
                message: format!("paywatch answered with error code {code}"),
            })
        }
    };
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|e| ConfigError {
            key: key.to_owned(),
            message: e.to_string(),
        })
}

/// The JSON text of the configuration value under `key`, `None` when the key
/// is not set.
pub fn config_raw(key: &str) -> Option<String> {
    host::config_get(key)
        .ok()
        .and_then(|json| String::from_utf8(json).ok())
}

thread_local! {
    static SETTINGS: std::cell::RefCell<
        std::collections::BTreeMap<std::any::TypeId, std::rc::Rc<dyn std::any::Any>>,
    > = std::cell::RefCell::new(std::collections::BTreeMap::new());
}

/// The plugin's settings of type `T`, read by `load` the first time and kept
/// for the life of the instance. Call [`load_settings`] from `init`, so a
/// configuration mistake stops paywatch at startup, and this from
/// `on_event`.
pub fn settings<T: 'static>(load: fn() -> Result<T, String>) -> Result<std::rc::Rc<T>, String> {
    let kept = SETTINGS.with(|s| s.borrow().get(&std::any::TypeId::of::<T>()).cloned());
    match kept.and_then(|v| v.downcast::<T>().ok()) {
        Some(v) => Ok(v),
        None => load_settings(load),
    }
}

/// Reads the settings with `load` now and keeps them for [`settings`].
pub fn load_settings<T: 'static>(
    load: fn() -> Result<T, String>,
) -> Result<std::rc::Rc<T>, String> {
    let value = std::rc::Rc::new(load()?);
    SETTINGS.with(|s| {
        s.borrow_mut().insert(
            std::any::TypeId::of::<T>(),
            value.clone() as std::rc::Rc<dyn std::any::Any>,
        )
    });
    Ok(value)
}

/// Forgets every kept settings value (for [`crate::testing::clear`]).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn forget_settings() {
    SETTINGS.with(|s| s.borrow_mut().clear());
}
