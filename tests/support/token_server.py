#!/usr/bin/env python3
"""A minimal Docker registry token server for flow's test environment.

It implements the "Docker Registry v2 token authentication" flow that
distribution (docker-registry 2.8) expects when its config has
`auth: token: {realm, service, issuer, rootcertbundle}`:

    GET /token?service=SERVICE&scope=repository:NAME:pull,push[&scope=...]
    Authorization: Basic base64(user:password)        (optional)

 * Wrong credentials (or a non-Basic Authorization header) -> 401.
 * Correct credentials -> every requested action is granted.
 * No Authorization header at all -> anonymous token with an empty access
   list (what real registries hand out for anonymous pulls of private repos:
   the registry then answers 401/403 for the repository itself).
 * The --reader user (same password) -> only `pull` is granted: a read-only
   account, whose token does not allow a push.

The answer is `{"token": JWT, "access_token": JWT, "expires_in": LIFETIME,
"issued_at": ...}` (LIFETIME: --lifetime, default 300 s; the JWT's `exp` is
issued_at + LIFETIME). The JWT is RS256-signed by running
`openssl dgst -sha256 -sign KEY` (python's stdlib has no RSA), and its header
carries `x5c` = [base64 DER of the signing certificate], which the registry
checks against the certificates of its `rootcertbundle`.

Only the standard library is used, so the test environment needs nothing
beyond python3 and openssl. The server logs one line per request to stderr,
and never the password nor the Authorization header. With --record FILE it
also appends one JSON line per request to FILE: {"time", "path", "scopes",
"authorization" (true if the request carried an Authorization header at
all, whatever its value), "user", "status", "issued" (true if a token was
issued)}: what tests check to prove a client did or did not send
credentials, or fetched a new token.

Usage:
    token_server.py --key token.key --cert token.crt --service S --issuer I \
        [--host 127.0.0.1] [--port 0] [--port-file FILE] \
        [--user flowtoken] [--password PW]   (or env FLOW_TEST_TOKEN_PASSWORD)
        [--reader flowreader] [--lifetime SECONDS] [--record FILE]

With --port 0 the kernel picks a free port; --port-file receives the port
once the socket is bound (and so is already accepting connections).
"""

import argparse
import base64
import binascii
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading
from urllib.parse import parse_qs, urlsplit

RECORD_LOCK = threading.Lock()

TOKEN_LIFETIME = 300  # seconds, also sent as expires_in (default of --lifetime)


def b64url(data: bytes) -> str:
    """JWT segments are unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def cert_der_b64(cert_path: str) -> str:
    """Standard (not url-safe) base64 of the certificate's DER, as x5c wants."""
    with open(cert_path, "r", encoding="ascii") as f:
        pem = f.read()
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = pem.index(begin) + len(begin)
    stop = pem.index(end, start)
    der = base64.b64decode("".join(pem[start:stop].split()))
    return base64.b64encode(der).decode("ascii")


def parse_scope(scope: str):
    """`type:name:actions` -> {type, name, actions}, or None if malformed.

    The type ends at the first ':' and the actions start after the last ':',
    so names that contain ':' (e.g. a registry host with a port) survive.
    """
    first, last = scope.find(":"), scope.rfind(":")
    if first < 0 or first == last:
        return None
    typ, name, actions = scope[:first], scope[first + 1 : last], scope[last + 1 :]
    if not typ or not name:
        return None
    return {
        "type": typ,
        "name": name,
        "actions": [a for a in actions.split(",") if a],
    }


class TokenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, args, password):
        super().__init__(addr, TokenHandler)
        self.args = args
        self.password = password
        self.x5c = [cert_der_b64(args.cert)]

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "x5c": self.x5c}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.args.key],
            input=signing_input.encode("ascii"),
            capture_output=True,
            check=True,
        ).stdout
        return signing_input + "." + b64url(sig)


