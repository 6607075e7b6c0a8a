//! Payment requests (invoices): created with a fresh receive address each,
//! tracked from the payment events, and offered as payment URIs.

pub mod choice;
pub mod gojson;
pub mod manual;
pub mod notify;
pub mod rates;
pub mod refund;
pub mod service;
pub mod tracker;
pub mod uri;
