// sluice.js: write a Sluice operator in JavaScript as one function per record.
//
// The contract (wit/operator.wit) passes whole partition batches in column
// layout; this module, bundled by `sluice plugin build`, decodes each batch,
// calls your function for each record and encodes the output columns. In
// `plugin.js` you export:
//
// - `signature = { input: T, output: T }`: the record types your operator
//   takes and gives. A type is "text", "bytes", "int64", "float64" or
//   "json"; a keyed stream's type is a [keyType, valueType] array.
// - one of `map`, `flatMap`, `flatMapValues`, `filter`, `reduce`,
//   `inverseReduce`, `updateState` or `mapWithState`, matching `op` in
//   sluice-plugin.toml. A
//   record of an unkeyed stream is passed as its value, a keyed record as
//   (key, value) arguments; a keyed output record is a [key, value] array.
//   `map` returns one record, `flatMap` an iterable of records,
//   `flatMapValues(value)` an iterable of values (the host puts each on the
//   key of the value it came from; the signature's types have no key), `filter` a
//   boolean, `reduce(a, b)` the combination of two values of one key
//   (associative and commutative), `inverseReduce(total, leaving)` the total
//   without the leaving value (a window's `inverse_plugin`).
//   `updateState(values, state)` gets a key's new values (an array,
//   possibly empty) and its previous state (undefined for a new key) and
//   returns the new state, or undefined to remove the key; the signature's
//   output value type is the state type. `mapWithState(key, value, state)`
//   is called for each record of a key with new values, and once with value
//   undefined when the key times out, with a `State` to read, update or
//   remove; it returns the mapped record, and `stateType` names the state's
//   type.
// - or, for `map`, `flatMap`, `filter` and `reduce`, the same function
//   over the whole partition batch, named with `Batch`: the vectorised
//   form, for when the per-record call is what costs (QuickJS interprets
//   every call and allocates every record). `mapBatch(values)`
//   (`mapBatch(keys, values)` for a keyed input) gets the batch's columns
//   and returns the output column, an array of values, or `[keys, values]`
//   for a keyed output; a `mapBatch` returns one value per input record, a
//   `flatMapBatch` any number. `filterBatch` returns one boolean per
//   record. `reduceBatch(groups)` gets an array of each key's values (at
//   least one each) and returns one combined value per group. In a batch
//   function an int64 column is a BigInt64Array and a float64 column a
//   Float64Array, and an output column of those types may be one too (a
//   BigInt64Array is taken as it is). Word count's split is
//   `lines.join("\n").split(/\s+/).filter(Boolean)`. An exception in a batch function blames
//   no single record: `on_error = "skip"` finds the record by retrying
//   halves of the batch. When a plugin exports both forms, the batch form
//   is used.
// - optionally `init(params)`, called with the stream's parameters as an
//   object of strings before the first record; the default refuses any
//   parameter.
//
// Text and JSON values are strings, bytes Uint8Arrays, int64 BigInts (a
// Number is accepted on output; every int64 is exact, since the contract
// carries numbers as bytes), float64 Numbers. An exception thrown by your
// function fails the batch; its message names the record and carries the
// exception's stack (shown in the error, `sluice logs` and the web UI).
//
// `console.log` (and `info`, `debug`) writes to the call's stdout,
// `console.warn` and `console.error` to its stderr: the host keeps what a
// call prints (up to a bound) for `sluice logs`, and stderr comes with the
// call's error. `Date.now()` and `performance.now()` read the sandbox's
// clocks, which hold the batch time, so a replayed batch gives the same
// output.

import stdout from "wasi:cli/stdout@0.2.12";
import stderr from "wasi:cli/stderr@0.2.12";
import textHints from "sluice:operator/text-hints@0.3.0";
import terminatedText from "sluice:operator/terminated-text@0.3.0";

const TYPES = ["text", "bytes", "int64", "float64", "json"];
// The functions that have a form over the whole batch (`<name>Batch`).
const BATCHED = ["map", "flatMap", "filter", "reduce"];
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class Bad extends Error {
  constructor(index, message) {
    super(message);
    this.index = index;
  }
}

function fail(message, index) {
  // A thrown object is the `error` case of the function's result.
  return { message, recordIndex: index };
}

function messageOf(e) {
  if (!(e instanceof Error)) return String(e);
  const message = e.name === "Error" ? e.message : `${e.name}: ${e.message}`;
  const stack = typeof e.stack === "string" ? e.stack.trimEnd() : "";
  return stack ? `${message}\n${stack}` : message;
}

