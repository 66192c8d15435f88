#include "CPetrelTLS.h"
#include <stddef.h>
#include <stdint.h>

// BoringSSL as vendored by swift-nio-ssl, whose symbols carry the CNIOBoringSSL_ prefix.
extern uint32_t CNIOBoringSSL_SSL_CTX_set_options(void *ctx, uint32_t options);
extern int CNIOBoringSSL_SSL_CTX_set_num_tickets(void *ctx, size_t num_tickets);
extern const void *CNIOBoringSSL_SSL_get_current_cipher(const void *ssl);
extern const char *CNIOBoringSSL_SSL_CIPHER_standard_name(const void *cipher);

#define PETREL_SSL_OP_NO_TICKET 0x00004000u
#define PETREL_SSL_OP_CIPHER_SERVER_PREFERENCE 0x00400000u

void petrel_tls_disable_session_tickets(void *ssl_ctx) {
    if (ssl_ctx == NULL) return;
    CNIOBoringSSL_SSL_CTX_set_options(ssl_ctx, PETREL_SSL_OP_NO_TICKET);
    CNIOBoringSSL_SSL_CTX_set_num_tickets(ssl_ctx, 0);
}

void petrel_tls_prefer_server_ciphers(void *ssl_ctx) {
    if (ssl_ctx == NULL) return;
    CNIOBoringSSL_SSL_CTX_set_options(ssl_ctx, PETREL_SSL_OP_CIPHER_SERVER_PREFERENCE);
}

const char *petrel_tls_cipher_name(const void *ssl) {
    if (ssl == NULL) return NULL;
    const void *cipher = CNIOBoringSSL_SSL_get_current_cipher(ssl);
    if (cipher == NULL) return NULL;
    return CNIOBoringSSL_SSL_CIPHER_standard_name(cipher);
}
