//! Proptest strategies for every wire type, so round-trip tests cover each
//! message without hand-written generators. Test-only.

use bytes::Bytes;
use proptest::prelude::*;

use super::ErrorCode;

/// A type with a proptest strategy over its whole value space (bounded sizes).
pub(crate) trait Arb: Sized + std::fmt::Debug {
    /// The strategy.
    fn arb() -> BoxedStrategy<Self>;
}

macro_rules! arb_any {
    ($($ty:ty),*) => {$(
        impl Arb for $ty {
            fn arb() -> BoxedStrategy<Self> {
                any::<$ty>().boxed()
            }
        }
    )*};
}
arb_any!(bool, i8, i16, i32, i64);

impl Arb for String {
    fn arb() -> BoxedStrategy<Self> {
        // Multi-byte characters included, so lengths are bytes, not chars.
        "\\PC{0,12}".boxed()
    }
}

impl Arb for Bytes {
    fn arb() -> BoxedStrategy<Self> {
        proptest::collection::vec(any::<u8>(), 0..48)
            .prop_map(Bytes::from)
            .boxed()
    }
}

impl<T: Arb + 'static> Arb for Vec<T> {
    fn arb() -> BoxedStrategy<Self> {
        proptest::collection::vec(T::arb(), 0..4).boxed()
    }
}

impl<T: Arb + 'static> Arb for Option<T> {
    fn arb() -> BoxedStrategy<Self> {
        proptest::option::of(T::arb()).boxed()
    }
}

impl Arb for ErrorCode {
    fn arb() -> BoxedStrategy<Self> {
        prop_oneof![
            proptest::sample::select(ErrorCode::ALL.to_vec()),
            any::<i16>().prop_map(ErrorCode::from_i16),
        ]
        .boxed()
    }
}

/// Only the default: the round-trip tests encode at version 0, where a
/// field added later is absent. Later versions have their own tests.
impl<const V: i16, T: Default + std::fmt::Debug + Clone + 'static> Arb
    for crate::protocol::wire::Since<V, T>
{
    fn arb() -> BoxedStrategy<Self> {
        proptest::strategy::Just(crate::protocol::wire::Since(T::default())).boxed()
    }
}
