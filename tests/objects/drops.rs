//! The payload and every item are dropped exactly once, when the last
//! reference goes, also when construction fails half-way.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::types::{DropCounter, Owner, Tracked};

/// A payload that owns heap memory and counts its drops on `payload`.
fn owner(payload: &DropCounter) -> Owner {
    Owner {
        name: "owner".repeat(10),
        tracked: Tracked(payload.clone()),
    }
}

#[test]
fn the_last_reference_drops_payload_and_items_once() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let obj = Owner::new_var(owner(&payload), (0..3).map(|_| Tracked(items.clone()))).unwrap();
    let other = obj.clone();
    drop(obj);
    assert_eq!((payload.count(), items.count()), (0, 0));
    assert_eq!(other.name.len(), 50);
    drop(other);
    assert_eq!((payload.count(), items.count()), (1, 3));
}

#[test]
fn new_on_a_var_type_has_no_items_to_drop() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let obj = Owner::new(owner(&payload)).unwrap();
    assert_eq!(obj.len(), 0);
    drop(obj);
    assert_eq!((payload.count(), items.count()), (1, 0));
}

/// Claims `claimed` items (an exact `size_hint`, so `len()` too) and
/// yields `actual`.
struct Lying {
    items: DropCounter,
    claimed: usize,
    actual: usize,
}

impl Iterator for Lying {
    type Item = Tracked;
    fn next(&mut self) -> Option<Tracked> {
        self.actual.checked_sub(1).map(|left| {
            self.actual = left;
            Tracked(self.items.clone())
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

impl ExactSizeIterator for Lying {}

#[test]
fn a_short_iterator_panics_and_drops_what_was_made() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let lying = Lying {
        items: items.clone(),
        claimed: 4,
        actual: 2,
    };
    let value = owner(&payload);
    let result = catch_unwind(AssertUnwindSafe(|| Owner::new_var(value, lying)));
    assert!(result.is_err());
    assert_eq!((payload.count(), items.count()), (1, 2));
}

#[test]
fn a_long_iterator_panics_and_drops_everything() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let lying = Lying {
        items: items.clone(),
        claimed: 1,
        actual: 3,
    };
    let value = owner(&payload);
    let result = catch_unwind(AssertUnwindSafe(|| Owner::new_var(value, lying)));
    assert!(result.is_err());
    // The one item it placed, the one it pulled to find the lie; the payload.
    assert_eq!((payload.count(), items.count()), (1, 2));
}

#[test]
fn an_impossible_size_is_a_memory_error_and_takes_no_item() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let lying = Lying {
        items: items.clone(),
        claimed: usize::MAX / 2,
        actual: 0,
    };
    let result = Owner::new_var(owner(&payload), lying);
    assert!(matches!(result, Err(objimpl::MemoryError)));
    assert_eq!((payload.count(), items.count()), (1, 0));
}

#[test]
fn resize_drops_exactly_the_items_it_removes_and_a_panic_keeps_what_was_made() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let mut obj = Owner::new_var(owner(&payload), (0..10).map(|_| Tracked(items.clone()))).unwrap();
    obj.resize_with(4, || unreachable!()).unwrap();
    assert_eq!((obj.len(), items.count()), (4, 6));
    let mut made = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        obj.resize_with(8, || {
            made += 1;
            assert!(made <= 2, "the third item fails");
            Tracked(items.clone())
        })
    }));
    assert!(result.is_err());
    assert_eq!(obj.len(), 6, "the two items made stay");
    drop(obj);
    assert_eq!((payload.count(), items.count()), (1, 6 + 6));
}
