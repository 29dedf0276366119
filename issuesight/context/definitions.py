"""Where things are defined in a source file: classes, functions and methods with line spans.

Two tiers, because they answer different questions at different costs:

* `scan_definitions` runs over every file of a tree when the index is built. It is a line scanner
  (one regular expression per language family, indentation or braces for nesting), the way
  ctags works. bench.context measured why it is not `ast`: parsing every Python file of Django
  with `ast` takes several times as long as reading and decompressing the whole archive,
  which alone would break the index-build goal, while the scanner finds the same definitions
  (names, nesting, start lines) for a fraction of it.
* `python_outline` uses `ast` for the few files whose excerpts are cut for one prompt: exact
  spans (decorators included), the enclosing class, the signature and the imports. It falls
  back to the scanner when a file does not parse (Python 2 code, templates named .py).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

CLASS = "class"
FUNCTION = "function"
MAX_SIGNATURE = 200


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    qualname: str  # Outer.inner for nested definitions; the module is the file's path
    kind: str  # CLASS or FUNCTION
    line: int  # 1-based first line (decorators included when ast found it)
    end: int  # 1-based last line, inclusive
    depth: int  # 0 for top-level definitions
    signature: str  # the defining line, stripped and shortened


# --- the scanner ------------------------------------------------------------------------------

_PY = re.compile(
    r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?P<kw>def|class)[ \t]+(?P<name>[A-Za-z_]\w*)",
    re.MULTILINE,
)
_JS = re.compile(
    r"^(?P<indent>[ \t]*)(?:export[ \t]+)?(?:default[ \t]+)?(?:abstract[ \t]+)?"
    r"(?:(?:async[ \t]+)?(?P<kw>function\*?|class|interface|enum|type)[ \t]+"
    r"(?P<name>[A-Za-z_$][\w$]*)"
    r"|(?:const|let|var)[ \t]+(?P<name2>[A-Za-z_$][\w$]*)[ \t]*=[ \t]*(?:async[ \t]*)?"
    r"(?:function\b|\([^)\n]{0,200}\)[ \t]*=>|[A-Za-z_$][\w$]*[ \t]*=>))",
    re.MULTILINE,
)
_GO = re.compile(
    r"^(?P<indent>)(?:(?P<kw>func)[ \t]+(?:\([^)\n]{0,200}\)[ \t]*)?(?P<name>[A-Za-z_]\w*)"
    r"|type[ \t]+(?P<name2>[A-Za-z_]\w*)[ \t]+(?:struct|interface))",
    re.MULTILINE,
)
_RUST = re.compile(
    r"^(?P<indent>[ \t]*)(?:pub(?:\([^)\n]{0,40}\))?[ \t]+)?(?:async[ \t]+)?(?:unsafe[ \t]+)?"
    r"(?P<kw>fn|struct|enum|trait|mod|impl)[ \t]+(?:<[^>\n]{0,100}>[ \t]*)?(?P<name>[A-Za-z_]\w*)",
    re.MULTILINE,
)
_RUBY = re.compile(
    r"^(?P<indent>[ \t]*)(?P<kw>def|class|module)[ \t]+(?:self\.)?(?P<name>[A-Za-z_]\w*[?!=]?)",
    re.MULTILINE,
)
_C_LIKE = re.compile(
    # Java, C#, Kotlin, Scala, Swift, PHP, C and C++: type declarations, and lines that look
    # like a function definition (a name, an argument list, then a brace or nothing).
    r"^(?P<indent>[ \t]*)(?:(?:public|private|protected|internal|static|final|abstract|"
    r"sealed|open|override|virtual|inline|export|extern|async|suspend|data|partial)[ \t]+){0,4}"
    r"(?:(?P<kw>class|interface|struct|enum|record|object|trait|protocol|fun|func|function|def)"
    r"[ \t]+(?P<name>[A-Za-z_]\w*)"
    r"|[\w:<>\[\]*&, ]{1,80}?[ \t*&](?P<name2>[A-Za-z_]\w*)[ \t]*\([^;{}\n]{0,300}\)[ \t]*"
    r"(?:const[ \t]*)?(?:throws[^{\n]{0,100})?\{?[ \t]*$)",
    re.MULTILINE,
)
_FAMILIES: dict[str, re.Pattern[str]] = {}
for _suffixes, _pattern in (
    (".py .pyi .pyx .pxd", _PY),
    (".js .jsx .mjs .cjs .ts .tsx .vue .svelte", _JS),
    (".go", _GO),
    (".rs", _RUST),
    (".rb .rake", _RUBY),
    (
        ".java .kt .kts .scala .cs .swift .php .c .h .cc .cpp .cxx .hpp .hh .m .mm .dart .groovy",
        _C_LIKE,
    ),
):
    for _suffix in _suffixes.split():
        _FAMILIES[_suffix] = _pattern
_KEYWORDS_NOT_NAMES = frozenset({"if", "for", "while", "switch", "catch", "return", "else", "new"})
_CLASS_KEYWORDS = frozenset(
    {
        "class",
        "interface",
        "struct",
        "enum",
        "record",
        "object",
        "trait",
        "protocol",
        "type",
        "impl",
        "module",
        "mod",
    }
)


def language_of(path: str) -> str | None:
    """The suffix whose scanner applies, or None for files without definitions (docs, data)."""
    suffix = PurePosixPath(path).suffix.lower()
    return suffix if suffix in _FAMILIES else None


def scan_definitions(path: str, text: str) -> list[Definition]:
    """Definitions found by the line scanner, in file order, with nesting from indentation.

    An end line is where the next definition at the same or a lower depth starts (or the end
    of the file): close enough for chunking, made exact by `python_outline` where it matters.
    """
    pattern = _FAMILIES.get(PurePosixPath(path).suffix.lower())
    if pattern is None:
        return []
    found: list[tuple[int, int, str, str, str]] = []  # (line, indent, name, kind, signature)
    line = 1
    position = 0
    for match in pattern.finditer(text):
        name = match.group("name") or match.groupdict().get("name2")
        if not name or name in _KEYWORDS_NOT_NAMES:
            continue
        start = match.start()
        line += text.count("\n", position, start)
        position = start
        keyword = match.group("kw") or ""
        kind = CLASS if keyword in _CLASS_KEYWORDS else FUNCTION
        indent = len(match.group("indent").expandtabs(4))
        end_of_line = text.find("\n", start)
        signature = text[start : end_of_line if end_of_line >= 0 else len(text)].strip()
        found.append((line, indent, name, kind, signature[:MAX_SIGNATURE]))
    total_lines = text.count("\n") + 1
    return _nest(found, total_lines)


def _nest(found: list[tuple[int, int, str, str, str]], total_lines: int) -> list[Definition]:
    definitions: list[Definition] = []
    stack: list[tuple[int, str, int]] = []  # (indent, qualname, index in definitions)
    for line, indent, name, kind, signature in found:
        while stack and stack[-1][0] >= indent:
            _, _, index = stack.pop()
            _close(definitions, index, line - 1)
        qualname = f"{stack[-1][1]}.{name}" if stack else name
        definitions.append(
            Definition(name, qualname, kind, line, total_lines, len(stack), signature)
        )
        stack.append((indent, qualname, len(definitions) - 1))
    return definitions


def _close(definitions: list[Definition], index: int, end: int) -> None:
    old = definitions[index]
    definitions[index] = Definition(
        old.name, old.qualname, old.kind, old.line, max(old.line, end), old.depth, old.signature
    )


# --- exact outlines of the files being excerpted ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Outline:
    definitions: tuple[Definition, ...]
    imports: tuple[int, int] | None  # 1-based line span of the leading import block


def python_outline(text: str) -> Outline | None:
    """Exact definitions and the import block of a Python file, or None if it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = text.split("\n")
    definitions: list[Definition] = []

    def visit(node: ast.AST, prefix: str, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                qualname = f"{prefix}{child.name}"
                row = lines[child.lineno - 1].strip() if child.lineno <= len(lines) else ""
                definitions.append(
                    Definition(
                        child.name,
                        qualname,
                        CLASS if isinstance(child, ast.ClassDef) else FUNCTION,
                        first,
                        child.end_lineno or child.lineno,
                        depth,
                        row[:MAX_SIGNATURE],
                    )
                )
                if depth < 3:
                    visit(child, qualname + ".", depth + 1)

    visit(tree, "", 0)
    definitions.sort(key=lambda d: d.line)
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    span = None
    if imports:
        span = (imports[0].lineno, imports[-1].end_lineno or imports[-1].lineno)
    return Outline(tuple(definitions), span)


@lru_cache(maxsize=32)
def outline(path: str, text: str) -> Outline:
    """`python_outline` for Python that parses; the scanner's definitions otherwise.

    Cached: the issues of a repository excerpt the same few files again and again."""
    if PurePosixPath(path).suffix.lower() in (".py", ".pyi"):
        exact = python_outline(text)
        if exact is not None:
            return exact
    return Outline(tuple(scan_definitions(path, text)), None)


def enclosing(definitions: Sequence[Definition], line: int) -> list[Definition]:
    """The definitions containing `line`, outermost first."""
    starts = [d.line for d in definitions]
    chain = []
    for definition in definitions[: bisect.bisect_right(starts, line)]:
        if definition.line <= line <= definition.end:
            chain.append(definition)
    return chain
