-- authsvc schema, version 3: the addresses each account logged in from
-- lately, which the login throttle does not hold against the account.
-- Idempotent (IF NOT EXISTS everywhere): running it twice changes nothing.

-- One row per (email, address) that logged in successfully. key is
-- "k:<sha256 hex of the email, a newline and the address>": the table
-- names nobody in clear. at is the latest such login; rows older than
-- REBUTTAL_LOGIN_KNOWN_DAYS are pruned every minute.
CREATE TABLE IF NOT EXISTS auth.login_known (
	key text PRIMARY KEY,
	at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_known_at ON auth.login_known (at);
