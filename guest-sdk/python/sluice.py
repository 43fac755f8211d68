"""sluice: write a Sluice operator in Python as one function per record.

The contract (wit/operator.wit) passes whole partition batches in column
layout; this module, bundled by `sluice plugin build`, decodes each batch,
calls your function for each record and encodes the output columns. In
`plugin.py` you write:

- ``SIGNATURE = sluice.signature(input=..., output=...)``: the record types
  your operator takes and gives. A type is one of ``sluice.TEXT``,
  ``BYTES``, ``INT64``, ``FLOAT64``, ``JSON``; a keyed stream's type is a
  ``(key_type, value_type)`` tuple.
- one of ``map``, ``flat_map``, ``flat_map_values``, ``filter``,
  ``reduce``, ``inverse_reduce``, ``update_state`` or ``map_with_state``,
  matching ``op`` in
  sluice-plugin.toml. A record of an unkeyed stream is passed as its value,
  a keyed record as ``(key, value)`` arguments; a keyed output record is a
  ``(key, value)`` tuple. ``map`` returns one record, ``flat_map`` an
  iterable of records, ``flat_map_values(value)`` an iterable of values
  (the host puts each on the key of the value it came from; SIGNATURE's
  types have no key), ``filter`` a bool, ``reduce(a, b)`` the combination
  of two values of one key (associative and commutative), and
  ``inverse_reduce(total, leaving)`` the total without the leaving value
  (a window's ``inverse_plugin``). ``update_state(values, state)`` gets a
  key's new values (a list, possibly empty) and its previous state (None
  for a new key) and returns the new state, or None to remove the key, as
  PySpark's ``updateStateByKey`` function; SIGNATURE's output value type is
  the state type. ``map_with_state(key, value, state)`` is called for each
  record of a key with new values, and once with ``value`` None when the key
  times out, with a ``sluice.State`` to read, update or remove; it returns
  the mapped record, and ``STATE_TYPE`` names the state's type.
- or, for ``map``, ``flat_map``, ``filter`` and ``reduce``, the same
  function over the whole partition batch, named with ``_batch``: the
  vectorised form, as PySpark's pandas UDFs, for when the per-record call
  is what costs (an interpreter pays for every call and every object).
  ``map_batch(values)`` (``map_batch(keys, values)`` for a keyed input)
  gets the batch's columns as tuples and returns the output column, a list
  of values, or ``(keys, values)``, two lists, for a keyed output; a
  ``map_batch`` returns one value per input record, a ``flat_map_batch``
  any number. An input tuple returned as an output column of its type
  passes through as it came, not encoded again (``return words, [1] *
  len(words)`` keys each word). ``filter_batch`` returns one bool per
  record.
  ``reduce_batch(groups)`` gets a list of each key's values (a list, at
  least one value) and returns one combined value per group. Word count's
  split is ``"\n".join(lines).split()``. An exception in a batch function
  blames no single record: ``on_error = "skip"`` finds the record by
  retrying halves of the batch. When a plugin defines both forms, the
  batch form is used.
- optionally ``init(params)``, called with the stream's parameters as a
  ``dict`` of strings before the first record; the default refuses any
  parameter.

A sink plugin (``op = "sink"``, for a ``kind = "plugin"`` sink) instead
defines ``RECORD_TYPE`` (a type, or a ``(key_type, value_type)`` tuple) and
``write(info, records)``, which gets a whole partition batch: ``info`` has
``pipeline``, ``sink``, ``batch_time_ms``, ``partition``, ``partitions`` and
``attempt``; ``records`` is a list of values, or of ``(key, value)`` tuples.
It sends them with ``sluice.post(url, content_type, body)`` or
``sluice.send(method, url, headers, body)``, which reach only the URLs the
pipeline's ``allow.http`` grants. Delivery is at least once: send the batch
time and partition along so a receiver can drop what it already has.

Text and JSON values are ``str``, bytes ``bytes``, int64 ``int``, float64
``float``. An exception raised by your function fails the batch; its
message names the record and carries the exception's traceback (shown in
the error, ``sluice logs`` and the web UI). Raise
``sluice.OperatorError("...")`` for a message of your own, without one.
"""