function recordType(spec, what) {
  const [key, value] = Array.isArray(spec) ? spec : [undefined, spec];
  for (const t of [key, value]) {
    if (t !== undefined && !TYPES.includes(t)) {
      throw new Error(`signature.${what}: unknown type ${JSON.stringify(t)}; use one of ${TYPES.join(", ")}`);
    }
  }
  return { key, value };
}

// UTF-8, by hand: QuickJS has no TextEncoder/TextDecoder.
function decodeUtf8(bytes, start, end) {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (bytes[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    let s = "";
    for (let i = start; i < end; i += 4096) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)));
    }
    return s;
  }
  let s = "";
  let i = start;
  while (i < end) {
    const b = bytes[i++];
    let cp;
    if (b < 0x80) cp = b;
    else if (b < 0xe0) cp = ((b & 0x1f) << 6) | (bytes[i++] & 0x3f);
    else if (b < 0xf0) cp = ((b & 0x0f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    else cp = ((b & 0x07) << 18) | ((bytes[i++] & 0x3f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    s += String.fromCodePoint(cp);
  }
  return s;
}

// Appends `s` as UTF-8 to `out` (a growing byte writer).
function encodeUtf8(out, s) {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out.byte(c);
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate
    if (c < 0x800) {
      out.byte(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      out.byte(0xe0 | (c >> 12));
      out.byte(0x80 | ((c >> 6) & 0x3f));
    } else {
      out.byte(0xf0 | (c >> 18));
      out.byte(0x80 | ((c >> 12) & 0x3f));
      out.byte(0x80 | ((c >> 6) & 0x3f));
    }
    out.byte(0x80 | (c & 0x3f));
  }
}

class ByteWriter {
  constructor() {
    this.buf = new Uint8Array(4096);
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b) {
    if (this.len === this.buf.length) this.reserve(1);
    this.buf[this.len++] = b;
  }
  bytes(b) {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  take() {
    return this.buf.subarray(0, this.len);
  }
}

// What `console` prints for one argument: a string as it is, an error
// with its stack, anything else as JSON where it has a JSON form.
function printable(v) {
  if (typeof v === "string") return v;
  if (v instanceof Error) return v.stack ? `${v}\n${v.stack}`.trimEnd() : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol" || typeof v === "function" || v === undefined) return String(v);
  try {
    const json = JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x));
    return json === undefined ? String(v) : json;
  } catch {
    return String(v);
  }
}

// Writes a line to a WASI output stream, in pieces of at most 4096 bytes
// (the most one blocking write takes). The host takes every write (it
// keeps a bounded part), so a failure is not the plugin's to handle. The
// streams are opened at the first write: a call runs in a fresh instance.
const streams = {};
function printTo(name, args) {
  const out = new ByteWriter();
  encodeUtf8(out, args.map(printable).join(" ") + "\n");
  const bytes = out.take();
  try {
    streams[name] ??= name === "stdout" ? stdout.getStdout() : stderr.getStderr();
    for (let i = 0; i < bytes.length; i += 4096) streams[name].blockingWriteAndFlush(bytes.subarray(i, i + 4096));
  } catch {
    // Nothing to tell: the output is only kept for the logs.
  }
}

globalThis.console = {
  log: (...args) => printTo("stdout", args),
  info: (...args) => printTo("stdout", args),
  debug: (...args) => printTo("stdout", args),
  warn: (...args) => printTo("stderr", args),
  error: (...args) => printTo("stderr", args),
};

// Offsets, numbers and flags travel as little-endian bytes (the contract's
// u32-list, s64-list, f64-list and bool-list): componentize-qjs hands a
// list<u8> over as one Uint8Array, read here through a typed array over the
// same bytes, not converted element by element in the bindings.

/** `bytes` viewed as a typed array of `Type` (copied first if misaligned). */
function viewAs(bytes, Type) {
  const width = Type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % width !== 0) bytes = bytes.slice();
  return new Type(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / width));
}

