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
 * DICOM TLS connections (TlsConnection) go through the same guard; their
 * bytes come from an OpenSSL session (src/tls) instead of the socket.
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

#include <algorithm>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "dcmtk/dcmnet/dcmlayer.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmnet/dul.h"

#include "dicom/nesting.h"
#include "tls/tls.h"

static thread_local char guard_why[sizeof(iso_err::msg)];

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

/* The PDU guard: follows the PDU framing over the bytes a connection has
 * read (rules 1 and 2 above).  Each connection class owns one. */
class PduGuard {
  public:
    explicit PduGuard(long pdu_seconds)
        : pdu_ms_(pdu_seconds * 1000), commands_(iso_nest_new(iso_dcm_max_nesting(), 0, 1))
    {
    }
    ~PduGuard() { iso_nest_free(commands_); }
    PduGuard(const PduGuard &) = delete;
    PduGuard &operator=(const PduGuard &) = delete;

    /* May a read go on?  False once a rule broke (or without memory). */
    bool usable()
    {
        if (commands_ == NULL)
            snprintf(guard_why, sizeof guard_why, "out of memory for the PDU guard");
        if (broken_ || commands_ == NULL) {
            errno = ECONNABORTED;
            return false;
        }
        return true;
    }
    bool in_pdu() const { return in_pdu_; }
    /* Milliseconds left for the PDU under way (only when in_pdu()). */
    long long left_ms() const { return deadline_ - now_ms(); }

    /* Waits for bytes on fd until the current PDU's deadline. */
    bool wait_within_deadline(int fd)
    {
        for (;;) {
            long long left = left_ms();
            if (left <= 0)
                return breaks("a PDU did not arrive whole within %ld s (%llu of %llu bytes)",
                              (long)(pdu_ms_ / 1000), (unsigned long long)pdu_got_,
                              (unsigned long long)pdu_len_ + 6);
            struct pollfd p = {fd, POLLIN, 0};
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

    /* Follows the PDU framing over bytes just read; false (errno set) if a
     * rule broke. */
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
            if (pdu_type_ == 0x04 && !observe_pdvs(p, k)) {
                errno = ECONNABORTED;
                return false;
            }
            p += k;
            n -= k;
            pdu_left_ -= k;
            pdu_got_ += k;
            if (pdu_left_ == 0)
                in_pdu_ = false;
        }
        return true;
    }

  private:
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

/* A plain TCP connection, guarded. */
class GuardedConnection : public DcmTCPConnection {
  public:
    GuardedConnection(DcmNativeSocketType fd, long pdu_seconds)
        : DcmTCPConnection(fd), guard_(pdu_seconds)
    {
    }

    ssize_t read(void *buf, size_t nbyte) override
    {
        if (!guard_.usable())
            return -1;
        if (guard_.in_pdu() && !guard_.wait_within_deadline((int)getSocket()))
            return -1;
        ssize_t n = DcmTCPConnection::read(buf, nbyte);
        if (n > 0 && !guard_.observe((const unsigned char *)buf, (size_t)n))
            return -1;
        return n;
    }

  private:
    PduGuard guard_;
};

/* A DICOM TLS connection, guarded the same way.  Accepted ones arrive
 * with their handshake done (net/scp.c runs it in the connection's thread,
 * with the A-ASSOCIATE-RQ it read and checked as prefix); opened ones
 * run it in clientSideHandshake.  The socket is non-blocking: every read
 * and write is bounded by io_seconds (network_timeout), and a read inside
 * a PDU by that PDU's deadline too. */
class TlsConnection : public DcmTransportConnection {
  public:
    TlsConnection(DcmNativeSocketType fd, long pdu_seconds, long io_seconds, SSL *ssl,
                  std::vector<unsigned char> prefix, const iso_dcm_tls_client *client)
        : DcmTransportConnection(fd), guard_(pdu_seconds), io_ms_(io_seconds * 1000), ssl_(ssl),
          prefix_(std::move(prefix))
    {
        if (client != NULL) {
            client_ = *client;
            host_ = client->host ? client->host : "";
            pin_ = client->pin_sha256 ? client->pin_sha256 : "";
        }
    }
    ~TlsConnection() override { TlsConnection::close(); }

    OFCondition serverSideHandshake() override
    {
        return ssl_ != NULL ? EC_Normal
                            : makeOFCondition(OFM_dcmnet, DULC_TLSERROR, OF_error,
                                              "no TLS session");
    }
    OFCondition clientSideHandshake() override
    {
        iso_err e = {};
        if (client_.tls == NULL ||
            iso_tls_connect(client_.tls, (int)getSocket(), host_.c_str(), pin_.c_str(),
                            client_.timeout_ms, &ssl_, &e) != ISO_OK) {
            snprintf(guard_why, sizeof guard_why, "%s", e.msg[0] ? e.msg : "no TLS context");
            return makeOFCondition(OFM_dcmnet, DULC_TLSERROR, OF_error, guard_why);
        }
        return EC_Normal;
    }
    OFCondition renegotiate(const char *) override { return EC_IllegalCall; }

