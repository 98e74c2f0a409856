//! Lox's heap values, each an objimpl object type. Strings and functions
//! cannot hold a cycle and are `basic`; closures, upvalues, classes,
//! instances and bound methods may, and are `gc`: objimpl's cycle collector
//! frees what their reference counts cannot.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use objimpl::prelude::*;
use objimpl::value::{PyEq, PyHash, PyPartialEq};
use objimpl::{WeakList, WeakValueMap};

use crate::chunk::Chunk;
use crate::value::Value;
use crate::verify::Verified;

/// A string: its bytes are the items, its hash (FNV-1a, as clox's) is
/// computed once. Every string is interned, so two are equal when they are
/// the same object.
#[pyobject(basic, item = u8, name = "string", new = alloc)]
pub struct LoxStr {
    hash: u32,
    /// The slot of the global variable of this name ([`NO_SLOT`] until one
    /// is defined): the string is interned, so the name is the key.
    pub(crate) global: Cell<u32>,
    #[pyobject(weaklist)]
    weak: WeakList,
}

/// FNV-1a over `bytes`.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2_166_136_261_u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}

#[pymethods]
impl LoxStr {
    pub(crate) fn as_str(self: &Py<Self>) -> &str {
        // Made from `&str`s and their concatenations only.
        std::str::from_utf8(self.items()).unwrap_or("")
    }
}

impl PyPartialEq for LoxStr {
    #[inline]
    fn eq(this: &Py<Self>, other: &Py<Self>) -> bool {
        Py::ptr_eq(this, other)
    }
}
impl PyEq for LoxStr {}
impl PyHash for LoxStr {
    #[inline]
    fn hash<H: Hasher>(this: &Py<Self>, state: &mut H) {
        state.write_u32(this.hash);
    }
}

/// Hashes a string key by its cached hash (one multiply spreads it over
/// the word, for the table's control bytes).
#[derive(Default)]
pub(crate) struct StrHasher(u64);

impl Hasher for StrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = u64::from(hash_bytes(bytes));
    }
}

type BuildStrHasher = BuildHasherDefault<StrHasher>;

/// The global variables, each in a slot given to its name when the
/// compiler first meets it (and held by the name, [`LoxStr::global`]): the
/// code names a global by its slot, so a read is an index, not a lookup.
#[derive(Default)]
pub(crate) struct Globals {
    /// By slot: [`Value::ABSENT`] while the global is not defined.
    values: Vec<Value>,
    /// The names, by slot: they keep the strings, and so their slots.
    names: Vec<Py<LoxStr>>,
}

impl Globals {
    /// The slot of global `name`, given now if it has none; `None` past
    /// 65,536 names.
    pub(crate) fn slot(&mut self, name: &Py<LoxStr>) -> Option<u16> {
        let slot = name.global.get();
        if slot != NO_SLOT {
            return u16::try_from(slot).ok();
        }
        let slot = u16::try_from(self.values.len()).ok()?;
        name.global.set(u32::from(slot));
        self.values.push(Value::ABSENT);
        self.names.push(name.clone());
        Some(slot)
    }

    /// The global in `slot`, if it is defined.
    #[inline]
    pub(crate) fn get(&self, slot: usize) -> Option<&Value> {
        self.values.get(slot).filter(|value| !value.is_absent())
    }

    /// The global in `slot`, to set, if it is defined.
    #[inline]
    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Value> {
        self.values.get_mut(slot).filter(|value| !value.is_absent())
    }

    /// Defines (or redefines) the global in `slot`.
    pub(crate) fn define(&mut self, slot: usize, value: Value) {
        if let Some(global) = self.values.get_mut(slot) {
            *global = value;
        }
    }

    /// The name of the global in `slot`.
    pub(crate) fn name(&self, slot: usize) -> &str {
        self.names.get(slot).map_or("", |name| name.as_str())
    }
}

/// The intern table: every live string, once, by its bytes. Entries go
/// with their strings.
pub(crate) struct Strings {
    interned: WeakValueMap<Vec<u8>, LoxStr, BuildHasherDefault<StrHasher>>,
}

impl Strings {
    pub(crate) fn new() -> Strings {
        Strings {
            interned: WeakValueMap::with_hasher(BuildHasherDefault::default()),
        }
    }

    /// The string object of `text`.
    pub(crate) fn intern(&self, text: &[u8]) -> Result<Py<LoxStr>, MemoryError> {
        self.interned.get_or_try_insert_with(text, || {
            let payload = LoxStr {
                hash: hash_bytes(text),
                global: Cell::new(NO_SLOT),
                weak: WeakList::new(),
            };
            LoxStr::alloc_var_from_slice(payload, text)
        })
    }

    /// The number of live strings.
    pub(crate) fn len(&self) -> usize {
        self.interned.len()
    }
}

/// A compiled function: its code and what calling it needs.
#[pyobject(basic, name = "function", new = alloc)]
pub struct Function {
    pub(crate) arity: u8,
    pub(crate) upvalue_count: usize,
    pub(crate) chunk: Chunk,
    /// One inline cache for each property access of the code.
    pub(crate) caches: Box<[SiteCache]>,
    /// `None` for the top-level script.
    pub(crate) name: Option<Py<LoxStr>>,
    /// The chunk passed the verifier, so the VM may read it unchecked.
    pub(crate) verified: Verified,
}

