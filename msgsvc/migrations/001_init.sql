-- msgsvc schema, version 1: messages with their per-room counters, uploaded
-- images, the outbox of broadcasts not yet published, and stored replies for
-- idempotent retries. Idempotent (IF NOT EXISTS everywhere).

CREATE SCHEMA IF NOT EXISTS msg;

-- One row per room that has had a message: the next idx to hand out.
-- Allocation is an UPDATE ... RETURNING in the transaction that inserts the
-- message, so the row lock makes concurrent senders take turns and a rolled
-- back message leaves no gap.
CREATE TABLE IF NOT EXISTS msg.rooms (
	room_id  uuid PRIMARY KEY,
	next_idx bigint NOT NULL
);

-- user_id is null for removed (masked) messages; username is the sender's
-- name when the message was sent. img is the relative URL
-- "uploads/<uploads.path>" while the image exists.
CREATE TABLE IF NOT EXISTS msg.messages (
	room_id    uuid NOT NULL,
	idx        bigint NOT NULL,
	user_id    uuid,
	username   text NOT NULL,
	text       text NOT NULL,
	tags       text[] NOT NULL DEFAULT '{}',
	url        text,
	type       text,
	img        text,
	width      int,
	height     int,
	request_id text UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (room_id, idx)
);
CREATE INDEX IF NOT EXISTS messages_user_id ON msg.messages (user_id) WHERE user_id IS NOT NULL;

-- path is "<userid>/<safe name><uuid>", served as GET /uploads/<path>.
CREATE TABLE IF NOT EXISTS msg.uploads (
	path         text PRIMARY KEY,
	user_id      uuid NOT NULL,
	content_type text NOT NULL,
	bytes        bytea NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS uploads_user_id ON msg.uploads (user_id);

-- Broadcasts committed with their change and not yet published. kind
-- 'send': sendMessage of (room_id, idx) then updateText of its segment;
-- 'text': updateText of the segment holding idx. The instance that wrote
-- the row publishes and deletes it right after commit; any instance's
-- drainer takes rows older than a few seconds (the writer died).
CREATE TABLE IF NOT EXISTS msg.outbox (
	id         bigserial PRIMARY KEY,
	kind       text NOT NULL CHECK (kind IN ('send', 'text')),
	room_id    uuid NOT NULL,
	idx        bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- request id -> packed rb.Reply, kept 24 hours (pruned by created_at).
CREATE TABLE IF NOT EXISTS msg.replies (
	request_id text PRIMARY KEY,
	reply      bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS replies_created_at ON msg.replies (created_at);
