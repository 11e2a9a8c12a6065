//! The one integration-test binary: the real daemon on port 0, real SQLite, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

mod helpers;
mod scim_discovery;
mod scim_errors;
mod scim_filters;
mod scim_groups;
mod scim_users;
