//! The handles' [`Traverse`] impls: a strong handle reports its object to
//! the collector (a `basic` one is left out at compile time); a weak one
//! owns no strong reference and reports nothing.

use core::cell::Cell;

use super::kind;
use super::weak::{WeakPy, WeakRefable};
use super::weak_list::WeakList;
use super::{Py, PyAny, PyObjectType};
use crate::gc::{Traverse, Visit};

// SAFETY: visits the one handle it owns.
#[diagnostic::do_not_recommend]
unsafe impl<T: PyObjectType> Traverse for Py<T> {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        // A `basic` object cannot be on the collector's lists: leave it out
        // at compile time.
        if kind::is_gc::<T>() {
            visit.object(self.as_ptr());
        }
    }
}

// SAFETY: visits the one handle it owns.
#[diagnostic::do_not_recommend]
unsafe impl Traverse for PyAny {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        visit.object(self.as_ptr());
    }
}

/// The cells of a settable link: `Cell<Option<Py<T>>>` (`node.next.set(..)`)
/// and `Cell<Option<PyAny>>`.
macro_rules! handle_cell {
    ($(impl<$($param:ident: $bound:path),*> for $handle:ty;)*) => {$(
        // SAFETY: visits the handle the cell owns, if any. Reading the cell
        // through its pointer is sound: a `Cell` lends no references to its
        // contents, and nothing runs between the read and the visit
        // (visiting a handle calls no user code).
        #[diagnostic::do_not_recommend]
        unsafe impl<$($param: $bound),*> Traverse for Cell<Option<$handle>> {
            #[inline]
            fn traverse(&self, visit: &mut Visit<'_>) {
                // SAFETY: see the impl's comment.
                if let Some(handle) = unsafe { &*self.as_ptr() } {
                    handle.traverse(visit);
                }
            }
        }
    )*};
}

handle_cell! {
    impl<T: PyObjectType> for Py<T>;
    impl<> for PyAny;
}

// SAFETY: the list owns no strong reference: visits nothing.
#[diagnostic::do_not_recommend]
unsafe impl Traverse for WeakList {}
// SAFETY: a weak reference owns no strong reference: visits nothing.
#[diagnostic::do_not_recommend]
unsafe impl<T: WeakRefable> Traverse for WeakPy<T> {}
