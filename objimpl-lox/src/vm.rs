//! The virtual machine: a value stack, call frames, and the loop that runs
//! the bytecode. Every heap value is an objimpl object: the stack and the
//! tables hold counted references, and objimpl's collector frees the cycles.

use std::cell::Cell;
use std::io::Write;

use objimpl::Py;
use objimpl::prelude::MemoryError;

use crate::chunk::Op;
use crate::compiler;
use crate::object::{
    BoundMethod, Class, Closure, Function, Globals, Instance, LoxStr, LoxStrMethods, Native,
    Property, Strings, Upvalue, property_name,
};
use crate::stack::{FRAMES_MAX, Overflow, STACK_MAX, Stack};
use crate::value::Value;
use crate::verify::Verified;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The program ran to its end.
    Ok,
    /// It did not compile (exit code 65).
    CompileError,
    /// It stopped on a runtime error (exit code 70).
    RuntimeError,
}

impl Outcome {
    /// The process exit code clox gives this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => 0,
            Outcome::CompileError => 65,
            Outcome::RuntimeError => 70,
        }
    }
}

struct CallFrame {
    closure: Py<Closure>,
    /// The next instruction, while another frame runs (a `Cell`: the loop
    /// saves it through the shared borrow it holds of the frame).
    ip: Cell<usize>,
    /// The frame's slot 0 in the stack.
    base: usize,
}

/// A runtime error's message; the frames say where.
struct RuntimeError(String);

impl From<MemoryError> for RuntimeError {
    fn from(_: MemoryError) -> Self {
        RuntimeError("Out of memory.".to_owned())
    }
}

impl From<Overflow> for RuntimeError {
    fn from(_: Overflow) -> Self {
        RuntimeError("Stack overflow.".to_owned())
    }
}

/// A Lox interpreter: globals and interned strings persist across
/// [`interpret`](Vm::interpret) calls (the REPL's lines).
pub struct Vm<'io> {
    stack: Stack,
    frames: Vec<CallFrame>,
    globals: Globals,
    strings: Strings,
    /// Upvalues that still point into the stack, by slot, ascending.
    open_upvalues: Vec<Py<Upvalue>>,
    init_string: Py<LoxStr>,
    /// Classes made so far: the next one's id.
    classes_made: u64,
    /// Loop iterations and calls left before the run stops (see
    /// [`set_step_limit`](Vm::set_step_limit)).
    steps_left: u64,
    out: &'io mut dyn Write,
    err: &'io mut dyn Write,
}

impl<'io> Vm<'io> {
    /// A new interpreter that prints to `out` and reports errors to `err`.
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if its first objects cannot be made.
    pub fn new(out: &'io mut dyn Write, err: &'io mut dyn Write) -> Result<Self, MemoryError> {
        let strings = Strings::new();
        let init_string = strings.intern(b"init")?;
        let mut vm = Vm {
            stack: Stack::new()?,
            frames: Vec::with_capacity(FRAMES_MAX),
            globals: Globals::default(),
            strings,
            open_upvalues: Vec::new(),
            init_string,
            classes_made: 0,
            steps_left: u64::MAX,
            out,
            err,
        };
        vm.define_native("clock", 0, clock)?;
        Ok(vm)
    }

    fn define_native(
        &mut self,
        name: &str,
        arity: u8,
        function: fn(&[Value]) -> Value,
    ) -> Result<(), MemoryError> {
        let name = self.strings.intern(name.as_bytes())?;
        let native = Native::alloc(Native { arity, function })?;
        if let Some(slot) = self.globals.slot(&name) {
            self.globals.define(usize::from(slot), Value::from(native));
        }
        Ok(())
    }

    /// Compiles and runs `source`.
    pub fn interpret(&mut self, source: &str) -> Outcome {
        let function = match compiler::compile(source, &self.strings, &mut self.globals, self.err) {
            Ok(Some(function)) => function,
            Ok(None) => return Outcome::CompileError,
            Err(MemoryError) => {
                let _ = writeln!(self.err, "Out of memory.");
                return Outcome::CompileError;
            }
        };
        let outcome = self.run_script(function);
        let _ = self.out.flush();
        outcome
    }

    /// Stops a run with the runtime error "Step limit reached." after
    /// `steps` more loop iterations and calls: for fuzzing, where a program
    /// may run for ever.
    pub fn set_step_limit(&mut self, steps: u64) {
        self.steps_left = steps;
    }

    /// The number of live strings (for `--stats`).
    pub fn live_strings(&self) -> usize {
        self.strings.len()
    }

