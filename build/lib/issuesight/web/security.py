"""Response headers that make a page inert even if something untrusted slipped into it, and the
same-origin check on the pages' form posts.

The Content-Security-Policy allows scripts, styles, images and fetches from this origin only
and no inline script or style at all: the pages need none (their JavaScript and CSS are static
files of this package). The interactive API docs (/docs, /redoc) load Swagger UI and ReDoc
from a CDN with inline script, so they keep the other headers but not this policy.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
_DOCS_CSP = (b"content-security-policy", b"frame-ancestors 'none'")


class SecurityHeaders:
    """A plain ASGI middleware (no BaseHTTPMiddleware task per request: the status route is
    hot). Headers a route set itself are left as they are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = _DOCS_CSP if path.startswith(DOCS_PATHS) else _CSP
        wanted = [*_ALWAYS, csp]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cross_site(headers: Headers, host: str) -> bool:
    """Whether a form post came from another site: the browser says so in Sec-Fetch-Site, or
    its Origin names another host. A post with neither (curl, an old browser) is not refused:
    the forms change nothing a cookie authorizes yet, so there is nothing to forge."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    return origin.split("://", 1)[-1] != host