import gc
import sys
import traceback
from array import array
from functools import reduce as _fold
from itertools import accumulate, chain
from operator import itemgetter

from componentize_py_types import Err

try:
    from wit_world.imports import types
except ImportError:  # the sink world names the contract's types by package
    from wit_world.imports import sluice_operator_types as types

# A value flat-mapper's result type lives in its own interface's module.
try:
    from wit_world.exports import value_flat_mapper as _value_flat_mapper
except ImportError:  # another world
    _value_flat_mapper = None

# The sink world's imports. They are imported here, when the component is
# built: a plugin has no files to import modules from at run time.
try:
    from wit_world.imports import outgoing_handler, streams
    from wit_world.imports import wasi_http_types as http
except ImportError:  # an operator's world: no HTTP
    outgoing_handler = streams = http = None

# No cycle collection: every call runs in a fresh instance that is dropped
# after it, and the collector, triggered by the allocations of a batch's
# records, walked every live container again and again (over half of a
# word count's time). Reference counting still frees what a call drops.
gc.disable()

TEXT = "text"
BYTES = "bytes"
INT64 = "int64"
FLOAT64 = "float64"
JSON = "json"

_VALUE_TYPES = {
    TEXT: types.ValueType.TEXT,
    BYTES: types.ValueType.BYTES,
    INT64: types.ValueType.INT64,
    FLOAT64: types.ValueType.FLOAT64,
    JSON: types.ValueType.JSON,
}


# The functions that have a form over the whole batch (``<name>_batch``).
_BATCHED = ("map", "flat_map", "filter", "reduce")


class OperatorError(Exception):
    """Fails the batch with this message, blaming the current record."""


class Signature:
    """What an operator takes and gives: ``(key, value)`` types each."""

    def __init__(self, input, output):
        self.input = _record_type(input)
        self.output = _record_type(output)


def signature(input, output):
    """The signature ``input -> output``, for ``SIGNATURE``."""
    return Signature(input, output)


def _record_type(spec):
    if isinstance(spec, tuple):
        key, value = spec
    else:
        key, value = None, spec
    for t in (key, value):
        if t is not None and t not in _VALUE_TYPES:
            raise ValueError(f"unknown value type {t!r}; use one of {sorted(_VALUE_TYPES)}")
    return (key, value)


def _wit_record_type(record_type):
    key, value = record_type
    return types.RecordType(
        key=_VALUE_TYPES[key] if key is not None else None, value=_VALUE_TYPES[value]
    )


def _fail(message, index=None):
    return Err(types.Error(message=message, record_index=index))


# Offsets, numbers and flags travel as little-endian bytes (the contract's
# u32-list, s64-list, f64-list and bool-list): the bindings hand them over
# as one `bytes`, read here through `memoryview` casts (wasm is
# little-endian; "I" is 4 bytes, "q" and "d" 8) in C, not element by
# element in the bindings.
#
# Every per-record step runs in C as well (`map`, `chain`, `join`, `array`
# over whole columns), so that a record costs the plugin's own function
# and little else. When a step fails, the per-record loop runs again to
# find, and blame, the record.


def _u32s(data):
    """A u32-list's entries, as a list of ints."""
    return memoryview(data).cast("I").tolist()


def _u32_list(values):
    """Ints as a u32-list."""
    return array("I", values).tobytes()


