//! Fronts other than the HTTP listener ([`crate::http`]): ways for one client to reach the gateway.
//! Each admits its client its own way, then hands requests to the same [`crate::relay`] and
//! [`crate::enforce`] code as HTTP does.

pub mod stdio;
