//! `#[derive(Traverse)]`: a type's traversal, field by field, with no
//! `unsafe` in the user's code. Each field is visited through its own type's
//! impl, which keeps the trait's promise for that field; visiting every field
//! once keeps it for the whole. A field marked `#[traverse(skip)]` is not
//! visited, which is always sound (its handles stay alive).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

/// The expansion of `#[derive(Traverse)]` on `input`, or the errors. Never
/// panics.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(tokens) => tokens,
        Err(error) => error.into_compile_error(),
    }
}

fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let krate = crate::check::runtime_path();
    let traverse = quote!(#krate::gc::Traverse);
    let body = match &input.data {
        Data::Struct(data) => {
            let (pattern, visits) = fields(&data.fields, &traverse)?;
            quote!(let Self #pattern = self; #(#visits)*)
        }
        Data::Enum(data) if data.variants.is_empty() => quote!(match *self {}),
        Data::Enum(data) => {
            let mut arms = Vec::new();
            for variant in &data.variants {
                let ident = &variant.ident;
                let (pattern, visits) = fields(&variant.fields, &traverse)?;
                arms.push(quote!(Self::#ident #pattern => { #(#visits)* }));
            }
            quote!(match self { #(#arms)* })
        }
        Data::Union(data) => {
            return Err(syn::Error::new_spanned(
                data.union_token,
                "`Traverse` cannot be derived for a union: which field holds a value is not known",
            ));
        }
    };
    // Every type parameter must be traversable itself.
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(#traverse));
    }
    // A type without parameters is left out of the "other types implement"
    // lists of rustc's errors; a generic one stays, so that an error names
    // the parameter's type that lacks an impl, not the whole type.
    let quiet =
        (generics.type_params().next().is_none()).then(|| quote!(#[diagnostic::do_not_recommend]));
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    let ident = &input.ident;
    Ok(quote! {
        // SAFETY: visits what each field owns, through the fields' own
        // `Traverse` impls, once; skipped fields are not visited.
        #[automatically_derived]
        #quiet
        unsafe impl #impl_generics #traverse for #ident #type_generics #where_clause {
            #[allow(unused_variables)]
            fn traverse(&self, visit: &mut #krate::gc::Visit<'_>) {
                #body
            }
        }
    })
}

/// A pattern binding the fields of a struct or variant by reference, and the
/// visits of those not skipped, each spanned at its field's type so that one
/// without an impl is reported there.
fn fields(fields: &Fields, traverse: &TokenStream) -> syn::Result<(TokenStream, Vec<TokenStream>)> {
    let mut bindings = Vec::new();
    let mut visits = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        // Spanned at the field's type, as the visit is: rustc reports a type
        // without an impl at the argument of the failing call.
        let binding = format_ident!("__field{}", index, span = field.ty.span());
        let skip = skipped(&field.attrs)?;
        match &field.ident {
            Some(name) => bindings.push(quote!(#name: #binding)),
            None => bindings.push(quote!(#binding)),
        }
        if !skip {
            let span = field.ty.span();
            visits.push(quote_spanned!(span=> #traverse::traverse(#binding, visit);));
        }
    }
    let pattern = match fields {
        Fields::Named(_) => quote!({ #(#bindings),* }),
        Fields::Unnamed(_) => quote!(( #(#bindings),* )),
        Fields::Unit => quote!(),
    };
    Ok((pattern, visits))
}

/// Whether the field is marked `#[traverse(skip)]`.
fn skipped(attrs: &[syn::Attribute]) -> syn::Result<bool> {
    let mut skip = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("traverse")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error("unknown option: `#[traverse(...)]` takes `skip`"))
            }
        })?;
    }
    Ok(skip)
}
