#include "CPetrelPAM.h"
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
    if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    if (r == NULL) return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            r[i].resp = strdup((const char *)data);
            if (r[i].resp == NULL) goto fail;
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            break;
        default:  // PAM_PROMPT_ECHO_ON and anything else: no interactive answers
            goto fail;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
fail:
    for (int i = 0; i < n; i++) {
        if (r[i].resp) {
            memset(r[i].resp, 0, strlen(r[i].resp));
            free(r[i].resp);
        }
    }
    free(r);
    return PAM_CONV_ERR;
}

static int classify(int rc) {
    switch (rc) {
    case PAM_SUCCESS: return PETREL_PAM_OK;
    case PAM_AUTH_ERR: case PAM_USER_UNKNOWN: case PAM_MAXTRIES: case PAM_ACCT_EXPIRED:
    case PAM_NEW_AUTHTOK_REQD: case PAM_PERM_DENIED: case PAM_CRED_INSUFFICIENT:
        return PETREL_PAM_DENIED;
    default:
        return PETREL_PAM_TEMPORARY;
    }
}

int petrel_pam_authenticate(const char *service, const char *user, const char *password, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (password == NULL || password[0] == '\0') {
        snprintf(err, errlen, "empty password");
        return PETREL_PAM_DENIED;
    }
    struct pam_conv conv = { conversation, (void *)password };
    pam_handle_t *pamh = NULL;
    int rc = pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        snprintf(err, errlen, "pam_start: %s", pam_strerror(pamh, rc));
        if (pamh) pam_end(pamh, rc);
        return PETREL_PAM_TEMPORARY;
    }
    rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc != PAM_SUCCESS) snprintf(err, errlen, "%s", pam_strerror(pamh, rc));
    pam_end(pamh, rc);
    return classify(rc);
}
