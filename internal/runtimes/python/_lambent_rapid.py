"""The Runtime API client of Lambent's Python runtime: HTTP/1.1 over one kept-alive socket.

http.client would do, but importing it (email, ssl and more) costs more than this whole runtime
on a cold start, and it is slower per request.
"""

import sys
import _socket

RUNTIME = "/2018-06-01/runtime"


class _Closed(Exception):
    """The Runtime API closed the connection."""


class RuntimeAPI:
    """An HTTP/1.1 client that keeps one connection to the Runtime API."""

    def __init__(self, address):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            host, port = address, "80"
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.head = "Host: %s\r\nUser-Agent: lambent-python-ric\r\n" % address
        self.sock = None
        self.buf = bytearray()
        self.received = False

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, bytearray()

    def _connect(self):
        # A bytes host spares getaddrinfo the idna codec, which costs a millisecond to import.
        host = self.host.encode("ascii", "replace")
        family, kind, proto, _, addr = _socket.getaddrinfo(host, self.port, 0, _socket.SOCK_STREAM)[0]
        sock = _socket.socket(family, kind, proto)
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.connect(addr)
        except BaseException:
            sock.close()
            raise
        self.sock, self.buf = sock, bytearray()

    def request(self, method, path, body=b"", error_type=None):
        """Sends one request and returns (status, headers, body); headers have lower-case names."""
        head = "%s %s HTTP/1.1\r\n%s" % (method, path, self.head)
        if method == "POST":
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            if error_type:
                head += "Lambda-Runtime-Function-Error-Type: %s\r\n" % error_type
        message = (head + "\r\n").encode("utf-8") + body
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            self.received = False
            try:
                self.sock.sendall(message)
                return self._response()
            except (OSError, _Closed) as e:
                # A kept-alive connection the server closed meanwhile fails before any byte of
                # the answer arrives: that one request is worth retrying on a new connection.
                self.close()
                if not (reused and not self.received and attempt == 0):
                    raise ConnectionError("runtime api %s %s: %s" % (method, path, e)) from e

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise _Closed("connection closed")
        self.received = True
        self.buf += data

    def _read_until(self, sep):
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return line
            start = max(len(self.buf) - len(sep) + 1, 0)
            self._recv()

    def _read(self, n):
        while len(self.buf) < n:
            self._recv()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _response(self):
        lines = self._read_until(b"\r\n\r\n").decode("utf-8", "surrogateescape").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._read_until(b"\r\n").split(b";", 1)[0], 16)
                if size == 0:
                    while self._read_until(b"\r\n"):  # trailers, up to an empty line
                        pass
                    break
                parts.append(self._read(size))
                self._read(2)
            body = b"".join(parts)
        elif "content-length" in headers:
            body = self._read(int(headers["content-length"]))
        elif status in (204, 304) or status < 200:
            body = b""
        else:
            try:
                while True:
                    self._recv()
            except _Closed:
                pass
            body, headers["connection"] = bytes(self.buf), "close"
            self.buf = bytearray()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def post(self, path, body, error_type=None):
        status, _, answer = self.request("POST", RUNTIME + path, body, error_type)
        if status >= 300:
            sys.stderr.write("runtime api POST %s: %d %s\n" % (path, status, answer.decode("utf-8", "replace").strip()))
            sys.stderr.flush()
        return status
