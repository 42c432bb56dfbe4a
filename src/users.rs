//! The user and group database, read from `/etc/passwd` and `/etc/group`
//! directly: no NSS, so lookups work the same in a static musl binary.
//! Malformed lines are skipped, a missing file reads as empty. When a name
//! or id appears twice, the first entry wins, as with `getpwnam`.

use std::collections::HashMap;
use std::path::Path;

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) home: String,
    pub(crate) shell: String,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) gid: u32,
    pub(crate) members: Vec<String>,
}

/// Users and groups with indexes for every lookup spawn makes.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserDb {
    users: Vec<User>,
    groups: Vec<Group>,
    user_by_name: HashMap<String, usize>,
    user_by_uid: HashMap<u32, usize>,
    group_by_name: HashMap<String, usize>,
    group_by_gid: HashMap<u32, usize>,
    /// Member name → gids of the groups listing it, in file order.
    member_of: HashMap<String, Vec<u32>>,
}

impl UserDb {
    /// Reads `/etc/passwd` and `/etc/group`.
    pub(crate) fn load() -> UserDb {
        UserDb::load_from(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    /// Reads the given files; one that cannot be read counts as empty.
    pub(crate) fn load_from(passwd: &Path, group: &Path) -> UserDb {
        let read = |path: &Path| std::fs::read(path).unwrap_or_default();
        UserDb::from_bytes(&read(passwd), &read(group))
    }

    #[cfg(test)]
    pub(crate) fn from_text(passwd: &str, group: &str) -> UserDb {
        UserDb::from_bytes(passwd.as_bytes(), group.as_bytes())
    }

    fn from_bytes(passwd: &[u8], group: &[u8]) -> UserDb {
        let mut db = UserDb::default();
        for user in lines(passwd).filter_map(parse_user) {
            let index = db.users.len();
            db.user_by_name.entry(user.name.clone()).or_insert(index);
            db.user_by_uid.entry(user.uid).or_insert(index);
            db.users.push(user);
        }
        for group in lines(group).filter_map(parse_group) {
            let index = db.groups.len();
            db.group_by_name.entry(group.name.clone()).or_insert(index);
            db.group_by_gid.entry(group.gid).or_insert(index);
            for member in &group.members {
                let gids = db.member_of.entry(member.clone()).or_default();
                if !gids.contains(&group.gid) {
                    gids.push(group.gid);
                }
            }
            db.groups.push(group);
        }
        db
    }

    pub(crate) fn user_by_name(&self, name: &str) -> Option<&User> {
        self.user_by_name.get(name).map(|&i| &self.users[i])
    }

    pub(crate) fn user_by_uid(&self, uid: u32) -> Option<&User> {
        self.user_by_uid.get(&uid).map(|&i| &self.users[i])
    }

    pub(crate) fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.group_by_name.get(name).map(|&i| &self.groups[i])
    }

    pub(crate) fn group_by_gid(&self, gid: u32) -> Option<&Group> {
        self.group_by_gid.get(&gid).map(|&i| &self.groups[i])
    }

    /// What `initgroups(user_name, primary_gid)` would set: the primary gid
    /// first, then every group that lists the user as a member, without repeats.
    pub(crate) fn supplementary_gids(&self, user_name: &str, primary_gid: u32) -> Vec<u32> {
        let mut gids = vec![primary_gid];
        for &gid in self.member_of.get(user_name).into_iter().flatten() {
            if gid != primary_gid {
                gids.push(gid);
            }
        }
        gids
    }
}

/// Lines worth parsing: valid UTF-8, not blank, not a comment, not a NIS
/// `+`/`-` include.
fn lines(text: &[u8]) -> impl Iterator<Item = &str> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| {
            !line.trim().is_empty()
                && !line.starts_with('#')
                && !line.starts_with('+')
                && !line.starts_with('-')
        })
}

/// `name:password:uid:gid:gecos:home:shell`
fn parse_user(line: &str) -> Option<User> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _, uid, gid, _, home, shell] = fields[..] else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    Some(User {
        name: name.to_string(),
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        home: home.to_string(),
        shell: shell.to_string(),
    })
}

/// `name:password:gid:member,member`
fn parse_group(line: &str) -> Option<Group> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _, gid, members] = fields[..] else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    Some(Group {
        name: name.to_string(),
        gid: gid.parse().ok()?,
        members: members
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
# a comment
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line without colons
short:x:5
baduid:x:abc:1::/:/bin/sh
:x:7:7::/:/bin/sh
+nisuser::::::
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
root:x:999:999:second root:/nope:/bin/false

alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\r
";

    const GROUP: &str = "\
root:x:0:
daemon:x:1:
adm:x:4:alice,daemon
cdrom:x:24:alice
users:x:100: alice , bob
garbage
www-data:x:33:
alice:x:1000:
again:x:4:bob
";

    fn db() -> UserDb {
        UserDb::from_text(PASSWD, GROUP)
    }

    #[test]
    fn finds_users_by_name_and_uid() {
        let db = db();
        let alice = db.user_by_name("alice").expect("alice");
        assert_eq!(alice.uid, 1000);
        assert_eq!(alice.gid, 1000);
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(alice.shell, "/bin/zsh", "CR of a CRLF line is dropped");
        assert_eq!(
            db.user_by_uid(33).map(|u| u.name.as_str()),
            Some("www-data")
        );
        assert!(db.user_by_name("bob").is_none());
        assert!(db.user_by_uid(4242).is_none());
    }

    #[test]
    fn first_entry_wins() {
        let db = db();
        assert_eq!(db.user_by_name("root").map(|u| u.uid), Some(0));
        assert_eq!(db.user_by_uid(999).map(|u| u.home.as_str()), Some("/nope"));
        assert_eq!(db.group_by_gid(4).map(|g| g.name.as_str()), Some("adm"));
    }

    #[test]
    fn skips_malformed_lines() {
        let db = db();
        for name in [
            "broken line without colons",
            "short",
            "baduid",
            "",
            "+nisuser",
        ] {
            assert!(db.user_by_name(name).is_none(), "{name:?}");
        }
        assert!(db.user_by_uid(7).is_none());
        assert!(db.group_by_name("garbage").is_none());
    }

    #[test]
    fn finds_groups() {
        let db = db();
        assert_eq!(db.group_by_name("cdrom").map(|g| g.gid), Some(24));
        let users = db.group_by_gid(100).expect("users");
        assert_eq!(users.members, ["alice", "bob"]);
    }

    #[test]
    fn supplementary_gids_start_with_primary() {
        let db = db();
        assert_eq!(db.supplementary_gids("alice", 1000), [1000, 4, 24, 100]);
        assert_eq!(db.supplementary_gids("alice", 24), [24, 4, 100]);
        assert_eq!(db.supplementary_gids("bob", 100), [100, 4]);
        assert_eq!(db.supplementary_gids("nobody", 65534), [65534]);
    }

    #[test]
    fn missing_files_give_an_empty_db() {
        let db = UserDb::load_from(
            Path::new("/nonexistent/passwd"),
            Path::new("/nonexistent/group"),
        );
        assert!(db.user_by_name("root").is_none());
        assert!(db.group_by_gid(0).is_none());
    }

    #[test]
    fn loads_the_system_files() {
        let db = UserDb::load();
        assert_eq!(db.user_by_uid(0).map(|u| u.name.as_str()), Some("root"));
    }
}
