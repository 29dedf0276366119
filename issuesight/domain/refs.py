"""Issue references: parsing, normalization and the keys derived from them.

GitHub owner and repository names are case-insensitive, so the normalized key is lower-cased;
everything that keys a workflow or a row derives from it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

MAX_REFERENCE_LENGTH = 300
MAX_ISSUE_NUMBER = 2**31 - 1

# Owner: 1-39 alphanumerics or single hyphens, not starting or ending with one.
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
# Repository: letters, digits, '.', '-', '_' up to 100; '.' and '..' are refused below.
_REPO = r"[A-Za-z0-9._-]{1,100}"
_NUMBER = r"[0-9]{1,10}"

_SHORT = re.compile(rf"(?P<owner>{_OWNER})/(?P<repo>{_REPO})#(?P<number>{_NUMBER})", re.ASCII)
_URL = re.compile(
    rf"(?:https?://)?(?:www\.)?github\.com/(?P<owner>{_OWNER})/(?P<repo>{_REPO})"
    rf"/(?P<kind>issues|pull|pulls)/(?P<number>{_NUMBER})/?(?:[?#][^\s]*)?",
    # ASCII: with IGNORECASE alone, [A-Za-z] also matches U+017F and U+0131 (they fold to ASCII).
    re.IGNORECASE | re.ASCII,
)

VALID_FORMS = "owner/repo#123 or https://github.com/owner/repo/issues/123"

# The same rules as JSON Schema patterns (ECMA-262, which Python's re reads the same way), so the
# API's OpenAPI document says exactly what is accepted: a string matches iff the parser above
# takes it (tests/unit/test_refs.py checks both directions). Spelled without flags, which JSON
# Schema has none of: case-insensitive letters as [Gg], whitespace as Python's str.strip() sees it
# (ECMA's \s differs: no U+001C-U+001F or U+0085, but U+FEFF).
SPACE_CLASS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_S = f"[{SPACE_CLASS}]"
# 1 to 10 digits (leading zeros allowed) whose value is 1 to 2**31 - 1, without lookarounds
# (a generator such as schemathesis' filters on those, slowly): k significant digits after at
# most 10 - k zeros, and the ten-digit values spelled out up to the bound.
_NUMBER_VALUE = (
    "(?:"
    + "|".join(f"0{{0,{10 - k}}}[1-9][0-9]{{{k - 1}}}" for k in range(1, 10))
    + "|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
    + "|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]"
    + "|214748364[0-7])"
)


def _ci(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def _issue_repo(end: str) -> str:
    """A repository name in an issue reference, followed by `end`: not '.', '..' or *.git."""
    return rf"(?!\.\.?{end})(?![A-Za-z0-9._-]*\.{_ci('git')}{end}){_REPO}"


OWNER_PATTERN = rf"^{_OWNER}$"
REPO_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$"
ISSUE_REPO_PATTERN = rf"^{_issue_repo('$')}$"
REPO_NAME_PATTERN = rf"^{_S}*{_OWNER}/(?!\.\.?{_S}*$){_REPO}{_S}*$"
# With maxLength MAX_REFERENCE_LENGTH beside it (parse_submitted_issue_ref's rule): a length
# lookahead here made generating matching strings take minutes.
ISSUE_REFERENCE_PATTERN = (
    rf"^{_S}*(?:{_OWNER}/{_issue_repo('#')}#{_NUMBER_VALUE}"
    rf"|(?:{_ci('http')}[Ss]?://)?(?:{_ci('www.')})?{_ci('github.com')}/{_OWNER}/"
    rf"{_issue_repo('/')}/{_ci('issues')}/{_NUMBER_VALUE}/?(?:[?#][^ \t\n\r\x0c\x0b]*)?)"
    rf"{_S}*$"
)

# Stable namespace so every process derives the same tutorial id from an issue key.
_TUTORIAL_NAMESPACE = uuid.UUID("5b0f6c8e-2f43-4d55-9a8e-6c1d3f9b7a21")


class InvalidIssueReference(ValueError):
    """A reference that names no GitHub issue; the message says why and what is valid."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; expected {VALID_FORMS}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IssueRef:
    owner: str
    repo: str
    number: int

    @property
    def repo_full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def key(self) -> str:
        return f"{self.owner}/{self.repo}#{self.number}"

    @property
    def workflow_id(self) -> str:
        return tutorial_workflow_id(self.key)

    @property
    def tutorial_id(self) -> uuid.UUID:
        return tutorial_id_for(self.key)

    @property
    def html_url(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}/issues/{self.number}"

    def __str__(self) -> str:
        return self.key


