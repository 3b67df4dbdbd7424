//! `pull`, `push`, `unpack --image docker://…` and `run --push` against real
//! registries (Debian's `docker-registry`) on 127.0.0.1, with skopeo and umoci as
//! interop peers.

mod auth;
mod faults;
mod fixture;
mod images;
mod interop;
mod proxy;
mod stream;
