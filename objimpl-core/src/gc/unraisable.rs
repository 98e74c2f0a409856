//! Panics nobody can catch (CPython's `sys.unraisablehook`): a `Drop` that
//! the collector runs, and a weak reference's callback. The code that
//! started a collection did not drop the object and cannot be expected to
//! handle its panic: an automatic collection runs inside an unrelated
//! `Py::new`, and the last one runs in a thread's exit, where a panic aborts
//! the process; a callback runs wherever its object happens to die. So each
//! such panic goes to a hook, whose default prints it, and the program
//! carries on.

use std::any::Any;
use std::sync::{Arc, RwLock};

/// A panic of a `Drop` that the cycle collector ran, or of a weak
/// reference's callback, as given to the hook set with
/// [`set_unraisable_hook`] (CPython's `UnraisableHookArgs`).
///
/// ```
/// # use objimpl::gc::Unraisable;
/// fn log(u: &Unraisable<'_>) {
///     eprintln!("in {} of '{}': {}", u.what(), u.type_name(), u.message().unwrap_or("?"));
/// }
/// ```
#[derive(Debug)]
pub struct Unraisable<'a> {
    what: &'static str,
    type_name: &'a str,
    payload: &'a (dyn Any + Send),
}

impl<'a> Unraisable<'a> {
    /// What panicked: `"the destruction by the cycle collector"` (a `Drop`
    /// the collector ran) or `"a weak reference callback"`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The name of the type (`tp_name`) of the object whose destruction
    /// panicked, or whose death ran the callback.
    pub fn type_name(&self) -> &'a str {
        self.type_name
    }

    /// The panic's payload, as [`std::panic::catch_unwind`] gives it.
    pub fn payload(&self) -> &'a (dyn Any + Send) {
        self.payload
    }

    /// The panic's message, if it is a string (`panic!("...")` makes one).
    pub fn message(&self) -> Option<&'a str> {
        let payload = self.payload;
        payload
            .downcast_ref::<&'static str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
    }
}

/// A hook that [`set_unraisable_hook`] installs. An `Arc`: a report calls
/// its own reference, outside the lock, so that a hook may set another (or
/// panic into a nested report) without waiting for itself.
pub type UnraisableHook = Arc<dyn Fn(&Unraisable<'_>) + Send + Sync + 'static>;

static HOOK: RwLock<Option<UnraisableHook>> = RwLock::new(None);

/// Sets what is done with the panic of a `Drop` the collector runs (for
/// each garbage object whose destruction panicked, after the collection)
/// and of a weak reference's callback, process-wide; `None` restores the
/// default, which prints `Exception ignored in <what> of '<type>':
/// <message>` to stderr. Returns the hook that was set.
///
/// Such a panic is never resumed: not out of [`collect`](super::collect),
/// nor out of the `Py::new` whose allocation started a collection, nor at a
/// thread's exit (where it would abort the process). The collection goes on
/// past it, and the program too.
///
/// ```
/// use std::cell::RefCell;
/// use std::sync::Mutex;
/// use objimpl::prelude::*;
///
/// #[pyobject(gc)]
/// pub struct Grumpy { me: RefCell<Option<Py<Grumpy>>> }
/// impl Drop for Grumpy {
///     fn drop(&mut self) { panic!("not today") }
/// }
///
/// static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// let _ = std::panic::take_hook(); // (quiet: std's hook would print the panic too)
/// std::panic::set_hook(Box::new(|_| {}));
/// gc::set_unraisable_hook(Some(std::sync::Arc::new(|u| {
///     SEEN.lock().unwrap().push(format!("{}: {}", u.type_name(), u.message().unwrap()));
/// })));
///
/// let g = Grumpy::new(Grumpy { me: RefCell::default() })?;
/// *g.me.borrow_mut() = Some(g.clone());
/// drop(g);
/// assert_eq!(gc::collect(), 1); // no panic here
/// assert_eq!(*SEEN.lock().unwrap(), ["Grumpy: not today"]);
/// gc::set_unraisable_hook(None);
/// # let _ = std::panic::take_hook();
/// # Ok::<(), MemoryError>(())
/// ```
pub fn set_unraisable_hook(hook: Option<UnraisableHook>) -> Option<UnraisableHook> {
    let mut slot = HOOK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    core::mem::replace(&mut *slot, hook)
}

/// Hands one panic to the hook, or prints it. Never panics: a hook that
/// panics is reported on stderr, as CPython reports a failing hook.
pub(crate) fn report(what: &'static str, type_name: &str, payload: &(dyn Any + Send)) {
    let unraisable = Unraisable {
        what,
        type_name,
        payload,
    };
    let hook = HOOK
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &hook {
        Some(hook) => hook(&unraisable),
        None => print_default(&unraisable),
    }));
    if let Err(payload) = outcome {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"objimpl: the unraisable hook panicked; the panic it was given is lost\n",
        );
        drop_payload(payload);
    }
}

/// Drops a panic's payload, which is the user's value for `panic_any`: if
/// its own `Drop` panics, that payload is leaked rather than unwound.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)))
    {
        core::mem::forget(again);
    }
}

fn print_default(unraisable: &Unraisable<'_>) {
    use std::io::Write;
    let message = unraisable.message().unwrap_or("Box<dyn Any>");
    // Write errors are ignored, as CPython's default hook ignores them.
    let _ = writeln!(
        std::io::stderr(),
        "Exception ignored in {} of '{}': {message}",
        unraisable.what,
        unraisable.type_name
    );
}
