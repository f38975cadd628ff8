/* Embeds a file's bytes (plus a terminating NUL) in the binary, so a service
 * carries its SQL migrations with it and needs no files at run time.
 * EMBED_FILE(sym, "path/relative/to/the/repo") defines
 *   extern const char sym[], sym_end[];   (sym is NUL-terminated text)
 * The Makefile makes the object depend on the files (see migrations.o). */
#ifndef RB_EMBED_H
#define RB_EMBED_H

#define EMBED_FILE(sym, path)                                                                      \
	__asm__(".section .rodata\n.global " #sym "\n.type " #sym ", @object\n" #sym ":\n"         \
		".incbin \"" path "\"\n.byte 0\n.global " #sym "_end\n" #sym "_end:\n"             \
		".previous\n");                                                                    \
	extern const char sym[], sym##_end[]

#endif
