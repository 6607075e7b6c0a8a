//! paywatch: a self-hosted, watch-only chain indexer. It scans every block of
//! the user's own nodes, matches payments to watched addresses, stores them in
//! RocksDB and serves them over a local HTTP API and an ordered events feed.

pub mod address;
pub mod amount;
pub mod api;
pub mod chain;
pub mod client;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod event;
pub mod invoice;
pub mod invoice_record;
pub mod plugin;
pub mod risk;
pub mod scan;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod transfer;
pub mod watch;
