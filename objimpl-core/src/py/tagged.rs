//! `Tagged`: a runtime's value in one word, a number, an object or an
//! immediate, where an enum of them takes two.

use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::ptr;

use super::{Py, PyAny, PyObjectType};
use crate::gc::{Traverse, Visit};
use crate::object::PyObject;

/// Numbers are stored as their bits plus this, so that none of them looks
/// like an object or an immediate (all of which are below it).
const NUMBER_OFFSET: usize = 1 << 48;
/// Immediates are the words below this; no object lives there (page zero is
/// never mapped, and [`Tagged::from`] checks).
const OBJECTS_FROM: usize = 4096;
/// Bits from here up (negative NaNs with a large payload) would wrap past
/// `NUMBER_OFFSET` onto the objects' words ...
const WRAPPING_BITS: u64 = 0u64.wrapping_sub(NUMBER_OFFSET as u64);
/// ... so they are stored as this NaN, which keeps their sign.
const NEGATIVE_NAN: u64 = 0xFFF8_0000_0000_0000;

/// A dynamic language's value in one machine word: an `f64`, an object
/// (an owned strong reference, as a [`PyAny`]), or one of 256 immediates
/// (`nil`, `true`, ...: what the runtime makes them mean).
///
/// An enum of the three takes 16 bytes, and cloning one dispatches on its
/// tag. A `Tagged` takes 8, and cloning one is a compare, plus the count
/// when it is an object. It is the layout of JavaScriptCore's values: an
/// object is its pointer, unchanged, so `as_object` lends a `&PyAny` with
/// no work; a number is its bits offset by 2^48, above every pointer; the
/// immediates are the words 0 to 255, where no object lives.
///
/// ```
/// use objimpl::prelude::*;
/// use objimpl::Tagged;
///
/// #[pyobject(basic)]
/// pub struct Str { text: &'static str }
///
/// const NIL: Tagged = Tagged::immediate(0);
/// let values = [Tagged::number(1.5), Tagged::from(Str::new(Str { text: "spam" })?), NIL];
///
/// assert_eq!(values[0].as_number(), Some(1.5));
/// let s: &Py<Str> = values[1].downcast_ref::<Str>().unwrap();
/// assert_eq!(s.text, "spam");
/// assert_eq!(values[2].as_immediate(), Some(0));
/// assert_eq!(std::mem::size_of::<Tagged>(), 8);
/// # Ok::<(), MemoryError>(())
/// ```
///
/// `Tagged::immediate(0)` is the all-zero word, and every word is a valid
/// `Tagged` (the type is a pointer): zeroed memory holds `immediate(0)`s, so
/// a large array of them may be allocated zeroed and left untouched.
///
/// Only on 64-bit targets, whose user addresses are below 2^48.
#[repr(transparent)]
pub struct Tagged {
    /// The word. A pointer, so that an object's keeps its provenance and
    /// may be lent as a `PyAny` (numbers and immediates have none).
    word: *mut PyObject,
    /// `!Send` and `!Sync`, as `PyAny` is: the counts are not atomic.
    _not_send: PhantomData<PyAny>,
}

impl Tagged {
    /// Immediate `n`: a value the runtime gives a meaning (`nil`, `true`),
    /// equal only to itself.
    ///
    /// ```
    /// use objimpl::Tagged;
    /// const TRUE: Tagged = Tagged::immediate(1);
    /// assert_eq!(TRUE.as_immediate(), Some(1));
    /// assert!(TRUE.as_number().is_none() && TRUE.as_object().is_none());
    /// ```
    #[inline]
    pub const fn immediate(n: u8) -> Tagged {
        Tagged {
            word: ptr::without_provenance_mut(n as usize),
            _not_send: PhantomData,
        }
    }

    /// A number. Every `f64` round-trips by value; a NaN keeps its sign,
    /// but not necessarily its payload.
    ///
    /// ```
    /// use objimpl::Tagged;
    /// assert_eq!(Tagged::number(-0.0).as_number().map(f64::to_bits), Some((-0.0f64).to_bits()));
    /// assert!(Tagged::number(-f64::NAN).as_number().is_some_and(|n| n.is_nan() && n.is_sign_negative()));
    /// ```
    #[inline]
    pub fn number(n: f64) -> Tagged {
        let mut bits = n.to_bits();
        if bits >= WRAPPING_BITS {
            bits = NEGATIVE_NAN;
        }
        Tagged {
            word: ptr::without_provenance_mut((bits as usize).wrapping_add(NUMBER_OFFSET)),
            _not_send: PhantomData,
        }
    }