    ssize_t read(void *buf, size_t nbyte) override
    {
        if (!guard_.usable() || ssl_ == NULL)
            return -1;
        if (taken_ < prefix_.size()) { /* the request net/scp.c read */
            size_t k = std::min(nbyte, prefix_.size() - taken_);
            memcpy(buf, prefix_.data() + taken_, k);
            taken_ += k;
            return guard_.observe((const unsigned char *)buf, k) ? (ssize_t)k : -1;
        }
        long timeout = io_ms_;
        if (guard_.in_pdu()) {
            long long left = guard_.left_ms();
            if (left <= 0 && iso_tls_pending(ssl_) == 0) {
                guard_.wait_within_deadline((int)getSocket()); /* names the broken rule */
                return -1;
            }
            if (left < timeout)
                timeout = left > 0 ? (long)left : 1;
        }
        iso_err e = {};
        long n = iso_tls_read(ssl_, buf, nbyte, timeout, &e);
        if (n < 0) { /* -1: error, -2: nothing within the bound */
            if (guard_.in_pdu() && guard_.left_ms() <= 0)
                guard_.wait_within_deadline((int)getSocket()); /* names the broken rule */
            else
                snprintf(guard_why, sizeof guard_why, "%s", e.msg);
            errno = ECONNRESET;
            return -1;
        }
        if (n > 0 && !guard_.observe((const unsigned char *)buf, (size_t)n))
            return -1;
        return (ssize_t)n;
    }

    ssize_t write(void *buf, size_t nbyte) override
    {
        iso_err e = {};
        if (ssl_ == NULL || iso_tls_write(ssl_, buf, nbyte, io_ms_, &e) != ISO_OK) {
            if (e.msg[0])
                snprintf(guard_why, sizeof guard_why, "%s", e.msg);
            errno = EPIPE;
            return -1;
        }
        return (ssize_t)nbyte;
    }

    void close() override
    {
        iso_tls_end(ssl_);
        ssl_ = NULL;
        if (getSocket() != DCMNET_INVALID_SOCKET) {
            ::close((int)getSocket());
            setSocket(DCMNET_INVALID_SOCKET);
        }
    }
    void closeTransportConnection() override
    {
        if (getSocket() != DCMNET_INVALID_SOCKET)
            (void)shutdown((int)getSocket(), SHUT_RDWR);
    }
    unsigned long getPeerCertificateLength() override { return 0; }
    unsigned long getPeerCertificate(void *, unsigned long) override { return 0; }
    OFBool networkDataAvailable(int timeout) override
    {
        if (ssl_ == NULL)
            return OFFalse;
        if (taken_ < prefix_.size() || iso_tls_pending(ssl_) > 0)
            return OFTrue;
        struct pollfd p = {(int)getSocket(), POLLIN, 0};
        return poll(&p, 1, timeout * 1000) > 0 ? OFTrue : OFFalse;
    }
    OFBool isTransparentConnection() override { return OFFalse; }
    OFString &dumpConnectionParameters(OFString &str) override
    {
        char d[128] = "TLS (no session)";
        if (ssl_ != NULL)
            iso_tls_describe(ssl_, d, sizeof d);
        str = d;
        return str;
    }

  private:
    PduGuard guard_;
    long io_ms_;
    SSL *ssl_;
    std::vector<unsigned char> prefix_;
    size_t taken_ = 0;
    iso_dcm_tls_client client_ = {};
    std::string host_, pin_;
};

/* What the next accepted connection of this thread gets: its TLS session
 * and the A-ASSOCIATE-RQ already read from it (iso_dcm_assoc_receive sets
 * it just before DUL calls createConnection in the same thread). */
static thread_local SSL *handoff_ssl = NULL;
static thread_local std::vector<unsigned char> handoff_prefix;

void iso_dcm_tls_handoff(SSL *ssl, const unsigned char *prefix, size_t len)
{
    handoff_ssl = ssl;
    handoff_prefix.assign(prefix, prefix + len);
}

SSL *iso_dcm_tls_handoff_left(void)
{
    SSL *s = handoff_ssl;
    handoff_ssl = NULL;
    handoff_prefix.clear();
    return s;
}

/* Creates DCMTK's connections: guarded, with TCP_NODELAY, plain or TLS. */
class GuardedTransportLayer : public DcmTransportLayer {
  public:
    GuardedTransportLayer(long pdu_seconds, long io_seconds, const iso_dcm_tls_client *client)
        : pdu_seconds_(pdu_seconds), io_seconds_(io_seconds), has_client_(client != NULL)
    {
        if (client != NULL)
            client_ = *client;
    }
    DcmTransportConnection *createConnection(DcmNativeSocketType openSocket,
                                             OFBool useSecureLayer) override
    {
        iso_dcm_set_nodelay(openSocket);
        if (handoff_ssl != NULL) { /* accepted over TLS: the handshake is done */
            SSL *ssl = handoff_ssl;
            handoff_ssl = NULL;
            std::vector<unsigned char> prefix;
            prefix.swap(handoff_prefix);
            return new TlsConnection(openSocket, pdu_seconds_, io_seconds_, ssl,
                                     std::move(prefix), NULL);
        }
        if (useSecureLayer)
            return has_client_ ? new TlsConnection(openSocket, pdu_seconds_, io_seconds_, NULL,
                                                   std::vector<unsigned char>(), &client_)
                               : NULL;
        return new GuardedConnection(openSocket, pdu_seconds_);
    }

  private:
    long pdu_seconds_, io_seconds_;
    bool has_client_;
    iso_dcm_tls_client client_ = {};
};

OFCondition iso_dcm_use_transport(T_ASC_Network *net, long pdu_seconds, long io_seconds,
                                  const iso_dcm_tls_client *client)
{
    return ASC_setTransportLayer(net, new GuardedTransportLayer(pdu_seconds, io_seconds, client),
                                 1);
}
