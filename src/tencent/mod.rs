//! Client of the Tencent Cloud Identity Center API (service `organization`, version
//! `2021-03-31`): TC3 signer, typed actions, error classes, and an HTTP client with per-action
//! rate limits.

pub mod client;
pub mod clock;
pub mod error;
pub mod model;
pub mod record;
pub mod signer;

pub use client::{CicClient, ClientConfig, Credentials, RateLimits};
pub use error::{ApiError, CicError, Code, ErrorClass};
