//! Directory handles and the file operations done relative to them.
//!
//! A layout, a bundle and the compiled-component cache may be writable by someone other
//! than the user running the tool. Everything in them is therefore reached from an open
//! directory handle, one name at a time, never following a symlink: the directory the
//! user named is opened once, and every lock, metadata file, blob and subdirectory below
//! it is opened relative to that handle with `O_NOFOLLOW`.
//!
//! - [`open`]: directories and regular files, never a symlink, never a fifo or device.
//! - [`atomic`]: new files that honour the umask, and atomic replacement (temp file,
//!   fsync, rename, directory fsync) shared by layouts and bundles.
//! - [`remove`]: removing a tree with a bounded number of descriptors and no recursion.
//! - [`staged`]: a file written in pieces, put in place atomically when committed.

pub mod atomic;
pub mod open;
pub mod remove;
pub mod staged;

pub use atomic::{create_temp, finish, sync_dir, write_atomic};
pub use open::{NotRegular, ambient_dir, dir_at, dir_at_if_exists, open_regular, read_regular};
pub use remove::remove_tree;
pub use staged::Staged;

/// The owner to give new files (the layout's, when running as root), or none.
pub type Owner = Option<(u32, u32)>;
