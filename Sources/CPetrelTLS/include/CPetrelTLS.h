// Three BoringSSL settings that swift-nio-ssl 2.37 does not expose. The SSL_CTX / SSL pointers come from
// NIOSSL objects (see PetrelTLSSupport/NIOSSLInternals.swift); the functions are BoringSSL's, linked in through NIOSSL.
#ifndef CPETRELTLS_H
#define CPETRELTLS_H

/// Turns off TLS session tickets (RFC 5077, and TLS 1.3 NewSessionTicket) on a server SSL_CTX:
/// some large receivers drop STARTTLS sessions when a server issues them (chasquid #64, mox #237, maddy #730).
void petrel_tls_disable_session_tickets(void *ssl_ctx);

/// Makes a server SSL_CTX choose the TLS 1.2 cipher suite by its own order, not the client's
/// (SSL_OP_CIPHER_SERVER_PREFERENCE).
void petrel_tls_prefer_server_ciphers(void *ssl_ctx);

/// The standard (RFC) name of the cipher negotiated on an SSL connection, or NULL before the handshake.
const char *petrel_tls_cipher_name(const void *ssl);

#endif
