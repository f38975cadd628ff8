/* Status enums as one X-macro each (STYLE "Errors and ownership"): a map
 * of X(name, text) rows gives the enum (STATUS_ENUM_ROW) and its strings
 * (STATUS_TEXT_FN), so the two never drift apart. */
#ifndef RB_STATUS_H
#define RB_STATUS_H

#include <stddef.h>

#define STATUS_ENUM_ROW(name, text) name,
#define STATUS_TEXT_ROW(name, text) text,

/* Declares the enum tag of map's rows (also as a typedef) and its
 * `const char *tag_text(tag s)`; STATUS_TEXT defines that function. */
#define STATUS_TYPE(tag, map)                                                                      \
	typedef enum tag { map(STATUS_ENUM_ROW) } tag;                                             \
	const char *tag##_text(tag s);
#define STATUS_TEXT(tag, map) STATUS_TEXT_FN(tag##_text, tag, map)

/* Defines `const char *fn(type s)`: the text of s's row in map, "?" for a
 * value outside it. Static storage. */
#define STATUS_TEXT_FN(fn, type, map)                                                              \
	const char *fn(type s)                                                                     \
	{                                                                                          \
		static const char *const texts[] = {map(STATUS_TEXT_ROW)};                         \
		return (size_t)s < sizeof texts / sizeof *texts ? texts[s] : "?";                  \
	}

#endif
