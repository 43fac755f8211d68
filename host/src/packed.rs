//! Lists of numbers and flags as the contract carries them: bytes.
//!
//! `wit/operator.wit` types every list of fixed-width numbers or flags as a
//! `list<u8>` of little-endian entries (`u32-list`, `s64-list`, `f64-list`,
//! `bool-list`), because interpreted guests (CPython, QuickJS) lift a
//! `list<u8>` with one copy but a `list<u32>` one interpreter object per
//! element. The host keeps plain `Vec<T>`s: [`Packed`] wraps one so that it
//! lowers as its bytes (no copy on a little-endian host: the slice is
//! reinterpreted) and lifts from bytes (one pass, checking the length and,
//! for flags, every byte). [`PackedRef`] lowers a borrowed slice the same
//! way, for columns the host lowers without owning a wrapper.

use std::fmt;
use std::ops::{Deref, DerefMut};

use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift};

#[cfg(not(target_endian = "little"))]
compile_error!("the contract's byte lists are little-endian, as the host's memory must be");

/// A number or flag that travels as fixed-width little-endian bytes.
pub trait Element: Copy + bytemuck::NoUninit + Send + Sync + 'static {
    /// Bytes per entry.
    const WIDTH: usize;
    /// The contract's name of a list of these (`u32-list`, …).
    const LIST: &'static str;
    /// Reads one entry from exactly `WIDTH` bytes; `None` when the bytes
    /// are not a valid entry (a flag other than 0 or 1).
    fn read(bytes: &[u8]) -> Option<Self>;
}

macro_rules! numbers {
    ($($ty:ty => $list:literal),* $(,)?) => {$(
        impl Element for $ty {
            const WIDTH: usize = std::mem::size_of::<$ty>();
            const LIST: &'static str = $list;
            #[inline]
            fn read(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(<$ty>::from_le_bytes)
            }
        }
    )*};
}

numbers!(u32 => "u32-list", i64 => "s64-list", f64 => "f64-list");

impl Element for bool {
    const WIDTH: usize = 1;
    const LIST: &'static str = "bool-list";
    #[inline]
    fn read(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

/// A byte list from a guest that is not a well-formed list of its entries:
/// its length is not a multiple of the entry width, or a flag is neither 0
/// nor 1. The call that returned it failed with invalid output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedList {
    /// The length is not a multiple of the entry's width.
    #[error("a {list} of {len} bytes: its length must be a multiple of {width}")]
    Length {
        /// The contract's list type.
        list: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The entry width it must be a multiple of.
        width: usize,
    },
    /// A flag byte is neither 0 nor 1.
    #[error("a bool-list holds byte {byte} at entry {index}: a flag is 0 or 1")]
    Flag {
        /// The entry.
        index: usize,
        /// Its byte.
        byte: u8,
    },
}

/// Decodes a byte list into its entries.
///
/// # Errors
///
/// [`MalformedList`] when the bytes are not whole, valid entries.
pub fn decode<T: Element>(bytes: &[u8]) -> Result<Vec<T>, MalformedList> {
    if !bytes.len().is_multiple_of(T::WIDTH) {
        return Err(MalformedList::Length {
            list: T::LIST,
            len: bytes.len(),
            width: T::WIDTH,
        });
    }
    let mut out = Vec::with_capacity(bytes.len() / T::WIDTH);
    for (index, entry) in bytes.chunks_exact(T::WIDTH).enumerate() {
        match T::read(entry) {
            Some(value) => out.push(value),
            None => {
                return Err(MalformedList::Flag {
                    index,
                    byte: entry[0],
                });
            }
        }
    }
    Ok(out)
}

/// A list the host owns, carried as its little-endian bytes.
#[derive(Clone, PartialEq, Default)]
pub struct Packed<T>(pub Vec<T>);

impl<T: fmt::Debug> fmt::Debug for Packed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> Deref for Packed<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> DerefMut for Packed<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T> From<Vec<T>> for Packed<T> {
    fn from(values: Vec<T>) -> Self {
        Packed(values)
    }
}

impl<T> FromIterator<T> for Packed<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Packed(iter.into_iter().collect())
    }
}

