/* test_config.c — the configuration table and loader: every default in the
 * table loads and is in bounds; every bound the table gives is enforced (the
 * ends of each range load, a step beyond is refused; each enum choice loads,
 * nothing else does); files override defaults, errors name FILE:LINE, peers
 * parse and are looked up by name and AE title. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/check.h"

static char path[] = "/tmp/isonode-test-config-XXXXXX";

static iso_code load_text(iso_config *cfg, const char *text, iso_err *err)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    iso_config_defaults(cfg);
    iso_err_clear(err);
    return iso_config_load(cfg, path, err);
}

/* Loads "key = value" in the key's section (item: a repeating section's
 * header and the required keys it needs besides this one); returns whether
 * it loaded. */
static int loads(const iso_config_key *k, const char *item, const char *value)
{
    iso_config cfg;
    iso_err err = {0};
    char text[600];
    if (item != NULL) {
        /* the item's lines without the key under test */
        size_t used = 0, klen = strlen(k->key);
        for (const char *line = item; *line != '\0';) {
            size_t n = strcspn(line, "\n") + 1;
            if (!(strncmp(line, k->key, klen) == 0 && line[klen] == ' '))
                used += (size_t)snprintf(text + used, sizeof text - used, "%.*s", (int)n, line);
            line += n;
        }
        snprintf(text + used, sizeof text - used, "%s = %s\n", k->key, value);
    }
    else
        snprintf(text, sizeof text, "[%s]\n%s = %s\n", k->section, k->key, value);
    /* what other keys a value needs, so that the bound alone decides: a
     * TLS port or a TLS peer needs [tls] files; no plain port needs a TLS
     * one (the files are not opened at load) */
    size_t len = strlen(text);
    if (strcmp(k->section, "node") == 0 && strcmp(k->key, "port") == 0 && strcmp(value, "0") == 0)
        len += (size_t)snprintf(text + len, sizeof text - len, "tls_port = 2762\n");
    if (strcmp(k->key, "tls_port") == 0 || strcmp(k->key, "port") == 0 ||
        (strcmp(k->section, "peer") == 0 && strcmp(k->key, "tls") == 0))
        snprintf(text + len, sizeof text - len,
                 "[tls]\ncertificate = n.pem\nprivate_key = n.key\nca_file = ca.pem\n");
    int ok = load_text(&cfg, text, &err) == ISO_OK;
    iso_config_free(&cfg);
    return ok;
}

/* Every bound the table gives is enforced: the ends of a range load, one
 * step beyond either is refused; every enum choice loads and nothing else;
 * booleans take yes/no only. */
static void check_key_bounds(const iso_config_key *k, const char *item)
{
    char v[64];
    int before = check_failures;
    switch (k->type) {
    case ISO_CFG_INT:
        snprintf(v, sizeof v, "%ld", k->min);
        CHECK(loads(k, item, v));
        snprintf(v, sizeof v, "%ld", k->max);
        CHECK(loads(k, item, v));
        snprintf(v, sizeof v, "%ld", k->min - 1);
        CHECK(!loads(k, item, v));
        snprintf(v, sizeof v, "%ld", k->max + 1);
        CHECK(!loads(k, item, v));
        CHECK(!loads(k, item, "12abc"));
        break;
    case ISO_CFG_REAL:
        if (k->min == 0 && k->max == 0) /* unbounded (an iso-value) */
            break;
        snprintf(v, sizeof v, "%ld", k->min);
        CHECK(loads(k, item, v));
        snprintf(v, sizeof v, "%ld", k->max);
        CHECK(loads(k, item, v));
        snprintf(v, sizeof v, "%.3f", (double)k->min - 0.001);
        CHECK(!loads(k, item, v));
        snprintf(v, sizeof v, "%.3f", (double)k->max + 0.001);
        CHECK(!loads(k, item, v));
        CHECK(!loads(k, item, "1.5x"));
        break;
    case ISO_CFG_BOOL:
        CHECK(loads(k, item, "yes") && loads(k, item, "no"));
        CHECK(!loads(k, item, "maybe"));
        break;
    case ISO_CFG_ENUM: {
        char choice[64];
        for (const char *p = k->choices; *p != '\0';) {
            size_t n = strcspn(p, "|");
            snprintf(choice, sizeof choice, "%.*s", (int)n, p);
            CHECK(loads(k, item, choice));
            p += n + (p[n] == '|');
        }
        CHECK(!loads(k, item, "none-of-these"));
        break;
    }
    case ISO_CFG_STR:
        break;
    }
    if (check_failures != before)
        fprintf(stderr, "bounds of [%s] %s\n", k->section, k->key);
}

