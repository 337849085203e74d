//! The reports other than the session lists: transfers, performance,
//! custom fields, surveys, logins.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::AnyPool;

use super::{Query, Report, fig, iso, n};
use crate::error::ApiResult;

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

type TransferRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
);

pub(super) async fn transferred(
    pool: &AnyPool,
    filter: &str,
    q: &Query,
    limit: i64,
    r: &mut Report,
) -> ApiResult<()> {
    let base = format!(
        "FROM session_transfers t JOIN support_sessions s ON s.id = t.session_id \
         LEFT JOIN users u ON u.id = s.tech_id LEFT JOIN users b ON b.id = t.by_id \
         LEFT JOIN users f ON f.id = t.from_tech_id LEFT JOIN users o ON o.id = t.to_tech_id \
         WHERE t.at >= $1 AND t.at < $2 AND {filter}"
    );
    let rows: Vec<TransferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.session_id, t.at, b.email, f.email, o.email, t.to_group_id, s.customer_name \
         {base} ORDER BY t.at, t.id LIMIT $3"
    )))
    .bind(q.from)
    .bind(q.to)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    r.columns = cols(&[
        "session_id",
        "at",
        "by",
        "from_technician",
        "to_technician",
        "to_group_id",
        "customer_name",
    ]);
    for (id, at, by, from, to, group, name) in rows {
        r.rows.push(vec![
            id,
            iso(at),
            by.unwrap_or_default(),
            from.unwrap_or_default(),
            to.unwrap_or_default(),
            n(group),
            name,
        ]);
    }
    let (total, sessions): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*), COUNT(DISTINCT t.session_id) {base}"
    )))
    .bind(q.from)
    .bind(q.to)
    .fetch_one(pool)
    .await?;
    r.summary = vec![
        fig("transfers", total.to_string()),
        fig("sessions", sessions.to_string()),
    ];
    Ok(())
}

type PerfRow = (i64, String, i64, Option<i64>, Option<i64>, Option<i64>);

pub(super) async fn performance(
    pool: &AnyPool,
    filter: &str,
    q: &Query,
    r: &mut Report,
) -> ApiResult<()> {
    let rows: Vec<PerfRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT u.id, u.email, COUNT(*), \
         CAST(AVG(s.picked_at - COALESCE(s.waiting_since, s.created_at)) AS BIGINT), \
         CAST(AVG(s.closed_at - s.picked_at) AS BIGINT), \
         CAST(SUM(s.closed_at - s.picked_at) AS BIGINT) \
         FROM support_sessions s JOIN users u ON u.id = s.tech_id \
         WHERE s.created_at >= $1 AND s.created_at < $2 AND s.picked_at IS NOT NULL AND {filter} \
         GROUP BY u.id, u.email ORDER BY u.email"
    )))
    .bind(q.from)
    .bind(q.to)
    .fetch_all(pool)
    .await?;
    r.columns = cols(&[
        "technician_id",
        "technician",
        "sessions",
        "avg_pickup_s",
        "avg_handling_s",
        "total_handling_s",
    ]);
    let mut total = 0;
    for (id, email, count, pickup, handling, sum) in rows {
        total += count;
        r.rows.push(vec![
            id.to_string(),
            email,
            count.to_string(),
            n(pickup.map(|v| v / 1000)),
            n(handling.map(|v| v / 1000)),
            n(sum.map(|v| v / 1000)),
        ]);
    }
    r.summary = vec![
        fig("technicians", r.rows.len().to_string()),
        fig("sessions", total.to_string()),
    ];
    Ok(())
}

pub(super) async fn custom_fields(
    pool: &AnyPool,
    filter: &str,
    q: &Query,
    limit: i64,
    r: &mut Report,
) -> ApiResult<()> {
    let rows: Vec<(String, i64, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s.id, s.created_at, s.customer_name, s.customer_fields \
         FROM support_sessions s LEFT JOIN users u ON u.id = s.tech_id \
         WHERE s.created_at >= $1 AND s.created_at < $2 AND s.customer_fields <> '{{}}' \
         AND s.customer_fields <> '' AND {filter} ORDER BY s.created_at, s.id LIMIT $3"
    )))
    .bind(q.from)
    .bind(q.to)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    r.columns = cols(&[
        "session_id",
        "created_at",
        "customer_name",
        "field",
        "value",
    ]);
    let mut names: BTreeMap<String, i64> = BTreeMap::new();
    for (id, created, name, fields) in rows {
        // Stored as the customer's form gave it: an object of name to value.
        let parsed: Value = serde_json::from_str(&fields).unwrap_or(Value::Null);
        let pairs: Vec<(String, String)> = match parsed {
            Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
            _ => vec![(String::new(), fields)],
        };
        for (field, value) in pairs {
            *names.entry(field.clone()).or_default() += 1;
            r.rows
                .push(vec![id.clone(), iso(created), name.clone(), field, value]);
        }
    }
    r.summary = names
        .into_iter()
        .map(|(k, v)| fig(&format!("field:{k}"), v.to_string()))
        .collect();
    Ok(())
}

