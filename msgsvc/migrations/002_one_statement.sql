-- msgsvc schema, version 2: a message, an edit or a removal is one
-- statement (one round trip, one transaction) instead of a dozen: the
-- functions below do what handlers.c used to do statement by statement.
-- See README.md "Order" for the publishing lock they leave held.

-- The MESSAGE_COLS of history.c for segment seg of size S, ascending idx.
-- Tags travel joined by the unit separator (history.c splits them; the
-- handlers refuse it inside a tag), with their count.
CREATE OR REPLACE FUNCTION msg.segment_rows(p_room uuid, p_seg bigint, p_size bigint)
RETURNS TABLE (m_room uuid, m_idx bigint, m_user uuid, m_name text, m_text text,
	       m_ntags int, m_tags text, m_url text, m_type text, m_img text,
	       m_width int, m_height int)
LANGUAGE sql STABLE AS $$
	SELECT room_id, idx, user_id, username, text, cardinality(tags),
	       array_to_string(tags, E'\x1f'), url, type, img, width, height
	FROM msg.messages
	WHERE room_id = p_room AND idx >= p_seg * p_size AND idx < (p_seg + 1) * p_size
	ORDER BY idx
$$;

-- A stored reply for the request id, after waiting for any other try of it
-- still at work (the same advisory lock as lib/idem.c, so both kinds of
-- writer exclude each other). NULL when there is none (or no request id).
CREATE OR REPLACE FUNCTION msg.stored_reply(p_request_id text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_reply text;
BEGIN
	IF p_request_id IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended('msg.req:' || p_request_id, 0));
	SELECT encode(reply, 'hex') INTO v_reply FROM msg.replies WHERE request_id = p_request_id;
	RETURN v_reply;
END
$$;

-- The end of a write: stores the reply, takes the room's publishing lock
-- (session level: it outlives the commit, until the writer has published
-- and called msg.published) and returns the segment holding p_idx as read
-- under that lock, each row with the outbox row and the idx written.
CREATE OR REPLACE FUNCTION msg.written(p_request_id text, p_reply bytea, p_room uuid,
				       p_idx bigint, p_box bigint, p_size bigint)
RETURNS TABLE (stored_reply text, refused text, box bigint, new_idx bigint,
	       m_room uuid, m_idx bigint, m_user uuid, m_name text, m_text text,
	       m_ntags int, m_tags text, m_url text, m_type text, m_img text,
	       m_width int, m_height int)
LANGUAGE plpgsql AS $$
BEGIN
	IF p_request_id IS NOT NULL THEN
		INSERT INTO msg.replies (request_id, reply) VALUES (p_request_id, p_reply);
	END IF;
	PERFORM pg_advisory_lock(hashtextextended('msg.pub:' || p_room, 0));
	-- A statement of its own after the lock: its snapshot holds every
	-- change committed before the lock was ours.
	RETURN QUERY SELECT NULL::text, NULL::text, p_box, p_idx, s.*
		     FROM msg.segment_rows(p_room, p_idx / p_size, p_size) s;
END
$$;

-- A new message: exactly once per request id (a retry gets the stored
-- reply in stored_reply and writes nothing), the room's next idx (the
-- counter row stays locked until commit: writers of a room take turns and
-- a rollback leaves no gap), the message, its upload when p_path is set,
-- the outbox row 'send', the reply p_reply; then msg.written.
CREATE OR REPLACE FUNCTION msg.message_post(
	p_request_id text, p_reply bytea, p_room uuid, p_user uuid, p_username text,
	p_text text, p_tags text[], p_url text, p_img text, p_width int, p_height int,
	p_path text, p_content_type text, p_bytes bytea, p_size bigint)
RETURNS TABLE (stored_reply text, refused text, box bigint, new_idx bigint,
	       m_room uuid, m_idx bigint, m_user uuid, m_name text, m_text text,
	       m_ntags int, m_tags text, m_url text, m_type text, m_img text,
	       m_width int, m_height int)
LANGUAGE plpgsql AS $$
DECLARE
	v_idx bigint;
	v_box bigint;
