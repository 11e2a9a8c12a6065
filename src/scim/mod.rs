//! The SCIM 2.0 protocol (RFC 7643, RFC 7644): schemas, resource normalisation and rendering,
//! filters and PATCH. Nothing here knows about HTTP frameworks or databases.

pub mod error;
pub mod filter;
pub mod json;
pub mod model;
pub mod patch;
pub mod schema;

pub use error::{ScimError, ScimType};