/// A native function: `clock()`.
#[pyobject(basic, name = "native", new = alloc)]
pub struct Native {
    pub(crate) arity: u8,
    pub(crate) function: fn(&[Value]) -> Value,
}

/// A function with its captured variables, which are the items.
#[pyobject(gc, item = Py<Upvalue>, name = "closure", new = alloc)]
pub struct Closure {
    pub(crate) function: Py<Function>,
}

/// A captured variable: open while it lives on the stack (at `slot`, and
/// `closed` is [`Value::ABSENT`]), closed (holding its value) once its
/// scope has ended.
#[pyobject(gc, name = "upvalue", new = alloc)]
pub struct Upvalue {
    pub(crate) slot: Cell<usize>,
    pub(crate) closed: RefCell<Value>,
}

/// A class: its name, methods, and the slots of its instances' fields.
#[pyobject(gc, name = "class", new = alloc)]
pub struct Class {
    pub(crate) name: Py<LoxStr>,
    /// Never reused, unlike an address: what the inline caches compare.
    pub(crate) id: u64,
    /// The methods, each in the slot `method_slots` gives its name. Set
    /// while the class is declared (its own after those it inherits), and
    /// never changed after, so a slot once cached holds.
    pub(crate) methods: RefCell<Vec<Py<Closure>>>,
    pub(crate) method_slots: RefCell<HashMap<Py<LoxStr>, u32, BuildStrHasher>>,
    /// Each field name any instance of the class was given, and its slot in
    /// every instance's `fields`: append-only, so a slot once cached holds.
    pub(crate) field_slots: RefCell<HashMap<Py<LoxStr>, u32, BuildStrHasher>>,
    /// `field_slots.len()`, where the caches read it without a borrow.
    field_count: Cell<u32>,
    /// The slot of the `init` method ([`NO_SLOT`]: none), for calls of the
    /// class, which look for it every time.
    init: Cell<u32>,
}

impl Class {
    /// A class with no methods and no fields yet.
    pub(crate) fn new(name: Py<LoxStr>, id: u64) -> Class {
        Class {
            name,
            id,
            methods: Default::default(),
            method_slots: Default::default(),
            field_slots: Default::default(),
            field_count: Cell::new(0),
            init: Cell::new(NO_SLOT),
        }
    }

    /// The slot of field `name` in this class's instances, if one has it.
    ///
    /// A slot, once given, is the field's for good, so a cached one is
    /// always right; a cached absence only while the class has no more
    /// fields than when it was cached.
    #[inline(always)]
    pub(crate) fn field_slot(&self, name: &Value, cache: &FieldCache) -> Option<usize> {
        let (id, slot, fields) = cache.get();
        if id == self.id {
            if slot != NO_SLOT {
                return Some(slot as usize);
            }
            if fields == self.field_count() {
                return None;
            }
        }
        self.field_slot_missed(name, cache)
    }

    /// [`field_slot`](Self::field_slot) past its cache: the lookup, which
    /// fills the cache (out of line, to keep the hit small).
    #[cold]
    #[inline(never)]
    fn field_slot_missed(&self, name: &Value, cache: &FieldCache) -> Option<usize> {
        let slots = self.field_slots.borrow();
        let slot = slots.get(property_name(name)).copied();
        cache.set((self.id, slot.unwrap_or(NO_SLOT), slots.len() as u32));
        slot.map(|slot| slot as usize)
    }

    /// Method `name`, through the site's cache.
    #[inline(always)]
    pub(crate) fn method(&self, name: &Value, cache: &MethodCache) -> Option<Py<Closure>> {
        let (id, slot) = cache.get();
        let slot = if id == self.id {
            slot
        } else {
            self.method_slot_missed(name, cache)
        };
        self.method_in_slot(slot)
    }

    /// The method in `slot` ([`NO_SLOT`], past the end: `None`).
    #[inline(always)]
    fn method_in_slot(&self, slot: u32) -> Option<Py<Closure>> {
        // Read without taking a borrow (two writes of the flag fewer on
        // every call): `try_borrow_unguarded` fails while a `borrow_mut` is
        // out, and the reference it gives lives only for the clone, which
        // counts a reference and runs no other code, so no `borrow_mut` can
        // start meanwhile.
        // SAFETY: as said: no mutable borrow while the reference lives.
        let methods = unsafe { self.methods.try_borrow_unguarded() }.ok()?;
        methods.get(slot as usize).cloned()
    }

    /// The slot of method `name` ([`NO_SLOT`]: none), into the cache.
    #[cold]
    #[inline(never)]
    fn method_slot_missed(&self, name: &Value, cache: &MethodCache) -> u32 {
        let slot = self
            .method_slots
            .borrow()
            .get(property_name(name))
            .copied()
            .unwrap_or(NO_SLOT);
        cache.set((self.id, slot));
        slot
    }

