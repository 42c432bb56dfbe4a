//! Who may use the control socket (SPEC.md §5): the peer's credentials from
//! `SO_PEERCRED`, its groups from /etc/group read directly (no NSS), and the
//! decision: root, svinit's own user and `control group=` members may do
//! everything, `read-group=` members only read, everyone else nothing.

use std::io;
use std::path::PathBuf;

use mio::net::UnixStream;
use nix::sys::socket::{getsockopt, sockopt};

use crate::config::{ControlConfig, IdRef};
use crate::users::UserDb;

/// The process at the other end of a connection, as the kernel saw it at
/// `connect()`. `groups`: its user's groups from /etc/passwd and
/// /etc/group, filled only when the decision needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) pid: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) groups: Vec<u32>,
}

impl Peer {
    pub(crate) fn is_in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Reads `SO_PEERCRED` of a connected stream.
pub(crate) fn peer_credentials(stream: &UnixStream) -> io::Result<Peer> {
    let credentials = getsockopt(stream, sockopt::PeerCredentials).map_err(io::Error::from)?;
    Ok(Peer {
        pid: credentials.pid(),
        uid: credentials.uid(),
        gid: credentials.gid(),
        groups: Vec::new(),
    })
}

/// What a peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Full,
    ReadOnly,
    Denied,
}

/// The resolved `control` node, plus svinit's own uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessPolicy {
    pub(crate) owner_uid: u32,
    pub(crate) control_gid: Option<u32>,
    pub(crate) read_gid: Option<u32>,
}

/// Mode and group of the socket file and of its parent directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketPermissions {
    pub(crate) socket_mode: u32,
    pub(crate) dir_mode: u32,
    /// The group that owns both, when one is configured.
    pub(crate) group: Option<u32>,
}

impl AccessPolicy {
    #[cfg(test)]
    /// Only root and `owner_uid`.
    pub(crate) fn owner_only(owner_uid: u32) -> AccessPolicy {
        AccessPolicy {
            owner_uid,
            control_gid: None,
            read_gid: None,
        }
    }

    /// Resolves group names of the `control` node with the given /etc/group.
    /// An unknown group name is left out, with a warning for the log.
    pub(crate) fn from_config(
        control: &ControlConfig,
        owner_uid: u32,
        files: &AccountFiles,
    ) -> (AccessPolicy, Vec<String>) {
        let mut warnings = Vec::new();
        let mut resolve = |id: &Option<IdRef>, key: &str| -> Option<u32> {
            match id.as_ref()? {
                IdRef::Id(gid) => Some(*gid),
                IdRef::Name(name) => {
                    let gid = files.group_id(name);
                    if gid.is_none() {
                        warnings.push(format!(
                            "control {key} `{name}` is not in {}; ignored",
                            files.group.display()
                        ));
                    }
                    gid
                }
            }
        };
        let control_gid = resolve(&control.group, "group");
        let read_gid = resolve(&control.read_group, "read-group");
        let policy = AccessPolicy {
            owner_uid,
            control_gid,
            read_gid,
        };
        (policy, warnings)
    }

    /// Whether deciding for `uid` needs its supplementary groups.
    pub(crate) fn needs_groups_of(&self, uid: u32) -> bool {
        uid != 0 && uid != self.owner_uid && (self.control_gid.is_some() || self.read_gid.is_some())
    }

    pub(crate) fn decide(&self, peer: &Peer) -> Access {
        if peer.uid == 0 || peer.uid == self.owner_uid {
            return Access::Full;
        }
        if self.control_gid.is_some_and(|gid| peer.is_in_group(gid)) {
            return Access::Full;
        }
        if self.read_gid.is_some_and(|gid| peer.is_in_group(gid)) {
            return Access::ReadOnly;
        }
        Access::Denied
    }

    /// SPEC.md §5: 0600 without groups; 0660 owned by the group when one of
    /// `group`/`read-group` is given; 0666 when both are (SO_PEERCRED alone
    /// then decides). The directory follows: 0700, 0750, 0755.
    pub(crate) fn socket_permissions(&self) -> SocketPermissions {
        match (self.control_gid, self.read_gid) {
            (None, None) => SocketPermissions {
                socket_mode: 0o600,
                dir_mode: 0o700,
                group: None,
            },
            (Some(gid), None) | (None, Some(gid)) => SocketPermissions {
                socket_mode: 0o660,
                dir_mode: 0o750,
                group: Some(gid),
            },
            (Some(control), Some(read)) if control == read => SocketPermissions {
                socket_mode: 0o660,
                dir_mode: 0o750,
                group: Some(control),
            },
            (Some(control), Some(_)) => SocketPermissions {
                socket_mode: 0o666,
                dir_mode: 0o755,
                group: Some(control),
            },
        }
    }
}

/// Where users and groups are looked up (parsed again by `AccountCache`
/// when they change, so a `usermod -aG` applies at the next connection);
/// tests point these elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountFiles {
    pub(crate) passwd: PathBuf,
    pub(crate) group: PathBuf,
}

impl Default for AccountFiles {
    fn default() -> Self {
        AccountFiles {
            passwd: PathBuf::from("/etc/passwd"),
            group: PathBuf::from("/etc/group"),
        }
    }
}

impl AccountFiles {
    pub(crate) fn load(&self) -> UserDb {
        UserDb::load_from(&self.passwd, &self.group)
    }

