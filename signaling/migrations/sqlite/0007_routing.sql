-- Session routing (SESS-3..6), custom fields (FIELD-1, FIELD-2) and console
-- texts (CONSOLE-16): JSON (routing::ChannelRouting, routing::GroupRouting);
-- empty: the defaults.
ALTER TABLE channels ADD COLUMN routing TEXT NOT NULL DEFAULT '';
ALTER TABLE tech_groups ADD COLUMN routing TEXT NOT NULL DEFAULT '';
-- Technician status (SESS-9): available, busy or away; when a console of the
-- account last said it was open (NULL: none open), and its last activity.
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'available';
ALTER TABLE users ADD COLUMN console_seen BIGINT;
ALTER TABLE users ADD COLUMN last_active BIGINT;
