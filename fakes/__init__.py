"""Network-edge fakes: GitHub and the LLM as local HTTP servers speaking their wire formats."""

from .github import FakeGitHub, FakeRepo, RecordedRequest
from .github_oauth import FakeGitHubOAuth, FakeGitHubUser, OAuthRequest
from .openai import FakeOpenAI, RecordedCall
from .server import BackgroundServer

__all__ = [
    "BackgroundServer",
    "FakeGitHub",
    "FakeGitHubOAuth",
    "FakeGitHubUser",
    "FakeOpenAI",
    "FakeRepo",
    "OAuthRequest",
    "RecordedCall",
    "RecordedRequest",
]
