"""The parameter declaration: one place that validates, describes and serialises."""

import math

import pytest

from simulations import Param, ParamError

FANOUT = Param(name="fanout", kind="int", default=10, min=1, max=500, label="Fan-out")
PROB = Param(name="slow_prob", kind="float", default=0.01, min=0, max=0.2, label="p")
JITTER = Param(name="jitter", kind="choice", default="none", choices=("none", "full"), label="J")
FLAG = Param(name="breaker", kind="bool", default=False, label="Breaker")
STEPS = Param(name="steps", kind="int_list", default=(1, 5, 100), min=1, max=100, label="Steps")


def test_int_message_names_the_parameter_and_its_range():
    with pytest.raises(ParamError) as err:
        FANOUT.parse("1000")
    assert err.value.name == "fanout"
    assert err.value.message.startswith("fanout must be a whole number between 1 and 500")


@pytest.mark.parametrize("raw", ["", "abc", "10.5", "1e3", "0x10", "١٠", "9" * 30, "+-1", " "])
def test_int_rejects_anything_but_a_whole_number(raw):
    with pytest.raises(ParamError):
        FANOUT.parse(raw)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "0.3", "-0.1", "1_0", "", "0.1.1"])
def test_float_rejects_non_finite_and_out_of_range(raw):
    with pytest.raises(ParamError):
        PROB.parse(raw)


def test_values_round_trip_through_the_url():
    for p, value in [(FANOUT, 37), (PROB, 0.013), (JITTER, "full"), (FLAG, True),
                     (STEPS, (1, 25, 100))]:
        assert p.parse(p.to_query(value)) == value


def test_choice_and_bool_messages_list_what_is_allowed():
    with pytest.raises(ParamError, match="jitter must be one of none, full"):
        JITTER.parse("some")
    with pytest.raises(ParamError, match="breaker must be 0 or 1"):
        FLAG.parse("maybe")


def test_int_list_bounds_each_item_and_the_length():
    with pytest.raises(ParamError):
        STEPS.parse("1,500")
    with pytest.raises(ParamError):
        STEPS.parse(",".join(["1"] * 11))
    assert STEPS.parse(" 1, 5 ,100") == (1, 5, 100)


def test_an_invalid_default_is_a_programming_error():
    with pytest.raises(ParamError):
        Param(name="x", kind="int", default=0, min=1, max=2, label="x")


def test_json_schema_carries_the_bounds():
    assert FANOUT.json_schema() == {"type": "integer", "minimum": 1, "maximum": 500,
                                    "default": 10}
    assert math.isclose(PROB.json_schema()["maximum"], 0.2)
