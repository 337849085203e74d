//! The technician's desk routes, as a console reads them: its status and
//! console texts (`GET /api/v1/me/console`, SESS-9, FIELD-2, CONSOLE-16),
//! session notes (CONSOLE-10) and the technician survey (SURVEY-1). The
//! server's own types (with their OpenAPI schemas) write the same JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a technician says of itself (SESS-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TechStatus {
    /// Takes sessions, auto-assigned ones too.
    #[default]
    Available,
    /// Works, but is given no session automatically.
    Busy,
    /// Not at its desk.
    Away,
}

impl TechStatus {
    /// As it travels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Busy => "busy",
            Self::Away => "away",
        }
    }
}

/// `PUT /api/v1/me/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status.
    pub status: TechStatus,
}

/// A technician group's console texts (CONSOLE-16), set by its
/// administrators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleTexts {
    /// Instructions in the "create session" dialog.
    pub create_dialog: String,
    /// The informational link's label.
    pub info_link_label: String,
    /// The informational link (`https://` or `http://`).
    pub info_link_url: String,
    /// The default e-mail text inviting a customer to a private session.
    pub email_text: String,
}

/// `GET /api/v1/me/console`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleInfo {
    /// The technician's status.
    pub status: TechStatus,
    /// Its group's maximum of auto-assigned sessions; 0: no limit.
    pub max_sessions: i64,
    /// Custom fields the "create session" dialog asks for private sessions.
    pub fields: Vec<String>,
    /// Its group's texts.
    pub texts: ConsoleTexts,
}

/// `PATCH /api/v1/sessions/{id}/fields`: name to value; an empty value
/// removes the field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FieldsChange {
    /// At most 10.
    pub fields: BTreeMap<String, String>,
}

/// `POST /api/v1/sessions/{id}/notes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewNote {
    /// Up to 4000 characters.
    pub body: String,
}

/// A session note (CONSOLE-10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Note id.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// Author's account id.
    pub author_id: i64,
    /// Author's e-mail.
    pub author: String,
    /// The text.
    pub body: String,
}

/// The kind of answer a survey question takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// `1` to `5`.
    Rating,
    /// Free text (up to 2000 characters).
    Text,
    /// One of the question's `choices`.
    Choice,
    /// `yes` or `no`.
    YesNo,
}

/// One survey question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The key of its answer.
    pub id: String,
    /// What is asked (set by an administrator).
    pub label: String,
    /// Answer type.
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// The choices of a `choice` question.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Must be answered.
    #[serde(default)]
    pub required: bool,
}

/// A survey as `GET /api/v1/surveys/{kind}` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survey {
    /// Whether it is asked.
    pub enabled: bool,
    /// Whether the overall rating (1 to 5) is asked.
    pub rating: bool,
    /// Further questions.
    #[serde(default)]
    pub questions: Vec<Question>,
}

/// `POST /api/v1/sessions/{id}/survey`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    /// The overall rating, 1 to 5, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i64>,
    /// Question id to answer.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

/// `POST /api/v1/monitors/{id}/answer` (SESS-10).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorAnswer {
    /// Let the administrator watch.
    pub accept: bool,
}

/// A monitoring request (SESS-10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorView {
    /// Id.
    pub id: String,
    /// The administrator watching.
    pub admin_id: i64,
    /// The technician watched.
    pub tech_id: i64,
    /// `tell` or `ask`.
    pub consent: String,
    /// `asked`, `watching`, `declined` or `ended`.
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// When the technician answered, Unix ms.
    #[serde(default)]
    pub answered_at: Option<i64>,
    /// When it ended, Unix ms.
    #[serde(default)]
    pub ended_at: Option<i64>,
}