/** A typed array as the bytes it holds. */
function bytesOf(typed) {
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

// The bytes as a string of one character per byte when every byte is
// ASCII, else undefined; built in C, in chunks (a call takes at most 65535
// arguments). Read as signed bytes, a byte of 0x80 or more becomes a
// character above 0xff, which `btoa` refuses: the check costs a pass in C
// instead of a regular expression, which QuickJS tries at every character
// (about as slow as building the string).
function asciiText(bytes) {
  const CHUNK = 32768;
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const parts = [];
  for (let i = 0; i < signed.length; i += CHUNK) {
    const part = String.fromCharCode.apply(null, signed.subarray(i, i + CHUNK));
    try {
      btoa(part);
    } catch {
      return undefined;
    }
    parts.push(part);
  }
  return parts.join("");
}

const NON_ASCII = /[^\x00-\x7f]/;

// The host checks the call's input for ASCII at memory speed (the
// contract's `text-hints`); asked once per call (each call is a fresh
// instance).
let inputAscii;
function inputIsAscii() {
  inputAscii ??= textHints.inputIsAscii();
  return inputAscii;
}

// Bytes as a string of one character per byte, converted in C (two passes,
// no check): the text itself when the host said the input is ASCII.
function latin1Text(bytes) {
  return atob(bytes.toBase64());
}

// Which of the input's columns (keys, values) the host sent terminated
// (`terminated-text`): ASCII, each value followed by a NUL, no offsets.
function inputTerminated() {
  const [keys, values] = terminatedText.inputTerminated();
  return { keys, values };
}

// The text columns decoded from ASCII: each decoded array's column and text,
// so that an output column that is the same array, unchanged (a `mapBatch`
// returning its input as the keys, say), goes back as the input's bytes
// instead of being encoded again.
const asciiSources = new WeakMap();

function decodeColumn(column, type, terminated = false) {
  if (column.tag === "varlen" && terminated) {
    // One conversion and one split, both in C (a `substring` per value
    // costs about twice as much).
    const text = latin1Text(column.val.data);
    const out = text.split("\0");
    out.pop();
    asciiSources.set(out, { column: column.val, terminated: true, count: out.length, text });
    return out;
  }
  if (column.tag === "varlen") {
    const data = column.val.data;
    const offsets = viewAs(column.val.offsets, Uint32Array);
    const out = new Array(Math.max(offsets.length - 1, 0));
    if (type === "bytes") {
      for (let i = 0; i < out.length; i++) out[i] = data.slice(offsets[i], offsets[i + 1]);
      return out;
    }
    // ASCII text (the usual case): one conversion for the whole column,
    // then each value is a substring (byte offsets are character offsets).
    const text = inputIsAscii() ? latin1Text(data) : asciiText(data);
    if (text !== undefined) {
      let start = offsets[0];
      for (let i = 0; i < out.length; i++) {
        const end = offsets[i + 1];
        out[i] = text.substring(start, end);
        start = end;
      }
      asciiSources.set(out, { column: column.val, offsets, text });
      return out;
    }
    for (let i = 0; i < out.length; i++) out[i] = decodeUtf8(data, offsets[i], offsets[i + 1]);
    return out;
  }
  if (column.tag === "int64") return Array.from(viewAs(column.val, BigInt64Array));
  return Array.from(viewAs(column.val, Float64Array));
}

// A string's bytes, one per character, converted in C: `btoa` takes each
// character as a byte (and throws on one above U+00FF) and
// `Uint8Array.fromBase64` turns that back into bytes (QuickJS has no
// TextEncoder; a loop over the characters costs an interpreted step per
// byte). UTF-8 when the string is ASCII.
function asciiBytes(s) {
  return Uint8Array.fromBase64(btoa(s));
}

// The offsets of strings taken one byte per character (each string's
// length); undefined when a value is not a string.
function charOffsets(values) {
  const offsets = new Uint32Array(values.length + 1);
  let end = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "string") return undefined;
    end += v.length;
    offsets[i + 1] = end;
  }
  return offsets;
}

// ASCII strings as a text column: one join, one conversion in C; undefined
// when a value is not a string or not ASCII.
function asciiColumn(values) {
  const offsets = charOffsets(values);
  if (offsets === undefined) return undefined;
  const joined = values.join("");
  if (NON_ASCII.test(joined)) return undefined;
  return { tag: "varlen", val: { data: asciiBytes(joined), offsets: bytesOf(offsets) } };
}

