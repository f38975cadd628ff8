#include "parse.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"
#include "rebuttal.pb-c.h"

static int has_perm(const packet_caller *who, const char *perm)
{
	for (size_t i = 0; i < who->nperms; i++)
		if (!strcmp(who->perms[i], perm))
			return 1;
	return 0;
}

/* Frame-level rules (§1): what can be said before the row is known. */
static int frame_check(json_t *root, const packet_caller *who, packet_result *out,
		       const char **type)
{
	json_t *t = json_is_object(root) ? json_object_get(root, "type") : NULL;
	if (!t || !json_is_string(t)) {
		out->status = PKT_ERROR_CLOSE;
		out->close_code = 3001;
		out->close_reason = "Invalid JSON";
		snprintf(out->error, sizeof out->error,
			 json_is_object(root) ? "packet has no string field type"
					      : "packet must be a JSON object");
		return -1;
	}
	*type = json_string_value(t);
	out->row = packet_find(*type);
	if (out->row && !out->row->versions)
		out->row = NULL; /* not a client packet */
	out->status = PKT_ERROR;
	if (!who->logged_in && (!out->row || !(out->row->versions & PV0))) {
		snprintf(out->error, sizeof out->error, "Not logged in");
		return -1;
	}
	if (!out->row) {
		snprintf(out->error, sizeof out->error, "unknown packet type \"%.100s\"", *type);
		return -1;
	}
	if (who->logged_in && !(out->row->versions & PV1)) {
		snprintf(out->error, sizeof out->error, "%s: already logged in", *type);
		return -1;
	}
	if (out->row->perm && !has_perm(who, out->row->perm)) {
		snprintf(out->error, sizeof out->error, "Permission denied \"%s\"", out->row->perm);
		return -1;
	}
	return 0;
}

static void parse_row(json_t *root, packet_result *out)
{
	const packet_row *row = out->row;
	const ProtobufCFieldDescriptor *pf = pbjson_field(&rb__envelope__descriptor, row->type);
	char err[200];

	if (row->alias_from && !json_object_get(root, row->alias_to)) {
		json_t *v = json_object_get(root, row->alias_from);
		if (v)
			json_object_set(root, row->alias_to, v);
	}
	out->status = (row->flags & PKT_CLOSE_ON_ERROR) ? PKT_ERROR_CLOSE : PKT_ERROR;
	out->close_code = 1000;
	out->close_reason = row->type;
	if (!pf || pf->type != PROTOBUF_C_TYPE_MESSAGE) {
		snprintf(out->error, sizeof out->error, "%s: not supported", row->type);
		return;
	}
	out->msg = pbjson_from_json(pf->descriptor, root, err, sizeof err);
	if (!out->msg) {
		snprintf(out->error, sizeof out->error, "%s: %s", row->type, err);
		return;
	}
	if (packet_check(row, out->msg, out->error, sizeof out->error) < 0) {
		protobuf_c_message_free_unpacked(out->msg, NULL);
		out->msg = NULL;
		return;
	}
	out->status = PKT_OK;
}

void packet_parse(const char *text, size_t len, const packet_caller *who, packet_result *out)
{
	const char *type;
	json_t *root;

	memset(out, 0, sizeof *out);
	root = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	if (!root) {
		out->status = PKT_CLOSE;
		out->close_code = 3001;
		out->close_reason = "Invalid JSON";
		return;
	}
	if (frame_check(root, who, out, &type) == 0)
		parse_row(root, out);
	json_decref(root);
}

void packet_result_free(packet_result *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
	r->msg = NULL;
}
