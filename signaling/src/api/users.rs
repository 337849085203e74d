//! Accounts (ORG-2, ORG-3, ORG-6): create, list, read, change, move, and
//! administrator assignments. Administrators only reach technicians of
//! their scope; anything else answers 404, as if it did not exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::Secret;
use crate::api::auth::{normalise_email, required_level, verify_current};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::model::Role;
use crate::notify::{self, Notice};
use crate::password::{self, Strength};
use crate::scope::{self, Scope};
use crate::state::AppState;
use crate::store::audit;
use crate::store::{Flag, check_text, now_ms};

/// Deserialises a present field (even `null`) as `Some`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An account as the API shows it (never its password hash).
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct User {
    /// Id.
    pub id: i64,
    /// `master`, `admin` or `technician`.
    pub role: String,
    /// Name.
    pub name: String,
    /// Shown to customers (technicians).
    pub nickname: String,
    /// Login e-mail.
    pub email: String,
    /// Single-sign-on id.
    pub sso_id: String,
    /// Free text.
    pub description: String,
    /// Enabled or disabled.
    #[sqlx(try_from = "Flag")]
    pub enabled: bool,
    /// Administrator group (administrators).
    pub admin_group_id: Option<i64>,
    /// Technician group (technicians).
    pub tech_group_id: Option<i64>,
    /// Minimum password level of this account (0 weak .. 3 excellent).
    pub min_password_level: i64,
    /// Must change the password at next login (POL-4).
    #[sqlx(try_from = "Flag")]
    pub must_change_password: bool,
    /// Created, Unix ms.
    pub created_at: i64,
}

macro_rules! user_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, role, name, nickname, email, sso_id, description, enabled, admin_group_id, ",
            "tech_group_id, min_password_level, must_change_password, created_at FROM users ",
            $rest
        )
    };
}

/// A new account. A technician needs `tech_group_id`; only technicians
/// have one, and only administrators an `admin_group_id` (else 422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Role.
    pub role: Role,
    /// Name.
    #[schema(max_length = 200, pattern = "{name}")]
    pub name: String,
    /// Shown to customers.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "{text}")]
    pub nickname: String,
    /// Login e-mail.
    #[schema(min_length = 3, max_length = 254, pattern = "{email}")]
    pub email: String,
    /// Single-sign-on id.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "{text}")]
    pub sso_id: String,
    /// Free text.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: String,
    /// Initial password; the owner must change it at first login (POL-4).
    /// At the organisation's and the account's level (else 422).
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub password: Secret,
    /// Required for technicians.
    pub tech_group_id: Option<i64>,
    /// Administrators only.
    pub admin_group_id: Option<i64>,
    /// Minimum password level of this account.
    pub min_password_level: Option<Strength>,
    /// Defaults to true.
    pub enabled: Option<bool>,
}

fn check_fields(name: &str, nickname: &str, sso: &str, description: &str) -> ApiResult<()> {
    check_text("name", name, 200)?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name is empty"));
    }
    check_text("nickname", nickname, 100)?;
    check_text("sso_id", sso, 200)?;
    check_text("description", description, 2000)
}

async fn hash_password(state: &AppState, pw: &str, min: i64) -> ApiResult<String> {
    password::check(pw, required_level(state, min).await?)?;
    let pw = pw.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::internal("hash task", e))?
}

