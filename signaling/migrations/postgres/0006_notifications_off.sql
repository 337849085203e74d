-- SEC-9 notifications the organisation switched off (comma-separated
-- names, notify::Notice); empty: every notification is sent.
ALTER TABLE org ADD COLUMN notifications_off TEXT NOT NULL DEFAULT '';
