// Package sessions is sessions in Go: per user, the events of the current
// session; one last record when the session times out. (user, anything)
// in, (user, JSON) out.
package sessions

import (
	"fmt"

	"sluice"
)

// Signature: (user, anything) in, (user, JSON) out.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Key: sluice.Text, Value: sluice.Int64},
	Output: sluice.RecordType{Key: sluice.Text, Value: sluice.JSON},
}

// StateType: the events of the user's open session.
var StateType = sluice.Int64

// Init takes no parameters.
func Init(params map[string]string) error { return sluice.NoParams(params) }

// MapWithState counts the event into the session, or closes it.
func MapWithState(user sluice.Value, event *sluice.Value, state *sluice.State) (sluice.Record, error) {
	events := int64(0)
	if v, ok := state.Get(); ok {
		events = v.Int
	}
	if event != nil {
		events++
		state.Update(sluice.IntValue(events))
	}
	json := fmt.Sprintf(`{"events": %d, "closed": %t}`, events, event == nil)
	return sluice.Record{Key: user, Value: sluice.TextValue(json)}, nil
}
