// See include/CPetrelResolv.h. glibc >= 2.26: res_nquery on a private state uses that state's nameservers
// (nsaddr_list / _u._ext.nsaddrs) as they are once the state no longer matches /etc/resolv.conf;
// RES_NORELOAD also stops glibc from re-reading the file behind our back.
#define _GNU_SOURCE
#include "CPetrelResolv.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

static int finish(petrel_dns_result *out, int status) {
    out->status = status;
    return status;
}

static void strip_dot(char *name) {
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.') name[n - 1] = '\0';
}

int petrel_dns_query(const uint8_t *server, int server_len, int port, int retrans_seconds, int attempts,
                     const char *name, int type, uint8_t *answer, int answer_size, petrel_dns_result *out) {
    memset(out, 0, sizeof(*out));
    out->rcode = -1;
    if (server == NULL || name == NULL || answer == NULL || answer_size < HFIXEDSZ || port <= 0 || port > 65535
        || (server_len != 4 && server_len != 16)) {
        return finish(out, PETREL_DNS_ERROR);
    }
#if !defined(__GLIBC__)
    // The nameserver override below relies on glibc's struct __res_state layout. Not ported (untested).
    (void)retrans_seconds; (void)attempts; (void)type;
    out->err = ENOSYS;
    return finish(out, PETREL_DNS_ERROR);
#else
    struct __res_state state;
    memset(&state, 0, sizeof(state));
    if (res_ninit(&state) != 0) {
        out->err = errno;
        res_nclose(&state);
        return finish(out, PETREL_DNS_ERROR);
    }
    // Drop every nameserver res_ninit read; IPv6 ones live in malloc'd _u._ext.nsaddrs.
    for (int i = 0; i < MAXNS; i++) {
        free(state._u._ext.nsaddrs[i]);
        state._u._ext.nsaddrs[i] = NULL;
        memset(&state.nsaddr_list[i], 0, sizeof(state.nsaddr_list[i]));
    }
    if (server_len == 4) {
        state.nsaddr_list[0].sin_family = AF_INET;
        state.nsaddr_list[0].sin_port = htons((uint16_t)port);
        memcpy(&state.nsaddr_list[0].sin_addr, server, 4);
    } else {
        struct sockaddr_in6 *sa6 = calloc(1, sizeof(*sa6)); // freed by res_nclose
        if (sa6 == NULL) {
            res_nclose(&state);
            return finish(out, PETREL_DNS_ERROR);
        }
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        memcpy(&sa6->sin6_addr, server, 16);
        state.nsaddr_list[0].sin_family = 0; // glibc: family 0 + nsaddrs[0] set = IPv6 server
        state._u._ext.nsaddrs[0] = sa6;
    }
    state.nscount = 1;
    state.retrans = retrans_seconds < 1 ? 1 : retrans_seconds;
    state.retry = attempts < 1 ? 1 : attempts;
    state.options = RES_INIT | RES_RECURSE | RES_NORELOAD; // no RES_DEFNAMES / RES_DNSRCH: no search list
    state.ndots = 1;

    errno = 0;
    int n = res_nquery(&state, name, ns_c_in, type, answer, answer_size);
    int saved_errno = errno;
    int herr = state.res_h_errno;
    res_nclose(&state);

    if (n >= HFIXEDSZ || (n < 0 && herr != TRY_AGAIN && herr != NETDB_INTERNAL)) {
        // res_nquery returns -1 for NXDOMAIN / NODATA / SERVFAIL answers but leaves them in the buffer.
        const HEADER *hp = (const HEADER *)answer;
        int length = n >= HFIXEDSZ ? (n > answer_size ? answer_size : n) : 0;
        out->length = length;
        if (n < 0) {
            out->err = herr;
            switch (herr) {
            case HOST_NOT_FOUND: out->rcode = ns_r_nxdomain; return finish(out, PETREL_DNS_NXDOMAIN);
            case NO_DATA: out->rcode = ns_r_noerror; return finish(out, PETREL_DNS_NODATA);
            default: return finish(out, PETREL_DNS_ERROR);
            }
        }
        out->rcode = hp->rcode;
        switch (hp->rcode) {
        case ns_r_noerror: return finish(out, ntohs(hp->ancount) > 0 ? PETREL_DNS_OK : PETREL_DNS_NODATA);
        case ns_r_nxdomain: return finish(out, PETREL_DNS_NXDOMAIN);
        case ns_r_servfail: return finish(out, PETREL_DNS_SERVFAIL);
        default: return finish(out, PETREL_DNS_ERROR);
        }
    }
    if (n >= 0) { // shorter than a header
        out->err = EMSGSIZE;
        return finish(out, PETREL_DNS_ERROR);
    }
    out->err = saved_errno != 0 ? saved_errno : herr;
    // TRY_AGAIN: libresolv got no usable answer. ETIMEDOUT = nothing came back; otherwise the server
    // answered SERVFAIL (or REFUSED/NOTIMP, which glibc also treats as "try the next server").
    if (saved_errno == ETIMEDOUT) return finish(out, PETREL_DNS_TIMEOUT);
    if (saved_errno == ECONNREFUSED) return finish(out, PETREL_DNS_ERROR);
    return finish(out, herr == TRY_AGAIN ? PETREL_DNS_SERVFAIL : PETREL_DNS_ERROR);
#endif
}

