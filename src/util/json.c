/* json.c — JSON string escaping (see json.h). */
#include "util/json.h"

#include <stddef.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned min;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void iso_json_string(FILE *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    fputc('"', out);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            s++;
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", c);
            s++;
        } else {
            size_t n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", out);
                s++;
            } else {
                fwrite(s, 1, n, out);
                s += n;
            }
        }
    }
    fputc('"', out);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Parses the string literal at p (after its opening quote) into out (may be
 * NULL); returns the position after the closing quote, or NULL. */
static const char *parse_string(const char *p, char *out, size_t size)
{
    size_t k = 0;
    while (*p && *p != '"') {
        unsigned cp = (unsigned char)*p++;
        if (cp == '\\') {
            char e = *p++;
            switch (e) {
            case 'n': cp = '\n'; break;
            case 't': cp = '\t'; break;
            case 'r': cp = '\r'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'u': {
                cp = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *p++;
                    cp <<= 4;
                    if (h >= '0' && h <= '9') cp |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') cp |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') cp |= (unsigned)(h - 'A' + 10);
                    else return NULL;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    cp = 0xFFFD; /* surrogates: we never write them */
                break;
            }
            case '\0': return NULL;
            default: cp = (unsigned char)e; break; /* \" \\ \/ */
            }
            /* UTF-8 encode cp */
            unsigned char buf[3];
            size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            if (n == 1) buf[0] = (unsigned char)cp;
            else if (n == 2) { buf[0] = (unsigned char)(0xC0 | cp >> 6); buf[1] = (unsigned char)(0x80 | (cp & 0x3F)); }
            else { buf[0] = (unsigned char)(0xE0 | cp >> 12); buf[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)); buf[2] = (unsigned char)(0x80 | (cp & 0x3F)); }
            for (size_t i = 0; i < n; i++)
                if (out != NULL && k + 1 < size)
                    out[k++] = (char)buf[i];
            continue;
        }
        if (out != NULL && k + 1 < size)
            out[k++] = (char)cp;
    }
    if (*p != '"')
        return NULL;
    if (out != NULL && size > 0)
        out[k] = '\0';
    return p + 1;
}

int iso_json_get(const char *json, const char *key, char *out, size_t out_size)
{
    const char *p = skip_ws(json);
    if (*p++ != '{')
        return 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == '}')
            return 0;
        if (*p++ != '"')
            return 0;
        char name[128];
        if ((p = parse_string(p, name, sizeof name)) == NULL)
            return 0;
        p = skip_ws(p);
        if (*p++ != ':')
            return 0;
        p = skip_ws(p);
        int match = strcmp(name, key) == 0;
        if (*p == '"') {
            p = parse_string(p + 1, match ? out : NULL, out_size);
            if (p == NULL)
                return 0;
        } else {
            const char *start = p;
            while (*p && *p != ',' && *p != '}' && *p != ' ')
                p++;
            if (match) {
                size_t n = (size_t)(p - start);
                if (n >= out_size)
                    n = out_size - 1;
                memcpy(out, start, n);
                out[n] = '\0';
            }
        }
        if (match)
            return 1;
        p = skip_ws(p);
        if (*p == ',')
            p++;
        else
            return 0;
    }
}