    fn run_script(&mut self, function: Py<Function>) -> Outcome {
        let closure = match Closure::alloc_var(Closure { function }, []) {
            Ok(closure) => closure,
            Err(MemoryError) => {
                let _ = writeln!(self.err, "Out of memory.");
                return Outcome::RuntimeError;
            }
        };
        let started = self
            .stack
            .push(Value::from(closure.clone()))
            .map_err(RuntimeError::from)
            .and_then(|()| self.call(closure, 0))
            .and_then(|()| self.run());
        match started {
            Ok(()) => Outcome::Ok,
            Err(RuntimeError(message)) => {
                self.report(&message);
                Outcome::RuntimeError
            }
        }
    }

    /// Prints a runtime error and the stack trace, then unwinds everything.
    fn report(&mut self, message: &str) {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "{message}");
        for frame in self.frames.iter().rev() {
            let function = &frame.closure.function;
            let line = function
                .chunk
                .lines
                .get(frame.ip.get().saturating_sub(1))
                .copied()
                .unwrap_or(0);
            let _ = match &function.name {
                Some(name) => writeln!(self.err, "[line {line}] in {}()", name.as_str()),
                None => writeln!(self.err, "[line {line}] in script"),
            };
        }
        self.frames.clear();
        self.open_upvalues.clear();
        self.stack.clear();
    }

    // ---- Calls.

    #[inline(always)]
    fn call(&mut self, closure: Py<Closure>, argc: usize) -> Result<(), RuntimeError> {
        let function = &closure.function;
        let arity = usize::from(function.arity);
        let base = self.stack.top - argc - 1;
        // Room for the frame's deepest stack (so the loop's pushes need no
        // check), and for its frame.
        let room = base + function.verified.stack_size <= STACK_MAX;
        if argc != arity || self.frames.len() == FRAMES_MAX || !room {
            return Err(call_error(arity, argc));
        }
        self.frames.push(CallFrame {
            closure,
            ip: Cell::new(0),
            base,
        });
        Ok(())
    }

    /// Calls the value `argc` slots below the top: a closure here (the
    /// common case, inlined), anything else out of line.
    #[inline(always)]
    fn call_value(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee_slot = self.stack.top - argc - 1;
        // A closure moves from its slot into the frame, which holds it while
        // it runs: no count taken now and dropped at the return. The slot,
        // the frame's slot 0, is left `nil`, and nothing reads it: the local
        // it is has no name (a method's `this` is there only when a method
        // is called, which is never through this path).
        match std::mem::take(&mut self.stack[callee_slot]).into_obj::<Closure>() {
            Ok(closure) => self.call(closure, argc),
            Err(callee) => {
                self.stack[callee_slot] = callee;
                self.call_other(argc)
            }
        }
    }

    #[inline(never)]
    fn call_other(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee_slot = self.stack.top - argc - 1;
        let callee = &self.stack[callee_slot];
        if let Some(bound) = callee.as_obj::<BoundMethod>() {
            let (receiver, method) = (bound.receiver.clone(), bound.method.clone());
            self.stack[callee_slot] = receiver;
            return self.call(method, argc);
        }
        if let Some(class) = callee.as_obj::<Class>() {
            let init = class.initializer();
            // Room for every field the class's instances have had.
            let fields = Vec::with_capacity(class.field_count() as usize);
            let instance = Instance::alloc(Instance {
                class: class.clone(),
                fields: fields.into(),
            })?;
            self.stack[callee_slot] = Value::from(instance);
            return match init {
                Some(init) => self.call(init, argc),
                None if argc != 0 => Err(RuntimeError(format!(
                    "Expected 0 arguments but got {argc}."
                ))),
                None => Ok(()),
            };
        }
        if let Some(native) = callee.as_obj::<Native>() {
            let (arity, function) = (usize::from(native.arity), native.function);
            if argc != arity {
                return Err(RuntimeError(format!(
                    "Expected {arity} arguments but got {argc}."
                )));
            }
            let result = function(self.stack.from(callee_slot + 1));
            self.stack.truncate(callee_slot);
            self.stack.push(result)?;
            return Ok(());
        }
        Err(RuntimeError(
            "Can only call functions and classes.".to_owned(),
        ))
    }

    fn invoke_from_class(
        &mut self,
        class: &Py<Class>,
        name: &Py<LoxStr>,
        argc: usize,
    ) -> Result<(), RuntimeError> {
        match class.method_uncached(name) {
            Some(method) => self.call(method, argc),
            None => Err(undefined_property_of(name)),
        }
    }

    /// Runs an instruction of the ones most programs run seldom (declarations,
    /// `print`, `super`, closures), out of the loop: it keeps the loop's hot
    /// variables in registers. The frame's `ip` is just past the opcode, and
    /// the stack's top is written back; this decodes the operands from there.
    #[inline(never)]
    fn rare_op(&mut self, op: Op) -> Result<(), RuntimeError> {
        let Some(frame) = self.frames.last() else {
            unreachable!("an instruction runs in a frame");
        };
        let closure = frame.closure.clone();
        let base = frame.base;
        let function = &closure.function;
        let (code, constants) = (&function.chunk.code, &function.chunk.constants);
        let mut ip = frame.ip.get();
        let mut byte = || {
            let byte = code[ip];
            ip += 1;
            usize::from(byte)
        };
        let string_constant = |index: usize| match constants[index].as_obj::<LoxStr>() {
            Some(name) => name,
            None => unreachable!("the compiler writes names as string constants"),
        };
        match op {
            Op::DefineGlobal => {
                let slot = byte() << 8 | byte();
                let value = self.stack.pop();
                self.globals.define(slot, value);
            }
            Op::GetSuper => {
                let name = string_constant(byte());
                let superclass = self.stack.pop();
                let Some(superclass) = superclass.as_obj::<Class>() else {
                    unreachable!("`super` is a class");
                };
                let Some(method) = superclass.method_uncached(name) else {
                    return Err(undefined_property_of(name));
                };
                let receiver = self.stack.top_mut();
                *receiver = bind_method(std::mem::take(receiver), method)?;
            }
            Op::Print => {
                let value = self.stack.pop();
                // A closed stdout loses the output, as in clox.
                let _ = writeln!(self.out, "{value}");
            }
            Op::SuperInvoke => {
                let name = string_constant(byte()).clone();
                let argc = byte();
                if self.steps_left == 0 {
                    return Err(RuntimeError("Step limit reached.".to_owned()));
                }
                self.steps_left -= 1;
                let superclass = self.stack.pop();
                let Some(superclass) = superclass.as_obj::<Class>() else {
                    unreachable!("`super` is a class");
                };
                frame.ip.set(ip);
                return self.invoke_from_class(superclass, &name, argc);
            }
            Op::Closure => {
                let Some(function) = constants[byte()].as_obj::<Function>() else {
                    unreachable!("the compiler writes functions as constants");
                };
                let mut upvalues = Vec::with_capacity(function.upvalue_count);
                for _ in 0..function.upvalue_count {
                    let is_local = byte() == 1;
                    let index = byte();
                    upvalues.push(if is_local {
                        capture_upvalue(&mut self.open_upvalues, base + index)?
                    } else {
                        closure.items()[index].clone()
                    });
                }
                let function = function.clone();
                let made = Closure::alloc_var(Closure { function }, upvalues)?;
                self.stack.push(Value::from(made))?;
            }
            Op::Class => {
                let name = string_constant(byte()).clone();
                self.classes_made += 1;
                let class = Class::alloc(Class::new(name, self.classes_made))?;
                self.stack.push(Value::from(class))?;
            }
            Op::Inherit => {
                let Some(superclass) = self.stack.peek(1).as_obj::<Class>() else {
                    return Err(RuntimeError("Superclass must be a class.".to_owned()));
                };
                let Some(subclass) = self.stack.peek(0).as_obj::<Class>() else {
                    unreachable!("the class being declared");
                };
                subclass.inherit(superclass);
                self.stack.pop();
            }
            Op::Method => {
                let name = string_constant(byte()).clone();
                let (Some(method), Some(class)) = (
                    self.stack.peek(0).as_obj::<Closure>(),
                    self.stack.peek(1).as_obj::<Class>(),
                ) else {
                    unreachable!("a method is a closure, declared in its class");
                };
                let is_init = Py::ptr_eq(&name, &self.init_string);
                class.set_method(name, method.clone(), is_init);
                self.stack.pop();
            }
            _ => unreachable!("{op:?} runs in the loop"),
        }
        frame.ip.set(ip);
        Ok(())
    }

    // ---- The loop.

    fn run(&mut self) -> Result<(), RuntimeError> {
        'frames: loop {
            let Some(frame) = self.frames.last() else {
                return Ok(());
            };
            // Borrowed, not counted: the frame holds the closure until it
            // returns, and the borrow ends at every call and return.
            let base = frame.base;
            let function: &Function = &frame.closure.function;
            // Read unchecked below. The function's code passed the verifier
            // (`function.verified` says so): every instruction, with the
            // operands the loop reads, lies within the code; jumps land on
            // instructions; constant and cache operands index their tables;
            // and no instruction but a jump or a return is last. `ip`
            // starts at an instruction (0, or where a call left it, past the
            // call) and moves only by decoding operands as the verifier
            // counts them and by jumps, so every read is in bounds.
            let Verified { .. } = function.verified;
            // The code, constants and caches are read through `function` where
            // used, not held in locals: a call or return loads less.
            //
            // The next byte to read, as a pointer into the code: one register
            // for what an index and the code's address would take two.
            let mut ip: *const u8 = function.chunk.code.as_ptr().wrapping_add(frame.ip.get());
            // The frame's slot 0 and the top (one past the top value), as
            // pointers into the stack: two registers, for what the stack's
            // address, the top's index and the frame's would take three. The
            // loop writes the top back (`sync!`) before anything else reads
            // it, and both derive from the stack's own pointer (see
            // `Stack`), as every other access does.
            //
            // Read and written unchecked below. The frame's call checked that
            // its deepest stack (the verifier's `stack_size`) fits below
            // `STACK_MAX`; the verifier checked that every path keeps the
            // frame's depth within `0..=stack_size`, that no instruction pops
            // or peeks below the frame's slot 0, and that a local's slot lies
            // below the top. So every slot the loop reads or writes is one of
            // the stack's initialised slots.
            let frame_slots: *mut Value = self.stack.start().wrapping_add(base);
            let mut top: *mut Value = self.stack.start().wrapping_add(self.stack.top);
            // The frame's depth, for the debug assertions.
            macro_rules! depth {
                () => {
                    (top.addr() - frame_slots.addr()) / size_of::<Value>()
                };
            }

            // The frame and its closure are looked up again where needed, not
            // held: the loop's hot locals (`ip`, `top`, `frame_slots`,
            // `function`) then fit in registers.
            macro_rules! frame {
                () => {
                    match self.frames.last() {
                        Some(frame) => frame,
                        None => unreachable!("the loop runs in a frame"),
                    }
                };
            }
            // Saves `ip` in the frame, for a call or an error's trace, and
            // the top in the stack.
            macro_rules! sync {
                () => {
                    frame!()
                        .ip
                        .set(ip.addr() - function.chunk.code.as_ptr().addr());
                    self.stack.top = self.stack.index_of(top);
                };
            }
            macro_rules! throw {
                ($error:expr) => {{
                    sync!();
                    return Err($error);
                }};
            }
            macro_rules! fail {
                ($($message:tt)*) => {
                    throw!(runtime_error(format_args!($($message)*)))
                };
            }
            macro_rules! try_op {
                ($result:expr) => {
                    match $result {
                        Ok(value) => value,
                        Err(error) => {
                            sync!();
                            return Err(error.into());
                        }
                    }
                };
            }
            // Counts a loop iteration or a call against the step limit.
            macro_rules! step {
                () => {
                    if self.steps_left == 0 {
                        fail!("Step limit reached.");
                    }
                    self.steps_left -= 1;
                };
            }
            macro_rules! push {
                ($value:expr) => {{
                    let value = $value;
                    debug_assert!(
                        depth!() < function.verified.stack_size,
                        "verified: the frame's pushes stay in the room its call checked"
                    );
                    // The slot holds no object (see `Stack`): written over,
                    // with nothing to drop.
                    // SAFETY: a slot of the stack (see above), not borrowed.
                    unsafe { top.write(value) };
                    top = top.wrapping_add(1);
                }};
            }
            macro_rules! pop {
                () => {{
                    debug_assert!(depth!() > 0, "verified: a frame pops only its own");
                    top = top.wrapping_sub(1);
                    // SAFETY: a slot of the stack (see above), not borrowed.
                    unsafe { top.replace(Value::NIL) }
                }};
            }
            // Drops the top value.
            macro_rules! discard {
                () => {{
                    drop(pop!());
                }};
            }
            // The value `distance` slots below the top.
            macro_rules! peek {
                ($distance:expr) => {{
                    let distance: usize = $distance;
                    debug_assert!(distance < depth!(), "verified: a frame reads only its own");
                    // SAFETY: a slot of the stack (see above); the loop
                    // writes no slot while a shared borrow of it lives.
                    unsafe { &*top.wrapping_sub(1 + distance) }
                }};
            }
            // The same, to write.
            macro_rules! peek_mut {
                ($distance:expr) => {{
                    let distance: usize = $distance;
                    debug_assert!(distance < depth!(), "verified: a frame reads only its own");
                    // SAFETY: a slot of the stack (see above), borrowed by
                    // nothing else while this borrow lives.
                    unsafe { &mut *top.wrapping_sub(1 + distance) }
                }};
            }
            // Local `slot` of the frame.
            macro_rules! local {
                ($slot:expr) => {{
                    let slot: usize = $slot;
                    debug_assert!(slot < depth!(), "verified: locals lie below the top");
                    // SAFETY: a slot of the stack (see above); the loop
                    // writes no slot while a shared borrow of it lives.
                    unsafe { &*frame_slots.wrapping_add(slot) }
                }};
            }
            // The same, to write.
            macro_rules! local_mut {
                ($slot:expr) => {{
                    let slot: usize = $slot;
                    debug_assert!(slot < depth!(), "verified: locals lie below the top");
                    // SAFETY: a slot of the stack (see above), borrowed by
                    // nothing else while this borrow lives.
                    unsafe { &mut *frame_slots.wrapping_add(slot) }
                }};
            }
            macro_rules! byte {
                () => {{
                    debug_assert!(
                        function.chunk.code.as_ptr_range().contains(&ip),
                        "verified code is read within"
                    );
                    // SAFETY: `ip` is within the verified code (see above).
                    let byte = unsafe { *ip };
                    ip = ip.wrapping_add(1);
                    byte
                }};
            }
            macro_rules! short {
                () => {{
                    let high = usize::from(byte!());
                    high << 8 | usize::from(byte!())
                }};
            }
            // The constant a constant operand indexes.
            macro_rules! constant {
                () => {{
                    let index = usize::from(byte!());
                    debug_assert!(index < function.chunk.constants.len(), "verified constants");
                    // SAFETY: a verified constant operand indexes the
                    // constants (see above).
                    unsafe { function.chunk.constants.get_unchecked(index) }
                }};
            }
            // The inline cache a cache operand indexes.
            macro_rules! cache {
                () => {{
                    let index = short!();
                    debug_assert!(index < function.caches.len(), "verified caches");
                    // SAFETY: a verified cache operand indexes the caches
                    // (see above).
                    unsafe { function.caches.get_unchecked(index) }
                }};
            }
            // A binary operator on numbers: the right operand is popped, and
            // the result replaces the left one (numbers: nothing to drop).
            macro_rules! numbers {
                ($op:tt, $wrap:path) => {{
                    match (peek!(1).as_number(), peek!(0).as_number()) {
                        (Some(a), Some(b)) => {
                            // A number: nothing to drop.
                            std::mem::forget(pop!());
                            // Over a number: nothing to drop.
                            std::mem::forget(std::mem::replace(peek_mut!(0), $wrap(a $op b)));
                        }
                        _ => fail!("Operands must be numbers."),
                    }
                }};
            }

            // A binary operator whose right operand is a number constant:
            // the result replaces the left operand, the top.
            macro_rules! number_and_constant {
                ($op:tt, $wrap:path, $operands:literal) => {{
                    let Some(b) = constant!().as_number() else {
                        unreachable!("verified: the operand is a number");
                    };
                    match peek!(0).as_number() {
                        // Over a number: nothing to drop.
                        Some(a) => std::mem::forget(std::mem::replace(
                            peek_mut!(0),
                            $wrap(a $op b),
                        )),
                        None => fail!(concat!("Operands must be ", $operands, ".")),
                    }
                }};
            }

            // Returns `$result` to the caller, in the callee's slot.
            macro_rules! ret {
                ($result:expr) => {{
                    let result = $result;
                    let Some(frame) = self.frames.pop() else {
                        unreachable!("the loop runs in a frame");
                    };
                    // The upvalues read the stack: its top first.
                    self.stack.top = self.stack.index_of(top);
                    close_upvalues(&mut self.open_upvalues, &self.stack, frame.base);
                    while top != frame_slots {
                        discard!();
                    }
                    if self.frames.is_empty() {
                        self.stack.top = frame.base;
                        return Ok(());
                    }
                    // The callee's slot, cleared above: written over, with
                    // nothing to drop.
                    // SAFETY: the frame's slot 0 is a slot of the stack (see
                    // above), not borrowed.
                    unsafe { frame_slots.write(result) };
                    self.stack.top = frame.base + 1;
                    continue 'frames;
                }};
            }

            loop {
                let byte = byte!();
                // SAFETY: `ip` was at an instruction (see above), and the
                // verifier checked that each instruction starts with an opcode.
                let op = unsafe { Op::from_byte_unchecked(byte) };
                match op {
                    Op::Constant => push!(constant!().clone()),
                    Op::Nil => push!(Value::NIL),
                    Op::True => push!(Value::TRUE),
                    Op::False => push!(Value::FALSE),
                    Op::Pop => discard!(),
                    Op::GetLocal => push!(local!(usize::from(byte!())).clone()),
                    Op::SetLocal => {
                        let slot = usize::from(byte!());
                        let value = peek!(0).clone();
                        *local_mut!(slot) = value;
                    }
                    Op::GetGlobal => {
                        let slot = short!();
                        match self.globals.get(slot) {
                            Some(value) => push!(value.clone()),
                            None => fail!("Undefined variable '{}'.", self.globals.name(slot)),
                        }
                    }
                    Op::SetGlobal => {
                        let slot = short!();
                        let value = peek!(0).clone();
                        match self.globals.get_mut(slot) {
                            Some(global) => *global = value,
                            None => fail!("Undefined variable '{}'.", self.globals.name(slot)),
                        }
                    }
                    Op::GetUpvalue => {
                        let upvalue = &frame!().closure.items()[usize::from(byte!())];
                        push!(upvalue_get(&self.stack, upvalue));
                    }
                    Op::SetUpvalue => {
                        let upvalue = &frame!().closure.items()[usize::from(byte!())];
                        let value = peek!(0).clone();
                        upvalue_set(&mut self.stack, upvalue, value);
                    }
                    Op::GetProperty => {
                        let name = constant!();
                        let cache = cache!();
                        let Some(instance) = peek!(0).as_obj::<Instance>() else {
                            fail!("Only instances have properties.");
                        };
                        let value = match instance.property(name, cache) {
                            Property::Field(value) => value,
                            Property::Method(Some(method)) => {
                                let receiver = std::mem::take(peek_mut!(0));
                                try_op!(bind_method(receiver, method))
                            }
                            Property::Method(None) => throw!(undefined_property(name)),
                        };
                        *peek_mut!(0) = value;
                    }
                    Op::GetLocalProperty => {
                        let slot = usize::from(byte!());
                        let name = constant!();
                        let cache = cache!();
                        let Some(instance) = local!(slot).as_obj::<Instance>() else {
                            fail!("Only instances have properties.");
                        };
                        let value = match instance.property(name, cache) {
                            Property::Field(value) => value,
                            Property::Method(Some(method)) => {
                                try_op!(bind_method(local!(slot).clone(), method))
                            }
                            Property::Method(None) => throw!(undefined_property(name)),
                        };
                        push!(value);
                    }
                    Op::SetProperty => {
                        let name = constant!();
                        let cache = cache!();
                        let Some(instance) = peek!(1).as_obj::<Instance>() else {
                            fail!("Only instances have fields.");
                        };
                        instance.set_field(name, &cache.field, peek!(0).clone());
                        let value = pop!();
                        *peek_mut!(0) = value;
                    }
                    Op::Equal => {
                        let equal = peek!(1).equals(peek!(0));
                        discard!();
                        *peek_mut!(0) = Value::bool(equal);
                    }
                    Op::EqualConstant => {
                        let equal = peek!(0).equals(constant!());
                        *peek_mut!(0) = Value::bool(equal);
                    }
                    Op::AddConstant => {
                        number_and_constant!(+, Value::number, "two numbers or two strings")
                    }
                    Op::SubtractConstant => number_and_constant!(-, Value::number, "numbers"),
                    Op::LessConstant => number_and_constant!(<, Value::bool, "numbers"),
                    Op::GreaterConstant => number_and_constant!(>, Value::bool, "numbers"),
                    Op::Greater => numbers!(>, Value::bool),
                    Op::Less => numbers!(<, Value::bool),
                    Op::Add => {
                        if let (Some(a), Some(b)) = (peek!(1).as_number(), peek!(0).as_number()) {
                            // A number: nothing to drop.
                            std::mem::forget(pop!());
                            // Over a number: nothing to drop.
                            std::mem::forget(std::mem::replace(peek_mut!(0), Value::number(a + b)));
                        } else if let (Some(a), Some(b)) =
                            (peek!(1).as_obj::<LoxStr>(), peek!(0).as_obj::<LoxStr>())
                        {
                            let mut text = Vec::with_capacity(a.len() + b.len());
                            text.extend_from_slice(a.items());
                            text.extend_from_slice(b.items());
                            let joined = try_op!(self.strings.intern(&text));
                            discard!();
                            *peek_mut!(0) = Value::from(joined);
                        } else {
                            fail!("Operands must be two numbers or two strings.");
                        }
                    }
                    Op::Subtract => numbers!(-, Value::number),
                    Op::Multiply => numbers!(*, Value::number),
                    Op::Divide => numbers!(/, Value::number),
                    Op::Not => {
                        let not = peek!(0).is_falsey();
                        *peek_mut!(0) = Value::bool(not);
                    }
                    Op::Negate => match peek!(0).as_number() {
                        Some(n) => *peek_mut!(0) = Value::number(-n),
                        None => fail!("Operand must be a number."),
                    },
                    Op::Jump => {
                        let offset = short!();
                        ip = ip.wrapping_add(offset);
                    }
                    Op::JumpIfFalse => {
                        let offset = short!();
                        if peek!(0).is_falsey() {
                            ip = ip.wrapping_add(offset);
                        }
                    }
                    Op::PopJumpIfFalse => {
                        let offset = short!();
                        if peek!(0).is_falsey() {
                            ip = ip.wrapping_add(offset);
                        }
                        discard!();
                    }
                    Op::Loop => {
                        step!();
                        let offset = short!();
                        ip = ip.wrapping_sub(offset);
                    }
                    Op::Call => {
                        step!();
                        let argc = usize::from(byte!());
                        sync!();
                        self.call_value(argc)?;
                        continue 'frames;
                    }
                    Op::Invoke => {
                        step!();
                        let name = constant!();
                        let argc = usize::from(byte!());
                        let cache = cache!();
                        let Some(instance) = peek!(argc).as_obj::<Instance>() else {
                            fail!("Only instances have methods.");
                        };
                        let method = match instance.property(name, cache) {
                            Property::Method(Some(method)) => method,
                            // A field holding a function shadows the method.
                            Property::Field(field) => {
                                *peek_mut!(argc) = field;
                                sync!();
                                self.call_value(argc)?;
                                continue 'frames;
                            }
                            Property::Method(None) => throw!(undefined_property(name)),
                        };
                        sync!();
                        self.call(method, argc)?;
                        continue 'frames;
                    }
                    Op::CloseUpvalue => {
                        let slot = self.stack.index_of(top) - 1;
                        close_upvalues(&mut self.open_upvalues, &self.stack, slot);
                        discard!();
                    }
                    Op::Return => {
                        let result = pop!();
                        ret!(result);
                    }
                    Op::ReturnNil => ret!(Value::NIL),
                    // Cloned, not taken: an upvalue may close over `this`.
                    Op::ReturnThis => ret!(local!(0).clone()),
                    Op::DefineGlobal
                    | Op::GetSuper
                    | Op::Print
                    | Op::SuperInvoke
                    | Op::Closure
                    | Op::Class
                    | Op::Inherit
                    | Op::Method => {
                        sync!();
                        self.rare_op(op)?;
                        continue 'frames;
                    }
                }
            }
        }
    }
}

