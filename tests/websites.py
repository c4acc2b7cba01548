"""A website on another origin than LeadHub's, for browser tests of what sites embed
(the form embed, the tracking snippet): a tiny http.server on 127.0.0.1 (LeadHub's live
server is on localhost) that serves ``html`` at every path."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OtherOriginSite:
    def __init__(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.html = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