def _decode(column, value_type):
    """A column's values as Python objects."""
    if isinstance(column, types.Column_Varlen):
        data, offsets = column.value.data, _u32s(column.value.offsets)
        # Comprehensions: slicing in bytecode is cheaper than `map(slice, …)`,
        # which calls the `slice` type for every value.
        if value_type in (TEXT, JSON):
            if data.isascii():
                # One decode for the whole column; byte offsets are char offsets.
                text = data.decode("ascii")
                return [text[a:b] for a, b in zip(offsets, offsets[1:])]
            return [data[a:b].decode() for a, b in zip(offsets, offsets[1:])]
        return [data[a:b] for a, b in zip(offsets, offsets[1:])]
    if isinstance(column, types.Column_Int64):
        return memoryview(column.value).cast("q").tolist()
    return memoryview(column.value).cast("d").tolist()


def _encode(values, value_type, what):
    """Python objects as a column of `value_type`."""
    if value_type in (TEXT, JSON, BYTES):
        # `join` checks every value's type (in C); the loop below names the
        # first wrong one.
        try:
            if value_type != BYTES:
                joined = "".join(values)
                if joined.isascii():
                    data, lengths = joined.encode("ascii"), map(len, values)
                else:
                    parts = list(map(str.encode, values))
                    data, lengths = b"".join(parts), map(len, parts)
            else:
                data, lengths = b"".join(values), map(len, values)
            offsets = _u32_list(accumulate(lengths, initial=0))
            return types.Column_Varlen(types.Varlen(data=data, offsets=offsets))
        except TypeError:
            pass
        parts = []
        for i, v in enumerate(values):
            if value_type == BYTES:
                if not isinstance(v, (bytes, bytearray)):
                    raise _Bad(i, f"{what} must be bytes, got {type(v).__name__}")
                parts.append(bytes(v))
            else:
                if not isinstance(v, str):
                    raise _Bad(i, f"{what} must be str, got {type(v).__name__}")
                parts.append(v.encode("utf-8"))
        offsets = _u32_list(accumulate(map(len, parts), initial=0))
        return types.Column_Varlen(types.Varlen(data=b"".join(parts), offsets=offsets))
    if value_type == INT64:
        try:
            # `array` checks every value (in C): an int (a bool counts as
            # one, as in Python) within int64.
            return types.Column_Int64(array("q", values).tobytes())
        except (TypeError, OverflowError):
            pass  # named below
        for i, v in enumerate(values):
            if not isinstance(v, int):
                raise _Bad(i, f"{what} must be int, got {type(v).__name__}")
            if not -(2**63) <= v < 2**63:
                raise _Bad(i, f"{what} {v} does not fit in int64")
        raise _Bad(0, f"{what}s could not be encoded")
    try:
        return types.Column_Float64(array("d", values).tobytes())
    except TypeError:
        pass  # named below
    for i, v in enumerate(values):
        if not isinstance(v, (int, float)):
            raise _Bad(i, f"{what} must be float, got {type(v).__name__}")
    raise _Bad(0, f"{what}s could not be encoded")


class _Bad(Exception):
    def __init__(self, index, message):
        super().__init__(message)
        self.index = index


def _message(error):
    if isinstance(error, OperatorError):
        return str(error)
    return f"{type(error).__name__}: {error}\n{_traceback(error)}"


# Source lines of the plugin's modules, read when the component is built
# (`_remember_source`): at run time an operator has no files, and its
# stubbed WASI traps on any use, so the traceback must not look for them.
_SOURCES = {}


class _NoOutput:
    """An operator's ``sys.stdout`` and ``sys.stderr``. componentize-py
    builds an operator with its WASI stubbed (without that, CPython imports
    ``wasi:sockets``, which the sandbox refuses an operator), so it has no
    stream to write to, and a write to the real one traps ("wasm
    `unreachable` instruction executed"). This one fails the call with an
    error that says why and what to do instead."""

    encoding = "utf-8"

    def __init__(self, name):
        self.name = name

    def write(self, text):
        if not text:
            return 0
        raise RuntimeError(
            f"a Python operator cannot print: it has no sys.{self.name} (operators are "
            "built with their WASI stubbed); report a value with "
            "raise sluice.OperatorError(...), or print from a Python sink"
        )

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True


