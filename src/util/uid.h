/* uid.h — DICOM UID and AE title validation (PS3.5 9.1 and 6.2).
 *
 * Peer-supplied identifiers are checked here before they reach a file name,
 * an index row or a log line.
 */
#ifndef ISO_UID_H
#define ISO_UID_H

#include <stdbool.h>

/* True if s is a valid UID: 1..64 chars of digits and dots, components
 * non-empty, no leading zero in a multi-digit component. */
bool iso_uid_valid(const char *s);

/* A UID of the 2.25 root (PS3.5 B.2) from 16 bytes of a hash: the top bit
 * is cleared and the next set, so the decimal has 38 or 39 digits and the
 * UID at most 44 characters.  out holds at least 65 bytes. */
void iso_uid_from_hash(const unsigned char hash[16], char out[65]);

/* True if s is a valid AE title: 1..16 chars of printable ASCII without
 * backslash, not all spaces (leading/trailing spaces are insignificant). */
bool iso_ae_valid(const char *s);

/* True if two AE titles are the same; leading and trailing spaces are not
 * significant (PS3.5 6.2). */
bool iso_ae_equal(const char *a, const char *b);

#endif
