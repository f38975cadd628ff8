/* Keeps argon2id's memory mapped between hashes of one thread (pwmem.c). */
#ifndef AUTH_PWMEM_H
#define AUTH_PWMEM_H

/* 1 around a libsodium password hash or verify on this thread, then 0. */
void pwmem_arm(int on);

#endif