def _without_output():
    """Replaces an operator's standard streams; called at build time,
    after the plugin module is imported (so its prints at import still show
    in the build)."""
    sys.stdout = _NoOutput("stdout")
    sys.stderr = _NoOutput("stderr")


def _remember_source(module):
    """Keeps `module`'s source lines for tracebacks; called at build time."""
    path = getattr(module, "__file__", None)
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as f:
            _SOURCES[path] = f.read().splitlines()
    except OSError:
        pass


def _traceback(error):
    """The exception's traceback as Python prints it, from the frames and
    the sources kept at build time (no file is read)."""
    lines = ["Traceback (most recent call last):"]
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}')
        source = _SOURCES.get(code.co_filename)
        if source and 0 < lineno <= len(source):
            lines.append("    " + source[lineno - 1].strip())
    lines.append(f"{type(error).__name__}: {error}")
    return "\n".join(lines)


class _Operator:
    """The contract's functions over a user's `plugin` module."""

    def __init__(self, plugin, function):
        self.plugin = plugin
        self.function_name = function
        sig = getattr(plugin, "SIGNATURE", None)
        if not isinstance(sig, Signature):
            raise TypeError("plugin.py must define SIGNATURE = sluice.signature(input=..., output=...)")
        self.signature = sig

    def describe(self):
        return types.Signature(
            input=_wit_record_type(self.signature.input),
            output=_wit_record_type(self.signature.output),
        )

    def init(self, params):
        init = getattr(self.plugin, "init", None)
        if init is None:
            if params:
                raise _fail(
                    f"unknown parameter `{params[0].name}`; this operator takes no parameters"
                )
            return
        try:
            init({p.name: p.value for p in params})
        except Exception as e:  # the user's code: any failure is theirs to report
            raise _fail(_message(e))

    def _function(self):
        function = getattr(self.plugin, self.function_name, None)
        if function is None:
            batch = f" (or `{self.function_name}_batch`)" if self.function_name in _BATCHED else ""
            raise _fail(f"plugin.py defines no `{self.function_name}`{batch} function")
        return function

    def _batch_function(self):
        """The plugin's ``<function>_batch``, or None when it has none."""
        if self.function_name not in _BATCHED:
            return None
        return getattr(self.plugin, self.function_name + "_batch", None)

    def _call_batch(self, function, *columns):
        """The batch function's result; an exception fails the batch."""
        try:
            return function(*columns)
        except Exception as e:  # the user's code: any failure is theirs to report
            raise _fail(_message(e))

    def _columns(self, batch):
        """The batch's columns: (values,) or (keys, values)."""
        key_type, value_type = self.signature.input
        values = _decode(batch.values, value_type)
        if batch.keys is None or key_type is None:
            return (values,)
        return (_decode(batch.keys, key_type), values)

    def _records(self, batch):
        return list(zip(*self._columns(batch)))

    def _batch(self, records):
        key_type, value_type = self.signature.output
        try:
            if key_type is None:
                return types.Batch(keys=None, values=_encode(records, value_type, "value"))
            # `tuple.__len__` refuses anything but a tuple, in C.
            try:
                pairs = set(map(tuple.__len__, records)) <= {2}
            except TypeError:
                pairs = False
            if not pairs:
                for i, r in enumerate(records):
                    if not isinstance(r, tuple) or len(r) != 2:
                        raise _Bad(i, f"a keyed output record must be a (key, value) tuple, got {type(r).__name__}")
            return types.Batch(
                keys=_encode(list(map(itemgetter(0), records)), key_type, "key"),
                values=_encode(list(map(itemgetter(1), records)), value_type, "value"),
            )
        except _Bad as bad:
            raise _fail(f"output record {bad.index}: {bad}")

    def _batch_columns(self, batch):
        """The batch's columns for a batch function, as tuples, each with
        the contract column it was decoded from and its type."""
        key_type, value_type = self.signature.input
        columns = [(tuple(_decode(batch.values, value_type)), batch.values, value_type)]
        if batch.keys is not None and key_type is not None:
            columns.insert(0, (tuple(_decode(batch.keys, key_type)), batch.keys, key_type))
        return columns

    def _output_columns(self, result, inputs, count=None):
        """A batch function's output columns as a batch: a list of values,
        or ``(keys, values)`` for a keyed output; ``count`` records when
        given (a map's output has one per input record). An output column
        that is one of the ``inputs``' tuples, of the same type, is passed
        on as it came, without encoding it again: a tuple cannot have
        changed."""
        key_type, value_type = self.signature.output
        name = f"{self.function_name}_batch"
        shape = "a (keys, values) tuple of two lists" if key_type else "a list of values"
        if key_type is None:
            columns = (result,)
        elif isinstance(result, tuple) and len(result) == 2:
            columns = result
        else:
            raise _fail(f"{name} must return {shape}, got {type(result).__name__}")
        try:
            lengths = list(map(len, columns))
        except TypeError:
            raise _fail(f"{name} must return {shape}, got {type(result).__name__}")
        if len(set(lengths)) > 1:
            raise _fail(f"{name} returned {lengths[0]} keys but {lengths[1]} values")
        if count is not None and lengths[-1] != count:
            raise _fail(f"{name} returned {lengths[-1]} records for {count}; it must return one per record")

        def encode(column, column_type, what):
            for values, source, source_type in inputs:
                if column is values and column_type == source_type:
                    return source
            try:
                return _encode(list(column), column_type, what)
            except TypeError:
                raise _fail(f"{name} must return {shape}, got {type(result).__name__}")

        try:
            if key_type is None:
                return types.Batch(keys=None, values=encode(columns[0], value_type, "value"))
            return types.Batch(
                keys=encode(columns[0], key_type, "key"),
                values=encode(columns[1], value_type, "value"),
            )
        except _Bad as bad:
            raise _fail(f"output record {bad.index}: {bad}")

    def _each(self, input, step):
        """Calls the plugin's function on every record of `input`, passing
        each result to `step`; an exception in either blames the record."""
        function = self._function()
        for i, record in enumerate(self._records(input)):
            try:
                step(function(*record))
            except Exception as e:
                raise _fail(_message(e), i)

    def _all(self, input, whole, step):
        """`whole(results)` over the plugin's function applied to every
        record, in C; when that fails, the per-record loop (`_each` with
        `step`) runs to blame the record."""
        function = self._function()
        try:
            return whole(map(function, *self._columns(input)))
        except Exception as e:
            error = e
        self._each(input, step)
        # The function failed once but not when called again record by record.
        raise _fail(_message(error))


