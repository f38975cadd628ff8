/* The skeleton of a display name: what it looks like, folded so that two
 * names that a reader could take for each other have the same skeleton.
 * authsvc keeps display names unique by skeleton (auth.users.name_key), so
 * nobody can call themself `Root`, `rооt` (Cyrillic o) or `r00t` next to
 * `root`.
 *
 * What is folded, in this order, per character:
 *   - dropped: combining marks (U+0300-U+036F, U+1AB0-U+1AFF,
 *     U+1DC0-U+1DFF, U+20D0-U+20FF, U+FE20-U+FE2F), variation selectors,
 *     and the invisible characters of text_invisible (valid.h);
 *   - fullwidth forms (U+FF01-U+FF5E) become ASCII; mathematical letters
 *     and digits (U+1D400-U+1D7FF), circled letters, letterlike symbols
 *     (ℓ, ℋ, K Kelvin sign...) become the ASCII letter or digit;
 *   - every kind of space becomes one ASCII space;
 *   - Greek, Cyrillic and Armenian letters that look like a Latin letter
 *     become that letter (uppercase by their uppercase look: Н is h, Ν is
 *     n; lowercase by theirs: η is n, ν is v); IPA and small-capital
 *     look-alikes (ɑ ɡ ɪ ʀ ...); dashes and quotes become - ' ";
 *   - Latin letters with diacritics (U+00C0-U+024F) become their base
 *     letter (é, ł, ø, ı: e, l, o, i);
 *   - case: ASCII, Latin-1, Greek, Cyrillic and Armenian are lowercased;
 *   - then on ASCII: 0 is o; 1, i, | and l are l (I and l look alike);
 *     "rn" is m, "vv" is w; runs of spaces are one, none at either end.
 * Other scripts are left as they are (compared exactly, after the rest).
 * The skeleton is a key, never shown. */
#ifndef RB_SKELETON_H
#define RB_SKELETON_H

#include <stddef.h>

/* Bumped whenever the folding changes: authsvc then recomputes every
 * stored key at start. */
#define SKEL_VERSION 1

/* Writes the skeleton of s (NUL-terminated UTF-8) into out (outlen bytes;
 * strlen(s) + 1 always suffices: no step makes the text longer). Returns
 * its length in bytes, or -1 when s is not valid UTF-8 or out is too
 * small. Allocates nothing. */
long skel_of(const char *s, char *out, size_t outlen);

#endif
