/* dcm_transport.cc — the transport every association socket goes through,
 * accepted or opened: TCP_NODELAY, and a guard that watches the PDU stream
 * as DCMTK reads it.
 *
 * Design note.  DCMTK reads a peer's bytes through DcmTransportConnection
 * ::read.  This subclass of DcmTCPConnection sees every byte before DUL
 * does and keeps a small state machine over the PDU framing (PS3.8 9.3:
 * type, reserved, 32-bit length; in a P-DATA-TF, PDV items of 32-bit
 * length, context ID and message control header).  Two rules follow:
 *
 *   1. A PDU must arrive whole within pdu_seconds of its first byte.
 *      DCMTK's own timeouts restart with every byte, so a peer trickling
 *      one byte a second would hold its thread (and its memory) for ever;
 *      a real sender fills a PDU (at most max_pdu bytes) in milliseconds.
 *   2. Command PDVs are scanned for nesting (nesting.h) as they arrive:
 *      DCMTK parses the assembled command set recursively, so a command
 *      nested deeper than max_nesting is refused here, before that parse.
 *
 * A broken rule makes read() fail; DUL then reports the connection closed
 * and the association ends as an error.  The rule that broke is kept per
 * thread (each association is served by one thread) for the log line:
 * iso_dcm_transport_why().
 */
#include "dicom/dcm_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dcmtk/dcmnet/dcmlayer.h"
#include "dcmtk/dcmnet/dcmtrans.h"

#include "dicom/nesting.h"

static thread_local char guard_why[192];

const char *iso_dcm_transport_why(void) { return guard_why; }
void iso_dcm_transport_clear(void) { guard_why[0] = '\0'; }

