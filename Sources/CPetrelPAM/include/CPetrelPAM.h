// One PAM authentication (pam_start / pam_authenticate / pam_acct_mgmt / pam_end) with a conversation
// that answers every echo-off prompt with the given password and nothing else. Blocking: call it from
// a thread pool. Linux-PAM through Debian's libpam0g-dev.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    PETREL_PAM_OK = 0,
    PETREL_PAM_DENIED = 1,     // wrong password, unknown user, expired or locked account
    PETREL_PAM_TEMPORARY = 2,  // PAM itself failed (module missing, service file unreadable, system error)
};

/// Authenticates `user` with `password` against the PAM service `service` (e.g. "petrel") and checks the
/// account (pam_acct_mgmt). `err` receives pam_strerror's text on failure.
int petrel_pam_authenticate(const char *service, const char *user, const char *password, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
