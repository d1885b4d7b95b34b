"""A real HTTP server on 127.0.0.1 serving weights files, for the download tests."""
import http.server
import threading


class WeightsServer:
    """A real HTTP server: `files` {path: bytes}; `drop` {path}: send the length, then half the bytes and close."""

    def __init__(self):
        self.files, self.drop, self.hits = {}, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.drop else body)
                if self.path in server.drop:
                    self.wfile.flush()
                    self.connection.shutdown(2)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
