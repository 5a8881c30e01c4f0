from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisions.conditions import ConditionError, compile_condition

PERSON = {
    "traits": {"plan": "gold", "email_verified": False, "country": "PT"},
    "features": {"count_7d": {"page_pricing": 3}, "monetary_30d": 120.5, "recency_days": 2},
    "scores": {"churn_risk": 0.72, "conversion": 0.1},
    "context": {"channel": "in_app"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('traits.plan in ["gold", "platinum"] and scores.churn_risk >= 0.6', True),
        ("features.count_7d.page_pricing >= 3 or not traits.email_verified", True),
        ('features.monetary_30d > 100 and context.channel == "in_app"', True),
        ("features.monetary_30d * 2 > 300", False),
        ("scores.conversion < 0.05", False),
        ('traits.country not in ["US", "CA"]', True),
        ("1 < features.recency_days <= 3", True),
        ("traits.missing == null", True),
        ("traits.missing > 3", False),  # absent values never match an ordering
        ("traits.plan > 3", False),  # unlike types never match either
        ("features.monetary_30d / 0 > 1", False),
        ("", True),  # no condition: everyone is eligible
        ("true", True),
    ],
)
def test_conditions_evaluate(source: str, expected: bool) -> None:
    assert compile_condition(source)(PERSON) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os').system('id')", "calling a function"),
        ("traits['plan'] == 'gold'", "indexing with []"),
        ("plan == 'gold'", "unknown name 'plan'"),
        ("scores == 1", "'scores' needs a field name"),
        ("traits.plan ==", "not a valid condition"),
        ("(lambda: 1)()", "calling a function"),
        ("traits.plan is None", "use == != < <= > >= in"),
        ("x.y.z > 1", "a field must start with one of traits"),
        ("traits.a ** 2 > 1", "only + - * /"),
        ("{'a': 1}", "a {...} mapping"),
    ],
)
def test_bad_conditions_are_refused_with_a_clear_reason(source: str, message: str) -> None:
    with pytest.raises(ConditionError) as error:
        compile_condition(source)
    assert message in str(error.value)


def test_references_list_the_fields_used() -> None:
    condition = compile_condition("traits.plan == 'gold' and scores.churn_risk > 0.5")
    assert condition.references == {"traits.plan", "scores.churn_risk"}


def test_long_or_deep_conditions_are_refused() -> None:
    with pytest.raises(ConditionError, match="too complex"):
        compile_condition(" or ".join(["traits.a == 1"] * 100))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_compiler(source: str) -> None:
    try:
        condition = compile_condition(source)
    except ConditionError:
        return
    assert condition(PERSON) in (True, False)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10),
    st.floats(allow_nan=False, min_value=-10, max_value=10),
    st.text(max_size=3),
    st.lists(st.integers(min_value=0, max_value=3), max_size=3),
)


@given(value=_VALUES, constant=st.one_of(st.integers(0, 5), st.floats(0, 5), st.sampled_from(["a", "true", "null"])))
@settings(max_examples=300)
def test_the_fast_paths_answer_like_the_general_evaluation(value, constant) -> None:
    """Literals on the right, constant lists and root.field lookups take shortcuts; each must
    answer exactly as the general evaluation (_safe_compare, _contains, _lookup) would."""
    import operator

    from decisions.conditions import _contains, _safe_compare

    literal = constant if isinstance(constant, str) and constant in {"true", "null"} else repr(constant)
    known = {"true": True, "null": None}
    right = known.get(literal, constant)
    data = {"traits": {"x": value}}
    for symbol, fn in {
        ">": operator.gt,
        ">=": operator.ge,
        "<": operator.lt,
        "<=": operator.le,
        "==": operator.eq,
        "!=": operator.ne,
    }.items():
        assert compile_condition(f"traits.x {symbol} {literal}")(data) is bool(_safe_compare(fn, value, right)), symbol
    members = [right, 2]
    assert compile_condition(f"traits.x in [{literal}, 2]")(data) is _contains(members, value)
    assert compile_condition(f"traits.x not in [{literal}, 2]")(data) is (not _contains(members, value))
    assert compile_condition("traits.x == null")({"traits": value}) is True  # a root that is no object has no fields


# Literals and stored values from one small pool, so comparisons often meet equal, ordered,
# unlike or missing values.
_POOL_LITERALS = ["0", "1", "2", "1.5", "-1", "1e999", "'a'", "''", "true", "false", "null", "[1, 'a', null]", "[]"]
_POOL_VALUES: list[Any] = [0, 1, 2, 1.5, -1, float("inf"), "a", "", True, False, None, [1, "a"], {"b": 1}]
_FIELDS = st.sampled_from(["traits.x", "traits.y", "scores.s", "features.a.b", "context.c", "profile.id"])


