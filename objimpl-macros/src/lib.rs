//! The `#[pyobject]` attribute of [objimpl](https://docs.rs/objimpl).

use proc_macro::TokenStream;

/// Makes a struct an object type. Not yet implemented: the attribute leaves
/// the struct as it is and reports an error.
#[proc_macro_attribute]
pub fn pyobject(_args: TokenStream, input: TokenStream) -> TokenStream {
    let mut out: TokenStream = "::core::compile_error!(\"#[pyobject] is not implemented yet\");"
        .parse()
        .unwrap_or_default();
    out.extend(input);
    out
}
