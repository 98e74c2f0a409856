//! Generated code names everything by absolute path: it compiles with no
//! prelude, next to user types that shadow the standard ones.
#![no_implicit_prelude]

extern crate objimpl;
extern crate std;

#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Box;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
mod core {}
#[allow(dead_code, non_camel_case_types)]
struct usize_alias;

#[objimpl::pyobject(basic)]
struct Point {
    x: f64,
}

#[objimpl::pyobject(basic, item = u16)]
struct Digits {
    sign: i8,
}

fn main() {
    use objimpl::PyObjectType;
    let point = Point::new(Point { x: 1.0 }).unwrap_or_else(|_| std::process::abort());
    std::assert_eq!(point.x, 1.0);
    let digits =
        Digits::new_var(Digits { sign: -1 }, [1, 2, 3]).unwrap_or_else(|_| std::process::abort());
    std::assert_eq!((digits.sign, digits.len()), (-1, 3));
    std::assert_eq!(Digits::TYPE.itemsize(), 2);
}
