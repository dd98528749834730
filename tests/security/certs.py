"""Throwaway X.509 material for the TLS tests, made with the `openssl` command line (no extra dependency).

`make_pki(dir)` writes a test CA, a server certificate for localhost/127.0.0.1, two client
certificates signed by the CA (CN `allowed-engine` and `other-engine`) and one self-signed
client certificate (`rogue-engine`), each as `<name>.crt` / `<name>.key` PEM files.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pki", "make_pki"]


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]
    """name -> (certificate, key)"""


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("the openssl command line is required by the TLS tests")
    subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(dir_: Path, name: str, cn: str, ext: str) -> tuple[Path, Path]:
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=dir_)
    (dir_ / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "2", "-sha256", "-extfile", f"{name}.ext", cwd=dir_)
    return dir_ / f"{name}.crt", dir_ / f"{name}.key"


def make_pki(dir_: Path) -> Pki:
    dir_.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=sepsis-alert test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=dir_)
    server_cert, server_key = _signed(dir_, "server", "localhost",
                                      "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    clients = {cn: _signed(dir_, cn, cn, "extendedKeyUsage=clientAuth\n")
               for cn in ("allowed-engine", "other-engine")}
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue-engine.key", "-out",
             "rogue-engine.crt", "-days", "2", "-subj", "/CN=allowed-engine", cwd=dir_)
    clients["rogue-engine"] = (dir_ / "rogue-engine.crt", dir_ / "rogue-engine.key")
    return Pki(dir_ / "ca.crt", server_cert, server_key, clients)