class Mapper(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "map")

    def transform(self, input):
        batch_function = self._batch_function()
        if batch_function is not None:
            inputs = self._batch_columns(input)
            result = self._call_batch(batch_function, *(c[0] for c in inputs))
            return self._output_columns(result, inputs, len(inputs[-1][0]))
        return self._batch(self._all(input, list, lambda _: None))


class FlatMapper(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "flat_map")

    def expand(self, input):
        batch_function = self._batch_function()
        if batch_function is not None:
            inputs = self._batch_columns(input)
            result = self._call_batch(batch_function, *(c[0] for c in inputs))
            return self._output_columns(result, inputs)
        return self._batch(self._all(input, _flatten, lambda records: list(records)))


def _flatten(results):
    return list(chain.from_iterable(results))


def _flags(results):
    return bytes(map(bool, results))


class ValueFlatMapper(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "flat_map_values")

    def expand_values(self, values):
        function = self._function()
        inputs = _decode(values, self.signature.input[1])
        try:
            results = list(map(list, map(function, inputs)))
            counts, out = list(map(len, results)), _flatten(results)
        except Exception:
            out, counts = [], []
            for i, value in enumerate(inputs):
                try:
                    before = len(out)
                    out.extend(function(value))
                    counts.append(len(out) - before)
                except Exception as e:
                    raise _fail(_message(e), i)
        try:
            column = _encode(out, self.signature.output[1], "value")
        except _Bad as bad:
            raise _fail(f"output value {bad.index}: {bad}")
        return _value_flat_mapper.ValueExpansion(values=column, counts=_u32_list(counts))


