"""Models: "OSError: [Errno 98] Address already in use" on a CI retry.

An integration test starts a fake backend on a FIXED port with
socketserver.TCPServer, whose allow_reuse_address is False by default. The
server closes each connection first, so the kernel keeps the server side of
the connection in TIME_WAIT for 60 s. A second run on the same machine within
that minute (a retry, the next job on a shared runner, a watch-mode rerun)
cannot bind the port and fails.

The TIME_WAIT entry lives in the network namespace, not in any process or
file, so it survives the test process. In a fresh network namespace (flakebox
isolating `net`) there is no TIME_WAIT and the test always passes.

Expected: `flakebox diagnose` -> environment, net: fixes.
Plain runs: the first passes, every run within 60 s after it fails.
"""
import socket
import socketserver
import threading

PORT = 28471  # fixed, below the ephemeral range, like a port in a test config


class PingHandler(socketserver.StreamRequestHandler):
    def handle(self):
        if self.rfile.readline().strip() == b"ping":
            self.wfile.write(b"pong\n")
        # returning closes the connection: the server does the active close


def test_fake_backend_roundtrip():
    server = socketserver.TCPServer(("127.0.0.1", PORT), PingHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=5) as conn:
            conn.sendall(b"ping\n")
            reply = conn.makefile("rb").read()  # until the server closes
        assert reply == b"pong\n"
    finally:
        server.shutdown()
        server.server_close()
