//! The applet settings of a technician group or a channel (APPLET-1..6):
//! set by administrators (`/api/v1/tech-groups/{id}/applet`,
//! `/api/v1/channels/{id}/applet`), sent to the applet in its `hello`, which
//! it obeys (APPLET-3's input priority), and read by the customer's pages
//! (APPLET-4's estimate shown or not, APPLET-6's terms to accept).

use serde::{Deserialize, Serialize};

/// Most characters of the terms and conditions.
pub const MAX_TERMS: usize = 8000;
/// Most characters of a look text (title, welcome).
pub const MAX_LOOK_TEXT: usize = 500;

/// APPLET-1: how the customer side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// The standard applet.
    #[default]
    Standard,
    /// Chat only, in the browser ("Instant Chat").
    ChatOnly,
}

/// APPLET-3: who has the mouse and keyboard when both act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InputPriority {
    /// The customer's own activity holds the technician's input back.
    #[default]
    Customer,
    /// The technician's input always goes.
    Technician,
}

/// APPLET-5: the applet's and the customer pages' look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppletLook {
    /// Title shown to the customer (empty: the product's).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500, pattern = "{text}"))]
    pub title: String,
    /// Accent colour, `#rrggbb` (empty: the default).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = "^(#[0-9a-fA-F]{6})?$"))]
    pub colour: String,
    /// Welcome text.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500, pattern = "{text}"))]
    pub welcome: String,
}

/// The applet settings of a group or a channel (APPLET-1..6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppletSettings {
    /// APPLET-1.
    #[serde(default)]
    pub run_mode: RunMode,
    /// APPLET-2: start as a system service when the customer has admin rights.
    #[serde(default)]
    pub system_service: bool,
    /// APPLET-3.
    #[serde(default)]
    pub priority: InputPriority,
    /// APPLET-4: show the customer the estimated wait.
    #[serde(default = "yes")]
    pub show_wait: bool,
    /// APPLET-5.
    #[serde(default)]
    pub look: AppletLook,
    /// APPLET-6: terms the customer must accept before the session starts
    /// (empty: none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 8000, pattern = "{text}"))]
    pub terms: String,
}

fn yes() -> bool {
    true
}

impl Default for AppletSettings {
    /// What a group or channel has until set: the same as an empty object.
    fn default() -> Self {
        Self {
            run_mode: RunMode::Standard,
            system_service: false,
            priority: InputPriority::Customer,
            show_wait: true,
            look: AppletLook::default(),
            terms: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_object_reads_as_the_defaults() {
        let empty: AppletSettings = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(empty, AppletSettings::default());
        assert!(serde_json::from_str::<AppletSettings>(r#"{"priority":"nobody"}"#).is_err());
    }
}
