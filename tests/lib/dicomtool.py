#!/usr/bin/env python3
"""dicomtool.py — a deliberately small DICOM upper-layer client for tests.

DCMTK's tools refuse to send malformed PDUs or lying data sets, which is
exactly what the bad-input tests need.  This speaks PS3.8 by hand: it builds
A-ASSOCIATE-RQ, P-DATA-TF, A-RELEASE-RQ and C-STORE-RQ command sets, and can
break any of them on purpose.  It also compares the data set bytes of two
Part 10 files (to show objects are stored exactly as received).

usage:
  dicomtool.py scenario NAME HOST PORT [CALLED_AE]   prints one result line
  dicomtool.py store HOST PORT SOP_INSTANCE_UID [--hold SECONDS] [--from ADDRESS]
  dicomtool.py stall HOST PORT N SECONDS [--from ADDRESS]  N sockets, a byte each, then silence
  dicomtool.py hold HOST PORT SECONDS                 associate, echo, wait, release
  dicomtool.py send-file HOST PORT FILE [--sent OUT]  sends the data set bytes as they are
  dicomtool.py same-dataset STORED ORIGINAL            exit 0 if data sets are identical
"""
import socket
import struct
import sys
import time

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


def uid_bytes(uid):
    b = uid.encode()
    return b + b"\0" if len(b) % 2 else b


def item(kind, payload):
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def associate_rq(called="ISONODE", calling="PYTEST", contexts=((1, CT_IMAGE, EXPLICIT_LE),),
                 max_pdu=16384):
    body = struct.pack(">HH", 1, 0)
    body += called.ljust(16).encode()[:16] + calling.ljust(16).encode()[:16] + b"\0" * 32
    body += item(0x10, b"1.2.840.10008.3.1.1.1")
    for cid, abstract, ts in contexts:
        sub = item(0x30, abstract.encode()) + item(0x40, ts.encode())
        body += item(0x20, struct.pack(">BBBB", cid, 0, 0, 0) + sub)
    user = item(0x51, struct.pack(">I", max_pdu)) + item(0x52, b"1.2.3.4.5.6")
    body += item(0x50, user)
    return struct.pack(">BBI", 1, 0, len(body)) + body


def elem_implicit(group, elem, value):
    if len(value) % 2:
        value += b"\0"
    return struct.pack("<HHI", group, elem, len(value)) + value


def command_set(fields):
    """fields: list of (elem, bytes) in group 0000, implicit VR LE, with group length."""
    body = b"".join(elem_implicit(0, e, v) for e, v in fields)
    return elem_implicit(0, 0x0000, struct.pack("<I", len(body))) + body


def c_store_rq(sop_class, sop_instance, msg_id=1):
    return command_set([
        (0x0002, uid_bytes(sop_class)),
        (0x0100, struct.pack("<H", 0x0001)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0700, struct.pack("<H", 0)),
        (0x0800, struct.pack("<H", 0x0000)),
        (0x1000, uid_bytes(sop_instance)),
    ])


STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def c_find_rq(sop_class=STUDY_ROOT_FIND, msg_id=1):
    return command_set([
        (0x0002, uid_bytes(sop_class)),
        (0x0100, struct.pack("<H", 0x0020)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0700, struct.pack("<H", 0)),
        (0x0800, struct.pack("<H", 0x0102)),
    ])


STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"


def c_move_rq(destination="STORESCP", sop_class=STUDY_ROOT_MOVE, msg_id=1):
    return command_set([
        (0x0002, uid_bytes(sop_class)),
        (0x0100, struct.pack("<H", 0x0021)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0600, destination.ljust(16).encode()[:16]),
        (0x0700, struct.pack("<H", 0)),
        (0x0800, struct.pack("<H", 0x0102)),
    ])


STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"


