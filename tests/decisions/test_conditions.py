from __future__ import annotations

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
