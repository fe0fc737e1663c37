"""Code out of a model's reply, and `echo-ast` agreement between two replies.

The shapes the team's HumanEval harness met, and what each becomes (the code is then
run as `prompt + code + test`, see `sandbox.compose`, so a full `def` replaces the
prompt's stub and a body completes it):

- fenced blocks (```python, ```py, bare ```): the block that defines the entry point,
  else the first one that parses, else the first one;
- a full `def` with the prompt's signature (with imports or helpers around it): as is;
- a body only: dedented, then indented four spaces under the prompt's signature; a
  bare expression (`[x + 1 for x in xs]`) becomes `return <expr>`, as the team's runner
  made it;
- one `inline` span and nothing else (`` `"".join(strings)` ``): the code inside it;
- prose around unfenced code: the longest run of lines, from a line that starts a
  definition or import, that parses and defines the entry point.

A reply that fits none of them is returned as written, so the sandbox reports its
SyntaxError as the team's files do.

`ast_agree` decides whether two replies are the same program: both are extracted, a body
is completed with the prompt's signature, and the modules are compared as syntax trees
without docstrings, imports or anything the prompt itself defines; comments and layout
never reach the tree. Names are kept by default, as in the team's `echo-ast` arm (two
solutions that differ only in a local's name disagree); `rename_locals=True` renames
parameters and locals by order of first appearance, for an arm that forgives naming.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PY_TAGS = {"", "python", "python3", "py"}
_START = re.compile(r"^(?:def |async def |class |from \S+ import |import |@)")
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Extracted:
    """The code to run, the shape it was found in (fenced, def, body, prose, raw), and
    whether it is a body that completes the prompt's signature rather than a whole def."""

    code: str
    shape: str
    body: bool = False


def _tree(code: str) -> ast.Module | None:
    """The module `code` parses to; None when it is not Python."""
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _defines(code: str, entry_point: str) -> bool:
    tree = _tree(code)
    return tree is not None and any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry_point
        for n in tree.body)


def _parses(code: str) -> bool:
    return _tree(code) is not None


def _fenced(reply: str, entry_point: str) -> str | None:
    blocks = [body for tag, body in _FENCE.findall(reply) if tag.lower() in _PY_TAGS]
    if not blocks:
        return None
    for test in (lambda b: _defines(textwrap.dedent(b), entry_point),
                 lambda b: _parses(textwrap.dedent(b))):
        for block in blocks:
            if test(block):
                return block
    return blocks[0]


def _from_prose(reply: str, entry_point: str) -> str | None:
    lines = reply.splitlines()
    # a chunk can only end before a line at column 0 (or at the end): few parses per start
    ends = [i for i, ln in enumerate(lines) if ln[:1].strip()] + [len(lines)]
    for start, line in enumerate(lines):
        if not _START.match(line):
            continue
        for end in reversed([e for e in ends if e > start]):
            chunk = "\n".join(lines[start:end]).rstrip() + "\n"
            if _defines(chunk, entry_point):
                return chunk
    return None


def _shape(code: str, prompt: str, entry_point: str) -> Extracted | None:
    """A full definition or a body, from code that is code (no prose, no fences)."""
    plain = textwrap.dedent(code)
    if _defines(plain, entry_point):
        return Extracted(plain, "def")
    if _is_expression(plain.strip()):
        plain = "return " + plain.strip()
    body = textwrap.indent(plain.strip("\n") + "\n", "    ")
    if _parses(prompt + "\n" + body):
        return Extracted(body, "body", body=True)
    return None


def _is_expression(code: str) -> bool:
    try:
        ast.parse(code, mode="eval")
    except SyntaxError:
        return False
    return bool(code)