    /// Method `name`, without a cache (initializers, `super` calls).
    pub(crate) fn method_uncached(&self, name: &Py<LoxStr>) -> Option<Py<Closure>> {
        let slot = *self.method_slots.borrow().get(name)?;
        self.methods.borrow().get(slot as usize).cloned()
    }

    /// The initializer, if the class has one.
    #[inline]
    pub(crate) fn initializer(&self) -> Option<Py<Closure>> {
        self.method_in_slot(self.init.get())
    }

    /// Defines (or, over an inherited one, redefines) method `name`;
    /// `is_init` says it is the initializer.
    pub(crate) fn set_method(&self, name: Py<LoxStr>, method: Py<Closure>, is_init: bool) {
        let mut slots = self.method_slots.borrow_mut();
        let mut methods = self.methods.borrow_mut();
        let slot = match slots.get(&name) {
            Some(&slot) => {
                methods[slot as usize] = method;
                slot
            }
            None => {
                let slot = methods.len() as u32;
                slots.insert(name, slot);
                methods.push(method);
                slot
            }
        };
        if is_init {
            self.init.set(slot);
        }
    }

    /// Copies `superclass`'s methods, as the class's first.
    pub(crate) fn inherit(&self, superclass: &Class) {
        *self.methods.borrow_mut() = superclass.methods.borrow().clone();
        *self.method_slots.borrow_mut() = superclass.method_slots.borrow().clone();
        self.init.set(superclass.init.get());
    }

    /// How many field slots the class has given.
    #[inline]
    pub(crate) fn field_count(&self) -> u32 {
        self.field_count.get()
    }

    /// The slot of field `name`, made if no instance had it yet.
    pub(crate) fn field_slot_or_new(&self, name: &Value, cache: &FieldCache) -> usize {
        if let Some(slot) = self.field_slot(name, cache) {
            return slot;
        }
        let mut slots = self.field_slots.borrow_mut();
        let slot = slots.len() as u32;
        slots.insert(property_name(name).clone(), slot);
        self.field_count.set(slot + 1);
        cache.set((self.id, slot, slot + 1));
        slot as usize
    }
}

/// A property access's inline cache: the class it last saw (by id), the
/// slot of the field there ([`NO_SLOT`] if that class had none), and how
/// many fields the class had then.
pub(crate) type FieldCache = Cell<(u64, u32, u32)>;

/// A method call's or a property read's cache of the method: the class
/// it last saw (by id), and the method's slot there ([`NO_SLOT`]: none).
pub(crate) type MethodCache = Cell<(u64, u32)>;

/// A property access's caches: of the field, and of the method.
pub(crate) struct SiteCache {
    pub(crate) field: FieldCache,
    pub(crate) method: MethodCache,
}

impl SiteCache {
    pub(crate) fn new() -> SiteCache {
        SiteCache {
            field: Cell::new((0, NO_SLOT, 0)),
            method: Cell::new((0, NO_SLOT)),
        }
    }
}

/// A property name as the code holds it: a string constant (the verifier
/// checks it is one), looked at only when a cache misses.
#[inline]
pub(crate) fn property_name(name: &Value) -> &Py<LoxStr> {
    match name.as_obj::<LoxStr>() {
        Some(name) => name,
        None => unreachable!("verified: names are string constants"),
    }
}

/// A cached "the class has no such field (or method)".
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// An instance: its class and fields, in the slots its class gives them
/// ([`Value::ABSENT`]: this instance has not that field).
#[pyobject(gc, name = "instance", new = alloc, freelist = 64)]
pub struct Instance {
    pub(crate) class: Py<Class>,
    pub(crate) fields: RefCell<Vec<Value>>,
}

/// What a property read finds: a field, or else the class's method (if it
/// has one of that name).
pub(crate) enum Property {
    Field(Value),
    Method(Option<Py<Closure>>),
}

impl Instance {
    /// Property `name`: the field, or else the method, through the site's
    /// caches.
    #[inline(always)]
    pub(crate) fn property(&self, name: &Value, cache: &SiteCache) -> Property {
        // Looked through once, for both lookups.
        let class: &Class = &self.class;
        if let Some(slot) = class.field_slot(name, &cache.field) {
            let fields = self.fields.borrow();
            if let Some(field) = fields.get(slot).filter(|field| !field.is_absent()) {
                return Property::Field(field.clone());
            }
        }
        Property::Method(class.method(name, &cache.method))
    }

    /// Sets field `name`.
    #[inline(always)]
    pub(crate) fn set_field(&self, name: &Value, cache: &FieldCache, value: Value) {
        let slot = self.class.field_slot_or_new(name, cache);
        let mut fields = self.fields.borrow_mut();
        if slot >= fields.len() {
            fields.resize(slot + 1, Value::ABSENT);
        }
        fields[slot] = value;
    }
}

/// A method bound to its receiver.
#[pyobject(gc, name = "bound method", new = alloc)]
pub struct BoundMethod {
    pub(crate) receiver: Value,
    pub(crate) method: Py<Closure>,
}
