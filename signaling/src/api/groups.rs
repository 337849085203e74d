//! Technician groups (ORG-5, PERM-*, POL-5, ORG-7) and administrator groups
//! (ORG-4).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::api::users::present;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ipfilter::{self, IpMode};
use crate::model::{ChatMode, Perm};
use crate::scope::{self, GroupTree, Scope};
use crate::state::AppState;
use crate::store::audit;
use crate::store::{Flag, check_text, now_ms};

/// A technician group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TechGroup {
    /// Id.
    pub id: i64,
    /// Parent group; none at the top.
    pub parent_id: Option<i64>,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Enabled or disabled.
    pub enabled: bool,
    /// Granted permissions (PERM-*).
    pub permissions: Vec<Perm>,
    /// PERM-1 chat mode.
    pub chat_mode: ChatMode,
    /// POL-5 mode.
    pub ip_mode: IpMode,
    /// POL-5 ranges (CIDR).
    pub ip_ranges: Vec<String>,
}

type GroupRow = (
    i64,
    Option<i64>,
    String,
    String,
    Flag,
    i64,
    String,
    String,
    String,
);

const GROUP_SELECT: &str = "SELECT id, parent_id, name, description, enabled, permissions, chat_mode, \
    ip_mode, ip_ranges FROM tech_groups ORDER BY id";

fn to_group(r: GroupRow) -> TechGroup {
    TechGroup {
        id: r.0,
        parent_id: r.1,
        name: r.2,
        description: r.3,
        enabled: r.4.0,
        permissions: Perm::list(r.5),
        chat_mode: ChatMode::parse(&r.6),
        ip_mode: IpMode::parse(&r.7),
        ip_ranges: ipfilter::split(&r.8)
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

async fn all_groups(state: &AppState) -> ApiResult<Vec<TechGroup>> {
    let rows: Vec<GroupRow> = sqlx::query_as(GROUP_SELECT)
        .fetch_all(&state.store.pool)
        .await?;
    Ok(rows.into_iter().map(to_group).collect())
}

pub(crate) async fn visible_group(
    state: &AppState,
    scope: &Scope,
    id: i64,
) -> ApiResult<TechGroup> {
    scope.require(id)?;
    all_groups(state)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found("technician group"))
}

/// The settings ORG-7 saves for one node, its sub-groups, or all groups.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// Granted permissions.
    pub permissions: Vec<Perm>,
    /// Chat mode.
    #[serde(default)]
    pub chat_mode: ChatMode,
    /// POL-5 mode.
    #[serde(default)]
    pub ip_mode: IpMode,
    /// POL-5 ranges: addresses or CIDR ranges, IPv4 or IPv6.
    #[serde(default)]
    #[schema(schema_with = ip_ranges_schema)]
    pub ip_ranges: Vec<String>,
}

/// `GroupSettings::ip_ranges` in the OpenAPI document.
fn ip_ranges_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .description(Some(
            "POL-5 ranges: addresses or CIDR ranges, IPv4 or IPv6.",
        ))
        .max_items(Some(ipfilter::MAX_RANGES))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("{ip_range}")),
        )
        .build()
}

/// A new technician group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTechGroup {
    /// Parent (required for administrators: inside their scope).
    pub parent_id: Option<i64>,
    /// Name.
    #[schema(max_length = 200, pattern = "{name}")]
    pub name: String,
    /// Free text.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: String,
    /// Defaults to true.
    pub enabled: Option<bool>,
    /// Initial settings; by default the parent's (or none at the top).
    pub settings: Option<GroupSettings>,
}

fn check_group_text(name: &str, description: &str) -> ApiResult<()> {
    check_text("name", name, 200)?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name is empty"));
    }
    check_text("description", description, 2000)
}