// Strings whose characters are all below U+0100 as a text column written
// one byte per character (ISO-8859-1), which the host converts to UTF-8
// (`latin1-output`): one join and one conversion in C, with no check for
// ASCII, which QuickJS can only make a character at a time (`btoa` refuses
// a character above U+00FF itself). Undefined when a value is not a string
// or holds such a character.
function latin1Column(values) {
  const offsets = charOffsets(values);
  if (offsets === undefined) return undefined;
  let data;
  try {
    data = asciiBytes(values.join(""));
  } catch {
    return undefined;
  }
  return { tag: "varlen", val: { data, offsets: bytesOf(offsets) } };
}

// Whether `values` still holds exactly the strings decoded from `source`:
// the same lengths in order and the same characters (one comparison in C).
// For a terminated source, strings joined as it was: the same NULs at the
// same places, so the same values (they held none).
function unchanged(values, source) {
  if (source.terminated) {
    if (values.length !== source.count) return false;
    for (let i = 0; i < values.length; i++) if (typeof values[i] !== "string") return false;
    return values.length === 0 || values.join("\0") + "\0" === source.text;
  }
  const offsets = source.offsets;
  if (values.length + 1 !== offsets.length || offsets[0] !== 0) return false;
  let end = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "string") return false;
    end += v.length;
    if (end !== offsets[i + 1]) return false;
  }
  return values.join("") === source.text;
}

function encodeColumn(values, type, what) {
  if (type === "text" || type === "json") {
    const source = asciiSources.get(values);
    if (source !== undefined && !source.terminated && unchanged(values, source)) {
      return { tag: "varlen", val: source.column };
    }
    const ascii = asciiColumn(values);
    if (ascii !== undefined) return ascii;
  }
  if (type === "text" || type === "json" || type === "bytes") {
    const data = new ByteWriter();
    const offsets = new Uint32Array(values.length + 1);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (type === "bytes") {
        if (!(v instanceof Uint8Array)) throw new Bad(i, `${what} must be a Uint8Array, got ${typeof v}`);
        data.bytes(v);
      } else {
        if (typeof v !== "string") throw new Bad(i, `${what} must be a string, got ${typeof v}`);
        encodeUtf8(data, v);
      }
      offsets[i + 1] = data.len;
    }
    return { tag: "varlen", val: { data: data.take(), offsets: bytesOf(offsets) } };
  }
  if (type === "int64") {
    if (values instanceof BigInt64Array) return { tag: "int64", val: bytesOf(values) };
    const out = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      let v = values[i];
      if (typeof v === "number" && Number.isInteger(v)) v = BigInt(v);
      if (typeof v !== "bigint") throw new Bad(i, `${what} must be a BigInt or an integer, got ${typeof v}`);
      if (v < INT64_MIN || v > INT64_MAX) throw new Bad(i, `${what} ${v} does not fit in int64`);
      out[i] = v;
    }
    return { tag: "int64", val: bytesOf(out) };
  }
  if (values instanceof Float64Array) return { tag: "float64", val: bytesOf(values) };
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number") throw new Bad(i, `${what} must be a number, got ${typeof v}`);
    out[i] = v;
  }
  return { tag: "float64", val: bytesOf(out) };
}

// A column of a batch the call returns, whether it is ISO-8859-1 (to
// declare with `latin1-output`) and whether it is terminated (an input
// column passed through as it came, to declare with `terminated-output`).
function encodeBatchColumn(values, type, what) {
  if (type === "text" || type === "json") {
    const source = asciiSources.get(values);
    if (source !== undefined && unchanged(values, source)) {
      return [{ tag: "varlen", val: source.column }, false, source.terminated === true];
    }
    const latin1 = latin1Column(values);
    if (latin1 !== undefined) return [latin1, true, false];
  }
  return [encodeColumn(values, type, what), false, false];
}

// A batch the call returns, from its columns; `latin1` when the host takes
// ISO-8859-1 text for it (a mapper's or flat-mapper's result).
function encodeBatch(keys, values, types, latin1) {
  if (!latin1) {
    return {
      keys: keys === undefined ? undefined : encodeColumn(keys, types.key, "key"),
      values: encodeColumn(values, types.value, "value"),
    };
  }
  const [keyColumn, latin1Keys, terminatedKeys] =
    keys === undefined ? [undefined, false, false] : encodeBatchColumn(keys, types.key, "key");
  const [valueColumn, latin1Values, terminatedValues] = encodeBatchColumn(values, types.value, "value");
  if (latin1Keys || latin1Values) textHints.latin1Output(latin1Keys, latin1Values);
  if (terminatedKeys || terminatedValues) terminatedText.terminatedOutput(terminatedKeys, terminatedValues);
  return { keys: keyColumn, values: valueColumn };
}

