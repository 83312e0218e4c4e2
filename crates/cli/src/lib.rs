//! portwarden's command-line front end, and the config file loader other programs can reuse.
#![deny(missing_docs)]

pub mod config;
