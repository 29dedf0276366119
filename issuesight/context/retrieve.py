"""Which files (and which parts of them) an issue is about, ranked against a RepoIndex.

Four signals, each normalized to [0, 1] over this issue's candidates, then fused:

* explicit mentions (references.rank_referenced_files): traceback frames, paths, URLs, module
  names. Strongest: someone named the file.
* definitions: identifiers the issue writes as code (`bulk_create`, `QuerySet.filter`,
  `Model.save()`, `HttpResponse`) matched against the names of classes, functions and methods,
  weighted by how rare the name is in the tree; a matching qualifier (`QuerySet.` before the
  method) counts double.
* lexical: BM25 (SQLite FTS5) of the issue's words over function-level chunks and over whole
  files. Compound identifiers are asked for as phrases, words are weighted by where they occur
  (title, body, comments) and only the most telling ones (by document frequency) are asked.
* path words (the keyword fallback of rank_referenced_files), weakest.

Tests, docs and examples are down-weighted by their path, never dropped: a fix to a test
helper happens. Each ranked file carries regions (line spans) worth showing: the definitions
the issue names, then the best-matching chunks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from issuesight.context.index import DOC, EXAMPLE, OTHER, SOURCE, TEST, RepoIndex
from issuesight.context.references import STOP_WORDS, rank_referenced_files, word_set

TEXT_CHARS = 200_000  # the head of a huge paste carries its vocabulary
# The most telling words only: FTS5 scores every chunk any asked word is in, so each word
# costs time; 16 ranked as well as 40 on the tuning set at 0.4 of the time (bench.context).
MAX_QUERY_TERMS = 16
MAX_IDENTIFIERS = 400
MAX_DEFINING_FILES = 25  # a name defined in more files than this (`get`, `save`) says little
MAX_CANDIDATE_TERMS = 1000
CHUNK_CANDIDATES = 300
FILE_CANDIDATES = 150
REFERENCE_CANDIDATES = 40

# Fusion weights (bench.context; tuned on sympy only, django and xarray held out).
EXPLICIT_WEIGHT = 3.0
DEFINITION_WEIGHT = 1.5
CHUNK_WEIGHT = 1.0
FILE_WEIGHT = 1.0
PATH_WEIGHT = 0.3
ROLE_FACTOR = {SOURCE: 1.0, OTHER: 0.7, DOC: 0.45, EXAMPLE: 0.45, TEST: 0.4}
# `Symbol` and `symbol` are different names in most languages, but people write prose in
# lower case: a definition matched only case-insensitively counts half.
OTHER_CASE_FACTOR = 0.5
FIELD_WEIGHTS = (3.0, 1.0)  # title, body; comments get COMMENT_WEIGHT
COMMENT_WEIGHT = 0.5

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(\(?)")
_HUMP = re.compile(r"[a-z0-9][A-Z]")
_CODE_SPANS = re.compile(r"```.*?(?:```|\Z)|`[^`\n]{1,300}`", re.DOTALL)

# The path ranking's stop words, and words that name no code in an issue's prose.
_STOP_WORDS = STOP_WORDS | word_set(
    """http https file py python instead new make made case cases way happen happens happening"""
)


@dataclass(frozen=True, slots=True)
class Region:
    start: int  # 1-based first line
    end: int  # 1-based last line, inclusive
    label: str  # what it is: "def bulk_create", "class QuerySet", "lines 10-40"
    score: float
    named: bool  # a definition the issue names (shown before merely matching chunks)


@dataclass
class RankedFile:
    path: str
    score: float
    reasons: tuple[str, ...]
    explicit: bool
    line: int | None
    regions: list[Region] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Picks:
    """What a localization step (llm/localize.py) chose: paths and definition names."""

    files: tuple[str, ...]
    functions: tuple[str, ...]


def apply_picks(index: RepoIndex, ranked: list[RankedFile], picks: Picks) -> list[RankedFile]:
    """The ranking with the picked files first (in the order picked) and, in every ranked
    file, the picked definitions as its first regions. Picks are matched against the index
    only: a path or name that does not exist there is ignored."""
    by_path = {r.path: r for r in ranked}
    wanted = [p for p in dict.fromkeys(picks.files) if p in by_path]
    names = {f.strip().removesuffix("()") for f in picks.functions if f.strip()}
    for entry in ranked:
        picked_regions = []
        for definition in index.definitions_of(entry.path):
            if definition.qualname in names or definition.name in names:
                label = f"{definition.kind} {definition.qualname}"
                picked_regions.append(Region(definition.line, definition.end, label, 100.0, True))
        if picked_regions:
            entry.regions = picked_regions + [
                r
                for r in entry.regions
                if (r.start, r.end) not in {(p.start, p.end) for p in picked_regions}
            ]
    for path in wanted:
        by_path[path].reasons = ("picked by the localization step", *by_path[path].reasons)[:6]
    first = [by_path[p] for p in wanted]
    return first + [r for r in ranked if r.path not in set(wanted)]


@dataclass(frozen=True, slots=True)
class _Term:
    text: str  # one lower-case word, or several as a phrase
    weight: float


@dataclass
class _Candidate:
    signals: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    regions: dict[tuple[int, int], Region] = field(default_factory=dict)
    explicit: bool = False
    line: int | None = None

    def region(self, region: Region) -> None:
        key = (region.start, region.end)
        known = self.regions.get(key)
        if known is None or (region.named, region.score) > (known.named, known.score):
            self.regions[key] = region


CandidateOf = Callable[[str], _Candidate]


def rank_files(index: RepoIndex, texts: Sequence[str], *, limit: int = 30) -> list[RankedFile]:
    """Files of the index's tree ranked for the issue `texts` ([title, body, comments...])."""
    texts = [t[:TEXT_CHARS] for t in texts if t]
    if not texts or not index.paths:
        return []
    candidates: dict[str, _Candidate] = {}

    def candidate(path: str) -> _Candidate:
        return candidates.setdefault(path, _Candidate())

    _explicit_signal(index, texts, candidate)
    _definition_signal(index, texts, candidate)
    terms = _query_terms(index, texts)
    _lexical_signal(index, terms, candidate)
    return _fuse(index, candidates, limit)