/// Loads an account the caller may see, else 404.
pub(crate) async fn visible_user(state: &AppState, caller: &Caller, id: i64) -> ApiResult<User> {
    let scope = scope::of(&state.store.pool, caller).await?;
    let user: Option<User> = sqlx::query_as(user_select!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
    match user {
        Some(u) if may_see(&scope, caller, &u) => Ok(u),
        _ => Err(ApiError::not_found("user")),
    }
}

fn may_see(scope: &Scope, caller: &Caller, u: &User) -> bool {
    match scope {
        Scope::All => true,
        Scope::Groups(_) => {
            u.id == caller.id
                || (u.role == "technician" && u.tech_group_id.is_some_and(|g| scope.has(g)))
        }
    }
}

/// Creates an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "org", security(("bearer" = [])),
    request_body = NewUser,
    responses((status = 201, body = User), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    check_fields(&req.name, &req.nickname, &req.sso_id, &req.description)?;
    let email = normalise_email(&req.email)?;
    match req.role {
        Role::Master | Role::Admin => caller.require_master()?,
        Role::Technician => {}
    }
    let tech_group = match (req.role, req.tech_group_id) {
        (Role::Technician, Some(g)) => {
            scope.require(g)?;
            Some(g)
        }
        (Role::Technician, None) => {
            return Err(ApiError::unprocessable("a technician needs tech_group_id"));
        }
        (_, Some(_)) => {
            return Err(ApiError::unprocessable(
                "only technicians belong to a technician group",
            ));
        }
        (_, None) => None,
    };
    if req.admin_group_id.is_some() && req.role != Role::Admin {
        return Err(ApiError::unprocessable(
            "only administrators belong to an administrator group",
        ));
    }
    let min = req.min_password_level.map_or(0, Strength::as_i64);
    let phc = hash_password(&state, req.password.expose(), min).await?;
    let now = now_ms();
    let mut tx = state.store.write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (role, name, nickname, email, sso_id, description, password_hash, \
         password_changed_at, must_change_password, min_password_level, enabled, admin_group_id, \
         tech_group_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $9, $10, $11, $12, $8) RETURNING id",
    )
    .bind(req.role.as_str())
    .bind(&req.name)
    .bind(&req.nickname)
    .bind(&email)
    .bind(&req.sso_id)
    .bind(&req.description)
    .bind(&phc)
    .bind(now)
    .bind(min)
    .bind(req.enabled.unwrap_or(true))
    .bind(req.admin_group_id)
    .bind(tech_group)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "user.create",
        &format!("user:{id}"),
        json!({"role": req.role.as_str(), "email": email, "tech_group_id": tech_group}),
        now,
    )
    .await?;
    let notice = if req.role == Role::Technician {
        Notice::TechnicianAdded
    } else {
        Notice::AdminAdded
    };
    notify::queue(&mut tx, notice, &email, now).await?;
    let user: User = sqlx::query_as(user_select!("WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Accounts the caller may see.
#[utoipa::path(get, path = "/api/v1/users", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = Vec<User>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<User>>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    let all: Vec<User> = sqlx::query_as(user_select!("ORDER BY id"))
        .fetch_all(&state.store.pool)
        .await?;
    Ok(Json(
        all.into_iter()
            .filter(|u| may_see(&scope, &caller, u))
            .collect(),
    ))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<User>> {
    Ok(Json(visible_user(&state, &caller, id).await?))
}

/// Changes to an account; absent fields stay as they are. Only a
/// technician moves to a technician group and only an administrator to an
/// administrator group (else 422).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Name.
    #[schema(max_length = 200, pattern = "{name}")]
    pub name: Option<String>,
    /// Nickname.
    #[schema(max_length = 100, pattern = "{text}")]
    pub nickname: Option<String>,
    /// E-mail.
    #[schema(min_length = 3, max_length = 254, pattern = "{email}")]
    pub email: Option<String>,
    /// SSO id.
    #[schema(max_length = 200, pattern = "{text}")]
    pub sso_id: Option<String>,
    /// Description.
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Move a technician to another group.
    pub tech_group_id: Option<i64>,
    /// Administrator group (`null` to leave it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub admin_group_id: Option<Option<i64>>,
    /// Reset the password; the owner must change it at next login (POL-4).
    /// At the organisation's and the account's level (else 422).
    #[schema(value_type = Option<String>, min_length = 8, max_length = 256)]
    pub password: Option<Secret>,
    /// Minimum password level of the account.
    pub min_password_level: Option<Strength>,
    /// The caller's current password: required to change one's own
    /// password or e-mail (a stolen token alone cannot take the account).
    #[schema(value_type = Option<String>)]
    pub current_password: Option<Secret>,
}

/// Changes an account (ORG-6 move included). Changing one's own password
/// here is a change, not a reset: it ends the account's other tokens and
/// does not force another change.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Account id")), request_body = UserPatch,
    responses((status = 200, body = User), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn patch_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(p): Json<UserPatch>,
) -> ApiResult<Json<User>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    let mut u = visible_user(&state, &caller, id).await?;
    let before = u.clone();
    if u.role != "technician" && u.id != caller.id {
        caller.require_master()?;
    }
    if p.enabled == Some(false) && u.id == caller.id {
        return Err(ApiError::conflict("you cannot disable your own account"));
    }
    if let Some(v) = p.name {
        u.name = v;
    }
    if let Some(v) = p.nickname {
        u.nickname = v;
    }
    if let Some(v) = p.sso_id {
        u.sso_id = v;
    }
    if let Some(v) = p.description {
        u.description = v;
    }
    if let Some(v) = p.enabled {
        u.enabled = v;
    }
    if let Some(v) = p.email {
        u.email = normalise_email(&v)?;
    }
    if let Some(v) = p.min_password_level {
        caller.require_master()?;
        u.min_password_level = v.as_i64();
    }
    check_fields(&u.name, &u.nickname, &u.sso_id, &u.description)?;
    if let Some(g) = p.tech_group_id {
        if u.role != "technician" {
            return Err(ApiError::unprocessable(
                "only technicians belong to a technician group",
            ));
        }
        scope.require(g)?;
        u.tech_group_id = Some(g);
    }
    if let Some(g) = p.admin_group_id {
        caller.require_master()?;
        if u.role != "admin" {
            return Err(ApiError::unprocessable(
                "only administrators belong to an administrator group",
            ));
        }
        u.admin_group_id = g;
    }
    let own = u.id == caller.id;
    if own && (p.password.is_some() || u.email != before.email) {
        verify_current(
            &state,
            caller.id,
            p.current_password.as_ref().map(Secret::expose),
        )
        .await?;
    }
    let phc = match &p.password {
        Some(pw) => Some(hash_password(&state, pw.expose(), u.min_password_level).await?),
        None => None,
    };
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query(
        "UPDATE users SET name = $1, nickname = $2, email = $3, sso_id = $4, description = $5, \
         enabled = $6, tech_group_id = $7, admin_group_id = $8, min_password_level = $9 WHERE id = $10",
    )
    .bind(&u.name).bind(&u.nickname).bind(&u.email).bind(&u.sso_id).bind(&u.description)
    .bind(u.enabled).bind(u.tech_group_id).bind(u.admin_group_id).bind(u.min_password_level).bind(id)
    .execute(&mut *tx).await?;
    if let Some(phc) = &phc {
        sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2, \
                     must_change_password = $3 WHERE id = $4",
        )
        .bind(phc)
        .bind(now)
        .bind(!own)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    if phc.is_some() || !u.enabled {
        // Every token of the account ends; the caller's own survives its
        // own password change.
        let keep = if own { caller.token_hash.as_str() } else { "" };
        sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1 AND token_hash <> $2")
            .bind(id)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
    }
    let changes = json!({
        "name": (before.name != u.name).then_some(&u.name),
        "email": (before.email != u.email).then_some(&u.email),
        "enabled": (before.enabled != u.enabled).then_some(u.enabled),
        "tech_group_id": (before.tech_group_id != u.tech_group_id).then_some(u.tech_group_id),
        "admin_group_id": (before.admin_group_id != u.admin_group_id).then_some(u.admin_group_id),
        "password_reset": phc.is_some(),
    });
    audit::append(
        &mut tx,
        &caller.actor(),
        "user.update",
        &format!("user:{id}"),
        changes,
        now,
    )
    .await?;
    if before.email != u.email {
        notify::queue(&mut tx, Notice::ContactChanged, &u.email, now).await?;
    }
    if phc.is_some() {
        notify::queue(&mut tx, Notice::PasswordChanged, &u.email, now).await?;
    }
    let notice = if u.role == "technician" {
        Notice::TechnicianChanged
    } else {
        Notice::AdminChanged
    };
    notify::queue(&mut tx, notice, &u.email, now).await?;
    let out: User = sqlx::query_as(user_select!("WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    if phc.is_some() || (before.enabled && !u.enabled) {
        let r = crate::revoke::Revoked::User(id);
        state.revocations.revoke(r).await;
        if !own {
            crate::revoke::close_sessions(&state, r).await;
        }
    }
    Ok(Json(out))
}

/// The technician groups an administrator manages.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignments {
    /// Technician group ids (each brings its sub-groups; each must exist,
    /// else 422).
    #[schema(max_items = 1000)]
    pub group_ids: Vec<i64>,
}

