//! Expansion snapshots: the macro's output for a fixed-size and a var-size
//! struct, formatted with prettyplease, compared with the files in
//! `output_tests/expected/`. A change to the generated code shows up as a
//! diff of those files; after checking it, regenerate them with
//! `OBJIMPL_BLESS=1 cargo test -p objimpl-macros`.

use std::path::PathBuf;

use quote::quote;

fn assert_expands_to(args: proc_macro2::TokenStream, input: proc_macro2::TokenStream, file: &str) {
    let output = crate::pyobject_impl(args, input);
    let file_ast = syn::parse2::<syn::File>(output).expect("the expansion parses as a file");
    let actual = prettyplease::unparse(&file_ast);

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/output_tests/expected")
        .join(file);
    if std::env::var_os("OBJIMPL_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write the expected file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the expansion differs from {}; if the change is intended, rerun with \
         OBJIMPL_BLESS=1.\n--- actual ---\n{actual}",
        path.display()
    );
}

#[test]
fn fixed_size_struct() {
    assert_expands_to(
        quote!(basic),
        quote! {
            /// A point in the plane.
            #[derive(Debug, Clone)]
            pub struct Point {
                pub x: f64,
                pub y: f64,
            }
        },
        "point.expected.rs",
    );
}

#[test]
fn gc_struct() {
    assert_expands_to(
        quote!(gc, item = PyAny, name = "list"),
        quote! {
            /// A list whose items are any objects, and which may hold itself.
            pub struct List {
                /// Where it was made, for debugging; holds no handles.
                #[pyobject(skip)]
                origin: std::rc::Rc<str>,
                /// The list it was copied from.
                parent: std::cell::RefCell<Option<Py<List>>>,
            }
        },
        "list.expected.rs",
    );
}

#[test]
fn var_size_struct() {
    assert_expands_to(
        quote!(basic, item = u8, name = "bytes"),
        quote! {
            /// CPython's `bytes`: the bytes are the items, with a trailing NUL.
            pub(crate) struct Bytes {
                /// The cached hash, `-1` until computed.
                ob_shash: isize,
            }
        },
        "bytes.expected.rs",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let output = crate::pyobject_impl(
        quote!(basic, basic, item = (), colour = "red"),
        quote!(
            struct Pair<'a, T>(&'a T)
            where
                T: Copy;
        ),
    )
    .to_string();
    for message in [
        "`basic` may only be specified once",
        "items of type `()` take no space",
        "unknown option `colour`",
        "an object type cannot borrow",
        "an object type cannot be generic",
        "remove the `where` clause",
    ] {
        assert!(
            output.contains(message),
            "{message:?} missing from {output}"
        );
    }
}

/// Whatever field and item types an item parses with, the expansion parses
/// as a Rust file, so that rustc reports the types themselves (a finding
/// of the `macro_input` fuzzer: a bare trait object in a `gc` type's field
/// gave `<aRfCe + as Traverse>`, which does not parse).
#[test]
fn the_expansion_parses_whatever_the_types() {
    let types = [
        quote!(aRfCe+),
        quote!(dyn Fn() + Send),
        quote!(impl Copy),
        quote!(fn() -> u8),
        quote!(<u8 as Into<u16>>::Output),
        quote!(&'static str),
        quote!([u8; 4]),
        quote!((u8, Py<Node>)),
        quote!(Box<dyn Tr + 'static>),
        quote!(!),
    ];
    for ty in &types {
        for kind in [quote!(gc), quote!(basic)] {
            let output = crate::pyobject_impl(
                kind.clone(),
                quote!(pub struct Node { field: #ty, other: RefCell<Option<Py<Node>>> }),
            );
            if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
                panic!("{kind} with a field of type {ty}: {error}\n{output}");
            }
            let output = crate::pyobject_impl(
                quote!(#kind, item = #ty),
                quote!(
                    pub struct Node;
                ),
            );
            if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
                panic!("{kind} with items of type {ty}: {error}\n{output}");
            }
        }
    }
}