/// Creates a technician group.
#[utoipa::path(post, path = "/api/v1/tech-groups", tag = "org", security(("bearer" = [])),
    request_body = NewTechGroup,
    responses((status = 201, body = TechGroup), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<NewTechGroup>,
) -> ApiResult<(StatusCode, Json<TechGroup>)> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    check_group_text(&req.name, &req.description)?;
    let inherited = match req.parent_id {
        Some(p) => Some(visible_group(&state, &scope, p).await?),
        None => {
            caller.require_master()?;
            None
        }
    };
    let settings = match (req.settings, inherited) {
        (Some(s), _) => s,
        (None, Some(parent)) => GroupSettings {
            permissions: parent.permissions,
            chat_mode: parent.chat_mode,
            ip_mode: parent.ip_mode,
            ip_ranges: parent.ip_ranges,
        },
        (None, None) => GroupSettings {
            permissions: Vec::new(),
            chat_mode: ChatMode::On,
            ip_mode: IpMode::Off,
            ip_ranges: Vec::new(),
        },
    };
    let ranges = ipfilter::join(&ipfilter::parse_ranges(&settings.ip_ranges)?);
    let now = now_ms();
    let mut tx = state.store.write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tech_groups (parent_id, name, description, enabled, permissions, chat_mode, \
         ip_mode, ip_ranges) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(req.parent_id)
    .bind(&req.name)
    .bind(&req.description)
    .bind(req.enabled.unwrap_or(true))
    .bind(Perm::mask(&settings.permissions))
    .bind(settings.chat_mode.as_str())
    .bind(settings.ip_mode.as_str())
    .bind(&ranges)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "tech_group.create",
        &format!("tech_group:{id}"),
        json!({"name": req.name, "parent_id": req.parent_id}),
        now,
    )
    .await?;
    tx.commit().await?;
    let scope = Scope::All;
    Ok((
        StatusCode::CREATED,
        Json(visible_group(&state, &scope, id).await?),
    ))
}

/// Technician groups the caller administers.
#[utoipa::path(get, path = "/api/v1/tech-groups", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = Vec<TechGroup>), (status = 403, body = ErrorBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TechGroup>>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    Ok(Json(
        all_groups(&state)
            .await?
            .into_iter()
            .filter(|g| scope.has(g.id))
            .collect(),
    ))
}

/// One technician group.
#[utoipa::path(get, path = "/api/v1/tech-groups/{id}", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")),
    responses((status = 200, body = TechGroup), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<TechGroup>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    Ok(Json(visible_group(&state, &scope, id).await?))
}

/// Changes to a group; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    /// Name.
    #[schema(max_length = 200, pattern = "{name}")]
    pub name: Option<String>,
    /// Description.
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Move under another group (`null`: to the top, masters only).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<Option<i64>>,
}

/// Renames, enables/disables or moves a technician group.
#[utoipa::path(patch, path = "/api/v1/tech-groups/{id}", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")), request_body = GroupPatch,
    responses((status = 200, body = TechGroup), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn patch_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(p): Json<GroupPatch>,
) -> ApiResult<Json<TechGroup>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    let mut g = visible_group(&state, &scope, id).await?;
    let was_enabled = g.enabled;
    if let Some(v) = p.name {
        g.name = v;
    }
    if let Some(v) = p.description {
        g.description = v;
    }
    if let Some(v) = p.enabled {
        g.enabled = v;
    }
    check_group_text(&g.name, &g.description)?;
    if let Some(parent) = p.parent_id {
        match parent {
            None => caller.require_master()?,
            Some(parent) => {
                scope.require(parent)?;
                let tree = GroupTree::load(&state.store.pool).await?;
                if tree.is_within(parent, id) {
                    return Err(ApiError::unprocessable(
                        "a group cannot move under itself or its sub-groups",
                    ));
                }
            }
        }
        if let Scope::Groups(_) = scope {
            // An administrator may not move a group it was assigned (its
            // scope root) out from under the master's arrangement.
            let assigned: Option<i64> = sqlx::query_scalar(
                "SELECT group_id FROM admin_assignments WHERE admin_id = $1 AND group_id = $2",
            )
            .bind(caller.id)
            .bind(id)
            .fetch_optional(&state.store.pool)
            .await?;
            if assigned.is_some() {
                return Err(ApiError::forbidden(
                    "only a master administrator moves an assigned group",
                ));
            }
        }
        g.parent_id = parent;
    }
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query("UPDATE tech_groups SET name = $1, description = $2, enabled = $3, parent_id = $4 WHERE id = $5")
        .bind(&g.name).bind(&g.description).bind(g.enabled).bind(g.parent_id).bind(id)
        .execute(&mut *tx).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "tech_group.update",
        &format!("tech_group:{id}"),
        json!({"name": g.name, "enabled": g.enabled, "parent_id": g.parent_id}),
        now,
    )
    .await?;
    tx.commit().await?;
    if was_enabled && !g.enabled {
        let r = crate::revoke::Revoked::Group(id);
        state.revocations.revoke(r).await;
        crate::revoke::close_sessions(&state, r).await;
    }
    Ok(Json(g))
}

