//! The bytecode verifier: what lets the VM read a function's code, its
//! constants and its caches without bounds checks.
//!
//! A [`Function`](crate::object::Function) holds a [`Verified`], which only
//! [`verify`] makes, so every function the VM runs has passed it. It checks
//! the code as the VM reads it:
//!
//! - every instruction is a known opcode whose operands lie within the code;
//! - every jump lands on the start of an instruction;
//! - no instruction but a return, `Jump` or `Loop` is last, so running on
//!   from any instruction (calls come back after theirs) reaches another;
//! - every constant operand indexes the constants, and is a string where the
//!   VM reads a name, a function where it reads one; every cache operand
//!   indexes the caches.
//!
//! So the VM's `ip`, which starts at 0 and only moves by decoding or by
//! jumps, is always within the code as it reads.
//!
//! It also follows the stack's depth through every path from the entry
//! (where the callee and its arguments are), checking that no instruction
//! pops what is not there and that paths meet at one depth: the most any
//! path reaches is the frame's [`Verified::stack_size`], which a call checks
//! against the room left, so pushes within the frame need no check of their
//! own. (Stack slots are still read through a mask, see `stack`: a mistake
//! here would give a wrong answer, never a read out of bounds.)

use crate::chunk::{Chunk, Op};
use crate::object::{Function, LoxStr};

/// Proof that a chunk passed [`verify`] (private fields: made nowhere else),
/// and what it found.
pub(crate) struct Verified {
    /// The most stack slots the frame uses, its callee and arguments
    /// included.
    pub(crate) stack_size: usize,
    _private: (),
}

/// Why a chunk failed [`verify`]: a bug of the compiler, never of the
/// program.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadCode {
    /// Where the instruction at fault starts.
    pub(crate) at: usize,
    pub(crate) what: &'static str,
}

/// What an operand of an instruction is.
#[derive(Clone, Copy)]
enum Operand {
    /// A byte the VM checks itself (a stack slot, an upvalue, an argument count).
    Byte,
    /// A constant that must be a string (a name).
    Name,
    /// A constant of any kind.
    Constant,
    /// A constant that must be a number.
    Number,
    /// A constant that must be a function, followed by two bytes for each
    /// of its upvalues.
    Closure,
    /// Two bytes: an inline cache's index.
    Cache,
    /// Two bytes: a global's slot (the VM checks it itself).
    Global,
    /// Two bytes: a jump forward from the end of the instruction.
    Forward,
    /// Two bytes: a jump back from the end of the instruction.
    Backward,
}

/// How an instruction changes the stack.
#[derive(Clone, Copy)]
enum Effect {
    /// Needs `needs` values there, pops `pops` of them, then pushes `pushes`.
    Fixed {
        needs: usize,
        pops: usize,
        pushes: usize,
    },
    /// A call: the callee and its arguments (and `extra` values below them,
    /// the superclass of a `super` call) give way to the result, once the
    /// callee returns.
    Call { extra: usize },
}

const fn fixed(needs: usize, pops: usize, pushes: usize) -> Effect {
    Effect::Fixed {
        needs,
        pops,
        pushes,
    }
}

/// Pushes a value.
const PUSH: Effect = fixed(0, 0, 1);
/// Pops a value.
const POP: Effect = fixed(1, 1, 0);
/// Reads (or replaces) the top value.
const TOP: Effect = fixed(1, 0, 0);
/// Two values give way to one.
const TWO_TO_ONE: Effect = fixed(2, 1, 0);
/// Leaves the stack alone.
const NONE: Effect = fixed(0, 0, 0);

