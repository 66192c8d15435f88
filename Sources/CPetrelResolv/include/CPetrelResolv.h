// A thin wrapper over glibc libresolv (res_ninit / res_nquery / ns_parserr) for MailDNS.
// Every query uses a private struct __res_state whose nameserver list is replaced by the one given, so a
// query never goes to the servers in /etc/resolv.conf (res_ninit only reads that file; it sends nothing).
#ifndef CPETRELRESOLV_H
#define CPETRELRESOLV_H

#include <stdint.h>

/// Outcome of petrel_dns_query.
enum {
    PETREL_DNS_OK = 0,         // NOERROR with at least one answer record (any type; CNAMEs count)
    PETREL_DNS_NODATA = 1,     // NOERROR, empty answer section
    PETREL_DNS_NXDOMAIN = 2,   // RCODE 3
    PETREL_DNS_SERVFAIL = 3,   // RCODE 2 (or libresolv gave up after a SERVFAIL)
    PETREL_DNS_TIMEOUT = 4,    // no answer within retrans/retry
    PETREL_DNS_ERROR = 5,      // anything else: REFUSED/NOTIMP/FORMERR, malformed answer, bad arguments
};

typedef struct {
    int status;   // PETREL_DNS_*
    int rcode;    // RCODE from the answer header, or -1 when there was no answer
    int err;      // errno / h_errno detail for diagnostics
    int length;   // bytes of the answer written to the caller's buffer (0 when none)
} petrel_dns_result;

/// Sends one query (class IN) for `name` of `type` (1=A, 28=AAAA, 15=MX, 12=PTR, 16=TXT, 5=CNAME) to the
/// single nameserver `server` (4 or 16 address bytes in network order, `server_len` 4 or 16) at `port`.
/// `retrans_seconds` (>= 1) and `attempts` (>= 1) are libresolv's retrans and retry. Blocks.
/// Search domains are off, recursion desired is on. Returns the status (also stored in out->status).
int petrel_dns_query(const uint8_t *server, int server_len, int port, int retrans_seconds, int attempts,
                     const char *name, int type, uint8_t *answer, int answer_size, petrel_dns_result *out);

/// One record of an answer section, decoded.
typedef struct {
    int type;
    int rclass;
    uint32_t ttl;
    char owner[1025];    // owner name, uncompressed, no trailing dot ("" for the root)
    int preference;      // MX only
    char target[1025];   // MX exchange, PTR or CNAME target: uncompressed, no trailing dot ("" for the root)
    uint8_t address[16]; // A (4 bytes) or AAAA (16 bytes)
    int address_len;
    int rdata_offset;    // offset of the RDATA inside the message (for TXT, parsed by the caller)
    int rdata_len;
} petrel_dns_rr;

/// Number of answer records in message `msg` of `len` bytes, or -1 if the message does not parse.
int petrel_dns_answer_count(const uint8_t *msg, int len);

/// Decodes answer record `index`. Returns 0, or -1 if the record is malformed (e.g. a truncated RDATA or a
/// compression pointer out of bounds).
int petrel_dns_answer_at(const uint8_t *msg, int len, int index, petrel_dns_rr *out);

#endif
