"""sessions in Python: per user, the events of the current session; one
last record when the session times out. (user, anything) in, (user, JSON)
out."""
import sluice

SIGNATURE = sluice.signature(
    input=(sluice.TEXT, sluice.INT64), output=(sluice.TEXT, sluice.JSON)
)
STATE_TYPE = sluice.INT64


def map_with_state(user, event, state):
    events = state.get() or 0
    if event is not None:
        events += 1
        state.update(events)
    closed = "true" if event is None else "false"
    return (user, f'{{"events": {events}, "closed": {closed}}}')
