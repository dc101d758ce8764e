/* The relay's per-listener send loop in C: copy, SRTP-protect, sendto, for every listener of one
 * packet in one call. Python decides everything (who hears whom, the rewritten header); this only
 * repeats the three steps the issue calls the floor, without the interpreter between them.
 * Built with cffi by media_relay/fastpath_build.py; media_relay/fastpath.py is its Python side
 * and falls back to the pure-Python loop when this is not built. No allocation, no state beyond
 * the targets the caller owns. */

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr);
 * the address comes from pylibsrtp's own binding at run time (relay_set_protect). */
typedef int (*relay_protect_fn)(void *ctx, void *rtp_hdr, int *len_ptr);

static relay_protect_fn relay_protect = NULL;

/* One listener's send side: owned by its RtpOutlet (media_relay/aiortc_internals/send.py), which
 * fills it when the listener's DTLS transport connects and sets fd to -1 when it leaves that
 * state. */
struct relay_target {
    void *srtp;              /* the listener transport's libsrtp context (srtp_t) */
    int fd;                  /* its ICE socket; -1: not connected, skip */
    int last_errno;
    int64_t listener;        /* user id: the speaker never hears itself */
    uint32_t ssrc_be;        /* the relay sender's SSRC, network byte order */
    uint32_t addrlen;
    unsigned char addr[128]; /* sockaddr_in or sockaddr_in6 of the nominated remote candidate */
    uint64_t packets;        /* what RTCP sender reports count */
    uint64_t octets;
    uint64_t errors;         /* protect or sendto failures (a full socket buffer drops) */
};

/* Room for the longest SRTP trailer libsrtp may append (tag + MKI: 16 + 128 in libsrtp 2). */
#define RELAY_TRAILER_MAX 144
#define RELAY_BUFFER_WORDS 512 /* 2,048 bytes, 32-bit aligned as libsrtp reads the header */

void relay_set_protect(void *fn)
{
    relay_protect = (relay_protect_fn)fn;
}

int relay_target_set(struct relay_target *t, void *srtp, int fd, const char *ip, int port,
                     uint32_t ssrc)
{
    memset(t->addr, 0, sizeof(t->addr));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)t->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
            return -1;
        t->addrlen = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)t->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            return -1;
        t->addrlen = sizeof(*a);
    }
    t->srtp = srtp;
    t->ssrc_be = htonl(ssrc);
    t->fd = fd;
    return 0;
}

/* Protect the `len` bytes in `buf` for `t` and send them. 1 if the kernel took the datagram. */
static int relay_protect_send(struct relay_target *t, uint32_t *buf, int len, int payload_octets)
{
    if (relay_protect(t->srtp, buf, &len) != 0) {
        t->errors++;
        return 0;
    }
    if (sendto(t->fd, buf, (size_t)len, MSG_DONTWAIT, (const struct sockaddr *)t->addr,
               t->addrlen) < 0) {
        t->errors++;
        t->last_errno = errno;
        return 0;
    }
    t->packets++;
    t->octets += (uint64_t)payload_octets;
    return 1;
}

/* One packet to n targets: the first 8 header bytes, each target's SSRC, then `tail` (header
 * extension + payload). A target whose listener is `exclude` (the speaker) is passed over; one
 * that is not connected (fd < 0) or whose send fails is counted in *skipped. Returns the number
 * sent. */
int relay_fan_send(struct relay_target **targets, int n, const char *head, const char *tail,
                   int tail_len, int payload_octets, int64_t exclude, int *skipped)
{
    uint32_t buf[RELAY_BUFFER_WORDS];
    unsigned char *bytes = (unsigned char *)buf;
    int sent = 0, missed = 0, len = 12 + tail_len;

    *skipped = 0;
    if (relay_protect == NULL || tail_len < 0 || len > (int)sizeof(buf) - RELAY_TRAILER_MAX) {
        *skipped = n;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        struct relay_target *t = targets[i];
        if (t->listener == exclude)
            continue;
        if (t->fd < 0) {
            missed++;
            continue;
        }
        memcpy(bytes, head, 8);
        memcpy(bytes + 8, &t->ssrc_be, 4);
        memcpy(bytes + 12, tail, (size_t)tail_len);
        if (relay_protect_send(t, buf, len, payload_octets))
            sent++;
        else
            missed++;
    }
    *skipped = missed;
    return sent;
}