/// What the verifier knows of an instruction: its operands, in order, and
/// what it does to the stack.
fn shape(op: Op) -> (&'static [Operand], Effect) {
    use Operand::*;
    match op {
        Op::Constant => (&[Constant], PUSH),
        Op::Nil | Op::True | Op::False => (&[], PUSH),
        Op::Pop | Op::Print | Op::CloseUpvalue | Op::Return => (&[], POP),
        Op::ReturnNil => (&[], NONE),
        // Reads slot 0, `this`.
        Op::ReturnThis => (&[], TOP),
        Op::GetLocal | Op::GetUpvalue => (&[Byte], PUSH),
        Op::SetLocal | Op::SetUpvalue => (&[Byte], TOP),
        Op::GetGlobal => (&[Global], PUSH),
        Op::Class => (&[Name], PUSH),
        Op::DefineGlobal => (&[Global], POP),
        Op::SetGlobal => (&[Global], TOP),
        Op::GetProperty => (&[Name, Cache], TOP),
        Op::SetProperty => (&[Name, Cache], TWO_TO_ONE),
        Op::GetSuper | Op::Method => (&[Name], TWO_TO_ONE),
        Op::Equal | Op::Greater | Op::Less => (&[], TWO_TO_ONE),
        Op::Add | Op::Subtract | Op::Multiply | Op::Divide => (&[], TWO_TO_ONE),
        Op::Inherit => (&[], TWO_TO_ONE),
        Op::Not | Op::Negate => (&[], TOP),
        Op::Jump => (&[Forward], NONE),
        Op::JumpIfFalse => (&[Forward], TOP),
        Op::PopJumpIfFalse => (&[Forward], POP),
        Op::Loop => (&[Backward], NONE),
        Op::Call => (&[Byte], Effect::Call { extra: 0 }),
        Op::Invoke => (&[Name, Byte, Cache], Effect::Call { extra: 0 }),
        Op::SuperInvoke => (&[Name, Byte], Effect::Call { extra: 1 }),
        Op::Closure => (&[Closure], PUSH),
        Op::GetLocalProperty => (&[Byte, Name, Cache], PUSH),
        Op::AddConstant
        | Op::SubtractConstant
        | Op::LessConstant
        | Op::GreaterConstant
        | Op::EqualConstant => (&[Number], TOP),
    }
}

/// A chunk that does nothing (`nil; return`), verified: what a function
/// whose code failed stands in for (its program does not run).
pub(crate) fn stub() -> (Chunk, Verified) {
    let mut chunk = Chunk::default();
    chunk.write(Op::Nil as u8, 0);
    chunk.write(Op::Return as u8, 0);
    let verified = Verified {
        stack_size: usize::from(u8::MAX) + 2,
        _private: (),
    };
    (chunk, verified)
}

/// The depth after an instruction of `effect` at `depth` (for a call, once
/// the callee has returned), if what it needs is there. `count` is its
/// argument count, for a call.
fn depth_after(effect: Effect, count: usize, depth: usize) -> Option<usize> {
    let (needs, pops, pushes) = match effect {
        Effect::Fixed {
            needs,
            pops,
            pushes,
        } => (needs, pops, pushes),
        Effect::Call { extra } => (count + 1 + extra, count + extra, 0),
    };
    (depth >= needs).then(|| depth - pops + pushes)
}

/// Checks `chunk` (with `caches` inline caches) as the module's comment
/// says.
pub(crate) fn verify(chunk: &Chunk, caches: usize, arity: u8) -> Result<Verified, BadCode> {
    let code = &chunk.code;
    let mut starts = vec![false; code.len() + 1];
    let mut jumps = Vec::new();
    // Each instruction: its opcode, the operand its stack effect depends on
    // (a slot, an argument count), and where it ends.
    let mut instructions = vec![None; code.len()];
    let mut at = 0;
    let mut last = None;
    while at < code.len() {
        let fail = |what| Err(BadCode { at, what });
        let Some(op) = Op::try_from_byte(code[at]) else {
            return fail("an unknown opcode");
        };
        starts[at] = true;
        let mut next = at + 1;
        let mut count_or_slot = 0;
        for &operand in shape(op).0 {
            let width = match operand {
                Operand::Byte
                | Operand::Name
                | Operand::Constant
                | Operand::Number
                | Operand::Closure => 1,
                Operand::Cache | Operand::Global | Operand::Forward | Operand::Backward => 2,
            };
            let Some(bytes) = code.get(next..next + width) else {
                return fail("operands past the end of the code");
            };
            let value = bytes.iter().fold(0, |v, &b| v << 8 | usize::from(b));
            next += width;
            match operand {
                Operand::Byte => count_or_slot = value,
                Operand::Name | Operand::Constant | Operand::Number | Operand::Closure => {
                    let Some(constant) = chunk.constants.get(value) else {
                        return fail("a constant past the constants");
                    };
                    if matches!(operand, Operand::Name) && constant.as_obj::<LoxStr>().is_none() {
                        return fail("a name that is not a string");
                    }
                    if matches!(operand, Operand::Number) && constant.as_number().is_none() {
                        return fail("a number operand that is not a number");
                    }
                    if matches!(operand, Operand::Closure) {
                        let Some(function) = constant.as_obj::<Function>() else {
                            return fail("a closure of a constant that is not a function");
                        };
                        next += 2 * function.upvalue_count;
                        if next > code.len() {
                            return fail("upvalues past the end of the code");
                        }
                    }
                }
                Operand::Cache if value >= caches => return fail("a cache past the caches"),
                Operand::Cache | Operand::Global => {}
                Operand::Forward => jumps.push((at, next.checked_add(value))),
                Operand::Backward => jumps.push((at, next.checked_sub(value))),
            }
        }
        last = Some(op);
        instructions[at] = Some((op, count_or_slot, next));
        at = next;
    }
    if !matches!(
        last,
        Some(Op::Return | Op::ReturnNil | Op::ReturnThis | Op::Jump | Op::Loop)
    ) {
        return Err(BadCode {
            at: code.len(),
            what: "code that runs off its end",
        });
    }
    for (at, target) in jumps {
        // `starts[code.len()]` is false: a jump to the end runs off it.
        let lands_on_an_instruction = target.and_then(|target| starts.get(target)) == Some(&true);
        if !lands_on_an_instruction {
            return Err(BadCode {
                at,
                what: "a jump between instructions",
            });
        }
    }
    let stack_size = stack_size(&instructions, code, arity)?;
    Ok(Verified {
        stack_size,
        _private: (),
    })
}

