//! Lox, the language of Robert Nystrom's "Crafting Interpreters", as a
//! single-pass compiler to bytecode and a stack VM (the design of the book's
//! clox), with every heap value an objimpl object: strings (var-size, their
//! bytes inline, interned in a weak table), functions, closures (their
//! upvalues as items), upvalues, classes, instances, bound methods and
//! natives are `#[pyobject]` types. Reference counts free most garbage at
//! once; objimpl's cycle collector frees the cycles (a closure that captures
//! itself, class to method to closure, instance graphs). There is no
//! collector of the interpreter's own.
//!
//! ```
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let mut vm = objimpl_lox::Vm::new(&mut out, &mut err)?;
//! let outcome = vm.interpret("fun add(a, b) { return a + b; } print add(1, 2);");
//! drop(vm);
//! assert_eq!(outcome, objimpl_lox::Outcome::Ok);
//! assert_eq!(String::from_utf8(out).unwrap(), "3\n");
//! # Ok::<(), objimpl::MemoryError>(())
//! ```

mod chunk;
mod compiler;
mod object;
mod scanner;
mod stack;
mod value;
mod verify;
mod vm;

pub use vm::{Outcome, Vm};
