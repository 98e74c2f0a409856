//! The compiler: one pass from tokens to bytecode, a Pratt parser for
//! expressions, with the limits and error messages of clox (the suite's
//! expectations are the specification).

use std::io::Write;

use objimpl::Py;
use objimpl::prelude::MemoryError;

use crate::chunk::{Chunk, Op};
use crate::object::{Function, Globals, LoxStr, SiteCache, Strings};
use crate::scanner::{Kind, Scanner, Token};
use crate::value::Value;
use crate::verify;

/// Compiles `source` to the function of its top-level script, or `None`
/// after reporting each error to `errors`.
pub(crate) fn compile(
    source: &str,
    strings: &Strings,
    globals: &mut Globals,
    errors: &mut dyn Write,
) -> Result<Option<Py<Function>>, MemoryError> {
    let mut parser = Parser {
        scanner: Scanner::new(source),
        current: Token::synthetic(""),
        previous: Token::synthetic(""),
        had_error: false,
        panic_mode: false,
        functions: Vec::new(),
        classes: Vec::new(),
        strings,
        globals,
        errors,
        out_of_memory: false,
        nesting: 0,
    };
    parser
        .functions
        .push(FunctionState::new(FunctionKind::Script, None));
    parser.advance();
    while !parser.matches(Kind::Eof) {
        parser.declaration();
    }
    let (function, _) = parser.end_function()?;
    if parser.out_of_memory {
        return Err(MemoryError);
    }
    Ok((!parser.had_error).then_some(function))
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    None,
    Assignment,
    Or,
    And,
    Equality,
    Comparison,
    Term,
    Factor,
    Unary,
    Call,
    Primary,
}

