//! A Lox value: `nil`, a boolean, a number, or a handle to an object.

use std::fmt;

use objimpl::gc::Traverse;
use objimpl::{Py, PyObjectType, Tagged};

use crate::object::{BoundMethod, Class, Closure, Function, Instance, LoxStr, LoxStrMethods};

/// A value: `nil`, a boolean, a number, or an object, in one word
/// ([`Tagged`]: an object is its pointer, a number its bits offset past
/// every pointer, `nil` and the booleans immediates). An object is held as
/// CPython holds a `PyObject *`: copying one counts a reference, dropping
/// one may free it, and its type is its type object ([`Value::as_obj`] is a
/// pointer compare). The collector sees the objects through `Traverse`.
#[derive(Clone, Default, Traverse)]
#[repr(transparent)]
pub struct Value(Tagged);

impl<T: PyObjectType> From<Py<T>> for Value {
    #[inline]
    fn from(object: Py<T>) -> Value {
        Value(Tagged::from(object))
    }
}

impl Value {
    /// `nil` (also what `Default` gives).
    pub(crate) const NIL: Value = Value(Tagged::immediate(0));
    pub(crate) const FALSE: Value = Value(Tagged::immediate(1));
    pub(crate) const TRUE: Value = Value(Tagged::immediate(2));
    /// What an instance holds in the slot of a field it has not been given:
    /// never a Lox value.
    pub(crate) const ABSENT: Value = Value(Tagged::immediate(3));

    #[inline]
    pub(crate) fn number(n: f64) -> Value {
        Value(Tagged::number(n))
    }

    #[inline]
    pub(crate) fn bool(b: bool) -> Value {
        Value(Tagged::immediate(1 + u8::from(b)))
    }

    /// The number, if this is one.
    #[inline]
    pub(crate) fn as_number(&self) -> Option<f64> {
        self.0.as_number()
    }

    /// Whether this is `nil`.
    #[inline]
    pub(crate) fn is_nil(&self) -> bool {
        self.0.is(&Self::NIL.0)
    }

    /// Whether this is `Value::ABSENT`.
    #[inline]
    pub(crate) fn is_absent(&self) -> bool {
        self.0.is(&Self::ABSENT.0)
    }

    /// The object, if this is one of type `T`.
    #[inline]
    pub(crate) fn as_obj<T: PyObjectType>(&self) -> Option<&Py<T>> {
        self.0.downcast_ref::<T>()
    }

    /// The object, if this is one of type `T`; else the value back.
    #[inline]
    pub(crate) fn into_obj<T: PyObjectType>(self) -> Result<Py<T>, Value> {
        match self.0.into_object() {
            Ok(object) => object
                .downcast::<T>()
                .map_err(|other| Value(Tagged::from(other))),
            Err(other) => Err(Value(other)),
        }
    }

    /// `nil` and `false` are false; everything else is true.
    #[inline]
    pub(crate) fn is_falsey(&self) -> bool {
        // NIL and FALSE are the words 0 and 1.
        self.0.bits() <= Self::FALSE.0.bits()
    }

    /// Lox's `==`: numbers by value (NaN is not itself), everything else by
    /// identity (strings are interned, so that is by value too).
    #[inline]
    pub(crate) fn equals(&self, other: &Value) -> bool {
        match (self.as_number(), other.as_number()) {
            (Some(a), Some(b)) => a == b,
            _ => self.0.is(&other.0),
        }
    }
}

fn function_name(f: &mut fmt::Formatter<'_>, function: &Function) -> fmt::Result {
    match &function.name {
        Some(name) => write!(f, "<fn {}>", name.as_str()),
        None => f.write_str("<script>"),
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.as_number() {
            write_number(f, n)
        } else if let Some(s) = self.as_obj::<LoxStr>() {
            f.write_str(s.as_str())
        } else if let Some(function) = self.as_obj::<Function>() {
            function_name(f, function)
        } else if let Some(closure) = self.as_obj::<Closure>() {
            function_name(f, &closure.function)
        } else if let Some(class) = self.as_obj::<Class>() {
            f.write_str(class.name.as_str())
        } else if let Some(instance) = self.as_obj::<Instance>() {
            write!(f, "{} instance", instance.class.name.as_str())
        } else if let Some(bound) = self.as_obj::<BoundMethod>() {
            function_name(f, &bound.method.function)
        } else if self.0.is_object() {
            f.write_str("<native fn>")
        } else if self.is_falsey() {
            f.write_str(if self.is_nil() { "nil" } else { "false" })
        } else {
            f.write_str("true")
        }
    }
}

/// A number as C's `printf("%g")` writes it, as clox prints numbers: six
/// significant digits, trailing zeros dropped, an exponent when the number
/// is below 1e-4 or from 1e6 on.
fn write_number(f: &mut fmt::Formatter<'_>, n: f64) -> fmt::Result {
    if n.is_nan() {
        return f.write_str(if n.is_sign_negative() { "-nan" } else { "nan" });
    }
    if n.is_infinite() {
        return f.write_str(if n < 0.0 { "-inf" } else { "inf" });
    }
    if n == 0.0 {
        return f.write_str(if n.is_sign_negative() { "-0" } else { "0" });
    }
    const PRECISION: i32 = 6;
    // The exponent after rounding to six significant digits.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, n);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = trim_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        write!(f, "{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        let fixed = format!("{n:.decimals$}");
        f.write_str(trim_zeros(&fixed))
    }
}

/// `1.500000` to `1.5`, `2.000` to `2`.
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(n: f64) -> String {
        Value::number(n).to_string()
    }

    #[test]
    fn numbers_print_as_printf_g_does() {
        assert_eq!(show(1.0), "1");
        assert_eq!(show(-0.5), "-0.5");
        assert_eq!(show(123456.0), "123456");
        assert_eq!(show(1234567.0), "1.23457e+06");
        assert_eq!(show(0.0001), "0.0001");
        assert_eq!(show(0.00001), "1e-05");
        assert_eq!(show(1.0 / 3.0), "0.333333");
        assert_eq!(show(f64::INFINITY), "inf");
        assert_eq!(show(-0.0), "-0");
        assert_eq!(show(999999.5), "1e+06");
        assert_eq!(show(100.0), "100");
    }
}