// ---- What the loop does to the stack and the upvalues alone (free
// functions, so that the loop may hold its frame's code meanwhile).

/// `method` bound to `receiver`.
fn bind_method(receiver: Value, method: Py<Closure>) -> Result<Value, RuntimeError> {
    let bound = BoundMethod::alloc(BoundMethod { receiver, method })?;
    Ok(Value::from(bound))
}

/// The upvalue of stack slot `slot`: the open one, or a new one.
fn capture_upvalue(open: &mut Vec<Py<Upvalue>>, slot: usize) -> Result<Py<Upvalue>, MemoryError> {
    // The open upvalues are sorted by slot: most captures are of the
    // newest ones, so the search starts from the end.
    let mut at = open.len();
    while at > 0 {
        let existing = &open[at - 1];
        let existing_slot = existing.slot.get();
        if existing_slot == slot {
            return Ok(existing.clone());
        }
        if existing_slot < slot {
            break;
        }
        at -= 1;
    }
    let upvalue = Upvalue::alloc(Upvalue {
        slot: slot.into(),
        closed: Value::ABSENT.into(),
    })?;
    open.insert(at, upvalue.clone());
    Ok(upvalue)
}

/// Closes the open upvalues of slots `from` and above: they take their
/// values off the stack.
#[inline(always)]
fn close_upvalues(open: &mut Vec<Py<Upvalue>>, stack: &Stack, from: usize) {
    if open.last().is_some_and(|u| u.slot.get() >= from) {
        close_upvalues_from(open, stack, from);
    }
}