# --- explicit mentions and path words ----------------------------------------------------------


def _explicit_signal(index: RepoIndex, texts: Sequence[str], candidate: CandidateOf) -> None:
    found_files = rank_referenced_files(
        texts, index.paths, limit=REFERENCE_CANDIDATES, tree=index.path_tree
    )
    for found in found_files:
        entry = candidate(found.path)
        if found.explicit:
            entry.signals["explicit"] = found.score
            entry.explicit = True
            entry.line = found.line
        else:
            entry.signals["path"] = found.score
        entry.reasons.extend(found.reasons)
        if found.line is not None:
            entry.region(Region(found.line, found.line, f"line {found.line}", 10.0, True))


# --- definitions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Identifier:
    name: str
    qualifier: str  # the dotted part before the name, lower-case ("" if none)
    weight: float


def identifiers(texts: Sequence[str]) -> list[_Identifier]:
    """Names the issue writes as code: snake_case, camelCase, dotted, called, or in backticks."""
    weights: dict[tuple[str, str], float] = {}
    for index, text in enumerate(texts):
        field_weight = FIELD_WEIGHTS[index] if index < len(FIELD_WEIGHTS) else COMMENT_WEIGHT
        spans = [m.span() for m in _CODE_SPANS.finditer(text)]
        span_index = 0
        for match in _WORD.finditer(text):
            token, called = match.group(0).rstrip("("), bool(match.group(1))
            while span_index < len(spans) and spans[span_index][1] <= match.start():
                span_index += 1
            in_code = span_index < len(spans) and spans[span_index][0] <= match.start()
            parts = token.split(".")
            name = parts[-1]
            if len(name) < 3:
                continue
            code_like = (
                called
                or in_code
                or len(parts) > 1
                or "_" in name.strip("_")
                or (name.startswith("__") and name.endswith("__"))
                or _HUMP.search(name) is not None
            )
            if not code_like or name.lower() in _STOP_WORDS:
                continue
            qualifier = parts[-2].lower() if len(parts) > 1 else ""
            key = (name, qualifier)
            weights[key] = weights.get(key, 0.0) + field_weight
            if len(weights) >= MAX_IDENTIFIERS:
                break
    return [
        _Identifier(name, qualifier, _saturate(weight))
        for (name, qualifier), weight in weights.items()
    ]


def _definition_signal(index: RepoIndex, texts: Sequence[str], candidate: CandidateOf) -> None:
    file_count = max(1, len(index.files))
    per_file: dict[int, dict[str, float]] = {}
    for ident in identifiers(texts):
        matches = index.by_name.get(ident.name.lower())
        if not matches:
            continue
        files = {index.definitions[d].file for d in matches}
        if len(files) > MAX_DEFINING_FILES:
            continue
        idf = math.log(1.0 + file_count / len(files))
        for definition_id in matches:
            indexed = index.definitions[definition_id]
            definition = indexed.definition
            score = ident.weight * idf
            qualified = _qualifier_matches(
                ident.qualifier, definition.qualname, index, indexed.file
            )
            if qualified:
                score *= 2.0
            if definition.name != ident.name:
                score *= OTHER_CASE_FACTOR
            best = per_file.setdefault(indexed.file, {})
            key = ident.name.lower()
            if score > best.get(key, 0.0):
                best[key] = score
            path = index.files[indexed.file].path
            label = f"{definition.kind} {definition.qualname}"
            candidate(path).region(Region(definition.line, definition.end, label, score, True))
    for file_id, scores in per_file.items():
        entry = candidate(index.files[file_id].path)
        entry.signals["definition"] = sum(scores.values())
        names = sorted(scores, key=lambda n: -scores[n])[:3]
        entry.reasons.append("defines " + ", ".join(names))


def _qualifier_matches(qualifier: str, qualname: str, index: RepoIndex, file_id: int) -> bool:
    if not qualifier:
        return False
    owners = qualname.lower().split(".")[:-1]
    if qualifier in owners:
        return True
    stem = index.files[file_id].path.lower().rsplit("/", 1)[-1].rpartition(".")[0]
    return qualifier == stem


