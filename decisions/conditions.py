"""Eligibility conditions: a small, safe, declarative language over traits, features and scores.

Examples::

    traits.plan in ["gold", "platinum"] and scores.churn_risk >= 0.6
    features.count_7d.page_pricing >= 3 or not traits.email_verified
    features.monetary_30d > 100 and context.channel == "in_app"

Grammar: Python expression syntax restricted to ``and``, ``or``, ``not``, comparisons
(``== != < <= > >= in``, ``not in``), ``+ - * /`` on numbers, parentheses, literals (numbers,
strings, ``true``/``false``/``null`` or ``True``/``False``/``None``, lists), and dotted names
rooted at ``traits``, ``features``, ``scores``, ``context``, ``profile``. No calls, no
subscripts, no attribute access on anything else: it is parsed with ``ast``, checked node by
node, and never ``eval``-ed. The checked tree is then compiled twice: to closures (the reference
evaluation) and to one generated Python function whose source holds only operators and names
the generator made, every literal and field name living in its namespace (``_Generator``), so
nothing from the condition's text is ever parsed as code. The generated function answers exactly
as the closures do, several calls cheaper: with 50 candidate actions a decision evaluates 50
conditions. A missing value is ``None``; an ordering comparison with
``None`` (or between unlike types) is false rather than an error, so a condition on an
absent trait simply does not match.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ROOTS = ("traits", "features", "scores", "context", "profile")
MAX_LENGTH = 2000
MAX_NODES = 200

Evaluator = Callable[[Mapping[str, Any]], Any]

_LITERAL_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


class ConditionError(ValueError):
    """A condition that cannot be accepted; ``column`` is 1-based, 0 when unknown."""

    def __init__(self, message: str, column: int = 0) -> None:
        super().__init__(message if not column else f"{message} (at column {column})")
        self.column = column


@dataclass(frozen=True)
class Condition:
    source: str
    evaluate: Evaluator
    references: frozenset[str]  # dotted names used, e.g. "scores.churn_risk"

    def __call__(self, data: Mapping[str, Any]) -> bool:
        try:
            return bool(self.evaluate(data))
        except (TypeError, ZeroDivisionError, ArithmeticError):
            return False


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        # Plain dicts first: isinstance against the Mapping ABC is slow, and this runs for every
        # name in every condition of every candidate.
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
        if value is None:
            return None
    return value


def _safe_compare(op: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if op in (operator.eq, operator.ne):
        return op(left, right)
    if left is None or right is None:
        return False
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    try:
        return op(left, right)
    except TypeError:
        return False


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list | tuple | set | frozenset | str | Mapping):
        try:
            return item in container
        except TypeError:
            return False
    return False


def _arith(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    if not isinstance(left, int | float) or not isinstance(right, int | float):
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        return None
    try:
        return op(left, right)
    except ZeroDivisionError:
        return None


class _Compiler:
    def __init__(self) -> None:
        self.references: set[str] = set()
        self.nodes = 0

    def compile(self, node: ast.AST) -> Evaluator:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConditionError(f"condition is too complex (more than {MAX_NODES} parts)")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise ConditionError(f"'{_describe(node)}' is not allowed in a condition", _col(node))
        result: Evaluator = method(node)
        return result

    def _Expression(self, node: ast.Expression) -> Evaluator:
        return self.compile(node.body)

    def _BoolOp(self, node: ast.BoolOp) -> Evaluator:
        parts = [self.compile(value) for value in node.values]
        if len(parts) == 2:  # the common case, without generator overhead
            first, second = parts
            if isinstance(node.op, ast.And):
                return lambda data: bool(first(data)) and bool(second(data))
            return lambda data: bool(first(data)) or bool(second(data))
        if isinstance(node.op, ast.And):
            return lambda data: all(bool(part(data)) for part in parts)
        return lambda data: any(bool(part(data)) for part in parts)

    def _UnaryOp(self, node: ast.UnaryOp) -> Evaluator:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda data: not bool(operand(data))
        if isinstance(node.op, ast.USub):
            return lambda data: _arith(operator.sub, 0, operand(data))
        raise ConditionError("only 'not' and '-' are allowed before a value", _col(node))

    def _BinOp(self, node: ast.BinOp) -> Evaluator:
        op = _ARITH.get(type(node.op))
        if op is None:
            raise ConditionError("only + - * / are allowed in arithmetic", _col(node))
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda data: _arith(op, left(data), right(data))

    def _Compare(self, node: ast.Compare) -> Evaluator:
        operands = [self.compile(node.left), *[self.compile(c) for c in node.comparators]]
        checks: list[Callable[[Any, Any], bool]] = []
        for op in node.ops:
            if isinstance(op, ast.In):
                checks.append(lambda left, right: _contains(right, left))
            elif isinstance(op, ast.NotIn):
                checks.append(lambda left, right: not _contains(right, left))
            elif type(op) in _COMPARE:
                fn = _COMPARE[type(op)]
                checks.append(lambda left, right, fn=fn: _safe_compare(fn, left, right))  # type: ignore[misc]
            else:
                raise ConditionError("use == != < <= > >= in or 'not in' to compare", _col(node))

        if len(checks) == 1:  # a single comparison, the common case
            check, (left, right) = checks[0], operands
            constant = _constant_of(node.comparators[0])
            if constant is not _NOT_CONSTANT:  # e.g. scores.churn > 0.5: no call for the right side
                fast = _fast_compare(node.ops[0], constant)
                if fast is not None:
                    return lambda data: fast(left(data))
                return lambda data: check(left(data), constant)
            return lambda data: check(left(data), right(data))

        def evaluate(data: Mapping[str, Any]) -> bool:
            values = [operand(data) for operand in operands]
            return all(check(values[i], values[i + 1]) for i, check in enumerate(checks))

        return evaluate

    def _Constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if not isinstance(value, int | float | str | bool) and value is not None:
            raise ConditionError("only numbers, text, true/false and null are allowed as values", _col(node))
        return lambda data: value

    def _List(self, node: ast.List) -> Evaluator:
        items = [self.compile(element) for element in node.elts]
        constants = _literal_list(node)
        if constants is not None:  # ['gold', 'silver']: built once
            return lambda data: constants
        return lambda data: [item(data) for item in items]

    _Tuple = _List

    def _Name(self, node: ast.Name) -> Evaluator:
        if node.id in _LITERAL_NAMES:
            value = _LITERAL_NAMES[node.id]
            return lambda data: value
        if node.id in ROOTS:
            raise ConditionError(f"'{node.id}' needs a field name, e.g. {node.id}.something", _col(node))
        raise ConditionError(
            f"unknown name '{node.id}': start with one of {', '.join(ROOTS)} (or use true/false/null)", _col(node)
        )

    def _Attribute(self, node: ast.Attribute) -> Evaluator:
        frozen = _field_path(node)
        if frozen is None:
            raise ConditionError(f"a field must start with one of {', '.join(ROOTS)}", _col(node))
        self.references.add(".".join(frozen))
        if len(frozen) == 2:  # root.field, the common case: two dict lookups, no loop
            root, name = frozen

            def two(data: Mapping[str, Any]) -> Any:
                if type(data) is dict:
                    inner = data.get(root)
                    if type(inner) is dict:
                        return inner.get(name)
                    if inner is None:
                        return None
                return _lookup(data, frozen)

            return two
        return lambda data: _lookup(data, frozen)


_NOT_CONSTANT = object()
_NUMBERS = (int, float)


def _constant_of(node: ast.AST) -> Any:
    """The value of a literal the compiler accepts (number, text, bool, None, true/false/null),
    else _NOT_CONSTANT. Negative numbers are UnaryOp nodes and are left to the general path."""
    if isinstance(node, ast.Constant) and (isinstance(node.value, int | float | str | bool) or node.value is None):
        return node.value
    if isinstance(node, ast.Name) and node.id in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id]
    return _NOT_CONSTANT


def _literal_list(node: ast.List | ast.Tuple) -> list[Any] | None:
    """The values of a list display made only of literals (``['gold', 'silver']``), else None."""
    constants = [_constant_of(element) for element in node.elts]
    return None if any(c is _NOT_CONSTANT for c in constants) else constants


def _field_path(node: ast.Attribute) -> tuple[str, ...] | None:
    """``traits.plan`` as ("traits", "plan"); None unless it starts at one of ROOTS."""
    path: list[str] = []
    current: ast.AST = node
    while isinstance(current, ast.Attribute):
        path.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name) or current.id not in ROOTS:
        return None
    path.append(current.id)
    return tuple(reversed(path))


def _fast_compare(op: ast.cmpop, constant: Any) -> Callable[[Any], bool] | None:
    """``left <op> constant`` for an ordering against a number, answering exactly as
    ``_safe_compare`` does: plain ints and floats compare directly, anything else (None, text,
    booleans) goes the general way."""
    fn = _COMPARE.get(type(op))
    if fn is None or fn in (operator.eq, operator.ne) or type(constant) not in _NUMBERS:
        return None

    def compare(left: Any) -> bool:
        if type(left) in _NUMBERS:
            return bool(fn(left, constant))
        return _safe_compare(fn, left, constant)

    return compare


_GENERATED_BUILTINS = {"bool": bool, "type": type, "dict": dict}
_OPERATOR_NAMES = {
    operator.eq: "_eq",
    operator.ne: "_ne",
    operator.lt: "_lt",
    operator.le: "_le",
    operator.gt: "_gt",
    operator.ge: "_ge",
    operator.add: "_add",
    operator.sub: "_sub",
    operator.mul: "_mul",
    operator.truediv: "_truediv",
}
_ORDERING_SYMBOLS = {operator.lt: "<", operator.le: "<=", operator.gt: ">", operator.ge: ">="}


class _Generator:
    """Source for one Python expression over ``data`` (a dict: the generated function hands any
    other mapping to the closures) that evaluates a condition the ``_Compiler`` accepted exactly
    as its closures do. Literals, field names and paths go into ``namespace`` under names made
    here (``_c0``, ``_p1``); rare shapes (chained comparisons) call their closure (``_e2``)."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "__builtins__": _GENERATED_BUILTINS,
            "_lookup": _lookup,
            "_safe_compare": _safe_compare,
            "_contains": _contains,
            "_arith": _arith,
            "_NUMBERS": _NUMBERS,
            **{name: fn for fn, name in _OPERATOR_NAMES.items()},
        }
        self.count = 0

    def _name(self, prefix: str, value: Any = None, *, bind: bool = True) -> str:
        name = f"_{prefix}{self.count}"
        self.count += 1
        if bind:
            self.namespace[name] = value
        return name

    def expression(self, node: ast.AST) -> tuple[str, bool]:
        """(source, whether it always yields a bool) for a node the compiler accepted."""
        result: tuple[str, bool] = getattr(self, f"_{type(node).__name__}")(node)
        return result

    def _Expression(self, node: ast.Expression) -> tuple[str, bool]:
        return self.expression(node.body)

    def _BoolOp(self, node: ast.BoolOp) -> tuple[str, bool]:
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return f"({joiner.join(self._as_bool(value) for value in node.values)})", True

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[str, bool]:
        operand, _ = self.expression(node.operand)
        if isinstance(node.op, ast.Not):
            return f"(not {operand})", True
        return f"_arith(_sub, 0, {operand})", False  # USub: the compiler allows nothing else

    def _BinOp(self, node: ast.BinOp) -> tuple[str, bool]:
        left, _ = self.expression(node.left)
        right, _ = self.expression(node.right)
        return f"_arith({_OPERATOR_NAMES[_ARITH[type(node.op)]]}, {left}, {right})", False

    def _List(self, node: ast.List | ast.Tuple) -> tuple[str, bool]:
        constants = _literal_list(node)
        if constants is not None:
            return self._name("c", constants), False  # one list object, as the closure returns
        return f"[{', '.join(self.expression(element)[0] for element in node.elts)}]", False

    _Tuple = _List

    def _Constant(self, node: ast.Constant | ast.Name) -> tuple[str, bool]:
        constant = _constant_of(node)
        return self._name("c", constant), isinstance(constant, bool)

    _Name = _Constant  # the literal names (true, null, ...): the compiler refused any other

    def _Attribute(self, node: ast.Attribute) -> tuple[str, bool]:
        return self._field(node), False

    def _as_bool(self, node: ast.AST) -> str:
        source, is_bool = self.expression(node)
        return source if is_bool else f"bool({source})"

    def _field(self, node: ast.Attribute) -> str:
        path = _field_path(node)
        assert path is not None  # the compiler refused anything else
        whole = self._name("p", path)
        if len(path) != 2:
            return f"_lookup(data, {whole})"
        root, name, inner = self._name("c", path[0]), self._name("c", path[1]), self._name("i", bind=False)
        # As the closure ``two``: root.field by two dict lookups, None for a missing root, else _lookup.
        return (
            f"({inner}.get({name}) if type({inner} := data.get({root})) is dict "
            f"else (None if {inner} is None else _lookup(data, {whole})))"
        )

    def _Compare(self, node: ast.Compare) -> tuple[str, bool]:
        if len(node.ops) != 1:  # a chained comparison: rare, left to its closure
            closure = _Compiler().compile(node)
            return f"{self._name('e', closure)}(data)", True
        op, comparator = node.ops[0], node.comparators[0]
        left, _ = self.expression(node.left)
        right, _ = self.expression(comparator)
        if isinstance(op, ast.In | ast.NotIn):
            constants = isinstance(comparator, ast.List | ast.Tuple) and _literal_list(comparator) is not None
            # A list of literals: ``in`` compares with ==, which between literals and any JSON
            # value never raises, so _contains's guard has nothing to catch.
            test = f"({left} in {right})" if constants else f"_contains({right}, {left})"
            return (test if isinstance(op, ast.In) else f"(not {test})"), True
        fn = _COMPARE[type(op)]
        if fn in (operator.eq, operator.ne):  # _safe_compare applies these as they are
            return f"({left} {'==' if fn is operator.eq else '!='} {right})", True
        constant = _constant_of(comparator)
        if type(constant) in _NUMBERS:  # as _fast_compare: plain numbers compare directly
            value = self._name("l", bind=False)
            symbol = _ORDERING_SYMBOLS[fn]
            return (
                f"({value} {symbol} {right} if type({value} := {left}) in _NUMBERS "
                f"else _safe_compare({_OPERATOR_NAMES[fn]}, {value}, {right}))"
            ), True
        return f"_safe_compare({_OPERATOR_NAMES[fn]}, {left}, {right})", True