#[cold]
#[inline(never)]
fn close_upvalues_from(open: &mut Vec<Py<Upvalue>>, stack: &Stack, from: usize) {
    while let Some(upvalue) = open.last() {
        let slot = upvalue.slot.get();
        if slot < from {
            break;
        }
        *upvalue.closed.borrow_mut() = stack[slot].clone();
        open.pop();
    }
}

fn upvalue_get(stack: &Stack, upvalue: &Upvalue) -> Value {
    let closed = upvalue.closed.borrow();
    if closed.is_absent() {
        stack[upvalue.slot.get()].clone()
    } else {
        closed.clone()
    }
}

fn upvalue_set(stack: &mut Stack, upvalue: &Upvalue, value: Value) {
    let mut closed = upvalue.closed.borrow_mut();
    if closed.is_absent() {
        stack[upvalue.slot.get()] = value;
    } else {
        *closed = value;
    }
}

/// A runtime error's message (out of line: the loop's fast paths stay
/// small).
#[cold]
#[inline(never)]
fn runtime_error(message: std::fmt::Arguments<'_>) -> RuntimeError {
    RuntimeError(message.to_string())
}

/// The error of a property `name` (a name constant) that is not there.
#[cold]
#[inline(never)]
fn undefined_property(name: &Value) -> RuntimeError {
    undefined_property_of(property_name(name))
}

