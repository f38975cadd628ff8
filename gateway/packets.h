/* The packet table: one row per client packet type with the protocol
 * versions it is accepted in, the static permission it needs, the service
 * that handles it and its field rules. packet_parse is the one dispatcher
 * front: it turns a text frame into either a validated protobuf payload for
 * the row's service or the refusal PROTOCOL.md §1 prescribes. Handlers and
 * services never re-check what a row states. */
#ifndef GW_PACKETS_H
#define GW_PACKETS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

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
	PKT_CLOSE_ON_ERROR = 1, /* login: any refusal closes the socket */
	PKT_LOGIN = 2,          /* a successful reply logs the connection in */
	PKT_LATEST = 4,         /* a state: a newer one replaces one still waiting to be sent */
	PKT_HASHES = 8,         /* costs a password hash: admitted through the login window */
};

/* How fast a user may send packets of a row (gateway/limits.c has the
 * buckets and what happens past them). */
enum pkt_rate {
	RATE_USER,  /* the user's packet bucket; past it: `error`, and a close if it goes on */
	RATE_RELAY, /* a message to `touserid`: a bucket per sender and target; past it: dropped */
	RATE_NONE,  /* not rated: a login waits in the login window, a state (PKT_LATEST)
		       replaces the one still waiting, so neither can pile up */
};

typedef struct {
	const char *type;    /* JSON "type"; also the Envelope payload member name */
	unsigned versions;   /* PV0 and/or PV1 */
	const char *perm;    /* static permission, or NULL */
	const char *svc;     /* request subject is rb.<svc>.<type> */
	unsigned flags;
	enum pkt_rate rate;
	const char *alias_from, *alias_to; /* accepted spelling of a field */
	field_rule rules[PKT_MAX_RULES];
} packet_row;

enum pkt_status {
	PKT_OK,          /* msg holds the payload for row->svc */
	PKT_ERROR,       /* send `error` with .error; connection stays open */
	PKT_ERROR_CLOSE, /* send `error`, then close with close_code */
	PKT_CLOSE,       /* close with close_code/close_reason at once */
};

typedef struct {
	enum pkt_status status;
	const packet_row *row;     /* the matched row, when there is one */
	ProtobufCMessage *msg;     /* PKT_OK: owned by the caller, free with packet_result_free */
	int close_code;
	const char *close_reason;
	char error[256];
} packet_result;

/* What the connection is allowed at the moment of parsing. */
typedef struct {
	int logged_in;
	const char *const *perms;
	size_t nperms;
} packet_caller;

void packet_parse(const char *text, size_t len, const packet_caller *who, packet_result *out);
void packet_result_free(packet_result *r);
const packet_row *packet_find(const char *type);
/* For tests: the table and its size. */
const packet_row *packet_table(size_t *n);

#endif
