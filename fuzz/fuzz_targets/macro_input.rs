//! `#[pyobject(...)]`, `#[pymethods(...)]` and `#[derive(Traverse)]` on
//! arbitrary tokens: the first line is the attribute's arguments, the rest
//! the item. The macros must never panic: every input gives either an
//! expansion or `compile_error!`s, and for an item that parses, the output
//! is a Rust file.
#![no_main]
#![allow(dead_code, reason = "the macro's modules, compiled here whole")]

#[path = "../../objimpl-macros/src/check.rs"]
mod check;
#[path = "../../objimpl-macros/src/ctxt.rs"]
mod ctxt;
#[path = "../../objimpl-macros/src/derive_traverse.rs"]
mod derive_traverse;
#[path = "../../objimpl-macros/src/driver.rs"]
mod driver;
#[path = "../../objimpl-macros/src/expand.rs"]
mod expand;
#[path = "../../objimpl-macros/src/methods.rs"]
mod methods;
#[path = "../../objimpl-macros/src/parse.rs"]
mod parse;

use libfuzzer_sys::fuzz_target;
use proc_macro2::TokenStream;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (args, item) = text.split_once('\n').unwrap_or(("", text));
    let (Ok(args), Ok(item)) = (args.parse::<TokenStream>(), item.parse::<TokenStream>()) else {
        return;
    };
    let item_parses = syn::parse2::<syn::DeriveInput>(item.clone()).is_ok();
    let impl_parses = syn::parse2::<syn::ItemImpl>(item.clone()).is_ok();
    let derived = derive_traverse::derive(item.clone());
    let methods = methods::pymethods(args.clone(), item.clone());
    let out = driver::pyobject(args, item);
    for (parses, out) in [(item_parses, out), (item_parses, derived), (impl_parses, methods)] {
        if parses {
            if let Err(error) = syn::parse2::<syn::File>(out.clone()) {
                panic!("the expansion is not a Rust file: {error}\n{out}");
            }
        }
    }
});
