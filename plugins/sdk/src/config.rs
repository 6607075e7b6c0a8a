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
