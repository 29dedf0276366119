"""Custom search attributes operators filter jobs by (set by the workflows)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ISSUE_REPO = SearchAttributeKey.for_keyword("IssueRepo")
ISSUE_NUMBER = SearchAttributeKey.for_int("IssueNumber")
TUTORIAL_STATUS = SearchAttributeKey.for_keyword("TutorialStatus")
DIFFICULTY = SearchAttributeKey.for_keyword("Difficulty")

ALL = (ISSUE_REPO, ISSUE_NUMBER, TUTORIAL_STATUS, DIFFICULTY)
_CLI_TYPES = {"KEYWORD": "Keyword", "INT": "Int"}


def dev_server_flags() -> list[str]:
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags
