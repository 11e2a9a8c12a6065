//! cic-bridge: a SCIM 2.0 service provider that provisions users, groups and role assignments
//! into Tencent Cloud Identity Center. See ARCHITECTURE.md for the map of the code.

pub mod emulator;
pub mod tencent;