impl Precedence {
    fn next(self) -> Precedence {
        use Precedence::*;
        match self {
            None => Assignment,
            Assignment => Or,
            Or => And,
            And => Equality,
            Equality => Comparison,
            Comparison => Term,
            Term => Factor,
            Factor => Unary,
            Unary => Call,
            Call | Primary => Primary,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FunctionKind {
    Function,
    Initializer,
    Method,
    Script,
}

struct Local<'src> {
    name: &'src str,
    /// `None` while its initializer is compiled.
    depth: Option<u32>,
    is_captured: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct UpvalueRef {
    index: u8,
    is_local: bool,
}

/// A function being compiled.
struct FunctionState<'src> {
    kind: FunctionKind,
    name: Option<Py<LoxStr>>,
    arity: u8,
    chunk: Chunk,
    locals: Vec<Local<'src>>,
    upvalues: Vec<UpvalueRef>,
    scope_depth: u32,
    /// Property accesses so far: each gets an inline cache.
    caches: u16,
    /// Where the last `GetLocal` was written: a property read that follows
    /// it at once is fused with it (`GetLocalProperty`).
    last_get_local: Option<usize>,
    /// Where the last number constant was written: a binary operator that
    /// follows it at once takes it as an operand (`AddConstant`, ...).
    last_number_constant: Option<usize>,
    /// Where the last forward jump lands: an instruction just before such a
    /// place may not be fused with what follows it.
    last_jump_target: Option<usize>,
}

impl<'src> FunctionState<'src> {
    fn new(kind: FunctionKind, name: Option<Py<LoxStr>>) -> Self {
        // Slot 0 holds the function (or, in methods, `this`).
        let slot_zero = if kind == FunctionKind::Function || kind == FunctionKind::Script {
            ""
        } else {
            "this"
        };
        FunctionState {
            kind,
            name,
            arity: 0,
            chunk: Chunk::default(),
            locals: vec![Local {
                name: slot_zero,
                depth: Some(0),
                is_captured: false,
            }],
            upvalues: Vec::new(),
            scope_depth: 0,
            caches: 0,
            last_get_local: None,
            last_number_constant: None,
            last_jump_target: None,
        }
    }
}

struct ClassState {
    has_superclass: bool,
}

const MAX_LOCALS: usize = 256;
const MAX_UPVALUES: usize = 256;
/// Nesting at most: far past any real program, and well inside the stack.
const MAX_NESTING: usize = 256;

struct Parser<'src, 'a> {
    scanner: Scanner<'src>,
    current: Token<'src>,
    previous: Token<'src>,
    had_error: bool,
    panic_mode: bool,
    functions: Vec<FunctionState<'src>>,
    classes: Vec<ClassState>,
    strings: &'a Strings,
    /// Where global names get their slots.
    globals: &'a mut Globals,
    errors: &'a mut dyn Write,
    /// Interning a name or a literal failed: the compile fails.
    out_of_memory: bool,
    /// How deep declarations and expressions nest now: the parser recurses,
    /// and a program nested deeper than [`MAX_NESTING`] is an error, not a
    /// stack overflow (clox has no limit, and crashes).
    nesting: usize,
}

type ParseFn<'src, 'a> = fn(&mut Parser<'src, 'a>, bool);

impl<'src, 'a> Parser<'src, 'a> {
    // ---- Tokens and errors.

    fn advance(&mut self) {
        self.previous = self.current;
        loop {
            self.current = self.scanner.scan_token();
            if self.current.kind != Kind::Error {
                break;
            }
            let message = self.current.lexeme;
            self.error_at(self.current, message);
        }
    }

    fn consume(&mut self, kind: Kind, message: &str) {
        if self.current.kind == kind {
            self.advance();
        } else {
            self.error_at(self.current, message);
        }
    }

    fn check(&self, kind: Kind) -> bool {
        self.current.kind == kind
    }

    fn matches(&mut self, kind: Kind) -> bool {
        if !self.check(kind) {
            return false;
        }
        self.advance();
        true
    }

    fn error(&mut self, message: &str) {
        self.error_at(self.previous, message);
    }

    fn error_at(&mut self, token: Token<'src>, message: &str) {
        if self.panic_mode {
            return;
        }
        self.panic_mode = true;
        let at = match token.kind {
            Kind::Eof => " at end".to_owned(),
            Kind::Error => String::new(),
            _ => format!(" at '{}'", token.lexeme),
        };
        // A closed stderr loses the message; the exit code still says it.
        let _ = writeln!(self.errors, "[line {}] Error{at}: {message}", token.line);
        self.had_error = true;
    }

    fn synchronize(&mut self) {
        self.panic_mode = false;
        while self.current.kind != Kind::Eof {
            if self.previous.kind == Kind::Semicolon {
                return;
            }
            match self.current.kind {
                Kind::Class
                | Kind::Fun
                | Kind::Var
                | Kind::For
                | Kind::If
                | Kind::While
                | Kind::Print
                | Kind::Return => return,
                _ => self.advance(),
            }
        }
    }

    // ---- Emitting code.

    fn function(&mut self) -> &mut FunctionState<'src> {
        self.functions
            .last_mut()
            .expect("a function is always being compiled")
    }

    fn chunk(&mut self) -> &mut Chunk {
        &mut self.function().chunk
    }

    fn emit(&mut self, byte: u8) {
        let line = self.previous.line;
        self.chunk().write(byte, line);
    }

    fn emit_op(&mut self, op: Op) {
        self.emit(op as u8);
    }

    fn emit_op_arg(&mut self, op: Op, arg: u8) {
        self.emit(op as u8);
        self.emit(arg);
    }

    fn emit_op_short(&mut self, op: Op, arg: u16) {
        self.emit(op as u8);
        self.emit_short(arg);
    }

    /// A two-byte operand, high byte first.
    fn emit_short(&mut self, n: u16) {
        self.emit((n >> 8) as u8);
        self.emit(n as u8);
    }

    /// A new inline cache's index, as the operand of the property access
    /// just written. (Past 65,536 accesses in one function they share the
    /// last: a cache is a hint, checked at every use.)
    fn emit_cache(&mut self) {
        let function = self.function();
        let index = if function.caches == u16::MAX {
            u16::MAX - 1
        } else {
            function.caches += 1;
            function.caches - 1
        };
        self.emit_short(index);
    }

    fn emit_jump(&mut self, op: Op) -> usize {
        self.emit_op(op);
        self.emit(0xff);
        self.emit(0xff);
        self.chunk().code.len() - 2
    }

    fn patch_jump(&mut self, offset: usize) {
        let jump = self.chunk().code.len() - offset - 2;
        if jump > usize::from(u16::MAX) {
            self.error("Too much code to jump over.");
        }
        let code = &mut self.chunk().code;
        code[offset] = (jump >> 8) as u8;
        code[offset + 1] = jump as u8;
        let target = code.len();
        self.function().last_jump_target = Some(target);
    }

    fn emit_loop(&mut self, loop_start: usize) {
        self.emit_op(Op::Loop);
        let offset = self.chunk().code.len() - loop_start + 2;
        if offset > usize::from(u16::MAX) {
            self.error("Loop body too large.");
        }
        self.emit((offset >> 8) as u8);
        self.emit(offset as u8);
    }

    fn emit_return(&mut self) {
        if self.function().kind == FunctionKind::Initializer {
            self.emit_op(Op::ReturnThis);
        } else {
            self.emit_op(Op::ReturnNil);
        }
    }

    fn make_constant(&mut self, value: Value) -> u8 {
        let index = self.chunk().add_constant(value);
        match u8::try_from(index) {
            Ok(index) => index,
            Err(_) => {
                self.error("Too many constants in one chunk.");
                0
            }
        }
    }

    fn emit_constant(&mut self, value: Value) {
        let is_number = value.as_number().is_some();
        let index = self.make_constant(value);
        if is_number {
            let at = self.chunk().code.len();
            self.function().last_number_constant = Some(at);
        }
        self.emit_op_arg(Op::Constant, index);
    }

    /// Emits binary operator `op`, fused with the number constant the code
    /// ends with if it has a form that takes one (`i + 1`, `n < 2`).
    fn emit_binary(&mut self, op: Op) {
        let fused = match op {
            Op::Add => Op::AddConstant,
            Op::Subtract => Op::SubtractConstant,
            Op::Less => Op::LessConstant,
            Op::Greater => Op::GreaterConstant,
            Op::Equal => Op::EqualConstant,
            _ => return self.emit_op(op),
        };
        // Taken: the code no longer ends with a constant.
        let constant = self.function().last_number_constant.take();
        match self.fusable(constant, Op::Constant) {
            Some(at) => self.chunk().code[at] = fused as u8,
            None => self.emit_op(op),
        }
    }

    fn intern(&mut self, text: &str) -> Value {
        match self.strings.intern(text.as_bytes()) {
            Ok(s) => Value::from(s),
            Err(MemoryError) => {
                self.out_of_memory = true;
                Value::NIL
            }
        }
    }

    fn identifier_constant(&mut self, name: &str) -> u8 {
        let value = self.intern(name);
        self.make_constant(value)
    }

    /// The slot of global `name`.
    fn global_slot(&mut self, name: &str) -> u16 {
        let Some(name) = self.intern(name).as_obj::<LoxStr>().cloned() else {
            return 0; // Out of memory: the compile fails.
        };
        match self.globals.slot(&name) {
            Some(slot) => slot,
            None => {
                self.error("Too many global variables.");
                0
            }
        }
    }

    /// Ends the innermost function: its object, and its upvalues'
    /// descriptions for the `Closure` instruction.
    fn end_function(&mut self) -> Result<(Py<Function>, Vec<UpvalueRef>), MemoryError> {
        self.emit_return();
        let state = self.functions.pop().expect("a function is being compiled");
        let caches = usize::from(state.caches);
        let (chunk, verified) = match verify::verify(&state.chunk, caches, state.arity) {
            Ok(verified) => (state.chunk, verified),
            Err(bad) => {
                // After an error (a jump too long), the code may be broken;
                // without one, the compiler is.
                if !self.had_error {
                    let message = format!("Internal error: {} at byte {}.", bad.what, bad.at);
                    self.error(&message);
                }
                verify::stub()
            }
        };
        let function = Function {
            arity: state.arity,
            upvalue_count: state.upvalues.len(),
            chunk,
            caches: (0..caches).map(|_| SiteCache::new()).collect(),
            name: state.name,
            verified,
        };
        Ok((Function::alloc(function)?, state.upvalues))
    }

    // ---- Declarations and statements.

    fn declaration(&mut self) {
        if !self.enter() {
            return;
        }
        self.declaration_inner();
        self.nesting -= 1;
    }

    /// One level deeper: false (after an error) past [`MAX_NESTING`].
    fn enter(&mut self) -> bool {
        if self.nesting == MAX_NESTING {
            self.error_at(self.current, "Too deeply nested.");
            // Skip to the end: recovery would nest as deep again.
            while self.current.kind != Kind::Eof {
                self.advance();
            }
            return false;
        }
        self.nesting += 1;
        true
    }

    fn declaration_inner(&mut self) {
        if self.matches(Kind::Class) {
            self.class_declaration();
        } else if self.matches(Kind::Fun) {
            self.fun_declaration();
        } else if self.matches(Kind::Var) {
            self.var_declaration();
        } else {
            self.statement();
        }
        if self.panic_mode {
            self.synchronize();
        }
    }

    fn class_declaration(&mut self) {
        self.consume(Kind::Identifier, "Expect class name.");
        let class_name = self.previous;
        let name_constant = self.identifier_constant(class_name.lexeme);
        self.declare_variable();
        let global = if self.function().scope_depth > 0 {
            0
        } else {
            self.global_slot(class_name.lexeme)
        };
        self.emit_op_arg(Op::Class, name_constant);
        self.define_variable(global);
        self.classes.push(ClassState {
            has_superclass: false,
        });

        if self.matches(Kind::Less) {
            self.consume(Kind::Identifier, "Expect superclass name.");
            self.variable(false);
            if class_name.lexeme == self.previous.lexeme {
                self.error("A class can't inherit from itself.");
            }
            self.begin_scope();
            self.add_local(Token::synthetic("super"));
            self.define_variable(0);
            self.named_variable(class_name, false);
            self.emit_op(Op::Inherit);
            if let Some(class) = self.classes.last_mut() {
                class.has_superclass = true;
            }
        }

        self.named_variable(class_name, false);
        self.consume(Kind::LeftBrace, "Expect '{' before class body.");
        while !self.check(Kind::RightBrace) && !self.check(Kind::Eof) {
            self.method();
        }
        self.consume(Kind::RightBrace, "Expect '}' after class body.");
        self.emit_op(Op::Pop);

        if self.classes.pop().is_some_and(|class| class.has_superclass) {
            self.end_scope();
        }
    }

    fn method(&mut self) {
        self.consume(Kind::Identifier, "Expect method name.");
        let name = self.previous.lexeme;
        let constant = self.identifier_constant(name);
        let kind = if name == "init" {
            FunctionKind::Initializer
        } else {
            FunctionKind::Method
        };
        self.function_body(kind);
        self.emit_op_arg(Op::Method, constant);
    }

    fn fun_declaration(&mut self) {
        let global = self.parse_variable("Expect function name.");
        self.mark_initialized();
        self.function_body(FunctionKind::Function);
        self.define_variable(global);
    }

    /// A function's parameters and body, then the `Closure` instruction
    /// that makes it at run time.
    fn function_body(&mut self, kind: FunctionKind) {
        let name = self
            .intern(self.previous.lexeme)
            .as_obj::<LoxStr>()
            .cloned();
        self.functions.push(FunctionState::new(kind, name));
        self.begin_scope();
        self.consume(Kind::LeftParen, "Expect '(' after function name.");
        if !self.check(Kind::RightParen) {
            loop {
                let function = self.function();
                if function.arity == 255 {
                    self.error_at(self.current, "Can't have more than 255 parameters.");
                } else {
                    function.arity += 1;
                }
                let constant = self.parse_variable("Expect parameter name.");
                self.define_variable(constant);
                if !self.matches(Kind::Comma) {
                    break;
                }
            }
        }
        self.consume(Kind::RightParen, "Expect ')' after parameters.");
        self.consume(Kind::LeftBrace, "Expect '{' before function body.");
        self.block();

        match self.end_function() {
            Ok((function, upvalues)) => {
                let constant = self.make_constant(Value::from(function));
                self.emit_op_arg(Op::Closure, constant);
                for upvalue in upvalues {
                    self.emit(u8::from(upvalue.is_local));
                    self.emit(upvalue.index);
                }
            }
            Err(MemoryError) => self.out_of_memory = true,
        }
    }

    fn var_declaration(&mut self) {
        let global = self.parse_variable("Expect variable name.");
        if self.matches(Kind::Equal) {
            self.expression();
        } else {
            self.emit_op(Op::Nil);
        }
        self.consume(Kind::Semicolon, "Expect ';' after variable declaration.");
        self.define_variable(global);
    }

    fn statement(&mut self) {
        if !self.enter() {
            return;
        }
        self.statement_inner();
        self.nesting -= 1;
    }

    fn statement_inner(&mut self) {
        if self.matches(Kind::Print) {
            self.expression();
            self.consume(Kind::Semicolon, "Expect ';' after value.");
            self.emit_op(Op::Print);
        } else if self.matches(Kind::For) {
            self.for_statement();
        } else if self.matches(Kind::If) {
            self.if_statement();
        } else if self.matches(Kind::Return) {
            self.return_statement();
        } else if self.matches(Kind::While) {
            self.while_statement();
        } else if self.matches(Kind::LeftBrace) {
            self.begin_scope();
            self.block();
            self.end_scope();
        } else {
            self.expression();
            self.consume(Kind::Semicolon, "Expect ';' after expression.");
            self.emit_op(Op::Pop);
        }
    }

    fn block(&mut self) {
        while !self.check(Kind::RightBrace) && !self.check(Kind::Eof) {
            self.declaration();
        }
        self.consume(Kind::RightBrace, "Expect '}' after block.");
    }

    fn if_statement(&mut self) {
        self.consume(Kind::LeftParen, "Expect '(' after 'if'.");
        self.expression();
        self.consume(Kind::RightParen, "Expect ')' after condition.");
        let then_jump = self.emit_jump(Op::PopJumpIfFalse);
        self.statement();
        if self.matches(Kind::Else) {
            let else_jump = self.emit_jump(Op::Jump);
            self.patch_jump(then_jump);
            self.statement();
            self.patch_jump(else_jump);
        } else {
            self.patch_jump(then_jump);
        }
    }

    fn while_statement(&mut self) {
        let loop_start = self.chunk().code.len();
        self.consume(Kind::LeftParen, "Expect '(' after 'while'.");
        self.expression();
        self.consume(Kind::RightParen, "Expect ')' after condition.");
        let exit_jump = self.emit_jump(Op::PopJumpIfFalse);
        self.statement();
        self.emit_loop(loop_start);
        self.patch_jump(exit_jump);
    }

    fn for_statement(&mut self) {
        self.begin_scope();
        self.consume(Kind::LeftParen, "Expect '(' after 'for'.");
        if self.matches(Kind::Semicolon) {
            // No initializer.
        } else if self.matches(Kind::Var) {
            self.var_declaration();
        } else {
            self.expression();
            self.consume(Kind::Semicolon, "Expect ';' after expression.");
            self.emit_op(Op::Pop);
        }

        let mut loop_start = self.chunk().code.len();
        let mut exit_jump = None;
        if !self.matches(Kind::Semicolon) {
            self.expression();
            self.consume(Kind::Semicolon, "Expect ';' after loop condition.");
            exit_jump = Some(self.emit_jump(Op::PopJumpIfFalse));
        }

        if !self.matches(Kind::RightParen) {
            let body_jump = self.emit_jump(Op::Jump);
            let increment_start = self.chunk().code.len();
            self.expression();
            self.emit_op(Op::Pop);
            self.consume(Kind::RightParen, "Expect ')' after for clauses.");
            self.emit_loop(loop_start);
            loop_start = increment_start;
            self.patch_jump(body_jump);
        }

        self.statement();
        self.emit_loop(loop_start);
        if let Some(exit_jump) = exit_jump {
            self.patch_jump(exit_jump);
        }
        self.end_scope();
    }

    fn return_statement(&mut self) {
        if self.function().kind == FunctionKind::Script {
            self.error("Can't return from top-level code.");
        }
        if self.matches(Kind::Semicolon) {
            self.emit_return();
        } else {
            if self.function().kind == FunctionKind::Initializer {
                self.error("Can't return a value from an initializer.");
            }
            self.expression();
            self.consume(Kind::Semicolon, "Expect ';' after return value.");
            self.emit_op(Op::Return);
        }
    }

    // ---- Variables and scopes.

    fn begin_scope(&mut self) {
        self.function().scope_depth += 1;
    }

    fn end_scope(&mut self) {
        let function = self.function();
        function.scope_depth -= 1;
        let depth = function.scope_depth;
        while let Some(local) = self.function().locals.last() {
            if local.depth.is_some_and(|d| d <= depth) {
                break;
            }
            let captured = local.is_captured;
            self.function().locals.pop();
            self.emit_op(if captured { Op::CloseUpvalue } else { Op::Pop });
        }
    }

    /// Parses a variable's name: a global's slot, or 0 for a local.
    fn parse_variable(&mut self, message: &str) -> u16 {
        self.consume(Kind::Identifier, message);
        self.declare_variable();
        if self.function().scope_depth > 0 {
            return 0;
        }
        let name = self.previous.lexeme;
        self.global_slot(name)
    }

    fn declare_variable(&mut self) {
        let function = self.functions.last().expect("a function is being compiled");
        if function.scope_depth == 0 {
            return;
        }
        let name = self.previous;
        let depth = function.scope_depth;
        let redeclared = function
            .locals
            .iter()
            .rev()
            .take_while(|local| local.depth.is_none_or(|d| d >= depth))
            .any(|local| local.name == name.lexeme);
        if redeclared {
            self.error("Already a variable with this name in this scope.");
        }
        self.add_local(name);
    }

    fn add_local(&mut self, name: Token<'src>) {
        if self.function().locals.len() == MAX_LOCALS {
            self.error("Too many local variables in function.");
            return;
        }
        self.function().locals.push(Local {
            name: name.lexeme,
            depth: None,
            is_captured: false,
        });
    }

    fn mark_initialized(&mut self) {
        let function = self.function();
        if function.scope_depth == 0 {
            return;
        }
        let depth = function.scope_depth;
        if let Some(local) = function.locals.last_mut() {
            local.depth = Some(depth);
        }
    }

    fn define_variable(&mut self, global: u16) {
        if self.function().scope_depth > 0 {
            self.mark_initialized();
            return;
        }
        self.emit_op_short(Op::DefineGlobal, global);
    }

    /// The slot of local `name` in function `level` (an index into
    /// `functions`), if it is one.
    fn resolve_local(&mut self, level: usize, name: &str) -> Option<u8> {
        let locals = &self.functions[level].locals;
        let (slot, local) = locals
            .iter()
            .enumerate()
            .rev()
            .find(|(_, local)| local.name == name)?;
        if local.depth.is_none() {
            self.error("Can't read local variable in its own initializer.");
        }
        // Fewer than MAX_LOCALS (256) locals: the slot fits.
        Some(slot as u8)
    }

    fn add_upvalue(&mut self, level: usize, index: u8, is_local: bool) -> u8 {
        let upvalue = UpvalueRef { index, is_local };
        let upvalues = &mut self.functions[level].upvalues;
        if let Some(existing) = upvalues.iter().position(|u| *u == upvalue) {
            return existing as u8;
        }
        if upvalues.len() == MAX_UPVALUES {
            self.error("Too many closure variables in function.");
            return 0;
        }
        upvalues.push(upvalue);
        (upvalues.len() - 1) as u8
    }

    fn resolve_upvalue(&mut self, level: usize, name: &str) -> Option<u8> {
        let enclosing = level.checked_sub(1)?;
        if let Some(local) = self.resolve_local(enclosing, name) {
            self.functions[enclosing].locals[usize::from(local)].is_captured = true;
            return Some(self.add_upvalue(level, local, true));
        }
        let upvalue = self.resolve_upvalue(enclosing, name)?;
        Some(self.add_upvalue(level, upvalue, false))
    }

    fn named_variable(&mut self, name: Token<'src>, can_assign: bool) {
        let level = self.functions.len() - 1;
        let (get, set, arg) = if let Some(slot) = self.resolve_local(level, name.lexeme) {
            (Op::GetLocal, Op::SetLocal, slot)
        } else if let Some(index) = self.resolve_upvalue(level, name.lexeme) {
            (Op::GetUpvalue, Op::SetUpvalue, index)
        } else {
            let slot = self.global_slot(name.lexeme);
            if can_assign && self.matches(Kind::Equal) {
                self.expression();
                self.emit_op_short(Op::SetGlobal, slot);
            } else {
                self.emit_op_short(Op::GetGlobal, slot);
            }
            return;
        };
        if can_assign && self.matches(Kind::Equal) {
            self.expression();
            self.emit_op_arg(set, arg);
        } else {
            if get == Op::GetLocal {
                let at = self.chunk().code.len();
                self.function().last_get_local = Some(at);
            }
            self.emit_op_arg(get, arg);
        }
    }

    // ---- Expressions.

    fn expression(&mut self) {
        self.parse_precedence(Precedence::Assignment);
    }

    fn parse_precedence(&mut self, precedence: Precedence) {
        if !self.enter() {
            return;
        }
        self.parse_precedence_inner(precedence);
        self.nesting -= 1;
    }

    fn parse_precedence_inner(&mut self, precedence: Precedence) {
        self.advance();
        let Some(prefix) = Self::rule(self.previous.kind).0 else {
            self.error("Expect expression.");
            return;
        };
        let can_assign = precedence <= Precedence::Assignment;
        prefix(self, can_assign);
        while precedence <= Self::rule(self.current.kind).2 {
            self.advance();
            if let Some(infix) = Self::rule(self.previous.kind).1 {
                infix(self, can_assign);
            }
        }
        if can_assign && self.matches(Kind::Equal) {
            self.error("Invalid assignment target.");
        }
    }

    /// The prefix and infix parsers of a token kind, and its precedence as
    /// an infix operator.
    fn rule(
        kind: Kind,
    ) -> (
        Option<ParseFn<'src, 'a>>,
        Option<ParseFn<'src, 'a>>,
        Precedence,
    ) {
        use Precedence as P;
        match kind {
            Kind::LeftParen => (Some(Self::grouping), Some(Self::call), P::Call),
            Kind::Dot => (None, Some(Self::dot), P::Call),
            Kind::Minus => (Some(Self::unary), Some(Self::binary), P::Term),
            Kind::Plus => (None, Some(Self::binary), P::Term),
            Kind::Slash | Kind::Star => (None, Some(Self::binary), P::Factor),
            Kind::Bang => (Some(Self::unary), None, P::None),
            Kind::BangEqual | Kind::EqualEqual => (None, Some(Self::binary), P::Equality),
            Kind::Greater | Kind::GreaterEqual | Kind::Less | Kind::LessEqual => {
                (None, Some(Self::binary), P::Comparison)
            }
            Kind::Identifier => (Some(Self::variable), None, P::None),
            Kind::String => (Some(Self::string), None, P::None),
            Kind::Number => (Some(Self::number), None, P::None),
            Kind::And => (None, Some(Self::and), P::And),
            Kind::Or => (None, Some(Self::or), P::Or),
            Kind::False | Kind::True | Kind::Nil => (Some(Self::literal), None, P::None),
            Kind::Super => (Some(Self::super_), None, P::None),
            Kind::This => (Some(Self::this), None, P::None),
            _ => (None, None, P::None),
        }
    }

    fn grouping(&mut self, _can_assign: bool) {
        self.expression();
        self.consume(Kind::RightParen, "Expect ')' after expression.");
    }

    fn number(&mut self, _can_assign: bool) {
        let value = self.previous.lexeme.parse().unwrap_or(0.0);
        self.emit_constant(Value::number(value));
    }

    fn string(&mut self, _can_assign: bool) {
        let lexeme = self.previous.lexeme;
        let text = &lexeme[1..lexeme.len() - 1];
        let value = self.intern(text);
        self.emit_constant(value);
    }

    fn literal(&mut self, _can_assign: bool) {
        match self.previous.kind {
            Kind::False => self.emit_op(Op::False),
            Kind::True => self.emit_op(Op::True),
            _ => self.emit_op(Op::Nil),
        }
    }

    fn variable(&mut self, can_assign: bool) {
        self.named_variable(self.previous, can_assign);
    }

    fn unary(&mut self, _can_assign: bool) {
        let operator = self.previous.kind;
        self.parse_precedence(Precedence::Unary);
        match operator {
            Kind::Bang => self.emit_op(Op::Not),
            _ => self.emit_op(Op::Negate),
        }
    }

    fn binary(&mut self, _can_assign: bool) {
        let operator = self.previous.kind;
        self.parse_precedence(Self::rule(operator).2.next());
        match operator {
            Kind::BangEqual => {
                self.emit_binary(Op::Equal);
                self.emit_op(Op::Not);
            }
            Kind::EqualEqual => self.emit_binary(Op::Equal),
            Kind::Greater => self.emit_binary(Op::Greater),
            Kind::GreaterEqual => {
                self.emit_binary(Op::Less);
                self.emit_op(Op::Not);
            }
            Kind::Less => self.emit_binary(Op::Less),
            Kind::LessEqual => {
                self.emit_binary(Op::Greater);
                self.emit_op(Op::Not);
            }
            Kind::Plus => self.emit_binary(Op::Add),
            Kind::Minus => self.emit_binary(Op::Subtract),
            Kind::Star => self.emit_op(Op::Multiply),
            _ => self.emit_op(Op::Divide),
        }
    }

    fn and(&mut self, _can_assign: bool) {
        let end_jump = self.emit_jump(Op::JumpIfFalse);
        self.emit_op(Op::Pop);
        self.parse_precedence(Precedence::And);
        self.patch_jump(end_jump);
    }

    fn or(&mut self, _can_assign: bool) {
        let else_jump = self.emit_jump(Op::JumpIfFalse);
        let end_jump = self.emit_jump(Op::Jump);
        self.patch_jump(else_jump);
        self.emit_op(Op::Pop);
        self.parse_precedence(Precedence::Or);
        self.patch_jump(end_jump);
    }

    fn argument_list(&mut self) -> u8 {
        let mut count: u8 = 0;
        if !self.check(Kind::RightParen) {
            loop {
                self.expression();
                if count == 255 {
                    self.error("Can't have more than 255 arguments.");
                } else {
                    count += 1;
                }
                if !self.matches(Kind::Comma) {
                    break;
                }
            }
        }
        self.consume(Kind::RightParen, "Expect ')' after arguments.");
        count
    }

    fn call(&mut self, _can_assign: bool) {
        let count = self.argument_list();
        self.emit_op_arg(Op::Call, count);
    }

    fn dot(&mut self, can_assign: bool) {
        self.consume(Kind::Identifier, "Expect property name after '.'.");
        let name = self.previous.lexeme;
        let name = self.identifier_constant(name);
        if can_assign && self.matches(Kind::Equal) {
            self.expression();
            self.emit_op_arg(Op::SetProperty, name);
            self.emit_cache();
        } else if self.matches(Kind::LeftParen) {
            let count = self.argument_list();
            self.emit_op_arg(Op::Invoke, name);
            self.emit(count);
            self.emit_cache();
        } else if let Some(get_local) = {
            let get_local = self.function().last_get_local.take();
            self.fusable(get_local, Op::GetLocal)
        } {
            // `local.name`: read through the local's slot, not a copy of it
            // pushed (and counted) first.
            self.chunk().code[get_local] = Op::GetLocalProperty as u8;
            self.emit(name);
            self.emit_cache();
        } else {
            self.emit_op_arg(Op::GetProperty, name);
            self.emit_cache();
        }
    }

    /// `at`, if the code ends with a two-byte instruction `op` there that
    /// may be fused with the instruction that follows: no jump lands after
    /// it. (`at` was an instruction's start when it was recorded; the
    /// opcode is checked in case that instruction was fused since.)
    fn fusable(&mut self, at: Option<usize>, op: Op) -> Option<usize> {
        let at = at?;
        let code = &self.chunk().code;
        let end = code.len();
        let ends_with_it = at + 2 == end && code[at] == op as u8;
        (ends_with_it && self.function().last_jump_target != Some(end)).then_some(at)
    }

    fn this(&mut self, _can_assign: bool) {
        if self.classes.is_empty() {
            self.error("Can't use 'this' outside of a class.");
            return;
        }
        self.variable(false);
    }

    fn super_(&mut self, _can_assign: bool) {
        match self.classes.last() {
            None => self.error("Can't use 'super' outside of a class."),
            Some(class) if !class.has_superclass => {
                self.error("Can't use 'super' in a class with no superclass.");
            }
            Some(_) => {}
        }
        self.consume(Kind::Dot, "Expect '.' after 'super'.");
        self.consume(Kind::Identifier, "Expect superclass method name.");
        let name = self.previous.lexeme;
        let name = self.identifier_constant(name);

        self.named_variable(Token::synthetic("this"), false);
        if self.matches(Kind::LeftParen) {
            let count = self.argument_list();
            self.named_variable(Token::synthetic("super"), false);
            self.emit_op_arg(Op::SuperInvoke, name);
            self.emit(count);
        } else {
            self.named_variable(Token::synthetic("super"), false);
            self.emit_op_arg(Op::GetSuper, name);
        }
    }
}
