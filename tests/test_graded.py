"""bmcourse.graded, what hidden tests call: a forbidden function raises however the answer reaches it
(by its module, by a name the notebook imported, as the answer itself, through a default argument or
functools.partial), everything is restored afterwards, and comparisons never show a value."""
from __future__ import annotations

import functools

import pytest

from bmcourse import graded
from bmcourse import transfer as tr

TAGS, MAPPING = ["B-person", "I-person", "O", "B-city"], {"person": "PER"}
FORBID = ("bmcourse.transfer.map_tags", "bmcourse.transfer.source.map_tags")


@pytest.mark.parametrize("answer", [
    lambda t, m: tr.map_tags(t, m),                       # through the package
    tr.map_tags,                                          # the answer is the forbidden function
    lambda t, m, f=tr.map_tags: f(t, m),                  # captured in a default argument
    functools.partial(tr.map_tags),                       # wrapped
], ids=["module", "itself", "default-argument", "partial"])
def test_every_route_to_a_forbidden_function_raises(answer) -> None:
    with pytest.raises(graded.ForbiddenCall, match="map_tags"):
        graded.call(answer, TAGS, MAPPING, forbid=FORBID)
    assert tr.map_tags(TAGS, MAPPING) == ["B-PER", "I-PER", "O", "O"]  # restored, code and module attribute


def test_a_name_bound_in_the_notebook_is_forbidden_too() -> None:
    import __main__

    __main__.map_tags = tr.map_tags  # `from bmcourse.transfer import map_tags` in a kernel
    try:
        with pytest.raises(graded.ForbiddenCall):
            graded.call(lambda t, m: __main__.map_tags(t, m), TAGS, MAPPING, forbid=FORBID)
        assert __main__.map_tags is tr.map_tags
    finally:
        del __main__.map_tags


def test_a_correct_answer_by_hand_passes_and_comparisons_hide_values() -> None:
    def by_hand(tags, mapping):
        out = []
        for tag in tags:
            prefix, _, kind = tag.partition("-")
            out.append(f"{prefix}-{mapping[kind]}" if kind in mapping else "O")
        return out

    assert graded.call(by_hand, TAGS, MAPPING, forbid=FORBID) == tr.map_tags(TAGS, MAPPING)
    graded.check_function(lambda x: 2 * x, [((1.5,), 3.0), ((2.0,), 4.0)], "double")
    with pytest.raises(AssertionError) as caught:
        graded.check_function(lambda x: x, [((1.5,), 3.0)], "double")
    assert "3.0" not in str(caught.value) and "1.5" not in str(caught.value)
    with pytest.raises(AssertionError, match="expected a function"):
        graded.call(..., 1)
