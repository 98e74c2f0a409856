//! Lox source, arbitrary: the compiler and the VM must never panic or
//! abort, whatever the program (compile errors, runtime errors, deep
//! nesting, cycles). Runs are cut at a step limit, so that loops end.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let (mut out, mut err) = (std::io::sink(), std::io::sink());
    let Ok(mut vm) = objimpl_lox::Vm::new(&mut out, &mut err) else {
        return;
    };
    vm.set_step_limit(10_000);
    let _ = vm.interpret(source);
    // Whatever it left, the collector frees.
    drop(vm);
    objimpl::gc::collect();
});
