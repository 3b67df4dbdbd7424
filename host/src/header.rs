//! The host facts an mtree header records: user, machine and date.

use chrono::Local;

/// The name of the effective user from `/etc/passwd`, if it has one.
pub fn user_name() -> Option<String> {
    let uid = rustix::process::geteuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// The host name.
pub fn machine_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

/// The current local time as mtree headers show it, e.g. `Mon Jan 2 15:04:05 2006`.
pub fn date_now() -> String {
    Local::now().format("%a %b %-d %H:%M:%S %Y").to_string()
}
