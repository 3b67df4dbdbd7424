//! Many tenants in one process.

mod start;
