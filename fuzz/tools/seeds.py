#!/usr/bin/env python3
"""Cut seed inputs for the fuzz targets out of NuGet packages and signatures.

Usage:
  seeds.py p7s OUT_DIR PACKAGE.nupkg...
  seeds.py der OUT_TIMESTAMP_DIR OUT_CONTENT_DIR OUT_CERTIFICATE_DIR SIGNATURE.p7s...
  seeds.py nuspec OUT_NUSPEC_DIR OUT_VERSION_DIR PACKAGE.nupkg...
  seeds.py documents OUT_CONFIG_DIR OUT_FEED_DIR OUT_VERSION_DIR OUT_NUSPEC_DIR OUT_PACKAGE_DIR

`nuspec` writes the root `.nuspec` of every package to OUT_NUSPEC_DIR, and the versions,
version ranges and target frameworks it names (one per line, the way the feed_version target
splits its input) to OUT_VERSION_DIR.

`documents` writes hand-made seeds for the text formats no fixture carries: nuget.config files
(trustedSigners with authors, repositories, owners and `<clear />`, packageSources, signet's
keys, comments), v3 service indexes, RepositorySignatures resources and flat-container version
lists, version/range/framework strings, and nuspecs with dependency groups — each nuspec also
as a small deflated package in OUT_PACKAGE_DIR (dependency-rich seeds for the package targets).

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


NUSPEC_ROOT = lambda name: "/" not in name and "\\" not in name and name.lower().endswith(".nuspec")


def extract_nuspecs(nuspec_dir, version_dir, packages):
    import re

    os.makedirs(nuspec_dir, exist_ok=True)
    os.makedirs(version_dir, exist_ok=True)
    found = 0
    for path in packages:
        try:
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if NUSPEC_ROOT(n)]
                if len(names) != 1:
                    continue
                data = z.read(names[0])
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
            continue
        found += save(nuspec_dir, data)
        text = data.decode("utf-8", "replace")
        values = re.findall(r'(?:version|targetFramework)="([^"]*)"', text)
        values += re.findall(r"<version>([^<]*)</version>", text)
        if values:
            save(version_dir, "\n".join(dict.fromkeys(values)).encode())
    print(f"fuzz: seeds: nuspec: {found} manifests from {len(packages)} packages", file=sys.stderr)


FP256 = "3f9001ea83c560d712c24cf213c3d312cb3bff51ee89435d3430bde06766af2c"
FP384 = "0" * 96
FP512 = "ab" * 64

CONFIGS = [
    """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <!-- trust -->
  <packageSources>
    <clear />
    <add key="public" value="https://api.nuget.test/v3/index.json" protocolVersion="3" />
    <add key="local" value="packages" />
    <add key="insecure" value="http://127.0.0.1:5000/v3/index.json" allowInsecureConnections="true" />
  </packageSources>
  <config>
    <add key="signatureValidationMode" value="require" />
    <add key="signetTrustRoots" value="certs/root.pem; other.pem" />
    <add key="signetTrustRootsOnly" value="true" />
    <add key="signetSignaturePolicy" value="secure" />
  </config>
  <signetSourcePolicies>
    <add key="local" value="developer" />
  </signetSourcePolicies>
  <trustedSigners>
    <author name="microsoft">
      <certificate fingerprint="%s" hashAlgorithm="SHA256" allowUntrustedRoot="false" />
    </author>
    <repository name="public" serviceIndex="https://api.nuget.test/v3/index.json">
      <certificate fingerprint="%s" hashAlgorithm="SHA384" allowUntrustedRoot="true" />
      <certificate fingerprint="%s" hashAlgorithm="SHA512" />
      <owners>microsoft; aspnet;;nuget</owners>
    </repository>
  </trustedSigners>
</configuration>
""" % (FP256, FP384, FP512),
    """\ufeff<configuration><trustedSigners><clear/><author name="a &amp; b"><certificate fingerprint="%s" hashAlgorithm="sha256" allowUntrustedRoot="TRUE"/></author><author name="A &amp; B"><certificate fingerprint="%s" hashAlgorithm="SHA256"/></author><repository name="r" serviceIndex="https://x.test/index.json"><certificate fingerprint="%s" hashAlgorithm="SHA256"/><owners>o1<!-- c -->;o2</owners></repository></trustedSigners><config><add key="signatureValidationMode" value="0"/></config></configuration>""" % (FP256, FP256.upper(), FP256),
    """<configuration>
  <packageSources><add key="a" value="https://a.test/index.json"/><add key="a" value="https://b.test/index.json"/></packageSources>
  <disabledPackageSources><add key="a" value="true"/></disabledPackageSources>
  <packageSourceCredentials><a><add key="Username" value="u"/><add key="ClearTextPassword" value="p"/></a></packageSourceCredentials>
  <unknown x="1">text <![CDATA[<raw>]]> &#x41;&lt;</unknown>