def _generate(tree: ast.Expression, closure: Evaluator) -> Evaluator:
    """The generated evaluator for a checked tree, or ``closure`` when Python will not compile the
    source (nesting deeper than its parser allows)."""
    generator = _Generator()
    try:
        body, _ = generator.expression(tree)
        source = (
            f"def _evaluate(data):\n    if type(data) is not dict:\n        return _closure(data)\n    return {body}\n"
        )
        code = compile(source, "<condition>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return closure
    namespace = {**generator.namespace, "_closure": closure}
    exec(code, namespace)  # noqa: S102 - generated source: operators and generated names only
    evaluate: Evaluator = namespace["_evaluate"]
    return evaluate


def _col(node: ast.AST) -> int:
    return int(getattr(node, "col_offset", -1)) + 1


def _describe(node: ast.AST) -> str:
    names = {
        "Call": "calling a function",
        "Subscript": "indexing with []",
        "Lambda": "lambda",
        "Dict": "a {...} mapping",
        "IfExp": "if/else inside a condition",
        "NamedExpr": ":=",
        "JoinedStr": "f-strings",
    }
    return names.get(type(node).__name__, type(node).__name__)


@functools.lru_cache(maxsize=4096)
def compile_condition(source: str) -> Condition:
    """Parse and compile; raise ConditionError with a reader-friendly message on bad input.
    Compiled conditions are immutable closures, so they are cached by their text."""
    text = (source or "").strip()
    if not text:
        return Condition(source="", evaluate=lambda data: True, references=frozenset())
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"condition is longer than {MAX_LENGTH} characters")
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"not a valid condition: {exc.msg}", exc.offset or 0) from None
    compiler = _Compiler()
    closure = compiler.compile(tree)
    return Condition(source=text, evaluate=_generate(tree, closure), references=frozenset(compiler.references))
