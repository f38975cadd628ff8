#include "pw.h"

#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "pwmem.h"

static atomic_ulong n_hashes, n_verifies;

int pw_hash(const auth_config *cfg, const char *pw, char out[crypto_pwhash_STRBYTES])
{
	pwmem_arm(1);
	int rc = crypto_pwhash_str(out, pw, strlen(pw), (unsigned long long)cfg->pwhash_opslimit,
				   (size_t)cfg->pwhash_memlimit);
	pwmem_arm(0);
	atomic_fetch_add(&n_hashes, 1);
	if (rc != 0) {
		log_error("pw: argon2id hash failed (out of memory at memlimit %ld?)",
			  cfg->pwhash_memlimit);
		return -1;
	}
	return 0;
}

int pw_verify(const char *hash, const char *pw)
{
	pwmem_arm(1);
	int ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
	pwmem_arm(0);
	atomic_fetch_add(&n_verifies, 1); /* completed ones */
	return ok;
}

void pw_random(char *out, size_t len)
{
	/* 62 symbols: 20 of them carry ~119 bits, and nothing in them needs
	 * quoting in a shell, a URL or JSON. */
	static const char alphabet[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	out[len] = '\0';
}

void pw_metrics(buf *out)
{
	buf_addf(
		out,
		"# TYPE authsvc_password_hashes_total counter\nauthsvc_password_hashes_total %lu\n",
		atomic_load(&n_hashes));
	buf_addf(
		out,
		"# TYPE authsvc_password_verifications_total counter\nauthsvc_password_verifications_total %lu\n",
		atomic_load(&n_verifies));
}