    /// The gid of group `name`, or `None`.
    pub(crate) fn group_id(&self, name: &str) -> Option<u32> {
        self.load().group_by_name(name).map(|group| group.gid)
    }
}

/// The account files parsed once and again only when either changed
/// (device, inode, size, modification time): a `usermod -aG` still
/// applies at the next connection, and a flood of connections costs two
/// stat(2) each instead of two parses.
#[derive(Debug, Default)]
pub(crate) struct AccountCache {
    stamps: Option<[FileStamp; 2]>,
    db: UserDb,
}

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

impl AccountCache {
    /// The groups `uid`'s user is in: its passwd primary group and every
    /// group listing it as a member; empty when the uid has no entry.
    pub(crate) fn groups_of(&mut self, files: &AccountFiles, uid: u32) -> Vec<u32> {
        let stamps = FileStamp::of(&files.passwd).zip(FileStamp::of(&files.group));
        let current = stamps.map(|(passwd, group)| [passwd, group]);
        if current.is_none() || current != self.stamps {
            self.db = files.load();
            self.stamps = current;
        }
        self.db
            .user_by_uid(uid)
            .map(|user| self.db.supplementary_gids(&user.name, user.gid))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
alice:x:1000:1000::/home/alice:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
carol:x:1002:1002::/home/carol:/bin/sh
";
    const GROUP: &str = "\
root:x:0:
svadm:x:500:alice,dave
monitor:x:501:bob, alice
carol:x:1002:

broken-line
";

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            pid: 42,
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    fn policy(control: Option<u32>, read: Option<u32>) -> AccessPolicy {
        AccessPolicy {
            owner_uid: 1002,
            control_gid: control,
            read_gid: read,
        }
    }

    #[test]
    fn root_and_the_owner_may_do_everything() {
        let policy = policy(None, None);
        assert_eq!(policy.decide(&peer(0, 0, &[])), Access::Full);
        assert_eq!(policy.decide(&peer(1002, 1002, &[])), Access::Full);
        assert_eq!(policy.decide(&peer(1000, 1000, &[])), Access::Denied);
        assert!(!policy.needs_groups_of(1000));
    }

    #[test]
    fn groups_grant_full_or_read_access() {
        let policy = policy(Some(500), Some(501));
        assert_eq!(policy.decide(&peer(1000, 1000, &[500])), Access::Full);
        // Primary gid counts as membership too.
        assert_eq!(policy.decide(&peer(1005, 500, &[])), Access::Full);
        assert_eq!(policy.decide(&peer(1001, 1001, &[501])), Access::ReadOnly);
        // In both: the wider access wins.
        assert_eq!(policy.decide(&peer(1000, 1000, &[501, 500])), Access::Full);
        assert_eq!(policy.decide(&peer(1003, 1003, &[7])), Access::Denied);
        assert!(policy.needs_groups_of(1000));
        assert!(!policy.needs_groups_of(0));
        assert!(!policy.needs_groups_of(1002));
    }

    #[test]
    fn socket_modes_follow_the_configured_groups() {
        let modes = |control, read| {
            let p = policy(control, read).socket_permissions();
            (p.socket_mode, p.dir_mode, p.group)
        };
        assert_eq!(modes(None, None), (0o600, 0o700, None));
        assert_eq!(modes(Some(500), None), (0o660, 0o750, Some(500)));
        assert_eq!(modes(None, Some(501)), (0o660, 0o750, Some(501)));
        assert_eq!(modes(Some(500), Some(500)), (0o660, 0o750, Some(500)));
        assert_eq!(modes(Some(500), Some(501)), (0o666, 0o755, Some(500)));
    }

    #[test]
    fn config_group_names_resolve_through_the_files() {
        let dir = std::env::temp_dir().join(format!("svinit-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = AccountFiles {
            passwd: dir.join("passwd"),
            group: dir.join("group"),
        };
        std::fs::write(&files.passwd, PASSWD).unwrap();
        std::fs::write(&files.group, GROUP).unwrap();

        let control = ControlConfig {
            group: Some(IdRef::Name("svadm".into())),
            read_group: Some(IdRef::Name("ghosts".into())),
        };
        let (policy, warnings) = AccessPolicy::from_config(&control, 1002, &files);
        assert_eq!(policy.control_gid, Some(500));
        assert_eq!(policy.read_gid, None);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("ghosts"), "{warnings:?}");

        let control = ControlConfig {
            group: None,
            read_group: Some(IdRef::Id(501)),
        };
        let (policy, warnings) = AccessPolicy::from_config(&control, 1002, &files);
        assert_eq!(policy.read_gid, Some(501));
        assert!(warnings.is_empty());

        // alice: primary 1000, listed in svadm and monitor; dave has no
        // passwd entry, so no groups at all.
        let mut cache = AccountCache::default();
        assert_eq!(cache.groups_of(&files, 1000), vec![1000, 500, 501]);
        assert_eq!(cache.groups_of(&files, 1001), vec![1001, 501]);
        assert!(cache.groups_of(&files, 9999).is_empty());
        // A `usermod -aG` applies at the next lookup: the files changed.
        let group = std::fs::read_to_string(&files.group).unwrap();
        std::fs::write(
            &files.group,
            group.replace("svadm:x:500:alice,dave", "svadm:x:500:alice,dave,bob"),
        )
        .unwrap();
        assert_eq!(cache.groups_of(&files, 1001), vec![1001, 500, 501]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
