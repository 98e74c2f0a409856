//! `#[pymethods]`: methods whose receiver is the whole object.
//!
//! Rust allows `self: &Py<Self>` only on nightly (`arbitrary_self_types`),
//! and the orphan rule forbids an inherent `impl Py<Str>` outside objimpl.
//! So the methods written with such a receiver move to a trait of the
//! user's crate, implemented for `Py<Str>`: there `&self` is `&Py<Str>`,
//! and `s.method()` works wherever the trait is in scope (in its module,
//! always). Every other item stays in the inherent `impl`.

use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, Path, Token, Type, Visibility};

/// `#[pymethods(trait = Name, crate = path)]`.
#[derive(Default)]
struct Args {
    trait_name: Option<Ident>,
    krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if input.peek(Token![trait]) {
                input.parse::<Token![trait]>()?;
                input.parse::<Token![=]>()?;
                if args.trait_name.replace(input.parse()?).is_some() {
                    return Err(input.error("`trait` is given twice"));
                }
            } else if input.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                input.parse::<Token![=]>()?;
                if args.krate.replace(input.parse()?).is_some() {
                    return Err(input.error("`crate` is given twice"));
                }
            } else {
                return Err(input.error(
                    "unknown option: `#[pymethods]` takes `trait = Name` and `crate = path`",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// What a method's receiver is, if it is the object.
enum Receiver {
    /// `self: &Py<Self>` (with its lifetime, if any).
    Ref(Option<syn::Lifetime>),
    /// `self: &mut Py<Self>`.
    Mut(Option<syn::Lifetime>),
    /// `self: Py<Self>` or `mut self: Py<Self>`.
    Owned(Option<Token![mut]>),
}

/// The expansion of `#[pymethods(args)] input`, or the errors and the item as
/// written. Never panics.
pub(crate) fn pymethods(args: TokenStream, input: TokenStream) -> TokenStream {
    match expand(args, input.clone()) {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut out = error.into_compile_error();
            out.extend(input);
            out
        }
    }
}

fn expand(args: TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    let mut item: ItemImpl = syn::parse2(input)?;
    // Errors below are reported beside the expansion, so that the methods
    // still move and the user sees only these errors.
    let mut errors: Option<syn::Error> = None;
    let args = syn::parse2::<Args>(args).unwrap_or_else(|error| {
        combine(&mut errors, error);
        Args::default()
    });
    if let Some((path, _)) = &item.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "`#[pymethods]` goes on an inherent `impl Type { .. }`, not on a trait impl",
        ));
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &item.generics,
            "`#[pymethods]` takes no generics: object types have none",
        ));
    }
    let Type::Path(self_ty) = &*item.self_ty else {
        return Err(syn::Error::new_spanned(
            &item.self_ty,
            "`#[pymethods]` goes on the impl of a `#[pyobject]` type, named by its path",
        ));
    };
    let Some(type_ident) = self_ty.path.segments.last().map(|s| s.ident.clone()) else {
        return Err(syn::Error::new_spanned(self_ty, "expected a type name"));
    };
    let krate = args.krate.unwrap_or_else(crate::check::runtime_path);
    let trait_name = args
        .trait_name
        .unwrap_or_else(|| format_ident!("{}Methods", type_ident));
    let self_ty = &item.self_ty;
    let self_ty_tokens = quote!(#self_ty);

    let mut kept = Vec::new();
    let mut moved = Vec::new();
    for impl_item in std::mem::take(&mut item.items) {
        match impl_item {
            ImplItem::Fn(method) => match object_receiver(&method, &type_ident) {
                Some(receiver) => moved.push((method, receiver)),
                None => kept.push(ImplItem::Fn(method)),
            },
            other => kept.push(other),
        }
    }
    // One trait, one visibility: that of its methods, which must agree.
    let vis = moved.first().map(|(m, _)| m.vis.clone());
    let vis_text = vis.as_ref().map(|v| quote!(#v).to_string());
    for (method, _) in &moved {
        let v = &method.vis;
        if Some(quote!(#v).to_string()) != vis_text {
            combine(
                &mut errors,
                syn::Error::new(
                    method.sig.ident.span(),
                    format!(
                        "the methods on `Py<Self>` become one trait, `{trait_name}`, \
                         so they share one visibility: give them all that of the first"
                    ),
                ),
            );
        }
    }
    let mut out = errors.map_or_else(TokenStream::new, syn::Error::into_compile_error);
    item.items = kept;
    if moved.is_empty() {
        out.extend(quote!(#item));
        return Ok(out);
    }
    let vis = vis.unwrap_or(Visibility::Inherited);

    let mut declarations = Vec::new();
    let mut definitions = Vec::new();
    for (method, receiver) in moved {
        let ImplItemFn {
            attrs, sig, block, ..
        } = method;
        let docs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("doc")).collect();
        let other_attrs: Vec<_> = attrs.iter().filter(|a| !a.path().is_ident("doc")).collect();
        let span = sig.ident.span();
        let self_token = quote_spanned!(span=> self);
        // A trait's declaration takes no patterns: `mut self` is the body's.
        let (declared, defined) = match receiver {
            Receiver::Ref(lifetime) => (quote!(&#lifetime #self_token), None),
            Receiver::Mut(lifetime) => (quote!(&#lifetime mut #self_token), None),
            Receiver::Owned(None) => (quote!(#self_token), None),
            Receiver::Owned(Some(mutability)) => {
                (quote!(#self_token), Some(quote!(#mutability #self_token)))
            }
        };
        let defined = defined.unwrap_or_else(|| declared.clone());
        let (constness, asyncness, safety, abi) =
            (&sig.constness, &sig.asyncness, &sig.safety, &sig.abi);
        let (fn_token, ident, generics, output) =
            (&sig.fn_token, &sig.ident, &sig.generics, &sig.output);
        let rest = sig.inputs.iter().skip(1);
        let where_clause = &generics.where_clause;
        let signature = |receiver: &TokenStream| {
            let rest = rest.clone();
            replace_self(
                quote! {
                    #constness #asyncness #safety #abi #fn_token #ident #generics
                        (#receiver, #(#rest),*) #output #where_clause
                },
                &self_ty_tokens,
            )
        };
        let (declaration, definition) = (signature(&declared), signature(&defined));
        let block = replace_self(quote!(#block), &self_ty_tokens);
        declarations.push(quote! { #(#docs)* #declaration; });
        definitions.push(quote! { #(#other_attrs)* #definition #block });
    }
    let doc = format!(
        " The methods of `Py<{type_ident}>` that take the object itself, written in \
         `#[pymethods] impl {type_ident}`."
    );
    out.extend(quote! {
        #item

        #[doc = #doc]
        #vis trait #trait_name {
            #(#declarations)*
        }

        impl #trait_name for #krate::Py<#self_ty> {
            #(#definitions)*
        }
    });
    Ok(out)
}

fn combine(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}

/// The method's receiver if it is `self: &Py<Self>`, `self: &mut Py<Self>` or
/// `self: Py<Self>` (`Self` or the type's name); `None` for any other method.
fn object_receiver(method: &ImplItemFn, type_ident: &Ident) -> Option<Receiver> {
    let Some(FnArg::Receiver(receiver)) = method.sig.inputs.first() else {
        return None;
    };
    let syn::ReceiverKind::Typed(_, ty) = &receiver.kind else {
        return None;
    };
    let (reference, ty) = match &**ty {
        Type::Reference(reference) => (Some(reference), &*reference.elem),
        ty => (None, ty),
    };
    if !is_py_of_self(ty, type_ident) {
        return None;
    }
    Some(match reference {
        Some(r) if r.mutability.is_some() => Receiver::Mut(r.lifetime.clone()),
        Some(r) => Receiver::Ref(r.lifetime.clone()),
        None => Receiver::Owned(receiver.mutability),
    })
}

/// Whether `ty` is `Py<Self>` or `Py<Type>` (any path ending in `Py`).
fn is_py_of_self(ty: &Type, type_ident: &Ident) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    if last.ident != "Py" {
        return false;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [syn::GenericArgument::Type(Type::Path(arg))] => {
            arg.qself.is_none() && (arg.path.is_ident("Self") || arg.path.is_ident(type_ident))
        }
        _ => false,
    }
}

/// `tokens` with every `Self` made the type, as the `impl` names it (a path
/// included): in the trait impl, `Self` would be `Py<Type>`.
fn replace_self(tokens: TokenStream, self_ty: &TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) if ident == "Self" => {
                // The type's tokens, spanned at `Self` for errors there.
                out.extend(self_ty.clone().into_iter().map(|mut tree| {
                    tree.set_span(ident.span());
                    tree
                }));
            }
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), replace_self(group.stream(), self_ty));
                new.set_span(group.span());
                out.extend([TokenTree::Group(new)]);
            }
            other => out.extend([other]),
        }
    }
    out
}
