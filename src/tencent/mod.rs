//! Client of the Tencent Cloud Identity Center API.