void iso_dcm_set_nodelay(int fd)
{
    int one = 1;
    /* Failure only costs speed (and happens on non-TCP sockets in tests). */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

class GuardedConnection : public DcmTCPConnection {
  public:
    GuardedConnection(DcmNativeSocketType fd, long pdu_seconds)
        : DcmTCPConnection(fd), pdu_ms_(pdu_seconds * 1000),
          commands_(iso_nest_new(iso_dcm_max_nesting(), 0, 1))
    {
    }
    ~GuardedConnection() override { iso_nest_free(commands_); }

    ssize_t read(void *buf, size_t nbyte) override
    {
        if (broken_ || commands_ == NULL) {
            if (commands_ == NULL)
                snprintf(guard_why, sizeof guard_why, "out of memory for the PDU guard");
            errno = ECONNABORTED;
            return -1;
        }
        if (in_pdu_ && !wait_within_deadline())
            return -1;
        ssize_t n = DcmTCPConnection::read(buf, nbyte);
        if (n > 0 && !observe((const unsigned char *)buf, (size_t)n)) {
            errno = ECONNABORTED;
            return -1;
        }
        return n;
    }

  private:
    /* Waits for bytes until the current PDU's deadline. */
    bool wait_within_deadline()
    {
        for (;;) {
            long long left = deadline_ - now_ms();
            if (left <= 0)
                return breaks("a PDU did not arrive whole within %ld s (%llu of %llu bytes)",
                              (long)(pdu_ms_ / 1000), (unsigned long long)pdu_got_,
                              (unsigned long long)pdu_len_ + 6);
            struct pollfd p = {(int)getSocket(), POLLIN, 0};
            int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
            if (r > 0)
                return true;
            if (r < 0 && errno != EINTR)
                return true; /* let the read report it */
        }
    }

    bool breaks(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
    {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(guard_why, sizeof guard_why, fmt, ap);
        va_end(ap);
        broken_ = true;
        errno = ETIMEDOUT;
        return false;
    }

    /* Follows the PDU framing over bytes DCMTK has just read. */
    bool observe(const unsigned char *p, size_t n)
    {
        while (n > 0) {
            if (!in_pdu_) {
                in_pdu_ = true;
                deadline_ = now_ms() + pdu_ms_;
                hlen_ = 0;
                pdu_got_ = 0;
            }
            if (hlen_ < 6) { /* PDU header */
                hdr_[hlen_++] = *p++;
                n--;
                pdu_got_++;
                if (hlen_ == 6) {
                    pdu_type_ = hdr_[0];
                    pdu_len_ = (uint32_t)hdr_[2] << 24 | (uint32_t)hdr_[3] << 16 |
                               (uint32_t)hdr_[4] << 8 | hdr_[5];
                    pdu_left_ = pdu_len_;
                    pdv_hlen_ = 0;
                    pdv_left_ = 0;
                    if (pdu_left_ == 0)
                        in_pdu_ = false;
                }
                continue;
            }
            size_t k = n < pdu_left_ ? n : (size_t)pdu_left_;
            if (pdu_type_ == 0x04 && !observe_pdvs(p, k))
                return false;
            p += k;
            n -= k;
            pdu_left_ -= k;
            pdu_got_ += k;
            if (pdu_left_ == 0)
                in_pdu_ = false;
        }
        return true;
    }

    /* PDV items inside a P-DATA-TF body. */
    bool observe_pdvs(const unsigned char *p, size_t n)
    {
        while (n > 0) {
            if (pdv_left_ == 0 && pdv_hlen_ < 6) {
                pdv_[pdv_hlen_++] = *p++;
                n--;
                if (pdv_hlen_ == 6) {
                    uint32_t len = (uint32_t)pdv_[0] << 24 | (uint32_t)pdv_[1] << 16 |
                                   (uint32_t)pdv_[2] << 8 | pdv_[3];
                    pdv_command_ = (pdv_[5] & 1) != 0;
                    pdv_last_ = (pdv_[5] & 2) != 0;
                    pdv_left_ = len >= 2 ? len - 2 : 0; /* DUL refuses the lie */
                    pdv_hlen_ = 0;
                    if (pdv_left_ == 0)
                        end_of_pdv();
                }
                continue;
            }
            size_t k = n < pdv_left_ ? n : (size_t)pdv_left_;
            if (pdv_command_) {
                iso_err e = {};
                if (iso_nest_feed(commands_, p, k, &e) != ISO_OK)
                    return breaks("command set refused: %s", e.msg);
            }
            p += k;
            n -= k;
            pdv_left_ -= k;
            if (pdv_left_ == 0)
                end_of_pdv();
        }
        return true;
    }

    void end_of_pdv()
    {
        if (pdv_command_ && pdv_last_)
            iso_nest_reset(commands_); /* the next command set starts fresh */
    }

    long long pdu_ms_;
    iso_nest *commands_;
    bool broken_ = false;
    bool in_pdu_ = false;
    long long deadline_ = 0;
    unsigned char hdr_[6];
    int hlen_ = 0;
    unsigned char pdu_type_ = 0;
    uint32_t pdu_len_ = 0;
    uint64_t pdu_left_ = 0, pdu_got_ = 0;
    unsigned char pdv_[6];
    int pdv_hlen_ = 0;
    uint64_t pdv_left_ = 0;
    bool pdv_command_ = false, pdv_last_ = false;
};

/* Creates DCMTK's plain TCP connections, guarded and with TCP_NODELAY. */
class GuardedTransportLayer : public DcmTransportLayer {
  public:
    explicit GuardedTransportLayer(long pdu_seconds) : pdu_seconds_(pdu_seconds) {}
    DcmTransportConnection *createConnection(DcmNativeSocketType openSocket,
                                             OFBool useSecureLayer) override
    {
        if (useSecureLayer)
            return NULL;
        iso_dcm_set_nodelay(openSocket);
        return new GuardedConnection(openSocket, pdu_seconds_);
    }

  private:
    long pdu_seconds_;
};

OFCondition iso_dcm_use_transport(T_ASC_Network *net, long pdu_seconds)
{
    return ASC_setTransportLayer(net, new GuardedTransportLayer(pdu_seconds), 1);
}
