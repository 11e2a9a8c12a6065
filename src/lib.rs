//! cic-bridge: a SCIM 2.0 service provider that provisions users, groups and role assignments
//! into Tencent Cloud Identity Center. See ARCHITECTURE.md for the map of the code.

pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod dev;
pub mod emulator;
pub mod engine;
pub mod http;
pub mod monitor;
pub mod prometheus;
pub mod provision;
pub mod scim;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tencent;
