-- Applet settings (APPLET-1..6) of a technician group and of a channel, as
-- JSON (secours_protocol::signaling::AppletSettings); empty: the defaults.
ALTER TABLE tech_groups ADD COLUMN applet TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN applet TEXT NOT NULL DEFAULT '';