def c_get_rq(sop_class=STUDY_ROOT_GET, msg_id=1):
    return command_set([
        (0x0002, uid_bytes(sop_class)),
        (0x0100, struct.pack("<H", 0x0010)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0700, struct.pack("<H", 0)),
        (0x0800, struct.pack("<H", 0x0102)),
    ])


STORAGE_COMMITMENT = "1.2.840.10008.1.20.1"


def n_action_rq(msg_id=1):
    return command_set([
        (0x0003, uid_bytes(STORAGE_COMMITMENT)),
        (0x0100, struct.pack("<H", 0x0130)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0800, struct.pack("<H", 0x0102)),
        (0x1001, uid_bytes(STORAGE_COMMITMENT + ".1")),
        (0x1008, struct.pack("<H", 1)),
    ])


def commit_request(transaction_uid, refs):
    """N-ACTION information: Transaction UID and Referenced SOP Sequence
    ((class, instance), ...), implicit VR little endian, undefined lengths."""
    items = b""
    for cls, uid in refs:
        body = elem_implicit(0x0008, 0x1150, uid_bytes(cls)) + elem_implicit(0x0008, 0x1155, uid_bytes(uid))
        items += struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body
    seq = struct.pack("<HHI", 0x0008, 0x1199, 0xFFFFFFFF) + items + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return elem_implicit(0x0008, 0x1195, uid_bytes(transaction_uid)) + seq


def n_event_report_rsp(msg_id, event_type, status=0):
    return command_set([
        (0x0002, uid_bytes(STORAGE_COMMITMENT)),
        (0x0100, struct.pack("<H", 0x8100)),
        (0x0120, struct.pack("<H", msg_id)),
        (0x0800, struct.pack("<H", 0x0101)),
        (0x0900, struct.pack("<H", status)),
        (0x1000, uid_bytes(STORAGE_COMMITMENT + ".1")),
        (0x1002, struct.pack("<H", event_type)),
    ])


def read_message(s):
    """Reads one DIMSE message: (command elements {elem: bytes}, data set
    bytes or None).  The data set is expected when (0000,0800) is not
    0x0101."""
    parts = {True: b"", False: b""}
    want_data = None
    while True:
        kind, body = recv_pdu(s)
        if kind != 4:
            raise ConnectionError("PDU type %d instead of P-DATA" % kind)
        i = 0
        last_of = None
        while i < len(body):
            ln = struct.unpack(">I", body[i:i + 4])[0]
            hdr = body[i + 5]
            is_cmd = bool(hdr & 1)
            parts[is_cmd] += body[i + 6:i + 4 + ln]
            if hdr & 2:
                last_of = is_cmd
            i += 4 + ln
        if last_of is True:
            cmd = implicit_elements(parts[True])
            want_data = struct.unpack("<H", cmd[0x0800])[0] != 0x0101
            if not want_data:
                return cmd, None
        if last_of is False and want_data:
            return cmd, parts[False]


def implicit_elements(data):
    """Flat {elem: value} of a group 0000 command set."""
    out = {}
    j = 0
    while j + 8 <= len(data):
        g, e, ln = struct.unpack("<HHI", data[j:j + 8])
        out[e] = data[j + 8:j + 8 + ln]
        j += 8 + ln
    return out


def implicit_values(data, tags):
    """Every value of the given (group, elem) tags anywhere in an implicit
    VR little endian data set, sequences walked in place, in order."""
    found = []
    j = 0
    while j + 8 <= len(data):
        g, e, ln = struct.unpack("<HHI", data[j:j + 8])
        if g == 0xFFFE or ln == 0xFFFFFFFF or (g, e) in ((0x0008, 0x1199), (0x0008, 0x1198)):
            j += 8  # item and sequence headers: their content follows in place
            continue
        if (g, e) in tags:
            found.append(((g, e), data[j + 8:j + 8 + ln]))
        j += 8 + ln
    return found


def c_cancel_rq(msg_id=1):
    return command_set([
        (0x0100, struct.pack("<H", 0x0FFF)),
        (0x0120, struct.pack("<H", msg_id)),
        (0x0800, struct.pack("<H", 0x0101)),
    ])


