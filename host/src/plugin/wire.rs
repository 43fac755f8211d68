//! The contract's own form of the types an operator declares
//! (`value-type`, `record-type` and `signature` in `wit/operator.wit`),
//! lifted from `describe` and `state-type` and turned into the host's
//! [`ValueType`] and [`RecordType`], which add the composite types only the
//! host builds (see [`crate::types`]).

use wasmtime::component::{ComponentType, Lift, Lower};

use super::Signature;
use crate::types::{RecordType, ValueType};

/// The contract's `value-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(enum)]
#[repr(u8)]
pub enum WireValueType {
    /// UTF-8 text.
    #[component(name = "text")]
    Text,
    /// Arbitrary bytes.
    #[component(name = "bytes")]
    Bytes,
    /// Signed 64-bit integers.
    #[component(name = "int64")]
    Int64,
    /// 64-bit floats.
    #[component(name = "float64")]
    Float64,
    /// One JSON document per value.
    #[component(name = "json")]
    Json,
}

impl From<WireValueType> for ValueType {
    fn from(wire: WireValueType) -> Self {
        match wire {
            WireValueType::Text => ValueType::Text,
            WireValueType::Bytes => ValueType::Bytes,
            WireValueType::Int64 => ValueType::Int64,
            WireValueType::Float64 => ValueType::Float64,
            WireValueType::Json => ValueType::Json,
        }
    }
}

/// The contract's `record-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct WireRecordType {
    /// The key type, or `none` for unkeyed records.
    pub key: Option<WireValueType>,
    /// The value type.
    pub value: WireValueType,
}

impl From<WireRecordType> for RecordType {
    fn from(wire: WireRecordType) -> Self {
        RecordType {
            key: wire.key.map(Into::into),
            value: wire.value.into(),
        }
    }
}

/// The contract's `signature`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct WireSignature {
    /// The records the operator accepts.
    pub input: WireRecordType,
    /// The records the operator produces.
    pub output: WireRecordType,
}

impl From<WireSignature> for Signature {
    fn from(wire: WireSignature) -> Self {
        Signature {
            input: wire.input.into(),
            output: wire.output.into(),
        }
    }
}
