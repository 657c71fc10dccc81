"""Network peers that misbehave on demand, on loopback: a TCP proxy to cut, a server that never answers,
and an HTTP proxy that counts what passes through it to a real Label Studio.

Outages are made with these, never by stopping the shared Redis or PostgreSQL of the machine.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


def _listener(port: int = 0) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    return server


class TcpProxy:
    """Forwards a loopback port to `target`; `cut()` drops every connection and refuses new ones until `mend()`."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        probe = _listener()
        self.port = probe.getsockname()[1]  # a free port, kept across cuts
        probe.close()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.mend()

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def mend(self) -> None:
        self._server = _listener(self.port)
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            doomed, self._sockets = self._sockets, []
        if server is not None:
            try:  # closing alone leaves a thread blocked in accept() with the port still listening
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        for sock in doomed:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # cut
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class HungServer:
    """Accepts connections and never answers: a Label Studio stuck on a lock or a full disk."""

    def __init__(self):
        self._server = _listener()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self._held.append(client)

    def close(self) -> None:
        self._server.close()
        for sock in self._held:
            sock.close()


class CountingProxy:
    """An HTTP proxy in front of a real server that counts requests by (method, path)."""

    def __init__(self, target: str):
        counts: Counter = Counter()
        lock = threading.Lock()
        self.counts = counts

        class Forward(BaseHTTPRequestHandler):
            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    counts[(self.command, self.path.split("?")[0])] += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                answer = requests.request(self.command, target + self.path, data=body, headers=headers, timeout=30)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def count(self, method: str, prefix: str) -> int:
        return sum(n for (m, path), n in self.counts.items() if m == method and path.startswith(prefix))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