def find_identifier(level=b"STUDY ", keys=((0x0020, 0x000D, b""), (0x0010, 0x0010, b"A*"))):
    """A C-FIND identifier in implicit VR little endian, keys in tag order."""
    els = [(0x0008, 0x0052, level)] + list(keys)
    return b"".join(elem_implicit(g, e, v) for g, e, v in sorted(els))


def c_echo_rq(msg_id=1):
    return command_set([
        (0x0002, uid_bytes(VERIFICATION)),
        (0x0100, struct.pack("<H", 0x0030)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0800, struct.pack("<H", 0x0101)),
    ])


def elem_explicit(group, elem, vr, value, pad=b" "):
    if len(value) % 2:
        value += pad
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def dataset(sop_class=CT_IMAGE, sop_instance="1.2.3.4", study="1.2.3", series="1.2.3.1",
            omit=(), extra=b""):
    els = [
        ((0x0008, 0x0016), "UI", sop_class.encode(), b"\0"),
        ((0x0008, 0x0018), "UI", sop_instance.encode(), b"\0"),
        ((0x0008, 0x0060), "CS", b"CT", b" "),
        ((0x0010, 0x0010), "PN", b"Test^Bad^Input", b" "),
        ((0x0010, 0x0020), "LO", b"BAD-1", b" "),
        ((0x0020, 0x000D), "UI", study.encode(), b"\0"),
        ((0x0020, 0x000E), "UI", series.encode(), b"\0"),
    ]
    out = b""
    for (g, e), vr, v, pad in els:
        if (g, e) in omit:
            continue
        out += elem_explicit(g, e, vr, v, pad)
    return out + extra


def pdata(cid, payload, command, last=True):
    hdr = (1 if command else 0) | (2 if last else 0)
    pdv = struct.pack(">IBB", len(payload) + 2, cid, hdr) + payload
    return struct.pack(">BBI", 4, 0, len(pdv)) + pdv


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def recv_pdu(s):
    hdr = recv_exact(s, 6)
    kind, _, length = struct.unpack(">BBI", hdr)
    return kind, recv_exact(s, length)


def accepted_contexts(ac_body):
    """Maps presentation context id -> result from an A-ASSOCIATE-AC."""
    res = {}
    i = 68
    while i + 4 <= len(ac_body):
        kind, _, ln = struct.unpack(">BBH", ac_body[i:i + 4])
        if kind == 0x21:
            res[ac_body[i + 4]] = ac_body[i + 6]
        i += 4 + ln
    return res


def acceptor_max_pdu(ac_body):
    """The maximum PDU length from an A-ASSOCIATE-AC's user information."""
    i = 68
    while i + 4 <= len(ac_body):
        kind, _, ln = struct.unpack(">BBH", ac_body[i:i + 4])
        if kind == 0x50:
            j = i + 4
            while j + 4 <= i + 4 + ln:
                sub, _, sln = struct.unpack(">BBH", ac_body[j:j + 4])
                if sub == 0x51:
                    return struct.unpack(">I", ac_body[j + 4:j + 8])[0]
                j += 4 + sln
        i += 4 + ln
    return 0


def read_status(s):
    """Reads P-DATA until a complete command set; returns its (0000,0900) status."""
    cmd = b""
    while True:
        kind, body = recv_pdu(s)
        if kind != 4:
            raise ConnectionError("PDU type %d instead of P-DATA" % kind)
        i = 0
        done = False
        while i < len(body):
            ln = struct.unpack(">I", body[i:i + 4])[0]
            hdr = body[i + 5]
            cmd += body[i + 6:i + 4 + ln]
            if hdr & 1 and hdr & 2:
                done = True
            i += 4 + ln
        if done:
            break
    j = 0
    while j + 8 <= len(cmd):
        g, e, ln = struct.unpack("<HHI", cmd[j:j + 8])
        if (g, e) == (0, 0x0900):
            return struct.unpack("<H", cmd[j + 8:j + 10])[0]
        j += 8 + ln
    return None