/// Sets an administrator's assigned technician groups (ORG-3).
#[utoipa::path(put, path = "/api/v1/users/{id}/assignments", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Administrator id")), request_body = Assignments,
    responses((status = 200, body = Assignments), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_assignments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<Assignments>,
) -> ApiResult<Json<Assignments>> {
    caller.require_master()?;
    let u = visible_user(&state, &caller, id).await?;
    if u.role != "admin" {
        return Err(ApiError::unprocessable(
            "only administrators have assigned groups",
        ));
    }
    if req.group_ids.len() > 1000 {
        return Err(ApiError::invalid("too many groups"));
    }
    let tree = scope::GroupTree::load(&state.store.pool).await?;
    if let Some(g) = req.group_ids.iter().find(|g| !tree.contains(**g)) {
        return Err(ApiError::unprocessable(format!(
            "technician group {g} does not exist"
        )));
    }
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query("DELETE FROM admin_assignments WHERE admin_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let mut ids = req.group_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    for g in &ids {
        sqlx::query("INSERT INTO admin_assignments (admin_id, group_id) VALUES ($1, $2)")
            .bind(id)
            .bind(g)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "admin.assign",
        &format!("user:{id}"),
        json!({"group_ids": ids}),
        now,
    )
    .await?;
    notify::queue(&mut tx, Notice::AdminChanged, &u.email, now).await?;
    tx.commit().await?;
    Ok(Json(Assignments { group_ids: ids }))
}