def _conditions() -> st.SearchStrategy[str]:
    terms = st.recursive(
        st.one_of(_FIELDS, _FIELDS, st.sampled_from(_POOL_LITERALS)),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda t: f"-{t}"),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        ),
        max_leaves=3,
    )
    single = st.tuples(terms, st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]), terms)
    chained = st.tuples(terms, st.sampled_from(["<", "<=", "=="]), terms, st.sampled_from([">", "!=", "in"]), terms)
    comparisons = st.one_of(
        single.map(" ".join), single.map(" ".join), chained.map(" ".join), terms
    )  # a bare term is allowed too: its truth
    return st.recursive(
        comparisons,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} or {t[1]} and {t[2]}"),
            inner.map(lambda t: f"not ({t})"),
        ),
        max_leaves=4,
    )


def _people() -> st.SearchStrategy[Any]:
    values = st.sampled_from(_POOL_VALUES)
    root = st.one_of(
        st.fixed_dictionaries({}, optional={"x": values, "y": values, "s": values, "c": values, "id": values}),
        st.fixed_dictionaries({"a": st.one_of(values, st.fixed_dictionaries({"b": values}))}),
        values,  # a root that is no object
    )
    person = st.fixed_dictionaries(
        {}, optional=dict.fromkeys(["traits", "scores", "features", "context", "profile"], root)
    )
    return st.one_of(person, person, person.map(MappingProxyType))  # not a dict: handed to the closures


def _outcome(evaluate: Any, data: Any) -> tuple[str, Any]:
    try:
        value = evaluate(data)
    except Exception as exc:  # the two evaluations must fail alike, too
        return "raised", type(exc)
    if isinstance(value, float) and math.isnan(value):
        return "nan", None
    return type(value).__name__, value


@settings(max_examples=600, deadline=None)
@given(source=_conditions(), data=_people())
def test_the_generated_evaluator_answers_exactly_as_the_closures(source: str, data: Any) -> None:
    """Every condition the compiler accepts is evaluated by generated code; it must return what the
    closures return (value and type, or the same exception) for any person, dict or not."""
    import ast

    from decisions.conditions import _Compiler

    try:
        condition = compile_condition(source)
    except ConditionError:
        return
    closure = _Compiler().compile(ast.parse(condition.source, mode="eval"))
    assert condition.evaluate is not closure
    assert _outcome(condition.evaluate, data) == _outcome(closure, data), source


def test_conditions_nested_deeper_than_python_compiles_fall_back_to_the_closures() -> None:
    condition = compile_condition("not " * 198 + "traits.x")  # within MAX_NODES; the generated source is not
    assert condition.evaluate.__name__ != "_evaluate"
    assert condition({"traits": {"x": 1}}) is True
    assert condition({"traits": {"x": 0}}) is False
    assert compile_condition("not " * 197 + "traits.x").evaluate.__name__ == "_evaluate"


_FORMS = [
    "traits.x {op} {lit}",
    "{lit} {op} traits.x",
    "traits.x {op} traits.y",
    "-traits.x {op} {lit}",
    "traits.x + {lit} {op} 1",
    "traits.x - {lit} {op} 0",
    "traits.x * traits.y {op} {lit}",
    "traits.x / {lit} {op} 1",
    "not traits.x {op} {lit}",
    "features.a.b {op} {lit}",
    "traits.x {op} [{lit}, traits.y]",
    "traits.x {op} {lit} and traits.y or traits.x",
]


def test_the_generated_evaluator_answers_as_the_closures_on_every_operator_literal_and_value() -> None:
    """Exhaustive over the common shapes: each operator, each literal of the pool, each stored value
    (and a missing field, a root that is no object, a person that is no dict)."""
    import ast

    from decisions.conditions import _Compiler

    people: list[Any] = [{}, {"traits": 3}, MappingProxyType({"traits": {"x": 1, "y": 2}})]
    for x in _POOL_VALUES:
        for y in (1, "a", None):
            people.append({"traits": {"x": x, "y": y}, "features": {"a": {"b": x}}})
    for form in _FORMS:
        for op in ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]:
            for literal in _POOL_LITERALS:
                condition = compile_condition(form.format(op=op, lit=literal))
                closure = _Compiler().compile(ast.parse(condition.source, mode="eval"))
                for person in people:
                    expected = _outcome(closure, person)
                    assert _outcome(condition.evaluate, person) == expected, (condition.source, person)
