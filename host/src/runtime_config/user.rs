//! The image's `User` resolved against the rootfs's `/etc/passwd` and `/etc/group` as
//! runc's `libcontainer/user.GetExecUser` does it (umoci calls it), lenient parsing
//! included.

use super::RuntimeConfigError;
use super::go::{go_atoi, scan_lines};

/// The largest uid or gid runc accepts.
const MAX_ID: i64 = (1 << 31) - 1;

/// Who the process runs as.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ExecUser<'a> {
    /// The uid, as found or given.
    pub uid: i64,
    /// The primary gid.
    pub gid: i64,
    /// Supplementary gids: the groups listing the user, when no group was given.
    pub sgids: Vec<i64>,
    /// The passwd home directory (empty when the user is not listed).
    pub home: &'a str,
}

/// A numeric field of passwd/group: errors ignored, as runc does.
fn lenient_int(s: Option<&str>) -> i64 {
    s.map_or(0, |s| match go_atoi(s) {
        Ok(v) | Err(v) => v,
    })
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    scan_lines(passwd)
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            // name:password:uid:gid:gecos:home:shell
            let mut f = line.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let uid = lenient_int(f.next());
            let gid = lenient_int(f.next());
            let _gecos = f.next();
            let home = f.next().unwrap_or("");
            PasswdEntry {
                name,
                uid,
                gid,
                home,
            }
        })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    // Unlike passwd lines, group lines are not trimmed.
    scan_lines(group)
        .filter(|line| !line.is_empty())
        .map(|line| {
            // name:password:gid:member,member
            let mut f = line.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let gid = lenient_int(f.next());
            let members = match f.next() {
                Some(list) if !list.is_empty() => list.split(',').collect(),
                _ => Vec::new(),
            };
            GroupEntry { name, gid, members }
        })
}

/// Resolve `spec` ("", "user", "uid", "user:group", "uid:gid", mixed; anything after a
/// second `:` ignored). A user found in passwd gives uid, gid and home; a numeric user
/// not found is taken as is. Without an explicit group, the groups listing the user
/// become the supplementary groups; an explicit group replaces the gid.
pub(super) fn resolve_user<'a>(
    spec: &str,
    passwd: Option<&'a str>,
    group: Option<&'a str>,
) -> Result<ExecUser<'a>, RuntimeConfigError> {
    let mut parts = spec.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = go_atoi(user_arg).ok();
    let gid_arg = go_atoi(group_arg).ok();

    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        sgids: Vec::new(),
        home: "",
    };
    let found = passwd.and_then(|p| {
        passwd_entries(p).find(|e| match uid_arg {
            _ if user_arg.is_empty() => e.uid == 0,
            Some(uid) => e.uid == uid,
            None => e.name == user_arg,
        })
    });
    let mut matched_name = "";
    if let Some(e) = found {
        matched_name = e.name;
        user.uid = e.uid;
        user.gid = e.gid;
        user.home = e.home;
    } else if !user_arg.is_empty() {
        let Some(uid) = uid_arg else {
            return Err(RuntimeConfigError::UserNotFound {
                spec: spec.to_owned(),
                user: user_arg.to_owned(),
            });
        };
        if !(0..=MAX_ID).contains(&uid) {
            return Err(RuntimeConfigError::IdOutOfRange(spec.to_owned()));
        }
        user.uid = uid;
    }

    if !group_arg.is_empty() || !matched_name.is_empty() {
        let groups: Vec<GroupEntry> = group
            .map(|g| {
                group_entries(g)
                    .filter(|g| match gid_arg {
                        _ if group_arg.is_empty() => g.members.contains(&matched_name),
                        Some(gid) => g.gid == gid,
                        None => g.name == group_arg,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if group_arg.is_empty() {
            user.sgids = groups.iter().map(|g| g.gid).collect();
        } else if let Some(g) = groups.first() {
            user.gid = g.gid;
        } else {
            let Some(gid) = gid_arg else {
                return Err(RuntimeConfigError::GroupNotFound {
                    spec: spec.to_owned(),
                    group: group_arg.to_owned(),
                });
            };
            if !(0..=MAX_ID).contains(&gid) {
                return Err(RuntimeConfigError::IdOutOfRange(spec.to_owned()));
            }
            user.gid = gid;
        }
    }
    Ok(user)
}
