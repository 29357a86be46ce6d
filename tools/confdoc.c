/* confdoc.c — writes the configuration's documentation from the key table
 * (src/config/config.c), so that the table is the only place a key, its
 * type, bounds, default and prose live (as curl generates its option docs).
 *
 *   confdoc man  TEMPLATE   man/isonode.conf.5 from man/isonode.conf.5.in
 *   confdoc conf TEMPLATE   etc/isonode.conf from etc/isonode.conf.in
 *   confdoc keys            one line per key: section, key, type, default,
 *                           bounds or choices (for the docs-versus-table test)
 *
 * In a template, a line "@KEYS SECTION@" becomes that section's keys, in
 * table order: .TP entries for the man page; commented "#key = default"
 * lines (each after its documentation) for the configuration file, where a
 * key the template already sets in that section is left out.  A line
 * "@OPTIONS reconstruct@" (isonode.1) becomes the options of `isonode
 * reconstruct` that set the pipeline's [reconstruct] keys (iso_recon_keys,
 * the list the CLI parses with).  Everything else is copied as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "recon/recon.h"

/* The type and default as the man page and the reference say them. */
static void describe_type(const iso_config_key *k, char *out, size_t size)
{
    switch (k->type) {
    case ISO_CFG_STR:
        snprintf(out, size, "text");
        break;
    case ISO_CFG_INT:
        snprintf(out, size, "integer, %ld..%ld", k->min, k->max);
        break;
    case ISO_CFG_REAL:
        if (k->min == 0 && k->max == 0)
            snprintf(out, size, "number");
        else
            snprintf(out, size, "number, %ld..%ld", k->min, k->max);
        break;
    case ISO_CFG_BOOL:
        snprintf(out, size, "yes or no");
        break;
    case ISO_CFG_ENUM: {
        size_t used = (size_t)snprintf(out, size, "one of ");
        for (const char *p = k->choices; *p != '\0' && used < size;) {
            size_t n = strcspn(p, "|");
            used += (size_t)snprintf(out + used, size - used, "%s%.*s", p == k->choices ? "" : ", ",
                                     (int)n, p);
            p += n + (p[n] == '|');
        }
        break;
    }
    }
}

static const char *describe_default(const iso_config_key *k)
{
    if (k->def == NULL)
        return "none (required)";
    if (k->def[0] == '\0')
        return "empty";
    return k->def;
}

/* Text as troff: backslashes and hyphens escaped, no line starting with a
 * control character. */
static void troff_text(const char *s, FILE *out)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static void man_keys(const char *section, FILE *out)
{
    for (size_t i = 0; i < iso_config_nkeys; i++) {
        const iso_config_key *k = &iso_config_keys[i];
        if (strcmp(k->section, section) != 0)
            continue;
        char type[256];
        describe_type(k, type, sizeof type);
        fprintf(out, ".TP\n.B %s\n", k->key);
        troff_text(k->doc, out);
        fputc('\n', out);
        if (k->more != NULL) {
            troff_text(k->more, out);
            fputc('\n', out);
        }
        fputs(".br\nType: ", out);
        troff_text(type, out);
        fputs(". Default: ", out);
        troff_text(describe_default(k), out);
        fputs(".\n", out);
    }
}

/* The options of isonode reconstruct that set [reconstruct] keys. */
static void man_options(FILE *out)
{
    for (size_t i = 0; i < iso_recon_nkeys; i++) {
        const iso_config_key *k = iso_config_key_find("reconstruct", iso_recon_keys[i].key);
        if (k == NULL)
            continue;
        char option[64];
        snprintf(option, sizeof option, "%s", k->key);
        for (char *c = option; *c != '\0'; c++)
            if (*c == '_')
                *c = '-';
        fputs(".TP\n.BI ", out);
        troff_text("--", out);
        troff_text(option, out);
        fprintf(out, " \" %s\"", k->type == ISO_CFG_BOOL ? "yes|no" : "value");
        if (iso_recon_keys[i].alias != NULL) {
            fputs(" \", \" \\-\\-", out);
            troff_text(iso_recon_keys[i].alias, out);
            fputs(" \" value\"", out);
        }
        fputc('\n', out);
        troff_text(k->doc, out);
        fputs(" Default: ", out);
        troff_text(describe_default(k), out);
        fputs(".\n", out);
    }
}