def tutorial_workflow_id(issue_key: str) -> str:
    return f"tutorial:{issue_key}"


def tutorial_id_for(issue_key: str) -> uuid.UUID:
    return uuid.uuid5(_TUTORIAL_NAMESPACE, issue_key)


def make_ref(owner: str, repo: str, number: int) -> IssueRef:
    """Builds a normalized reference from parts (route parameters, webhook payloads)."""
    return parse_issue_ref(f"{owner}/{repo}#{number}")


def parse_repo_name(text: str) -> tuple[str, str]:
    """Parses and lower-cases `owner/repo`."""
    candidate = text.strip()
    match = re.fullmatch(rf"(?P<owner>{_OWNER})/(?P<repo>{_REPO})", candidate)
    if not match or match["repo"] in {".", ".."} or len(candidate) > MAX_REFERENCE_LENGTH:
        raise ValueError(f"{text[:80]!r} is not a repository name; expected owner/repo")
    return match["owner"].lower(), match["repo"].lower()


def parse_submitted_issue_ref(text: str) -> IssueRef:
    """A reference as a client sends it (the API's body): at most MAX_REFERENCE_LENGTH
    characters as sent, surrounding whitespace included, which is what the API documents
    (maxLength beside ISSUE_REFERENCE_PATTERN); then as `parse_issue_ref`."""
    if isinstance(text, str) and len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidIssueReference(
            f"the reference is {len(text)} characters long (at most {MAX_REFERENCE_LENGTH})"
        )
    return parse_issue_ref(text)


def parse_issue_ref(text: str) -> IssueRef:
    if not isinstance(text, str):
        raise InvalidIssueReference("the reference must be a string")
    candidate = text.strip()
    if not candidate:
        raise InvalidIssueReference("the reference is empty")
    if len(candidate) > MAX_REFERENCE_LENGTH:
        raise InvalidIssueReference(
            f"the reference is {len(candidate)} characters long (at most {MAX_REFERENCE_LENGTH})"
        )
    match = _SHORT.fullmatch(candidate)
    if match is None:
        match = _URL.fullmatch(candidate)
        if match is None:
            raise InvalidIssueReference(_explain(candidate))
        if match["kind"].lower() != "issues":
            raise InvalidIssueReference("that is a pull request URL, not an issue")
    repo = match["repo"]
    if repo in {".", ".."} or repo.lower().endswith(".git"):
        raise InvalidIssueReference(f"{repo!r} is not a repository name")
    number = int(match["number"])
    if number < 1 or number > MAX_ISSUE_NUMBER:
        raise InvalidIssueReference(f"issue number {number} is out of range")
    return IssueRef(owner=match["owner"].lower(), repo=repo.lower(), number=number)


def _explain(candidate: str) -> str:
    lowered = candidate.lower()
    if "://" in lowered and "github.com/" not in lowered:
        return "only github.com issue URLs are accepted"
    if re.search(r"#\s*-", candidate) or re.search(r"/issues/-", candidate):
        return "the issue number must be a positive integer"
    if "/pull/" in lowered or "/pulls/" in lowered:
        return "that is a pull request URL, not an issue"
    return f"{candidate[:80]!r} is not an issue reference"