class Filter(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "filter")

    def keep(self, input):
        batch_function = self._batch_function()
        if batch_function is not None:
            columns = [c[0] for c in self._batch_columns(input)]
            result = self._call_batch(batch_function, *columns)
            count = len(columns[-1])
            try:
                flags = _flags(result)
            except TypeError:
                raise _fail(f"filter_batch must return one bool per record, got {type(result).__name__}")
            if len(flags) != count:
                raise _fail(f"filter_batch returned {len(flags)} flags for {count} records; it must return one per record")
            return flags
        return self._all(input, _flags, bool)


class Reducer(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "reduce")

    def combine(self, input):
        """Folds each group of values (grouped by key by the host), in order."""
        batch_function = self._batch_function()
        function = None if batch_function else self._function()
        values = _decode(input.values, self.signature.input[1])
        groups = _u32s(input.groups)
        if batch_function is not None:
            return self._combine_batch(batch_function, values, groups)
        out = []
        for g in range(len(groups) - 1):
            start, end = groups[g], groups[g + 1]
            if start >= end or end > len(values):
                raise _fail("malformed value groups")
            try:
                out.append(_fold(function, values[start:end]))
                continue
            except Exception:
                pass
            acc = values[start]
            for i in range(start + 1, end):
                try:
                    acc = function(acc, values[i])
                except Exception as e:
                    raise _fail(_message(e), i)
            out.append(acc)
        try:
            return _encode(out, self.signature.output[1], "value")
        except _Bad as bad:
            raise _fail(f"output value {bad.index}: {bad}")


    def _combine_batch(self, batch_function, values, groups):
        """``reduce_batch`` over every group at once."""
        ends = groups[1:]
        if any(a >= b for a, b in zip(groups, ends)) or (ends and ends[-1] > len(values)):
            raise _fail("malformed value groups")
        result = self._call_batch(batch_function, [values[a:b] for a, b in zip(groups, ends)])
        try:
            out = list(result)
        except TypeError:
            raise _fail(f"reduce_batch must return a list of values, got {type(result).__name__}")
        if len(out) != len(ends):
            raise _fail(f"reduce_batch returned {len(out)} values for {len(ends)} groups; it must return one per group")
        try:
            return _encode(out, self.signature.output[1], "value")
        except _Bad as bad:
            raise _fail(f"output value {bad.index}: {bad}")


class InverseReducer(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "inverse_reduce")

    def uncombine(self, totals, leaving):
        function = self._function()
        value_type = self.signature.output[1]
        pairs = zip(_decode(totals, value_type), _decode(leaving, value_type))
        out = []
        for i, (total, gone) in enumerate(pairs):
            try:
                out.append(function(total, gone))
            except Exception as e:
                raise _fail(_message(e), i)
        try:
            return _encode(out, value_type, "value")
        except _Bad as bad:
            raise _fail(f"output value {bad.index}: {bad}")


def _placeholder(value_type):
    """The contract's stand-in for a missing state."""
    return {INT64: 0, FLOAT64: 0.0, BYTES: b""}.get(value_type, "")


def _groups(batch, value_type, state_type):
    """Each key's values (a list) and previous state (None when it has none)."""
    values = _decode(batch.values, value_type)
    states = _decode(batch.states, state_type)
    groups = _u32s(batch.groups)
    return [
        (values[groups[i] : groups[i + 1]], states[i] if batch.has_state[i] else None)
        for i in range(len(batch.has_state))
    ]


