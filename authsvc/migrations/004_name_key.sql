-- authsvc schema, version 4: display names unique by their skeleton
-- (lib/skeleton.h: case, look-alike letters, invisible characters folded).
-- Idempotent (IF NOT EXISTS everywhere): running it twice changes nothing.

-- The skeleton of name. Filled by authsvc at start for rows without one
-- (SQL cannot compute it); an older account whose skeleton another already
-- holds keeps NULL (and its name), and is logged. Every name set from then
-- on needs a skeleton nobody else has.
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS name_key text;
CREATE UNIQUE INDEX IF NOT EXISTS users_name_key ON auth.users (name_key);
