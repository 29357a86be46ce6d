#!/usr/bin/python3
"""anon_cases.py — objects that exercise de-identification, and the checks
of what the node stored (pydicom as the independent reader; the standard's
Table E.1-1 JSON in ../shared/ref as the oracle for which action applies).

usage:
  anon_cases.py write-a OUTDIR TABLE_JSON   objects for the basic-profile run
  anon_cases.py write-later OUTDIR A_DIR    an object referencing an earlier one
  anon_cases.py write-b OUTDIR              objects for the dates/descriptors run
  anon_cases.py check-a DATA_DIR SENT_DIR TABLE_JSON
  anon_cases.py check-b DATA_DIR SENT_DIR OFFSET_SECONDS
  anon_cases.py phi-scan DATA_DIR SENT_DIR  planted strings found in stored files
Each check prints one line per finding and exits 1 if any check failed."""
import datetime
import glob
import json
import os
import sys

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT = "1.2.840.10008.5.1.4.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"
ROOT = "1.2.826.0.1.3680043.10.4242."
CODES = ["X", "Z", "D", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"]
SIMPLE_VRS = ("LO", "SH", "PN", "DA", "TM", "DT", "UI", "LT", "ST")
# attributes the cases set themselves, never picked as a code sample
RESERVED = {0x00100010, 0x00100020, 0x00080018, 0x0020000D, 0x0020000E, 0x00200052,
            0x00080020, 0x00080030, 0x00080050, 0x00080090, 0x00200010}


def uid(n):
    return ROOT + str(n)


def base(sop_class, sop_uid, study, series, inst, name, pid, charset="ISO_IR 100"):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.FrameOfReferenceUID = uid(9000)
    ds.PatientName, ds.PatientID = name, pid
    ds.PatientBirthDate, ds.PatientSex = "19700704", "F"
    ds.StudyDate, ds.StudyTime = "20240315", "101500"
    ds.AccessionNumber, ds.StudyID = "PHIACC77", "PHISTUDYID"
    ds.ReferringPhysicianName = "PHIREFERRER^DOC"
    ds.Modality = "CT" if sop_class == CT else "OT"
    ds.SeriesNumber, ds.InstanceNumber = 1, inst
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Manufacturer = "ACME"
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [0, 0, float(inst)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.SliceThickness = 1
    ds.KVP = 120
    ds.AcquisitionNumber = 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(range(128))
    return ds


def table(path):
    rows = {}
    for r in json.load(open(path)):
        t = r["tag"]
        if "X" in t[1:5] or "X" in t[6:10] or t.startswith("(GGGG"):
            continue
        rows[int(t[1:5] + t[6:10], 16)] = r
    return rows


def samples(tab):
    """One attribute per basic-profile action code, with a simple VR (and
    a sequence for X/Z/U*)."""
    out = {}
    for tag in sorted(tab):
        r = tab[tag]
        code = r["basicProfile"]
        if code in out or tag in RESERVED or tag >> 16 in (0x0002, 0x0000, 0x0004):
            continue
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if code == "X/Z/U*" and vr == "SQ":
            out[code] = (tag, vr)
        elif code != "X/Z/U*" and vr in SIMPLE_VRS:
            out[code] = (tag, vr)
    return out


def plant(vr, n):
    return {"DA": "2001%02d%02d" % (1 + n % 12, 1 + n % 28), "TM": "04%02d06" % n,
            "DT": "2001020304%02d06" % n, "UI": uid(700 + n)}.get(vr, "PHICODE%d" % n)


def write_a(out, table_path):
    os.makedirs(out, exist_ok=True)
    tab = table(table_path)
    study, series = uid(1), uid(2)
    ds = base(CT, uid(11), study, series, 1, "Müller^Jürgen", "PHIPID001")
    planted = {}
    for n, (code, (tag, vr)) in enumerate(sorted(samples(tab).items())):
        if vr == "SQ":
            it = Dataset()
            it.ReferencedSOPClassUID = CT
            it.ReferencedSOPInstanceUID = uid(12)
            ds.add_new(tag, "SQ", Sequence([it]))
            planted[code] = [hex(tag), vr, uid(12)]
        else:
            v = plant(vr, n + 1)
            ds.add_new(tag, vr, v)
            planted[code] = [hex(tag), vr, v]
    # PHI three levels deep in sequences the table does not list
    inner = Dataset()
    inner.PatientName = "PHIDEEPNAME^X"
    inner.StudyComments = "PHIDEEPCOMMENT"
    lvl2 = Dataset()
    lvl2.CTTableDynamicsSequence = Sequence([inner])
    lvl1 = Dataset()
    lvl1.CTAcquisitionDetailsSequence = Sequence([lvl2])
    ds.CTAcquisitionTypeSequence = Sequence([lvl1])
    # private: unknown creator at block 11 with PHI; the safe Philips block;
    # another creator using the same element numbers; a private sequence
    # holding study, series and SOP UIDs
    ds.add_new(0x00090011, "LO", "ACME 1.0")
    ds.add_new(0x00091101, "LO", "PHIPRIVATE")
    ds.add_new(0x20010011, "LO", "Philips Imaging DD 001")
    ds.add_new(0x20011103, "FL", 1000.0)
    ds.add_new(0x20011150, "LO", "PHIPRIVSAFEBLOCK")
    ds.add_new(0x20010012, "LO", "NOT PHILIPS")
    ds.add_new(0x20011203, "FL", 7.0)
    pit = Dataset()
    pit.StudyInstanceUID, pit.SeriesInstanceUID, pit.SOPInstanceUID = study, series, uid(11)
    ds.add_new(0x00110010, "LO", "ACME SEQ")
    ds.add_new(0x00111001, "SQ", Sequence([pit]))
    # multi-valued UIDs, one of them the next object's SOP Instance UID
    ds.FailedSOPInstanceUIDList = [uid(13), uid(14)]
    ds.StudyDescription = "PHISTUDYDESC"
    ds.save_as(os.path.join(out, "obj1.dcm"), write_like_original=False)
    ds2 = base(CT, uid(13), study, series, 2, "Müller^Jürgen", "PHIPID001")
    ds2.save_as(os.path.join(out, "obj2.dcm"), write_like_original=False)
    ds3 = base(CT, uid(15), uid(16), uid(17), 3, "Yamada^Tarou=山田^太郎=やまだ^たろう", "PHIPID003",
               charset=["", "ISO 2022 IR 87"])
    ds3.save_as(os.path.join(out, "obj3.dcm"), write_like_original=False)
    ds4 = base(SC, uid(18), uid(19), uid(20), 4, "PHISC^CAPTURE", "PHIPID004")
    ds4.ConversionType = "WSD"
    ds4.save_as(os.path.join(out, "sc.dcm"), write_like_original=False)
    json.dump(planted, open(os.path.join(out, "planted.json"), "w"), indent=1)


def write_later(out, a_dir):
    os.makedirs(out, exist_ok=True)
    ds = base(CT, uid(31), uid(1), uid(32), 5, "Müller^Jürgen", "PHIPID001")
    it = Dataset()
    it.ReferencedSOPClassUID = CT
    it.ReferencedSOPInstanceUID = uid(11)
    ds.ReferencedImageSequence = Sequence([it])
    rs = Dataset()
    rs.SeriesInstanceUID = uid(2)
    ds.ReferencedSeriesSequence = Sequence([rs])
    ds.save_as(os.path.join(out, "later.dcm"), write_like_original=False)


def write_b(out):
    os.makedirs(out, exist_ok=True)
    ds = base(CT, uid(51), uid(52), uid(53), 6, "PHIBNAME^ROSE", "PHIPIDB")
    ds.StudyDate, ds.StudyTime = "20240315", "231500"
    ds.SeriesDate, ds.SeriesTime = "20240316", "001500.5"
    ds.AcquisitionDate, ds.AcquisitionTime = "20240315", "23"
    ds.AcquisitionDateTime = "20240315231500.123456"
    ds.ContentDate, ds.ContentTime = "20240316", "0015"
    ds.add_new(0x00189517, "DT", "202403")  # End Acquisition DateTime, month precision
    ds.StudyDescription = "Head CT of phibname for follow-up"
    ds.SeriesDescription = "Axial bone 1 mm"
    ds.save_as(os.path.join(out, "dates.dcm"), write_like_original=False)
    sc = base(SC, uid(54), uid(55), uid(56), 7, "PHISC^FLAG", "PHIPIDSC")
    sc.save_as(os.path.join(out, "sc.dcm"), write_like_original=False)
    # Latin-1 (ISO_IR 100, base's character set): the description names the
    # patient in bytes that are not the UTF-8 of the name
    lat = base(CT, uid(57), uid(58), uid(59), 8, "Müller^Hans", "PHIPIDLAT")
    lat.StudyDescription = "Kontrolle Müller links"
    lat.SeriesDescription = "Axial bone 1 mm"
    lat.save_as(os.path.join(out, "latin1.dcm"), write_like_original=False)


# ---- checks ----

class Checker:
    def __init__(self):
        self.failed = 0

    def ok(self, cond, what):
        print("%s: %s" % ("ok" if cond else "FAIL", what))
        if not cond:
            self.failed += 1


def stored(data_dir):
    out = {}
    for f in glob.glob(os.path.join(data_dir, "objects", "*", "*", "*.dcm")):
        ds = pydicom.dcmread(f)
        out[int(ds.InstanceNumber)] = (f, ds)
    return out


def is_mapped(v):
    return isinstance(v, str) and v.startswith("2.25.") and len(v) <= 64 and v[5] != "0"


def check_a(data_dir, sent_dir, table_path):
    c = Checker()
    st = stored(data_dir)
    planted = json.load(open(os.path.join(sent_dir, "planted.json")))
    f1, d1 = st[1]
    for code in CODES:
        if code not in planted:
            c.ok(False, "no sample attribute for code %s" % code)
            continue
        tag_hex, vr, v = planted[code]
        tag = int(tag_hex, 16)
        el = d1.get(tag)
        name = "%s %s (%s)" % (code, keyword_for_tag(tag), vr)
        val = None if el is None else el.value
        empty = el is not None and (val in (None, "", b"") or (vr == "SQ" and len(val) == 0))
        if code == "X":
            c.ok(el is None, "%s removed" % name)
        elif code == "Z":
            c.ok(empty, "%s emptied" % name)
        elif code == "U":
            c.ok(el is not None and is_mapped(str(val)), "%s replaced by a 2.25 UID" % name)
        elif code in ("D", "X/D", "Z/D", "X/Z/D"):
            allowed = (code != "D" and el is None) or (code in ("Z/D", "X/Z/D") and empty)
            dummy = el is not None and not empty and str(val) != v
            c.ok(allowed or dummy, "%s: %s" % (name, "dummy %r" % str(val) if dummy else "removed/empty"))
        elif code == "X/Z":
            c.ok(el is None or empty, "%s removed or emptied" % name)
        elif code == "X/Z/U*":
            ok = el is None or empty or all(is_mapped(str(i.ReferencedSOPInstanceUID)) for i in val)
            c.ok(ok, "%s: contained UIDs replaced" % name)
    # deep sequence
    deep = d1.CTAcquisitionTypeSequence[0].CTAcquisitionDetailsSequence[0].CTTableDynamicsSequence[0]
    c.ok(str(deep.PatientName) == str(d1.PatientName), "PHI three sequences deep: name pseudonymized")
    c.ok("StudyComments" not in deep, "PHI three sequences deep: comment removed")
    # private
    c.ok(all(e.tag.group != 0x0009 for e in d1), "unknown private creator block 11 removed")
    c.ok(all(e.tag.group != 0x0011 for e in d1), "private sequence holding study/series/SOP UIDs removed")
    c.ok(d1.get(0x20011103) is not None and abs(d1[0x20011103].value - 1000.0) < 1e-6
         and d1.get(0x20010011) is not None, "safe private element kept, matched by its creator")
    c.ok(d1.get(0x20011150) is None, "unsafe element in a safe creator's block removed")
    c.ok(d1.get(0x20011203) is None and d1.get(0x20010012) is None,
         "same element number under another creator removed")
    # multi-valued UIDs and consistency across objects
    f2, d2 = st[2]
    lst = list(d1.FailedSOPInstanceUIDList)
    c.ok(len(lst) == 2 and all(is_mapped(x) for x in lst), "multi-valued UI: every value mapped")
    c.ok(lst[0] == d2.SOPInstanceUID, "the same UID maps to the same value in another object")
    c.ok(d1.StudyInstanceUID == d2.StudyInstanceUID and is_mapped(d1.StudyInstanceUID),
         "study UID mapped consistently")
    c.ok(d1.file_meta.MediaStorageSOPInstanceUID == d1.SOPInstanceUID,
         "Media Storage SOP Instance UID equals the new SOP Instance UID")
    c.ok("SourceApplicationEntityTitle" not in d1.file_meta, "Source AE title not carried over")
    # names and character sets
    c.ok(str(d1.PatientName) == str(d2.PatientName) and str(d1.PatientName).startswith("ANONYMOUS^"),
         "stable pseudonymous name for one patient")
    f3, d3 = st[3]
    c.ok(str(d3.PatientName).startswith("ANONYMOUS^") and str(d3.PatientName) != str(d1.PatientName),
         "ISO 2022 IR 87 name replaced by another patient's pseudonym")
    c.ok(list(d3.SpecificCharacterSet) == ["", "ISO 2022 IR 87"] and
         d1.SpecificCharacterSet == "ISO_IR 100", "Specific Character Set kept")
    raw = open(f3, "rb").read()
    c.ok(b"\x1b$B" not in raw, "no ISO 2022 escape left behind by the replaced name")
    # marking
    c.ok(d1.PatientIdentityRemoved == "YES", "PatientIdentityRemoved YES")
    m = d1.DeidentificationMethod
    meth = [m] if isinstance(m, str) else list(m)
    c.ok("2024b" in meth[0], "DeidentificationMethod names the profile and edition: %r" % meth[0])
    codes = [i.CodeValue for i in d1.DeidentificationMethodCodeSequence]
    c.ok("113100" in codes and "113111" in codes and all(i.CodingSchemeDesignator == "DCM"
         for i in d1.DeidentificationMethodCodeSequence), "CID 7050 codes: %s" % codes)
    c.ok(d1.LongitudinalTemporalInformationModified == "REMOVED", "(0028,0303) REMOVED")
    c.ok(4 not in st, "the secondary capture (burned-in text possible) was not stored")
    print("stored instances: %s" % sorted(st))
    return c


def check_later(data_dir):
    c = Checker()
    st = stored(data_dir)
    d1, d5 = st[1][1], st[5][1]
    c.ok(d5.StudyInstanceUID == d1.StudyInstanceUID, "after a restart: same study UID")
    c.ok(d5.ReferencedImageSequence[0].ReferencedSOPInstanceUID == d1.SOPInstanceUID,
         "after a restart: reference to an earlier instance matches its new UID")
    c.ok(d5.ReferencedSeriesSequence[0].SeriesInstanceUID == d1.SeriesInstanceUID,
         "after a restart: reference to an earlier series matches its new UID")
    return c


def dt_parse(d, t):
    t = t.split(".")[0]
    t = (t + "0000")[:6]
    return datetime.datetime.strptime(d + t, "%Y%m%d%H%M%S")


def check_b(data_dir, sent_dir, offset):
    c = Checker()
    st = stored(data_dir)
    d = st[6][1]
    o = pydicom.dcmread(os.path.join(sent_dir, "dates.dcm"))
    off = datetime.timedelta(seconds=offset)
    for dk, tk in (("StudyDate", "StudyTime"), ("SeriesDate", "SeriesTime"), ("ContentDate", "ContentTime")):
        want = dt_parse(o.get(dk), o.get(tk)) + off
        t_orig = o.get(tk)
        n = len(t_orig.split(".")[0])
        frac = t_orig[len(t_orig.split(".")[0]):]
        got_ok = d.get(dk) == want.strftime("%Y%m%d") and \
            d.get(tk) == want.strftime("%H%M%S")[:n] + frac
        c.ok(got_ok, "%s/%s shifted together: %s %s -> %s %s" % (dk, tk, o.get(dk), o.get(tk), d.get(dk), d.get(tk)))
        c.ok(len(d.get(tk)) == len(o.get(tk)), "%s keeps its precision (%r)" % (tk, d.get(tk)))
    i1 = dt_parse(o.SeriesDate, o.SeriesTime) - dt_parse(o.StudyDate, o.StudyTime)
    i2 = dt_parse(d.SeriesDate, d.SeriesTime) - dt_parse(d.StudyDate, d.StudyTime)
    c.ok(i1 == i2, "interval across midnight preserved (%s)" % i2)
    c.ok(d.AcquisitionTime == (dt_parse(o.AcquisitionDate, "23") + off).strftime("%H")
         and len(d.AcquisitionTime) == 2, "TM with hour precision shifted: %s" % d.AcquisitionTime)
    want = (datetime.datetime(2024, 3, 15, 23, 15, 0) + off).strftime("%Y%m%d%H%M%S") + ".123456"
    c.ok(d.AcquisitionDateTime == want, "DT with fraction shifted: %s" % d.AcquisitionDateTime)
    endt = d.get(0x00189517)
    want = (datetime.datetime(2024, 3, 1) + off).strftime("%Y%m")
    c.ok(endt is not None and endt.value == want, "partial DT (month) shifted: %s" % (endt and endt.value))
    c.ok(d.LongitudinalTemporalInformationModified == "MODIFIED", "(0028,0303) MODIFIED")
    codes = [i.CodeValue for i in d.DeidentificationMethodCodeSequence]
    c.ok("113107" in codes and "113105" in codes, "codes for modified dates and clean descriptors")
    c.ok(d.get("StudyDescription") in (None, ""), "description naming the patient emptied")
    c.ok(d.get("SeriesDescription") == "Axial bone 1 mm", "harmless description kept")
    lat = st[8][1]
    c.ok(lat.get("StudyDescription") in (None, ""),
         "a Latin-1 description naming the patient (Müller) emptied")
    c.ok(lat.get("SeriesDescription") == "Axial bone 1 mm", "its harmless description kept")
    sc = st[7][1]
    c.ok(sc.PatientIdentityRemoved == "NO", "possible burned-in text: stored flagged, identity removed NO")
    return c


def outputs(data_dir, log):
    """Every file the node writes that must hold no identity: the whole
    data_dir but the vault, the key, originals/ (kept by design) and the
    copies made for the sender (they go back with the identity), plus the
    log."""
    files = []
    for root, dirs, names in os.walk(data_dir):
        rel = os.path.relpath(root, data_dir)
        if rel.split(os.sep)[0] == "originals" or os.sep + "sender" in os.sep + rel:
            continue
        for n in names:
            if n.startswith("vault.sqlite") or n == "secret.key":
                continue
            files.append(os.path.join(root, n))
    if log:
        files.append(log)
    return files


def phi_scan(data_dir, sent_dir, log=None):
    strings = set()
    for f in glob.glob(os.path.join(sent_dir, "*.dcm")):
        ds = pydicom.dcmread(f)
        for e in ds.iterall():
            v = e.value
            if e.VR in ("PN", "LO", "SH", "LT", "ST") and isinstance(v, (str, pydicom.valuerep.PersonName)):
                s = str(v)
                if "PHI" in s or "Müller" in s or "Yamada" in s:
                    strings.add(s.split("^")[0].split("=")[0])
            if e.VR == "UI" and str(v).startswith(ROOT):
                strings.add(str(v))
        strings.add(str(ds.PatientBirthDate))
    targets = set()
    for s in strings:
        for enc in ("ascii", "latin-1", "utf-8"):
            try:
                targets.add(s.encode(enc))
            except UnicodeEncodeError:
                pass
    targets.add("Jürgen".encode("latin-1"))
    targets.add("山田".encode("iso2022_jp")[3:-3])  # the JIS bytes without escapes
    files = outputs(data_dir, log)
    found = 0
    for f in files:
        b = open(f, "rb").read()
        for t in targets:
            if t in b:
                print("FAIL: %r found in %s" % (t, f))
                found += 1
    print("%s: %d planted strings searched in %d files (store, index, jobs, outbox, results, log)" %
          ("ok" if not found else "FAIL", len(targets), len(files)))
    return found


def main(a):
    cmd = a[1]
    if cmd == "write-a":
        write_a(a[2], a[3])
    elif cmd == "write-later":
        write_later(a[2], a[3])
    elif cmd == "write-b":
        write_b(a[2])
    elif cmd == "check-a":
        return 1 if check_a(a[2], a[3], a[4]).failed else 0
    elif cmd == "check-later":
        return 1 if check_later(a[2]).failed else 0
    elif cmd == "check-b":
        return 1 if check_b(a[2], a[3], int(a[4])).failed else 0
    elif cmd == "phi-scan":
        return 1 if phi_scan(a[2], a[3], a[4] if len(a) > 4 else None) else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
