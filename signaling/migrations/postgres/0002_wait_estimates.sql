-- APPLET-4 estimates read the latest pick-ups per technician and per channel.
CREATE INDEX sessions_by_tech_pickup ON support_sessions(tech_id, picked_at);
CREATE INDEX sessions_by_channel_pickup ON support_sessions(channel_id, picked_at);
