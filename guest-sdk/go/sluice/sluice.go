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
//   - one of Map, FlatMap, Filter or Reduce, matching `op` in
//     sluice-plugin.toml:
//
//     func Map(in sluice.Record) (sluice.Record, error)
//     func FlatMap(in sluice.Record, emit func(sluice.Record)) error
//     func Filter(in sluice.Record) (bool, error)
//     func Reduce(a, b sluice.Value) (sluice.Value, error)
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