class StateUpdater(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "update_state")

    def update(self, input):
        function = self._function()
        state_type = self.signature.output[1]
        new_states, keep = [], []
        for i, (values, state) in enumerate(_groups(input, self.signature.input[1], state_type)):
            try:
                new = function(values, state)
            except Exception as e:
                raise _fail(_message(e))
            keep.append(new is not None)
            new_states.append(_placeholder(state_type) if new is None else new)
        try:
            states = _encode(new_states, state_type, "state")
        except _Bad as bad:
            raise _fail(f"state of key {bad.index}: {bad}")
        return types.StateUpdate(states=states, keep=bytes(keep))


class State:
    """A key's state in ``map_with_state``, as Spark's ``State``."""

    def __init__(self, value, exists, timing_out):
        self._value = value
        self._exists = exists
        self._timing_out = timing_out

    def exists(self):
        """Whether the key has a state."""
        return self._exists

    def get(self):
        """The state, or None when the key has none."""
        return self._value if self._exists else None

    def update(self, value):
        """Replaces the state (no effect on a key timing out: it is removed)."""
        self._value = value
        self._exists = True

    def remove(self):
        """Removes the key's state."""
        self._value = None
        self._exists = False

    def is_timing_out(self):
        """Whether this is the key's last call: it got no value for the timeout."""
        return self._timing_out


class StateMapper(_Operator):
    def __init__(self, plugin):
        super().__init__(plugin, "map_with_state")
        state_type = getattr(plugin, "STATE_TYPE", None)
        if state_type not in _VALUE_TYPES:
            raise TypeError("plugin.py must define STATE_TYPE, e.g. STATE_TYPE = sluice.INT64")
        self.state_type_name = state_type

    def state_type(self):
        return _VALUE_TYPES[self.state_type_name]

    def map_batch(self, input):
        function = self._function()
        batch = input.state
        key_type = self.signature.input[0] or BYTES
        keys = _decode(batch.keys, key_type)
        groups = _groups(batch, self.signature.input[1], self.state_type_name)
        mapped, new_states, keep = [], [], []
        for i, (key, (values, previous)) in enumerate(zip(keys, groups)):
            timing_out = bool(input.timing_out[i])
            state = State(previous, previous is not None, timing_out)
            try:
                for value in [None] if timing_out else values:
                    mapped.append(function(key, value, state))
            except Exception as e:
                raise _fail(_message(e))
            kept = state.exists() and not timing_out
            keep.append(kept)
            new_states.append(state.get() if kept else _placeholder(self.state_type_name))
        try:
            states = _encode(new_states, self.state_type_name, "state")
        except _Bad as bad:
            raise _fail(f"state of key {bad.index}: {bad}")
        return types.StateMapping(
            update=types.StateUpdate(states=states, keep=bytes(keep)), mapped=self._batch(mapped)
        )




class Sink(_Operator):
    """A sink: ``write(info, records)`` over a whole partition batch."""

    def __init__(self, plugin):
        self.plugin = plugin
        self.function_name = "write"
        spec = getattr(plugin, "RECORD_TYPE", None)
        if spec is None:
            raise TypeError("plugin.py must define RECORD_TYPE = sluice.TEXT, or (key_type, value_type)")
        # Reads its records as an operator reads its input.
        self.signature = Signature(spec, spec)

    def describe(self):
        return _wit_record_type(self.signature.input)

    def write(self, info, records):
        function = self._function()
        rows = self._records(records)
        if self.signature.input[0] is None:
            rows = [row[0] for row in rows]
        try:
            function(info, rows)
        except Exception as e:  # the user's code: any failure is theirs to report
            raise _fail(_message(e))


MAX_RESPONSE_BYTES = 1 << 20
"""The most of a response body that ``send`` reads; the rest is dropped."""


class Response:
    """What the receiver answered: ``status`` (an int) and ``body`` (bytes,
    up to ``MAX_RESPONSE_BYTES``)."""

    def __init__(self, status, body):
        self.status = status
        self.body = body

    def __repr__(self):
        return f"Response(status={self.status}, body={self.body!r})"


