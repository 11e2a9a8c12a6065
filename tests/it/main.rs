//! The one integration-test binary: the real daemon on port 0, real SQLite (or PostgreSQL with `TEST_DATABASE_URL`), real HTTP, and the
//! Identity Center emulator over loopback. Each module is one area; they share only helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

mod admin;
mod audit;
mod cam_policy;
mod cli_config;
mod daemon;
mod db;
mod emulator_wire;
mod engine;
mod engine_crash;
mod faults;
mod helpers;
mod hostile;
mod jwt;
mod limits;
mod ops;
mod organization;
mod outbox;
mod reconcile;
mod replicas;
mod roles;
mod scim_discovery;
mod scim_errors;
mod scim_filters;
mod scim_groups;
mod scim_users;
mod security;
mod tencent_client;
mod tencent_harness;