</configuration>
""",
    """<?xml version="1.0"?><configuration><trustedSigners><repository name="x" serviceIndex="https://x.test/index.json"><certificate fingerprint="%s" hashAlgorithm="SHA256"/></repository><repository name="y" serviceIndex="HTTPS://X.TEST/index.json"><certificate fingerprint="%s" hashAlgorithm="SHA256"/></repository></trustedSigners></configuration>""" % (FP256, FP256),
    """<!DOCTYPE configuration [<!ENTITY a "aaaa">]><configuration>&a;</configuration>""",
]

INDEXES = [
    """{"version":"3.0.0","resources":[
{"@id":"https://feed.test/v3/flat/","@type":"PackageBaseAddress/3.0.0","comment":"flat"},
{"@id":"https://feed.test/v3/signatures.json","@type":["RepositorySignatures/5.0.0","RepositorySignatures/4.9.0"]},
{"@id":"https://feed.test/v3/registration/","@type":"RegistrationsBaseUrl/3.6.0"},
{"@id":"https://feed.test/v3/search","@type":"SearchQueryService"}]}""",
    """{"version":"3.1.0-beta","resources":[{"@id":"http://127.0.0.1:9/flat","@type":" PackageBaseAddress/3.0.0 "},{"@type":"RepositorySignatures/4.7.0"},{"@id":"http://127.0.0.1:9/sigs.json","@type":"RepositorySignatures/4.7.0"}]}""",
    """{"version":"2.0.0","resources":[]}""",
]

SIGNATURES = [
    """{"allRepositorySigned":true,"signingCertificates":[{"fingerprints":{"2.16.840.1.101.3.4.2.1":"%s","2.16.840.1.101.3.4.2.2":"%s"},"subject":"CN=NuGet.org Repository by Microsoft, O=NuGet.org","issuer":"CN=DigiCert SHA2 Assured ID Code Signing CA","notBefore":"2018-04-10T00:00:00.0000000Z","notAfter":"2021-04-14T12:00:00.0000000Z","contentUrl":"https://feed.test/certs/a.crt"}]}""" % (FP256, FP384),
    """{"allRepositorySigned":false,"signingCertificates":[]}""",
    """{"allRepositorySigned":false,"signingCertificates":[{"fingerprints":{"2.16.840.1.101.3.4.2.3":"%s"},"subject":"s","issuer":"i","notBefore":"n","notAfter":"a","contentUrl":"http://127.0.0.1/c.crt"}]}""" % FP512,
]

VERSION_LISTS = [
    """{"versions":["1.0.0","1.0.0-beta","1.0.0-Beta.2","1.0.0-beta.11","2.0.0.1","1.0.0+build","01.2.3","not a version","1.0.0-rc.1"]}""",
    """{"versions":[]}""",
    """{"versions":["9.0.2-beta1","13.0.3","4.7.2","1.0.0-alpha.beta.1"],"extra":1}""",
]

VERSION_TEXT = [
    "1.0\n1.0.0.0\n01.02.03.04-Beta.01+meta\n1.0.0-alpha.1\n1.2.3-a-b.c\n18446744073709551615.0\n1.0.0-",
    "[1.0]\n[1.0,2.0)\n(,2.0]\n(1.0,)\n 1.0 \n[1.0.0-beta, 1.0.0]\n(1.0)\n[2.0,1.0]\n1.*\n[,]",
    "net8.0\nnet8.0-windows10.0.19041\nnetstandard2.0\n.NETStandard,Version=v2.1\nnet472\n.NETFramework4.6.1\nnetcoreapp3.1\nnative\nnet5.0-android\nuap10.0",
]

NUSPECS = [
    """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata minClientVersion="2.12">
    <id> Fuzz.Package </id>
    <version>01.2.3-Beta.1+build</version>
    <authors>a</authors>
    <dependencies>
      <group targetFramework=".NETFramework4.6.2">
        <dependency id="System.Memory" version="4.5.5" exclude="Build,Analyzers" />
        <dependency id="A" version="[1.0,2.0)" />
      </group>
      <group targetFramework="net8.0">
        <dependency id="B" version="(,3.0]" />
        <dependency id="C" />
      </group>
      <group targetFramework="netstandard2.0-windows" />
      <group>
        <dependency id="D" version="[1.0.0-beta]" />
      </group>
    </dependencies>
  </metadata>
</package>
""",
    """<package><metadata><id>Flat</id><version>1.0</version><dependencies><dependency id="E" version="1.0"/><dependency id="F" version="[1.0.0, )"/></dependencies></metadata></package>""",
    """<?xml version="1.0" encoding="utf-16"?><package><metadata><id>x</id><version>1.0.0</version></metadata></package>""",
    """<!DOCTYPE package [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><package><metadata><id>&b;</id><version>1.0.0</version></metadata></package>""",
    """<ns:package xmlns:ns="urn:x"><ns:metadata><ns:id>&#x41;&amp;</ns:id><ns:version>1.0.0.0</ns:version><ns:dependencies><ns:group targetFramework="net45"><ns:dependency id="G" version="2.*"/></ns:group></ns:dependencies></ns:metadata></ns:package>""",
]


def documents(config_dir, feed_dir, version_dir, nuspec_dir, package_dir):
    import io

    for d in (config_dir, feed_dir, version_dir, nuspec_dir, package_dir):
        os.makedirs(d, exist_ok=True)
    n = 0
    for text in CONFIGS:
        n += save(config_dir, text.encode("utf-8"))
    for text in INDEXES + SIGNATURES + VERSION_LISTS:
        n += save(feed_dir, text.encode("utf-8"))
    for text in VERSION_TEXT:
        n += save(version_dir, text.encode("utf-8"))
    for text in NUSPECS:
        n += save(nuspec_dir, text.encode("utf-8"))
    n += save(nuspec_dir, NUSPECS[2].encode("utf-16"))
    for text in NUSPECS[:2]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            # A fixed timestamp: the same seed every run.
            for name, data in (("Fuzz.Package.nuspec", text.encode()), ("lib/net8.0/Fuzz.dll", b"MZ")):
                z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
        n += save(package_dir, buf.getvalue())
    print(f"fuzz: seeds: documents: {n} hand-made seeds", file=sys.stderr)


def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "p7s":
        extract_p7s(args[1], args[2:])
    elif len(args) >= 4 and args[0] == "der":
        cut_der(args[1], args[2], args[3], args[4:])
    elif len(args) >= 3 and args[0] == "nuspec":
        extract_nuspecs(args[1], args[2], args[3:])
    elif len(args) == 6 and args[0] == "documents":
        documents(args[1], args[2], args[3], args[4], args[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