int main(void)
{
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    iso_config cfg;
    iso_err err = {0};

    /* Every row: default (where given) is valid for its own type and bounds. */
    iso_config_defaults(&cfg);
    for (size_t i = 0; i < iso_config_nkeys; i++) {
        const iso_config_key *k = &iso_config_keys[i];
        CHECK(k->doc != NULL && strlen(k->doc) > 10);
        /* a repeating section's item needs its required keys besides the one tried */
        const char *item = strcmp(k->section, "surface") == 0 ? "[surface x]\niso = 1\n"
                           : strcmp(k->section, "route") == 0 ? "[route x]\n"
                           : strcmp(k->section, "peer") == 0
                               ? "[peer x]\nae_title = X\nhost = h\nport = 1\n"
                               : NULL;
        if (item != NULL && k->def != NULL) {
            char text[512];
            snprintf(text, sizeof text, "%s%s = %s\n", item, k->key, k->def);
            CHECK(load_text(&cfg, text, &err) == ISO_OK);
            if (err.code)
                fprintf(stderr, "default of %s: %s\n", k->key, err.msg);
            iso_config_free(&cfg);
        } else if (item == NULL) {
            CHECK(k->def != NULL);
            char text[512];
            snprintf(text, sizeof text, "[%s]\n%s = %s\n", k->section, k->key, k->def);
            CHECK(load_text(&cfg, text, &err) == ISO_OK);
            if (err.code)
                fprintf(stderr, "default of %s: %s\n", k->key, err.msg);
        }
        if (k->type == ISO_CFG_INT && k->def)
            CHECK(atol(k->def) >= k->min && atol(k->def) <= k->max);
        check_key_bounds(k, item);
    }
    iso_config_defaults(&cfg);
    CHECK(strcmp(cfg.ae_title, "ISONODE") == 0);
    CHECK(cfg.port == 11112);
    CHECK(cfg.max_associations == 32);
    CHECK(cfg.duplicates == ISO_DUP_KEEP);

    CHECK(load_text(&cfg,
                    "# comment\n[node]\nport = 4242\nduplicates = replace\ncheck_calling_ae = yes\n"
                    "[peer ct]\nae_title = CT1\nhost = 127.0.0.1\nport = 104\n"
                    "[peer pacs]\nae_title = PACS\nhost = pacs.example\nport = 11112\n",
                    &err) == ISO_OK);
    CHECK(cfg.port == 4242);
    CHECK(cfg.check_calling_ae == 1);
    CHECK(cfg.duplicates == ISO_DUP_REPLACE);
    CHECK(cfg.n_peers == 2);
    CHECK(iso_config_peer_by_name(&cfg, "pacs") == &cfg.peers[1]);
    CHECK(iso_config_peer_by_ae(&cfg, "CT1  ") == &cfg.peers[0]);
    CHECK(iso_config_peer_by_ae(&cfg, "CT2") == NULL);
    iso_config_free(&cfg);

    /* [surface NAME] sections */
    CHECK(load_text(&cfg, "[surface bone]\nmodality = CT\niso = 250\ntype_code = 272673000\n"
                          "type_meaning = Bone\n[surface brain]\nmodality = MR\niso = 400.5\n"
                          "color = 200 150 150\n", &err) == ISO_OK);
    CHECK(cfg.n_surfaces == 2 && strcmp(cfg.surfaces[0].name, "bone") == 0);
    CHECK(cfg.surfaces[0].iso == 250 && strcmp(cfg.surfaces[0].type_code, "272673000") == 0);
    CHECK(strcmp(cfg.surfaces[0].category_code, "85756007") == 0); /* default kept */
    CHECK(cfg.surfaces[1].iso == 400.5 && strcmp(cfg.surfaces[1].color, "200 150 150") == 0);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[surface x]\nmodality = CT\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "needs iso") != NULL);
    CHECK(load_text(&cfg, "[surface x]\niso = 1\ncolor = red\n", &err) == ISO_ECONFIG);
    CHECK(load_text(&cfg, "[surface x]\niso = 1\niso = 2\n", &err) == ISO_ECONFIG);

    /* reals in [reconstruct] */
    CHECK(load_text(&cfg, "[reconstruct]\nsigma_mm = 0.75\nspacing_mm = 0.5\n", &err) == ISO_OK);
    CHECK(cfg.rc_sigma_mm == 0.75 && cfg.rc_spacing_mm == 0.5);
    iso_config_free(&cfg);
    err.code = ISO_OK;
    CHECK(load_text(&cfg, "[reconstruct]\nsigma_mm = wide\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "not a number") != NULL);
    err.code = ISO_OK;
    CHECK(load_text(&cfg, "[reconstruct]\nspacing_mm = -1\n", &err) == ISO_ECONFIG);
    err.code = ISO_OK;

    char expect[600];
    CHECK(load_text(&cfg, "[node]\nport = 1\n\nbogus = 3\n", &err) == ISO_ECONFIG);
    snprintf(expect, sizeof expect, "%s:4: unknown key 'bogus' in [node]", path);
    CHECK(strcmp(err.msg, expect) == 0);
    CHECK(load_text(&cfg, "[nodes]\nport = 1\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, ":2: unknown section [nodes]") != NULL);
    CHECK(load_text(&cfg, "[node]\nport = 70000\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "outside 0..65535") != NULL);
    /* listeners and TLS: what needs what */
    CHECK(load_text(&cfg, "[node]\nport = 0\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "port and tls_port are both 0: nothing to listen on") != NULL);
    CHECK(load_text(&cfg, "[node]\ntls_port = 11112\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "port and tls_port are both 11112") != NULL);
    CHECK(load_text(&cfg, "[node]\ntls_port = 2762\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "tls_port needs [tls] certificate and private_key") != NULL);
    CHECK(load_text(&cfg, "[node]\ntls_port = 2762\n[tls]\ncertificate = a\nprivate_key = b\n",
                    &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "verify_peer = require needs ca_file or ca_dir") != NULL);
    CHECK(load_text(&cfg, "[node]\ntls_port = 2762\n[tls]\ncertificate = a\nprivate_key = b\n"
                          "verify_peer = none\n", &err) == ISO_OK);
    CHECK(load_text(&cfg, "[tls]\ncertificate = a\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "certificate and private_key go together") != NULL);
    CHECK(load_text(&cfg, "[peer p]\nae_title = P\nhost = h\nport = 1\ntls = yes\n", &err) ==
          ISO_ECONFIG);
    CHECK(strstr(err.msg, "needs ca_file or ca_dir") != NULL);
    CHECK(load_text(&cfg, "[node]\ncheck_calling_ae = yes\ntls_port = 2762\n[tls]\ncertificate = a\n"
                          "private_key = b\nca_file = c\n[peer p]\nae_title = P\nhost = h\n"
                          "port = 1\ncertificate_sha256 = AB:cd\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "[peer p] certificate_sha256 is not a SHA-256 fingerprint") != NULL);
    CHECK(load_text(&cfg, "[node]\ncheck_calling_ae = yes\ntls_port = 2762\n[tls]\ncertificate = a\n"
                          "private_key = b\nca_file = c\n[peer p]\nae_title = P\nhost = h\n"
                          "port = 1\nclient_certificate_sha256 = "
                          "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
                          "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n", &err) == ISO_OK);
    CHECK(cfg.n_peers == 1 && strcmp(cfg.peers[0].client_certificate_sha256,
                                      "abcdef0123456789abcdef0123456789"
                                      "abcdef0123456789abcdef0123456789") == 0);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[node]\ntls_port = 2762\n[tls]\ncertificate = a\nprivate_key = b\n"
                          "ca_file = c\n[peer p]\nae_title = P\nhost = h\nport = 1\n"
                          "client_certificate_subject = CN=x\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "needs [node] check_calling_ae = yes") != NULL);
    CHECK(load_text(&cfg, "[node]\nport = 12x\n", &err) == ISO_ECONFIG);
    CHECK(load_text(&cfg, "[node]\nlog_level = loud\n", &err) == ISO_ECONFIG);
    CHECK(load_text(&cfg, "[node]\nae_title = ABCDEFGHIJKLMNOPQ\n", &err) == ISO_ECONFIG);
    CHECK(load_text(&cfg, "[peer x]\nae_title = X\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "[peer x] needs host") != NULL); /* the first required key it lacks */
    CHECK(load_text(&cfg, "[peer x]\nae_title = X\nhost = h\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "[peer x] needs port") != NULL);
    CHECK(load_text(&cfg, "[surface s]\nmodality = CT\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "[surface s] needs iso") != NULL);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[peer a]\nae_title=A\nhost=h\nport=1\n[peer a]\nport=2\n", &err) ==
          ISO_ECONFIG);
    CHECK(strstr(err.msg, ":6: [peer a] sets port twice") != NULL);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[node]\nport = 1\nport = 2\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, ":3: [node] sets port twice") != NULL);
    iso_config_free(&cfg);
    /* combinations that would send identity where it is not wanted */
    CHECK(load_text(&cfg, "[anonymize]\nenabled = no\n[peer r]\nae_title = R\nhost = h\nport = 1\n"
                          "identity = anonymized\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, "[peer r] identity = anonymized") != NULL);
    CHECK(load_text(&cfg, "[anonymize]\nenabled = yes\n[peer r]\nae_title = R\nhost = h\nport = 1\n"
                          "identity = anonymized\n", &err) == ISO_OK);
    iso_config_free(&cfg);
    /* (forward_anonymized_to without [anonymize] is fine: forwarding then
     * de-identifies its copies itself) */
    CHECK(load_text(&cfg, "[anonymize]\nenabled = no\n[peer r]\nae_title = R\nhost = h\nport = 1\n"
                          "[route x]\nforward_anonymized_to = r\n", &err) == ISO_OK);
    iso_config_free(&cfg);
    CHECK(load_text(&cfg, "[node\nport = 1\n", &err) == ISO_ECONFIG);
    CHECK(strstr(err.msg, ":1:") != NULL);
    iso_config_free(&cfg);
    unlink(path);
    return CHECK_DONE();
}