type SurveyRow = (String, i64, Option<String>, Option<i64>, String);

pub(super) async fn survey(
    pool: &AnyPool,
    filter: &str,
    kind: &str,
    q: &Query,
    limit: i64,
    r: &mut Report,
) -> ApiResult<()> {
    let config = crate::api::surveys::load(pool, kind).await?;
    let base = format!(
        "FROM survey_answers a JOIN support_sessions s ON s.id = a.session_id \
         LEFT JOIN users u ON u.id = s.tech_id LEFT JOIN users w ON w.id = a.tech_id \
         WHERE a.kind = $1 AND a.at >= $2 AND a.at < $3 AND {filter}"
    );
    let rows: Vec<SurveyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.session_id, a.at, w.email, a.rating, a.answers {base} ORDER BY a.at, a.id LIMIT $4"
    )))
    .bind(kind)
    .bind(q.from)
    .bind(q.to)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    r.columns = cols(&["session_id", "answered_at", "technician", "rating"]);
    r.columns
        .extend(config.questions.iter().map(|q| q.label.clone()));
    for (id, at, tech, rating, answers) in rows {
        let answers: BTreeMap<String, Value> = serde_json::from_str(&answers).unwrap_or_default();
        let mut row = vec![id, iso(at), tech.unwrap_or_default(), n(rating)];
        for question in &config.questions {
            row.push(match answers.get(&question.id) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            });
        }
        r.rows.push(row);
    }
    let (count, avg): (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*), CAST(AVG(a.rating * 100) AS BIGINT) {base}"
    )))
    .bind(kind)
    .bind(q.from)
    .bind(q.to)
    .fetch_one(pool)
    .await?;
    r.summary = vec![
        fig("answers", count.to_string()),
        fig(
            "avg_rating",
            avg.map(|a| format!("{}.{:02}", a / 100, a % 100))
                .unwrap_or_default(),
        ),
    ];
    Ok(())
}

type LoginRow = (i64, String, String, String, String);

pub(super) async fn logins(
    pool: &AnyPool,
    filter: &str,
    everyone: bool,
    q: &Query,
    limit: i64,
    r: &mut Report,
) -> ApiResult<()> {
    // Failed logins name no account (the e-mail may not exist): only
    // reports over the whole organisation show them.
    let failed = if everyone {
        " OR a.action = 'login.failed'"
    } else {
        ""
    };
    let base = format!(
        "FROM audit_log a WHERE a.at >= $1 AND a.at < $2 AND \
         ((a.action IN ('login.ok', 'login.refused') AND {filter}){failed})"
    );
    let rows: Vec<LoginRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.at, a.actor, a.action, a.target, a.detail {base} ORDER BY a.at, a.id LIMIT $3"
    )))
    .bind(q.from)
    .bind(q.to)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    r.columns = cols(&["at", "account", "outcome", "address"]);
    let (mut ok, mut bad) = (0, 0);
    for (at, actor, action, target, detail) in rows {
        let detail: Value = serde_json::from_str(&detail).unwrap_or(Value::Null);
        let address = detail["address"].as_str().unwrap_or_default().to_owned();
        let (account, outcome) = match action.as_str() {
            "login.ok" => {
                ok += 1;
                (actor, "ok")
            }
            "login.refused" => {
                bad += 1;
                (actor, "refused")
            }
            _ => {
                bad += 1;
                (
                    target.strip_prefix("email:").unwrap_or(&target).to_owned(),
                    "failed",
                )
            }
        };
        r.rows
            .push(vec![iso(at), account, outcome.to_owned(), address]);
    }
    r.summary = vec![fig("ok", ok.to_string()), fig("not_ok", bad.to_string())];
    Ok(())
}
