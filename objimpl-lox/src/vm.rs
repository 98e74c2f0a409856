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
    BoundMethod, Class, Closure, Function, Instance, LoxStr, LoxStrMethods, Native, Strings, Table,
    Upvalue,
};
use crate::value::Value;

/// Call frames at most: deeper recursion is "Stack overflow.", as in clox.
const FRAMES_MAX: usize = 64;
/// Stack slots: 256 a frame.
const STACK_MAX: usize = FRAMES_MAX * 256;

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

/// A Lox interpreter: globals and interned strings persist across
/// [`interpret`](Vm::interpret) calls (the REPL's lines).
pub struct Vm<'io> {
    stack: Vec<Value>,
    frames: Vec<CallFrame>,
    globals: Table,
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
            stack: Vec::with_capacity(STACK_MAX),
            frames: Vec::with_capacity(FRAMES_MAX),
            globals: Table::default(),
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
        self.globals.insert(name, Value::from(native));
        Ok(())
    }

    /// Compiles and runs `source`.
    pub fn interpret(&mut self, source: &str) -> Outcome {
        let function = match compiler::compile(source, &self.strings, self.err) {
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
        self.stack.push(Value::from(closure.clone()));
        let started = self.call(closure, 0).and_then(|()| self.run());
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

    // ---- The stack.

    #[inline(always)]
    fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    // ---- Calls.

    #[inline(always)]
    fn call(&mut self, closure: Py<Closure>, argc: usize) -> Result<(), RuntimeError> {
        let arity = usize::from(closure.function.arity);
        if argc != arity || self.frames.len() == FRAMES_MAX {
            return Err(call_error(arity, argc));
        }
        let base = self.stack.len() - argc - 1;
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
        let callee_slot = self.stack.len() - argc - 1;
        if let Some(closure) = self.stack[callee_slot].as_obj::<Closure>() {
            let closure = closure.clone();
            return self.call(closure, argc);
        }
        self.call_other(argc)
    }

    #[inline(never)]
    fn call_other(&mut self, argc: usize) -> Result<(), RuntimeError> {
        let callee_slot = self.stack.len() - argc - 1;
        let callee = &self.stack[callee_slot];
        if let Some(bound) = callee.as_obj::<BoundMethod>() {
            let (receiver, method) = (bound.receiver.clone(), bound.method.clone());
            self.stack[callee_slot] = receiver;
            return self.call(method, argc);
        }
        if let Some(class) = callee.as_obj::<Class>() {
            let init = class.method_uncached(&self.init_string);
            // Room for every field the class's instances have had.
            let fields = Vec::with_capacity(class.field_slots.borrow().len());
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
            let result = function(&self.stack[callee_slot + 1..]);
            self.stack.truncate(callee_slot);
            self.push(result);
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
            None => Err(undefined_property(name)),
        }
    }

    // ---- The loop.

    fn run(&mut self) -> Result<(), RuntimeError> {
        'frames: loop {
            let Some(frame) = self.frames.last() else {
                return Ok(());
            };
            // Borrowed, not counted: the frame holds the closure until it
            // returns, and the borrow ends at every call and return.
            let closure = &frame.closure;
            let base = frame.base;
            let mut ip = frame.ip.get();
            let function: &Function = &closure.function;
            let code: &[u8] = &function.chunk.code;
            let constants: &[Value] = &function.chunk.constants;

            // Saves `ip` in the frame, for a call or an error's trace.
            macro_rules! save_ip {
                () => {
                    frame.ip.set(ip);
                };
            }
            macro_rules! fail {
                ($($message:tt)*) => {{
                    save_ip!();
                    return Err(RuntimeError(format!($($message)*)));
                }};
            }
            macro_rules! try_op {
                ($result:expr) => {
                    match $result {
                        Ok(value) => value,
                        Err(error) => {
                            save_ip!();
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
            macro_rules! pop {
                () => {
                    self.stack.pop().unwrap_or(Value::Nil)
                };
            }
            macro_rules! peek {
                ($distance:expr) => {
                    &self.stack[self.stack.len() - 1 - $distance]
                };
            }
            macro_rules! byte {
                () => {{
                    let byte = code[ip];
                    ip += 1;
                    byte
                }};
            }
            macro_rules! short {
                () => {{
                    let short = usize::from(code[ip]) << 8 | usize::from(code[ip + 1]);
                    ip += 2;
                    short
                }};
            }
            macro_rules! string_constant {
                () => {
                    match constants[usize::from(byte!())].as_obj::<LoxStr>() {
                        Some(name) => name,
                        None => unreachable!("the compiler writes names as string constants"),
                    }
                };
            }
            macro_rules! numbers {
                ($op:tt, $wrap:path) => {{
                    let len = self.stack.len();
                    match (&self.stack[len - 2], &self.stack[len - 1]) {
                        (Value::Number(a), Value::Number(b)) => {
                            let result = $wrap(*a $op *b);
                            self.stack.pop();
                            self.stack[len - 2] = result;
                        }
                        _ => fail!("Operands must be numbers."),
                    }
                }};
            }

            loop {
                match Op::from_byte(byte!()) {
                    Op::Constant => {
                        let value = constants[usize::from(byte!())].clone();
                        self.stack.push(value);
                    }
                    Op::Nil => self.stack.push(Value::Nil),
                    Op::True => self.stack.push(Value::Bool(true)),
                    Op::False => self.stack.push(Value::Bool(false)),
                    Op::Pop => {
                        self.stack.pop();
                    }
                    Op::GetLocal => {
                        let value = self.stack[base + usize::from(byte!())].clone();
                        self.stack.push(value);
                    }
                    Op::SetLocal => {
                        let slot = base + usize::from(byte!());
                        self.stack[slot] = peek!(0).clone();
                    }
                    Op::GetGlobal => {
                        let name = string_constant!();
                        match self.globals.get(name) {
                            Some(value) => {
                                let value = value.clone();
                                self.stack.push(value);
                            }
                            None => fail!("Undefined variable '{}'.", name.as_str()),
                        }
                    }
                    Op::DefineGlobal => {
                        let name = string_constant!().clone();
                        let value = pop!();
                        self.globals.insert(name, value);
                    }
                    Op::SetGlobal => {
                        let name = string_constant!();
                        let value = peek!(0).clone();
                        match self.globals.get_mut(name) {
                            Some(slot) => *slot = value,
                            None => fail!("Undefined variable '{}'.", name.as_str()),
                        }
                    }
                    Op::GetUpvalue => {
                        let upvalue = &closure.items()[usize::from(byte!())];
                        let value = upvalue_get(&self.stack, upvalue);
                        self.stack.push(value);
                    }
                    Op::SetUpvalue => {
                        let upvalue = &closure.items()[usize::from(byte!())];
                        let value = peek!(0).clone();
                        upvalue_set(&mut self.stack, upvalue, value);
                    }
                    Op::GetProperty => {
                        let name = string_constant!();
                        let cache = &function.caches[short!()];
                        let Some(instance) = peek!(0).as_obj::<Instance>() else {
                            fail!("Only instances have properties.");
                        };
                        let field = instance.field(name, &cache.field);
                        match field {
                            Some(value) => {
                                let top = self.stack.len() - 1;
                                self.stack[top] = value;
                            }
                            None => {
                                let method = instance.class.method(name, &cache.method);
                                try_op!(bind_method(&mut self.stack, method, name));
                            }
                        }
                    }
                    Op::SetProperty => {
                        let name = string_constant!();
                        let cache = &function.caches[short!()];
                        let Some(instance) = peek!(1).as_obj::<Instance>() else {
                            fail!("Only instances have fields.");
                        };
                        let value = peek!(0).clone();
                        instance.set_field(name, &cache.field, value);
                        let value = pop!();
                        pop!();
                        self.stack.push(value);
                    }
                    Op::GetSuper => {
                        let name = string_constant!();
                        let superclass = pop!();
                        let Some(superclass) = superclass.as_obj::<Class>() else {
                            unreachable!("`super` is a class");
                        };
                        try_op!(bind_method(
                            &mut self.stack,
                            superclass.method_uncached(name),
                            name
                        ));
                    }
                    Op::Equal => {
                        let b = pop!();
                        let a = pop!();
                        self.stack.push(Value::Bool(a.equals(&b)));
                    }
                    Op::Greater => numbers!(>, Value::Bool),
                    Op::Less => numbers!(<, Value::Bool),
                    Op::Add => {
                        let len = self.stack.len();
                        match (&self.stack[len - 2], &self.stack[len - 1]) {
                            (Value::Number(a), Value::Number(b)) => {
                                let sum = Value::Number(a + b);
                                self.stack.pop();
                                self.stack[len - 2] = sum;
                            }
                            (Value::Obj(a), Value::Obj(b))
                                if a.is_instance::<LoxStr>() && b.is_instance::<LoxStr>() =>
                            {
                                let (Some(a), Some(b)) =
                                    (a.downcast_ref::<LoxStr>(), b.downcast_ref::<LoxStr>())
                                else {
                                    unreachable!("both are strings");
                                };
                                let mut text = Vec::with_capacity(a.len() + b.len());
                                text.extend_from_slice(a.items());
                                text.extend_from_slice(b.items());
                                let joined = try_op!(self.strings.intern(&text));
                                self.stack.pop();
                                self.stack[len - 2] = Value::from(joined);
                            }
                            _ => fail!("Operands must be two numbers or two strings."),
                        }
                    }
                    Op::Subtract => numbers!(-, Value::Number),
                    Op::Multiply => numbers!(*, Value::Number),
                    Op::Divide => numbers!(/, Value::Number),
                    Op::Not => {
                        let value = pop!();
                        self.stack.push(Value::Bool(value.is_falsey()));
                    }
                    Op::Negate => {
                        let top = self.stack.len() - 1;
                        match &self.stack[top] {
                            Value::Number(n) => self.stack[top] = Value::Number(-n),
                            _ => fail!("Operand must be a number."),
                        }
                    }
                    Op::Print => {
                        let value = pop!();
                        // A closed stdout loses the output, as in clox.
                        let _ = writeln!(self.out, "{value}");
                    }
                    Op::Jump => {
                        let offset = short!();
                        ip += offset;
                    }
                    Op::JumpIfFalse => {
                        let offset = short!();
                        if peek!(0).is_falsey() {
                            ip += offset;
                        }
                    }
                    Op::Loop => {
                        step!();
                        let offset = short!();
                        ip -= offset;
                    }
                    Op::Call => {
                        step!();
                        let argc = usize::from(byte!());
                        save_ip!();
                        self.call_value(argc)?;
                        continue 'frames;
                    }
                    Op::Invoke => {
                        step!();
                        let name = string_constant!();
                        let argc = usize::from(byte!());
                        let cache = &function.caches[short!()];
                        let Some(instance) = peek!(argc).as_obj::<Instance>() else {
                            fail!("Only instances have methods.");
                        };
                        // A field holding a function shadows the method.
                        if let Some(field) = instance.field(name, &cache.field) {
                            let slot = self.stack.len() - argc - 1;
                            self.stack[slot] = field;
                            save_ip!();
                            self.call_value(argc)?;
                            continue 'frames;
                        }
                        let Some(method) = instance.class.method(name, &cache.method) else {
                            fail!("Undefined property '{}'.", name.as_str());
                        };
                        save_ip!();
                        self.call(method, argc)?;
                        continue 'frames;
                    }
                    Op::SuperInvoke => {
                        step!();
                        let name = string_constant!().clone();
                        let argc = usize::from(byte!());
                        let superclass = pop!();
                        let Some(superclass) = superclass.as_obj::<Class>() else {
                            unreachable!("`super` is a class");
                        };
                        save_ip!();
                        self.invoke_from_class(superclass, &name, argc)?;
                        continue 'frames;
                    }
                    Op::Closure => {
                        let Some(function) = constants[usize::from(byte!())].as_obj::<Function>()
                        else {
                            unreachable!("the compiler writes functions as constants");
                        };
                        let mut upvalues = Vec::with_capacity(function.upvalue_count);
                        for _ in 0..function.upvalue_count {
                            let is_local = byte!() == 1;
                            let index = usize::from(byte!());
                            let upvalue = if is_local {
                                try_op!(capture_upvalue(&mut self.open_upvalues, base + index))
                            } else {
                                closure.items()[index].clone()
                            };
                            upvalues.push(upvalue);
                        }
                        let made = Closure::alloc_var(
                            Closure {
                                function: function.clone(),
                            },
                            upvalues,
                        );
                        let made = try_op!(made);
                        self.stack.push(Value::from(made));
                    }
                    Op::CloseUpvalue => {
                        close_upvalues(&mut self.open_upvalues, &self.stack, self.stack.len() - 1);
                        self.stack.pop();
                    }
                    Op::Return => {
                        let result = pop!();
                        close_upvalues(&mut self.open_upvalues, &self.stack, base);
                        self.frames.pop();
                        self.stack.truncate(base);
                        if self.frames.is_empty() {
                            return Ok(());
                        }
                        self.stack.push(result);
                        continue 'frames;
                    }
                    Op::Class => {
                        let name = string_constant!().clone();
                        self.classes_made += 1;
                        let class = try_op!(Class::alloc(Class {
                            name,
                            id: self.classes_made,
                            methods: Default::default(),
                            method_slots: Default::default(),
                            field_slots: Default::default(),
                        }));
                        self.stack.push(Value::from(class));
                    }
                    Op::Inherit => {
                        let Some(superclass) = peek!(1).as_obj::<Class>() else {
                            fail!("Superclass must be a class.");
                        };
                        let Some(subclass) = peek!(0).as_obj::<Class>() else {
                            unreachable!("the class being declared");
                        };
                        subclass.inherit(superclass);
                        pop!();
                    }
                    Op::Method => {
                        let name = string_constant!().clone();
                        let (Some(method), Some(class)) =
                            (peek!(0).as_obj::<Closure>(), peek!(1).as_obj::<Class>())
                        else {
                            unreachable!("a method is a closure, declared in its class");
                        };
                        class.set_method(name, method.clone());
                        pop!();
                    }
                }
            }
        }
    }
}

// ---- What the loop does to the stack and the upvalues alone (free
// functions, so that the loop may hold its frame's code meanwhile).

/// Replaces the instance on top of the stack with its class's method
/// `name` bound to it.
fn bind_method(
    stack: &mut Vec<Value>,
    method: Option<Py<Closure>>,
    name: &Py<LoxStr>,
) -> Result<(), RuntimeError> {
    let Some(method) = method else {
        return Err(undefined_property(name));
    };
    let receiver = stack.pop().unwrap_or(Value::Nil);
    let bound = BoundMethod::alloc(BoundMethod { receiver, method })?;
    stack.push(Value::from(bound));
    Ok(())
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
        closed: Default::default(),
    })?;
    open.insert(at, upvalue.clone());
    Ok(upvalue)
}

/// Closes the open upvalues of slots `from` and above: they take their
/// values off the stack.
#[inline(always)]
fn close_upvalues(open: &mut Vec<Py<Upvalue>>, stack: &[Value], from: usize) {
    if open.last().is_some_and(|u| u.slot.get() >= from) {
        close_upvalues_from(open, stack, from);
    }
}

#[cold]
#[inline(never)]
fn close_upvalues_from(open: &mut Vec<Py<Upvalue>>, stack: &[Value], from: usize) {
    while let Some(upvalue) = open.last() {
        let slot = upvalue.slot.get();
        if slot < from {
            break;
        }
        *upvalue.closed.borrow_mut() = Some(stack[slot].clone());
        open.pop();
    }
}

fn upvalue_get(stack: &[Value], upvalue: &Upvalue) -> Value {
    match &*upvalue.closed.borrow() {
        Some(value) => value.clone(),
        None => stack[upvalue.slot.get()].clone(),
    }
}

fn upvalue_set(stack: &mut [Value], upvalue: &Upvalue, value: Value) {
    let mut closed = upvalue.closed.borrow_mut();
    match &mut *closed {
        Some(slot) => *slot = value,
        None => stack[upvalue.slot.get()] = value,
    }
}

fn undefined_property(name: &Py<LoxStr>) -> RuntimeError {
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
    Value::Number(START.get_or_init(Instant::now).elapsed().as_secs_f64())
}