/// A borrowed list, lowered as its little-endian bytes.
#[derive(Clone, Copy, Debug)]
pub struct PackedRef<'a, T>(pub &'a [T]);

// SAFETY (all impls below): each type is exactly a `list<u8>` on the wire;
// every method forwards to `[u8]`'s or `Vec<u8>`'s own implementation with
// the same flat and memory representation. The reinterpreted slices are
// `NoUninit` elements on a little-endian host, so their bytes are the
// contract's encoding.

macro_rules! as_byte_list {
    ($($ty:ty),*) => {$(
        unsafe impl<T: Element> ComponentType for $ty {
            type Lower = <[u8] as ComponentType>::Lower;
            const ABI: CanonicalAbiInfo = <[u8] as ComponentType>::ABI;

            fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
                <[u8] as ComponentType>::typecheck(ty, types)
            }
        }
    )*};
}

as_byte_list!(Packed<T>, PackedRef<'_, T>);

/// Implements [`Lower`] for a type by lowering another value in its place,
/// one with the same wire type and flat representation (`Self::Lower`):
/// `lower_via!(impl[generics] Type, |this| value_to_lower)`.
macro_rules! lower_via {
    (impl[$($generics:tt)*] $ty:ty, |$this:ident| $via:expr) => {
        unsafe impl<$($generics)*> wasmtime::component::Lower for $ty {
            fn linear_lower_to_flat<U>(
                &self,
                cx: &mut wasmtime::component::__internal::LowerContext<'_, U>,
                ty: wasmtime::component::__internal::InterfaceType,
                dst: &mut std::mem::MaybeUninit<Self::Lower>,
            ) -> wasmtime::Result<()> {
                let $this = self;
                $via.linear_lower_to_flat(cx, ty, dst)
            }

            fn linear_lower_to_memory<U>(
                &self,
                cx: &mut wasmtime::component::__internal::LowerContext<'_, U>,
                ty: wasmtime::component::__internal::InterfaceType,
                offset: usize,
            ) -> wasmtime::Result<()> {
                let $this = self;
                $via.linear_lower_to_memory(cx, ty, offset)
            }
        }
    };
}
pub(crate) use lower_via;

lower_via!(impl[T: Element] PackedRef<'_, T>, |this| {
    let bytes: &[u8] = bytemuck::cast_slice(this.0);
    bytes
});
lower_via!(impl[T: Element] Packed<T>, |this| PackedRef(&this.0[..]));

unsafe impl<T: Element> Lift for Packed<T> {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        let bytes = <Vec<u8> as Lift>::linear_lift_from_flat(cx, ty, src)?;
        Ok(Packed(decode(&bytes).map_err(wasmtime::Error::new)?))
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let list = <Vec<u8> as Lift>::linear_lift_from_memory(cx, ty, bytes)?;
        Ok(Packed(decode(&list).map_err(wasmtime::Error::new)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_from_their_little_endian_bytes() {
        let values = [0u32, 1, 0xdead_beef, u32::MAX];
        assert_eq!(
            decode::<u32>(bytemuck::cast_slice(&values)).unwrap(),
            values
        );
        let numbers = [i64::MIN, -1, 0, 7, i64::MAX];
        assert_eq!(
            decode::<i64>(bytemuck::cast_slice(&numbers)).unwrap(),
            numbers
        );
        assert_eq!(decode::<f64>(&2.5f64.to_le_bytes()).unwrap(), [2.5]);
        assert_eq!(decode::<bool>(&[1, 0, 1]).unwrap(), [true, false, true]);
    }

    #[test]
    fn malformed_lists_are_refused_with_what_is_wrong() {
        assert_eq!(
            decode::<u32>(&[0; 6]).unwrap_err().to_string(),
            "a u32-list of 6 bytes: its length must be a multiple of 4"
        );
        assert_eq!(
            decode::<i64>(&[0; 12]).unwrap_err().to_string(),
            "a s64-list of 12 bytes: its length must be a multiple of 8"
        );
        assert_eq!(
            decode::<bool>(&[0, 1, 2]).unwrap_err().to_string(),
            "a bool-list holds byte 2 at entry 2: a flag is 0 or 1"
        );
    }
}