/* Whether the template sets key (an uncommented "key =" line) in the
 * section that ends at the @KEYS line. */
static int set_in(char **lines, size_t from, size_t to, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = from; i < to; i++)
        if (strncmp(lines[i], key, n) == 0 && (lines[i][n] == ' ' || lines[i][n] == '='))
            return 1;
    return 0;
}

static void conf_keys(const char *section, char **lines, size_t from, size_t to, FILE *out)
{
    int repeating = 0;
    for (size_t s = 0; s < iso_config_nsections; s++)
        if (strcmp(iso_config_sections[s].name, section) == 0)
            repeating = iso_config_sections[s].repeating;
    int first = 1;
    for (size_t i = 0; i < iso_config_nkeys; i++) {
        const iso_config_key *k = &iso_config_keys[i];
        if (strcmp(k->section, section) != 0 || (!repeating && set_in(lines, from, to, k->key)))
            continue;
        char type[256], line[1200];
        describe_type(k, type, sizeof type);
        if (repeating) {
            /* inside a commented example: what each key of such a section does */
            snprintf(line, sizeof line, "%s: %s (%s; default: %s)", k->key, k->doc, type,
                     describe_default(k));
            iso_config_comment("#   ", line, out);
            continue;
        }
        if (!first)
            fputc('\n', out);
        first = 0;
        snprintf(line, sizeof line, "%s (%s)", k->doc, type);
        iso_config_comment("# ", line, out);
        fprintf(out, "#%s = %s\n", k->key, k->def != NULL ? k->def : "");
    }
}

static int keys(FILE *out)
{
    for (size_t i = 0; i < iso_config_nkeys; i++) {
        const iso_config_key *k = &iso_config_keys[i];
        char type[256];
        describe_type(k, type, sizeof type);
        fprintf(out, "%s\t%s\t%s\t%s\n", k->section, k->key, type, describe_default(k));
    }
    return 0;
}

static int fill_template(const char *mode, const char *path, FILE *out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    char **lines = NULL;
    size_t n = 0, cap = 0;
    char buf[4096];
    while (fgets(buf, sizeof buf, f) != NULL) {
        buf[strcspn(buf, "\n")] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nl = realloc(lines, cap * sizeof *nl);
            if (nl == NULL) {
                fclose(f);
                return 1;
            }
            lines = nl;
        }
        if ((lines[n] = strdup(buf)) == NULL) {
            fclose(f);
            return 1;
        }
        n++;
    }
    fclose(f);
    size_t section_start = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char section[64];
        if (lines[i][0] == '[' || strncmp(lines[i], ".SH", 3) == 0)
            section_start = i;
        if (strcmp(lines[i], "@OPTIONS reconstruct@") == 0 && strcmp(mode, "man") == 0) {
            man_options(out);
            continue;
        }
        if (sscanf(lines[i], "@KEYS %63[a-z]@", section) == 1) {
            int known = 0;
            for (size_t s = 0; s < iso_config_nsections; s++)
                known |= strcmp(iso_config_sections[s].name, section) == 0;
            if (!known) {
                fprintf(stderr, "%s:%zu: no section [%s]\n", path, i + 1, section);
                rc = 1;
            } else if (strcmp(mode, "man") == 0) {
                man_keys(section, out);
            } else {
                conf_keys(section, lines, section_start, i, out);
            }
            continue;
        }
        fprintf(out, "%s\n", lines[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "keys") == 0)
        return keys(stdout);
    if (argc == 3 && (strcmp(argv[1], "man") == 0 || strcmp(argv[1], "conf") == 0))
        return fill_template(argv[1], argv[2], stdout) ? 1 : (fflush(stdout) != 0);
    fprintf(stderr, "usage: confdoc man|conf TEMPLATE | confdoc keys\n");
    return 2;
}
