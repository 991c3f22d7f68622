"""A throwaway CA, server and client certificates (openssl), and a TLS redis-server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from btgym.live.localredis import LocalRedis, tls_capable_binaries
from btgym.live.redisurl import TLSConfig

EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def make_certs(d: Path) -> dict[str, str]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ca = ("-subj", "/CN=btgym-test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-x509", *EC_KEY, "-days", "1", *ca)
    for who in ("server", "client"):
        run("req", *EC_KEY, "-subj", f"/CN={who}", "-keyout", f"{who}.key", "-out", f"{who}.csr")
        (d / f"{who}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        sign = ("-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1")
        run(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            *sign,
            "-extfile",
            f"{who}.ext",
            "-out",
            f"{who}.crt",
        )
    names = ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")
    return {k: str(d / k) for k in names}


def tls_server_or_skip(tmp: Path) -> tuple[LocalRedis, TLSConfig]:
    binaries = tls_capable_binaries()
    if not binaries or shutil.which("openssl") is None:
        pytest.skip("TLS test needs a TLS-capable redis-server (Debian's 7.x) and openssl")
    certs = make_certs(tmp)
    args = [
        "--tls-cert-file",
        certs["server.crt"],
        "--tls-key-file",
        certs["server.key"],
        "--tls-ca-cert-file",
        certs["ca.crt"],
        "--tls-auth-clients",
        "yes",
    ]
    server = LocalRedis(binaries[0], args=args, tls=True).start()
    tls = TLSConfig(ca=certs["ca.crt"], cert=certs["client.crt"], key=certs["client.key"])
    return server, tls
