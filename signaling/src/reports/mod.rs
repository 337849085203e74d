//! Reports (REPORT-1) over a date range and a node of the organisation
//! chart, as tables (columns, rows, a summary) that the API answers in
//! JSON, exports as CSV and the administration centre shows.
//!
//! Every query starts from an indexed time column (`support_sessions.created_at`,
//! `session_transfers.at`, `survey_answers(kind, at)`, `audit_log.at`) and
//! reads the list a page at a time; summaries are one aggregate over the
//! same range. A session belongs to a node through whoever has it: its
//! technician's group, the group it was transferred to, or, never picked
//! up, the groups of its channel. The chat goes from peer to peer and never
//! through the server, so there is no chat-log report.

mod more;
mod stream;

pub use stream::{csv_stream, streams};

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::scope::{self, GroupTree, Scope};

/// Which report.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Every session, with a summary.
    Sessions,
    /// Sessions that waited and were never picked up.
    Missed,
    /// Sessions that failed: lost connection, revoked, never connected.
    Failed,
    /// Transfers.
    Transferred,
    /// Pick-up and handling times per technician.
    Performance,
    /// The customers' custom fields.
    CustomFields,
    /// Customer survey answers (SURVEY-2).
    CustomerSurvey,
    /// Technician survey answers (SURVEY-1).
    TechnicianSurvey,
    /// Logins (succeeded, failed, refused).
    Logins,
}

impl ReportKind {
    /// Every report.
    pub const ALL: [Self; 9] = [
        Self::Sessions,
        Self::Missed,
        Self::Failed,
        Self::Transferred,
        Self::Performance,
        Self::CustomFields,
        Self::CustomerSurvey,
        Self::TechnicianSurvey,
        Self::Logins,
    ];
    /// Its name in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::Missed => "missed",
            Self::Failed => "failed",
            Self::Transferred => "transferred",
            Self::Performance => "performance",
            Self::CustomFields => "custom_fields",
            Self::CustomerSurvey => "customer_survey",
            Self::TechnicianSurvey => "technician_survey",
            Self::Logins => "logins",
        }
    }
    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A summary figure.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Figure {
    /// Stable name (`total`, `avg_pickup_s`, ...).
    pub name: String,
    /// Its value, as text (empty when there is nothing to average).
    pub value: String,
}

/// A report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Report {
    /// Which.
    pub kind: ReportKind,
    /// Range start, Unix ms (included).
    pub from: i64,
    /// Range end, Unix ms (excluded).
    pub to: i64,
    /// The node: `org`, `group:ID` or `tech:ID`.
    pub node: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, as text (times are UTC, RFC 3339).
    pub rows: Vec<Vec<String>>,
    /// Figures over the whole range (not only the rows returned).
    pub summary: Vec<Figure>,
    /// More rows exist than were returned.
    pub truncated: bool,
}

/// The part of the organisation a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// The caller's whole scope.
    Org,
    /// A technician group and its sub-groups.
    Group(i64),
    /// One technician.
    Tech(i64),
}