/// Follows the depth from the entry through every path (the instructions
/// are known to be well formed and their jumps to land on instructions).
fn stack_size(
    instructions: &[Option<(Op, usize, usize)>],
    code: &[u8],
    arity: u8,
) -> Result<usize, BadCode> {
    let entry = usize::from(arity) + 1;
    let mut depths = vec![None; instructions.len()];
    let mut most = entry;
    let mut work = vec![(0, entry)];
    while let Some((at, depth)) = work.pop() {
        let fail = |what| Err(BadCode { at, what });
        match depths[at] {
            Some(known) if known == depth => continue,
            Some(_) => return fail("paths that meet at different depths"),
            None => depths[at] = Some(depth),
        }
        let Some((op, operand, next)) = instructions[at] else {
            unreachable!("jumps land on instructions");
        };
        // A local is a slot below the top.
        if matches!(op, Op::GetLocal | Op::SetLocal | Op::GetLocalProperty) && operand >= depth {
            return fail("a local above the top of the stack");
        }
        let Some(after) = depth_after(shape(op).1, operand, depth) else {
            return fail("an instruction that pops what is not there");
        };
        most = most.max(after);
        let offset = || usize::from(code[next - 2]) << 8 | usize::from(code[next - 1]);
        match op {
            Op::Return | Op::ReturnNil | Op::ReturnThis => {}
            Op::Jump => work.push((next + offset(), after)),
            Op::Loop => work.push((next - offset(), after)),
            Op::JumpIfFalse | Op::PopJumpIfFalse => {
                work.push((next + offset(), after));
                work.push((next, after));
            }
            _ => work.push((next, after)),
        }
    }
    Ok(most)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Strings;
    use crate::value::Value;

    fn chunk(code: &[u8], constants: Vec<Value>) -> Chunk {
        let mut chunk = Chunk::default();
        for &byte in code {
            chunk.write(byte, 1);
        }
        chunk.constants = constants;
        chunk
    }

    fn check(code: &[u8], constants: Vec<Value>, caches: usize) -> Result<(), BadCode> {
        verify(&chunk(code, constants), caches, 0).map(|_| ())
    }

    const NIL: u8 = Op::Nil as u8;
    const RETURN: u8 = Op::Return as u8;
    const JUMP: u8 = Op::Jump as u8;
    const LOOP: u8 = Op::Loop as u8;
    const CONSTANT: u8 = Op::Constant as u8;
    const GET_GLOBAL: u8 = Op::GetGlobal as u8;
    const GET_PROPERTY: u8 = Op::GetProperty as u8;
    const POP: u8 = Op::Pop as u8;

    #[test]
    fn what_the_compiler_writes_passes() {
        let strings = Strings::new();
        let name = Value::from(strings.intern(b"x").unwrap());
        // Jump over a constant; nil.x (cache 0); pop; loop to the start;
        // return.
        let code = [
            JUMP,
            0,
            2,
            CONSTANT,
            0,
            NIL,
            GET_PROPERTY,
            0,
            0,
            0,
            POP,
            LOOP,
            0,
            14,
            RETURN,
        ];
        assert_eq!(check(&code, vec![name], 1), Ok(()));
        let size = verify(&chunk(&code, vec![Value::NIL]), 1, 0).map(|v| v.stack_size);
        assert!(size.is_err(), "the name is not a string");
    }

    #[test]
    fn the_stack_size_is_the_deepest_path() {
        // Entry (callee and one argument): 2; nil nil: 4; equal: 3; return.
        let code = [NIL, NIL, Op::Equal as u8, RETURN];
        let size = verify(&chunk(&code, vec![]), 0, 1).map(|v| v.stack_size);
        assert_eq!(size, Ok(4));
        // A call of two arguments leaves its result where its callee was.
        let call = [NIL, NIL, NIL, Op::Call as u8, 2, RETURN];
        let size = verify(&chunk(&call, vec![]), 0, 0).map(|v| v.stack_size);
        assert_eq!(size, Ok(4));
        let short = [NIL, Op::Call as u8, 2, RETURN];
        assert!(verify(&chunk(&short, vec![]), 0, 0).is_err());
    }

    #[test]
    fn return_this_needs_its_slot() {
        let code = [POP, Op::ReturnThis as u8];
        let error = check(&code, vec![], 0).unwrap_err();
        assert_eq!(error.what, "an instruction that pops what is not there");
    }

    #[test]
    fn the_fused_returns_end_code_and_pop_nothing() {
        for ret in [Op::ReturnNil as u8, Op::ReturnThis as u8] {
            // Entry (the callee, or `this`): 1.
            assert_eq!(
                verify(&chunk(&[ret], vec![]), 0, 0).map(|v| v.stack_size),
                Ok(1)
            );
            let after = [NIL, ret, NIL];
            let error = check(&after, vec![], 0).unwrap_err();
            assert_eq!(error.what, "code that runs off its end");
        }
    }

    #[test]
    fn the_stub_passes() {
        assert_eq!(verify(&stub().0, 0, 0).map(|v| v.stack_size), Ok(2));
    }

    #[test]
    fn malformed_code_fails() {
        let strings = Strings::new();
        let name = || Value::from(strings.intern(b"x").unwrap());
        let fails = |code: &[u8], constants, caches, what| {
            let error = check(code, constants, caches).unwrap_err();
            assert_eq!(error.what, what, "{code:?}");
        };
        fails(&[], vec![], 0, "code that runs off its end");
        fails(&[NIL], vec![], 0, "code that runs off its end");
        fails(&[200, RETURN], vec![], 0, "an unknown opcode");
        fails(&[CONSTANT], vec![], 0, "operands past the end of the code");
        fails(
            &[CONSTANT, 0, RETURN],
            vec![],
            0,
            "a constant past the constants",
        );
        fails(
            &[Op::GetProperty as u8, 0, 0, 0, RETURN],
            vec![Value::number(1.0)],
            1,
            "a name that is not a string",
        );
        fails(
            &[GET_GLOBAL, 0],
            vec![],
            0,
            "operands past the end of the code",
        );
        fails(
            &[GET_PROPERTY, 0, 0, 1, RETURN],
            vec![name()],
            1,
            "a cache past the caches",
        );
        // Into an operand, to the end, before the start.
        fails(
            &[JUMP, 0, 1, CONSTANT, 0, RETURN],
            vec![Value::NIL],
            0,
            "a jump between instructions",
        );
        fails(
            &[JUMP, 0, 1, RETURN],
            vec![],
            0,
            "a jump between instructions",
        );
        fails(
            &[NIL, LOOP, 0, 5, RETURN],
            vec![],
            0,
            "a jump between instructions",
        );
        fails(
            &[Op::AddConstant as u8, 0, RETURN],
            vec![name()],
            0,
            "a number operand that is not a number",
        );
        // The stack: popped past its bottom, paths at two depths, a local
        // above the top.
        fails(
            &[POP, POP, RETURN],
            vec![],
            0,
            "an instruction that pops what is not there",
        );
        let pop_jump = Op::PopJumpIfFalse as u8;
        fails(
            &[NIL, pop_jump, 0, 1, NIL, RETURN],
            vec![],
            0,
            "paths that meet at different depths",
        );
        fails(
            &[Op::GetLocal as u8, 1, RETURN],
            vec![],
            0,
            "a local above the top of the stack",
        );
        fails(
            &[Op::Closure as u8, 0, RETURN],
            vec![Value::number(1.0)],
            0,
            "a closure of a constant that is not a function",
        );
    }
}
