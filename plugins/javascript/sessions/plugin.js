// sessions in JavaScript: per user, the events of the current session; one
// last record when the session times out. (user, anything) in, (user, JSON)
// out.
export const signature = { input: ["text", "int64"], output: ["text", "json"] };
export const stateType = "int64";

export function mapWithState(user, event, state) {
  let events = state.get() ?? 0n;
  if (event !== undefined) {
    events += 1n;
    state.update(events);
  }
  return [user, `{"events": ${events}, "closed": ${event === undefined}}`];
}
