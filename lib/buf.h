/* Length-carrying, always NUL-terminated growable buffer (git strbuf style).
 * Allocation failure aborts: these buffers hold small control data, and a
 * process that cannot allocate a few KiB cannot do anything useful. Sizes from
 * the network are checked by callers before they reach a buffer. */
#ifndef RB_BUF_H
#define RB_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
	char *ptr; /* NULL until the first add; always NUL-terminated after it */
	size_t len;
	size_t cap;
} buf;

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void buf_grow(buf *b, size_t extra);
void buf_add(buf *b, const void *data, size_t len);
void buf_adds(buf *b, const char *s);
void buf_addf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(buf *b, const char *fmt, va_list ap);
/* Hands the bytes to the caller (free() them); the buffer is empty after. */
char *buf_detach(buf *b, size_t *len);
void buf_reset(buf *b);
void buf_free(buf *b);

/* A borrowed slice. Compare lengths before bytes, never by prefix. */
typedef struct {
	const char *ptr;
	size_t len;
} slice;

int slice_eq(slice a, const char *s);

#endif
