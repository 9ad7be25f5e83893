#!/usr/bin/env python3
"""An HTTP proxy for fault-injection tests: sits on 127.0.0.1 in front of a real
registry and breaks every Nth request in a chosen way.

  fault_proxy.py --upstream 127.0.0.1:5000 --port-file F [--reset N] [--cut N]
                 [--status N:CODE [--retry-after SPEC]] [--wrong-digest] [--stall N:SECONDS]
                 [--log FILE]

  --reset N        every Nth request: read its headers, then reset the connection (RST)
  --cut N          every Nth response with a body over 4 KiB (counted on their own): send the
                   headers and half the body, then close the connection
  --retry-after SPEC
                   the Retry-After of --status answers: seconds (`2`), or `date:N`, an HTTP
                   date N seconds ahead (default: `1` for 429, none otherwise)
  --status N:CODE  every Nth request: answer CODE (429 gets Retry-After: 1) with a
                   registry-style error body, without forwarding it
  --wrong-digest   manifest PUT answers carry a wrong Docker-Content-Digest
  --stall N:S      every Nth request: wait S seconds before forwarding it
  --manifest-body FILE
                   answer every manifest GET with FILE's bytes (Content-Type from the
                   registry, no Docker-Content-Digest): hostile manifests

--reset, --status and --stall count every request the proxy receives; a request that
failed twice in a row (same method and path) is let through once, unless N is 1 (every
request fails). Only loopback is
ever contacted. Each fault is logged (one line per event) to --log.
"""
import argparse
import email.utils
import http.client
import http.server
import socket
import struct
import sys
import threading
import time

ARGS = None
LOCK = threading.Lock()
COUNT = 0
STREAK = {}  # (method, path) -> faults injected into it in a row
LARGE = 0


def log(msg):
    if ARGS.log:
        with open(ARGS.log, "a") as f:
            f.write(f"{time.time():.3f} {msg}\n")


def every(spec, n):
    return spec is not None and spec > 0 and n % spec == 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def read_body(self):
        """Yield the request body in pieces (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                piece = self.rfile.read(min(left, 1 << 20))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    def reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def handle_any(self):
        global COUNT
        with LOCK:
            COUNT += 1
            n = COUNT
        key = (self.command, self.path.split('?')[0])
        what = f"#{n} {key[0]} {key[1]}"
        reset = every(ARGS.reset, n)
        status = bool(ARGS.status) and every(ARGS.status[0], n)
        # A request that already failed twice in a row goes through: with parallel
        # requests, the retries of one request can otherwise keep landing on multiples of
        # N and exhaust any retry limit (the fault then tests luck, not recovery).
        always = ARGS.reset == 1 or bool(ARGS.status and ARGS.status[0] == 1)
        with LOCK:
            if (reset or status) and not always and STREAK.get(key, 0) >= 2:
                reset = status = False
            STREAK[key] = STREAK.get(key, 0) + 1 if (reset or status) else 0
        if reset:
            log(f"{what} reset")
            self.reset()
            return
        if status:
            for _ in self.read_body():
                pass
            code = ARGS.status[1]
            body = b'{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}'
            log(f"{what} status {code}")
            self.send_response(code)
            retry_after = ARGS.retry_after or ("1" if code == 429 else None)
            if retry_after and retry_after.startswith("date:"):
                ahead = time.time() + int(retry_after[5:])
                retry_after = email.utils.formatdate(ahead, usegmt=True)
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if ARGS.manifest_body and self.command == "GET" and "/manifests/" in self.path:
            for _ in self.read_body():
                pass
            with open(ARGS.manifest_body, "rb") as f:
                body = f.read()
            log(f"{what} hostile manifest")
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if ARGS.stall and every(ARGS.stall[0], n):
            log(f"{what} stall {ARGS.stall[1]}s")
            time.sleep(ARGS.stall[1])
        up = http.client.HTTPConnection(ARGS.upstream, timeout=120)
        up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        for k, v in self.headers.items():
            if k.lower() in ("connection", "keep-alive", "transfer-encoding", "proxy-connection"):
                continue
            up.putheader(k, v)
        if chunked:
            up.putheader("Transfer-Encoding", "chunked")
        up.endheaders()
        for piece in self.read_body():
            if chunked:
                up.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                up.send(piece)
        if chunked:
            up.send(b"0\r\n\r\n")
        resp = up.getresponse()
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in ("connection", "keep-alive", "transfer-encoding")]
        length = resp.getheader("Content-Length")
        if length is None and self.command != "HEAD" and resp.status not in (204, 304):
            data = resp.read()
            length = str(len(data))
            headers.append(("Content-Length", length))
        else:
            data = None
        if ARGS.wrong_digest and self.command == "PUT" and "/manifests/" in self.path:
            headers = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
            headers.append(("Docker-Content-Digest", "sha256:" + "0" * 64))
            log(f"{what} wrong digest")
        self.send_response(resp.status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            up.close()
            return
        global LARGE
        total = int(length or 0)
        cut = False
        if total > 4096 and 200 <= resp.status < 300:
            with LOCK:
                LARGE += 1
                cut = every(ARGS.cut, LARGE)
        limit = total // 2 if cut else total
        sent = 0
        if data is not None:
            self.wfile.write(data[:limit])
            sent = limit
        else:
            while sent < limit:
                piece = resp.read(min(1 << 20, limit - sent))
                if not piece:
                    break
                self.wfile.write(piece)
                sent += len(piece)
        up.close()
        if cut:
            log(f"{what} cut at {sent} of {total}")
            self.wfile.flush()
            self.reset()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def pair(s):
    a, b = s.split(":")
    return (int(a), float(b) if "." in b else int(b))


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--reset", type=int)
    p.add_argument("--cut", type=int)
    p.add_argument("--status", type=pair)
    p.add_argument("--stall", type=pair)
    p.add_argument("--retry-after")
    p.add_argument("--wrong-digest", action="store_true")
    p.add_argument("--manifest-body")
    p.add_argument("--log")
    ARGS = p.parse_args()
    host = ARGS.upstream.rsplit(":", 1)[0]
    if not (host.startswith("127.") or host == "localhost"):
        sys.exit("fault_proxy: upstream must be on loopback")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
