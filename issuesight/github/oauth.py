"""GitHub's OAuth web flow, for signing in to the pages: the authorize address, the code
exchanged for a token at GitHub's token endpoint, and who that token belongs to (`GET /user`,
`GET /user/emails`).

On github.com the flow's pages are on https://github.com and the API on https://api.github.com;
on GitHub Enterprise Server both are on the instance (`https://HOST/login/oauth/…`,
`https://HOST/api/v3`). The user's token is used for those two reads and then forgotten: it is
never stored or logged (`gho_` tokens are scrubbed from logs like every token shape).

Nothing is retried: a code is good for one exchange, so a failed sign-in is started again by
the person, who sees why it failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from issuesight import __version__

log = logging.getLogger(__name__)

SCOPE = "user:email"  # the verified addresses; the public profile needs no scope
_API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class OAuthError(Exception):
    """A sign-in GitHub did not complete. `unavailable`: GitHub did not answer properly (5xx,
    rate limited, unreachable, garbled), so trying again later may work; otherwise GitHub
    refused (`code` is GitHub's error code, e.g. `bad_verification_code`)."""

    def __init__(self, message: str, *, code: str | None = None, unavailable: bool = False):
        super().__init__(message)
        self.code = code
        self.unavailable = unavailable


@dataclass(frozen=True)
class GitHubUser:
    id: int
    login: str
    name: str | None
    verified_emails: tuple[str, ...]  # primary first


class GitHubOAuth:
    """One per app; holds its HTTP client."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        web_url: str,
        api_url: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.web_url = web_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self._http = httpx.AsyncClient(
            headers={"User-Agent": f"issuesight/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:  # never the secret
        return f"GitHubOAuth(client_id={self.client_id!r}, web_url={self.web_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPE,
                "state": state,
            }
        )
        return f"{self.web_url}/login/oauth/authorize?{query}"

    async def exchange(self, code: str, *, redirect_uri: str) -> str:
        """The access token a code is worth (asked for as JSON)."""
        body = await self._call(
            "POST",
            f"{self.web_url}/login/oauth/access_token",
            what="the token exchange",
            data={
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
            },
            headers={"Accept": "application/json"},
        )
        if not isinstance(body, dict):
            raise OAuthError("GitHub's token answer was not an object.", unavailable=True)
        if body.get("error"):
            code_name = str(body["error"])[:100]
            log.warning("github sign-in refused at the token exchange", extra={"error": code_name})
            raise OAuthError(_refusal_text(code_name), code=code_name)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError("GitHub's token answer held no token.", unavailable=True)
        return token

    async def user(self, token: str) -> GitHubUser:
        """Who a token belongs to: `/user`, then the addresses GitHub verified."""
        auth = {"Authorization": f"Bearer {token}", **_API_HEADERS}
        profile = await self._call("GET", f"{self.api_url}/user", what="/user", headers=auth)
        if not isinstance(profile, dict) or not isinstance(profile.get("id"), int):
            raise OAuthError("GitHub's /user answer was not a user.", unavailable=True)
        emails = await self._call(
            "GET", f"{self.api_url}/user/emails", what="/user/emails", headers=auth, missing=[]
        )
        verified = (
            [
                e
                for e in emails
                if isinstance(e, dict) and e.get("verified") is True and e.get("email")
            ]
            if isinstance(emails, list)
            else []
        )
        verified.sort(key=lambda e: e.get("primary") is not True)  # primary first, else as given
        return GitHubUser(
            id=profile["id"],
            login=str(profile.get("login") or ""),
            name=profile.get("name") if isinstance(profile.get("name"), str) else None,
            verified_emails=tuple(str(e["email"]) for e in verified),
        )

    async def _call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: dict[str, str],
        data: dict[str, str] | None = None,
        missing: Any = None,
    ) -> Any:
        """One request; its JSON answer. `missing`: what a 403/404 means instead of a refusal
        (a token without the email scope cannot list addresses)."""
        try:
            response = await self._http.request(method, url, data=data, headers=headers)
        except httpx.HTTPError as exc:
            log.warning(
                "github sign-in: no answer", extra={"what": what, "error": type(exc).__name__}
            )
            raise OAuthError(f"GitHub did not answer ({what}).", unavailable=True) from exc
        status = response.status_code
        if status >= 500 or status == 429 or _rate_limited(response):
            log.warning(
                "github sign-in: github unavailable", extra={"what": what, "status": status}
            )
            raise OAuthError(f"GitHub answered {status} ({what}).", unavailable=True)
        if status in (403, 404) and missing is not None:
            return missing
        if status != 200:
            log.warning("github sign-in: refused", extra={"what": what, "status": status})
            raise OAuthError(f"GitHub refused {what} ({status}).", code=f"http_{status}")
        try:
            return response.json()
        except ValueError as exc:
            raise OAuthError(f"GitHub's answer to {what} was not JSON.", unavailable=True) from exc


def _rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.headers.get("x-ratelimit-remaining") == "0"


_REFUSALS = {
    "bad_verification_code": "GitHub says this sign-in's code is wrong, used or expired.",
    "incorrect_client_credentials": (
        "GitHub refused this IssueSight's OAuth app credentials: the operator must check "
        "GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET."
    ),
    "redirect_uri_mismatch": (
        "GitHub says the callback address is not the one registered for this IssueSight's "
        "OAuth app: the operator must register it (see the README)."
    ),
    "unverified_user_email": "GitHub says your account's email address is not verified yet.",
}


def _refusal_text(code: str) -> str:
    return _REFUSALS.get(code, f"GitHub refused the sign-in ({code}).")
