//! The value stack: slots below `top` are live; those from `top` up hold no
//! object (so nothing is kept alive there).
//!
//! The VM's loop works on the slots directly and keeps `top` in a local (a
//! register), writing it back before anything else reads the stack.

use std::alloc::{self, Layout};
use std::ops::{Index, IndexMut};

use objimpl::MemoryError;

use crate::value::Value;

/// Call frames at most: deeper recursion is "Stack overflow.", as in clox.
pub(crate) const FRAMES_MAX: usize = 64;
/// Stack slots: clox's 256 a frame. A power of two, see [`Slots`].
pub(crate) const STACK_MAX: usize = FRAMES_MAX * 256;
const _: () = assert!(STACK_MAX.is_power_of_two());

/// The stack would pass [`STACK_MAX`].
pub(crate) struct Overflow;

/// The slots. An index is taken modulo [`STACK_MAX`], a mask, so that
/// reading a slot needs no bounds check. A call checks that its frame's
/// deepest stack (the verifier's `stack_size`) fits below `STACK_MAX`, and
/// pushes outside the loop stop there ([`Overflow`]), so an index that
/// wraps would be a bug of the VM (caught by the debug assertions), never a
/// read out of bounds.
#[repr(transparent)]
pub(crate) struct Slots([Value; STACK_MAX]);

impl Index<usize> for Slots {
    type Output = Value;

    #[inline(always)]
    fn index(&self, index: usize) -> &Value {
        debug_assert!(index < STACK_MAX, "stack slot {index} of {STACK_MAX}");
        &self.0[index % STACK_MAX]
    }
}

impl IndexMut<usize> for Slots {
    #[inline(always)]
    fn index_mut(&mut self, index: usize) -> &mut Value {
        debug_assert!(index < STACK_MAX, "stack slot {index} of {STACK_MAX}");
        &mut self.0[index % STACK_MAX]
    }
}

impl Slots {
    /// Drops the values of slots `from..to`.
    #[inline(always)]
    pub(crate) fn clear(&mut self, from: usize, to: usize) {
        for slot in from..to {
            self[slot] = Value::NIL;
        }
    }

    /// The values of slots `from..to`.
    pub(crate) fn range(&self, from: usize, to: usize) -> &[Value] {
        &self.0[from..to]
    }
}

pub(crate) struct Stack {
    pub(crate) slots: Box<Slots>,
    pub(crate) top: usize,
}

impl Stack {
    pub(crate) fn new() -> Result<Stack, MemoryError> {
        // Zeroed, so that the pages no program reaches are never touched:
        // 128 KiB of them, like clox's stack in its `.bss`.
        let layout = Layout::new::<Slots>();
        // SAFETY: the layout's size is not zero.
        let slots = unsafe { alloc::alloc_zeroed(layout) }.cast::<Slots>();
        if slots.is_null() {
            return Err(MemoryError);
        }
        // Initialised: an all-zero word is `Tagged::immediate(0)`, as its
        // documentation promises, and `Value` and `Slots` are
        // `repr(transparent)` over `Tagged`, so the slots are all `Value::NIL`.
        // SAFETY: a fresh, initialised allocation of `Slots`' layout by the
        // global allocator, as `Box` needs.
        let slots = unsafe { Box::from_raw(slots) };
        Ok(Stack { slots, top: 0 })
    }

    pub(crate) fn push(&mut self, value: Value) -> Result<(), Overflow> {
        if self.top == STACK_MAX {
            return Err(Overflow);
        }
        self.slots[self.top] = value;
        self.top += 1;
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Value {
        self.top -= 1;
        std::mem::take(&mut self.slots[self.top])
    }

    /// The value `distance` slots below the top.
    pub(crate) fn peek(&self, distance: usize) -> &Value {
        &self.slots[self.top - 1 - distance]
    }

    pub(crate) fn top_mut(&mut self) -> &mut Value {
        &mut self.slots[self.top - 1]
    }

    /// The values from slot `from` to the top.
    pub(crate) fn from(&self, from: usize) -> &[Value] {
        self.slots.range(from, self.top)
    }

    /// Drops the values from slot `len` up.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.slots.clear(len, self.top);
        self.top = len;
    }

    /// Drops every value. (The loop writes `top` back before anything that
    /// may fail, so the slots above it hold no object.)
    pub(crate) fn clear(&mut self) {
        self.truncate(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stack_is_all_nil() {
        let stack = Stack::new().unwrap();
        assert!(stack.slots.range(0, STACK_MAX).iter().all(|v| v.is_nil()));
    }
}