/// ORG-7: where settings are saved.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    /// This group only.
    #[default]
    Node,
    /// This group and all its descendants.
    Subgroups,
    /// Every group in the caller's scope (the whole organisation for a master).
    All,
}

/// Query of the settings route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// `node` (default), `subgroups` or `all`.
    #[param(inline)]
    pub apply: Option<ApplyTo>,
}

/// The groups that were changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Applied {
    /// Ids of the groups saved.
    pub group_ids: Vec<i64>,
}

/// Saves permissions, chat mode and IP restrictions (ORG-7).
#[utoipa::path(put, path = "/api/v1/tech-groups/{id}/settings", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id"), ApplyQuery), request_body = GroupSettings,
    responses((status = 200, body = Applied), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ApplyQuery>,
    Json(s): Json<GroupSettings>,
) -> ApiResult<Json<Applied>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    visible_group(&state, &scope, id).await?;
    let ranges = ipfilter::join(&ipfilter::parse_ranges(&s.ip_ranges)?);
    let tree = GroupTree::load(&state.store.pool).await?;
    let apply = q.apply.unwrap_or_default();
    let mut ids: Vec<i64> = match apply {
        ApplyTo::Node => vec![id],
        ApplyTo::Subgroups => tree
            .subtree(id)
            .into_iter()
            .filter(|g| scope.has(*g))
            .collect(),
        ApplyTo::All => all_groups(&state)
            .await?
            .into_iter()
            .map(|g| g.id)
            .filter(|g| scope.has(*g))
            .collect(),
    };
    ids.sort_unstable();
    let now = now_ms();
    let mut tx = state.store.write().await?;
    for g in &ids {
        sqlx::query("UPDATE tech_groups SET permissions = $1, chat_mode = $2, ip_mode = $3, ip_ranges = $4 WHERE id = $5")
            .bind(Perm::mask(&s.permissions)).bind(s.chat_mode.as_str()).bind(s.ip_mode.as_str())
            .bind(&ranges).bind(g).execute(&mut *tx).await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "tech_group.settings",
        &format!("tech_group:{id}"),
        json!({"apply": apply, "group_ids": ids, "permissions": s.permissions,
               "chat_mode": s.chat_mode, "ip_mode": s.ip_mode, "ip_ranges": ranges}),
        now,
    )
    .await?;
    tx.commit().await?;
    // Consoles of these groups re-check their address against the new rule.
    for g in &ids {
        state
            .revocations
            .revoke(crate::revoke::Revoked::Group(*g))
            .await;
    }
    Ok(Json(Applied { group_ids: ids }))
}

/// An administrator group (ORG-4).
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct AdminGroup {
    /// Id.
    pub id: i64,
    /// Parent group.
    pub parent_id: Option<i64>,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Enabled or disabled.
    #[sqlx(try_from = "Flag")]
    pub enabled: bool,
}

