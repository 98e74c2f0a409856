//! Expansion: a checked [`Object`] to the code a person would write by hand.
//!
//! For `#[pyobject(basic, item = u32)] pub struct Long { sign: i8 }`:
//!
//! - the struct as written, made `#[repr(C)]`;
//! - in a `const _: () = { ... };` (so no name leaks into the user's scope):
//!   - `LongObject`, the `#[repr(C)]` object layout (header, then payload);
//!   - `static LONG_TYPE: TypeObject`, whose `TypeObject::new::<Long>` fills
//!     in the sizes, `tp_dealloc` (monomorphised for `Long`: drops the payload
//!     and the items) and `tp_free`;
//!   - `unsafe impl PyObjectType for Long`, which makes `Long::TYPE`;
//!   - `Long::new` and `Long::new_var`, with the struct's visibility;
//!   - the layout's invariants as constants, checked at compile time.
//!
//! Every path is absolute and goes through the `crate` option (default
//! `::objimpl`), standard-library names included (`__private` re-exports
//! them), so the code compiles next to a user's own `Result` or `core`, and
//! under `#![no_implicit_prelude]`.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::Fields;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::check::Object;

/// The code for one object type.
pub(crate) fn expand(object: &Object) -> TokenStream {
    let Object {
        attrs,
        add_repr_c,
        vis,
        ident,
        fields,
        name,
        name_span,
        item,
        krate,
        constructor: _,
        weaklist,
        gc,
        freelist,
    } = object;

    let repr_c = add_repr_c.then(|| quote!(#[repr(C)]));
    // `#[pyobject(weaklist)]`: the payload's `WeakList`, typed at the
    // field's type so that a wrong type is reported there.
    let weak_list_fn = weaklist.as_ref().map(|(member, ty)| {
        let field = quote_spanned!(ty.span()=> &self.#member);
        quote! {
            #[inline]
            fn weak_list(&self) -> #krate::__private::Option<&#krate::WeakList> {
                let list: &#krate::WeakList = #field;
                #krate::__private::Some(list)
            }
        }
    });
    let weak_refable = weaklist.as_ref().map(|_| {
        quote! {
            // SAFETY: `weak_list` returns a field of the payload.
            unsafe impl #krate::WeakRefable for #ident {}
        }
    });
    let semi = matches!(fields, Fields::Unnamed(_) | Fields::Unit).then(|| quote!(;));

    let bare_name = ident.unraw().to_string();
    let layout = format_ident!("{}Object", bare_name);
    let type_static = format_ident!("{}_TYPE", upper_snake_case(&bare_name));
    // `freelist = N`: a thread-local list, which the type's `freelist` returns.
    let (freelist_static, freelist_fn) = match freelist {
        Some(n) => {
            let private = quote!(#krate::__private);
            let n = syn::LitInt::new(n.base10_digits(), n.span());
            (
                quote! {
                    #private::thread_local! {
                        static FREELIST: #krate::freelist::FreeList =
                            const { #krate::freelist::FreeList::new(&#type_static, #n) };
                    }
                },
                quote! {
                    #[inline]
                    fn freelist() -> #private::Option<
                        &'static #private::LocalKey<#krate::freelist::FreeList>
                    > {
                        #private::Some(&FREELIST)
                    }
                },
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    let mut tp_name = Literal::c_string(name);
    tp_name.set_span(*name_span);

    let (header, header_doc, item_ty) = match item {
        Some(item) => (
            quote!(#krate::PyVarObject),
            "`PyObject_VAR_HEAD`, then the payload; the items follow it",
            quote!(#item),
        ),
        None => (
            quote!(#krate::PyObject),
            "`PyObject_HEAD`, then the payload",
            quote!(()),
        ),
    };
    let (new_type, traverse, gc_doc, gc_slots) = match gc {
        Some(fields) => (
            quote!(new_gc),
            traverse(object, fields),
            "; a GC header (`PyGC_Head`) precedes it in memory",
            ", `tp_traverse`, `tp_clear`",
        ),
        None => (
            quote!(new),
            // A basic type's objects are never read by the collector.
            quote!(impl #krate::BasicObject for #ident {}),
            "",
            "",
        ),
    };
    let layout_doc = format!(" The layout of a `{bare_name}` object: {header_doc}{gc_doc}.");
    let type_doc = format!(
        " The type object of `{bare_name}`: its sizes, `tp_dealloc`{gc_slots} and `tp_free`, \
         computed from its layout."
    );
    let safety_doc = format!(
        " SAFETY: `TYPE` is `{type_static}`, built by `TypeObject::{new_type}::<{bare_name}>`, \
         and no other type's `TYPE` points at it."
    );

    let constructors = constructors(object);
    let user_checks = user_checks(object, &layout);
    let checks = checks(object, &layout, &type_static, &item_ty);

    quote! {
        #(#attrs)*
        #repr_c
        #vis struct #ident #fields #semi

        const _: () = {
            #[doc = #layout_doc]
            #[repr(C)]
            #[allow(dead_code, reason = "only its layout is used, by the checks below")]
            struct #layout {
                ob_base: #header,
                payload: #ident,
            }

            #user_checks

            #[doc = #type_doc]
            static #type_static: #krate::TypeObject = {
                let () = LAYOUT_IS_VALID;
                #krate::TypeObject::#new_type::<#ident>(#tp_name)
            };

            #[doc = #safety_doc]
            unsafe impl #krate::PyObjectType for #ident {
                type Header = #header;
                type Item = #item_ty;
                const TYPE: &'static #krate::TypeObject = &#type_static;
                #weak_list_fn
                #freelist_fn
            }

            #freelist_static

            #weak_refable

            #traverse

            #constructors

            #checks
        };
    }
}

/// The derived `Traverse` of a `gc` type: every field not skipped, through
/// its type's impl, each call spanned at the field's type so that a type
/// without one is reported there; and the items' type must have one too.
fn traverse(object: &Object, fields: &[(syn::Member, syn::Type)]) -> TokenStream {
    let Object {
        ident, item, krate, ..
    } = object;
    let traverse_trait = quote!(#krate::gc::Traverse);
    // `Traverse::traverse(&field)`, not `<Ty as Traverse>::traverse`: the
    // field's type is never written again, so any type that parses as a
    // field (a bare trait object, say) leaves the expansion parseable, and
    // rustc reports the type itself.
    // The whole call, the field's name included, is spanned at the type:
    // a type without an impl is reported there.
    let visits = fields.iter().map(|(member, ty)| {
        let span = ty.span();
        let member = match member {
            syn::Member::Named(name) => {
                syn::Member::Named(syn::Ident::new(&name.to_string(), span))
            }
            syn::Member::Unnamed(index) => syn::Member::Unnamed(syn::Index {
                index: index.index,
                span,
            }),
        };
        quote_spanned! {span=>
            #traverse_trait::traverse(&self.#member, visit);
        }
    });
    let item_check = item.as_ref().map(|item| {
        quote_spanned! {item.span()=>
            const _: fn() = || {
                fn items_are_traversed<T: ?Sized + #traverse_trait>() {}
                items_are_traversed::<#item>();
            };
        }
    });
    let safety = format!(
        " SAFETY: visits what each field of `{}` owns, through the fields' own \
         `Traverse` impls, once; skipped fields are not visited, which is always sound.",
        ident.unraw()
    );
    quote! {
        #[doc = #safety]
        #[diagnostic::do_not_recommend]
        unsafe impl #traverse_trait for #ident {
            #[inline]
            fn traverse(&self, visit: &mut #krate::gc::Visit<'_>) {
                #(#visits)*
                let _ = visit;
            }
        }
        #item_check
    }
}

/// `T::new`, and `T::new_var`, `T::new_var_with` and `T::new_var_from_slice`
/// for a var-size type (`new = name` renames them: `T::name`, `T::name_var`,
/// ...); nothing with `new = false`.
fn constructors(object: &Object) -> TokenStream {
    let Object {
        vis,
        ident,
        item,
        krate,
        constructor,
        ..
    } = object;
    let Some(new_name) = constructor else {
        return TokenStream::new();
    };
    let new_var_name = format_ident!("{}_var", new_name);
    let new_var_with_name = format_ident!("{}_var_with", new_name);
    let new_var_from_slice_name = format_ident!("{}_var_from_slice", new_name);
    let private = quote!(#krate::__private);
    let result = quote!(#private::Result<#krate::Py<Self>, #krate::MemoryError>);
    let errors_doc = quote! {
        ///
        /// # Errors
        ///
        /// `MemoryError` if the memory could not be had; `value` is dropped.
    };

    let new_doc = match item {
        Some(_) => {
            " Makes an object holding `value` and no items, with a reference count of 1 \
                    (`PyObject_New`)."
        }
        None => " Makes an object holding `value`, with a reference count of 1 (`PyObject_New`).",
    };
    let new = quote! {
        #[doc = #new_doc]
        #errors_doc
        #[inline]
        #vis fn #new_name(value: Self) -> #result {
            #krate::Py::new(value)
        }
    };

    let new_var = item.as_ref().map(|item| {
        quote! {
            /// Makes an object holding `value` and `items`, with a reference count of 1
            /// (`PyObject_NewVar`).
            ///
            /// # Errors
            ///
            /// `MemoryError` if the object's size overflows or the memory could not be
            /// had; no item is taken and `value` is dropped.
            ///
            /// # Panics
            ///
            /// If the iterator yields more or fewer items than its exact `size_hint`
            /// promised; the items made so far are dropped and the memory is freed.
            #[inline]
            #vis fn #new_var_name<I>(value: Self, items: I) -> #result
            where
                I: #private::IntoIterator<Item = #item>,
            {
                #krate::Py::new_var(value, items)
            }

            /// Makes an object holding `value` and `len` items, item `i` made by
            /// `f(i)`, with a reference count of 1 (`PyObject_NewVar`).
            ///
            /// # Errors
            ///
            /// `MemoryError` if the object's size overflows or the memory could not be
            /// had; `f` is not called and `value` is dropped.
            ///
            /// # Panics
            ///
            /// If `f` panics; the items made so far are dropped and the memory is freed.
            #[inline]
            #vis fn #new_var_with_name(
                value: Self,
                len: usize,
                f: impl #private::FnMut(usize) -> #item,
            ) -> #result {
                #krate::Py::new_var_with(value, len, f)
            }

            /// Makes an object holding `value` and clones of `items`, with a reference
            /// count of 1 (`PyObject_NewVar`).
            ///
            /// # Errors
            ///
            /// `MemoryError` if the object's size overflows or the memory could not be
            /// had; nothing is cloned and `value` is dropped.
            #[inline]
            // (Generic, so that an item type without `Clone` is no error
            // until this is called.)
            #vis fn #new_var_from_slice_name<Item>(value: Self, items: &[Item]) -> #result
            where
                Item: #private::Clone,
                Self: #krate::PyObjectType<Item = Item>,
            {
                #krate::Py::new_var_from_slice(value, items)
            }
        }
    });

    quote! {
        impl #ident {
            #new
            #new_var
        }
    }
}

/// What a user can get wrong in the layout (through a field's or the item's
/// type, which the tokens do not show), checked before the type object is
/// built: a mistake is reported once, at the user's token, saying what to
/// change, instead of as a failure inside `TypeObject::new`.
fn user_checks(object: &Object, layout: &syn::Ident) -> TokenStream {
    let Object {
        ident, item, krate, ..
    } = object;
    let private = quote!(#krate::__private);
    let align = quote!(#krate::alloc::ALIGNMENT);

    let too_aligned = format!(
        "`{ident}` needs an alignment above 16 bytes, the allocator's: \
         no field of it may be `#[repr(align(N))]` with N > 16"
    );
    let object_checks = respan(
        quote!(#private::require(#private::align_of::<#layout>() <= #align, #too_aligned);),
        ident.span(),
    );
    let item_checks = item.as_ref().map(|item| {
        let shown = quote!(#item).to_string();
        let zero_sized = format!(
            "items of type `{shown}` take no space: an object with items needs an item \
             type of at least one byte; for an object without items, remove `item = {shown}`"
        );
        let too_aligned = format!(
            "items of type `{shown}` need an alignment above 16 bytes, the allocator's: \
             use an item type aligned to 16 bytes or less"
        );
        respan(
            quote! {
                #private::require(#private::size_of::<#item>() > 0, #zero_sized);
                #private::require(#private::align_of::<#item>() <= #align, #too_aligned);
            },
            item.span(),
        )
    });
    quote! {
        /// The layout's requirements, each failing with what to change.
        const LAYOUT_IS_VALID: () = {
            #object_checks
            #item_checks
        };
    }
}

/// The layout's invariants, which hold by construction, as
/// `static_assertions` in a block of their own.
fn checks(
    object: &Object,
    layout: &syn::Ident,
    type_static: &syn::Ident,
    item_ty: &TokenStream,
) -> TokenStream {
    let Object { item, krate, .. } = object;
    let private = quote!(#krate::__private);
    let sa = quote!(#private::static_assertions);
    let itemsize = match item {
        Some(_) => quote!(#private::size_of::<#item_ty>()),
        None => quote!(0),
    };

    quote! {
        const _: () = {
            const BASICSIZE: usize = #type_static.basicsize();
            const ITEMSIZE: usize = #type_static.itemsize();
            const VAR_SIZE_0: usize = match #krate::var_size(&#type_static, 0) {
                #private::Some(size) => size,
                _ => 0,
            };
            const LAYOUT_SIZE: usize = #private::size_of::<#layout>();
            const ITEM_ALIGN: usize = #private::align_of::<#item_ty>();
            const POINTER_SIZE: usize = #private::size_of::<usize>();

            // The header is at offset 0: an object's address is its header's.
            #sa::const_assert_eq!(#private::offset_of!(#layout, ob_base), 0);
            // `tp_basicsize` is the layout's size rounded up to the item's
            // alignment, so the first item is aligned with no run-time arithmetic.
            #sa::const_assert_eq!(BASICSIZE, LAYOUT_SIZE.next_multiple_of(ITEM_ALIGN));
            #sa::const_assert!(BASICSIZE.is_multiple_of(ITEM_ALIGN));
            #sa::const_assert_eq!(ITEMSIZE, #itemsize);
            // `_PyObject_VAR_SIZE(tp, 0)` is `tp_basicsize` rounded to the pointer size.
            #sa::const_assert_eq!(VAR_SIZE_0, BASICSIZE.next_multiple_of(POINTER_SIZE));
        };
    }
}

/// `tokens`, every one of them spanned at `span`: a failing `require` call
/// then reports the user's token, not the attribute as a whole.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = TokenTree::Group(respanned);
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// `PyLong` to `PY_LONG`, for the type object's `static`.
fn upper_snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_uppercase());
    }
    out
}