fn undefined_property_of(name: &Py<LoxStr>) -> RuntimeError {
    RuntimeError(format!("Undefined property '{}'.", name.as_str()))
}

/// A call's arity or depth is wrong (out of line: the calls' fast path
/// stays small).
#[cold]
#[inline(never)]
fn call_error(arity: usize, argc: usize) -> RuntimeError {
    if argc != arity {
        RuntimeError(format!("Expected {arity} arguments but got {argc}."))
    } else {
        RuntimeError("Stack overflow.".to_owned())
    }
}

/// `clock()`: seconds since the interpreter started.
fn clock(_args: &[Value]) -> Value {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    Value::number(START.get_or_init(Instant::now).elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `source`; its output and outcome.
    fn run(source: &str) -> (String, Outcome) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = Vm::new(&mut out, &mut err).expect("a VM").interpret(source);
        (String::from_utf8(out).expect("UTF-8"), outcome)
    }

    /// Every instruction, fused ones included, through the loop's unchecked
    /// reads: under Miri (`cargo miri test -p objimpl-lox --lib`) this is
    /// the check of the loop's `unsafe`. The expected output is clox's.
    #[test]
    fn a_program_of_every_instruction_prints_what_clox_prints() {
        let source = r#"
var g = 1;
g = g + 2;
fun counter() {
  var n = 0;
  fun inc() { n = n + 1; return n; }
  return inc;
}
var c = counter();
c();
print c();
class A {
  init(x) { this.x = x; }
  get() { return this.x; }
  twice() { return this.get() * 2; }
}
class B < A {
  init(x) { super.init(x + 1); this.y = -x; }
  get() { return super.get() + 10; }
}
var b = B(4);
print b.twice();
print b.y;
var m = b.get;
print m();
print !nil;
print 7 / 2 - 1;
print 1 < 2 and 3 > 2;
print nil or "s" + "t";
for (var i = 0; i < 3; i = i + 1) {
  var j = i;
  fun show() { return j; }
  if (i == 1) print show(); else print -i;
}
print b.x == 5;
print clock() >= 0;
print A;
print b;
"#;
        let expected = "2\n30\n-4\n15\ntrue\n2.5\ntrue\nst\n-0\n1\n-2\ntrue\ntrue\nA\nB instance\n";
        assert_eq!(run(source), (expected.to_owned(), Outcome::Ok));
    }

    /// Runs `lines` one after another in one VM, as the REPL does: their
    /// outcomes, then what was printed and what was reported.
    fn session(lines: &[&str]) -> (Vec<Outcome>, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut vm = Vm::new(&mut out, &mut err).expect("a VM");
        let outcomes = lines.iter().map(|line| vm.interpret(line)).collect();
        drop(vm);
        let text = |bytes| String::from_utf8(bytes).expect("UTF-8");
        (outcomes, text(out), text(err))
    }

    /// A global's slot is given when the compiler first meets its name, so
    /// code may name a global defined only later (by a later REPL line).
    #[test]
    fn globals_named_before_their_definition_are_found_once_defined() {
        let (outcomes, out, err) = session(&[
            "fun f() { return g; }",
            "print f();",
            "g = 2;",
            "var g = 1; print f();",
            "g = 3; print f();",
        ]);
        use Outcome::{Ok, RuntimeError};
        assert_eq!(outcomes, [Ok, RuntimeError, RuntimeError, Ok, Ok]);
        assert_eq!(out, "1\n3\n");
        assert_eq!(err.matches("Undefined variable 'g'.").count(), 2, "{err}");
    }

    /// Globals are named by two-byte slots: a 65,537th name is a compile
    /// error (clox, which names them by constants, stops at 256 a chunk).
    #[test]
    #[cfg_attr(miri, ignore = "compiles 65,535 declarations")]
    fn past_65536_global_names_is_a_compile_error() {
        // `clock` has a slot too.
        let source: String = (0..65_535).map(|n| format!("var g{n};\n")).collect();
        let (outcomes, out, err) = session(&[&source, "var one_more;", "print g65534;"]);
        use Outcome::{CompileError, Ok};
        assert_eq!(outcomes, [Ok, CompileError, Ok]);
        assert_eq!(out, "nil\n");
        assert!(
            err.contains("Error at 'one_more': Too many global variables."),
            "{err}"
        );
    }

    #[test]
    fn runtime_errors_leave_the_vm_ready_for_more() {
        let (outcomes, out, err) = session(&["var a = 1; a.x;", "print a + 1 < 3;"]);
        assert_eq!(outcomes, [Outcome::RuntimeError, Outcome::Ok]);
        assert_eq!(out, "true\n");
        assert!(err.starts_with("Only instances have properties."), "{err}");
    }
}
