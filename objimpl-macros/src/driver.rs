//! `#[pyobject]` on `proc_macro2` tokens: parse, check, expand, or the
//! errors. Free of `proc_macro`, so that tests and the fuzzer can run it.

use crate::{check, ctxt, expand, parse};

/// The expansion of `#[pyobject(args)] input`, or `compile_error!`s and the
/// item as written. Never panics, whatever the tokens.
pub(crate) fn pyobject(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::new();
    let parsed_args = parse::parse_args(&cx, args);
    let object = parse::parse_input(&cx, input.clone())
        .and_then(|parsed| check::check(&cx, parsed_args, parsed));
    match (cx.check(), object) {
        (Ok(()), Some(object)) => expand::expand(&object),
        (Err(errors), _) => {
            // The item as written (less our field attributes, which nothing
            // else would take), so that the errors above are the only ones.
            let mut out = errors.into_compile_error();
            match syn::parse2::<syn::DeriveInput>(input.clone()) {
                Ok(mut item) => {
                    if let syn::Data::Struct(data) = &mut item.data {
                        for field in data.fields.iter_mut() {
                            field.attrs.retain(|attr| !attr.path().is_ident("pyobject"));
                        }
                    }
                    out.extend(quote::quote!(#item));
                }
                Err(_) => out.extend(input),
            }
            out
        }
        (Ok(()), None) => unreachable!("check returns None only after reporting an error"),
    }
}