class TokenHandler(BaseHTTPRequestHandler):
    server_version = "flow-test-token-server/1"
    protocol_version = "HTTP/1.1"

    # The default log_message prints the request line; we log our own line
    # instead (see log), so silence it.
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def record(self, status, user: str, issued: bool = False, body_secret: bool = False):
        """One JSON line in --record FILE (no secret: only whether a header was there)."""
        path = self.server.args.record
        if not path:
            return
        url = urlsplit(self.path)
        line = json.dumps(
            {
                "time": round(time.time(), 3),
                "path": url.path,
                "scopes": parse_qs(url.query).get("scope", []),
                "authorization": self.headers.get("Authorization") is not None or body_secret,
                "user": user or "",
                "status": status,
                "issued": issued,
            }
        )
        with RECORD_LOCK, open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def log(self, status, user: str, note: str = ""):
        # Never log the password or the Authorization header: only the
        # path/query (scopes are not secret), the user name and the outcome.
        sys.stderr.write(
            "%s token-server: %s %s -> %s user=%s%s\n"
            % (
                time.strftime("%Y-%m-%dT%H:%M:%S"),
                self.command,
                self.path,
                status,
                user or "-",
                (" " + note) if note else "",
            )
        )
        sys.stderr.flush()
        if status != "-":
            self.record(status, user, issued=note.startswith(("anonymous", "granted=")))

    def send_json(self, status: int, body: dict, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def unauthorized(self, user: str, why: str):
        self.log(401, user, why)
        self.send_json(
            401,
            {"errors": [{"code": "UNAUTHORIZED", "message": why}]},
            [("WWW-Authenticate", 'Basic realm="flow-test-token-server"')],
        )

    def do_POST(self):
        """The OAuth2 form grants are not implemented: recorded (a refresh token or a
        password in the form counts as credentials) and refused."""
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        secret = "refresh_token" in form or "password" in form
        self.record(400, "", body_secret=secret)
        self.send_json(400, {"error": "unsupported_grant_type"})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            self.log(200, "")
            self.send_json(200, {"ok": True})
            return
        if url.path != "/token":
            self.log(404, "")
            self.send_json(404, {"errors": [{"code": "NOT_FOUND"}]})
            return

        query = parse_qs(url.query, keep_blank_values=True)
        args = self.server.args

        # A client must echo back the service from the registry's challenge;
        # a wrong one is a client bug we want tests to notice.
        service = query.get("service", [args.service])[-1]
        if service != args.service:
            self.log(400, "", "wrong service %r" % service)
            self.send_json(400, {"errors": [{"code": "INVALID_SERVICE"}]})
            return

        auth = self.headers.get("Authorization")
        user = ""
        authenticated = False
        reader = False
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "basic":
                self.unauthorized("", "unsupported authorization scheme")
                return
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                self.unauthorized("", "malformed basic credentials")
                return
            # The password may itself contain ':'; the user name may not.
            user, sep, password = decoded.partition(":")
            reader = bool(args.reader) and hmac.compare_digest(
                user.encode(), args.reader.encode()
            )
            ok_user = reader or hmac.compare_digest(user.encode(), args.user.encode())
            ok_pass = hmac.compare_digest(
                password.encode(), self.server.password.encode()
            )
            if not (sep and ok_user and ok_pass):
                self.unauthorized(user, "bad credentials")
                return
            authenticated = True

        access = []
        for scope in query.get("scope", []):
            # One scope param may itself hold several space-separated scopes.
            for item in scope.split():
                parsed = parse_scope(item)
                if parsed is None:
                    self.log("-", user, "ignoring malformed scope %r" % item)
                    continue
                if authenticated and reader:
                    parsed["actions"] = [a for a in parsed["actions"] if a == "pull"]
                if authenticated:
                    access.append(parsed)

        now = int(time.time())
        claims = {
            "iss": args.issuer,
            "sub": user if authenticated else "",
            "aud": args.service,
            "exp": now + args.lifetime,
            "nbf": now - 10,  # a little slack for clock differences
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        try:
            token = self.server.sign(claims)
        except subprocess.CalledProcessError as e:
            self.log(500, user, "openssl failed: %s" % e.stderr.decode(errors="replace"))
            self.send_json(500, {"errors": [{"code": "SIGNING_FAILED"}]})
            return

        granted = ";".join(
            "%s:%s:%s" % (a["type"], a["name"], ",".join(a["actions"])) for a in access
        )
        self.log(200, user, "anonymous" if not authenticated else "granted=" + (granted or "-"))
        self.send_json(
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": args.lifetime,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            },
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--key", required=True, help="PEM RSA private key for RS256")
    p.add_argument("--cert", required=True, help="PEM certificate of that key (x5c)")
    p.add_argument("--service", required=True, help="aud claim; registry's auth.token.service")
    p.add_argument("--issuer", required=True, help="iss claim; registry's auth.token.issuer")
    p.add_argument("--user", default="flowtoken")
    p.add_argument("--reader", help="a user (same password) granted only pull")
    p.add_argument("--lifetime", type=int, default=TOKEN_LIFETIME, help="token lifetime, seconds")
    p.add_argument("--record", help="append one JSON line per request to this file")
    p.add_argument(
        "--password",
        default=os.environ.get("FLOW_TEST_TOKEN_PASSWORD"),
        help="default: $FLOW_TEST_TOKEN_PASSWORD (preferred: keeps it out of ps)",
    )
    args = p.parse_args()
    if not args.password:
        p.error("a password is required (--password or $FLOW_TEST_TOKEN_PASSWORD)")
    if args.host not in ("127.0.0.1", "localhost"):
        p.error("the test token server only listens on loopback")

    server = TokenServer((args.host, args.port), args, args.password)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)  # atomic: readers never see a partial file
    sys.stderr.write("token-server: listening on http://%s:%d/token\n" % (args.host, port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
