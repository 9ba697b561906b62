//! Integration tests of the audit log: one binary, one module per concern.

mod chain_tamper;
mod fail_closed;
mod scratch;
mod write_read;
