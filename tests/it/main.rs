//! paywatch's integration tests, one module per subject, in one binary so
//! that a change links one test executable rather than one per file:
//!
//! ```text
//! cargo test --release --test it                 # all of them
//! cargo test --release --test it invoices::      # one subject
//! ```
//!
//! `common` is the shared harness (replay nodes, the daemon in-process or as
//! a process, fixtures). A test that reads the process-wide metrics
//! recorder's exact values lives in a binary of its own (`tests/metrics.rs`):
//! here, every daemon started in-process shares that recorder.

mod common;

mod api_hostile;
mod api_keys;
mod bitcoin_mainnet;
mod bitcoin_mempool;
mod bitcoin_regtest;
mod bitcoin_reorgs;
mod bitcoin_replay;
mod bitcoin_walk;
mod bulk_watches;
mod checkout;
mod cli;
mod cli_client;
mod client_sdks;
mod crash_consistency;
mod demo;
mod evm_anvil;
mod evm_reorgs;
mod evm_replay;
mod feed_identity;
mod fiat_pricing;
mod fuzz_inputs;
mod invoice_campaign;
mod invoice_options;
mod invoices;
mod json_fast_path;
mod nats_sink;
mod node_faults;
mod openapi;
mod plugin_cli;
mod plugin_delivery;
mod plugin_host;
mod risk;
mod shop_protocols;
mod sink_faults;
mod sinks;
mod soak;
mod storage_faults;
mod systemd_unit;
mod tron_replay;
mod webhook_snippets;