impl Node {
    /// `org`, `group:ID`, `tech:ID`.
    pub fn parse(s: &str) -> ApiResult<Self> {
        let bad = || ApiError::unprocessable("node is org, group:ID or tech:ID");
        match s.split_once(':') {
            None if s == "org" || s.is_empty() => Ok(Self::Org),
            Some(("group", id)) => id.parse().map(Self::Group).map_err(|_| bad()),
            Some(("tech", id)) => id.parse().map(Self::Tech).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
    fn label(&self) -> String {
        match self {
            Self::Org => "org".into(),
            Self::Group(g) => format!("group:{g}"),
            Self::Tech(t) => format!("tech:{t}"),
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which report.
    pub kind: ReportKind,
    /// Range start, Unix ms.
    pub from: i64,
    /// Range end, Unix ms.
    pub to: i64,
    /// Which node.
    pub node: Node,
    /// Most rows returned.
    pub limit: i64,
}

/// The rows a report may cover: no filter, some technician groups, or one technician.
#[derive(Debug, Clone)]
enum Filter {
    All,
    Groups(Vec<i64>),
    Tech(i64),
}

impl Filter {
    /// SQL over `s` (support_sessions) and `u` (its technician, LEFT JOIN).
    /// Only integers read from the database are written into the text.
    fn sessions(&self) -> String {
        match self {
            Self::All => "TRUE".into(),
            Self::Tech(t) => format!("s.tech_id = {t}"),
            Self::Groups(g) if g.is_empty() => "FALSE".into(),
            Self::Groups(g) => {
                let list = join(g);
                format!(
                    "(COALESCE(u.tech_group_id, s.group_id) IN ({list}) OR (s.tech_id IS NULL \
                     AND s.group_id IS NULL AND s.channel_id IN \
                     (SELECT channel_id FROM channel_groups WHERE group_id IN ({list}))))"
                )
            }
        }
    }
    /// SQL over an account id column.
    fn accounts(&self, col: &str) -> String {
        match self {
            Self::All => "TRUE".into(),
            Self::Tech(t) => format!("{col} = {t}"),
            Self::Groups(g) if g.is_empty() => "FALSE".into(),
            Self::Groups(g) => format!(
                "{col} IN (SELECT id FROM users WHERE tech_group_id IN ({}))",
                join(g)
            ),
        }
    }
}

fn join(ids: &[i64]) -> String {
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{id}");
    }
    out
}

/// The filter of `node` for `caller`, refusing nodes out of its scope
/// (answered like ids that do not exist).
async fn filter_for(pool: &AnyPool, caller: &Caller, node: &Node) -> ApiResult<Filter> {
    let scope = scope::of(pool, caller).await?;
    let tree = GroupTree::load(pool).await?;
    Ok(match (node, &scope) {
        (Node::Org, Scope::All) => Filter::All,
        (Node::Org, Scope::Groups(g)) => Filter::Groups(sorted(g)),
        (Node::Group(g), _) => {
            if !tree.contains(*g) {
                return Err(ApiError::not_found("technician group"));
            }
            scope.require(*g)?;
            Filter::Groups(sorted(&tree.subtree(*g)))
        }
        (Node::Tech(t), _) => {
            if !scope::covers_tech(pool, &scope, *t).await? {
                return Err(ApiError::not_found("technician"));
            }
            Filter::Tech(*t)
        }
    })
}

fn sorted(g: &HashSet<i64>) -> Vec<i64> {
    let mut v: Vec<i64> = g.iter().copied().collect();
    v.sort_unstable();
    v
}

/// UTC RFC 3339 of Unix milliseconds (days-from-civil inverse, proleptic Gregorian).
pub fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn t(v: Option<i64>) -> String {
    v.map(iso).unwrap_or_default()
}
fn n(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}
fn fig(name: &str, value: String) -> Figure {
    Figure {
        name: name.into(),
        value,
    }
}

/// The missed condition (waited, never picked up, over).
const MISSED: &str = "(s.state = 'closed' AND s.picked_at IS NULL AND s.waiting_since IS NOT NULL)";
/// The failed condition (lost, revoked, or a customer that never connected).
const FAILED: &str = "(s.close_reason IN ('disconnected', 'revoked') OR (s.close_reason = 'timed_out' \
     AND s.waiting_since IS NULL AND s.picked_at IS NULL AND s.customer_token_hash IS NOT NULL))";

/// Builds a report for `caller`.
pub async fn build(pool: &AnyPool, caller: &Caller, q: &Query) -> ApiResult<Report> {
    if q.to <= q.from {
        return Err(ApiError::unprocessable("to must be after from"));
    }
    let f = filter_for(pool, caller, &q.node).await?;
    let mut r = Report {
        kind: q.kind,
        from: q.from,
        to: q.to,
        node: q.node.label(),
        columns: Vec::new(),
        rows: Vec::new(),
        summary: Vec::new(),
        truncated: false,
    };
    let limit = q.limit.clamp(1, 1_000_000);
    match q.kind {
        ReportKind::Sessions => sessions(pool, &f, q, limit, "TRUE", &mut r).await?,
        ReportKind::Missed => sessions(pool, &f, q, limit, MISSED, &mut r).await?,
        ReportKind::Failed => sessions(pool, &f, q, limit, FAILED, &mut r).await?,
        ReportKind::Transferred => more::transferred(pool, &f.sessions(), q, limit, &mut r).await?,
        ReportKind::Performance => more::performance(pool, &f.sessions(), q, &mut r).await?,
        ReportKind::CustomFields => {
            more::custom_fields(pool, &f.sessions(), q, limit, &mut r).await?
        }
        ReportKind::CustomerSurvey => {
            more::survey(pool, &f.sessions(), "customer", q, limit, &mut r).await?
        }
        ReportKind::TechnicianSurvey => {
            more::survey(pool, &f.sessions(), "technician", q, limit, &mut r).await?
        }
        ReportKind::Logins => {
            more::logins(
                pool,
                &f.accounts("a.actor_id"),
                matches!(f, Filter::All),
                q,
                limit,
                &mut r,
            )
            .await?
        }
    }
    if r.rows.len() as i64 > limit {
        r.rows
            .truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        r.truncated = true;
    }
    Ok(r)
}

type SessionRow = (
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The sessions reports' columns (sessions, missed, failed).
const SESSION_COLUMNS: [&str; 15] = [
    "session_id",
    "kind",
    "state",
    "technician",
    "group_id",
    "channel_id",
    "customer_name",
    "created_at",
    "waiting_since",
    "picked_at",
    "closed_at",
    "close_reason",
    "pickup_s",
    "handling_s",
    "notes",
];

/// The sessions reports' selected columns, in `SessionRow`'s order.
const SESSION_SELECT: &str = "SELECT s.id, s.kind, s.state, u.email, \
     COALESCE(u.tech_group_id, s.group_id), s.channel_id, s.customer_name, s.created_at, \
     s.waiting_since, s.picked_at, s.closed_at, s.close_reason";

/// One session's row, with its notes.
fn session_row(row: SessionRow, note: String) -> Vec<String> {
    let (id, kind, state, tech, group, channel, name, created, waiting, picked, closed, reason) =
        row;
    let pickup = picked.map(|p| (p - waiting.unwrap_or(created)) / 1000);
    let handling = match (picked, closed) {
        (Some(p), Some(c)) => Some((c - p) / 1000),
        _ => None,
    };
    vec![
        id,
        kind,
        state,
        tech.unwrap_or_default(),
        n(group),
        n(channel),
        name,
        iso(created),
        t(waiting),
        t(picked),
        t(closed),
        reason.unwrap_or_default(),
        n(pickup),
        n(handling),
        note,
    ]
}

type SummaryRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

async fn sessions(
    pool: &AnyPool,
    f: &Filter,
    q: &Query,
    limit: i64,
    cond: &str,
    r: &mut Report,
) -> ApiResult<()> {
    let filter = f.sessions();
    let base = format!(
        "FROM support_sessions s LEFT JOIN users u ON u.id = s.tech_id \
         WHERE s.created_at >= $1 AND s.created_at < $2 AND {cond} AND {filter}"
    );
    let rows: Vec<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SESSION_SELECT} {base} ORDER BY s.created_at, s.id LIMIT $3"
    )))
    .bind(q.from)
    .bind(q.to)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    r.columns = SESSION_COLUMNS.map(String::from).to_vec();
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let mut notes = notes_of(pool, &ids).await?;
    for row in rows {
        let note = notes.remove(&row.0).unwrap_or_default();
        r.rows.push(session_row(row, note));
    }
    // One pass over the range for every figure.
    let s: SummaryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*), \
         CAST(SUM(CASE WHEN s.picked_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN {MISSED} THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN {FAILED} THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(AVG(s.picked_at - COALESCE(s.waiting_since, s.created_at)) AS BIGINT), \
         CAST(AVG(s.closed_at - s.picked_at) AS BIGINT) {base}"
    )))
    .bind(q.from)
    .bind(q.to)
    .fetch_one(pool)
    .await?;
    r.summary = vec![
        fig("total", s.0.to_string()),
        fig("picked_up", n(s.1)),
        fig("missed", n(s.2)),
        fig("failed", n(s.3)),
        fig("avg_pickup_s", n(s.4.map(|v| v / 1000))),
        fig("avg_handling_s", n(s.5.map(|v| v / 1000))),
    ];
    Ok(())
}

/// The notes (CONSOLE-10) of these sessions, one per line, by session;
/// read 500 sessions at a time.
async fn notes_of(
    pool: &AnyPool,
    ids: &[&str],
) -> ApiResult<std::collections::HashMap<String, String>> {
    let mut out: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT session_id, body FROM session_notes WHERE session_id IN ({}) ORDER BY id",
            marks.join(",")
        );
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for (session, body) in q.fetch_all(pool).await? {
            let e = out.entry(session).or_default();
            if !e.is_empty() {
                e.push('\n');
            }
            e.push_str(&body);
        }
    }
    Ok(out)
}

/// The report as CSV: the column names, then the rows.
pub fn to_csv(r: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&r.columns)?;
    for row in &r.rows {
        w.write_record(row)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso(1_790_000_000_123), "2026-09-21T14:13:20Z");
    }

    #[test]
    fn nodes() {
        assert_eq!(Node::parse("org").ok(), Some(Node::Org));
        assert_eq!(Node::parse("group:4").ok(), Some(Node::Group(4)));
        assert_eq!(Node::parse("tech:9").ok(), Some(Node::Tech(9)));
        assert!(Node::parse("group:x").is_err());
        assert!(Node::parse("channel:1").is_err());
    }
}