int petrel_dns_answer_count(const uint8_t *msg, int len) {
    ns_msg handle;
    if (msg == NULL || len < HFIXEDSZ || ns_initparse(msg, len, &handle) != 0) return -1;
    return ns_msg_count(handle, ns_s_an);
}

int petrel_dns_answer_at(const uint8_t *msg, int len, int index, petrel_dns_rr *out) {
    ns_msg handle;
    ns_rr rr;
    memset(out, 0, sizeof(*out));
    if (msg == NULL || len < HFIXEDSZ || ns_initparse(msg, len, &handle) != 0) return -1;
    if (index < 0 || index >= ns_msg_count(handle, ns_s_an)) return -1;
    if (ns_parserr(&handle, ns_s_an, index, &rr) != 0) return -1;
    out->type = ns_rr_type(rr);
    out->rclass = ns_rr_class(rr);
    out->ttl = ns_rr_ttl(rr);
    // ns_parserr already uncompressed the owner name into rr.name.
    strncpy(out->owner, ns_rr_name(rr), sizeof(out->owner) - 1);
    strip_dot(out->owner);
    const uint8_t *rdata = ns_rr_rdata(rr);
    int rdlen = ns_rr_rdlen(rr);
    const uint8_t *eom = ns_msg_end(handle);
    if (rdata < msg || rdata + rdlen > eom) return -1;
    out->rdata_offset = (int)(rdata - msg);
    out->rdata_len = rdlen;
    const uint8_t *name_at = NULL;
    switch (out->type) {
    case ns_t_a:
        if (rdlen != 4) return -1;
        memcpy(out->address, rdata, 4);
        out->address_len = 4;
        return 0;
    case ns_t_aaaa:
        if (rdlen != 16) return -1;
        memcpy(out->address, rdata, 16);
        out->address_len = 16;
        return 0;
    case ns_t_mx:
        if (rdlen < 3) return -1;
        out->preference = ns_get16(rdata);
        name_at = rdata + 2;
        break;
    case ns_t_ptr:
    case ns_t_cname:
        name_at = rdata;
        break;
    default:
        return 0; // TXT and the rest: the caller reads rdata_offset / rdata_len
    }
    int used = dn_expand(msg, eom, name_at, out->target, (int)sizeof(out->target));
    if (used < 0 || name_at + used > rdata + rdlen) return -1;
    // dn_expand writes the root as "" already; names in presentation form never keep a trailing dot here.
    strip_dot(out->target);
    return 0;
}