// A column for a batch function: numbers stay in their typed array.
function batchColumn(column, type, terminated = false) {
  if (column.tag === "int64") return viewAs(column.val, BigInt64Array);
  if (column.tag === "float64") return viewAs(column.val, Float64Array);
  return decodeColumn(column, type, terminated);
}

/** A key's state in `mapWithState`, as Spark's `State`. */
export class State {
  constructor(value, exists, timingOut) {
    this.value = value;
    this.present = exists;
    this.timingOut = timingOut;
  }
  /** Whether the key has a state. */
  exists() {
    return this.present;
  }
  /** The state, or undefined when the key has none. */
  get() {
    return this.present ? this.value : undefined;
  }
  /** Replaces the state (no effect on a key timing out: it is removed). */
  update(value) {
    this.value = value;
    this.present = true;
  }
  /** Removes the key's state. */
  remove() {
    this.value = undefined;
    this.present = false;
  }
  /** Whether this is the key's last call: it got no value for the timeout. */
  isTimingOut() {
    return this.timingOut;
  }
}

/** The contract's stand-in for a missing state. */
function placeholder(type) {
  if (type === "int64") return 0n;
  if (type === "float64") return 0;
  if (type === "bytes") return new Uint8Array(0);
  return "";
}

/** Each key's new values (an array) and previous state (undefined if none). */
function groupsOf(batch, valueType, stateType) {
  const values = decodeColumn(batch.values, valueType);
  const states = decodeColumn(batch.states, stateType);
  const groups = viewAs(batch.groups, Uint32Array);
  const out = new Array(batch.hasState.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = [values.slice(groups[i], groups[i + 1]), batch.hasState[i] ? states[i] : undefined];
  }
  return out;
}

