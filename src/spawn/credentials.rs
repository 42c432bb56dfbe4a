//! A service's credentials: its `user`, `group` and `groups` resolved
//! against the account files into the ids the child sets, the names its
//! failures use, and the variables its user brings (`HOME`, `USER`,
//! `LOGNAME`, `SHELL`). The rules where SPEC.md is silent are in the header
//! of `spawn`.

use super::prepare::prepare_failure;
use crate::config::{IdRef, ServiceConfig};
use crate::supervisor::SpawnFailure;
use crate::users::UserDb;

/// The credentials part of a plan.
pub(super) struct Ids {
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
    pub(super) groups: Option<Vec<u32>>,
    pub(super) user_label: String,
    pub(super) group_label: String,
    pub(super) user_env: Option<UserEnv>,
}

/// `HOME`, `USER`/`LOGNAME`, `SHELL` for a configured user.
pub(super) struct UserEnv {
    pub(super) home: String,
    pub(super) name: String,
    pub(super) shell: String,
}

pub(super) fn resolve_ids(
    service: &ServiceConfig,
    db: &UserDb,
    euid: u32,
) -> Result<Ids, SpawnFailure> {
    let user = match &service.user {
        None => None,
        Some(id) => {
            let entry = match id {
                IdRef::Name(name) => db.user_by_name(name),
                IdRef::Id(uid) => db.user_by_uid(*uid),
            };
            Some(match (entry, numeric(id)) {
                (Some(entry), _) => (entry.uid, entry.gid, Some(entry)),
                (None, Some(uid)) => (uid, uid, None),
                (None, None) => return Err(prepare_failure(label("user", id), "no such user")),
            })
        }
    };
    let resolve_group = |id: &IdRef| match id {
        IdRef::Name(name) => db
            .group_by_name(name)
            .map(|g| g.gid)
            .or_else(|| numeric(id))
            .ok_or_else(|| prepare_failure(label("group", id), "no such group")),
        IdRef::Id(gid) => Ok(*gid),
    };
    let group = service.group.as_ref().map(resolve_group).transpose()?;
    let explicit_groups = match &service.groups {
        Some(ids) => Some(
            ids.iter()
                .map(resolve_group)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };

    let gid = group.or(user.map(|(_, gid, _)| gid));
    let groups = match (explicit_groups, user, gid) {
        (Some(groups), _, _) => Some(groups),
        (None, _, _) if euid != 0 => None,
        (None, Some((_, _, Some(entry))), Some(gid)) => {
            Some(db.supplementary_gids(&entry.name, gid))
        }
        (None, _, Some(gid)) => Some(vec![gid]),
        (None, _, None) => None,
    };
    let user_label = match user {
        Some((_, _, Some(entry))) => entry.name.clone(),
        Some((uid, _, None)) => uid.to_string(),
        None => String::new(),
    };
    let group_label = gid.map_or_else(String::new, |gid| {
        db.group_by_gid(gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    });
    let user_env = user.map(|(uid, _, entry)| match entry {
        Some(entry) => UserEnv {
            home: or_default(&entry.home, "/"),
            name: entry.name.clone(),
            shell: or_default(&entry.shell, "/bin/sh"),
        },
        None => UserEnv {
            home: "/".to_string(),
            name: uid.to_string(),
            shell: "/bin/sh".to_string(),
        },
    });
    Ok(Ids {
        uid: user.map(|(uid, _, _)| uid),
        gid,
        groups,
        user_label,
        group_label,
        user_env,
    })
}

fn numeric(id: &IdRef) -> Option<u32> {
    match id {
        IdRef::Id(id) => Some(*id),
        IdRef::Name(name) => name.parse().ok(),
    }
}

fn label(kind: &str, id: &IdRef) -> String {
    match id {
        IdRef::Name(name) => format!("{kind} {name}"),
        IdRef::Id(id) => format!("{kind} {id}"),
    }
}

fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_string()
}
