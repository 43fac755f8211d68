//! `sessions`: a `map_with_state` operator that follows each user's
//! session: every event gives (user, the events of the session so far),
//! and when the user has been idle for the stream's `timeout`, one last
//! record closes the session.
//!
//! It takes (user, anything) records, e.g. `word-pair`'s (word, 1), and
//! gives (user, JSON): `{"events": 2, "closed": false}`.

use sluice_guest::{Json, State, map_with_state};

/// The user's session after this event, or its end when it times out.
#[map_with_state]
fn session(user: &str, event: Option<i64>, state: &mut State<i64>) -> (String, Json<String>) {
    let events = state.get().copied().unwrap_or(0);
    let (events, closed) = match event {
        Some(_) => {
            state.update(events + 1);
            (events + 1, false)
        }
        // Timing out: the session ends with the events it had.
        None => (events, true),
    };
    (
        user.to_owned(),
        Json(format!("{{\"events\": {events}, \"closed\": {closed}}}")),
    )
}
