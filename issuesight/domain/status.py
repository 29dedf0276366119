"""A tutorial's status and its generation's stage: the one home of both vocabularies.

Import-light (standard library only): workflows, activities, the database layer, the API, the
pages and the command line all speak it, and the workflow sandbox re-imports it. Both are
`StrEnum`s, so a member equals the string stored in the database and sent in JSON.
"""

from __future__ import annotations

from enum import StrEnum


class TutorialStatus(StrEnum):
    """Whether a tutorial can be read: stored on the row, published as a search attribute."""

    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class Stage(StrEnum):
    """Where the latest generation is; a COMPLETED tutorial being regenerated is PENDING-like in
    its stage while its previous text is still served."""

    QUEUED = "queued"
    FETCHING_CONTEXT = "fetching_context"
    GENERATING = "generating"
    SAVING = "saving"
    DONE = "done"
    FAILED = "failed"


# The stages a generation passes through, in order, as progress displays show them.
PROGRESS_STAGES: tuple[Stage, ...] = (
    Stage.QUEUED,
    Stage.FETCHING_CONTEXT,
    Stage.GENERATING,
    Stage.SAVING,
    Stage.DONE,
)
# A generation at one of these has ended, one way or the other.
FINISHED_STAGES: tuple[Stage, ...] = (Stage.DONE, Stage.FAILED)
RUNNING_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s not in FINISHED_STAGES)
