/* Text rules shared by the gateway (packet fields) and the services (which
 * must not trust that every caller went through a gateway).
 * "Printable": valid UTF-8, no control characters (C0, DEL, C1), and not
 * only spaces. Limits on names count characters, limits on text count bytes. */
#ifndef RB_VALID_H
#define RB_VALID_H

#include <stddef.h>

/* Decodes the code point at s (len > 0 bytes left) into *cp; returns its
 * length in bytes, or 0 when the bytes there are not valid UTF-8. */
size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp);
/* The walk over a string: decodes the code point at *s (*len bytes left)
 * into *cp and moves both past it. 1 when it took one, 0 at the end, -1
 * when the bytes there are not valid UTF-8 (nothing moved). */
int utf8_take(const unsigned char **s, size_t *len, unsigned *cp);
/* Number of code points in a valid UTF-8 string of len bytes, or -1 when
 * the bytes are not valid UTF-8 (overlong forms and surrogates included). */
long utf8_chars(const char *s, size_t len);
int text_printable(const char *s);
/* Printable with min..max characters. */
int text_name_ok(const char *s, long min, long max);

/* Characters that show nothing or change the direction of what follows:
 * zero-width spaces and joiners, bidi marks, embeddings, overrides and
 * isolates (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069), U+FEFF, soft
 * hyphen, fillers, tags. Variation selectors are not among them (emoji
 * need them); the name skeleton drops them (skeleton.h). */
int text_invisible(unsigned cp);

/* Account rules of signup/createuser/updateuser. Each returns NULL when the
 * value is fine, else a static English reason naming the field.
 * A user name is 2-32 printable characters, none of them invisible
 * (text_invisible), with a non-empty skeleton (skeleton.h). */
const char *valid_user_name(const char *s);
const char *valid_password(const char *s);
const char *valid_email(const char *s);

/* Stored uploads are "<userid>/<name><uuid>": the name made of
 * UPLOAD_NAME_CHARS only (safe in a URL and a file name), no leading dot,
 * at most UPLOAD_NAME_MAX. msgsvc makes such paths; it and the gateway
 * (which serves /uploads/<path>) accept no other. 1 when p is one. */
#define UPLOAD_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define UPLOAD_NAME_MAX 64
int valid_upload_path(const char *p);

#define PASSWORD_MIN_CHARS 10
#define PASSWORD_MAX_BYTES 1024
#define EMAIL_MAX_BYTES 254

#endif
