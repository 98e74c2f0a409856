//! [`WeakValueMap`]: Python's `weakref.WeakValueDictionary`, a map whose
//! values are weak references, each entry gone when its object dies.

use core::borrow::Borrow;
use core::cell::{Cell, RefCell};
use core::hash::{BuildHasher, Hash};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::rc::{self, Rc};

use super::Py;
use super::weak::{WeakPy, WeakRefable};

/// A map from keys to objects that does not keep its objects alive
/// (Python's `weakref.WeakValueDictionary`): an entry goes when its object
/// dies, by the weak reference's callback, with no sweep. A cache, or an
/// intern table of strings, is one.
///
/// The map is bound to its thread, as its objects are.
///
/// ```
/// use objimpl::prelude::*;
/// use objimpl::{WeakList, WeakValueMap};
///
/// /// An interned string: its bytes are the items.
/// #[pyobject(basic, item = u8)]
/// pub struct Str { #[pyobject(weaklist)] weak: WeakList }
///
/// let interned: WeakValueMap<Vec<u8>, Str> = WeakValueMap::new();
/// let intern = |s: &[u8]| {
///     interned.get_or_try_insert_with(s, || Str::new_var_from_slice(Str { weak: WeakList::new() }, s))
/// };
/// let a = intern(b"spam")?;
/// let b = intern(b"spam")?;
/// assert!(Py::ptr_eq(&a, &b)); // one object for one text
/// assert_eq!(interned.len(), 1);
/// drop((a, b));
/// assert_eq!(interned.len(), 0); // gone with its object
/// # Ok::<(), MemoryError>(())
/// ```
pub struct WeakValueMap<K, T: WeakRefable, S = RandomState> {
    shared: Rc<Shared<K, T, S>>,
}

struct Shared<K, T: WeakRefable, S> {
    entries: RefCell<HashMap<K, WeakPy<T>, S>>,
    /// A callback found the entries borrowed (a rare reentrant death) and
    /// left a dead entry: the next change removes the dead ones.
    has_dead: Cell<bool>,
}

impl<K: Hash + Eq + Clone + 'static, T: WeakRefable> WeakValueMap<K, T> {
    /// An empty map.
    pub fn new() -> Self {
        WeakValueMap::with_hasher(RandomState::new())
    }
}

impl<K: Hash + Eq + Clone + 'static, T: WeakRefable> Default for WeakValueMap<K, T> {
    fn default() -> Self {
        WeakValueMap::new()
    }
}

impl<K, T, S> WeakValueMap<K, T, S>
where
    K: Hash + Eq + Clone + 'static,
    T: WeakRefable,
    S: BuildHasher + 'static,
{
    /// An empty map that hashes with `hasher`.
    pub fn with_hasher(hasher: S) -> Self {
        WeakValueMap {
            shared: Rc::new(Shared {
                entries: RefCell::new(HashMap::with_hasher(hasher)),
                has_dead: Cell::new(false),
            }),
        }
    }

    /// The object under `key`, if it is alive.
    pub fn get<Q>(&self, key: &Q) -> Option<Py<T>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // (`upgrade` drops nothing, so no callback runs meanwhile.)
        self.shared.entries.borrow().get(key)?.upgrade()
    }

    /// Whether an object is alive under `key`.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Puts `value` under `key`; returns the object that was there, if it
    /// was alive.
    pub fn insert(&self, key: K, value: &Py<T>) -> Option<Py<T>> {
        let map = Rc::downgrade(&self.shared);
        let key_for_callback = key.clone();
        let weak = Py::downgrade_with(value, move || remove_dead(&map, &key_for_callback));
        let old = self.entries_mut().insert(key, weak)?;
        old.upgrade()
    }

    /// The object under `key` if it is alive; otherwise `make`'s, put there.
    /// `make` runs with the map free, so it may use the map.
    ///
    /// # Errors
    ///
    /// `make`'s error, the map left unchanged.
    pub fn get_or_try_insert_with<Q, E>(
        &self,
        key: &Q,
        make: impl FnOnce() -> Result<Py<T>, E>,
    ) -> Result<Py<T>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(found) = self.get(key) {
            return Ok(found);
        }
        let made = make()?;
        self.insert(key.to_owned(), &made);
        Ok(made)
    }

    /// Takes the entry under `key` out; returns its object if it was alive.
    pub fn remove<Q>(&self, key: &Q) -> Option<Py<T>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let weak = self.entries_mut().remove(key)?;
        weak.upgrade()
    }

    /// The number of entries, each of an object alive.
    pub fn len(&self) -> usize {
        if self.shared.has_dead.get() {
            self.entries_mut();
        }
        self.shared.entries.borrow().len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry.
    pub fn clear(&self) {
        // Only weak references go: no object dies, no callback runs.
        self.entries_mut().clear();
    }

    /// The live entries, as strong references (a snapshot: the map may
    /// change while they are used).
    pub fn entries(&self) -> Vec<(K, Py<T>)> {
        self.shared
            .entries
            .borrow()
            .iter()
            .filter_map(|(k, weak)| Some((k.clone(), weak.upgrade()?)))
            .collect()
    }

    /// The entries, mutably, the dead ones removed first if a callback
    /// could not remove them.
    fn entries_mut(&self) -> core::cell::RefMut<'_, HashMap<K, WeakPy<T>, S>> {
        let mut entries = self.shared.entries.borrow_mut();
        if self.shared.has_dead.replace(false) {
            entries.retain(|_, weak| weak.strong_count() > 0);
        }
        entries
    }
}

/// The callback of an entry's weak reference: its object died, so the
/// entry goes, unless the key has a live object again, or the map is gone.
fn remove_dead<K: Hash + Eq, T: WeakRefable, S: BuildHasher>(
    map: &rc::Weak<Shared<K, T, S>>,
    key: &K,
) {
    let Some(shared) = map.upgrade() else { return };
    // The object died while the map was borrowed (a `Drop` run by a clone
    // or a lookup, say): leave the entry for the next change to remove.
    let Ok(mut entries) = shared.entries.try_borrow_mut() else {
        shared.has_dead.set(true);
        return;
    };
    if entries
        .get(key)
        .is_some_and(|weak| weak.strong_count() == 0)
    {
        let dead = entries.remove(key);
        drop(entries);
        drop(dead);
    }
}

impl<K, T: WeakRefable, S> core::fmt::Debug for WeakValueMap<K, T, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.shared.entries.try_borrow() {
            Ok(entries) => write!(f, "WeakValueMap({} entries)", entries.len()),
            Err(_) => write!(f, "WeakValueMap(<in use>)"),
        }
    }
}

// SAFETY: weak references own no strong reference: visits nothing.
#[diagnostic::do_not_recommend]
unsafe impl<K, T: WeakRefable, S> crate::gc::Traverse for WeakValueMap<K, T, S> {}
