//! A key's state as a `#[map_with_state]` function sees it, and the state
//! types it may hold.

use crate::Json;
use crate::bindings::types::ValueType;
use crate::value::{Input, Output};

/// A state type: owned, so a function can keep a new state beyond the
/// batch it read it from (`i64`, `f64`, `String`, `Vec<u8>`,
/// `Json<String>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a state type",
    note = "states are `i64`, `f64`, `String`, `Vec<u8>` or `Json<String>`"
)]
pub trait StateValue: Output + Sized {
    /// How the host hands a previous state in: borrowed from the batch.
    type Borrowed<'a>: Input<'a>;
    /// The owned state from the borrowed one.
    fn from_input(borrowed: Self::Borrowed<'_>) -> Self;
}

impl StateValue for i64 {
    type Borrowed<'a> = i64;
    fn from_input(borrowed: i64) -> Self {
        borrowed
    }
}

impl StateValue for f64 {
    type Borrowed<'a> = f64;
    fn from_input(borrowed: f64) -> Self {
        borrowed
    }
}

impl StateValue for String {
    type Borrowed<'a> = &'a str;
    fn from_input(borrowed: &str) -> Self {
        borrowed.to_owned()
    }
}

impl StateValue for Vec<u8> {
    type Borrowed<'a> = &'a [u8];
    fn from_input(borrowed: &[u8]) -> Self {
        borrowed.to_vec()
    }
}

impl StateValue for Json<String> {
    type Borrowed<'a> = Json<&'a str>;
    fn from_input(borrowed: Json<&str>) -> Self {
        Json(borrowed.0.to_owned())
    }
}

/// One key's state during a `#[map_with_state]` call, as Spark's `State`:
/// read it, update it or remove it; what it holds after the key's last
/// record is kept for the next batch.
pub struct State<S> {
    value: Option<S>,
    timing_out: bool,
}

impl<S: StateValue> State<S> {
    pub(crate) fn new(value: Option<S>, timing_out: bool) -> Self {
        State { value, timing_out }
    }

    /// The state, if the key has one.
    pub fn get(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Whether the key has a state.
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// Replaces the state. A key timing out is removed whatever its last
    /// call does, so an update then has no effect.
    pub fn update(&mut self, value: S) {
        self.value = Some(value);
    }

    /// Removes the key's state.
    pub fn remove(&mut self) {
        self.value = None;
    }

    /// Whether this call is the key's last, because it got no value for
    /// the stream's `timeout` (the call's value is then `None`).
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }

    pub(crate) fn into_value(self) -> Option<S> {
        self.value
    }

    /// The declared state type.
    pub(crate) const TYPE: ValueType = S::TYPE;
}
