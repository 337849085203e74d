-- Secours server schema (PostgreSQL dialect; sqlite/0001_init.sql is the same schema).
-- Times are Unix milliseconds. Flags are BOOLEAN. Secrets are stored hashed.

CREATE TABLE org (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    min_password_level BIGINT NOT NULL DEFAULT 1,
    max_password_age_days BIGINT NOT NULL DEFAULT 0,
    expiry_notice_days BIGINT NOT NULL DEFAULT 0,
    setup_token_hash TEXT,
    setup_token_expires BIGINT,
    write_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE admin_groups (
    id BIGSERIAL PRIMARY KEY,
    parent_id BIGINT REFERENCES admin_groups(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE tech_groups (
    id BIGSERIAL PRIMARY KEY,
    parent_id BIGINT REFERENCES tech_groups(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    permissions BIGINT NOT NULL DEFAULT 0,
    chat_mode TEXT NOT NULL DEFAULT 'chat',
    ip_mode TEXT NOT NULL DEFAULT 'off',
    ip_ranges TEXT NOT NULL DEFAULT ''
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    nickname TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL UNIQUE,
    sso_id TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    min_password_level BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    admin_group_id BIGINT REFERENCES admin_groups(id),
    tech_group_id BIGINT REFERENCES tech_groups(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE admin_assignments (
    admin_id BIGINT NOT NULL REFERENCES users(id),
    group_id BIGINT NOT NULL REFERENCES tech_groups(id),
    PRIMARY KEY (admin_id, group_id)
);

CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    restricted BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL
);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);

CREATE TABLE channels (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    link_code TEXT NOT NULL UNIQUE
);

CREATE TABLE channel_groups (
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    group_id BIGINT NOT NULL REFERENCES tech_groups(id),
    PRIMARY KEY (channel_id, group_id)
);

CREATE TABLE channel_exclusions (
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE support_sessions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    pin TEXT,
    link_hash TEXT,
    expires_at BIGINT,
    channel_id BIGINT REFERENCES channels(id),
    tech_id BIGINT REFERENCES users(id),
    group_id BIGINT REFERENCES tech_groups(id),
    customer_name TEXT NOT NULL DEFAULT '',
    customer_fields TEXT NOT NULL DEFAULT '{}',
    customer_token_hash TEXT,
    created_at BIGINT NOT NULL,
    waiting_since BIGINT,
    picked_at BIGINT,
    last_activity BIGINT NOT NULL,
    warned_at BIGINT,
    closed_at BIGINT,
    close_reason TEXT,
    is_test BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX live_pins ON support_sessions(pin) WHERE pin IS NOT NULL;
CREATE UNIQUE INDEX live_links ON support_sessions(link_hash) WHERE link_hash IS NOT NULL;
CREATE INDEX sessions_by_state ON support_sessions(state);
