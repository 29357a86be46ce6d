/* uid.c — UID and AE title rules (see uid.h). */
#include "util/uid.h"

#include <stdio.h>
#include <string.h>

bool iso_uid_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    size_t comp_len = 0;
    char comp_first = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (comp_len == 0)
                return false;
            if (comp_len > 1 && comp_first == '0')
                return false;
            comp_len = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return false;
        if (comp_len == 0)
            comp_first = c;
        comp_len++;
    }
    return true;
}

bool iso_ae_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 16)
        return false;
    bool non_space = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '\\')
            return false;
        if (c != ' ')
            non_space = true;
    }
    return non_space;
}

/* [*start, *end) of s without leading and trailing spaces. */
static void ae_span(const char *s, const char **start, size_t *len)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        n--;
    *start = s;
    *len = n;
}

bool iso_ae_equal(const char *a, const char *b)
{
    const char *pa, *pb;
    size_t na, nb;
    ae_span(a, &pa, &na);
    ae_span(b, &pb, &nb);
    return na == nb && memcmp(pa, pb, na) == 0;
}

void iso_uid_from_hash(const unsigned char hash[16], char out[65])
{
    unsigned char v[16];
    memcpy(v, hash, 16);
    v[0] = (unsigned char)((v[0] & 0x7F) | 0x40);
    char digits[48];
    int nd = 0;
    for (;;) { /* repeated division by 10 of the 128-bit big-endian number */
        unsigned rem = 0;
        int zero = 1;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem * 256 + v[i];
            v[i] = (unsigned char)(cur / 10);
            rem = cur % 10;
            zero &= v[i] == 0;
        }
        digits[nd++] = (char)('0' + rem);
        if (zero)
            break;
    }
    int k = snprintf(out, 65, "2.25.");
    while (nd > 0 && k < 64)
        out[k++] = digits[--nd];
    out[k] = '\0';
}
