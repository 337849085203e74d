//! The REST bodies the peers and the server share (`/api/v1/...`); the
//! OpenAPI document the server serves describes every route.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::secret::Secret;
use super::vocabulary::Role;

/// The JSON body of an error: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable code.
    pub code: String,
    /// For people.
    pub message: String,
}

/// Credentials (`POST /api/v1/auth/login`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login e-mail.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 254, pattern = "{email}")
    )]
    pub email: String,
    /// Password.
    pub password: Secret,
}

/// A new staff token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// Bearer token (shown once; the server keeps only its hash).
    pub token: Secret,
    /// Expiry, Unix ms.
    pub expires_at: i64,
    /// Account id.
    pub user_id: i64,
    /// Role.
    pub role: Role,
    /// The token only allows a password change until one is made (POL-2, POL-4).
    pub must_change_password: bool,
    /// Days before the password expires, when the organisation sets a maximum age.
    pub password_expires_in_days: Option<i64>,
    /// Within the notice period before expiry (POL-3).
    pub password_expiry_notice: bool,
}

/// A password change by its owner (`POST /api/v1/me/password`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Current password.
    pub current_password: Secret,
    /// New password: 8 to 256 characters, different from the current one,
    /// and at the organisation's and the account's level (else 422).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, min_length = 8, max_length = 256)
    )]
    pub new_password: Secret,
}

/// The caller (`GET /api/v1/me`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// Account id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Login e-mail.
    pub email: String,
    /// Technician group, for technicians.
    pub tech_group_id: Option<i64>,
    /// The token only allows a password change.
    pub must_change_password: bool,
}

/// A session as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    /// Id (128 random bits).
    pub id: String,
    /// `private` or `channel`.
    pub kind: String,
    /// State (SESS-2).
    pub state: String,
    /// Channel, for channel sessions.
    pub channel_id: Option<i64>,
    /// Technician holding it or it is transferred to.
    pub tech_id: Option<i64>,
    /// Group it is transferred to.
    pub group_id: Option<i64>,
    /// Customer's name as typed (hostile text: escape when showing).
    pub customer_name: String,
    /// Customer form fields, JSON (hostile text).
    pub customer_fields: String,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Entered the queue, Unix ms.
    pub waiting_since: Option<i64>,
    /// Picked up, Unix ms.
    pub picked_at: Option<i64>,
    /// Current timeout deadline, Unix ms.
    pub expires_at: Option<i64>,
    /// Why it closed.
    pub close_reason: Option<String>,
    /// A channel test session (CHAN-5).
    pub is_test: bool,
}

/// A new private session (SESS-1): the code and link exist only here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivateSession {
    /// The session.
    pub session: SessionView,
    /// Six-digit PIN code for the customer.
    pub pin: Secret,
    /// Link for the customer (e-mail it).
    pub link: Secret,
    /// Code and link expire at (Unix ms).
    pub expires_at: i64,
}

/// A PIN code or link from the customer (`POST /api/v1/join`): exactly
/// one of `pin` and `link` (else 422).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The six digits the technician gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Secret>,
    /// Or the secret of the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Secret>,
    /// The customer's name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100, pattern = "{text}"))]
    pub name: String,
}

/// A customer's channel request (`POST /api/v1/join/channel/{code}`, CHAN-4).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelJoin {
    /// The customer's name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100, pattern = "{text}"))]
    pub name: String,
    /// Form fields (name to value): at most 20, names of at most 64
    /// characters, values of at most 1,000, and at most 4,096 bytes
    /// written as a JSON object (else 422).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = form_fields_schema))]
    pub fields: BTreeMap<String, String>,
}

/// What a customer gets on joining.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Joined {
    /// The session.
    pub session_id: String,
    /// The applet's token for `/ws/applet` (shown once).
    pub customer_token: Secret,
    /// The technician's nickname, for private sessions.
    pub technician: Option<String>,
    /// Estimated seconds before pick-up (APPLET-4), when known.
    pub estimated_wait_s: Option<i64>,
    /// A TURN server for the direct path, with this session's credentials,
    /// when the server has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnGrant>,
}

/// A TURN server and credentials for one session: RFC 8489 long-term
/// credentials derived from a secret the signaling server shares with the
/// TURN server, refused by it after `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TurnGrant {
    /// `turn:host:port?transport=udp` (and other transports) URLs.
    pub urls: Vec<String>,
    /// `expiry:session`.
    pub username: String,
    /// The derived password.
    pub credential: Secret,
    /// Unix seconds after which the credentials are refused.
    pub expires_at: u64,
}

/// Where a session is transferred to (`POST /api/v1/sessions/{id}/transfer`):
/// exactly one of `tech_id` and `group_id` (else 422).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    /// A technician.
    pub tech_id: Option<i64>,
    /// Or a technician group.
    pub group_id: Option<i64>,
}

/// Most form fields of a channel request.
pub const MAX_FORM_FIELDS: usize = 20;
/// Most characters of a form field's name.
pub const MAX_FORM_FIELD_NAME: usize = 64;
/// Most characters of a form field's value.
pub const MAX_FORM_FIELD_VALUE: usize = 1000;

/// `ChannelJoin::fields` in the OpenAPI document: the bounds on names and
/// values (the `{text}` pattern is written out by the server's document).
#[cfg(feature = "openapi")]
fn form_fields_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    let text = |max: usize| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .pattern(Some("{text}"))
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("Form fields (name to value)."))
        .max_properties(Some(MAX_FORM_FIELDS))
        .property_names(Some(text(MAX_FORM_FIELD_NAME).build()))
        .additional_properties(Some(text(MAX_FORM_FIELD_VALUE)))
        .build()
}