/// A new administrator group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdminGroup {
    /// Parent group.
    pub parent_id: Option<i64>,
    /// Name.
    #[schema(max_length = 200, pattern = "{name}")]
    pub name: String,
    /// Free text.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: String,
}

/// Creates an administrator group (masters).
#[utoipa::path(post, path = "/api/v1/admin-groups", tag = "org", security(("bearer" = [])),
    request_body = NewAdminGroup,
    responses((status = 201, body = AdminGroup), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn create_admin_group(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<NewAdminGroup>,
) -> ApiResult<(StatusCode, Json<AdminGroup>)> {
    caller.require_master()?;
    check_group_text(&req.name, &req.description)?;
    let now = now_ms();
    let mut tx = state.store.write().await?;
    let g: AdminGroup = sqlx::query_as(
        "INSERT INTO admin_groups (parent_id, name, description) VALUES ($1, $2, $3) \
         RETURNING id, parent_id, name, description, enabled",
    )
    .bind(req.parent_id)
    .bind(&req.name)
    .bind(&req.description)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "admin_group.create",
        &format!("admin_group:{}", g.id),
        json!({"name": g.name, "parent_id": g.parent_id}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(g)))
}

/// Administrator groups (masters).
#[utoipa::path(get, path = "/api/v1/admin-groups", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = Vec<AdminGroup>), (status = 403, body = ErrorBody)))]
pub async fn list_admin_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AdminGroup>>> {
    caller.require_master()?;
    Ok(Json(
        sqlx::query_as(
            "SELECT id, parent_id, name, description, enabled FROM admin_groups ORDER BY id",
        )
        .fetch_all(&state.store.pool)
        .await?,
    ))
}

/// Changes to an administrator group; absent fields stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminGroupPatch {
    /// Name.
    #[schema(max_length = 200, pattern = "{name}")]
    pub name: Option<String>,
    /// Description.
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Move under another administrator group (`null`: to the top).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<Option<i64>>,
}

/// Renames, enables/disables or moves an administrator group (masters, ORG-4).
#[utoipa::path(patch, path = "/api/v1/admin-groups/{id}", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Administrator group id")), request_body = AdminGroupPatch,
    responses((status = 200, body = AdminGroup), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch_admin_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(p): Json<AdminGroupPatch>,
) -> ApiResult<Json<AdminGroup>> {
    caller.require_master()?;
    let all: Vec<AdminGroup> =
        sqlx::query_as("SELECT id, parent_id, name, description, enabled FROM admin_groups")
            .fetch_all(&state.store.pool)
            .await?;
    let mut g = all
        .iter()
        .find(|g| g.id == id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("administrator group"))?;
    if let Some(v) = p.name {
        g.name = v;
    }
    if let Some(v) = p.description {
        g.description = v;
    }
    if let Some(v) = p.enabled {
        g.enabled = v;
    }
    check_group_text(&g.name, &g.description)?;
    if let Some(parent) = p.parent_id {
        // Up from the new parent: neither missing nor this group (a cycle).
        let mut cur = parent;
        for _ in 0..=all.len() {
            let Some(c) = cur else { break };
            if c == id {
                return Err(ApiError::unprocessable(
                    "a group cannot move under itself or its sub-groups",
                ));
            }
            cur = all
                .iter()
                .find(|x| x.id == c)
                .ok_or_else(|| ApiError::not_found("administrator group"))?
                .parent_id;
        }
        g.parent_id = parent;
    }
    let mut tx = state.store.write().await?;
    sqlx::query(
        "UPDATE admin_groups SET name = $1, description = $2, enabled = $3, parent_id = $4 \
         WHERE id = $5",
    )
    .bind(&g.name)
    .bind(&g.description)
    .bind(g.enabled)
    .bind(g.parent_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "admin_group.update",
        &format!("admin_group:{id}"),
        json!({"name": g.name, "enabled": g.enabled, "parent_id": g.parent_id}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(g))
}
