//! Who may see and do what: the administrator scope of ORG-3 (assigned
//! technician groups and their sub-groups) and the permission question of
//! PERM-*: "may technician T do action A in session S".

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::AnyPool;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::model::{Perm, Role, SessionState};
use crate::store::Flag;

/// The technician-group forest.
#[derive(Debug, Default)]
pub struct GroupTree {
    parent: HashMap<i64, Option<i64>>,
}

impl GroupTree {
    /// Loads every technician group's parent link.
    pub async fn load(pool: &AnyPool) -> ApiResult<Self> {
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as("SELECT id, parent_id FROM tech_groups")
            .fetch_all(pool)
            .await?;
        Ok(Self {
            parent: rows.into_iter().collect(),
        })
    }

    /// Whether the group exists.
    pub fn contains(&self, id: i64) -> bool {
        self.parent.contains_key(&id)
    }

    /// `root` and everything below it.
    pub fn subtree(&self, root: i64) -> HashSet<i64> {
        let mut out = HashSet::from([root]);
        // Parents are few; repeat until nothing is added (depth-bounded).
        loop {
            let before = out.len();
            for (id, parent) in &self.parent {
                if let Some(p) = parent
                    && out.contains(p)
                {
                    out.insert(*id);
                }
            }
            if out.len() == before {
                return out;
            }
        }
    }

    /// The top-level group above `id` (itself at the top).
    pub fn root(&self, id: i64) -> i64 {
        let mut cur = id;
        // Depth-bounded like `is_within`: a corrupt cycle cannot loop.
        for _ in 0..=self.parent.len() {
            match self.parent.get(&cur).copied().flatten() {
                Some(p) => cur = p,
                None => break,
            }
        }
        cur
    }

    /// Whether `ancestor` is `id` or above it.
    pub fn is_within(&self, id: i64, ancestor: i64) -> bool {
        let mut cur = Some(id);
        let mut steps = 0;
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.parent.get(&c).copied().flatten();
            steps += 1;
            if steps > self.parent.len() {
                return false;
            }
        }
        false
    }
}

/// The technician groups a caller administers.
#[derive(Debug, Clone)]
pub enum Scope {
    /// A master administrator: everything.
    All,
    /// An administrator: these groups (assigned ones and their descendants).
    Groups(HashSet<i64>),
}

impl Scope {
    /// Whether `group` is in scope.
    pub fn has(&self, group: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Groups(g) => g.contains(&group),
        }
    }
    /// Refuses a group out of scope with the same answer as a missing one,
    /// so ids outside the scope reveal nothing.
    pub fn require(&self, group: i64) -> ApiResult<()> {
        if self.has(group) {
            Ok(())
        } else {
            Err(ApiError::not_found("technician group"))
        }
    }
}

/// The scope of an administrator or master; technicians have none.
pub async fn of(pool: &AnyPool, caller: &Caller) -> ApiResult<Scope> {
    match caller.role {
        Role::Master => Ok(Scope::All),
        Role::Technician => Err(ApiError::forbidden("administrators only")),
        Role::Admin => {
            let assigned: Vec<i64> =
                sqlx::query_scalar("SELECT group_id FROM admin_assignments WHERE admin_id = $1")
                    .bind(caller.id)
                    .fetch_all(pool)
                    .await?;
            let tree = GroupTree::load(pool).await?;
            let mut all = HashSet::new();
            for g in assigned {
                all.extend(tree.subtree(g));
            }
            Ok(Scope::Groups(all))
        }
    }
}

/// The groups a caller may hand a session to (PERM-13, SESS-8): an
/// administrator's scope, or for a technician the tree of its own group
/// (from its top-level group down).
pub async fn transfer_targets(pool: &AnyPool, caller: &Caller) -> ApiResult<Scope> {
    match (caller.role, caller.tech_group_id) {
        (Role::Technician, Some(g)) => {
            let tree = GroupTree::load(pool).await?;
            Ok(Scope::Groups(tree.subtree(tree.root(g))))
        }
        (Role::Technician, None) => Err(ApiError::forbidden("technician without a group")),
        _ => of(pool, caller).await,
    }
}