def extract(reply: str, prompt: str, entry_point: str) -> Extracted:
    """The code to run for `reply` to the problem `prompt` (see the module docstring)."""
    block = _fenced(reply, entry_point)
    if block is not None:
        shaped = _shape(block, prompt, entry_point)
        if shaped is None:
            return Extracted(block, "fenced")
        return Extracted(shaped.code, "fenced", body=shaped.body)
    inline = _INLINE.fullmatch(reply.strip())
    if inline is not None:
        shaped = _shape(inline[1].strip(), prompt, entry_point)
        if shaped is not None:
            return Extracted(shaped.code, "inline", body=shaped.body)
    shaped = _shape(reply, prompt, entry_point)
    if shaped is not None:
        return shaped
    prose = _from_prose(reply, entry_point)
    if prose is not None:
        return Extracted(prose, "prose")
    return Extracted(reply, "raw")


def reply_code(reply: str, prompt: str, entry_point: str) -> str:
    """The code of `reply` as the model wrote it, before it is made a program: the fenced
    block `extract` picks, else the one `inline` span's inside, else the code among prose,
    else the whole reply; dedented, blank edges stripped. A bare expression stays bare.

    Why apart from `extract`: this is what a code judge compares (echo-judge on HumanEval),
    as the team's runner showed its judge the code it stripped of fences, not the program
    it ran."""
    block = _fenced(reply, entry_point)
    if block is not None:
        return textwrap.dedent(block).strip()
    plain = textwrap.dedent(reply).strip()
    inline = _INLINE.fullmatch(plain)
    if inline is not None:
        return inline[1].strip()
    if _shape(reply, prompt, entry_point) is None:
        prose = _from_prose(reply, entry_point)
        if prose is not None:
            return prose.strip()
    return plain


# --------------------------------------------------------------------------- agreement


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]


def _locals_of(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    """Parameters, then names bound in the body (not inside nested scopes), in order."""
    names = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
    names += [a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None]
    declared: set[str] = set()
    todo = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append(node.name)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
            continue
        if not isinstance(node, ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return [n for n in dict.fromkeys(names) if n not in declared]


class _Renamer(ast.NodeTransformer):
    """Every function's parameters and locals become v0, v1, ... by first appearance."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, str]] = [{}]
        self.count = 0

    def _scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> ast.AST:
        scope = dict(self.scopes[-1])
        for name in _locals_of(node):
            scope[name] = f"v{self.count}"
            self.count += 1
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:  # noqa: N802
        node.name = self.scopes[-1].get(node.name, node.name)
        return self._scope(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815
    visit_Lambda = _scope  # noqa: N815

    def visit_Name(self, node: ast.Name) -> ast.AST:  # noqa: N802
        node.id = self.scopes[-1].get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self.scopes[-1].get(node.arg, node.arg)
        node.annotation = self.visit(node.annotation) if node.annotation else None
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:  # noqa: N802
        if node.name:
            node.name = self.scopes[-1].get(node.name, node.name)
        self.generic_visit(node)
        return node


def _dumps(code: str, rename_locals: bool) -> list[str]:
    tree = ast.parse(code)
    _strip_docstrings(tree)
    if rename_locals:
        tree = _Renamer().visit(tree)
    return [ast.dump(s, annotate_fields=False) for s in tree.body
            if not isinstance(s, ast.Import | ast.ImportFrom)]


def normalised(reply: str, prompt: str, entry_point: str, *,
               rename_locals: bool = False) -> list[str] | None:
    """The reply's top-level statements as compared by `ast_agree`; None if it won't parse."""
    got = extract(reply, prompt, entry_point)
    code = prompt + "\n" + got.code if got.body else got.code
    try:
        given = set(_dumps(prompt, rename_locals))
        return [s for s in _dumps(code, rename_locals) if s not in given]
    except SyntaxError:
        return None


def ast_agree(a: str, b: str, prompt: str, entry_point: str, *,
              rename_locals: bool = False) -> bool:
    """True when both replies are the same program; a reply that won't parse never agrees."""
    na = normalised(a, prompt, entry_point, rename_locals=rename_locals)
    nb = normalised(b, prompt, entry_point, rename_locals=rename_locals)
    return na is not None and na == nb
