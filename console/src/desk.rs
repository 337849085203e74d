//! The technician's desk, beside the sessions: status (SESS-9), the
//! group's console texts and private-session fields (CONSOLE-16,
//! FIELD-2), custom fields (PERM-20), notes (CONSOLE-10) and the
//! technician survey (SURVEY-1). Each command is one or two REST calls;
//! none needs the session to be running here (notes and the survey come
//! after it ended).

use std::collections::BTreeMap;

use secours_peer::client::{ClientError, ServerClient};
use secours_protocol::signaling::{Perm, SurveyAnswer};
use tokio::sync::mpsc;

use crate::commands::{Command, ConsoleEvent};

/// The invitation for a private session: the group's e-mail text with
/// `{pin}` and `{link}` filled in, or a plain one when the group set none.
pub fn invitation(template: &str, pin: &str, link: &str) -> String {
    let template = template.trim();
    if template.is_empty() {
        return format!(
            "Your technician is ready to help you.\n\nOpen this link: {link}\nor enter this code: {pin}"
        );
    }
    if template.contains("{pin}") || template.contains("{link}") {
        template.replace("{pin}", pin).replace("{link}", link)
    } else {
        format!("{template}\n\n{link}\nPIN: {pin}")
    }
}

/// The string fields of a session's stored fields (its JSON object);
/// anything else in it is not a field.
pub fn fields_of(json: &str) -> BTreeMap<String, String> {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json)
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether PERM-20 lets this technician edit custom fields.
pub fn may_edit_fields(granted: &secours_protocol::signaling::GrantedSet) -> bool {
    granted.granted.contains(&Perm::EditCustomFields)
}

/// Runs a desk command; `None` when `c` is not one.
pub async fn handle(
    client: &ServerClient,
    c: &Command,
    events: &mpsc::UnboundedSender<ConsoleEvent>,
) -> Option<()> {
    let said = match c {
        Command::ConsoleInfo => console_info(client).await,
        Command::Status { status } => client
            .set_status(*status)
            .await
            .map(|s| ConsoleEvent::Status { status: s.status }),
        Command::CreatePin { fields } => create_pin(client, fields, events).await,
        Command::Fields { session_id, fields } => edit_fields(client, session_id, fields).await,
        Command::Note { session_id, text } => {
            client
                .add_note(session_id, text)
                .await
                .map(|note| ConsoleEvent::Note {
                    session_id: session_id.clone(),
                    note,
                })
        }
        Command::Notes { session_id } => {
            client
                .notes(session_id)
                .await
                .map(|notes| ConsoleEvent::Notes {
                    session_id: session_id.clone(),
                    notes,
                })
        }
        Command::Survey {
            session_id,
            rating,
            answers,
        } => {
            let answer = SurveyAnswer {
                rating: *rating,
                answers: answers.clone(),
            };
            client
                .answer_survey(session_id, &answer)
                .await
                .map(|()| ConsoleEvent::SurveySent {
                    session_id: session_id.clone(),
                })
        }
        // SESS-10: the server tells every console of the technician the
        // new state on the signaling socket (a `monitor` event).
        Command::MonitorAnswer { monitor_id, accept } => {
            match client.answer_monitor(monitor_id, *accept).await {
                Ok(_) => return Some(()),
                Err(e) => Err(e),
            }
        }
        Command::MonitorEnd { monitor_id } => match client.end_monitor(monitor_id).await {
            Ok(_) => return Some(()),
            Err(e) => Err(e),
        },
        _ => return None,
    };
    let _ = events.send(said.unwrap_or_else(|e| ConsoleEvent::Refused {
        session_id: c.session_id().map(str::to_owned),
        reason: e.to_string(),
    }));
    Some(())
}

/// The `console_info` event.
pub async fn console_info(client: &ServerClient) -> Result<ConsoleEvent, ClientError> {
    let i = client.console_info().await?;
    Ok(ConsoleEvent::ConsoleInfo {
        status: i.status,
        max_sessions: i.max_sessions,
        fields: i.fields,
        texts: i.texts,
    })
}

async fn create_pin(
    client: &ServerClient,
    fields: &BTreeMap<String, String>,
    events: &mpsc::UnboundedSender<ConsoleEvent>,
) -> Result<ConsoleEvent, ClientError> {
    // The group's texts as they are now: an administrator may have just
    // changed them. An account without a group has none.
    let template = client
        .console_info()
        .await
        .map(|i| i.texts.email_text)
        .unwrap_or_default();
    let p = client.create_session().await?;
    let id = p.session.id;
    let mut stored = fields_of(&p.session.customer_fields);
    let wanted: BTreeMap<String, String> = fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.trim().to_owned()))
        .collect();
    if !wanted.is_empty() {
        // The creator fills them in while the session is pending.
        match client.set_fields(&id, &wanted).await {
            Ok(v) => stored = fields_of(&v.customer_fields),
            Err(e) => {
                let _ = events.send(ConsoleEvent::Refused {
                    session_id: Some(id.clone()),
                    reason: format!("the fields were not saved: {e}"),
                });
            }
        }
    }
    let (pin, link) = (p.pin.expose().to_owned(), p.link.expose().to_owned());
    Ok(ConsoleEvent::Pin {
        session_id: id,
        email: invitation(&template, &pin, &link),
        pin,
        link,
        fields: stored,
    })
}

async fn edit_fields(
    client: &ServerClient,
    session_id: &str,
    fields: &BTreeMap<String, String>,
) -> Result<ConsoleEvent, ClientError> {
    let v = client.set_fields(session_id, fields).await?;
    Ok(ConsoleEvent::Fields {
        session_id: session_id.to_owned(),
        fields: fields_of(&v.customer_fields),
        // The server just let this technician edit them.
        editable: true,
    })
}

/// After a session this console ran ended: the technician survey's
/// questions, when the survey is asked (SURVEY-1).
pub async fn survey_after(
    client: &ServerClient,
    session_id: &str,
    events: &mpsc::UnboundedSender<ConsoleEvent>,
) {
    match client.technician_survey().await {
        Ok(s) if s.enabled => {
            let _ = events.send(ConsoleEvent::Survey {
                session_id: session_id.to_owned(),
                rating: s.rating,
                questions: s.questions,
            });
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "the technician survey could not be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitations_name_the_pin_and_the_link() {
        let t = invitation("Hello, join at {link} with {pin}.", "123456", "https://h/j");
        assert_eq!(t, "Hello, join at https://h/j with 123456.");
        let t = invitation("Dear customer,", "123456", "https://h/j");
        assert!(
            t.starts_with("Dear customer,") && t.contains("https://h/j") && t.contains("123456")
        );
        let t = invitation("  ", "123456", "https://h/j");
        assert!(t.contains("https://h/j") && t.contains("123456"));
    }

    #[test]
    fn only_string_values_are_fields() {
        let f = fields_of(r#"{"Ticket":"42","n":3,"<b>x</b>":"y"}"#);
        assert_eq!(f.len(), 2);
        assert_eq!(f["Ticket"], "42");
        assert_eq!(f["<b>x</b>"], "y");
        assert!(fields_of("not json").is_empty());
    }
}
