#define LDAP_DEPRECATED 0
#include "CPetrelLDAP.h"
#include <ldap.h>
#include <lber.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct petrel_ldap {
    LDAP *ld;
    int timeout_ms;
};

static void set_err(char *err, size_t errlen, const char *what, int rc, LDAP *ld) {
    if (err == NULL || errlen == 0) return;
    char *diag = NULL;
    if (ld != NULL) ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    if (diag != NULL && diag[0] != '\0')
        snprintf(err, errlen, "%s: %s (%d): %s", what, ldap_err2string(rc), rc, diag);
    else
        snprintf(err, errlen, "%s: %s (%d)", what, ldap_err2string(rc), rc);
    if (diag != NULL) ldap_memfree(diag);
}

static struct timeval to_timeval(int ms) {
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

int petrel_ldap_open(const char *uri, int tls_mode, const char *ca_file, int timeout_ms,
                     petrel_ldap **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    *out = NULL;
    if (timeout_ms <= 0) timeout_ms = 5000;
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, uri);
    if (rc != LDAP_SUCCESS || ld == NULL) {
        set_err(err, errlen, "ldap_initialize", rc, NULL);
        return rc == LDAP_SUCCESS ? LDAP_PARAM_ERROR : rc;
    }
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    // Active Directory answers searches at the domain root with referrals: never chase them.
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    struct timeval tv = to_timeval(timeout_ms);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    if (tls_mode != PETREL_LDAP_TLS_NONE) {
        int demand = LDAP_OPT_X_TLS_DEMAND;
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
        if (rc == LDAP_OPT_SUCCESS && ca_file != NULL && ca_file[0] != '\0')
            rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file);
        int is_server = 0;
        if (rc == LDAP_OPT_SUCCESS) rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
        if (rc != LDAP_OPT_SUCCESS) {
            set_err(err, errlen, "TLS options", rc, ld);
            ldap_unbind_ext_s(ld, NULL, NULL);
            return rc;
        }
    }
    if (tls_mode == PETREL_LDAP_TLS_STARTTLS) {
        rc = ldap_start_tls_s(ld, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            set_err(err, errlen, "StartTLS", rc, ld);
            ldap_unbind_ext_s(ld, NULL, NULL);
            return rc;
        }
    } else {
        // Connect now, so a directory that is down shows at once and not at the first bind.
        rc = ldap_connect(ld);
        if (rc != LDAP_SUCCESS) {
            set_err(err, errlen, "connect", rc, ld);
            ldap_unbind_ext_s(ld, NULL, NULL);
            return rc;
        }
    }
    petrel_ldap *h = calloc(1, sizeof *h);
    if (h == NULL) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return LDAP_NO_MEMORY;
    }
    h->ld = ld;
    h->timeout_ms = timeout_ms;
    *out = h;
    return LDAP_SUCCESS;
}

int petrel_ldap_simple_bind(petrel_ldap *h, const char *dn, const char *password, size_t password_len,
                            char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (password == NULL || password_len == 0) {
        snprintf(err, errlen, "bind: empty password refused (unauthenticated bind)");
        return LDAP_INVALID_CREDENTIALS;
    }
    struct berval cred;
    cred.bv_val = (char *)password;
    cred.bv_len = password_len;
    int rc = ldap_sasl_bind_s(h->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (rc != LDAP_SUCCESS) set_err(err, errlen, "bind", rc, h->ld);
    return rc;
}

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} buffer;

static void append(buffer *b, const char *p, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) { b->failed = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void append_z(buffer *b, const char *p, size_t n) {
    append(b, p, n);
    append(b, "", 1);
}

int petrel_ldap_search(petrel_ldap *h, const char *base, const char *filter, const char *const *attrs,
                       int size_limit, char **result, size_t *result_len, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    *result = NULL;
    *result_len = 0;
    struct timeval tv = to_timeval(h->timeout_ms);
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(h->ld, base, LDAP_SCOPE_SUBTREE, filter, (char **)attrs, 0, NULL, NULL, &tv,
                               size_limit, &res);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        set_err(err, errlen, "search", rc, h->ld);
        if (res) ldap_msgfree(res);
        return rc;
    }
    buffer b = {0};
    for (LDAPMessage *e = ldap_first_entry(h->ld, res); e != NULL; e = ldap_next_entry(h->ld, e)) {
        char *dn = ldap_get_dn(h->ld, e);
        if (dn == NULL) continue;
        append_z(&b, dn, strlen(dn));
        ldap_memfree(dn);
        for (const char *const *a = attrs; a != NULL && *a != NULL; a++) {
            struct berval **vals = ldap_get_values_len(h->ld, e, *a);
            if (vals == NULL) continue;
            for (int i = 0; vals[i] != NULL; i++) {
                // A value with a NUL in it cannot be told apart from the separator: skip it.
                if (memchr(vals[i]->bv_val, 0, vals[i]->bv_len) != NULL) continue;
                append_z(&b, *a, strlen(*a));
                append_z(&b, vals[i]->bv_val, vals[i]->bv_len);
            }
            ldap_value_free_len(vals);
        }
        append(&b, "", 1);
    }
    if (res) ldap_msgfree(res);
    if (b.failed) {
        free(b.data);
        return LDAP_NO_MEMORY;
    }
    if (rc == LDAP_SIZELIMIT_EXCEEDED) set_err(err, errlen, "search", rc, h->ld);
    *result = b.data;
    *result_len = b.len;
    return rc;
}

void petrel_ldap_free(void *p) { free(p); }

void petrel_ldap_close(petrel_ldap *h) {
    if (h == NULL) return;
    if (h->ld) ldap_unbind_ext_s(h->ld, NULL, NULL);
    free(h);
}