    /// The word's address bits.
    #[inline]
    fn addr(&self) -> usize {
        self.word.addr()
    }

    /// Whether this is a number.
    #[inline]
    pub fn is_number(&self) -> bool {
        self.addr() >= NUMBER_OFFSET
    }

    /// Whether this is an object.
    #[inline]
    pub fn is_object(&self) -> bool {
        // One compare: the words from OBJECTS_FROM up to NUMBER_OFFSET.
        self.addr().wrapping_sub(OBJECTS_FROM) < NUMBER_OFFSET - OBJECTS_FROM
    }

    /// The number, if this is one.
    #[inline]
    pub fn as_number(&self) -> Option<f64> {
        self.is_number()
            .then(|| f64::from_bits(self.addr().wrapping_sub(NUMBER_OFFSET) as u64))
    }

    /// The immediate, if this is one.
    #[inline]
    pub fn as_immediate(&self) -> Option<u8> {
        u8::try_from(self.addr()).ok()
    }

    /// The object, lent, if this is one.
    #[inline]
    pub fn as_object(&self) -> Option<&PyAny> {
        if !self.is_object() {
            return None;
        }
        // SAFETY: both types are `repr(transparent)` over a pointer, and an object's word is
        // the non-null pointer a `PyAny` gave up (`From<PyAny>`), owning a reference `self` keeps.
        Some(unsafe { &*ptr::from_ref(self).cast::<PyAny>() })
    }

    /// The object, if this is one of type `T`.
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::Tagged;
    ///
    /// #[pyobject(basic)]
    /// pub struct Unit {}
    ///
    /// let value = Tagged::from(Unit::new(Unit {})?);
    /// assert!(value.downcast_ref::<Unit>().is_some());
    /// assert!(Tagged::number(1.0).downcast_ref::<Unit>().is_none());
    /// # Ok::<(), MemoryError>(())
    /// ```
    #[inline]
    pub fn downcast_ref<T: PyObjectType>(&self) -> Option<&Py<T>> {
        self.as_object()?.downcast_ref::<T>()
    }

    /// The object, owned, if this is one; else the value back.
    ///
    /// ```
    /// use objimpl::Tagged;
    /// let n = Tagged::number(2.0);
    /// assert!(n.into_object().is_err());
    /// ```
    #[inline]
    pub fn into_object(self) -> Result<PyAny, Tagged> {
        if self.is_object() {
            let this = ManuallyDrop::new(self);
            // SAFETY: an object's word owns one reference (see `as_object`);
            // `this` gives it up to the `PyAny` and is not dropped.
            Ok(unsafe { PyAny::from_raw(this.word) })
        } else {
            Err(self)
        }
    }

    /// Whether the two are the same word: the same object, immediate, or
    /// number bits (so `0.0` is not `-0.0`, and a NaN is itself).
    ///
    /// ```
    /// use objimpl::Tagged;
    /// assert!(Tagged::immediate(3).is(&Tagged::immediate(3)));
    /// assert!(!Tagged::number(0.0).is(&Tagged::number(-0.0)));
    /// ```
    #[inline]
    pub fn is(&self, other: &Tagged) -> bool {
        self.word == other.word
    }

    /// The word as an integer: a key for identity maps.
    #[inline]
    pub fn bits(&self) -> u64 {
        self.addr() as u64
    }
}

impl From<PyAny> for Tagged {
    /// The object, held by the value.
    ///
    /// # Panics
    ///
    /// If the object's address is below 4096 or from 2^48 on, where no
    /// object lives on the 64-bit systems objimpl runs on.
    #[inline]
    fn from(object: PyAny) -> Tagged {
        let word = PyAny::into_raw(object);
        let tagged = Tagged {
            word,
            _not_send: PhantomData,
        };
        if !tagged.is_object() {
            address_out_of_range(tagged);
        }
        tagged
    }
}

