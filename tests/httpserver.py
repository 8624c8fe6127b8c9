"""A loopback HTTP file server for offline tests (127.0.0.1 only, bounded).

Serves files from a folder. Knobs the test can flip while it runs:

- ``support_range``: honour ``Range: bytes=N-`` with 206 (else answer 200);
- ``cut_after``: send only this many body bytes of the next response, then
  drop the connection (``cut_times`` responses are cut, then it behaves);
- ``fail_status``/``fail_times``: answer the next requests with an error code
  (with a ``Retry-After: <retry_after>`` header when ``retry_after`` is set);
- ``stall``/``stall_times``: after the headers and half the body, pause that
  many seconds (a client with a shorter timeout gives up).

``requests`` records (path, Range header, status) of every request.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FileServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.support_range = True
        self.cut_after: int | None = None
        self.cut_times = 1
        self.fail_status: int | None = None
        self.fail_times = 0
        self.retry_after: str | None = None
        self.stall = 0.0
        self.stall_times = 0
        self.requests: list[tuple[str, str | None, int]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def __enter__(self) -> "FileServer":
        server = self
        handler = type("Handler", (_Handler,), {"server_state": server})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.timeout = 5
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def url(self, name: str) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    @property
    def range_requests(self) -> list[str]:
        return [r for _, r, _ in self.requests if r]


class _Handler(BaseHTTPRequestHandler):
    server_state: FileServer
    protocol_version = "HTTP/1.1"
    timeout = 5  # per-connection socket timeout: a stuck client cannot hang the test

    def log_message(self, *args) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        st = self.server_state
        rng = self.headers.get("Range")
        with st._lock:
            if st.fail_times > 0 and st.fail_status:
                st.fail_times -= 1
                st.requests.append((self.path, rng, st.fail_status))
                if st.retry_after is not None:
                    self.send_response(st.fail_status)
                    self.send_header("Retry-After", st.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_error(st.fail_status)
                return
            cut, stall = None, 0.0
            if st.stall and st.stall_times > 0:
                st.stall_times -= 1
                stall = st.stall
            if st.cut_after is not None and st.cut_times > 0:
                st.cut_times -= 1
                cut = st.cut_after
        path = (st.root / self.path.lstrip("/")).resolve()
        if not path.is_file() or st.root.resolve() not in path.parents:
            st.requests.append((self.path, rng, 404))
            self.send_error(404)
            return
        data = path.read_bytes()
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and st.support_range:
            start = int(m.group(1))
            if start >= len(data):
                st.requests.append((self.path, rng, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        st.requests.append((self.path, rng, status))
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes" if st.support_range else "none")
        self.end_headers()
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        if stall:
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            time.sleep(stall)
            with contextlib.suppress(OSError):
                self.wfile.write(body[half:])
            return
        self.wfile.write(body)
