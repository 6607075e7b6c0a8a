//! Payment requests (invoices): created with a fresh receive address each,
//! tracked from the payment events, and offered as payment URIs.

pub mod amount;
pub mod derive;
pub mod epusdt;
pub mod gojson;
pub mod model;
pub mod notify;
pub mod rates;
pub mod service;
pub mod tracker;
pub mod uri;
