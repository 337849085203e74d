-- Integrations and reporting (INTEG-2, INTEG-3, CONSOLE-10, SURVEY-1/2, REPORT-1), PostgreSQL dialect.

-- API keys (INTEG-3): a key acts as the account that created it, with
-- that account's current scope; only its SHA-256 is stored.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_by_owner ON api_keys(owner_id);

-- Post-to-URL (INTEG-2) configurations. The secret signs each body
-- (HMAC-SHA256), so it is kept as given, never shown again after creation.
CREATE TABLE post_urls (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    on_start BOOLEAN NOT NULL,
    on_end BOOLEAN NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

-- The durable outbox: written in the transaction of the session change,
-- claimed by one node at a time (claim token and lease), retried with back-off.
CREATE TABLE post_outbox (
    id BIGSERIAL PRIMARY KEY,
    config_id BIGINT NOT NULL REFERENCES post_urls(id),
    session_id TEXT NOT NULL REFERENCES support_sessions(id),
    event TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claim TEXT,
    claimed_until BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX post_outbox_due ON post_outbox(delivered_at, failed_at, next_at);

-- Every delivery attempt.
CREATE TABLE post_deliveries (
    id BIGSERIAL PRIMARY KEY,
    outbox_id BIGINT NOT NULL REFERENCES post_outbox(id),
    config_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    error TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL
);
CREATE INDEX post_deliveries_by_config ON post_deliveries(config_id, id);

-- Session notes (CONSOLE-10).
CREATE TABLE session_notes (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES support_sessions(id),
    author_id BIGINT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX notes_by_session ON session_notes(session_id, id);

-- Transfers, for the transferred-sessions report.
CREATE TABLE session_transfers (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES support_sessions(id),
    at BIGINT NOT NULL,
    by_id BIGINT,
    from_tech_id BIGINT,
    to_tech_id BIGINT,
    to_group_id BIGINT
);
CREATE INDEX transfers_by_at ON session_transfers(at);

-- Surveys (SURVEY-1 technician, SURVEY-2 customer): questions as JSON.
CREATE TABLE surveys (
    kind TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    questions TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE survey_answers (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES support_sessions(id),
    kind TEXT NOT NULL,
    tech_id BIGINT,
    rating BIGINT,
    answers TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (session_id, kind)
);
CREATE INDEX survey_answers_by_at ON survey_answers(kind, at);

-- Reports read sessions by creation time, and logins from the audit log by time.
CREATE INDEX sessions_by_created ON support_sessions(created_at);
CREATE INDEX audit_by_at ON audit_log(at);
