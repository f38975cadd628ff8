/* The packet table: one row per request the system serves — every client
 * packet of PROTOCOL.md and the requests only services and operator tools
 * send — with everything the system knows about it in one place: protocol
 * versions, the service that owns it, the static permission, flags, the
 * gateway's rate class, the ordering key and the field rules. Both sides
 * read it (the way redis-server and redis-cli both read commands.def):
 *   - the gateway (gateway/parse.c) accepts a JSON packet by its row:
 *     version, permission, field rules, then the subject rb.<part>.<type>;
 *   - lib/svc admits a request by the same row (permission, caller, field
 *     rules) and orders it by the row's key.
 * A service supplies only {type, handler} (svc_route); svc_start refuses
 * to start when its handlers and the rows of its part differ. Adding a
 * packet: docs/DESIGN.md, "Adding a packet". */
#ifndef RB_PACKET_H
#define RB_PACKET_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "rebuttal.pb-c.h"

/* The services; a row's requests go to rb.<part name>.<type>. */
enum part { PART_AUTH, PART_ROOM, PART_MSG, PART_MEDIA, PART_COUNT };
const char *part_name(enum part p);
/* The part named name ("msg"), or -1. */
int part_find(const char *name);

/* Protocol versions a client packet is accepted in: PV0 before login,
 * PV1 after. A row with neither is not a client packet: only services and
 * operator tools send it. */
enum pkt_version { PV0 = 1, PV1 = 2 };

enum rule_kind {
	R_ANY,      /* presence only */
	R_UUID,     /* string: a UUID */
	R_CHARS,    /* string: printable, min..max characters */
	R_BYTES,    /* string: at most max bytes */
	R_INT,      /* integer in min..max */
	R_ENUM,     /* string: one of values, "a|b" */
	R_ITEMS,    /* repeated: at most max items */
	R_JSON,     /* opaque JSON (bytes): at most max bytes of compact text */
	R_USERNAME, /* lib/valid.h account rules */
	R_PASSWORD,
	R_EMAIL,
};

typedef struct {
	const char *path; /* field name, "a.b" for a nested field */
	int required;
	enum rule_kind kind;
	long long min, max;
	const char *values;
} field_rule;

#define PKT_MAX_RULES 8
enum pkt_flags {
	PKT_CLOSE_ON_ERROR = 1, /* login: any refusal closes the socket (PROTOCOL.md §1) */
	PKT_LOGIN = 2,          /* a successful reply logs the connection in */
	PKT_LATEST = 4,         /* a state: a newer one replaces one still waiting to be sent */
	PKT_HASHES = 8,         /* costs a password hash: admitted through the login window */
	/* Services and operator tools only: refused ("Permission denied") when
	 * the envelope names a user or a gateway, or when it came on another
	 * subject than its own (NATS permissions are per subject). */
	PKT_INTERNAL = 16,
};

/* How fast a user may send packets of a row (gateway/limits.c has the
 * buckets and what happens past them). */
enum pkt_rate {
	RATE_USER,  /* the user's packet bucket; past it: `error`, and a close if it goes on */
	RATE_RELAY, /* a message to `touserid`: a bucket per sender and target; past it: dropped */
	RATE_NONE,  /* not rated: a login waits in the login window, a state (PKT_LATEST)
		       replaces the one still waiting, so neither can pile up; internal rows */
};

typedef struct {
	const char *type; /* JSON "type" = the Envelope payload member name */
	Rb__Envelope__PayloadCase payload;
	enum part part;
	unsigned versions; /* PV0 and/or PV1; 0: not a client packet */
	const char *perm;  /* static permission, or NULL */
	unsigned flags;    /* PKT_* */
	enum pkt_rate rate;
	/* Ordering key in the service: requests with the same key run one at
	 * a time in arrival order. NULL: none; "@user": the acting user;
	 * "@conn": the connection; else payload field paths, "a|b.c": the
	 * first one set. */
	const char *key;
	const char *alias_from, *alias_to; /* an accepted spelling of a field (JSON only) */
	field_rule rules[PKT_MAX_RULES];
} packet_row;

/* The row of a type, or NULL. */
const packet_row *packet_find(const char *type);
/* The row of an envelope payload case, or NULL. */
const packet_row *packet_of_payload(Rb__Envelope__PayloadCase pc);
/* The table and its size. */
const packet_row *packet_table(size_t *n);

/* Checks payload (the row's Envelope member) against the row's rules: 0,
 * or -1 with the refusal the client sees in err ("<type>: field roomid must
 * be a UUID"). */
int packet_check(const packet_row *row, const ProtobufCMessage *payload, char *err, size_t errlen);

/* The string at a dotted field path of m, or NULL when it (or a message on
 * the way) is unset or not a string. */
const char *packet_string_at(const ProtobufCMessage *m, const char *path);

#endif