/** The contract's functions over a user's `plugin` module. */
export function operator(plugin, op) {
  if (plugin.signature === undefined) {
    throw new Error('plugin.js must export signature = { input: ..., output: ... }');
  }
  const input = recordType(plugin.signature.input, "input");
  const output = recordType(plugin.signature.output, "output");
  const functionName = {
    map: "map",
    flat_map: "flatMap",
    flat_map_values: "flatMapValues",
    filter: "filter",
    reduce_by_key: "reduce",
    inverse_reduce: "inverseReduce",
    update_state_by_key: "updateState",
    map_with_state: "mapWithState",
  }[op];

  function userFunction() {
    const f = plugin[functionName];
    if (typeof f !== "function") {
      const or = BATCHED.includes(functionName) ? ` (or \`${functionName}Batch\`)` : "";
      throw fail(`plugin.js exports no \`${functionName}\`${or} function`);
    }
    return f;
  }

  // The batch's columns: values, and keys for a keyed input.
  function columns(batch) {
    const terminated = inputTerminated();
    const values = decodeColumn(batch.values, input.value, terminated.values);
    if (batch.keys === undefined || batch.keys === null || input.key === undefined) {
      return { keys: undefined, values };
    }
    return { keys: decodeColumn(batch.keys, input.key, terminated.keys), values };
  }

  // Records as a batch; `latin1` as for `encodeBatch`.
  function toBatch(out, latin1) {
    try {
      if (output.key === undefined) return encodeBatch(undefined, out, output, latin1);
      const keys = new Array(out.length);
      const values = new Array(out.length);
      for (let i = 0; i < out.length; i++) {
        const r = out[i];
        if (!Array.isArray(r) || r.length !== 2) throw new Bad(i, "a keyed output record must be a [key, value] array");
        keys[i] = r[0];
        values[i] = r[1];
      }
      return encodeBatch(keys, values, output, latin1);
    } catch (e) {
      if (e instanceof Bad) throw fail(`output record ${e.index}: ${e.message}`);
      throw e;
    }
  }

  // The plugin's `<function>Batch`, or undefined when it exports none.
  const batchName = `${functionName}Batch`;
  const batchFunction =
    BATCHED.includes(functionName) && typeof plugin[batchName] === "function" ? plugin[batchName] : undefined;

  // The batch function over the batch's columns; an exception fails the batch.
  function callBatch(...args) {
    try {
      return batchFunction(...args);
    } catch (e) {
      throw fail(messageOf(e));
    }
  }

  function batchColumns(batch) {
    const terminated = inputTerminated();
    const values = batchColumn(batch.values, input.value, terminated.values);
    if (batch.keys === undefined || batch.keys === null || input.key === undefined) return [values];
    return [batchColumn(batch.keys, input.key, terminated.keys), values];
  }

  const isColumn = (c) => Array.isArray(c) || c instanceof BigInt64Array || c instanceof Float64Array;

  // A batch function's output columns as a batch: an array of values, or
  // [keys, values] for a keyed output; `count` records when given. Only
  // mappers and flat-mappers return one, so the host takes ISO-8859-1.
  function outputColumns(result, count) {
    const shape = output.key === undefined ? "an array of values" : "[keys, values], two arrays";
    let columns;
    if (output.key === undefined) columns = [result];
    else if (Array.isArray(result) && result.length === 2) columns = result;
    else throw fail(`${batchName} must return ${shape}`);
    if (!columns.every(isColumn)) throw fail(`${batchName} must return ${shape}`);
    const n = columns[columns.length - 1].length;
    if (columns[0].length !== n) {
      throw fail(`${batchName} returned ${columns[0].length} keys but ${n} values`);
    }
    if (count !== undefined && n !== count) {
      throw fail(`${batchName} returned ${n} records for ${count}; it must return one per record`);
    }
    try {
      const keys = output.key === undefined ? undefined : columns[0];
      return encodeBatch(keys, columns[columns.length - 1], output, true);
    } catch (e) {
      if (e instanceof Bad) throw fail(`output record ${e.index}: ${e.message}`);
      throw e;
    }
  }

  // Calls the plugin's function on every record, passing each result to
  // `step`; an exception in either blames the record.
  function each(batch, step) {
    const f = userFunction();
    const { keys, values } = columns(batch);
    for (let i = 0; i < values.length; i++) {
      try {
        step(keys === undefined ? f(values[i]) : f(keys[i], values[i]));
      } catch (e) {
        throw fail(messageOf(e), i);
      }
    }
  }

  const describe = () => ({ input, output });
  const init = (params) => {
    if (typeof plugin.init !== "function") {
      if (params.length > 0) throw fail(`unknown parameter \`${params[0].name}\`; this operator takes no parameters`);
      return;
    }
    const object = {};
    for (const p of params) object[p.name] = p.value;
    try {
      plugin.init(object);
    } catch (e) {
      throw fail(messageOf(e));
    }
  };

  function encodeOrFail(values, type, what) {
    try {
      return encodeColumn(values, type, what);
    } catch (e) {
      if (e instanceof Bad) throw fail(`${what} ${e.index}: ${e.message}`);
      throw e;
    }
  }

  // `reduceBatch` over every group at once: each group is a view of the
  // values (a subarray of a typed array, or a slice of an array).
  function combineBatch(grouped) {
    const values = batchColumn(grouped.values, input.value);
    const at = viewAs(grouped.groups, Uint32Array);
    const count = Math.max(at.length - 1, 0);
    const groups = new Array(count);
    const slice = Array.isArray(values) ? (a, b) => values.slice(a, b) : (a, b) => values.subarray(a, b);
    for (let g = 0; g < count; g++) {
      if (at[g] >= at[g + 1] || at[g + 1] > values.length) throw fail("malformed value groups");
      groups[g] = slice(at[g], at[g + 1]);
    }
    const out = callBatch(groups);
    if (!isColumn(out)) throw fail(`reduceBatch must return an array of values`);
    if (out.length !== count) {
      throw fail(`reduceBatch returned ${out.length} values for ${count} groups; it must return one per group`);
    }
    return encodeOrFail(out, output.value, "value");
  }

  switch (op) {
    case "inverse_reduce":
      return {
        describe,
        init,
        uncombine(totals, leaving) {
          const f = userFunction();
          const t = decodeColumn(totals, output.value);
          const l = decodeColumn(leaving, output.value);
          const out = new Array(t.length);
          for (let i = 0; i < t.length; i++) {
            try {
              out[i] = f(t[i], l[i]);
            } catch (e) {
              throw fail(messageOf(e), i);
            }
          }
          return encodeOrFail(out, output.value, "value");
        },
      };
    case "update_state_by_key":
      return {
        describe,
        init,
        update(batch) {
          const f = userFunction();
          const states = [];
          const keep = [];
          for (const [values, state] of groupsOf(batch, input.value, output.value)) {
            let next;
            try {
              next = f(values, state);
            } catch (e) {
              throw fail(messageOf(e));
            }
            const kept = next !== undefined && next !== null;
            keep.push(kept);
            states.push(kept ? next : placeholder(output.value));
          }
          return { states: encodeOrFail(states, output.value, "state"), keep: Uint8Array.from(keep) };
        },
      };
    case "map_with_state": {
      const stateType = plugin.stateType;
      if (!TYPES.includes(stateType)) {
        throw new Error('plugin.js must export stateType, e.g. export const stateType = "int64"');
      }
      return {
        describe,
        init,
        stateType: () => stateType,
        mapBatch(mapping) {
          const f = userFunction();
          const batch = mapping.state;
          const keys = decodeColumn(batch.keys, input.key === undefined ? "bytes" : input.key);
          const groups = groupsOf(batch, input.value, stateType);
          const mapped = [];
          const states = [];
          const keep = [];
          for (let i = 0; i < keys.length; i++) {
            const [values, previous] = groups[i];
            const timingOut = Boolean(mapping.timingOut[i]);
            const state = new State(previous, previous !== undefined, timingOut);
            try {
              for (const value of timingOut ? [undefined] : values) mapped.push(f(keys[i], value, state));
            } catch (e) {
              throw fail(messageOf(e));
            }
            const kept = state.exists() && !timingOut;
            keep.push(kept);
            states.push(kept ? state.get() : placeholder(stateType));
          }
          return {
            update: { states: encodeOrFail(states, stateType, "state"), keep: Uint8Array.from(keep) },
            mapped: toBatch(mapped),
          };
        },
      };
    }
    case "map":
      return {
        describe,
        init,
        transform(batch) {
          if (batchFunction !== undefined) {
            const columns = batchColumns(batch);
            return outputColumns(callBatch(...columns), columns[columns.length - 1].length);
          }
          const out = [];
          each(batch, (r) => out.push(r));
          return toBatch(out, true);
        },
      };
    case "flat_map":
      return {
        describe,
        init,
        expand(batch) {
          if (batchFunction !== undefined) return outputColumns(callBatch(...batchColumns(batch)));
          const out = [];
          each(batch, (rs) => {
            for (const r of rs) out.push(r);
          });
          return toBatch(out, true);
        },
      };
    case "flat_map_values":
      return {
        describe,
        init,
        expandValues(values) {
          const f = userFunction();
          const vs = decodeColumn(values, input.value);
          const out = [];
          const counts = new Array(vs.length);
          for (let i = 0; i < vs.length; i++) {
            const before = out.length;
            try {
              for (const v of f(vs[i])) out.push(v);
            } catch (e) {
              throw fail(messageOf(e), i);
            }
            counts[i] = out.length - before;
          }
          return { values: encodeOrFail(out, output.value, "value"), counts: bytesOf(Uint32Array.from(counts)) };
        },
      };
    case "filter":
      return {
        describe,
        init,
        keep(batch) {
          if (batchFunction !== undefined) {
            const columns = batchColumns(batch);
            const flags = callBatch(...columns);
            const count = columns[columns.length - 1].length;
            if (!isColumn(flags) && !(flags instanceof Uint8Array)) throw fail(`filterBatch must return one boolean per record (${count})`);
            if (flags.length !== count) throw fail(`filterBatch returned ${flags.length} flags for ${count} records; it must return one per record`);
            const out = new Uint8Array(count);
            for (let i = 0; i < count; i++) out[i] = flags[i] ? 1 : 0;
            return out;
          }
          const out = [];
          each(batch, (keep) => out.push(keep ? 1 : 0));
          return Uint8Array.from(out);
        },
      };
    default:
      return {
        describe,
        init,
        combine(groups) {
          // Each group of values (grouped by key by the host), folded in order.
          if (batchFunction !== undefined) return combineBatch(groups);
          const f = userFunction();
          const values = decodeColumn(groups.values, input.value);
          const at = viewAs(groups.groups, Uint32Array);
          const out = new Array(Math.max(at.length - 1, 0));
          for (let g = 0; g + 1 < at.length; g++) {
            const start = at[g], end = at[g + 1];
            if (start >= end || end > values.length) throw fail("malformed value groups");
            let acc = values[start];
            for (let i = start + 1; i < end; i++) {
              try {
                acc = f(acc, values[i]);
              } catch (e) {
                throw fail(messageOf(e), i);
              }
            }
            out[g] = acc;
          }
          return encodeOrFail(out, output.value, "value");
        },
      };
  }
}
