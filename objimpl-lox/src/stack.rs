//! The value stack: slots below `top` are live; those from `top` up hold no
//! object (so nothing is kept alive there).
//!
//! The VM's loop works on the slots through raw pointers of its own (the
//! frame's slot 0 and the top), writing the top back before anything else
//! reads it. Every access, the loop's and this module's, derives from
//! the one pointer [`Stack`] keeps to slot 0, and no reference to the whole
//! array is ever made: so the loop's pointers stay valid while other code
//! reads and writes single slots.

use std::alloc::{self, Layout};
use std::ops::{Index, IndexMut};
use std::ptr::NonNull;

use objimpl::MemoryError;

use crate::value::Value;

/// Call frames at most: deeper recursion is "Stack overflow.", as in clox.
pub(crate) const FRAMES_MAX: usize = 64;
/// Stack slots: clox's 256 a frame. A power of two: see [`Stack`]'s `Index`.
pub(crate) const STACK_MAX: usize = FRAMES_MAX * 256;
const _: () = assert!(STACK_MAX.is_power_of_two());

/// The stack would pass [`STACK_MAX`].
pub(crate) struct Overflow;

/// [`STACK_MAX`] slots in one allocation, and the top.
pub(crate) struct Stack {
    /// Slot 0 of `STACK_MAX` initialised slots, owned.
    start: NonNull<Value>,
    /// The number of live slots. Kept at most `STACK_MAX` by the VM (its
    /// calls check their frames' room); the methods here stay in bounds
    /// whatever it holds.
    pub(crate) top: usize,
}

fn layout() -> Layout {
    Layout::array::<Value>(STACK_MAX).expect("STACK_MAX values fit in memory")
}

impl Stack {
    pub(crate) fn new() -> Result<Stack, MemoryError> {
        // Zeroed, so that the pages no program reaches are never touched:
        // 128 KiB of them, like clox's stack in its `.bss`.
        // SAFETY: the layout's size is not zero.
        let start = unsafe { alloc::alloc_zeroed(layout()) }.cast::<Value>();
        // Initialised: an all-zero word is `Tagged::immediate(0)`, as its
        // documentation promises, and `Value` is `repr(transparent)` over
        // `Tagged`, so the slots are all `Value::NIL`.
        let start = NonNull::new(start).ok_or(MemoryError)?;
        Ok(Stack { start, top: 0 })
    }

    /// Slot 0, for the loop's own pointers (see the module's comment).
    #[inline(always)]
    pub(crate) fn start(&self) -> *mut Value {
        self.start.as_ptr()
    }

    /// The index of the slot `slot` points to (a pointer into the stack).
    #[inline(always)]
    pub(crate) fn index_of(&self, slot: *const Value) -> usize {
        (slot.addr() - self.start.as_ptr().addr()) / size_of::<Value>()
    }

    pub(crate) fn push(&mut self, value: Value) -> Result<(), Overflow> {
        if self.top >= STACK_MAX {
            return Err(Overflow);
        }
        let top = self.top;
        self[top] = value;
        self.top = top + 1;
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Value {
        self.top -= 1;
        let top = self.top;
        std::mem::take(&mut self[top])
    }

    /// The value `distance` slots below the top.
    pub(crate) fn peek(&self, distance: usize) -> &Value {
        &self[self.top - 1 - distance]
    }

    pub(crate) fn top_mut(&mut self) -> &mut Value {
        let top = self.top - 1;
        &mut self[top]
    }

    /// The values from slot `from` to the top.
    pub(crate) fn from(&self, from: usize) -> &[Value] {
        let to = self.top.min(STACK_MAX);
        let from = from.min(to);
        // SAFETY: slots `from..to` lie within the `STACK_MAX` initialised
        // slots, and `&self` keeps them from being written meanwhile.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr().add(from), to - from) }
    }

    /// Drops the values from slot `len` up.
    pub(crate) fn truncate(&mut self, len: usize) {
        for slot in len..self.top {
            self[slot] = Value::NIL;
        }
        self.top = len;
    }

    /// Drops every value. (The loop writes `top` back before anything that
    /// may fail, so the slots above it hold no object.)
    pub(crate) fn clear(&mut self) {
        self.truncate(0);
    }
}

/// Slot `index`, taken modulo [`STACK_MAX`] (a mask): no bounds check, and
/// no access out of bounds even for an index that wraps, which would be a bug
/// of the VM (caught by the debug assertion).
impl Index<usize> for Stack {
    type Output = Value;

    #[inline(always)]
    fn index(&self, index: usize) -> &Value {
        debug_assert!(index < STACK_MAX, "stack slot {index} of {STACK_MAX}");
        // SAFETY: the masked index is one of the `STACK_MAX` initialised
        // slots; `&self` keeps it from being written meanwhile.
        unsafe { &*self.start.as_ptr().add(index % STACK_MAX) }
    }
}

impl IndexMut<usize> for Stack {
    #[inline(always)]
    fn index_mut(&mut self, index: usize) -> &mut Value {
        debug_assert!(index < STACK_MAX, "stack slot {index} of {STACK_MAX}");
        // SAFETY: as in `index`; `&mut self` makes the slot's borrow unique.
        unsafe { &mut *self.start.as_ptr().add(index % STACK_MAX) }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.clear();
        // SAFETY: allocated in `new` with this layout, and freed once; the
        // slots hold no object any more, so nothing is leaked.
        unsafe { alloc::dealloc(self.start.as_ptr().cast(), layout()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stack_is_all_nil() {
        let stack = Stack::new().unwrap();
        assert!((0..STACK_MAX).all(|slot| stack[slot].is_nil()));
    }

    #[test]
    fn pushes_stop_at_the_end_and_truncation_drops() {
        let mut stack = Stack::new().unwrap();
        for n in 0..STACK_MAX {
            assert!(stack.push(Value::number(n as f64)).is_ok());
        }
        assert!(stack.push(Value::NIL).is_err());
        assert_eq!(
            stack.from(STACK_MAX - 1)[0].as_number(),
            Some((STACK_MAX - 1) as f64)
        );
        stack.truncate(1);
        assert_eq!(stack.from(0).len(), 1);
        assert!(stack[1].is_nil());
    }
}