BEGIN
	stored_reply := msg.stored_reply(p_request_id);
	IF stored_reply IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;
	INSERT INTO msg.rooms AS r (room_id, next_idx) VALUES (p_room, 1)
		ON CONFLICT (room_id) DO UPDATE SET next_idx = r.next_idx + 1
		RETURNING r.next_idx - 1 INTO v_idx;
	INSERT INTO msg.messages (room_id, idx, user_id, username, text, tags, url, img,
				  width, height, request_id)
		VALUES (p_room, v_idx, p_user, p_username, p_text, p_tags, p_url, p_img,
			p_width, p_height, p_request_id);
	IF p_path IS NOT NULL THEN
		INSERT INTO msg.uploads (path, user_id, content_type, bytes)
			VALUES (p_path, p_user, p_content_type, p_bytes);
	END IF;
	INSERT INTO msg.outbox (kind, room_id, idx) VALUES ('send', p_room, v_idx)
		RETURNING id INTO v_box;
	RETURN QUERY SELECT * FROM msg.written(p_request_id, p_reply, p_room, v_idx, v_box, p_size);
END
$$;

-- An edit (p_remove false: text, url, tags where not NULL) or a removal
-- (text '*Message Removed*' = HIST_REMOVED_TEXT, no author, no image, the
-- upload deleted) of message p_idx by p_user (any message when p_any):
-- once per request id like msg.message_post, outbox row 'text', then
-- msg.written. A refusal ('not_found', 'denied') writes nothing.
CREATE OR REPLACE FUNCTION msg.message_change(
	p_request_id text, p_reply bytea, p_room uuid, p_idx bigint, p_user text,
	p_any boolean, p_remove boolean, p_text text, p_url text, p_tags text[],
	p_size bigint)
RETURNS TABLE (stored_reply text, refused text, box bigint, new_idx bigint,
	       m_room uuid, m_idx bigint, m_user uuid, m_name text, m_text text,
	       m_ntags int, m_tags text, m_url text, m_type text, m_img text,
	       m_width int, m_height int)
LANGUAGE plpgsql AS $$
DECLARE
	v_author uuid;
	v_img text;
	v_box bigint;
BEGIN
	stored_reply := msg.stored_reply(p_request_id);
	IF stored_reply IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT user_id, img INTO v_author, v_img FROM msg.messages
		WHERE room_id = p_room AND idx = p_idx FOR UPDATE;
	IF NOT FOUND THEN
		refused := 'not_found';
	ELSIF NOT p_any AND (v_author IS NULL OR v_author::text IS DISTINCT FROM lower(p_user)) THEN
		refused := 'denied';
	END IF;
	IF refused IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;
	IF p_remove THEN
		UPDATE msg.messages SET text = '*Message Removed*', user_id = NULL, img = NULL,
					width = NULL, height = NULL
			WHERE room_id = p_room AND idx = p_idx;
		IF left(v_img, 8) = 'uploads/' THEN
			DELETE FROM msg.uploads WHERE path = substr(v_img, 9);
		END IF;
	ELSE
		UPDATE msg.messages SET text = coalesce(p_text, text), url = coalesce(p_url, url),
					tags = coalesce(p_tags, tags)
			WHERE room_id = p_room AND idx = p_idx;
	END IF;
	INSERT INTO msg.outbox (kind, room_id, idx) VALUES ('text', p_room, p_idx)
		RETURNING id INTO v_box;
	RETURN QUERY SELECT * FROM msg.written(p_request_id, p_reply, p_room, p_idx, v_box, p_size);
END
$$;

-- After a writer published (or failed to: p_published false leaves the row
-- to the drainers): releases the room's publishing lock and deletes the
-- outbox row unless a drainer holds it (that one publishes it again, which
-- gateways drop as a repeat, and deletes it). Losing this commit only means
-- a repeat, so it does not wait for the WAL flush.
CREATE OR REPLACE FUNCTION msg.published(p_box bigint, p_room uuid, p_published boolean)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM pg_advisory_unlock(hashtextextended('msg.pub:' || p_room, 0));
	IF p_published THEN
		DELETE FROM msg.outbox
			WHERE id = (SELECT id FROM msg.outbox WHERE id = p_box FOR UPDATE SKIP LOCKED);
	END IF;
END
$$;
