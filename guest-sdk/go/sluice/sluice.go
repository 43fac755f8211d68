// Package sluice lets you write a Sluice operator in Go as one function per
// record.
//
// The contract (wit/operator.wit) passes whole partition batches in column
// layout; the glue that `sluice plugin build` generates decodes each batch,
// calls your function for each record and encodes the output columns. Your
// package (the root package of your module) exports:
//
//   - Signature: the record types your operator takes and gives;
//   - Init(params map[string]string) error: reads the stream's parameters
//     (return sluice.NoParams(params) if it takes none);
//   - one of Map, FlatMap, Filter, Reduce, InverseReduce, UpdateState or
//     MapWithState, matching `op` in sluice-plugin.toml:
//
//     func Map(in sluice.Record) (sluice.Record, error)
//     func FlatMap(in sluice.Record, emit func(sluice.Record)) error
//     func Filter(in sluice.Record) (bool, error)
//     func Reduce(a, b sluice.Value) (sluice.Value, error)
//     func InverseReduce(total, leaving sluice.Value) (sluice.Value, error)
//     func UpdateState(values []sluice.Value, state *sluice.Value) (*sluice.Value, error)
//     func MapWithState(key sluice.Value, value *sluice.Value, state *sluice.State) (sluice.Record, error)
//
// InverseReduce undoes Reduce for a window's `inverse_plugin`. UpdateState
// gets a key's new values and its previous state (nil for a new key) and
// returns the new state, or nil to remove the key; Signature's output value
// type is the state type. MapWithState is called for each record of a key
// with new values (value nil when the key times out) and returns the mapped
// record; a state mapper also exports `var StateType = sluice.Int64` (its
// state's type).
//
// A returned error fails the batch and blames the record.
package sluice

import "fmt"

// Type is the logical type of keys or values (the contract's value-type).
type Type uint8

const (
	// None is no key: an unkeyed stream; for a reducer's input, any key type.
	None Type = iota
	// Text is UTF-8 text, in Value.Text.
	Text
	// Bytes are arbitrary bytes, in Value.Bytes.
	Bytes
	// Int64 is a signed 64-bit integer, in Value.Int.
	Int64
	// Float64 is a 64-bit float, in Value.Float.
	Float64
	// JSON is one JSON document as text, in Value.Text.
	JSON
)

// RecordType is the shape of records: a key type (None for unkeyed) and a
// value type.
type RecordType struct {
	Key   Type
	Value Type
}

// Signature is what an operator takes and gives.
type Signature struct {
	Input  RecordType
	Output RecordType
}

// Value is one key or value; which field holds it depends on its Type.
type Value struct {
	// Text holds text and JSON values.
	Text string
	// Bytes holds bytes values.
	Bytes []byte
	// Int holds int64 values.
	Int int64
	// Float holds float64 values.
	Float float64
}

// Record is one record; Key is meaningful only in a keyed stream.
type Record struct {
	Key   Value
	Value Value
}

// State is a key's state in MapWithState: read Value when Exists; Update
// or Remove it. TimingOut marks the key's last call (no value), after which
// its state is removed whatever the call does.
type State struct {
	Value     Value
	Exists    bool
	TimingOut bool
}

// Get is the state, and whether the key has one.
func (s *State) Get() (Value, bool) { return s.Value, s.Exists }

// Update replaces the state.
func (s *State) Update(v Value) {
	s.Value = v
	s.Exists = true
}

// Remove removes the key's state.
func (s *State) Remove() {
	s.Value = Value{}
	s.Exists = false
}

// TextValue is a text Value.
func TextValue(s string) Value { return Value{Text: s} }

// IntValue is an int64 Value.
func IntValue(i int64) Value { return Value{Int: i} }

// NoParams refuses any parameter, for operators that take none.
func NoParams(params map[string]string) error {
	for name := range params {
		return fmt.Errorf("unknown parameter `%s`; this operator takes no parameters", name)
	}
	return nil
}
