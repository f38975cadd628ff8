/* Generic JSON <-> protobuf translation driven by protobuf-c descriptors, so a
 * packet needs no hand-written conversion: its proto message's field names
 * are its JSON keys (conventions in proto/rebuttal.proto).
 *
 * JSON -> protobuf (client packets): strict about types, ignores unknown keys,
 * treats null like absent. bytes fields take any JSON value and hold its
 * compact text. The result is malloc'd like an unpacked message: free it with
 * protobuf_c_message_free_unpacked(m, NULL). On a type error returns NULL and
 * writes "field <path> must be <kind>" into err.
 *
 * protobuf -> JSON (server packets): unset optional fields become null except
 * those named in the "absent when unset" list; bytes fields are parsed back
 * into JSON; "*List" wrappers become bare arrays and maps become objects.
 * Returns a new reference, NULL only on allocation failure. */
#ifndef GW_PBJSON_H
#define GW_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

ProtobufCMessage *pbjson_from_json(const ProtobufCMessageDescriptor *desc, json_t *obj, char *err,
				   size_t errlen);
json_t *pbjson_to_json(const ProtobufCMessage *m);
/* The compact text of {"type": type} followed by pbjson_to_json(m)'s
 * members (m may be NULL), byte for byte what jansson would dump, written
 * without the tree: malloc'd, *len bytes, not NUL-terminated. NULL when it
 * cannot say it exactly so (bytes fields, maps, a string jansson would
 * refuse, ...) or out of memory: then render the tree. */
char *pbjson_dump_typed(const char *type, const ProtobufCMessage *m, size_t *len);

/* The member of a oneof set in m: its field descriptor, or NULL. */
const ProtobufCFieldDescriptor *pbjson_oneof_set(const ProtobufCMessage *m);
/* Sets oneof member `name` of m to sub (m takes ownership). 0, or -1 when m
 * has no such member. */
int pbjson_oneof_put(ProtobufCMessage *m, const char *name, ProtobufCMessage *sub);
/* Descriptor of oneof member `name` of desc, or NULL. */
const ProtobufCFieldDescriptor *pbjson_field(const ProtobufCMessageDescriptor *desc,
					     const char *name);

#endif
