/* The JSON front of the packet table (lib/packet.h): packet_parse turns a
 * text frame into either a validated protobuf payload for the row's service
 * or the refusal PROTOCOL.md §1 prescribes: frame, version, permission,
 * then the row's field rules (packet_check, the same check the service's
 * admission makes). Rows without a client version are not client packets:
 * "unknown packet type". */
#ifndef GW_PARSE_H
#define GW_PARSE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "packet.h"

enum pkt_status {
	PKT_OK,          /* msg holds the payload for row->part */
	PKT_ERROR,       /* send `error` with .error; connection stays open */
	PKT_ERROR_CLOSE, /* send `error`, then close with close_code */
	PKT_CLOSE,       /* close with close_code/close_reason at once */
};

typedef struct {
	enum pkt_status status;
	const packet_row *row; /* the matched row, when there is one */
	ProtobufCMessage *msg; /* PKT_OK: owned by the caller, free with packet_result_free */
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

#endif