def post(url, content_type, body):
    """POSTs ``body`` (bytes or str) to ``url``; see ``send``."""
    return send("POST", url, {"content-type": content_type}, body)


def send(method, url, headers=None, body=b""):
    """Sends one request from a sink and returns its ``Response``.

    ``headers`` is a dict of names to values; Content-Length is set from
    ``body``. Raises ``OperatorError`` naming the URL when the URL is
    malformed, the host refuses it (not in the allowlist, or over a limit:
    the call then fails whatever the plugin does) or the request fails.
    """
    if http is None:
        raise OperatorError("only a sink plugin (op = \"sink\") can send HTTP requests")
    if isinstance(body, str):
        body = body.encode("utf-8")

    def fail(what):
        return OperatorError(f"{method} {url}: {what}")

    if url.startswith("http://"):
        scheme, rest = http.Scheme_Http(), url[7:]
    elif url.startswith("https://"):
        scheme, rest = http.Scheme_Https(), url[8:]
    else:
        raise OperatorError(f"`{url}` is not an http:// or https:// URL")
    end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    authority, path = rest[:end], rest[end:] or "/"
    if not authority:
        raise OperatorError(f"`{url}` names no host")
    fields = [(name.lower(), value.encode("utf-8")) for name, value in (headers or {}).items()]
    if body:
        fields.append(("content-length", str(len(body)).encode("ascii")))
    try:
        request = http.OutgoingRequest(http.Fields.from_list(fields))
    except Err as e:
        raise fail(f"bad header: {e.value}")
    try:
        request.set_method(_method(method))
        request.set_scheme(scheme)
        request.set_authority(authority)
        request.set_path_with_query(path)
    except Err:
        raise fail("the method, host or path is not valid")
    outgoing = request.body()
    try:
        pending = outgoing_handler.handle(request, None)
    except Err as e:
        raise fail(_describe(e.value))
    stream = outgoing.write()
    try:
        # As much per write as the host takes, not 4 KiB at a time.
        view = memoryview(body)
        while view:
            permitted = stream.check_write()
            if permitted == 0:
                with stream.subscribe() as ready:
                    ready.block()
                continue
            stream.write(bytes(view[:permitted]))
            view = view[permitted:]
        stream.blocking_flush()
    except Err as e:
        raise fail(f"writing the body: {e.value}")
    finally:
        stream.__exit__(None, None, None)
    try:
        http.OutgoingBody.finish(outgoing, None)
    except Err as e:
        raise fail(_describe(e.value))
    while True:
        result = pending.get()
        if result is not None:
            break
        with pending.subscribe() as ready:
            ready.block()
    inner = result.value
    if isinstance(result, Err):
        raise fail("the response was taken twice")
    if isinstance(inner, Err):
        raise fail(_describe(inner.value))
    response = inner.value
    status = response.status()
    incoming = response.consume()
    chunks, size = [], 0
    input_stream = incoming.stream()
    try:
        while size < MAX_RESPONSE_BYTES:
            try:
                chunk = input_stream.blocking_read(min(MAX_RESPONSE_BYTES - size, 65536))
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise fail("reading the response failed")
            chunks.append(chunk)
            size += len(chunk)
    finally:
        input_stream.__exit__(None, None, None)
    return Response(status, b"".join(chunks))


_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def _method(method):
    name = method.upper()
    if name in _METHODS:
        return getattr(http, "Method_" + name.capitalize())()
    return http.Method_Other(method)


def _describe(error):
    if isinstance(error, http.ErrorCode_HttpRequestDenied):
        return "refused by the host: the sink's `allow.http` does not grant this URL, or a limit was hit"
    if isinstance(error, http.ErrorCode_ConnectionRefused):
        return "connection refused"
    return type(error).__name__.removeprefix("ErrorCode_")


_remember_source(sys.modules[__name__])
