-- Monitoring (SESS-10): an administrator asks to watch a technician's
-- console. The technician's group says whether that is allowed and with
-- which consent (routing JSON: `monitoring` off, tell or ask); each request
-- is kept with its outcome, and audited.
CREATE TABLE monitor_requests (
    id TEXT PRIMARY KEY,
    admin_id BIGINT NOT NULL REFERENCES users(id),
    tech_id BIGINT NOT NULL REFERENCES users(id),
    consent TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT
);
CREATE INDEX monitor_requests_by_tech ON monitor_requests(tech_id, state);
