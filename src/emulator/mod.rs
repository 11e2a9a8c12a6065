//! Emulator of the Tencent Cloud Identity Center API.