/// Whether technician account `tech`'s group is in `scope` (false for
/// accounts that are not technicians or do not exist).
pub async fn covers_tech(pool: &AnyPool, scope: &Scope, tech: i64) -> ApiResult<bool> {
    if let Scope::All = scope {
        return Ok(true);
    }
    let g: Option<Option<i64>> =
        sqlx::query_scalar("SELECT tech_group_id FROM users WHERE id = $1 AND role = 'technician'")
            .bind(tech)
            .fetch_optional(pool)
            .await?;
    Ok(g.flatten().is_some_and(|g| scope.has(g)))
}

pub use secours_protocol::signaling::GrantedSet;

/// The answer to "may T do A in S".
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
pub struct Decision {
    /// Yes or no.
    pub allowed: bool,
    /// Why (stable code): `granted`, `not_granted`, `not_your_session` (the
    /// route answers 404 instead),
    /// `session_not_live`, `account_disabled`, `group_disabled`, `no_group`.
    pub reason: String,
}

impl Decision {
    fn no(reason: &str) -> Self {
        Self {
            allowed: false,
            reason: reason.to_owned(),
        }
    }
}

type MayRow = (Flag, Option<i64>, Option<Flag>, Option<i64>, Option<String>);

/// May technician `tech` do `action` in session `session`? The one place
/// the server answers it; the applet checks the granted set again.
pub async fn may(pool: &AnyPool, tech: i64, action: Perm, session: &str) -> ApiResult<Decision> {
    let row: Option<MayRow> = sqlx::query_as(
        "SELECT u.enabled, u.tech_group_id, g.enabled, g.permissions, g.chat_mode \
         FROM users u LEFT JOIN tech_groups g ON g.id = u.tech_group_id WHERE u.id = $1",
    )
    .bind(tech)
    .fetch_optional(pool)
    .await?;
    let Some((Flag(enabled), group, group_enabled, mask, _)) = row else {
        return Err(ApiError::not_found("technician"));
    };
    if !enabled {
        return Ok(Decision::no("account_disabled"));
    }
    let (Some(_), Some(group_enabled), Some(mask)) = (group, group_enabled, mask) else {
        return Ok(Decision::no("no_group"));
    };
    if !group_enabled.0 {
        return Ok(Decision::no("group_disabled"));
    }
    let s: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT state, tech_id FROM support_sessions WHERE id = $1")
            .bind(session)
            .fetch_optional(pool)
            .await?;
    let Some((state, holder)) = s else {
        return Err(ApiError::not_found("session"));
    };
    if holder != Some(tech) {
        return Ok(Decision::no("not_your_session"));
    }
    if !matches!(
        SessionState::parse(&state),
        SessionState::Active | SessionState::OnHold
    ) {
        return Ok(Decision::no("session_not_live"));
    }
    if Perm::list(mask).contains(&action) {
        Ok(Decision {
            allowed: true,
            reason: "granted".to_owned(),
        })
    } else {
        Ok(Decision::no("not_granted"))
    }
}

/// The granted set of technician `tech`'s group.
pub async fn granted_for(pool: &AnyPool, tech: i64) -> ApiResult<GrantedSet> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT g.permissions, g.chat_mode FROM users u JOIN tech_groups g \
         ON g.id = u.tech_group_id WHERE u.id = $1",
    )
    .bind(tech)
    .fetch_optional(pool)
    .await?;
    let (mask, chat) = row.ok_or_else(|| ApiError::forbidden("technician without a group"))?;
    Ok(GrantedSet::from_group(mask, &chat))
}

/// Refuses unless technician `tech`'s group grants `perm`.
pub async fn require_perm(pool: &AnyPool, tech: i64, perm: Perm) -> ApiResult<()> {
    if granted_for(pool, tech).await?.granted.contains(&perm) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "permission_denied",
            format!("your group does not grant {}", perm.name()),
        ))
    }
}
