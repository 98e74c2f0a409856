//! Bytecode: the instructions and a function's chunk of them.

use crate::value::Value;

/// One instruction's opcode; operands follow it in the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    Constant,
    Nil,
    True,
    False,
    Pop,
    GetLocal,
    SetLocal,
    GetGlobal,
    DefineGlobal,
    SetGlobal,
    GetUpvalue,
    SetUpvalue,
    GetProperty,
    SetProperty,
    GetSuper,
    Equal,
    Greater,
    Less,
    Add,
    Subtract,
    Multiply,
    Divide,
    Not,
    Negate,
    Print,
    Jump,
    JumpIfFalse,
    Loop,
    Call,
    Invoke,
    SuperInvoke,
    Closure,
    CloseUpvalue,
    Return,
    Class,
    Inherit,
    Method,
    /// Pops the condition, and jumps if it was false (`if`, `while` and
    /// `for`, where `JumpIfFalse` would be followed by a `Pop` on both paths).
    PopJumpIfFalse,
    /// `GetLocal` and `GetProperty` in one (`this.field`): the local is
    /// read in its slot, not pushed. Operands: the slot, the name, the cache.
    GetLocalProperty,
    /// A binary operator whose right operand is a number constant, its
    /// operand (`i + 1`, `n < 2`): the left operand gives way to the result.
    AddConstant,
    SubtractConstant,
    LessConstant,
    GreaterConstant,
    EqualConstant,
    /// `Nil, Return`: a function's implicit return, and `return;`.
    ReturnNil,
    /// `GetLocal 0, Return`: an initializer's return of `this`.
    ReturnThis,
}

impl Op {
    /// The opcode of a byte of verified code, where the verifier found an
    /// instruction. (An identity on the discriminants, which the optimiser
    /// sees: no table, no load, and no range check.)
    ///
    /// # Safety
    ///
    /// - `byte` is an opcode: [`try_from_byte`](Op::try_from_byte) gives
    ///   `Some` for it.
    #[inline(always)]
    pub(crate) unsafe fn from_byte_unchecked(byte: u8) -> Op {
        match Op::try_from_byte(byte) {
            Some(op) => op,
            // SAFETY: the caller promises an opcode.
            None => unsafe { std::hint::unreachable_unchecked() },
        }
    }

    /// The opcode `byte` is, if it is one.
    #[inline(always)]
    pub(crate) fn try_from_byte(byte: u8) -> Option<Op> {
        Some(match byte {
            0 => Op::Constant,
            1 => Op::Nil,
            2 => Op::True,
            3 => Op::False,
            4 => Op::Pop,
            5 => Op::GetLocal,
            6 => Op::SetLocal,
            7 => Op::GetGlobal,
            8 => Op::DefineGlobal,
            9 => Op::SetGlobal,
            10 => Op::GetUpvalue,
            11 => Op::SetUpvalue,
            12 => Op::GetProperty,
            13 => Op::SetProperty,
            14 => Op::GetSuper,
            15 => Op::Equal,
            16 => Op::Greater,
            17 => Op::Less,
            18 => Op::Add,
            19 => Op::Subtract,
            20 => Op::Multiply,
            21 => Op::Divide,
            22 => Op::Not,
            23 => Op::Negate,
            24 => Op::Print,
            25 => Op::Jump,
            26 => Op::JumpIfFalse,
            27 => Op::Loop,
            28 => Op::Call,
            29 => Op::Invoke,
            30 => Op::SuperInvoke,
            31 => Op::Closure,
            32 => Op::CloseUpvalue,
            33 => Op::Return,
            34 => Op::Class,
            35 => Op::Inherit,
            36 => Op::Method,
            37 => Op::PopJumpIfFalse,
            38 => Op::GetLocalProperty,
            39 => Op::AddConstant,
            40 => Op::SubtractConstant,
            41 => Op::LessConstant,
            42 => Op::GreaterConstant,
            43 => Op::EqualConstant,
            44 => Op::ReturnNil,
            45 => Op::ReturnThis,
            _ => return None,
        })
    }
}

/// A function's code: the bytes, the line of each, and the constants.
#[derive(Default)]
pub(crate) struct Chunk {
    pub(crate) code: Vec<u8>,
    pub(crate) lines: Vec<u32>,
    pub(crate) constants: Vec<Value>,
}

impl Chunk {
    pub(crate) fn write(&mut self, byte: u8, line: u32) {
        self.code.push(byte);
        self.lines.push(line);
    }

    /// Adds a constant; its index (which may not fit a byte: the compiler
    /// checks).
    pub(crate) fn add_constant(&mut self, value: Value) -> usize {
        self.constants.push(value);
        self.constants.len() - 1
    }
}
