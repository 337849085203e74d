-- The language an account reads the administration centre in (POL-6);
-- empty: the browser's.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';