/// An object no `Tagged` can hold: given back, then reported.
#[cold]
#[inline(never)]
fn address_out_of_range(tagged: Tagged) -> ! {
    let addr = tagged.addr();
    // SAFETY: the word is the pointer `PyAny::into_raw` gave, owning its
    // reference; `tagged` is forgotten, so it is given up once.
    drop(unsafe { PyAny::from_raw(tagged.word) });
    mem::forget(tagged);
    panic!("an object at {addr:#x} cannot be tagged: objects must lie in 4096..2^48")
}

impl<T: PyObjectType> From<Py<T>> for Tagged {
    #[inline]
    fn from(object: Py<T>) -> Tagged {
        Tagged::from(PyAny::from(object))
    }
}

impl Clone for Tagged {
    /// A copy of the word, and of the reference when it is an object.
    #[inline]
    fn clone(&self) -> Tagged {
        if let Some(object) = self.as_object() {
            mem::forget(object.clone());
        }
        Tagged {
            word: self.word,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Tagged {
    #[inline]
    fn drop(&mut self) {
        if self.is_object() {
            // SAFETY: an object's word owns one reference, given up here.
            drop(unsafe { PyAny::from_raw(self.word) });
        }
    }
}

impl Default for Tagged {
    /// Immediate 0.
    fn default() -> Tagged {
        Tagged::immediate(0)
    }
}

impl fmt::Debug for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.as_number() {
            write!(f, "Tagged::number({n:?})")
        } else if let Some(object) = self.as_object() {
            write!(f, "Tagged({object:?})")
        } else {
            write!(f, "Tagged::immediate({})", self.addr())
        }
    }
}

// SAFETY: visits the one object it owns, if any.
#[diagnostic::do_not_recommend]
unsafe impl Traverse for Tagged {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        if let Some(object) = self.as_object() {
            object.traverse(visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PyObjectType, TypeObject};

    struct Unit;
    static UNIT_TYPE: TypeObject = TypeObject::new::<Unit>(c"Unit");
    // SAFETY: UNIT_TYPE is built by `TypeObject::new::<Unit>`, for Unit alone.
    unsafe impl PyObjectType for Unit {
        type Header = PyObject;
        type Item = ();
        const TYPE: &'static TypeObject = &UNIT_TYPE;
    }

    #[test]
    fn numbers_round_trip_by_bits() {
        let samples = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(1),
            f64::from_bits(0x8000_0000_0000_0001),
            f64::NAN,
            -f64::NAN,
        ];
        for n in samples {
            let value = Tagged::number(n);
            assert!(value.is_number() && !value.is_object());
            assert_eq!(value.as_immediate(), None);
            assert_eq!(value.as_number().map(f64::to_bits), Some(n.to_bits()));
        }
    }

    #[test]
    fn high_negative_nans_stay_negative_nans() {
        for bits in [u64::MAX, 0xFFFF_0000_0000_0000, 0xFFFF_8000_0000_0001] {
            let n = Tagged::number(f64::from_bits(bits)).as_number().unwrap();
            assert!(n.is_nan() && n.is_sign_negative(), "{bits:#x}");
        }
    }

    #[test]
    fn immediate_zero_is_the_zero_word() {
        assert_eq!(Tagged::immediate(0).bits(), 0);
        assert_eq!(Tagged::default().bits(), 0);
    }

    #[test]
    fn immediates_are_neither_numbers_nor_objects() {
        for n in 0..=u8::MAX {
            let value = Tagged::immediate(n);
            assert_eq!(value.as_immediate(), Some(n));
            assert!(!value.is_number() && value.as_object().is_none());
            assert!(value.is(&Tagged::immediate(n)));
        }
    }

    #[test]
    fn an_object_is_counted_by_its_clones_and_freed_by_the_last() {
        let object = Py::new(Unit).unwrap();
        let count = || object.refcnt();
        let value = Tagged::from(object.clone());
        assert_eq!(count(), 2);
        let copy = value.clone();
        assert_eq!(count(), 3);
        assert!(copy.is(&value));
        assert!(copy.downcast_ref::<Unit>().is_some());
        assert_eq!(copy.as_number(), None);
        drop(value);
        assert_eq!(count(), 2);
        let back = copy.into_object().unwrap();
        assert_eq!(count(), 2);
        drop(back);
        assert_eq!(count(), 1);
    }
}
