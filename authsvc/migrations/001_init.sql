-- authsvc schema, version 1: accounts, groups, permissions, invites, stored
-- replies for idempotent retries, and a key/value table for markers.
-- Idempotent (IF NOT EXISTS everywhere): running it twice changes nothing.

CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.groups (
	name text PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS auth.group_perms (
	grp  text NOT NULL REFERENCES auth.groups (name) ON DELETE CASCADE ON UPDATE CASCADE,
	perm text NOT NULL,
	PRIMARY KEY (grp, perm)
);

-- email is stored trimmed and lowercased (authsvc normalizes it). grp is a
-- plain name, not a foreign key: removing a group leaves its members in it,
-- without permissions (PROTOCOL.md, removegroup).
CREATE TABLE IF NOT EXISTS auth.users (
	id         uuid PRIMARY KEY,
	email      text NOT NULL UNIQUE,
	name       text NOT NULL,
	pwhash     text NOT NULL,
	grp        text NOT NULL,
	hidden     boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS auth.invites (
	code       uuid PRIMARY KEY,
	grp        text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);

-- request id -> packed rb.Reply, kept 24 hours (pruned by created_at).
CREATE TABLE IF NOT EXISTS auth.replies (
	request_id text PRIMARY KEY,
	reply      bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS replies_created_at ON auth.replies (created_at);

CREATE TABLE IF NOT EXISTS auth.meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);
