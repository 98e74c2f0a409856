//! A Lox value: `nil`, a boolean, a number, or a handle to an object.

use std::fmt;

use objimpl::gc::Traverse;
use objimpl::{Py, PyAny, PyObjectType};

use crate::object::{BoundMethod, Class, Closure, Function, Instance, LoxStr, LoxStrMethods};

/// A value. An object is held as a `PyAny`, as CPython holds `PyObject *`:
/// copying one counts a reference, dropping one may free it, and its type
/// is its type object (a pointer compare, [`Value::as_obj`]). The collector
/// sees the objects through `Traverse`.
#[derive(Clone, Traverse)]
pub enum Value {
    Nil,
    Bool(bool),
    Number(f64),
    Obj(PyAny),
}

impl<T: PyObjectType> From<Py<T>> for Value {
    #[inline]
    fn from(object: Py<T>) -> Value {
        Value::Obj(object.into())
    }
}

impl Value {
    /// The object, if this is one of type `T`.
    #[inline]
    pub(crate) fn as_obj<T: PyObjectType>(&self) -> Option<&Py<T>> {
        match self {
            Value::Obj(object) => object.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// `nil` and `false` are false; everything else is true.
    #[inline]
    pub(crate) fn is_falsey(&self) -> bool {
        matches!(self, Value::Nil | Value::Bool(false))
    }

    /// Lox's `==`: numbers by value (NaN is not itself), objects by
    /// identity (strings are interned, so that is by value too).
    #[inline]
    pub(crate) fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::Obj(a), Value::Obj(b)) => a == b,
            _ => false,
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
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write_number(f, *n),
            Value::Obj(_) => {
                if let Some(s) = self.as_obj::<LoxStr>() {
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
                } else {
                    f.write_str("<native fn>")
                }
            }
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
        Value::Number(n).to_string()
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
