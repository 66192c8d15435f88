// A thin synchronous wrapper over OpenLDAP's libldap (Debian libldap-dev), called from a thread pool.
// Every function is blocking and bounded by the timeouts given to petrel_ldap_open. A handle is used by
// one thread at a time (the Swift side keeps a pool). Errors are LDAP result codes (ldap.h); the text of
// the last error is written to `err` (always NUL-terminated).
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petrel_ldap petrel_ldap;

enum {
    PETREL_LDAP_TLS_NONE = 0,      // ldap:// without TLS (only when the config allows plain LDAP)
    PETREL_LDAP_TLS_STARTTLS = 1,  // ldap:// then StartTLS (RFC 4513 §3), certificate verified
    PETREL_LDAP_TLS_LDAPS = 2,     // ldaps://, certificate verified
};

// The result codes the Swift side tells apart (the values of ldap.h).
enum {
    PETREL_LDAP_SUCCESS = 0,
    PETREL_LDAP_SIZELIMIT_EXCEEDED = 4,
    PETREL_LDAP_INVALID_CREDENTIALS = 49,
    PETREL_LDAP_BUSY = 51,
    PETREL_LDAP_UNAVAILABLE = 52,
    PETREL_LDAP_SERVER_DOWN = -1,
    PETREL_LDAP_TIMEOUT = -5,
    PETREL_LDAP_PARAM_ERROR = -9,
    PETREL_LDAP_NO_MEMORY = -10,
    PETREL_LDAP_CONNECT_ERROR = -11,
};

/// Connects (and for STARTTLS, upgrades) to `uri`. `ca_file` may be NULL (the system's CAs);
/// certificates are always verified (LDAP_OPT_X_TLS_DEMAND) when TLS is used. `timeout_ms` bounds the
/// connect and every later synchronous operation. On success *out is a new handle.
int petrel_ldap_open(const char *uri, int tls_mode, const char *ca_file, int timeout_ms,
                     petrel_ldap **out, char *err, size_t errlen);

/// A simple bind (RFC 4513 §5.1.3). Refuses an empty password (that would be an unauthenticated bind,
/// which many servers accept) with PETREL_LDAP_INVALID_CREDENTIALS without sending anything.
int petrel_ldap_simple_bind(petrel_ldap *ld, const char *dn, const char *password, size_t password_len,
                            char *err, size_t errlen);

/// A subtree search under `base` with `filter` (already escaped), returning at most `size_limit`
/// entries, each with the values of `attrs` (a NULL-terminated list). The result is one malloc'd
/// buffer (free with petrel_ldap_free): for each entry, its DN and NUL, then for each value
/// "attr" NUL "value" NUL, then one more NUL. More entries than `size_limit` gives
/// PETREL_LDAP_SIZELIMIT_EXCEEDED with the entries that did arrive.
int petrel_ldap_search(petrel_ldap *ld, const char *base, const char *filter, const char *const *attrs,
                       int size_limit, char **result, size_t *result_len, char *err, size_t errlen);

void petrel_ldap_free(void *p);
void petrel_ldap_close(petrel_ldap *ld);

#ifdef __cplusplus
}
#endif