def connect(host, port, source=None):
    s = socket.create_connection((host, port), timeout=20,
                                 source_address=(source, 0) if source else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def associate(host, port, called="ISONODE", contexts=((1, CT_IMAGE, EXPLICIT_LE),), source=None):
    s = connect(host, port, source)
    s.sendall(associate_rq(called=called, contexts=contexts))
    kind, body = recv_pdu(s)
    if kind != 2:
        raise ConnectionError("association not accepted (PDU type %d)" % kind)
    return s, accepted_contexts(body)


def release(s):
    s.sendall(struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
    kind, _ = recv_pdu(s)
    s.close()
    return kind == 6


def store(s, cid, cmd, data):
    s.sendall(pdata(cid, cmd, True))
    s.sendall(pdata(cid, data, False))
    return read_status(s)


def peer_closed(s, wait=10):
    """True if the peer closed or aborted within wait seconds."""
    s.settimeout(wait)
    try:
        while True:
            kind, _ = recv_pdu(s)
            if kind == 7:  # A-ABORT
                return True
    except (ConnectionError, OSError):
        return True
    except socket.timeout:
        return False


def store_one(host, port, called, sop_class, uid, data, hold=0.0, source=None):
    """One association, one C-STORE, release; returns the status."""
    s, _ = associate(host, port, called, source=source)
    time.sleep(hold)
    st = store(s, 1, c_store_rq(sop_class, uid), data)
    release(s)
    return st


# Scenarios that send one C-STORE and report its status: each gives the
# command's SOP class and instance UID, and the data set actually sent.
STORE_SCENARIOS = {
    "lying-element-length": lambda: (
        CT_IMAGE, "1.2.3.4.6",
        dataset(sop_instance="1.2.3.4.6") + struct.pack("<HH2sH", 0x0010, 0x1010, b"AS", 4)
        + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0x7FFFFF00) + b"\0" * 16),
    "missing-sop-instance": lambda: (
        CT_IMAGE, "1.2.3.4.7", dataset(omit=((0x0008, 0x0018),))),
    "instance-mismatch": lambda: (CT_IMAGE, "1.2.3.4.8", dataset(sop_instance="1.2.3.4.9")),
    "class-mismatch": lambda: (
        CT_IMAGE, "1.2.3.4.10", dataset(sop_class=MR_IMAGE, sop_instance="1.2.3.4.10")),
    "context-mismatch": lambda: (
        MR_IMAGE, "1.2.3.4.11", dataset(sop_class=MR_IMAGE, sop_instance="1.2.3.4.11")),
    "invalid-uid": lambda: (CT_IMAGE, "1.2.03.4", dataset(sop_instance="1.2.03.4")),
    "invalid-study-uid": lambda: (
        CT_IMAGE, "1.2.3.4.12", dataset(sop_instance="1.2.3.4.12", study="1.2.3.x")),
    "good": lambda: (CT_IMAGE, "1.2.3.4.99", dataset(sop_instance="1.2.3.4.99")),
}


def nested(depth, implicit=False, undefined=True):
    """depth sequences one inside the other, each item holding one text
    element; explicit VR LE with undefined lengths, or implicit VR LE with
    defined lengths (where only a dictionary says it is a sequence)."""
    inner = b""
    for _ in range(depth):
        if implicit:
            text = struct.pack("<HHI", 0x0010, 0x0020, 2) + b"X1"
            body = text + inner
            it = struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body
            inner = struct.pack("<HHI", 0x0040, 0xA730, len(it)) + it
        else:
            text = struct.pack("<HH2sH", 0x0010, 0x0020, b"LO", 2) + b"X1"
            it = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + text + inner \
                + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
            inner = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + it \
                + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return inner


def dataset_implicit(sop_instance):
    out = b""
    for (g, e), v in (((0x0008, 0x0016), CT_IMAGE), ((0x0008, 0x0018), sop_instance),
                      ((0x0020, 0x000D), "1.2.3"), ((0x0020, 0x000E), "1.2.3.1")):
        out += elem_implicit(g, e, v.encode())
    return out


def send_fragmented(s, cid, payload, command, size=16000):
    """Sends payload as PDVs of at most size bytes, one PDU each."""
    for i in range(0, max(len(payload), 1), size):
        chunk = payload[i:i + size]
        s.sendall(pdata(cid, chunk, command, last=i + size >= len(payload)))


def store_big(host, port, uid, data, contexts=((1, CT_IMAGE, EXPLICIT_LE),), called="ISONODE"):
    s, _ = associate(host, port, called, contexts=contexts)
    s.sendall(pdata(1, c_store_rq(CT_IMAGE, uid), True))
    send_fragmented(s, 1, data, False)
    st = read_status(s)
    release(s)
    return st


def scenario(name, host, port, called="ISONODE"):
    """Runs one bad-input scenario; returns a short result word."""
    if name == "garbage":
        s = connect(host, port)
        s.sendall(bytes(range(256)) * 8)
        return "closed" if peer_closed(s) else "open"
    if name == "wrong-first-pdu":
        s = connect(host, port)
        s.sendall(pdata(1, c_echo_rq(), True))
        return "closed" if peer_closed(s) else "open"
    if name == "huge-length":
        s = connect(host, port)
        s.sendall(struct.pack(">BBI", 1, 0, 0xFFFFFFF0) + b"\0" * 64)
        return "closed" if peer_closed(s) else "open"
    if name == "truncated-rq":
        s = connect(host, port)
        rq = associate_rq()
        s.sendall(rq[:len(rq) // 2])
        s.shutdown(socket.SHUT_WR)
        return "closed" if peer_closed(s) else "open"
    if name == "oversized-pdata":
        s, _ = associate(host, port, called)
        # Announce a P-DATA far beyond the 16 KiB max PDU we negotiated for
        # receiving and far beyond what the node accepts.
        s.sendall(struct.pack(">BBI", 4, 0, 0x7FFFFFFF) + b"\0" * 1024)
        return "closed" if peer_closed(s) else "open"
    if name == "lying-pdv-length":
        s, _ = associate(host, port, called)
        cmd = c_store_rq(CT_IMAGE, "1.2.3.4.5")
        pdv = struct.pack(">IBB", len(cmd) + 5000, 1, 3) + cmd
        s.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
        return "closed" if peer_closed(s) else "open"
    if name in STORE_SCENARIOS:
        sop_class, uid, data = STORE_SCENARIOS[name]()
        return "status=%04x" % store_one(host, port, called, sop_class, uid, data)
    if name == "deep-dataset":  # 1,500 nested sequences, undefined lengths
        uid = "1.2.3.4.20"
        return "status=%04x" % store_big(host, port, uid, dataset(sop_instance=uid) + nested(1500))
    if name == "deep-dataset-implicit":  # 1,500, defined lengths, implicit VR
        uid = "1.2.3.4.21"
        return "status=%04x" % store_big(host, port, uid,
                                         dataset_implicit(uid) + nested(1500, implicit=True),
                                         contexts=((1, CT_IMAGE, IMPLICIT_LE),))
    if name == "nested-ok":  # 20 levels: real structured reports nest less
        uid = "1.2.3.4.22"
        return "status=%04x" % store_big(host, port, uid, dataset(sop_instance=uid) + nested(20))
    if name == "deep-command":  # a command set nested 1,500 deep
        s, _ = associate(host, port, called)
        deep = b""
        for _ in range(1500):
            deep = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + deep \
                + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
            deep = struct.pack("<HHI", 0x0000, 0x5010, 0xFFFFFFFF) + deep \
                + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        try:
            send_fragmented(s, 1, c_store_rq(CT_IMAGE, "1.2.3.4.23") + deep, True)
        except (ConnectionError, OSError):
            return "closed"  # the node ended it while the rest was still on its way
        return "closed" if peer_closed(s) else "open"
    if name == "big-rq":  # announces 100,000 bytes: over the cap, refused at once
        s = connect(host, port)
        s.sendall(struct.pack(">BBI", 1, 0, 100000) + b"\0" * 60000)
        t0 = time.time()
        closed = peer_closed(s, wait=5)
        return "closed" if closed and time.time() - t0 < 2 else "open"
    if name == "malformed-rq":  # an item whose length overruns the request
        s = connect(host, port)
        rq = bytearray(associate_rq(called=called))
        i = 6 + 68  # the application context item: its length now runs past the end
        rq[i + 2:i + 4] = struct.pack(">H", 0xFFF0)
        s.sendall(bytes(rq))
        try:
            kind, body = recv_pdu(s)
        except (ConnectionError, OSError):
            return "closed"
        return "aborted" if kind == 7 else "pdu-%d" % kind
    if name == "ac-item-in-rq":  # an A-ASSOCIATE-AC context item (0x21) in a request
        s = connect(host, port)
        rq = associate_rq(called=called)
        body = rq[6:] + item(0x21, struct.pack(">BBBB", 3, 0, 0, 0) + item(0x40, EXPLICIT_LE.encode()))
        s.sendall(struct.pack(">BBI", 1, 0, len(body)) + body)
        try:
            kind, _ = recv_pdu(s)
        except (ConnectionError, OSError):
            return "closed"
        return "aborted" if kind == 7 else "pdu-%d" % kind
    if name == "forged-newline-ae":
        s = connect(host, port)
        s.sendall(associate_rq(called=called, calling="EV\nERROR forged"))
        kind, _ = recv_pdu(s)
        return "rejected" if kind == 3 else "pdu-%d" % kind
    if name == "forged-newline-uid":
        uid = "1.2.3\nERROR forged"
        return "status=%04x" % store_one(host, port, called, CT_IMAGE, uid,
                                         dataset(sop_instance=uid))
    if name == "trickle":  # a P-DATA PDU trickled a byte a second
        s, _ = associate(host, port, called)
        s.sendall(pdata(1, c_store_rq(CT_IMAGE, "1.2.3.4.24"), True))
        pdu = pdata(1, dataset(sop_instance="1.2.3.4.24"), False)
        t0 = time.time()
        s.settimeout(1.0)
        for b in pdu:
            try:
                s.sendall(bytes([b]))
                s.recv(1024)  # b"" or an A-ABORT: the node ended it
                break
            except socket.timeout:
                continue
            except OSError:
                break
        return "closed after %d s" % round(time.time() - t0)
    if name == "abort-mid-dataset":
        s, _ = associate(host, port, called)
        s.sendall(pdata(1, c_store_rq(CT_IMAGE, "1.2.3.4.13"), True))
        s.sendall(pdata(1, dataset(sop_instance="1.2.3.4.13"), False, last=False))
        s.sendall(struct.pack(">BBI", 7, 0, 4) + b"\0" * 4)
        s.close()
        return "sent"
    raise SystemExit("unknown scenario " + name)


def part10_split(path):
    """Returns (meta, data set bytes) of a Part 10 file; meta maps the
    (0002,eeee) element number to its value with padding stripped."""
    with open(path, "rb") as f:
        b = f.read()
    if b[128:132] != b"DICM":
        raise SystemExit("%s: no DICM prefix" % path)
    meta = {}
    i = 132
    while i + 8 <= len(b):
        g, e = struct.unpack("<HH", b[i:i + 4])
        if g != 2:
            break
        vr = b[i + 4:i + 6]
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR", b"OD", b"OF", b"OL", b"OV"):
            ln = struct.unpack("<I", b[i + 8:i + 12])[0]
            start = i + 12
        else:
            ln = struct.unpack("<H", b[i + 6:i + 8])[0]
            start = i + 8
        meta[e] = b[start:start + ln].rstrip(b"\0 ")
        i = start + ln
    return meta, b[i:]


def part10_dataset(path):
    """Returns the data set bytes of a Part 10 file (after the meta group)."""
    return part10_split(path)[1]


def send_file(host, port, path, called="ISONODE"):
    """Sends a Part 10 file's data set bytes unchanged, in its own transfer
    syntax, fragmented to the acceptor's maximum PDU; returns the status and
    the bytes sent.  PDV fragments have even lengths (PS3.8), so an odd
    data set (a deflate stream, say) gets the trailing NUL that PS3.5 A.5
    prescribes."""
    meta, data = part10_split(path)
    if len(data) % 2:
        data += b"\0"
    sop_class, uid, ts = (meta[k].decode() for k in (2, 3, 0x10))
    s = connect(host, port)
    s.sendall(associate_rq(called=called, contexts=((1, sop_class, ts),)))
    kind, body = recv_pdu(s)
    if kind != 2 or accepted_contexts(body).get(1) != 0:
        raise ConnectionError("context %s / %s not accepted" % (sop_class, ts))
    max_pdu = acceptor_max_pdu(body) or 16384
    s.sendall(pdata(1, c_store_rq(sop_class, uid), True))
    step = max_pdu - 6
    for off in range(0, len(data), step):
        s.sendall(pdata(1, data[off:off + step], False, off + step >= len(data)))
    st = read_status(s)
    release(s)
    return st, data


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "scenario":
        called = argv[5] if len(argv) > 5 else "ISONODE"
        try:
            print(scenario(argv[2], argv[3], int(argv[4]), called))
        except (ConnectionError, OSError) as e:
            print("error: %s" % e)
        return 0
    if cmd == "store":
        host, port, uid = argv[2], int(argv[3]), argv[4]
        hold = float(argv[argv.index("--hold") + 1]) if "--hold" in argv else 0
        source = argv[argv.index("--from") + 1] if "--from" in argv else None
        data = dataset(sop_instance=uid)
        if "--meta-in-dataset" in argv:
            # group 0002 elements inside the data set (a PS3.10 violation some
            # senders commit), carrying text that must not survive
            data = elem_explicit(0x0002, 0x0016, "AE", b"PHIAET02") \
                + elem_explicit(0x0002, 0x0102, "OB", b"PHIPRIVATE0002", b"\0") + data
        st = store_one(host, port, "ISONODE", CT_IMAGE, uid, data, hold, source)
        print("status=%04x" % st)
        return 0
    if cmd == "stall":
        host, port, n, secs = argv[2], int(argv[3]), int(argv[4]), float(argv[5])
        source = argv[argv.index("--from") + 1] if "--from" in argv else None
        socks = []
        for _ in range(n):
            try:
                s = connect(host, port, source)
                s.sendall(b"\x01")  # the first byte of an A-ASSOCIATE-RQ, and no more
                socks.append(s)
            except OSError:
                pass
        print("stalling %d" % len(socks), flush=True)
        time.sleep(secs)
        return 0
    if cmd == "hold":
        host, port, secs = argv[2], int(argv[3]), float(argv[4])
        s, ctx = associate(host, port, contexts=((1, VERIFICATION, IMPLICIT_LE),))
        s.sendall(pdata(1, c_echo_rq(), True))
        st = read_status(s)
        print("held status=%04x" % st, flush=True)
        time.sleep(secs)
        release(s)
        return 0
    if cmd == "send-file":
        st, sent = send_file(argv[2], int(argv[3]), argv[4])
        if "--sent" in argv:
            with open(argv[argv.index("--sent") + 1], "wb") as f:
                f.write(sent)
        print("status=%04x" % st)
        return 0
    if cmd == "same-dataset":
        return 0 if part10_dataset(argv[2]) == part10_dataset(argv[3]) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