# --- lexical ----------------------------------------------------------------------------------


def _query_terms(index: RepoIndex, texts: Sequence[str]) -> list[_Term]:
    weights: dict[str, float] = {}
    for position, text in enumerate(texts):
        field_weight = FIELD_WEIGHTS[position] if position < len(FIELD_WEIGHTS) else COMMENT_WEIGHT
        for match in _WORD.finditer(text):
            for token in match.group(0).rstrip("(").split("."):
                term = _term_for(token)
                if term:
                    weights[term] = weights.get(term, 0.0) + field_weight
    if not weights:
        return []
    # A pasted log can hold tens of thousands of distinct words: only the most frequent in the
    # issue are looked up (frequency in the issue first, rarity in the tree second).
    weights = dict(sorted(weights.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATE_TERMS])
    frequencies = index.document_frequencies(sorted({w for t in weights for w in t.split()}))
    chunks = max(1, index.chunk_count)
    ranked: list[tuple[float, _Term]] = []
    for text, weight in weights.items():
        words = text.split()
        known = [frequencies.get(w, 0) for w in words]
        if not all(known):
            continue
        # A phrase is at least as rare as its rarest word.
        df = min(known)
        idf = math.log(1.0 + (chunks - df + 0.5) / (df + 0.5))
        if idf < 0.5:
            continue  # in most chunks of this tree: the project's own name, `self`, `def`
        saturated = _saturate(weight)
        ranked.append((saturated * idf, _Term(text, saturated)))
    ranked.sort(key=lambda pair: -pair[0])
    return [term for _, term in ranked[:MAX_QUERY_TERMS]]


def _term_for(token: str) -> str | None:
    """A token as FTS5 sees it: `bulk_create` -> "bulk create", `QuerySet` -> queryset."""
    parts = [p for p in token.lower().split("_") if p]
    if not parts:
        return None
    if len(parts) == 1:
        word = parts[0]
        if len(word) < 3 or word in _STOP_WORDS or word.isdigit():
            return None
        return word
    return " ".join(parts[:6])


def _fts_query(terms: Sequence[_Term]) -> str:
    """OR of quoted terms; a term repeats (up to 3 times) with its weight, which FTS5's bm25()
    adds up, so the title counts more than a comment."""
    pieces = []
    for term in terms:
        quoted = '"' + term.text.replace('"', "") + '"'
        pieces += [quoted] * max(1, min(3, round(term.weight)))
    return " OR ".join(pieces)


def _lexical_signal(index: RepoIndex, terms: Sequence[_Term], candidate: CandidateOf) -> None:
    query = _fts_query(terms)
    if not query:
        return
    chunk_scores: dict[int, list[float]] = {}
    for chunk_id, score in index.search_chunks(query, CHUNK_CANDIDATES):
        chunk = index.chunks[chunk_id]
        chunk_scores.setdefault(chunk.file, []).append(score)
        label = f"lines {chunk.start}-{chunk.end}"
        if chunk.definition >= 0:
            definition = index.definitions[chunk.definition].definition
            label = f"{definition.kind} {definition.qualname}"
        candidate(index.files[chunk.file].path).region(
            Region(chunk.start, chunk.end, label, score, False)
        )
    for file_id, scores in chunk_scores.items():
        scores.sort(reverse=True)
        entry = candidate(index.files[file_id].path)
        entry.signals["chunk"] = scores[0] + 0.25 * sum(scores[1:3])
    for file_id, score in index.search_files(query, FILE_CANDIDATES):
        candidate(index.files[file_id].path).signals["file"] = score


# --- fusion -----------------------------------------------------------------------------------

_WEIGHTS = {
    "explicit": EXPLICIT_WEIGHT,
    "definition": DEFINITION_WEIGHT,
    "chunk": CHUNK_WEIGHT,
    "file": FILE_WEIGHT,
    "path": PATH_WEIGHT,
}


def _fuse(index: RepoIndex, candidates: dict[str, _Candidate], limit: int) -> list[RankedFile]:
    best = {
        name: max((c.signals.get(name, 0.0) for c in candidates.values()), default=0.0)
        for name in _WEIGHTS
    }
    ranked = []
    for path, entry in candidates.items():
        normalized = {
            name: value / best[name] for name, value in entry.signals.items() if best[name] > 0
        }
        score = sum(_WEIGHTS[name] * value for name, value in normalized.items())
        file_id = index.file_ids.get(path)
        role = index.roles[file_id] if file_id is not None else OTHER
        score *= ROLE_FACTOR[role]
        regions = sorted(entry.regions.values(), key=lambda r: (not r.named, -r.score))
        reasons = tuple(dict.fromkeys(entry.reasons))[:6] or ("words of the issue match",)
        ranked.append(
            RankedFile(path, score, reasons, entry.explicit, entry.line, regions, normalized)
        )
    ranked.sort(key=lambda r: (-r.score, r.path))
    return ranked[:limit]


def _saturate(weight: float) -> float:
    """A word repeated through a pasted log should not drown out the title."""
    return 1.0 + math.log(weight) if weight > 1.0 else weight
