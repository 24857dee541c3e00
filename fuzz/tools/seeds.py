#!/usr/bin/env python3
"""Cut seed inputs for the fuzz targets out of NuGet packages and signatures.

Usage:
  seeds.py p7s OUT_DIR PACKAGE.nupkg...
  seeds.py der OUT_TIMESTAMP_DIR OUT_CONTENT_DIR OUT_CERTIFICATE_DIR SIGNATURE.p7s...

`p7s` writes the `.signature.p7s` entry of every signed package to OUT_DIR (Python's zipfile,
so no unzip is needed on the machine).

`der`: for every RFC 3161 timestamp token (attribute 1.2.840.113549.1.9.16.2.14, on the primary signer
and on a repository countersignature alike) it writes the token and the TSTInfo inside it to
OUT_TIMESTAMP_DIR; for every id-data eContent (the NuGet signature content, spec §2.2) it writes
the content to OUT_CONTENT_DIR; every certificate of the signature's and the tokens' SignedData
goes to OUT_CERTIFICATE_DIR as DER, and each SignedData's certificates once more as one PEM
bundle. (`openssl pkcs7 -print_certs` cannot do this: it rejects the CMS v3 SignerInfos,
subjectKeyIdentifier signer ids, that almost every NuGet signature uses.) Files are named by the SHA-1 of their bytes, as libFuzzer names
corpus entries, so running this twice adds nothing.

The walk is a byte search for the attribute OIDs followed by definite-length DER; anything else
(the indefinite-length BER some real packages use) is skipped, not an error: these are seeds.
"""

import base64
import hashlib
import os
import sys
import zipfile

# OID TLVs (tag, length, value).
TIMESTAMP_TOKEN = bytes.fromhex("060b2a864886f70d010910020e")
TST_INFO = bytes.fromhex("060b2a864886f70d0109100104")
DATA = bytes.fromhex("06092a864886f70d010701")


def tlv(buf, pos):
    """Returns (tag, start of value, end of value) of the definite-length TLV at pos, or None."""
    if pos + 2 > len(buf):
        return None
    tag = buf[pos]
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80 or first > 0x84:
        return None  # indefinite length (BER) or absurd: not a seed we can cut
    else:
        n = first & 0x7F
        if pos + n > len(buf):
            return None
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > len(buf):
        return None
    return tag, pos, pos + length


def occurrences(buf, needle):
    i = buf.find(needle)
    while i >= 0:
        yield i + len(needle)
        i = buf.find(needle, i + 1)


def timestamp_tokens(sig):
    for after in occurrences(sig, TIMESTAMP_TOKEN):
        s = tlv(sig, after)  # SET OF AttributeValue
        if s is None or s[0] != 0x31:
            continue
        t = tlv(sig, s[1])  # ContentInfo
        if t is None or t[0] != 0x30:
            continue
        yield sig[s[1] : t[2]]


def econtents(buf, oid):
    """The OCTET STRING value inside `[0] EXPLICIT` right after each occurrence of oid."""
    for after in occurrences(buf, oid):
        wrapper = tlv(buf, after)
        if wrapper is None or wrapper[0] != 0xA0:
            continue
        octets = tlv(buf, wrapper[1])
        if octets is None or octets[0] != 0x04:
            continue
        yield buf[octets[1] : octets[2]]


def children(buf, start, end):
    """The definite-length TLVs between start and end, as (tag, TLV start, value start, end)."""
    pos = start
    while pos < end:
        t = tlv(buf, pos)
        if t is None or t[2] > end:
            return
        yield t[0], pos, t[1], t[2]
        pos = t[2]


def signed_data_certificates(content_info):
    """The certificates of a ContentInfo holding SignedData (RFC 5652 §5.1), as DER."""
    outer = tlv(content_info, 0)
    if outer is None or outer[0] != 0x30:
        return []
    parts = list(children(content_info, outer[1], outer[2]))
    if len(parts) != 2 or parts[1][0] != 0xA0:
        return []
    signed = tlv(content_info, parts[1][2])
    if signed is None or signed[0] != 0x30:
        return []
    for tag, _, start, end in children(content_info, signed[1], signed[2]):
        if tag == 0xA0:  # certificates [0] IMPLICIT CertificateSet
            return [
                content_info[tlv_start:tlv_end]
                for (t, tlv_start, _, tlv_end) in children(content_info, start, end)
                if t == 0x30
            ]
    return []


def pem(ders):
    out = []
    for der in ders:
        b64 = base64.b64encode(der).decode()
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        out.append("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n")
    return "".join(out).encode()


def save(directory, data):
    name = hashlib.sha1(data).hexdigest()
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        return 1
    return 0


def extract_p7s(out_dir, packages):
    os.makedirs(out_dir, exist_ok=True)
    found = 0
    for path in packages:
        try:
            with zipfile.ZipFile(path) as z:
                data = z.read(".signature.p7s")
        except (KeyError, zipfile.BadZipFile):
            continue  # unsigned, or not a zip the stdlib reads
        found += save(out_dir, data)
    print(f"fuzz: seeds: p7s: {found} signatures from {len(packages)} packages", file=sys.stderr)


def save_certificates(cert_dir, content_info):
    certs = signed_data_certificates(content_info)
    if not certs:
        return 0
    save(cert_dir, pem(certs))
    return sum(save(cert_dir, c) for c in certs)


def cut_der(ts_dir, content_dir, cert_dir, signatures):
    for d in (ts_dir, content_dir, cert_dir):
        os.makedirs(d, exist_ok=True)
    tokens = infos = contents = certs = 0
    for path in signatures:
        with open(path, "rb") as f:
            sig = f.read()
        for content in econtents(sig, DATA):
            contents += save(content_dir, content)
        certs += save_certificates(cert_dir, sig)
        for token in timestamp_tokens(sig):
            tokens += save(ts_dir, token)
            certs += save_certificates(cert_dir, token)
            for info in econtents(token, TST_INFO):
                infos += save(ts_dir, info)
    print(
        f"fuzz: seeds: der: {tokens} timestamp tokens, {infos} TSTInfo, {contents} signature contents,"
        f" {certs} certificates",
        file=sys.stderr,
    )


def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "p7s":
        extract_p7s(args[1], args[2:])
    elif len(args) >= 4 and args[0] == "der":
        cut_der(args[1], args[2], args[3], args[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
