-- authsvc schema, version 2: login throttling, and stored replies that carry
-- a secret (createuser's generated password) and are kept only briefly.
-- Idempotent (IF NOT EXISTS everywhere): running it twice changes nothing.

-- One row per failed login and key. key is "e:<sha256 hex of the email>" or
-- "a:<sha256 hex of the client address>": the table names nobody in clear.
-- Rows older than the window are pruned every minute.
CREATE TABLE IF NOT EXISTS auth.login_failures (
	key text NOT NULL,
	at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failures_key_at ON auth.login_failures (key, at);
CREATE INDEX IF NOT EXISTS login_failures_at ON auth.login_failures (at);

-- A key that reached its limit: logins for it are refused until `until`.
CREATE TABLE IF NOT EXISTS auth.login_locks (
	key   text PRIMARY KEY,
	until timestamptz NOT NULL
);

-- Secret replies are pruned after minutes instead of a day.
ALTER TABLE auth.replies ADD COLUMN IF NOT EXISTS secret boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS replies_secret_created_at ON auth.replies (created_at) WHERE secret;
