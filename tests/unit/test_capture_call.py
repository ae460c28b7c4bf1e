"""A call's states: the moves it may make, and those refused without a change."""

from __future__ import annotations

import pytest

from appliance.capture.call import TRANSITIONS, Call, CallState

MOVES = {
    (CallState.SETUP, CallState.ACTIVE),
    (CallState.SETUP, CallState.CANCELLED),
    (CallState.ACTIVE, CallState.ENDING),
}


def _call(state: CallState) -> Call:
    call = Call("0123456789abcdef", None, None, None)  # type: ignore[arg-type]
    call.state = state
    return call


@pytest.mark.parametrize("start", list(CallState))
@pytest.mark.parametrize("to", list(CallState))
def test_a_call_makes_only_the_moves_of_the_table(start: CallState, to: CallState):
    call = _call(start)
    allowed = (start, to) in MOVES
    assert call.move(to) is allowed
    assert call.state is (to if allowed else start)
    assert (to in TRANSITIONS[start]) is allowed


def test_a_late_cancel_or_a_second_bye_changes_nothing():
    call = _call(CallState.SETUP)
    assert call.move(CallState.ACTIVE) and not call.move(CallState.CANCELLED)
    assert call.move(CallState.ENDING) and not call.move(CallState.ENDING)
    assert call.state is CallState.ENDING
