"""A local HTTP server that speaks the parts of the Hugging Face hub's file API that huggingface_hub uses to
download (HF_ENDPOINT points at it): the recursive tree listing and `resolve` with HEAD, GET and Range.

`FakeHub({repo_id: folder})` serves each folder's files as that repo's `main` revision. Knobs for tests:
`chunk_delay_s` (slow transfers, so a download can be caught mid-file), `cut_once` ({filename: n_bytes}: drop
the connection once after that many bytes), `stop()` (the server goes away). `requests` logs (method, path,
Range header).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 16 * 1024


class FakeHub:
    def __init__(self, repos: dict[str, Path], chunk_delay_s: float = 0.0) -> None:
        self.repos = {r: Path(p) for r, p in repos.items()}
        self.chunk_delay_s = chunk_delay_s
        self.cut_once: dict[str, int] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.gone = False
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                hub._serve(self, head=True)

            def do_GET(self) -> None:  # noqa: N802
                hub._serve(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The server goes away: transfers in flight drop, new connections are refused."""
        self.gone = True
        self.server.shutdown()
        self.server.server_close()

    # -- the API --------------------------------------------------------------------------------------------------
    def files(self, repo_id: str) -> list[tuple[str, int]]:
        root = self.repos[repo_id]
        return sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if p.is_file())

    def _serve(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlparse(h.path).path)
        with self._lock:
            self.requests.append(("HEAD" if head else "GET", path, h.headers.get("Range")))
        if path.startswith("/api/models/") and "/tree/" in path:
            repo_id = path[len("/api/models/"):].split("/tree/")[0]
            if repo_id not in self.repos:
                return self._error(h, 404, "RepoNotFound")
            items = [{"type": "file", "path": n, "size": s, "oid": _oid(self.repos[repo_id] / n)}
                     for n, s in self.files(repo_id)]
            return self._send(h, 200, json.dumps(items).encode(), {"Content-Type": "application/json"}, head)
        if "/resolve/" in path:
            repo_id, rest = path.lstrip("/").split("/resolve/", 1)
            filename = rest.split("/", 1)[1]
            file = self.repos.get(repo_id, Path("/nonexistent")) / filename
            if not file.is_file():
                return self._error(h, 404, "EntryNotFound")
            return self._send_file(h, file, filename, head)
        return self._error(h, 404, "RepoNotFound")

    def _send_file(self, h: BaseHTTPRequestHandler, file: Path, filename: str, head: bool) -> None:
        data = file.read_bytes()
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
        body = data[start:]
        headers = {"ETag": f'"{_oid(file)}"', "X-Repo-Commit": COMMIT, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if head:
            return self._send(h, 200, data, headers, head=True)
        cut = self.cut_once.pop(filename, None)
        h.send_response(206 if start else 200)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        sent = 0
        try:
            while sent < len(body):
                n = CHUNK if cut is None else min(CHUNK, cut - sent)
                if n <= 0 or self.gone:
                    h.close_connection = True
                    h.connection.shutdown(2)  # the connection drops mid-file
                    return
                h.wfile.write(body[sent:sent + n])
                sent += n
                if self.chunk_delay_s:
                    time.sleep(self.chunk_delay_s)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return

    def _send(self, h, code: int, body: bytes, headers: dict, head: bool) -> None:
        h.send_response(code)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _error(self, h, code: int, kind: str) -> None:
        body = json.dumps({"error": kind}).encode()
        self._send(h, code, body, {"Content-Type": "application/json", "X-Error-Code": kind}, head=False)


def _oid(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()
