"""Builds a wheel or an sdist by hand, with no build backend:
`python build_dist.py OUTDIR NAME VERSION wheel|sdist [REQUIRES-DIST ...]`; prints its path."""
import base64, hashlib, io, os, re, sys, tarfile, zipfile

out, name, version, kind, *reqs = sys.argv[1:]
# File and module names: the project's name normalised with underscores (PEP 427, PEP 625).
module = re.sub(r"[-_.]+", "_", name).lower()
dist = f"{module}-{version}"
meta = "".join([
    "Metadata-Version: 2.1\n", f"Name: {name}\n", f"Version: {version}\n",
    f"Summary: {name} for Trove's e2e tests\n", "Requires-Python: >=3.8\n",
    *[f"Requires-Dist: {r}\n" for r in reqs], "\n",
])
code = f"NAME = {name!r}\nVERSION = {version!r}\n"
if kind == "wheel":
    path = os.path.join(out, f"{dist}-py3-none-any.whl")
    files = {
        f"{module}/__init__.py": code,
        f"{dist}.dist-info/METADATA": meta,
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: trove-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for p, body in files.items():
        d = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={d},{len(body.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, body in files.items():
            info = zipfile.ZipInfo(p, date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, body)
else:
    path = os.path.join(out, f"{dist}.tar.gz")
    with tarfile.open(path, "w:gz") as t:
        for p, body in {f"{dist}/PKG-INFO": meta, f"{dist}/{module}/__init__.py": code}.items():
            data = body.encode()
            info = tarfile.TarInfo(p)
            info.size = len(data)
            info.mtime = 1767225600
            t.addfile(info, io.BytesIO(data))
print(path)
